//! `Identity`, `Linear` (plain or quantized in place — MLX's `QuantizedLinear`, or with its
//! input quantized too, MLX's `QQLinear` — with the same parameter names) and `Bilinear`.

use super::qq_linear;
use super::quantized::{matmul_t, quantize_weight};
use crate::module::{Module, Param, QuantizeSpec};
use crate::visit;
use rmx::{Array, Dtype, Error, Result};

/// Returns its input.
#[derive(Clone, Debug, Default)]
pub struct Identity;
visit!(Identity {});
impl Module for Identity {}

impl Identity {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(x.clone())
    }
}

/// `y = x W^T + b` with `W [out, in]`. After [`Module::quantize_self`] the weight is packed
/// and `scales`/`biases` join it.
///
/// ```
/// use rmx_nn::{Linear, Module};
/// let layer = Linear::new(3, 2, true)?;
/// assert_eq!(layer.parameters().keys().collect::<Vec<_>>(), ["bias", "weight"]);
/// let y = layer.forward(&rmx::ones(&[4, 3], rmx::Dtype::F32)?)?;
/// assert_eq!(y.shape(), &[4, 2]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Param,
    pub bias: Option<Param>,
    pub scales: Option<Param>,
    pub biases: Option<Param>,
    quantized: Option<QuantizeSpec>,
    /// The input is quantized too (MLX's `quantize_input`: a `QQLinear` in all but type).
    input_quantized: bool,
}
visit!(Linear { weight, scales, biases, bias });

impl Linear {
    /// A layer initialised like MLX: uniform in `±1/sqrt(input_dims)`.
    pub fn new(input_dims: usize, output_dims: usize, bias: bool) -> Result<Linear> {
        let scale = (1.0 / input_dims as f64).sqrt();
        let weight = rmx::random::uniform(-scale, scale, &[output_dims, input_dims], Dtype::F32, None)?;
        let bias = if bias { Some(Param::new(rmx::random::uniform(-scale, scale, &[output_dims], Dtype::F32, None)?)) } else { None };
        Ok(Linear::from_weights(weight, bias.map(|b| b.value)))
    }

    /// A layer with the given weight `[out, in]` and bias `[out]`.
    pub fn from_weights(weight: Array, bias: Option<Array>) -> Linear {
        Linear {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
            scales: None,
            biases: None,
            quantized: None,
            input_quantized: false,
        }
    }

    /// A layer from its parameters as they are (quantized when `quantized` is given).
    pub(crate) fn from_parts(
        weight: Param,
        bias: Option<Param>,
        scales: Option<Param>,
        biases: Option<Param>,
        quantized: Option<QuantizeSpec>,
    ) -> Linear {
        Linear { weight, bias, scales, biases, quantized, input_quantized: false }
    }

    /// The quantization of the weight, if it is quantized.
    pub fn quantization(&self) -> Option<QuantizeSpec> {
        self.quantized
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        if let (true, Some(spec)) = (self.input_quantized, self.quantized) {
            return qq_linear::forward(x, &self.weight, self.scales.as_ref(), spec);
        }
        if let (Some(spec), Some(scales)) = (self.quantized, &self.scales) {
            let y = matmul_t(x, &self.weight, scales, self.biases.as_ref(), spec)?;
            return match &self.bias {
                Some(b) => rmx::add(&y, &b.value),
                None => Ok(y),
            };
        }
        let wt = rmx::transpose(&self.weight.value, None)?;
        match &self.bias {
            Some(b) => rmx::addmm(&b.value, x, &wt, 1.0, 1.0),
            None => rmx::matmul(x, &wt),
        }
    }
}

impl Module for Linear {
    /// With its input quantized too, packed in evaluation mode and float (trainable) in
    /// training mode, as MLX's `QQLinear`.
    fn set_training_self(&mut self, training: bool) {
        if let (true, Some(spec)) = (self.input_quantized, self.quantized) {
            // Both conversions only fail on shapes `quantize_input_self` checked.
            let _ = if training {
                qq_linear::unpack(&mut self.weight, &mut self.scales, spec)
            } else {
                qq_linear::pack(&mut self.weight, &mut self.scales, spec)
            };
        }
    }

    /// Becomes MLX's `QQLinear` (`nn.quantize(..., quantize_input=True)`): nvfp4 or mxfp8, no
    /// bias; the weight is packed (evaluation form) until the model is put in training mode.
    fn quantize_input_self(&mut self, spec: QuantizeSpec) -> Result<bool> {
        if self.quantized.is_some() {
            return Ok(false);
        }
        if self.bias.is_some() {
            return Err(Error::arg("quantize (quantize_input)", "a Linear with a bias cannot quantize its input (as MLX's QQLinear)"));
        }
        qq_linear::check_spec("quantize (quantize_input)", &self.weight.value, spec)?;
        qq_linear::pack(&mut self.weight, &mut self.scales, spec)?;
        (self.quantized, self.input_quantized) = (Some(spec), true);
        Ok(true)
    }

    fn quantize_self(&mut self, spec: QuantizeSpec) -> Result<bool> {
        if self.quantized.is_some() {
            return Ok(false);
        }
        let (scales, biases) = quantize_weight(&mut self.weight, spec)?;
        (self.scales, self.biases, self.quantized) = (Some(scales), biases, Some(spec));
        if let Some(b) = &mut self.bias {
            *b = Param::state(b.value.clone());
        }
        Ok(true)
    }
}

/// `y_o = sum_ij x2_j W_oji x1_i + b_o` with `W [out, in2, in1]` (MLX's layout).
#[derive(Clone, Debug)]
pub struct Bilinear {
    pub weight: Param,
    pub bias: Option<Param>,
}
visit!(Bilinear { weight, bias });
impl Module for Bilinear {}

impl Bilinear {
    /// Initialised uniform in `±1/sqrt(in1)`, as MLX does.
    pub fn new(input1_dims: usize, input2_dims: usize, output_dims: usize, bias: bool) -> Result<Bilinear> {
        let scale = (1.0 / input1_dims as f64).sqrt();
        let weight = Param::new(rmx::random::uniform(-scale, scale, &[output_dims, input2_dims, input1_dims], Dtype::F32, None)?);
        let bias = if bias { Some(Param::new(rmx::random::uniform(-scale, scale, &[output_dims], Dtype::F32, None)?)) } else { None };
        Ok(Bilinear { weight, bias })
    }

    /// `x1 [..., in1]`, `x2 [..., in2]` → `[..., out]`.
    pub fn forward(&self, x1: &Array, x2: &Array) -> Result<Array> {
        let w = &self.weight.value;
        let (o, j, i) = (w.shape()[0], w.shape()[1], w.shape()[2]);
        // x1 W: [..., in1] @ [in1, out*in2] → [..., out, in2], then contract with x2.
        let w_flat = rmx::transpose(&rmx::reshape_to(w, &[o * j, i])?, None)?;
        let lead = &x1.shape()[..x1.ndim().saturating_sub(1)];
        let t = rmx::reshape_to(&rmx::matmul(x1, &w_flat)?, &[lead, &[o, j]].concat())?;
        let y = rmx::sum(&rmx::multiply(&t, &rmx::expand_dims(x2, &[-2])?)?, -1, false)?;
        match &self.bias {
            Some(b) => rmx::add(&y, &b.value),
            None => Ok(y),
        }
    }
}
