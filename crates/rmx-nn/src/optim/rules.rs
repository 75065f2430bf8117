//! The update rules, with MLX's formulas and defaults (`mlx.optimizers`).

use super::{slot, PerStep, Rule, State};
use rmx::{Array, Result};

fn axpy(a: &Array, alpha: f64, b: &Array, beta: f64) -> Result<Array> {
    rmx::add(&rmx::multiply(a, alpha)?, &rmx::multiply(b, beta)?)
}

/// `p - lr * num / (sqrt(den) + eps)`.
fn scaled_step(p: &Array, lr: &PerStep, num: &Array, den: &Array, eps: f64) -> Result<Array> {
    rmx::subtract(p, &rmx::divide(&rmx::multiply(num, lr.operand(num)?)?, &rmx::add(&rmx::sqrt(den)?, eps)?)?)
}

/// `p * (1 - lr * weight_decay)`: decoupled weight decay.
pub(super) fn decay(p: &Array, lr: &PerStep, weight_decay: f64) -> Result<Array> {
    let keep = lr.map(|lr| 1.0 - lr * weight_decay, |lr| rmx::subtract(1.0, &rmx::multiply(lr, weight_decay)?))?;
    rmx::multiply(p, keep.operand(p)?)
}

/// Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.
#[derive(Clone, Debug, Default)]
pub struct Sgd {
    pub momentum: f64,
    pub weight_decay: f64,
    pub dampening: f64,
    pub nesterov: bool,
}

impl Sgd {
    pub fn new(momentum: f64) -> Sgd {
        Sgd { momentum, ..Sgd::default() }
    }
}

impl Rule for Sgd {
    fn slots(&self) -> &'static [&'static str] {
        &["v"]
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, _step: &PerStep) -> Result<Array> {
        let g = if self.weight_decay != 0.0 { axpy(g, 1.0, p, self.weight_decay)? } else { g.clone() };
        if self.momentum <= 0.0 {
            return rmx::subtract(p, &rmx::multiply(&g, lr.operand(&g)?)?);
        }
        let v = axpy(slot(state, "v")?, self.momentum, &g, if self.dampening > 0.0 { 1.0 - self.dampening } else { 1.0 })?;
        let update = if self.nesterov { axpy(&g, 1.0, &v, self.momentum)? } else { v.clone() };

        state.insert("v", v.clone());
        rmx::subtract(p, &rmx::multiply(&update, lr.operand(&update)?)?)
    }
}

/// RMSprop (MLX defaults `alpha` 0.99, `eps` 1e-8).
#[derive(Clone, Debug)]
pub struct RMSprop {
    pub alpha: f64,
    pub eps: f64,
}

impl Default for RMSprop {
    fn default() -> Self {
        RMSprop { alpha: 0.99, eps: 1e-8 }
    }
}

impl Rule for RMSprop {
    fn slots(&self) -> &'static [&'static str] {
        &["v"]
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, _step: &PerStep) -> Result<Array> {
        let v = axpy(slot(state, "v")?, self.alpha, &rmx::square(g)?, 1.0 - self.alpha)?;
        state.insert("v", v.clone());
        scaled_step(p, lr, g, slot(state, "v")?, self.eps)
    }
}

/// Adagrad (`eps` 1e-8).
#[derive(Clone, Debug)]
pub struct Adagrad {
    pub eps: f64,
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad { eps: 1e-8 }
    }
}

impl Rule for Adagrad {
    fn slots(&self) -> &'static [&'static str] {
        &["v"]
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, _step: &PerStep) -> Result<Array> {
        let v = rmx::add(slot(state, "v")?, &rmx::square(g)?)?;
        state.insert("v", v.clone());
        scaled_step(p, lr, g, slot(state, "v")?, self.eps)
    }
}

/// AdaDelta (`rho` 0.9, `eps` 1e-6).
#[derive(Clone, Debug)]
pub struct AdaDelta {
    pub rho: f64,
    pub eps: f64,
}

impl Default for AdaDelta {
    fn default() -> Self {
        AdaDelta { rho: 0.9, eps: 1e-6 }
    }
}

impl Rule for AdaDelta {
    fn slots(&self) -> &'static [&'static str] {
        &["v", "u"]
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, _step: &PerStep) -> Result<Array> {
        let v = axpy(slot(state, "v")?, self.rho, &rmx::square(g)?, 1.0 - self.rho)?;
        let d =
            rmx::multiply(&rmx::divide(&rmx::sqrt(&rmx::add(slot(state, "u")?, self.eps)?)?, &rmx::sqrt(&rmx::add(&v, self.eps)?)?)?, g)?;
        let u = axpy(slot(state, "u")?, self.rho, &rmx::square(&d)?, 1.0 - self.rho)?;
        state.insert("u", u.clone());
        state.insert("v", v.clone());
        rmx::subtract(p, &rmx::multiply(&d, lr.operand(&d)?)?)
    }
}

/// Adam (`betas` (0.9, 0.999), `eps` 1e-8, no bias correction by default, as MLX).
#[derive(Clone, Debug)]
pub struct Adam {
    pub betas: (f64, f64),
    pub eps: f64,
    pub bias_correction: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Adam { betas: (0.9, 0.999), eps: 1e-8, bias_correction: false }
    }
}

impl Rule for Adam {
    fn slots(&self) -> &'static [&'static str] {
        &["m", "v"]
    }
    fn uses_step(&self) -> bool {
        self.bias_correction
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, step: &PerStep) -> Result<Array> {
        let (b1, b2) = self.betas;
        let m = axpy(slot(state, "m")?, b1, g, 1.0 - b1)?;
        state.insert("m", m.clone());
        let v = axpy(slot(state, "v")?, b2, &rmx::square(g)?, 1.0 - b2)?;
        state.insert("v", v.clone());
        if !self.bias_correction {
            return scaled_step(p, lr, slot(state, "m")?, slot(state, "v")?, self.eps);
        }
        let c1 = lr.zip(step, |lr, t| lr / (1.0 - b1.powf(t)), |lr, t| rmx::divide(lr, &rmx::subtract(1.0, &rmx::power(b1, t)?)?))?;
        let c2 = step.map(|t| 1.0 / (1.0 - b2.powf(t)).sqrt(), |t| rmx::rsqrt(&rmx::subtract(1.0, &rmx::power(b2, t)?)?))?;
        let den = rmx::add(&rmx::multiply(&rmx::sqrt(&v)?, c2.operand(&v)?)?, self.eps)?;
        rmx::subtract(p, &rmx::divide(&rmx::multiply(&m, c1.operand(&m)?)?, &den)?)
    }
}

/// AdamW: Adam with decoupled weight decay (`weight_decay` 0.01).
#[derive(Clone, Debug)]
pub struct AdamW {
    pub adam: Adam,
    pub weight_decay: f64,
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW { adam: Adam::default(), weight_decay: 0.01 }
    }
}

impl Rule for AdamW {
    fn slots(&self) -> &'static [&'static str] {
        &["m", "v"]
    }
    fn uses_step(&self) -> bool {
        self.adam.bias_correction
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, step: &PerStep) -> Result<Array> {
        self.adam.apply(g, &decay(p, lr, self.weight_decay)?, state, lr, step)
    }
}

/// Adamax (`betas` (0.9, 0.999), `eps` 1e-8).
#[derive(Clone, Debug)]
pub struct Adamax {
    pub betas: (f64, f64),
    pub eps: f64,
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax { betas: (0.9, 0.999), eps: 1e-8 }
    }
}

impl Rule for Adamax {
    fn slots(&self) -> &'static [&'static str] {
        &["m", "v"]
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, _step: &PerStep) -> Result<Array> {
        let (b1, b2) = self.betas;
        let m = axpy(slot(state, "m")?, b1, g, 1.0 - b1)?;
        state.insert("m", m.clone());
        let v = rmx::maximum(&rmx::multiply(slot(state, "v")?, b2)?, &rmx::abs(g)?)?;
        state.insert("v", v.clone());
        rmx::subtract(p, &rmx::divide(&rmx::multiply(&m, lr.operand(&m)?)?, &rmx::add(&v, self.eps)?)?)
    }
}

/// Lion (`betas` (0.9, 0.99), `weight_decay` 0).
#[derive(Clone, Debug)]
pub struct Lion {
    pub betas: (f64, f64),
    pub weight_decay: f64,
}

impl Default for Lion {
    fn default() -> Self {
        Lion { betas: (0.9, 0.99), weight_decay: 0.0 }
    }
}

impl Rule for Lion {
    fn slots(&self) -> &'static [&'static str] {
        &["m"]
    }
    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, _step: &PerStep) -> Result<Array> {
        let (b1, b2) = self.betas;
        let c = axpy(slot(state, "m")?, b1, g, 1.0 - b1)?;
        let m = axpy(slot(state, "m")?, b2, g, 1.0 - b2)?;
        state.insert("m", m.clone());
        let p = if self.weight_decay > 0.0 { decay(p, lr, self.weight_decay)? } else { p.clone() };
        let direction = rmx::sign(&c)?;
        rmx::subtract(&p, &rmx::multiply(&direction, lr.operand(&direction)?)?)
    }
}
