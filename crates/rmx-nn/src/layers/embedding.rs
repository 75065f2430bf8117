//! `Embedding`: a table of vectors looked up by integer ids; `as_linear` serves tied output
//! heads. Quantizes in place like MLX's `QuantizedEmbedding` (same parameter names).

use super::quantized::{matmul_t, quantize_weight};
use crate::module::{Module, Param, QuantizeSpec};
use crate::visit;
use rmx::{Array, Dtype, Result};

/// `weight [num_embeddings, dims]`, initialised normal with std `1/sqrt(dims)` (MLX).
///
/// ```
/// let e = rmx_nn::Embedding::new(10, 4)?;
/// let ids = rmx::Array::from_slice(&[1u32, 7, 7], &[3])?;
/// assert_eq!(e.forward(&ids)?.shape(), &[3, 4]);
/// assert_eq!(e.as_linear(&rmx::ones(&[2, 4], rmx::Dtype::F32)?)?.shape(), &[2, 10]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    pub weight: Param,
    pub scales: Option<Param>,
    pub biases: Option<Param>,
    quantized: Option<QuantizeSpec>,
}
visit!(Embedding { weight, scales, biases });

impl Embedding {
    pub fn new(num_embeddings: usize, dims: usize) -> Result<Embedding> {
        let scale = (1.0 / dims as f64).sqrt();
        Ok(Embedding::from_weight(rmx::random::normal(&[num_embeddings, dims], Dtype::F32, 0.0, scale, None)?))
    }

    pub fn from_weight(weight: Array) -> Embedding {
        Embedding { weight: Param::new(weight), scales: None, biases: None, quantized: None }
    }

    /// The rows of `ids` (any integer shape) → `[..., dims]`.
    pub fn forward(&self, ids: &Array) -> Result<Array> {
        match (self.quantized, &self.scales) {
            (Some(spec), Some(scales)) => {
                let rows = |p: &Param| rmx::take(&p.value, ids, Some(0));
                let biases = self.biases.as_ref().map(rows).transpose()?;
                rmx::dequantize(&rows(&self.weight)?, &rows(scales)?, biases.as_ref(), spec.group_size, spec.bits, spec.mode, None)
            }
            _ => rmx::take(&self.weight.value, ids, Some(0)),
        }
    }

    /// `x @ weight^T`: the embedding used as an output projection (tied heads).
    pub fn as_linear(&self, x: &Array) -> Result<Array> {
        match (self.quantized, &self.scales) {
            (Some(spec), Some(scales)) => matmul_t(x, &self.weight, scales, self.biases.as_ref(), spec),
            _ => rmx::matmul(x, &rmx::transpose(&self.weight.value, None)?),
        }
    }
}

impl Module for Embedding {
    fn quantize_self(&mut self, spec: QuantizeSpec) -> Result<bool> {
        if self.quantized.is_some() {
            return Ok(false);
        }
        let (scales, biases) = quantize_weight(&mut self.weight, spec)?;
        (self.scales, self.biases, self.quantized) = (Some(scales), biases, Some(spec));
        Ok(true)
    }
}
