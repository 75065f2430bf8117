//! Gemma 3 (text): sliding-window local layers interleaved with global ones (`layer_types`,
//! or every `sliding_window_pattern`-th layer global), each with its own rotary base; four
//! norms per layer (before and after attention and MLP), norms that scale by `1 + w`,
//! per-head q/k norms, a `query_pre_attn_scalar` softmax scale, embeddings multiplied by
//! `sqrt(hidden_size)` and a tied output head with optional final soft-capping.

use super::blocks::{Attention, FeedForward, GateActivation, Mlp};
use super::decoder::{check_caches, output_head, DenseArgs};
use super::LanguageModel;
use crate::cache::KvCache;
use crate::error::{LmError, Result};
use crate::rope::{Rope, RopeSpec};
use crate::Config;
use rmx::{Array, Dtype};
use rmx_nn::{visit, Embedding, Linear, Module, RMSNorm};

/// One Gemma 3 decoder layer.
#[derive(Debug)]
pub struct GemmaLayer {
    pub self_attn: Attention,
    pub mlp: Mlp,
    pub input_layernorm: RMSNorm,
    pub post_attention_layernorm: RMSNorm,
    pub pre_feedforward_layernorm: RMSNorm,
    pub post_feedforward_layernorm: RMSNorm,
    sliding: bool,
}
visit!(GemmaLayer { self_attn, mlp, input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm });
impl Module for GemmaLayer {}

impl GemmaLayer {
    fn forward(&self, x: &Array, cache: &mut KvCache) -> Result<Array> {
        let a = self.post_attention_layernorm.forward(&self.self_attn.forward(&self.input_layernorm.forward(x)?, cache)?)?;
        let h = rmx::add(x, &a)?;
        let m = self.post_feedforward_layernorm.forward(&FeedForward::forward(&self.mlp, &self.pre_feedforward_layernorm.forward(&h)?)?)?;
        Ok(rmx::add(&h, &m)?)
    }
}

/// The `model.*` part.
#[derive(Debug)]
pub struct GemmaBody {
    pub embed_tokens: Embedding,
    pub layers: Vec<GemmaLayer>,
    pub norm: RMSNorm,
}
visit!(GemmaBody { embed_tokens, layers, norm });
impl Module for GemmaBody {}

/// Gemma 3 text model.
#[derive(Debug)]
pub struct Gemma3Text {
    pub model: GemmaBody,
    pub lm_head: Option<Linear>,
    hidden: usize,
    sliding_window: usize,
    final_softcap: Option<f64>,
}
visit!(Gemma3Text { model, lm_head });
impl Module for Gemma3Text {}

/// Builds the model `c` describes, with placeholder weights.
pub fn build(c: &Config) -> Result<Gemma3Text> {
    let a = DenseArgs::from_config(c)?;
    let tied = c.bool_or("tie_word_embeddings", true)?;
    let sliding_window = c.usize("sliding_window")?;
    let mut layer_types = c.strings("layer_types")?;
    if layer_types.is_empty() {
        let pattern = c.opt_usize("sliding_window_pattern")?.or(c.opt_usize("_sliding_window_pattern")?).unwrap_or(6).max(1);
        layer_types =
            (0..a.layers).map(|i| if (i + 1) % pattern == 0 { "full_attention" } else { "sliding_attention" }.to_string()).collect();
    }
    if layer_types.len() != a.layers {
        return Err(c.invalid(format!("layer_types has {} entries for {} layers", layer_types.len(), a.layers)));
    }
    let global_rope = Rope::new(&c.rope(a.head_dim, Some("full_attention"))?)?;
    let local_rope = Rope::new(&match c.object("rope_parameters").and_then(|p| p.object("sliding_attention")) {
        Some(_) => c.rope(a.head_dim, Some("sliding_attention"))?,
        None => RopeSpec::plain(a.head_dim, c.f64_or("rope_local_base_freq", 10000.0)?),
    })?;
    let scale = c.f64_or("query_pre_attn_scalar", a.head_dim as f64)?.powf(-0.5);
    let activation_name = c.opt_str("hidden_activation")?.or(c.opt_str("hidden_act")?).unwrap_or("gelu_pytorch_tanh");
    let activation = GateActivation::from_name(activation_name)
        .ok_or_else(|| LmError::NotImplemented(format!("hidden_activation '{activation_name}'")))?;
    let norm = || RMSNorm::with_unit_offset(a.hidden, a.eps);
    let layers = layer_types
        .iter()
        .map(|kind| {
            let sliding = match kind.as_str() {
                "sliding_attention" => true,
                "full_attention" => false,
                other => return Err(c.invalid(format!("unknown layer type '{other}'"))),
            };
            let rope = if sliding { local_rope.clone() } else { global_rope.clone() };
            let attn = Attention::new(a.attention_shape(), c.bool_or("attention_bias", false)?, rope)?
                .with_head_norms(RMSNorm::with_unit_offset(a.head_dim, a.eps)?, RMSNorm::with_unit_offset(a.head_dim, a.eps)?)
                .with_scale(scale);
            Ok(GemmaLayer {
                self_attn: attn,
                mlp: Mlp::new(a.hidden, a.intermediate, activation)?,
                input_layernorm: norm()?,
                post_attention_layernorm: norm()?,
                pre_feedforward_layernorm: norm()?,
                post_feedforward_layernorm: norm()?,
                sliding,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Gemma3Text {
        model: GemmaBody { embed_tokens: Embedding::from_weight(rmx::zeros(&[a.vocab, a.hidden], Dtype::F32)?), layers, norm: norm()? },
        lm_head: if tied { None } else { Some(super::blocks::placeholder_linear(a.hidden, a.vocab, false)?) },
        hidden: a.hidden,
        sliding_window,
        final_softcap: c.opt_f64("final_logit_softcapping")?,
    })
}

impl LanguageModel for Gemma3Text {
    fn forward(&self, tokens: &Array, caches: &mut [KvCache]) -> Result<Array> {
        check_caches(caches, self.model.layers.len())?;
        let e = self.model.embed_tokens.forward(tokens)?;
        // transformers rounds the scale to the embedding dtype first.
        let scale = rmx::astype(&Array::scalar((self.hidden as f32).sqrt()), e.dtype())?;
        let mut h = rmx::multiply(&e, &scale)?;
        for (layer, cache) in self.model.layers.iter().zip(caches.iter_mut()) {
            h = layer.forward(&h, cache)?;
        }
        let logits = output_head(self.lm_head.as_ref(), &self.model.embed_tokens, &self.model.norm.forward(&h)?)?;
        Ok(match self.final_softcap {
            Some(cap) => rmx::multiply(&rmx::tanh(&rmx::divide(&logits, cap)?)?, cap)?,
            None => logits,
        })
    }

    fn new_cache(&self) -> Vec<KvCache> {
        self.model.layers.iter().map(|l| if l.sliding { KvCache::window(self.sliding_window) } else { KvCache::full() }).collect()
    }

    fn vocab_size(&self) -> usize {
        self.model.embed_tokens.weight.value.shape()[0]
    }
}
