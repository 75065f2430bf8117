//! Qwen3: llama with an RMS norm over each query and key head before the rotation, and an
//! explicit `head_dim` (not `hidden_size / heads`).

use super::blocks::{Attention, Mlp};
use super::decoder::{CausalTransformer, DenseArgs};
use crate::error::Result;
use crate::rope::Rope;
use crate::Config;
use rmx_nn::RMSNorm;

/// Qwen3's attention: per-head `q_norm` and `k_norm`.
pub fn attention(c: &Config, a: &DenseArgs) -> Result<Attention> {
    let rope = Rope::new(&c.rope(a.head_dim, None)?)?;
    let attn = Attention::new(a.attention_shape(), c.bool_or("attention_bias", false)?, rope)?;
    Ok(attn.with_head_norms(RMSNorm::new(a.head_dim, a.eps)?, RMSNorm::new(a.head_dim, a.eps)?))
}

/// Builds the model `c` describes, with placeholder weights.
pub fn build(c: &Config) -> Result<CausalTransformer> {
    let a = DenseArgs::from_config(c)?;
    let activation = DenseArgs::activation(c)?;
    let layers = (0..a.layers)
        .map(|_| a.layer(attention(c, &a)?, Box::new(Mlp::new(a.hidden, a.intermediate, activation)?)))
        .collect::<Result<Vec<_>>>()?;
    a.model(layers)
}
