//! Attention and the Transformer of "Attention Is All You Need", laid out as MLX's
//! `nn.MultiHeadAttention`, `TransformerEncoder(Layer)`, `TransformerDecoder(Layer)` and
//! `Transformer` (same submodule names, pre-norm by default, ReLU MLP of 4x width).

use super::dropout::Dropout;
use super::linear::Linear;
use super::normalization::LayerNorm;
use crate::module::Module;
use crate::visit;
use rmx::{Array, AttentionMask, Result};

/// An activation function between the MLP's two projections.
pub type ActivationFn = fn(&Array) -> Result<Array>;

/// Multi-head attention with separate query/key/value/output projections (no bias by
/// default, as MLX).
#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    pub query_proj: Linear,
    pub key_proj: Linear,
    pub value_proj: Linear,
    pub out_proj: Linear,
    pub num_heads: usize,
}
visit!(MultiHeadAttention { query_proj, key_proj, value_proj, out_proj });
impl Module for MultiHeadAttention {}

impl MultiHeadAttention {
    /// All inputs and outputs of width `dims`.
    pub fn new(dims: usize, num_heads: usize, bias: bool) -> Result<MultiHeadAttention> {
        if num_heads == 0 || !dims.is_multiple_of(num_heads) {
            return Err(rmx::Error::arg("MultiHeadAttention", format!("dims {dims} must be divisible by num_heads {num_heads}")));
        }
        Ok(MultiHeadAttention {
            query_proj: Linear::new(dims, dims, bias)?,
            key_proj: Linear::new(dims, dims, bias)?,
            value_proj: Linear::new(dims, dims, bias)?,
            out_proj: Linear::new(dims, dims, bias)?,
            num_heads,
        })
    }

    /// `queries [B, L, D]`, `keys`/`values [B, S, D]` → `[B, L, D]`.
    pub fn forward(&self, queries: &Array, keys: &Array, values: &Array, mask: Option<&AttentionMask>) -> Result<Array> {
        let heads = |x: &Array| -> Result<Array> {
            let (b, t) = (x.shape()[0] as isize, x.shape()[1] as isize);
            rmx::transpose(&rmx::reshape(x, &[b, t, self.num_heads as isize, -1])?, Some(&[0, 2, 1, 3]))
        };
        let q = heads(&self.query_proj.forward(queries)?)?;
        let k = heads(&self.key_proj.forward(keys)?)?;
        let v = heads(&self.value_proj.forward(values)?)?;
        let scale = (1.0 / q.shape()[3] as f64).sqrt();
        let o = rmx::scaled_dot_product_attention(&q, &k, &v, scale, mask, None)?;
        let (b, l) = (queries.shape()[0] as isize, queries.shape()[1] as isize);
        let merged = rmx::reshape(&rmx::transpose(&o, Some(&[0, 2, 1, 3]))?, &[b, l, -1])?;
        self.out_proj.forward(&merged)
    }

    /// MLX's additive causal mask: 0 on and below the diagonal, the dtype's lowest value above.
    pub fn create_additive_causal_mask(n: usize, dtype: rmx::Dtype) -> Result<Array> {
        let idx = rmx::arange(0.0, n as f64, 1.0, rmx::Dtype::I32)?;
        let above = rmx::less(&rmx::expand_dims(&idx, &[1])?, &rmx::expand_dims(&idx, &[0])?)?;
        rmx::multiply(&rmx::astype(&above, dtype)?, rmx::finfo(dtype)?.min)
    }
}

/// The LayerNorm every sublayer uses (MLX's defaults: eps 1e-5, weight and bias).
fn layer_norm(dims: usize) -> Result<LayerNorm> {
    LayerNorm::new(dims, 1e-5, true, true)
}

/// The feed-forward half of a layer: `linear2(dropout(act(linear1(x))))`.
fn mlp(linear1: &Linear, linear2: &Linear, activation: ActivationFn, dropout: &Dropout, x: &Array) -> Result<Array> {
    linear2.forward(&dropout.forward(&activation(&linear1.forward(x)?)?)?)
}

/// Self-attention and an MLP, each with a residual connection and LayerNorm.
#[derive(Clone)]
pub struct TransformerEncoderLayer {
    pub attention: MultiHeadAttention,
    pub ln1: LayerNorm,
    pub ln2: LayerNorm,
    pub linear1: Linear,
    pub linear2: Linear,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub activation: ActivationFn,
    pub norm_first: bool,
}
visit!(TransformerEncoderLayer { attention, ln1, ln2, linear1, linear2, dropout1, dropout2 });
impl Module for TransformerEncoderLayer {}

impl TransformerEncoderLayer {
    /// `mlp_dims` defaults to `4 * dims`.
    pub fn new(
        dims: usize,
        num_heads: usize,
        mlp_dims: Option<usize>,
        dropout: f64,
        activation: ActivationFn,
        norm_first: bool,
    ) -> Result<Self> {
        let mlp_dims = mlp_dims.unwrap_or(4 * dims);
        Ok(TransformerEncoderLayer {
            attention: MultiHeadAttention::new(dims, num_heads, false)?,
            ln1: layer_norm(dims)?,
            ln2: layer_norm(dims)?,
            linear1: Linear::new(dims, mlp_dims, true)?,
            linear2: Linear::new(mlp_dims, dims, true)?,
            dropout1: Dropout::new(dropout)?,
            dropout2: Dropout::new(dropout)?,
            activation,
            norm_first,
        })
    }

    pub fn forward(&self, x: &Array, mask: Option<&AttentionMask>) -> Result<Array> {
        if self.norm_first {
            let y = self.ln1.forward(x)?;
            let x = rmx::add(x, &self.dropout1.forward(&self.attention.forward(&y, &y, &y, mask)?)?)?;
            rmx::add(&x, &mlp(&self.linear1, &self.linear2, self.activation, &self.dropout2, &self.ln2.forward(&x)?)?)
        } else {
            let y = self.dropout1.forward(&self.attention.forward(x, x, x, mask)?)?;
            let x = self.ln1.forward(&rmx::add(x, &y)?)?;
            self.ln2.forward(&rmx::add(&x, &mlp(&self.linear1, &self.linear2, self.activation, &self.dropout2, &x)?)?)
        }
    }
}

/// A stack of encoder layers and a final LayerNorm (`layers.N`, `ln`).
#[derive(Clone)]
pub struct TransformerEncoder {
    pub layers: Vec<TransformerEncoderLayer>,
    pub ln: LayerNorm,
}
visit!(TransformerEncoder { layers, ln });
impl Module for TransformerEncoder {}

impl TransformerEncoder {
    pub fn new(
        num_layers: usize,
        dims: usize,
        num_heads: usize,
        mlp_dims: Option<usize>,
        dropout: f64,
        activation: ActivationFn,
        norm_first: bool,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|_| TransformerEncoderLayer::new(dims, num_heads, mlp_dims, dropout, activation, norm_first))
            .collect::<Result<_>>()?;
        Ok(TransformerEncoder { layers, ln: layer_norm(dims)? })
    }

    pub fn forward(&self, x: &Array, mask: Option<&AttentionMask>) -> Result<Array> {
        let h = self.layers.iter().try_fold(x.clone(), |h, layer| layer.forward(&h, mask))?;
        self.ln.forward(&h)
    }
}

/// Self-attention, cross-attention over the encoder's memory, and an MLP.
#[derive(Clone)]
pub struct TransformerDecoderLayer {
    pub self_attention: MultiHeadAttention,
    pub cross_attention: MultiHeadAttention,
    pub ln1: LayerNorm,
    pub ln2: LayerNorm,
    pub ln3: LayerNorm,
    pub linear1: Linear,
    pub linear2: Linear,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub dropout3: Dropout,
    pub activation: ActivationFn,
    pub norm_first: bool,
}
visit!(TransformerDecoderLayer { self_attention, cross_attention, ln1, ln2, ln3, linear1, linear2, dropout1, dropout2, dropout3 });
impl Module for TransformerDecoderLayer {}

impl TransformerDecoderLayer {
    pub fn new(
        dims: usize,
        num_heads: usize,
        mlp_dims: Option<usize>,
        dropout: f64,
        activation: ActivationFn,
        norm_first: bool,
    ) -> Result<Self> {
        let mlp_dims = mlp_dims.unwrap_or(4 * dims);
        Ok(TransformerDecoderLayer {
            self_attention: MultiHeadAttention::new(dims, num_heads, false)?,
            cross_attention: MultiHeadAttention::new(dims, num_heads, false)?,
            ln1: layer_norm(dims)?,
            ln2: layer_norm(dims)?,
            ln3: layer_norm(dims)?,
            linear1: Linear::new(dims, mlp_dims, true)?,
            linear2: Linear::new(mlp_dims, dims, true)?,
            dropout1: Dropout::new(dropout)?,
            dropout2: Dropout::new(dropout)?,
            dropout3: Dropout::new(dropout)?,
            activation,
            norm_first,
        })
    }

    pub fn forward(&self, x: &Array, memory: &Array, x_mask: Option<&AttentionMask>, memory_mask: Option<&AttentionMask>) -> Result<Array> {
        if self.norm_first {
            let y = self.ln1.forward(x)?;
            let x = rmx::add(x, &self.dropout1.forward(&self.self_attention.forward(&y, &y, &y, x_mask)?)?)?;
            let y = self.ln2.forward(&x)?;
            let x = rmx::add(&x, &self.dropout2.forward(&self.cross_attention.forward(&y, memory, memory, memory_mask)?)?)?;
            rmx::add(&x, &mlp(&self.linear1, &self.linear2, self.activation, &self.dropout3, &self.ln3.forward(&x)?)?)
        } else {
            let y = self.dropout1.forward(&self.self_attention.forward(x, x, x, x_mask)?)?;
            let x = self.ln1.forward(&rmx::add(x, &y)?)?;
            let y = self.dropout2.forward(&self.cross_attention.forward(&x, memory, memory, memory_mask)?)?;
            let x = self.ln2.forward(&rmx::add(&x, &y)?)?;
            self.ln3.forward(&rmx::add(&x, &mlp(&self.linear1, &self.linear2, self.activation, &self.dropout3, &x)?)?)
        }
    }
}

/// A stack of decoder layers and a final LayerNorm (`layers.N`, `ln`).
#[derive(Clone)]
pub struct TransformerDecoder {
    pub layers: Vec<TransformerDecoderLayer>,
    pub ln: LayerNorm,
}
visit!(TransformerDecoder { layers, ln });
impl Module for TransformerDecoder {}

impl TransformerDecoder {
    pub fn new(
        num_layers: usize,
        dims: usize,
        num_heads: usize,
        mlp_dims: Option<usize>,
        dropout: f64,
        activation: ActivationFn,
        norm_first: bool,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|_| TransformerDecoderLayer::new(dims, num_heads, mlp_dims, dropout, activation, norm_first))
            .collect::<Result<_>>()?;
        Ok(TransformerDecoder { layers, ln: layer_norm(dims)? })
    }

    pub fn forward(&self, x: &Array, memory: &Array, x_mask: Option<&AttentionMask>, memory_mask: Option<&AttentionMask>) -> Result<Array> {
        let h = self.layers.iter().try_fold(x.clone(), |h, layer| layer.forward(&h, memory, x_mask, memory_mask))?;
        self.ln.forward(&h)
    }
}

/// Encoder and decoder (`encoder`, `decoder`).
#[derive(Clone)]
pub struct Transformer {
    pub encoder: TransformerEncoder,
    pub decoder: TransformerDecoder,
}
visit!(Transformer { encoder, decoder });
impl Module for Transformer {}

impl Transformer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dims: usize,
        num_heads: usize,
        num_encoder_layers: usize,
        num_decoder_layers: usize,
        mlp_dims: Option<usize>,
        dropout: f64,
        activation: ActivationFn,
        norm_first: bool,
    ) -> Result<Self> {
        Ok(Transformer {
            encoder: TransformerEncoder::new(num_encoder_layers, dims, num_heads, mlp_dims, dropout, activation, norm_first)?,
            decoder: TransformerDecoder::new(num_decoder_layers, dims, num_heads, mlp_dims, dropout, activation, norm_first)?,
        })
    }

    pub fn forward(
        &self,
        src: &Array,
        tgt: &Array,
        src_mask: Option<&AttentionMask>,
        tgt_mask: Option<&AttentionMask>,
        memory_mask: Option<&AttentionMask>,
    ) -> Result<Array> {
        let memory = self.encoder.forward(src, src_mask)?;
        self.decoder.forward(tgt, &memory, tgt_mask, memory_mask)
    }
}
