//! The tokenizer of a GGUF file, rebuilt from its `tokenizer.ggml.*` metadata the way
//! transformers converts it: byte-level BPE (`tokenizer.ggml.model = "gpt2"`) with the
//! pre-tokenizer `tokenizer.ggml.pre` names (GPT-2, Llama 3, Qwen 2), control tokens as special
//! added tokens, BOS/EOS and the chat template from the metadata. SentencePiece vocabularies
//! (`"llama"`) are not rebuilt yet: an error says so.

use crate::error::{LmError, Result};
use crate::gguf::Metadata;
use crate::tokenizer::Tokenizer;
use serde_json::{json, Map, Value};
use std::str::FromStr;

/// Llama 3's pre-tokenizer split (`llama-bpe`), as in its tokenizer.json.
const LLAMA3_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's pre-tokenizer split (`qwen2`), as in its tokenizer.json.
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGML token types that are added tokens rather than BPE pieces.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The file's tokenizer; `None` when it has no `tokenizer.ggml.model`.
pub(crate) fn from_metadata(meta: &Metadata) -> Result<Option<Tokenizer>> {
    let Some(model) = meta.opt_str("tokenizer.ggml.model")? else { return Ok(None) };
    if model != "gpt2" {
        return Err(LmError::NotImplemented(format!(
            "GGUF tokenizer model '{model}' (byte-level BPE 'gpt2' is rebuilt; put a tokenizer.json model directory beside it instead)"
        )));
    }
    let tokens = meta.strings("tokenizer.ggml.tokens")?.ok_or_else(|| meta.error("tokenizer.ggml.tokens", "is missing"))?;
    let merges = meta.strings("tokenizer.ggml.merges")?.ok_or_else(|| meta.error("tokenizer.ggml.merges", "is missing"))?;
    let types = meta.integers("tokenizer.ggml.token_type")?.unwrap_or_default();
    if !types.is_empty() && types.len() != tokens.len() {
        return Err(meta.error("tokenizer.ggml.token_type", &format!("has {} entries for {} tokens", types.len(), tokens.len())));
    }
    let pre = meta.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
    let (split, normalizer, ignore_merges) = match pre {
        "default" | "gpt-2" | "gpt2" => (None, Value::Null, false),
        "llama-bpe" | "llama3" => (Some(LLAMA3_SPLIT), Value::Null, true),
        "qwen2" => (Some(QWEN2_SPLIT), json!({"type": "NFC"}), false),
        other => return Err(LmError::NotImplemented(format!("GGUF pre-tokenizer '{other}' (default, gpt-2, llama-bpe and qwen2 are)"))),
    };
    let pre_tokenizer = match split {
        None => json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}),
        Some(regex) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        ]}),
    };
    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        vocab.insert(token.to_string(), json!(id));
        let kind = types.get(id).copied().unwrap_or(1);
        if kind == CONTROL || kind == USER_DEFINED {
            added.push(json!({"id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": kind == CONTROL}));
        }
    }
    let merges: Vec<Value> = merges
        .iter()
        .map(|m| m.split_once(' ').map(|(a, b)| json!([a, b])).ok_or_else(|| meta.error("tokenizer.ggml.merges", &format!("entry '{m}' is not two tokens"))))
        .collect::<Result<_>>()?;
    let spec = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges},
    });
    let inner = tokenizers::Tokenizer::from_str(&spec.to_string()).map_err(|e| LmError::Tokenizer(format!("{}: {e}", meta.path.display())))?;
    let token = |key: &str| -> Result<Option<String>> {
        Ok(match meta.count(key)? {
            Some(id) => Some(tokens.get(id).ok_or_else(|| meta.error(key, &format!("{id} is not a token id")))?.to_string()),
            None => None,
        })
    };
    let add_bos = matches!(meta.map.get("tokenizer.ggml.add_bos_token"), Some(rmx::io::GgufValue::Bool(true)));
    let template = meta.opt_str("tokenizer.chat_template")?.map(str::to_string);
    Ok(Some(Tokenizer::from_parts(inner, template, token("tokenizer.ggml.bos_token_id")?, token("tokenizer.ggml.eos_token_id")?, add_bos)))
}
