//! The architectures rmx-lm runs, one file per `model_type`, and the registry that builds
//! the right one from a `config.json`.

pub mod bert;
pub mod blocks;
pub mod decoder;
pub mod gemma3_text;
pub mod llama;
pub mod phi3;
pub mod qwen2;
pub mod qwen3;
pub mod qwen3_moe;

use crate::cache::KvCache;
use crate::error::{LmError, Result};
use crate::Config;
use rmx::Array;
use rmx_nn::Module;
use std::collections::BTreeMap;

/// The `model_type`s [`build`] accepts.
pub const SUPPORTED: &[&str] = &["llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "phi3", "gemma3_text"];

/// A causal language model: token ids in, next-token logits out, with one cache per layer.
pub trait LanguageModel: Module + std::fmt::Debug {
    /// `tokens: [B, T]` (integers) at the caches' position → logits `[B, T, vocab]`.
    fn forward(&self, tokens: &Array, caches: &mut [KvCache]) -> Result<Array>;
    /// Empty caches, one per layer, of the kind each layer needs.
    fn new_cache(&self) -> Vec<KvCache>;
    /// Rows of the output head.
    fn vocab_size(&self) -> usize;
    /// Sequences longer than this rotate every position differently (LongRoPE's long
    /// factors): a sequence that grows past it must be recomputed from its first token, as
    /// transformers does. `None` for models whose positions do not depend on the length.
    fn long_context_from(&self) -> Option<usize> {
        None
    }
}

/// Builds the model `config` describes (weights are placeholders until loaded).
///
/// ```
/// let config = rmx_lm::Config::parse(r#"{"model_type": "llama", "vocab_size": 32, "hidden_size": 16,
///     "num_hidden_layers": 1, "intermediate_size": 32, "num_attention_heads": 2}"#, "config.json")?;
/// let model = rmx_lm::models::build(&config)?;
/// assert!(model.parameters().contains_key("model.layers.0.self_attn.q_proj.weight"));
/// # Ok::<(), rmx_lm::LmError>(())
/// ```
pub fn build(config: &Config) -> Result<Box<dyn LanguageModel>> {
    Ok(match config.model_type()? {
        "llama" | "mistral" => Box::new(llama::build(config)?),
        "qwen2" => Box::new(qwen2::build(config)?),
        "qwen3" => Box::new(qwen3::build(config)?),
        "qwen3_moe" => Box::new(qwen3_moe::build(config)?),
        "phi3" => Box::new(phi3::build(config)?),
        "gemma3_text" => Box::new(gemma3_text::build(config)?),
        other => return Err(LmError::UnknownModelType(other.to_string())),
    })
}

/// Renames or drops checkpoint tensors so they match the model's parameter names: drops
/// precomputed rotary tables and the duplicate head of tied models, stacks per-expert
/// tensors (qwen3_moe).
pub fn sanitize(config: &Config, mut weights: BTreeMap<String, Array>) -> Result<BTreeMap<String, Array>> {
    weights.retain(|k, _| !k.contains("rotary_emb.inv_freq"));
    let tied_default = config.model_type()? == "gemma3_text";
    if config.bool_or("tie_word_embeddings", tied_default)? {
        weights.retain(|k, _| !k.starts_with("lm_head."));
    }
    if config.model_type()? == "qwen3_moe" {
        weights = qwen3_moe::sanitize(weights)?;
    }
    Ok(weights)
}
