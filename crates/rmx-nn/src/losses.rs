//! The 14 loss functions of `mlx.nn.losses`, with MLX's formulas, argument defaults and
//! `reduction` (`None`, `Mean`, `Sum`).

use rmx::{Array, Axes, Error, Result};

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

fn reduce(loss: Array, reduction: Reduction) -> Result<Array> {
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Mean => rmx::mean(&loss, Axes::All, false),
        Reduction::Sum => rmx::sum(&loss, Axes::All, false),
    }
}

fn same_shape(op: &'static str, a: &Array, b: &Array) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shapes_detail(op, &[a.shape(), b.shape()], "predictions and targets must have the same shape"));
    }
    Ok(())
}

/// The entry of `x` at each class index of `targets` along `axis`.
fn pick(x: &Array, targets: &Array, axis: isize) -> Result<Array> {
    let idx = rmx::expand_dims(targets, &[axis])?;
    rmx::squeeze(&rmx::take_along_axis(x, &idx, Some(axis))?, Some(&[axis]))
}

/// Cross entropy of `logits` against class indices (`targets` with one axis less) or
/// class probabilities (same shape), with optional per-element `weights` and label
/// smoothing. MLX's default reduction is `None`.
///
/// ```
/// use rmx_nn::losses::{cross_entropy, Reduction};
/// let logits = rmx::Array::from_slice(&[2.0f32, 0.0, 0.0, 2.0], &[2, 2])?;
/// let targets = rmx::Array::from_slice(&[0i32, 1], &[2])?;
/// let loss = cross_entropy(&logits, &targets, None, -1, 0.0, Reduction::Mean)?;
/// assert!((loss.item::<f32>()? - 0.126928).abs() < 1e-5);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn cross_entropy(
    logits: &Array,
    targets: &Array,
    weights: Option<&Array>,
    axis: isize,
    label_smoothing: f64,
    reduction: Reduction,
) -> Result<Array> {
    if !(0.0..1.0).contains(&label_smoothing) {
        return Err(Error::arg("cross_entropy", format!("label_smoothing {label_smoothing} must be in [0, 1)")));
    }
    let probabilities = targets.ndim() == logits.ndim();
    if !probabilities && targets.ndim() + 1 != logits.ndim() {
        return Err(Error::shapes_detail(
            "cross_entropy",
            &[logits.shape(), targets.shape()],
            "targets must be class indices (one axis less) or probabilities (same shape)",
        ));
    }
    let score = if probabilities { rmx::sum(&rmx::multiply(logits, targets)?, axis, false)? } else { pick(logits, targets, axis)? };
    let lse = rmx::logsumexp(logits, axis, false)?;
    let mut loss = if label_smoothing > 0.0 {
        let adjusted = rmx::multiply(&score, 1.0 - label_smoothing)?;
        let smoothed = rmx::multiply(&rmx::mean(logits, axis, false)?, -label_smoothing)?;
        rmx::add(&rmx::subtract(&lse, &adjusted)?, &smoothed)?
    } else {
        rmx::subtract(&lse, &score)?
    };
    if let Some(w) = weights {
        if w.shape() != loss.shape() {
            return Err(Error::shapes_detail("cross_entropy", &[w.shape(), loss.shape()], "weights must have the shape of the loss"));
        }
        loss = rmx::multiply(&loss, w)?;
    }
    reduce(loss, reduction)
}

/// Binary cross entropy of logits (`with_logits`) or probabilities against 0/1 targets.
/// MLX's default reduction is `Mean`.
pub fn binary_cross_entropy(
    inputs: &Array,
    targets: &Array,
    weights: Option<&Array>,
    with_logits: bool,
    reduction: Reduction,
) -> Result<Array> {
    same_shape("binary_cross_entropy", inputs, targets)?;
    let mut loss = if with_logits {
        rmx::subtract(&rmx::logaddexp(0.0, inputs)?, &rmx::multiply(inputs, targets)?)?
    } else {
        let log_p = rmx::maximum(&rmx::log(inputs)?, -100.0)?;
        let log_q = rmx::maximum(&rmx::log(&rmx::subtract(1.0, inputs)?)?, -100.0)?;
        rmx::negative(&rmx::add(&rmx::multiply(targets, &log_p)?, &rmx::multiply(&rmx::subtract(1.0, targets)?, &log_q)?)?)?
    };
    if let Some(w) = weights {
        loss = rmx::multiply(&loss, w)?;
    }
    reduce(loss, reduction)
}

/// Mean absolute error (default reduction `Mean`).
pub fn l1_loss(predictions: &Array, targets: &Array, reduction: Reduction) -> Result<Array> {
    same_shape("l1_loss", predictions, targets)?;
    reduce(rmx::abs(&rmx::subtract(predictions, targets)?)?, reduction)
}

/// Mean squared error (default reduction `Mean`).
pub fn mse_loss(predictions: &Array, targets: &Array, reduction: Reduction) -> Result<Array> {
    same_shape("mse_loss", predictions, targets)?;
    reduce(rmx::square(&rmx::subtract(predictions, targets)?)?, reduction)
}

/// Negative log likelihood of log-probabilities at the target classes (default `None`).
pub fn nll_loss(inputs: &Array, targets: &Array, axis: isize, reduction: Reduction) -> Result<Array> {
    reduce(rmx::negative(&pick(inputs, targets, axis)?)?, reduction)
}

/// Gaussian negative log likelihood with predicted variances (clamped to `eps`); `full`
/// adds the constant. Default reduction `Mean`.
pub fn gaussian_nll_loss(inputs: &Array, targets: &Array, vars: &Array, full: bool, eps: f64, reduction: Reduction) -> Result<Array> {
    same_shape("gaussian_nll_loss", inputs, targets)?;
    let vars = rmx::maximum(vars, eps)?;
    let mut loss =
        rmx::multiply(&rmx::add(&rmx::log(&vars)?, &rmx::divide(&rmx::square(&rmx::subtract(targets, inputs)?)?, &vars)?)?, 0.5)?;
    if full {
        loss = rmx::add(&loss, 0.5 * (2.0 * std::f64::consts::PI).ln())?;
    }
    reduce(loss, reduction)
}

/// KL divergence from log-probabilities `targets` to log-probabilities `inputs` (default
/// `None`): `sum(exp(t) (t - x))` over `axis`.
pub fn kl_div_loss(inputs: &Array, targets: &Array, axis: isize, reduction: Reduction) -> Result<Array> {
    let loss = rmx::sum(&rmx::multiply(&rmx::exp(targets)?, &rmx::subtract(targets, inputs)?)?, axis, false)?;
    reduce(loss, reduction)
}

/// Smooth L1: quadratic below `beta`, linear above (default `beta` 1, reduction `Mean`).
pub fn smooth_l1_loss(predictions: &Array, targets: &Array, beta: f64, reduction: Reduction) -> Result<Array> {
    same_shape("smooth_l1_loss", predictions, targets)?;
    let diff = rmx::abs(&rmx::subtract(predictions, targets)?)?;
    let quadratic = rmx::divide(&rmx::multiply(&rmx::square(&diff)?, 0.5)?, beta)?;
    let loss = rmx::where_(&rmx::less(&diff, beta)?, &quadratic, &rmx::subtract(&diff, 0.5 * beta)?)?;
    reduce(loss, reduction)
}

/// Triplet margin loss with the `p`-norm distance (defaults `p` 2, margin 1, eps 1e-6,
/// reduction `None`).
pub fn triplet_loss(
    anchors: &Array,
    positives: &Array,
    negatives: &Array,
    axis: isize,
    p: f64,
    margin: f64,
    eps: f64,
    reduction: Reduction,
) -> Result<Array> {
    let dist = |other: &Array| -> Result<Array> {
        rmx::sqrt(&rmx::add(&rmx::sum(&rmx::power(&rmx::subtract(anchors, other)?, p)?, axis, false)?, eps)?)
    };
    let loss = rmx::maximum(&rmx::add(&rmx::subtract(&dist(positives)?, &dist(negatives)?)?, margin)?, 0.0)?;
    reduce(loss, reduction)
}

/// `max(1 - x y, 0)` for targets `y` in {-1, 1} (default `None`).
pub fn hinge_loss(inputs: &Array, targets: &Array, reduction: Reduction) -> Result<Array> {
    reduce(rmx::maximum(&rmx::subtract(1.0, &rmx::multiply(inputs, targets)?)?, 0.0)?, reduction)
}

/// Huber loss: quadratic within `delta`, linear beyond (default `delta` 1, `None`).
pub fn huber_loss(inputs: &Array, targets: &Array, delta: f64, reduction: Reduction) -> Result<Array> {
    let errors = rmx::abs(&rmx::subtract(inputs, targets)?)?;
    let quadratic = rmx::minimum(&errors, delta)?;
    let linear = rmx::subtract(&errors, &quadratic)?;
    let loss = rmx::add(&rmx::multiply(&rmx::square(&quadratic)?, 0.5)?, &rmx::multiply(&linear, delta)?)?;
    reduce(loss, reduction)
}

/// `log(cosh(x - y))`, computed stably (default `None`).
pub fn log_cosh_loss(inputs: &Array, targets: &Array, reduction: Reduction) -> Result<Array> {
    let errors = rmx::subtract(inputs, targets)?;
    let loss = rmx::subtract(&rmx::logaddexp(&errors, &rmx::negative(&errors)?)?, std::f64::consts::LN_2)?;
    reduce(loss, reduction)
}

/// Cosine similarity along `axis` (default 1), norms clamped below by `eps` (1e-8);
/// default reduction `None`.
pub fn cosine_similarity_loss(x1: &Array, x2: &Array, axis: isize, eps: f64, reduction: Reduction) -> Result<Array> {
    let norm = |x: &Array| rmx::sqrt(&rmx::sum(&rmx::square(x)?, axis, false)?);
    let dot = rmx::sum(&rmx::multiply(x1, x2)?, axis, false)?;
    let loss = rmx::divide(&dot, &rmx::maximum(&rmx::multiply(&norm(x1)?, &norm(x2)?)?, eps)?)?;
    reduce(loss, reduction)
}

/// `max(-y (x1 - x2) + margin, 0)` for targets `y` in {-1, 1} (default margin 0, `None`).
pub fn margin_ranking_loss(inputs1: &Array, inputs2: &Array, targets: &Array, margin: f64, reduction: Reduction) -> Result<Array> {
    let loss = rmx::maximum(&rmx::add(&rmx::multiply(&rmx::negative(targets)?, &rmx::subtract(inputs1, inputs2)?)?, margin)?, 0.0)?;
    reduce(loss, reduction)
}
