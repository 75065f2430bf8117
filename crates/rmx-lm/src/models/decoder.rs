//! `CausalTransformer`: token embedding, a stack of pre-norm decoder layers, a final norm and
//! the output head (its own `lm_head` or the embedding reused when tied). llama, mistral,
//! qwen2, qwen3, qwen3_moe and phi3 are this structure with different layers.

use super::blocks::DecoderLayer;
use super::LanguageModel;
use crate::cache::KvCache;
use crate::error::{LmError, Result};
use rmx::{Array, Dtype};
use rmx_nn::{visit, Embedding, Linear, Module, RMSNorm};

/// The `model.*` part: embedding, layers, final norm.
#[derive(Debug)]
pub struct Body {
    pub embed_tokens: Embedding,
    pub layers: Vec<DecoderLayer>,
    pub norm: RMSNorm,
}
visit!(Body { embed_tokens, layers, norm });
impl Module for Body {}

/// A decoder-only language model with MLX's / transformers' parameter names.
#[derive(Debug)]
pub struct CausalTransformer {
    pub model: Body,
    pub lm_head: Option<Linear>,
}
visit!(CausalTransformer { model, lm_head });
impl Module for CausalTransformer {}

impl CausalTransformer {
    /// `layers` on top of a `[vocab, hidden]` embedding; `tied` reuses it as the head.
    pub fn new(vocab: usize, hidden: usize, layers: Vec<DecoderLayer>, norm: RMSNorm, tied: bool) -> Result<CausalTransformer> {
        let embed_tokens = Embedding::from_weight(rmx::zeros(&[vocab, hidden], Dtype::F32)?);
        let lm_head = if tied { None } else { Some(super::blocks::placeholder_linear(hidden, vocab, false)?) };
        Ok(CausalTransformer { model: Body { embed_tokens, layers, norm }, lm_head })
    }
}

/// Errors unless there is one cache per layer.
pub fn check_caches(caches: &[KvCache], layers: usize) -> Result<()> {
    if caches.len() != layers {
        return Err(LmError::Request(format!("{} caches for {layers} layers", caches.len())));
    }
    Ok(())
}

/// Logits from the final hidden states: through `lm_head`, or the embedding when tied.
pub fn output_head(lm_head: Option<&Linear>, embed_tokens: &Embedding, h: &Array) -> Result<Array> {
    Ok(match lm_head {
        Some(head) => head.forward(h)?,
        None => embed_tokens.as_linear(h)?,
    })
}

impl LanguageModel for CausalTransformer {
    fn forward(&self, tokens: &Array, caches: &mut [KvCache]) -> Result<Array> {
        check_caches(caches, self.model.layers.len())?;
        let mut h = self.model.embed_tokens.forward(tokens)?;
        for (layer, cache) in self.model.layers.iter().zip(caches.iter_mut()) {
            h = layer.forward(&h, cache)?;
        }
        output_head(self.lm_head.as_ref(), &self.model.embed_tokens, &self.model.norm.forward(&h)?)
    }

    fn new_cache(&self) -> Vec<KvCache> {
        self.model.layers.iter().map(|_| KvCache::full()).collect()
    }

    fn vocab_size(&self) -> usize {
        self.model.embed_tokens.weight.value.shape()[0]
    }

    fn long_context_from(&self) -> Option<usize> {
        self.model.layers.first().and_then(|l| l.self_attn.rope().long_context_from())
    }
}

/// The sizes every dense decoder config has.
#[derive(Clone, Copy, Debug)]
pub struct DenseArgs {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub eps: f64,
    pub tied: bool,
}

impl DenseArgs {
    pub fn from_config(c: &crate::Config) -> Result<DenseArgs> {
        let heads = c.usize("num_attention_heads")?;
        let kv_heads = c.opt_usize("num_key_value_heads")?.unwrap_or(heads);
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(c.invalid(format!("num_attention_heads {heads} must be a multiple of num_key_value_heads {kv_heads}")));
        }
        Ok(DenseArgs {
            vocab: c.usize("vocab_size")?,
            hidden: c.usize("hidden_size")?,
            layers: c.usize("num_hidden_layers")?,
            intermediate: c.usize("intermediate_size")?,
            heads,
            kv_heads,
            head_dim: c.head_dim()?,
            eps: c.f64_or("rms_norm_eps", 1e-6)?,
            tied: c.bool_or("tie_word_embeddings", false)?,
        })
    }

    pub fn attention_shape(&self) -> super::blocks::AttentionShape {
        super::blocks::AttentionShape { hidden: self.hidden, heads: self.heads, kv_heads: self.kv_heads, head_dim: self.head_dim }
    }

    /// The activation named by `hidden_act` (default silu), as a gate activation.
    pub fn activation(c: &crate::Config) -> Result<super::blocks::GateActivation> {
        let name = c.opt_str("hidden_act")?.unwrap_or("silu");
        super::blocks::GateActivation::from_name(name).ok_or_else(|| LmError::NotImplemented(format!("hidden_act '{name}'")))
    }

    /// A pre-norm layer around the given attention and feed-forward blocks.
    pub fn layer(&self, self_attn: super::blocks::Attention, mlp: Box<dyn super::blocks::FeedForward>) -> Result<DecoderLayer> {
        Ok(DecoderLayer {
            self_attn,
            mlp,
            input_layernorm: RMSNorm::new(self.hidden, self.eps)?,
            post_attention_layernorm: RMSNorm::new(self.hidden, self.eps)?,
        })
    }

    /// The model around `layers`.
    pub fn model(&self, layers: Vec<DecoderLayer>) -> Result<CausalTransformer> {
        CausalTransformer::new(self.vocab, self.hidden, layers, RMSNorm::new(self.hidden, self.eps)?, self.tied)
    }
}
