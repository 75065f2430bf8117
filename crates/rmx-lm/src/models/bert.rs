//! BERT as a sentence encoder (all-MiniLM, bge, e5...): token, position and segment
//! embeddings, post-norm encoder layers with bidirectional attention over the unpadded tokens
//! and exact-erf GELU. Parameter names are transformers' `BertModel` names
//! (`encoder.layer.0.attention.self.query.weight`).

use super::blocks::placeholder_linear;
use crate::error::{LmError, Result};
use crate::Config;
use rmx::{Array, AttentionMask, Dtype};
use rmx_nn::module::join;
use rmx_nn::{visit, Embedding, LayerNorm, Linear, Module, Slot, SlotMut, Visit};
use std::collections::BTreeMap;

fn layer_norm(dims: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm::new(dims, eps, true, true)?)
}

fn table(rows: usize, dims: usize) -> Result<Embedding> {
    Ok(Embedding::from_weight(rmx::zeros(&[rows, dims], Dtype::F32)?))
}

/// Word, position and token-type embeddings, summed and normalized.
#[allow(non_snake_case)]
#[derive(Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub LayerNorm: LayerNorm,
}
visit!(BertEmbeddings { word_embeddings, position_embeddings, token_type_embeddings, LayerNorm });
impl Module for BertEmbeddings {}

/// The query/key/value projections (`attention.self`).
#[derive(Debug)]
pub struct SelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
}
visit!(SelfAttention { query, key, value });
impl Module for SelfAttention {}

/// A projection followed by a residual LayerNorm (`attention.output`, `output`).
#[allow(non_snake_case)]
#[derive(Debug)]
pub struct DenseNorm {
    pub dense: Linear,
    pub LayerNorm: LayerNorm,
}
visit!(DenseNorm { dense, LayerNorm });
impl Module for DenseNorm {}

impl DenseNorm {
    fn forward(&self, x: &Array, residual: &Array) -> Result<Array> {
        Ok(self.LayerNorm.forward(&rmx::add(&self.dense.forward(x)?, residual)?)?)
    }
}

/// `attention.self` and `attention.output` (a field cannot be called `self` in Rust, hence
/// the hand-written visit).
#[derive(Debug)]
pub struct BertAttention {
    pub self_attention: SelfAttention,
    pub output: DenseNorm,
}
impl Module for BertAttention {}
impl Visit for BertAttention {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        f(path, Slot::Module(self));
        self.self_attention.visit(&join(path, "self"), f);
        self.output.visit(&join(path, "output"), f);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        f(path, SlotMut::Module(self));
        self.self_attention.visit_mut(&join(path, "self"), f);
        self.output.visit_mut(&join(path, "output"), f);
    }
}

/// The feed-forward expansion (`intermediate.dense`).
#[derive(Debug)]
pub struct Intermediate {
    pub dense: Linear,
}
visit!(Intermediate { dense });
impl Module for Intermediate {}

/// One post-norm encoder layer.
#[derive(Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: Intermediate,
    pub output: DenseNorm,
}
visit!(BertLayer { attention, intermediate, output });
impl Module for BertLayer {}

/// The layer stack.
#[derive(Debug)]
pub struct BertEncoder {
    pub layer: Vec<BertLayer>,
}
visit!(BertEncoder { layer });
impl Module for BertEncoder {}

/// A BERT encoder.
#[derive(Debug)]
pub struct Bert {
    pub embeddings: BertEmbeddings,
    pub encoder: BertEncoder,
    heads: usize,
}
visit!(Bert { embeddings, encoder });
impl Module for Bert {}

impl Bert {
    /// Builds the model `c` describes, with placeholder weights.
    pub fn build(c: &Config) -> Result<Bert> {
        let hidden = c.usize("hidden_size")?;
        let heads = c.usize("num_attention_heads")?;
        if heads == 0 || hidden % heads != 0 {
            return Err(c.invalid(format!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}")));
        }
        let act = c.opt_str("hidden_act")?.unwrap_or("gelu");
        if act != "gelu" {
            return Err(LmError::NotImplemented(format!("bert hidden_act '{act}'")));
        }
        let eps = c.f64_or("layer_norm_eps", 1e-12)?;
        let intermediate = c.usize("intermediate_size")?;
        let layers = (0..c.usize("num_hidden_layers")?)
            .map(|_| {
                Ok(BertLayer {
                    attention: BertAttention {
                        self_attention: SelfAttention {
                            query: placeholder_linear(hidden, hidden, true)?,
                            key: placeholder_linear(hidden, hidden, true)?,
                            value: placeholder_linear(hidden, hidden, true)?,
                        },
                        output: DenseNorm { dense: placeholder_linear(hidden, hidden, true)?, LayerNorm: layer_norm(hidden, eps)? },
                    },
                    intermediate: Intermediate { dense: placeholder_linear(hidden, intermediate, true)? },
                    output: DenseNorm { dense: placeholder_linear(intermediate, hidden, true)?, LayerNorm: layer_norm(hidden, eps)? },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Bert {
            embeddings: BertEmbeddings {
                word_embeddings: table(c.usize("vocab_size")?, hidden)?,
                position_embeddings: table(c.usize("max_position_embeddings")?, hidden)?,
                token_type_embeddings: table(c.opt_usize("type_vocab_size")?.unwrap_or(2), hidden)?,
                LayerNorm: layer_norm(hidden, eps)?,
            },
            encoder: BertEncoder { layer: layers },
            heads,
        })
    }

    /// The model of a directory: `config.json` and its safetensors weights.
    pub fn load(dir: &std::path::Path) -> Result<Bert> {
        let config = Config::load(&dir.join("config.json"))?;
        if config.model_type()? != "bert" {
            return Err(LmError::UnknownModelType(format!("{} (embeddings need a bert model)", config.model_type()?)));
        }
        let mut model = Bert::build(&config)?;
        let weights = sanitize(crate::loader::read_weights(dir)?);
        rmx_nn::update_weights(&mut model, weights, true).map_err(|e| LmError::Weights(e.to_string()))?;
        Ok(model)
    }

    /// The most positions the model has embeddings for.
    pub fn max_positions(&self) -> usize {
        self.embeddings.position_embeddings.weight.value.shape()[0]
    }

    /// `ids, mask: [B, T]` (mask 1 for tokens, 0 for padding) → hidden states `[B, T, H]`.
    pub fn forward(&self, ids: &Array, mask: &Array) -> Result<Array> {
        let (b, t) = (ids.shape()[0], ids.shape()[1]);
        if t > self.max_positions() {
            return Err(LmError::Request(format!("{t} tokens, more than the model's {} positions", self.max_positions())));
        }
        let e = &self.embeddings;
        let positions = rmx::arange(0.0, t as f64, 1.0, Dtype::I32)?;
        let types = rmx::zeros(&[b, t], Dtype::I32)?;
        let sum = rmx::add(
            &rmx::add(&e.word_embeddings.forward(ids)?, &e.position_embeddings.forward(&positions)?)?,
            &e.token_type_embeddings.forward(&types)?,
        )?;
        let mut h = e.LayerNorm.forward(&sum)?;
        let keys_visible = AttentionMask::Array(rmx::reshape_to(&rmx::not_equal(mask, 0)?, &[b, 1, 1, t])?);
        let hidden = h.shape()[2];
        let head_dim = hidden / self.heads;
        for layer in &self.encoder.layer {
            let a = &layer.attention.self_attention;
            let split = |x: Array| -> Result<Array> {
                Ok(rmx::transpose(&rmx::reshape_to(&x, &[b, t, self.heads, head_dim])?, Some(&[0, 2, 1, 3]))?)
            };
            let (q, k, v) = (split(a.query.forward(&h)?)?, split(a.key.forward(&h)?)?, split(a.value.forward(&h)?)?);
            let o = rmx::scaled_dot_product_attention(&q, &k, &v, 1.0 / (head_dim as f64).sqrt(), Some(&keys_visible), None)?;
            let o = rmx::reshape_to(&rmx::transpose(&o, Some(&[0, 2, 1, 3]))?, &[b, t, hidden])?;
            let h1 = layer.attention.output.forward(&o, &h)?;
            let inner = rmx_nn::activations::gelu(&layer.intermediate.dense.forward(&h1)?)?;
            h = layer.output.forward(&inner, &h1)?;
        }
        Ok(h)
    }
}

/// Drops what the encoder does not use (`pooler`, `position_ids`, masked-LM heads) and the
/// `bert.` prefix of task checkpoints.
pub fn sanitize(weights: BTreeMap<String, Array>) -> BTreeMap<String, Array> {
    weights
        .into_iter()
        .map(|(k, v)| (k.strip_prefix("bert.").map(str::to_string).unwrap_or(k), v))
        .filter(|(k, _)| !k.starts_with("pooler.") && !k.starts_with("cls.") && !k.ends_with("position_ids"))
        .collect()
}
