//! Muon: momentum SGD whose update for each matrix is orthogonalised by five
//! Newton–Schulz iterations (MLX's coefficients 3.4445, -4.7750, 2.0315); other
//! parameters take the plain momentum update.

use super::{slot, PerStep, Rule, State};
use rmx::{Array, Axes, Result};

/// Muon (MLX defaults: momentum 0.95, weight decay 0.01, Nesterov, 5 iterations).
#[derive(Clone, Debug)]
pub struct Muon {
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub ns_steps: usize,
}

impl Default for Muon {
    fn default() -> Self {
        Muon { momentum: 0.95, weight_decay: 0.01, nesterov: true, ns_steps: 5 }
    }
}

/// The orthogonal factor of `x` (2-d) by Newton–Schulz iterations.
fn newton_schulz(x: &Array, steps: usize) -> Result<Array> {
    let (a, b, c) = (3.4445, -4.7750, 2.0315);
    let tall = x.shape()[0] > x.shape()[1];
    let mut x = if tall { rmx::transpose(x, None)? } else { x.clone() };
    let norm = rmx::sqrt(&rmx::sum(&rmx::square(&x)?, Axes::All, true)?)?;
    x = rmx::divide(&x, &rmx::add(&norm, 1e-7)?)?;
    for _ in 0..steps {
        let xt = rmx::transpose(&x, None)?;
        let gram = rmx::matmul(&x, &xt)?;
        let poly = rmx::addmm(&rmx::multiply(&gram, b)?, &gram, &gram, c, 1.0)?;
        x = rmx::addmm(&rmx::multiply(&x, a)?, &poly, &x, 1.0, 1.0)?;
    }
    if tall {
        rmx::transpose(&x, None)
    } else {
        Ok(x)
    }
}

impl Rule for Muon {
    fn slots(&self) -> &'static [&'static str] {
        &["v"]
    }

    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, _step: &PerStep) -> Result<Array> {
        let g = if self.weight_decay != 0.0 { rmx::add(g, &rmx::multiply(p, self.weight_decay)?)? } else { g.clone() };
        let v = rmx::add(&rmx::multiply(slot(state, "v")?, self.momentum)?, &rmx::multiply(&g, 1.0 - self.momentum)?)?;
        state.insert("v", v.clone());
        let update =
            if self.nesterov { rmx::add(&rmx::multiply(&g, 1.0 - self.momentum)?, &rmx::multiply(&v, self.momentum)?)? } else { v };
        let (update, lr) = if update.ndim() >= 2 {
            let shape = update.shape().to_vec();
            let flat = rmx::reshape(&update, &[shape[0] as isize, -1])?;
            let ortho = rmx::reshape_to(&newton_schulz(&flat, self.ns_steps)?, &shape)?;
            let (rows, cols) = (shape[shape.len() - 2] as f64, shape[shape.len() - 1] as f64);
            let factor = (rows / cols).max(1.0).sqrt();
            (ortho, lr.map(|lr| lr * factor, |lr| rmx::multiply(lr, factor))?)
        } else {
            (update, lr.clone())
        };
        rmx::subtract(p, &rmx::multiply(&update, lr.operand(&update)?)?)
    }
}
