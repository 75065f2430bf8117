//! Adafactor (Shazeer & Stern, 2018) with MLX's defaults: second moments factored into row
//! and column averages for matrices, relative step sizes scaled by the parameter's RMS,
//! update clipping, optional first moment and weight decay.

use super::{slot, PerStep, Rule, State};
use rmx::{Array, Axes, Result};

/// Adafactor. With `relative_step` (the default) the learning rate given to the
/// optimizer is ignored: the step is `min(1e-2, 1/sqrt(step))` (or `1e-6 * step` with
/// `warmup_init`), times the parameter's RMS when `scale_parameter`.
#[derive(Clone, Debug)]
pub struct Adafactor {
    pub eps: (f64, f64),
    pub clip_threshold: f64,
    pub decay_rate: f64,
    pub beta_1: Option<f64>,
    pub weight_decay: f64,
    pub scale_parameter: bool,
    pub relative_step: bool,
    pub warmup_init: bool,
}

impl Default for Adafactor {
    fn default() -> Self {
        Adafactor {
            eps: (1e-30, 1e-3),
            clip_threshold: 1.0,
            decay_rate: -0.8,
            beta_1: None,
            weight_decay: 0.0,
            scale_parameter: true,
            relative_step: true,
            warmup_init: false,
        }
    }
}

fn rms(x: &Array) -> Result<Array> {
    rmx::sqrt(&rmx::mean(&rmx::square(x)?, Axes::All, false)?)
}

fn blend(old: &Array, beta: &PerStep, new: &Array) -> Result<Array> {
    let take = beta.map(|b| 1.0 - b, |b| rmx::subtract(1.0, b))?;
    rmx::add(&rmx::multiply(old, beta.operand(old)?)?, &rmx::multiply(new, take.operand(new)?)?)
}

impl Rule for Adafactor {
    fn slots(&self) -> &'static [&'static str] {
        &["exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq", "exp_avg"]
    }

    fn uses_step(&self) -> bool {
        true
    }

    fn init(&self, p: &Array) -> Result<State> {
        let mut state = State::new();
        let shape = p.shape();
        if p.ndim() >= 2 {
            let nd = shape.len();
            state.insert("exp_avg_sq_row", rmx::zeros(&shape[..nd - 1], p.dtype())?);
            state.insert("exp_avg_sq_col", rmx::zeros(&[&shape[..nd - 2], &shape[nd - 1..]].concat(), p.dtype())?);
        } else {
            state.insert("exp_avg_sq", rmx::zeros_like(p)?);
        }
        if self.beta_1.is_some() {
            state.insert("exp_avg", rmx::zeros_like(p)?);
        }
        Ok(state)
    }

    fn apply(&self, g: &Array, p: &Array, state: &mut State, lr: &PerStep, step: &PerStep) -> Result<Array> {
        let warmup = self.warmup_init;
        let relative = if self.relative_step {
            step.map(
                |t| (if warmup { 1e-6 * t } else { 1e-2 }).min(1.0 / t.sqrt()),
                |t| rmx::minimum(&if warmup { rmx::multiply(t, 1e-6)? } else { rmx::full(&[], 1e-2, rmx::Dtype::F32)? }, &rmx::rsqrt(t)?),
            )?
        } else {
            lr.clone()
        };
        let relative = rmx::astype(&relative.array()?, p.dtype())?;
        let lr = if self.scale_parameter { rmx::multiply(&rmx::maximum(&rms(p)?, self.eps.1)?, &relative)? } else { relative };
        let decay_rate = self.decay_rate;
        let beta_2 = step.map(|t| 1.0 - t.powf(decay_rate), |t| rmx::subtract(1.0, &rmx::power(t, decay_rate)?))?;
        let sq = rmx::add(&rmx::square(g)?, self.eps.0)?;
        let update = if g.ndim() >= 2 {
            let row = blend(slot(state, "exp_avg_sq_row")?, &beta_2, &rmx::mean(&sq, -1, false)?)?;
            let col = blend(slot(state, "exp_avg_sq_col")?, &beta_2, &rmx::mean(&sq, -2, false)?)?;
            let r = rmx::rsqrt(&rmx::divide(&row, &rmx::mean(&row, -1, true)?)?)?;
            let c = rmx::rsqrt(&col)?;
            let approx = rmx::multiply(&rmx::expand_dims(&r, &[-1])?, &rmx::expand_dims(&c, &[-2])?)?;
            state.insert("exp_avg_sq_row", row);
            state.insert("exp_avg_sq_col", col);
            rmx::multiply(&approx, g)?
        } else {
            let v = blend(slot(state, "exp_avg_sq")?, &beta_2, &sq)?;
            let u = rmx::multiply(&rmx::rsqrt(&v)?, g)?;
            state.insert("exp_avg_sq", v);
            u
        };
        let update = rmx::divide(&update, &rmx::maximum(&rmx::divide(&rms(&update)?, self.clip_threshold)?, 1.0)?)?;
        let mut update = rmx::multiply(&lr, &update)?;
        if let Some(b1) = self.beta_1 {
            update = blend(slot(state, "exp_avg")?, &PerStep::Host(b1), &update)?;
            state.insert("exp_avg", update.clone());
        }
        let p =
            if self.weight_decay != 0.0 { rmx::add(p, &rmx::multiply(p, &rmx::multiply(&lr, -self.weight_decay)?)?)? } else { p.clone() };
        rmx::subtract(&p, &update)
    }
}
