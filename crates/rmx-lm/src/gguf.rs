//! Loading a llama-family GGUF file (llama.cpp's single-file format) as a model: the
//! `{arch}.*` metadata becomes a `config.json`-style [`Config`], tensors get their Hugging Face
//! names, llama's Q/K rows are put back in transformers' order (llama.cpp's converter
//! interleaves the rotary pairs; rmx rotates halves), `rope_freqs` becomes per-pair rotary
//! periods, Q4_0/Q4_1/Q8_0 tensors stay quantized (MLX affine, group 32, as `rmx::io` maps
//! them; the K-quants arrive dequantized) and the tokenizer is rebuilt from `tokenizer.ggml.*`.
//!
//! Architectures: `llama` (also Mistral's files), `qwen2`, `qwen3`, `qwen3moe` (stacked experts,
//! as MLX stores them), `phi3` (fused projections, partial rotary embeddings, LongRoPE from
//! `rope_factors_long`/`rope_factors_short` and the `rope.scaling.*` metadata).

use crate::config::Config;
use crate::error::{LmError, Result};
use crate::gguf_tokenizer;
use crate::loader::Loaded;
use rmx::io::GgufValue;
use rmx::Array;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Whether `path` names a GGUF file (by extension).
pub fn is_gguf(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// Loads model, tokenizer and EOS ids from a `.gguf` file.
///
/// ```no_run
/// let loaded = rmx_lm::gguf::load_gguf("Llama-3.2-1B-Instruct-Q8_0.gguf".as_ref())?;
/// assert_eq!(loaded.config.model_type()?, "llama");
/// # Ok::<(), rmx_lm::LmError>(())
/// ```
pub fn load_gguf(path: &Path) -> Result<Loaded> {
    let file = rmx::io::load_gguf(path)?;
    let meta = Metadata { map: &file.metadata, path };
    let arch = meta.str("general.architecture")?;
    if !matches!(arch, "llama" | "qwen2" | "qwen3" | "qwen3moe" | "phi3") {
        return Err(LmError::NotImplemented(format!("GGUF architecture '{arch}' (llama, qwen2, qwen3, qwen3moe and phi3 load)")));
    }
    let mut tensors = file.tensors;
    let rope = RopeTensors {
        freqs: tensors.remove("rope_freqs.weight"),
        long: tensors.remove("rope_factors_long.weight"),
        short: tensors.remove("rope_factors_short.weight"),
    };
    let mut weights = BTreeMap::new();
    for (name, tensor) in tensors {
        let hf =
            hf_name(&name, arch).ok_or_else(|| LmError::file(path, format!("unexpected GGUF tensor '{name}' for architecture {arch}")))?;
        weights.insert(hf, tensor);
    }
    embed_in_compute_dtype(&mut weights)?;
    let config = config_of(&meta, arch, &weights, &rope)?;
    if arch == "llama" {
        unpermute_qk(&mut weights, &config)?;
    }
    let model = crate::loader::assemble(&config, weights)?;
    // A vocabulary rmx cannot rebuild (SentencePiece) leaves the model usable on token ids;
    // `Loaded::tokenizer` reports the reason when text is needed.
    let tokenizer = match gguf_tokenizer::from_metadata(&meta) {
        Err(LmError::NotImplemented(_)) => None,
        other => other?,
    };
    let mut eos_token_ids = config.token_ids("eos_token_id")?;
    if let Some(eot) = meta.count("tokenizer.ggml.eot_token_id")? {
        if !eos_token_ids.contains(&(eot as u32)) {
            eos_token_ids.push(eot as u32);
        }
    }
    Ok(Loaded { model, config, tokenizer, eos_token_ids, dir: path.to_path_buf() })
}

/// The tokenizer of a GGUF file (model or vocabulary-only file), `None` if it has none.
pub fn load_gguf_tokenizer(path: &Path) -> Result<Option<crate::Tokenizer>> {
    let file = rmx::io::load_gguf(path)?;
    gguf_tokenizer::from_metadata(&Metadata { map: &file.metadata, path })
}

/// The Hugging Face name of a llama.cpp tensor name in a file of architecture `arch`.
fn hf_name(gguf: &str, arch: &str) -> Option<String> {
    let top = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = top {
        return Some(name.to_string());
    }
    // Quantized tensors arrive as `<base>.weight` plus `<base>.scales` / `<base>.biases`.
    for top in ["token_embd", "output"] {
        if let Some(leaf) = gguf.strip_prefix(top).and_then(|r| r.strip_prefix('.')) {
            let base = if top == "output" { "lm_head" } else { "model.embed_tokens" };
            return matches!(leaf, "scales" | "biases").then(|| format!("{base}.{leaf}"));
        }
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, leaf) = rest.rsplit_once('.')?;
    if !matches!(leaf, "weight" | "bias" | "scales" | "biases") {
        return None;
    }
    let module = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "ffn_gate" => "mlp.gate_proj",
        // phi3 keeps the gate and up projections fused in `ffn_up`.
        "ffn_up" if arch == "phi3" => "mlp.gate_up_proj",
        "ffn_up" => "mlp.up_proj",
        "attn_qkv" => "self_attn.qkv_proj",
        "ffn_down" => "mlp.down_proj",
        "ffn_gate_inp" => "mlp.gate",
        "ffn_gate_exps" => "mlp.switch_mlp.gate_proj",
        "ffn_up_exps" => "mlp.switch_mlp.up_proj",
        "ffn_down_exps" => "mlp.switch_mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{module}.{leaf}"))
}

/// The `config.json` equivalent of the file's metadata and tensors.
/// The rotary-embedding tensors llama.cpp stores beside the weights: llama3's per-pair
/// frequency divisors, Phi-3's LongRoPE factors.
struct RopeTensors {
    freqs: Option<Array>,
    long: Option<Array>,
    short: Option<Array>,
}

fn floats(a: &Array) -> Result<Vec<f32>> {
    Ok(rmx::astype(a, rmx::Dtype::F32)?.to_vec::<f32>()?)
}

fn config_of(meta: &Metadata, arch: &str, weights: &BTreeMap<String, Array>, rope: &RopeTensors) -> Result<Config> {
    let key = |k: &str| format!("{arch}.{k}");
    let required = |k: &str| meta.count(&key(k))?.ok_or_else(|| meta.error(&key(k), "is missing"));
    let (hidden, heads) = (required("embedding_length")?, required("attention.head_count")?);
    if heads == 0 || hidden % heads != 0 {
        return Err(meta.error(&key("attention.head_count"), &format!("{heads} does not divide the embedding length {hidden}")));
    }
    let head_dim = meta.count(&key("attention.key_length"))?.unwrap_or(hidden / heads);
    let rotated = meta.count(&key("rope.dimension_count"))?.unwrap_or(head_dim);
    if rotated != head_dim && arch != "phi3" {
        return Err(LmError::NotImplemented(format!("GGUF partial rotary embeddings ({rotated} of {head_dim} features) for {arch}")));
    }
    let embed = weights.get("model.embed_tokens.weight").ok_or_else(|| LmError::file(meta.path, "has no token_embd.weight tensor"))?;
    let mut c = Map::new();
    c.insert("model_type".into(), json!(if arch == "qwen3moe" { "qwen3_moe" } else { arch }));
    if arch == "qwen3moe" {
        c.insert("num_experts".into(), json!(required("expert_count")?));
        c.insert("num_experts_per_tok".into(), json!(required("expert_used_count")?));
        c.insert("moe_intermediate_size".into(), json!(required("expert_feed_forward_length")?));
        // llama.cpp renormalizes the chosen experts' weights for this architecture.
        let normalize = !matches!(meta.map.get(&key("expert_weights_norm")), Some(GgufValue::Bool(false)));
        c.insert("norm_topk_prob".into(), json!(normalize));
    }
    c.insert("hidden_size".into(), json!(hidden));
    c.insert("num_attention_heads".into(), json!(heads));
    c.insert("num_key_value_heads".into(), json!(meta.count(&key("attention.head_count_kv"))?.unwrap_or(heads)));
    c.insert("head_dim".into(), json!(head_dim));
    c.insert("num_hidden_layers".into(), json!(required("block_count")?));
    c.insert("intermediate_size".into(), json!(required("feed_forward_length")?));
    c.insert("vocab_size".into(), json!(embed.shape()[0]));
    c.insert("max_position_embeddings".into(), json!(meta.count(&key("context_length"))?.unwrap_or(4096)));
    c.insert("rms_norm_eps".into(), json!(meta.number(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5)));
    c.insert("rope_theta".into(), json!(meta.number(&key("rope.freq_base"))?.unwrap_or(10000.0)));
    c.insert("tie_word_embeddings".into(), json!(!weights.contains_key("lm_head.weight")));
    for (field, k) in [("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id")] {
        if let Some(id) = meta.count(k)? {
            c.insert(field.into(), json!(id));
        }
    }
    if rotated != head_dim {
        c.insert("partial_rotary_factor".into(), json!(rotated as f64 / head_dim as f64));
    }
    if let Some(factors) = &rope.freqs {
        c.insert("rope_scaling".into(), json!({"rope_type": "freq_factors", "factors": floats(factors)?}));
    } else if let (Some(long), Some(short)) = (&rope.long, &rope.short) {
        let original = key("rope.scaling.original_context_length");
        let mut scaling = json!({
            "rope_type": "longrope",
            "long_factor": floats(long)?,
            "short_factor": floats(short)?,
            "original_max_position_embeddings": meta.count(&original)?.ok_or_else(|| meta.error(&original, "is missing"))?,
        });
        if let Some(factor) = meta.number(&key("rope.scaling.attn_factor"))? {
            scaling["attention_factor"] = json!(factor);
        }
        c.insert("rope_scaling".into(), scaling);
    } else if let Some(kind) = meta.opt_str(&key("rope.scaling.type"))? {
        match kind {
            "none" => {}
            "linear" => {
                let factor =
                    meta.number(&key("rope.scaling.factor"))?.ok_or_else(|| meta.error(&key("rope.scaling.factor"), "is missing"))?;
                c.insert("rope_scaling".into(), json!({"rope_type": "linear", "factor": factor}));
            }
            other => return Err(LmError::NotImplemented(format!("GGUF rope scaling '{other}'"))),
        }
    }
    if let Some(q) = quantization_of(weights) {
        c.insert("quantization".into(), q);
    }
    Config::parse(&Value::Object(c).to_string(), &meta.path.display().to_string())
}

/// MLX `quantization` settings for the quantized tensors: group 32 (GGML's blocks) and the
/// most common bit width as default, per-layer entries for the others.
fn quantization_of(weights: &BTreeMap<String, Array>) -> Option<Value> {
    let mut bits_of = BTreeMap::new();
    for (name, scales) in weights {
        let Some(path) = name.strip_suffix(".scales") else { continue };
        let packed = weights.get(&format!("{path}.weight"))?;
        let inputs = scales.shape().last()? * 32;
        bits_of.insert(path.to_string(), packed.shape().last()? * 32 / inputs);
    }
    let mut counts = BTreeMap::new();
    for bits in bits_of.values() {
        *counts.entry(*bits).or_insert(0) += 1;
    }
    let default = counts.iter().max_by_key(|(_, n)| **n).map(|(b, _)| *b)?;
    let mut q = Map::new();
    q.insert("group_size".into(), json!(32));
    q.insert("bits".into(), json!(default));
    for (path, bits) in bits_of.into_iter().filter(|(_, b)| *b != default) {
        q.insert(path, json!({"group_size": 32, "bits": bits}));
    }
    Some(Value::Object(q))
}

/// A quantized embedding dequantizes to its scales' dtype (float16 in GGUF files), which would
/// make every activation float16; llama.cpp computes in the dtype of the unquantized tensors
/// (the norms, float32), so the embedding's scales and biases are cast to it. Lookups read a
/// few rows, so this costs no bandwidth (a tied output head reads the wider scales).
fn embed_in_compute_dtype(weights: &mut BTreeMap<String, Array>) -> Result<()> {
    let Some(dtype) = weights.get("model.norm.weight").map(Array::dtype) else { return Ok(()) };
    for leaf in ["scales", "biases"] {
        if let Some(t) = weights.get_mut(&format!("model.embed_tokens.{leaf}")) {
            *t = rmx::astype(t, dtype)?;
        }
    }
    Ok(())
}

/// Undoes llama.cpp's Q/K row permutation (rotary pairs interleaved per head) on every tensor
/// of the projections (weights, quantization scales and biases, biases), and makes them
/// contiguous once here rather than on every use.
fn unpermute_qk(weights: &mut BTreeMap<String, Array>, config: &Config) -> Result<()> {
    let heads = config.usize("num_attention_heads")?;
    let kv_heads = config.usize("num_key_value_heads")?;
    for (name, tensor) in weights.iter_mut() {
        let n = if name.contains(".self_attn.q_proj.") {
            heads
        } else if name.contains(".self_attn.k_proj.") {
            kv_heads
        } else {
            continue;
        };
        let shape = tensor.shape().to_vec();
        if shape[0] % (2 * n) != 0 {
            return Err(LmError::Weights(format!("{name}: {} rows are not {n} heads of rotary pairs", shape[0])));
        }
        let mut split = vec![n, shape[0] / n / 2, 2];
        split.extend_from_slice(&shape[1..]);
        let t = rmx::swapaxes(&rmx::reshape_to(tensor, &split)?, 1, 2)?;
        let t = rmx::contiguous(&rmx::reshape_to(&t, &shape)?)?;
        t.eval()?;
        *tensor = t;
    }
    Ok(())
}

/// Typed reads of GGUF metadata, with errors naming the file and key.
pub(crate) struct Metadata<'a> {
    pub map: &'a BTreeMap<String, GgufValue>,
    pub path: &'a Path,
}

impl Metadata<'_> {
    pub fn error(&self, key: &str, what: &str) -> LmError {
        LmError::file(self.path, format!("GGUF metadata `{key}` {what}"))
    }
    pub fn str(&self, key: &str) -> Result<&str> {
        self.opt_str(key)?.ok_or_else(|| self.error(key, "is missing"))
    }
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.map.get(key) {
            Some(GgufValue::Str(s)) => Ok(Some(s)),
            Some(v) => Err(self.error(key, &format!("must be a string, found {v:?}"))),
            None => Ok(None),
        }
    }
    /// A list whose items `item` converts (`None` for an item of the wrong type, named `what`).
    fn list<'m, T>(&'m self, key: &str, what: &str, item: impl Fn(&'m GgufValue) -> Option<T>) -> Result<Option<Vec<T>>> {
        match self.map.get(key) {
            Some(GgufValue::Array(items)) => items
                .iter()
                .map(|v| item(v).ok_or_else(|| self.error(key, &format!("must hold {what}, found {v:?}"))))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.error(key, &format!("must be a list of {what}, found {v:?}"))),
            None => Ok(None),
        }
    }
    /// A list of strings (`tokenizer.ggml.tokens`, `.merges`).
    pub fn strings(&self, key: &str) -> Result<Option<Vec<&str>>> {
        self.list(key, "strings", |v| match v {
            GgufValue::Str(s) => Some(s.as_str()),
            _ => None,
        })
    }
    /// A list of numbers (`tokenizer.ggml.scores`).
    pub fn floats(&self, key: &str) -> Result<Option<Vec<f32>>> {
        self.list(key, "numbers", |v| match v {
            GgufValue::F32(x) => Some(*x),
            GgufValue::F64(x) => Some(*x as f32),
            _ => None,
        })
    }
    /// A list of integers (`tokenizer.ggml.token_type`).
    pub fn integers(&self, key: &str) -> Result<Option<Vec<i64>>> {
        self.list(key, "integers", |v| match v {
            GgufValue::I32(x) => Some(*x as i64),
            GgufValue::U32(x) => Some(*x as i64),
            GgufValue::I64(x) => Some(*x),
            GgufValue::U8(x) => Some(*x as i64),
            _ => None,
        })
    }
    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        use GgufValue::*;
        Ok(Some(match self.map.get(key) {
            None => return Ok(None),
            Some(U8(v)) => *v as f64,
            Some(I8(v)) => *v as f64,
            Some(U16(v)) => *v as f64,
            Some(I16(v)) => *v as f64,
            Some(U32(v)) => *v as f64,
            Some(I32(v)) => *v as f64,
            Some(U64(v)) => *v as f64,
            Some(I64(v)) => *v as f64,
            Some(F32(v)) => *v as f64,
            Some(F64(v)) => *v,
            Some(v) => return Err(self.error(key, &format!("must be a number, found {v:?}"))),
        }))
    }
    pub fn count(&self, key: &str) -> Result<Option<usize>> {
        match self.number(key)? {
            Some(v) if v >= 0.0 && v.fract() == 0.0 => Ok(Some(v as usize)),
            Some(v) => Err(self.error(key, &format!("must be a non-negative integer, found {v}"))),
            None => Ok(None),
        }
    }
}
