//! Activation functions (MLX's `nn` activations, same formulas and defaults) and
//! [`Activation`], a layer wrapping any of them for `Sequential`.

use crate::module::Module;
use crate::visit;
use rmx::{Array, Result};

/// `max(x, 0)`.
pub fn relu(x: &Array) -> Result<Array> {
    rmx::maximum(x, 0.0)
}

/// `relu(x)^2`.
pub fn relu2(x: &Array) -> Result<Array> {
    rmx::square(&relu(x)?)
}

/// `min(max(x, 0), 6)`.
pub fn relu6(x: &Array) -> Result<Array> {
    rmx::minimum(&relu(x)?, 6.0)
}

/// `x` where positive, `slope * x` elsewhere (MLX default slope 0.01).
pub fn leaky_relu(x: &Array, negative_slope: f64) -> Result<Array> {
    rmx::maximum(&rmx::multiply(x, negative_slope)?, x)
}

/// `x` where positive, `alpha (e^x - 1)` elsewhere.
pub fn elu(x: &Array, alpha: f64) -> Result<Array> {
    rmx::where_(&rmx::greater(x, 0.0)?, x, &rmx::multiply(&rmx::expm1(x)?, alpha)?)
}

/// `max(0, x) + min(0, alpha (e^{x/alpha} - 1))`.
pub fn celu(x: &Array, alpha: f64) -> Result<Array> {
    let neg = rmx::multiply(&rmx::expm1(&rmx::divide(x, alpha)?)?, alpha)?;
    rmx::add(&relu(x)?, &rmx::minimum(&neg, 0.0)?)
}

/// `1.0507 * elu(x, 1.67326)`.
pub fn selu(x: &Array) -> Result<Array> {
    rmx::multiply(&elu(x, 1.673_263_242_354_377_3)?, 1.050_700_987_355_480_5)
}

/// `1 / (1 + e^-x)`.
pub fn sigmoid(x: &Array) -> Result<Array> {
    rmx::sigmoid(x)
}

/// `log(sigmoid(x))` = `-softplus(-x)`.
pub fn log_sigmoid(x: &Array) -> Result<Array> {
    rmx::negative(&softplus(&rmx::negative(x)?)?)
}

/// `log(1 + e^x)`, computed as `logaddexp(x, 0)`.
pub fn softplus(x: &Array) -> Result<Array> {
    rmx::logaddexp(x, 0.0)
}

/// `x / (1 + |x|)`.
pub fn softsign(x: &Array) -> Result<Array> {
    rmx::divide(x, &rmx::add(&rmx::abs(x)?, 1.0)?)
}

/// `x - lambda` above `lambda`, `x + lambda` below `-lambda`, 0 between (default 0.5).
pub fn softshrink(x: &Array, lambda: f64) -> Result<Array> {
    let shrunk = rmx::subtract(x, &rmx::multiply(&rmx::sign(x)?, lambda)?)?;
    rmx::where_(&rmx::greater(&rmx::abs(x)?, lambda)?, &shrunk, 0.0)
}

/// `x` where `|x| > lambda`, else 0 (default 0.5).
pub fn hard_shrink(x: &Array, lambda: f64) -> Result<Array> {
    rmx::where_(&rmx::greater(&rmx::abs(x)?, lambda)?, x, 0.0)
}

/// `clip(x, min, max)` (defaults -1, 1).
pub fn hard_tanh(x: &Array, min: f64, max: f64) -> Result<Array> {
    rmx::clip(x, Some(min), Some(max))
}

/// `x * sigmoid(x)` (swish).
pub fn silu(x: &Array) -> Result<Array> {
    rmx::multiply(x, &rmx::sigmoid(x)?)
}

/// `x * tanh(softplus(x))`.
pub fn mish(x: &Array) -> Result<Array> {
    rmx::multiply(x, &rmx::tanh(&softplus(x)?)?)
}

/// `x * relu6(x + 3) / 6`.
pub fn hardswish(x: &Array) -> Result<Array> {
    rmx::divide(&rmx::multiply(x, &relu6(&rmx::add(x, 3.0)?)?)?, 6.0)
}

/// Exact GELU: `x * (1 + erf(x / sqrt 2)) / 2`.
pub fn gelu(x: &Array) -> Result<Array> {
    let cdf = rmx::multiply(&rmx::add(&rmx::erf(&rmx::multiply(x, std::f64::consts::FRAC_1_SQRT_2)?)?, 1.0)?, 0.5)?;
    rmx::multiply(x, &cdf)
}

/// The tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
pub fn gelu_approx(x: &Array) -> Result<Array> {
    let inner = rmx::multiply(&rmx::add(x, &rmx::multiply(&rmx::power(x, 3.0)?, 0.044715)?)?, (2.0 / std::f64::consts::PI).sqrt())?;
    rmx::multiply(&rmx::multiply(x, 0.5)?, &rmx::add(&rmx::tanh(&inner)?, 1.0)?)
}

/// The sigmoid approximation: `x * sigmoid(1.702 x)`.
pub fn gelu_fast_approx(x: &Array) -> Result<Array> {
    rmx::multiply(x, &rmx::sigmoid(&rmx::multiply(x, 1.702)?)?)
}

/// Splits `axis` in two halves `a, b` and returns `a * sigmoid(b)`.
pub fn glu(x: &Array, axis: isize) -> Result<Array> {
    let halves = rmx::split(x, 2, axis)?;
    rmx::multiply(&halves[0], &rmx::sigmoid(&halves[1])?)
}

/// 1 where `x >= threshold`, else 0 (in `x`'s dtype).
pub fn step(x: &Array, threshold: f64) -> Result<Array> {
    rmx::astype(&rmx::greater_equal(x, threshold)?, x.dtype())
}

/// `max(0, x) + alpha * min(0, x)` with a learned `alpha`.
pub fn prelu(x: &Array, alpha: &Array) -> Result<Array> {
    rmx::add(&relu(x)?, &rmx::multiply(alpha, &rmx::minimum(x, 0.0)?)?)
}

/// `tanh(x)`.
pub fn tanh(x: &Array) -> Result<Array> {
    rmx::tanh(x)
}

/// Softmax over `axis`.
pub fn softmax(x: &Array, axis: isize) -> Result<Array> {
    rmx::softmax(x, axis)
}

/// `softmax(-x)`.
pub fn softmin(x: &Array, axis: isize) -> Result<Array> {
    rmx::softmax(&rmx::negative(x)?, axis)
}

/// `x - logsumexp(x)` over `axis`.
pub fn log_softmax(x: &Array, axis: isize) -> Result<Array> {
    rmx::subtract(x, &rmx::logsumexp(x, axis, true)?)
}

/// A parameter-free activation as a layer (MLX's `nn.ReLU()`, `nn.GELU()`, ...).
///
/// ```
/// let act = rmx_nn::Activation::new(rmx_nn::activations::relu);
/// let y = act.forward(&rmx::Array::from_slice(&[-1.0f32, 2.0], &[2])?)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0, 2.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone)]
pub struct Activation {
    f: std::sync::Arc<ActivationFn>,
}

/// Any function from an array to an array.
pub type ActivationFn = dyn Fn(&Array) -> Result<Array> + Send + Sync;
visit!(Activation {});
impl Module for Activation {}

impl Activation {
    pub fn new(f: impl Fn(&Array) -> Result<Array> + Send + Sync + 'static) -> Activation {
        Activation { f: std::sync::Arc::new(f) }
    }
    pub fn forward(&self, x: &Array) -> Result<Array> {
        (self.f)(x)
    }
}

/// `PReLU`: [`prelu`] with a learned slope per channel (MLX initialises it to 0.25).
#[derive(Clone, Debug)]
pub struct PReLU {
    pub weight: crate::Param,
}
visit!(PReLU { weight });
impl Module for PReLU {}

impl PReLU {
    pub fn new(num_parameters: usize, init: f64) -> Result<PReLU> {
        Ok(PReLU { weight: crate::Param::new(rmx::full(&[num_parameters], init, rmx::Dtype::F32)?) })
    }
    pub fn forward(&self, x: &Array) -> Result<Array> {
        prelu(x, &self.weight.value)
    }
}
