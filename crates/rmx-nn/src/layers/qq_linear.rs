//! `QQLinear` (MLX's): a bias-free linear layer that quantizes its input as well as its
//! weight (`rmx::qqmm`, modes nvfp4 and mxfp8). In evaluation mode the weight is stored packed
//! with its `scales`; in training mode it is kept in float, quantized on the fly, and trained
//! through `qqmm`'s gradients (MLX's rule: each gradient is itself a quantized product).

use crate::module::{Module, Param, QuantizeSpec};
use crate::visit;
use crate::Linear;
use rmx::{Array, Dtype, Error, QuantMode, Result};

/// `quantize(x) @ quantize(W)^T` with `W [out, in]`; parameters `weight` (and `scales` once
/// quantized), as MLX names them.
///
/// ```
/// use rmx_nn::{Module, QQLinear};
/// let mut layer = QQLinear::new(64, 4, QQLinear::nvfp4())?;
/// layer.train(false); // evaluation: the weight is packed, with its scales
/// assert_eq!(layer.parameters().keys().collect::<Vec<_>>(), ["scales", "weight"]);
/// let y = layer.forward(&rmx::ones(&[1, 64], rmx::Dtype::F32)?)?;
/// assert_eq!(y.shape(), &[1, 4]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct QQLinear {
    pub weight: Param,
    pub scales: Option<Param>,
    spec: QuantizeSpec,
}
visit!(QQLinear { weight, scales });

impl Module for QQLinear {
    fn set_training_self(&mut self, training: bool) {
        // Both conversions only fail on shapes the constructors already checked.
        let _ = if training { self.dequantize_weight() } else { self.quantize_weight() };
    }
}

impl QQLinear {
    /// MLX's default: nvfp4 (groups of 16, 4 bits).
    pub fn nvfp4() -> QuantizeSpec {
        QuantizeSpec { group_size: 16, bits: 4, mode: QuantMode::Nvfp4 }
    }

    /// A layer initialised like MLX (uniform in `±1/sqrt(input_dims)`), in training mode
    /// (float weight).
    pub fn new(input_dims: usize, output_dims: usize, spec: QuantizeSpec) -> Result<QQLinear> {
        let scale = (1.0 / input_dims as f64).sqrt();
        QQLinear::from_weight(rmx::random::uniform(-scale, scale, &[output_dims, input_dims], Dtype::F32, None)?, spec)
    }

    /// From a bias-free [`Linear`] (MLX's `QQLinear.from_linear`).
    pub fn from_linear(linear: &Linear, spec: QuantizeSpec) -> Result<QQLinear> {
        if linear.bias.is_some() || linear.quantization().is_some() {
            return Err(Error::arg("QQLinear::from_linear", "the linear layer must be unquantized and have no bias"));
        }
        QQLinear::from_weight(linear.weight.value.clone(), spec)
    }

    fn from_weight(weight: Array, spec: QuantizeSpec) -> Result<QQLinear> {
        check_spec("QQLinear", &weight, spec)?;
        Ok(QQLinear { weight: Param::new(weight), scales: None, spec })
    }

    /// Packs the weight (evaluation mode); a no-op when it is packed already.
    pub fn quantize_weight(&mut self) -> Result<()> {
        pack(&mut self.weight, &mut self.scales, self.spec)
    }

    /// Back to a float weight (training mode); a no-op when it is float already.
    pub fn dequantize_weight(&mut self) -> Result<()> {
        unpack(&mut self.weight, &mut self.scales, self.spec)
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        forward(x, &self.weight, self.scales.as_ref(), self.spec)
    }
}

/// Checks that `spec` is a mode both operands quantize in and fits `weight [out, in]`.
pub(crate) fn check_spec(op: &'static str, weight: &Array, spec: QuantizeSpec) -> Result<()> {
    if !matches!(spec.mode, QuantMode::Nvfp4 | QuantMode::Mxfp8) {
        return Err(Error::arg(op, format!("mode must be Nvfp4 or Mxfp8, got {:?}", spec.mode)));
    }
    if spec.mode.fixed_format() != Some((spec.group_size, spec.bits))
        || weight.ndim() != 2
        || !weight.shape()[1].is_multiple_of(spec.group_size)
    {
        return Err(Error::shapes_detail(
            op,
            &[weight.shape()],
            format!("{:?} needs group_size/bits {:?} and input dims divisible by the group", spec.mode, spec.mode.fixed_format()),
        ));
    }
    Ok(())
}

/// Packs a float `weight` in place with its `scales` (evaluation form); no-op when packed.
pub(crate) fn pack(weight: &mut Param, scales: &mut Option<Param>, spec: QuantizeSpec) -> Result<()> {
    if scales.is_none() {
        let (wq, s, _) = rmx::quantize(&weight.value, spec.group_size, spec.bits, spec.mode)?;
        (*weight, *scales) = (Param::state(wq), Some(Param::state(s)));
    }
    Ok(())
}

/// Back to a trainable float `weight` (training form); no-op when float.
pub(crate) fn unpack(weight: &mut Param, scales: &mut Option<Param>, spec: QuantizeSpec) -> Result<()> {
    if let Some(s) = scales.take() {
        let QuantizeSpec { group_size, bits, mode } = spec;
        *weight = Param::new(rmx::dequantize(&weight.value, &s.value, None, group_size, bits, mode, Some(Dtype::F32))?);
    }
    Ok(())
}

/// `quantize(x) @ quantize(W)ᵀ` with `W` packed (with `scales`) or float.
pub(crate) fn forward(x: &Array, weight: &Param, scales: Option<&Param>, spec: QuantizeSpec) -> Result<Array> {
    let QuantizeSpec { group_size, bits, mode } = spec;
    rmx::qqmm(x, &weight.value, scales.map(|s| &s.value), group_size, bits, mode)
}
