//! Phi-3: llama with fused projections (`qkv_proj`, `gate_up_proj`) and optionally a rotary
//! embedding over only part of each head (`partial_rotary_factor`).

use super::blocks::{Attention, Mlp};
use super::decoder::{CausalTransformer, DenseArgs};
use crate::error::Result;
use crate::rope::Rope;
use crate::Config;

/// Builds the model `c` describes, with placeholder weights.
pub fn build(c: &Config) -> Result<CausalTransformer> {
    let a = DenseArgs::from_config(c)?;
    let factor = match c.object("rope_parameters") {
        Some(p) => p.f64_or("partial_rotary_factor", 1.0)?,
        None => c.f64_or("partial_rotary_factor", 1.0)?,
    };
    let rotary_dims = ((a.head_dim as f64 * factor) as usize) & !1;
    let rope = Rope::new(&c.rope(rotary_dims, None)?)?;
    let activation = DenseArgs::activation(c)?;
    let layers = (0..a.layers)
        .map(|_| a.layer(Attention::fused(a.attention_shape(), rope.clone())?, Box::new(Mlp::fused(a.hidden, a.intermediate, activation)?)))
        .collect::<Result<Vec<_>>>()?;
    a.model(layers)
}
