//! Qwen2 / Qwen2.5: llama with biases on the query, key and value projections.

use super::decoder::CausalTransformer;
use crate::error::Result;
use crate::Config;

/// Builds the model `c` describes, with placeholder weights.
pub fn build(c: &Config) -> Result<CausalTransformer> {
    super::llama::build_with(c, true)
}
