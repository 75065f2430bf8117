//! Learning-rate schedules (MLX's `exponential_decay`, `step_decay`, `cosine_decay`,
//! `linear_schedule`, `join_schedules`): functions of the step count, starting at 0. Each
//! comes as a host function and as rmx ops on a traced step count, so a compiled training
//! step reads the step instead of freezing it ([`super::PerStep`]).

use super::PerStep;
use rmx::{Array, Dtype, Error, Result};
use std::sync::Arc;

type HostRate = Arc<dyn Fn(usize) -> f64 + Send + Sync>;
type TracedRate = Arc<dyn Fn(&Array) -> Result<Array> + Send + Sync>;

/// A learning rate: constant or a function of the step.
#[derive(Clone)]
pub struct LearningRate {
    rate: HostRate,
    /// The same function over a float32 step-count array (absent for [`LearningRate::schedule`]).
    traced: Option<TracedRate>,
    constant: bool,
}

impl LearningRate {
    /// The rate at `step`.
    pub fn at(&self, step: usize) -> f64 {
        (self.rate)(step)
    }

    /// The rate at a host or traced step count.
    pub fn at_step(&self, step: &PerStep) -> Result<PerStep> {
        match (step, &self.traced) {
            (PerStep::Host(s), _) => Ok(PerStep::Host(self.at(*s as usize))),
            (PerStep::Traced(s), Some(f)) => Ok(PerStep::Traced(f(&rmx::astype(s, Dtype::F32)?)?)),
            (PerStep::Traced(_), None) => Err(Error::NotImplemented(
                "a custom LearningRate::schedule inside a compiled step (it is host code; use the built-in schedules)".into(),
            )),
        }
    }

    /// A schedule from any function of the step (host code: not usable in a compiled step
    /// that traces the step count).
    pub fn schedule(f: impl Fn(usize) -> f64 + Send + Sync + 'static) -> LearningRate {
        LearningRate { rate: Arc::new(f), traced: None, constant: false }
    }

    /// A schedule given both as a host function and as rmx ops on a float32 step count.
    fn both(
        host: impl Fn(usize) -> f64 + Send + Sync + 'static,
        traced: impl Fn(&Array) -> Result<Array> + Send + Sync + 'static,
    ) -> LearningRate {
        LearningRate { rate: Arc::new(host), traced: Some(Arc::new(traced)), constant: false }
    }

    /// Whether the rate is the same at every step.
    pub fn is_constant(&self) -> bool {
        self.constant
    }
}

impl From<f64> for LearningRate {
    fn from(lr: f64) -> Self {
        let traced = move |_: &Array| rmx::full(&[], lr, Dtype::F32);
        LearningRate { rate: Arc::new(move |_| lr), traced: Some(Arc::new(traced)), constant: true }
    }
}

/// `init * rate^step`.
pub fn exponential_decay(init: f64, decay_rate: f64) -> LearningRate {
    LearningRate::both(move |s| init * decay_rate.powi(s as i32), move |s| rmx::multiply(&rmx::power(decay_rate, s)?, init))
}

/// `init * rate^(step / step_size)` (integer division).
pub fn step_decay(init: f64, decay_rate: f64, step_size: usize) -> LearningRate {
    let size = step_size.max(1);
    LearningRate::both(
        move |s| init * decay_rate.powi((s / size) as i32),
        move |s| rmx::multiply(&rmx::power(decay_rate, &rmx::floor(&rmx::divide(s, size as f64)?)?)?, init),
    )
}

/// Cosine from `init` to `end` over `decay_steps`, then `end`.
///
/// ```
/// let lr = rmx_nn::optim::schedulers::cosine_decay(1.0, 10, 0.0);
/// assert_eq!(lr.at(0), 1.0);
/// assert!((lr.at(5) - 0.5).abs() < 1e-12);
/// assert_eq!(lr.at(20), 0.0);
/// ```
pub fn cosine_decay(init: f64, decay_steps: usize, end: f64) -> LearningRate {
    let omega = std::f64::consts::PI / decay_steps as f64;
    LearningRate::both(
        move |s| {
            let s = s.min(decay_steps) as f64;
            end + 0.5 * (1.0 + (omega * s).cos()) * (init - end)
        },
        move |s| {
            let s = rmx::minimum(s, decay_steps as f64)?;
            let decay = rmx::multiply(&rmx::add(&rmx::cos(&rmx::multiply(&s, omega)?)?, 1.0)?, 0.5)?;
            rmx::add(&rmx::multiply(&decay, init - end)?, end)
        },
    )
}

/// Linear from `init` to `end` over `steps`, then `end`.
pub fn linear_schedule(init: f64, end: f64, steps: usize) -> LearningRate {
    let slope = (end - init) / steps.max(1) as f64;
    LearningRate::both(
        move |s| init + s.min(steps) as f64 * slope,
        move |s| rmx::add(&rmx::multiply(&rmx::minimum(s, steps as f64)?, slope)?, init),
    )
}

/// `schedules[0]` until `boundaries[0]`, then `schedules[1]` (counting from 0 again), ...
/// There must be one boundary fewer than schedules.
pub fn join_schedules(schedules: Vec<LearningRate>, boundaries: Vec<usize>) -> Result<LearningRate> {
    if schedules.is_empty() || boundaries.len() + 1 != schedules.len() {
        return Err(Error::arg(
            "join_schedules",
            format!("{} schedules need {} boundaries, got {}", schedules.len(), schedules.len().saturating_sub(1), boundaries.len()),
        ));
    }
    let starts: Vec<usize> = std::iter::once(0).chain(boundaries.iter().copied()).collect();
    let host = {
        let (schedules, boundaries, starts) = (schedules.clone(), boundaries.clone(), starts.clone());
        move |s: usize| {
            let i = boundaries.iter().take_while(|&&b| s >= b).count().min(schedules.len() - 1);
            schedules[i].at(s - starts[i])
        }
    };
    let traced = move |s: &Array| {
        // The last schedule, then each earlier one where the step is below its boundary.
        let piece = |i: usize| schedules[i].at_step(&PerStep::Traced(rmx::subtract(s, starts[i] as f64)?))?.array();
        let mut rate = piece(schedules.len() - 1)?;
        for i in (0..boundaries.len()).rev() {
            rate = rmx::where_(&rmx::less(s, boundaries[i] as f64)?, &piece(i)?, &rate)?;
        }
        Ok(rate)
    };
    Ok(LearningRate::both(host, traced))
}
