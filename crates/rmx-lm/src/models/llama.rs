//! Llama 2/3/3.1/3.2 (and Mistral, which mlx-lm maps onto llama): pre-norm decoder layers
//! with grouped-query attention, rotary positions (default, linear or llama3 scaling) and a
//! SiLU-gated MLP.

use super::blocks::{Attention, Mlp};
use super::decoder::{CausalTransformer, DenseArgs};
use crate::error::{LmError, Result};
use crate::rope::Rope;
use crate::Config;

/// Builds the model `c` describes, with placeholder weights.
pub fn build(c: &Config) -> Result<CausalTransformer> {
    build_with(c, c.bool_or("attention_bias", false)?)
}

/// Llama with or without biases on the q/k/v projections (qwen2 has them).
pub fn build_with(c: &Config, qkv_bias: bool) -> Result<CausalTransformer> {
    let a = DenseArgs::from_config(c)?;
    if c.bool_or("mlp_bias", false)? {
        return Err(LmError::NotImplemented("mlp_bias: true".into()));
    }
    let rope = Rope::new(&c.rope(a.head_dim, None)?)?;
    let activation = DenseArgs::activation(c)?;
    let layers = (0..a.layers)
        .map(|_| {
            a.layer(Attention::new(a.attention_shape(), qkv_bias, rope.clone())?, Box::new(Mlp::new(a.hidden, a.intermediate, activation)?))
        })
        .collect::<Result<Vec<_>>>()?;
    a.model(layers)
}
