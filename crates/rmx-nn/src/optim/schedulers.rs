//! Learning-rate schedules (MLX's `exponential_decay`, `step_decay`, `cosine_decay`,
//! `linear_schedule`, `join_schedules`): functions of the step count, starting at 0.

use rmx::{Error, Result};
use std::sync::Arc;

/// A learning rate: constant or a function of the step.
#[derive(Clone)]
pub struct LearningRate {
    rate: Arc<dyn Fn(usize) -> f64 + Send + Sync>,
    constant: bool,
}

impl LearningRate {
    /// The rate at `step`.
    pub fn at(&self, step: usize) -> f64 {
        (self.rate)(step)
    }

    /// A schedule from any function of the step.
    pub fn schedule(f: impl Fn(usize) -> f64 + Send + Sync + 'static) -> LearningRate {
        LearningRate { rate: Arc::new(f), constant: false }
    }

    /// Whether the rate is the same at every step.
    pub fn is_constant(&self) -> bool {
        self.constant
    }
}

impl From<f64> for LearningRate {
    fn from(lr: f64) -> Self {
        LearningRate { rate: Arc::new(move |_| lr), constant: true }
    }
}

/// `init * rate^step`.
pub fn exponential_decay(init: f64, decay_rate: f64) -> LearningRate {
    LearningRate::schedule(move |s| init * decay_rate.powi(s as i32))
}

/// `init * rate^(step / step_size)` (integer division).
pub fn step_decay(init: f64, decay_rate: f64, step_size: usize) -> LearningRate {
    LearningRate::schedule(move |s| init * decay_rate.powi((s / step_size.max(1)) as i32))
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
    LearningRate::schedule(move |s| {
        let s = s.min(decay_steps) as f64;
        let decay = 0.5 * (1.0 + (std::f64::consts::PI / decay_steps as f64 * s).cos());
        end + decay * (init - end)
    })
}

/// Linear from `init` to `end` over `steps`, then `end`.
pub fn linear_schedule(init: f64, end: f64, steps: usize) -> LearningRate {
    LearningRate::schedule(move |s| init + s.min(steps) as f64 * (end - init) / steps.max(1) as f64)
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
    Ok(LearningRate::schedule(move |s| {
        let i = boundaries.iter().take_while(|&&b| s >= b).count().min(schedules.len() - 1);
        let start = if i == 0 { 0 } else { boundaries[i - 1] };
        schedules[i].at(s - start)
    }))
}
