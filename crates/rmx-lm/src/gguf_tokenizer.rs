//! The tokenizer of a GGUF file, rebuilt from its `tokenizer.ggml.*` metadata the way
//! transformers converts it: byte-level BPE (`tokenizer.ggml.model = "gpt2"`) with the
//! pre-tokenizer `tokenizer.ggml.pre` names (GPT-2, Llama 3, Qwen 2), or a SentencePiece
//! vocabulary (`"llama"`: Llama 2, Mistral, TinyLlama) as BPE with merges ranked by the token
//! scores and byte fallback; control tokens as special added tokens, BOS/EOS and the chat
//! template from the metadata.

use crate::error::{LmError, Result};
use crate::gguf::Metadata;
use crate::tokenizer::Tokenizer;
use serde_json::{json, Map, Value};
use std::str::FromStr;

/// Llama 3's pre-tokenizer split (`llama-bpe`), as in its tokenizer.json.
const LLAMA3_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's pre-tokenizer split (`qwen2`), as in its tokenizer.json.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGML token types that are added tokens rather than BPE pieces.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The file's tokenizer; `None` when it has no `tokenizer.ggml.model`.
pub(crate) fn from_metadata(meta: &Metadata) -> Result<Option<Tokenizer>> {
    let Some(model) = meta.opt_str("tokenizer.ggml.model")? else { return Ok(None) };
    let tokens = meta.strings("tokenizer.ggml.tokens")?.ok_or_else(|| meta.error("tokenizer.ggml.tokens", "is missing"))?;
    let types = meta.integers("tokenizer.ggml.token_type")?.unwrap_or_default();
    if !types.is_empty() && types.len() != tokens.len() {
        return Err(meta.error("tokenizer.ggml.token_type", &format!("has {} entries for {} tokens", types.len(), tokens.len())));
    }
    let spec = match model {
        "gpt2" => byte_level(meta, &tokens, &types)?,
        "llama" => sentencepiece(meta, &tokens, &types)?,
        other => {
            return Err(LmError::NotImplemented(format!(
                "GGUF tokenizer model '{other}' (byte-level BPE 'gpt2' and SentencePiece 'llama' are rebuilt)"
            )))
        }
    };
    let inner =
        tokenizers::Tokenizer::from_str(&spec.to_string()).map_err(|e| LmError::Tokenizer(format!("{}: {e}", meta.path.display())))?;
    let token = |key: &str| -> Result<Option<String>> {
        Ok(match meta.count(key)? {
            Some(id) => Some(tokens.get(id).ok_or_else(|| meta.error(key, &format!("{id} is not a token id")))?.to_string()),
            None => None,
        })
    };
    // llama.cpp's default: SentencePiece vocabularies start with BOS, byte-level ones do not.
    let add_bos = match meta.map.get("tokenizer.ggml.add_bos_token") {
        Some(rmx::io::GgufValue::Bool(b)) => *b,
        _ => model == "llama",
    };
    let template = meta.opt_str("tokenizer.chat_template")?.map(str::to_string);
    Ok(Some(Tokenizer::from_parts(inner, template, token("tokenizer.ggml.bos_token_id")?, token("tokenizer.ggml.eos_token_id")?, add_bos)))
}

/// Every token in the vocabulary, with control (special) and user-defined tokens also added
/// tokens so that they match whole in text.
fn vocab_and_added(tokens: &[&str], types: &[i64]) -> (Map<String, Value>, Vec<Value>) {
    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        vocab.entry(token.to_string()).or_insert(json!(id));
        let kind = types.get(id).copied().unwrap_or(1);
        if kind == CONTROL || kind == USER_DEFINED {
            added.push(json!({"id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": kind == CONTROL}));
        }
    }
    (vocab, added)
}

/// `tokenizer.ggml.model = "gpt2"`: byte-level BPE with the merges of the file.
fn byte_level(meta: &Metadata, tokens: &[&str], types: &[i64]) -> Result<Value> {
    let merges = meta.strings("tokenizer.ggml.merges")?.ok_or_else(|| meta.error("tokenizer.ggml.merges", "is missing"))?;
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
    let (vocab, added) = vocab_and_added(tokens, types);
    let merges: Vec<Value> = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| meta.error("tokenizer.ggml.merges", &format!("entry '{m}' is not two tokens")))
        })
        .collect::<Result<_>>()?;
    Ok(json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges},
    }))
}

/// `tokenizer.ggml.model = "llama"`: a SentencePiece vocabulary (tokens and scores, `▁` for
/// spaces, `<0xNN>` byte tokens), as the BPE transformers derives from it: a merge for every
/// split of a token into two tokens, ranked by the merged token's score.
fn sentencepiece(meta: &Metadata, tokens: &[&str], types: &[i64]) -> Result<Value> {
    let scores = meta.floats("tokenizer.ggml.scores")?.ok_or_else(|| meta.error("tokenizer.ggml.scores", "is missing"))?;
    if scores.len() != tokens.len() {
        return Err(meta.error("tokenizer.ggml.scores", &format!("has {} entries for {} tokens", scores.len(), tokens.len())));
    }
    let (vocab, added) = vocab_and_added(tokens, types);
    let merges = merges_from_scores(tokens, &scores);
    let unk = match meta.count("tokenizer.ggml.unknown_token_id")? {
        Some(id) => Some(*tokens.get(id).ok_or_else(|| meta.error("tokenizer.ggml.unknown_token_id", &format!("{id} is not a token id")))?),
        None => None,
    };
    Ok(json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u{2581}"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"},
        ]},
        "pre_tokenizer": null, "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false, "vocab": vocab, "merges": merges},
    }))
}

/// The merges of a SentencePiece vocabulary: every split of each token into two tokens of
/// the vocabulary, the splits of one token ordered by their parts' scores and all of them by
/// the merged token's score (both highest first, ties in vocabulary order).
fn merges_from_scores(tokens: &[&str], scores: &[f32]) -> Vec<Value> {
    let mut score_of = std::collections::HashMap::with_capacity(tokens.len());
    for (t, &s) in tokens.iter().zip(scores) {
        score_of.entry(*t).or_insert(s);
    }
    let mut merges: Vec<(&str, &str, f32)> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(tokens.len());
    for (&token, &score) in tokens.iter().zip(scores) {
        if !seen.insert(token) {
            continue;
        }
        let mut local: Vec<(&str, &str, f32)> = token
            .char_indices()
            .skip(1)
            .map(|(i, _)| token.split_at(i))
            .filter(|(l, r)| score_of.contains_key(l) && score_of.contains_key(r))
            .map(|(l, r)| (l, r, score))
            .collect();
        local.sort_by(|a, b| {
            (score_of[b.0], score_of[b.1]).partial_cmp(&(score_of[a.0], score_of[a.1])).unwrap_or(std::cmp::Ordering::Equal)
        });
        merges.extend(local);
    }
    merges.sort_by(|a, b| b.2.total_cmp(&a.2));
    merges.into_iter().map(|(l, r, _)| json!([l, r])).collect()
}
