//! Numbers that change from step to step — the learning rate, the step count — as the update
//! rules see them: a host float when the optimizer runs eagerly, a float32 scalar array when
//! the step is traced by `rmx::compile` with the optimizer state passed through it, so the
//! trace reads the value as an input instead of freezing the one it saw.

use rmx::{Array, Dtype, Operand, Result};

/// A learning rate, a step count or a value computed from them.
///
/// ```
/// use rmx_nn::optim::PerStep;
/// let lr = PerStep::Host(0.1).map(|x| x * 2.0, |a| rmx::multiply(a, 2.0))?;
/// assert!(matches!(lr, PerStep::Host(x) if (x - 0.2).abs() < 1e-12));
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub enum PerStep {
    Host(f64),
    Traced(Array),
}

impl PerStep {
    /// The value as a float32 scalar array.
    pub fn array(&self) -> Result<Array> {
        match self {
            PerStep::Host(x) => Ok(Array::scalar(*x as f32)),
            PerStep::Traced(a) => rmx::astype(a, Dtype::F32),
        }
    }

    /// `host(x)` on a host value, `traced(a)` (rmx ops on the float32 scalar) otherwise.
    pub fn map(&self, host: impl Fn(f64) -> f64, traced: impl Fn(&Array) -> Result<Array>) -> Result<PerStep> {
        match self {
            PerStep::Host(x) => Ok(PerStep::Host(host(*x))),
            PerStep::Traced(_) => Ok(PerStep::Traced(traced(&self.array()?)?)),
        }
    }

    /// [`PerStep::map`] of two values: on the host when both are host values.
    pub fn zip(
        &self,
        other: &PerStep,
        host: impl Fn(f64, f64) -> f64,
        traced: impl Fn(&Array, &Array) -> Result<Array>,
    ) -> Result<PerStep> {
        match (self, other) {
            (PerStep::Host(a), PerStep::Host(b)) => Ok(PerStep::Host(host(*a, *b))),
            _ => Ok(PerStep::Traced(traced(&self.array()?, &other.array()?)?)),
        }
    }

    /// An operand for arithmetic with `like`: a weak scalar from a host value, the array cast
    /// to `like`'s dtype otherwise (MLX casts the learning rate to the gradient's dtype).
    pub fn operand(&self, like: &Array) -> Result<Operand> {
        match self {
            PerStep::Host(x) => Ok(Operand::Scalar(rmx::Scalar::Float(*x))),
            PerStep::Traced(a) => Ok(Operand::Array(rmx::astype(a, like.dtype())?)),
        }
    }
}
