//! Shared by the layers that can hold quantized weights (Linear, Embedding): the packed
//! weight with its scales and biases, named as in MLX's `QuantizedLinear` /
//! `QuantizedEmbedding` (`weight`, `scales`, `biases`).

use crate::module::{Param, QuantizeSpec};
use rmx::{Array, Result};

/// Quantizes `weight` in place (it becomes frozen state); returns the `scales` and (affine
/// mode) `biases` params. For layers outside rmx-nn that hold quantizable weights.
///
/// ```
/// let mut w = rmx_nn::Param::new(rmx::ones(&[4, 64], rmx::Dtype::F32)?);
/// let spec = rmx_nn::QuantizeSpec { group_size: 64, bits: 4, mode: rmx::QuantMode::Affine };
/// let (scales, biases) = rmx_nn::quantize_weight(&mut w, spec)?;
/// assert_eq!((w.value.shape(), scales.value.shape()), (&[4, 8][..], &[4, 1][..]));
/// assert!(!w.is_trainable() && biases.is_some());
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn quantize_weight(weight: &mut Param, spec: QuantizeSpec) -> Result<(Param, Option<Param>)> {
    let (wq, scales, biases) = rmx::quantize(&weight.value, spec.group_size, spec.bits, spec.mode)?;
    // Quantized weights are never trained (adapters are); MLX freezes them too.
    *weight = Param::state(wq);
    Ok((Param::state(scales), biases.map(Param::state)))
}

/// `x @ dequantize(w).T` for quantized weights.
pub(crate) fn matmul_t(x: &Array, weight: &Param, scales: &Param, biases: Option<&Param>, spec: QuantizeSpec) -> Result<Array> {
    rmx::quantized_matmul(x, &weight.value, &scales.value, biases.map(|b| &b.value), true, spec.group_size, spec.bits, spec.mode)
}
