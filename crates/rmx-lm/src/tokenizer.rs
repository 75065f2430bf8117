//! A model directory's tokenizer: `tokenizer.json` through the `tokenizers` crate, the special
//! tokens and chat template of `tokenizer_config.json` (or `chat_template.jinja`), and a
//! streaming detokenizer that only emits complete UTF-8 text.

use crate::chat_template::{self, Message};
use crate::config::Config;
use crate::error::{LmError, Result};
use serde_json::Value as Json;
use std::path::Path;

/// Text ↔ token ids for one model.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    add_bos: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("vocab", &self.vocab_size()).field("chat_template", &self.chat_template.is_some()).finish()
    }
}

/// A special token given as a string or as `{"content": ...}`.
fn token_text(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("content").and_then(Json::as_str).map(str::to_string),
        _ => None,
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` and `chat_template.jinja`.
    pub fn load(dir: &Path) -> Result<Tokenizer> {
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            return Err(LmError::file(&path, "not found (the model directory needs a tokenizer.json)"));
        }
        let mut inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| LmError::Tokenizer(format!("{}: {e}", path.display())))?;
        // As transformers: padding and truncation only when a caller asks for them, whatever
        // the file's defaults (sentence-transformers files pad every input to 128).
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| LmError::Tokenizer(e.to_string()))?;
        let config_path = dir.join("tokenizer_config.json");
        let config = if config_path.exists() { Some(Config::load(&config_path)?) } else { None };
        let mut chat_template = match config.as_ref().and_then(|c| c.get("chat_template")) {
            Some(Json::String(s)) => Some(s.clone()),
            // A list of named templates: the "default" one.
            Some(Json::Array(items)) => items
                .iter()
                .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
                .and_then(|t| t.get("template").and_then(Json::as_str))
                .map(str::to_string),
            _ => None,
        };
        let jinja = dir.join("chat_template.jinja");
        if chat_template.is_none() && jinja.exists() {
            chat_template = Some(std::fs::read_to_string(&jinja).map_err(|e| LmError::file(&jinja, e))?);
        }
        let field = |k: &str| config.as_ref().and_then(|c| token_text(c.get(k)));
        let add_bos = match &config {
            Some(c) => c.bool_or("add_bos_token", false)?,
            None => false,
        };
        Ok(Tokenizer { inner, chat_template, bos_token: field("bos_token"), eos_token: field("eos_token"), add_bos })
    }

    /// A tokenizer from its parts (as a GGUF file stores them).
    pub(crate) fn from_parts(
        inner: tokenizers::Tokenizer,
        chat_template: Option<String>,
        bos_token: Option<String>,
        eos_token: Option<String>,
        add_bos: bool,
    ) -> Tokenizer {
        Tokenizer { inner, chat_template, bos_token, eos_token, add_bos }
    }

    /// Token ids of `text`, with the special tokens the tokenizer's post-processor adds
    /// (a BOS for llama) when `add_special_tokens`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, add_special_tokens).map_err(|e| LmError::Tokenizer(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        // Some configs ask for a BOS that the post-processor does not add.
        if add_special_tokens && self.add_bos {
            if let Some(bos) = self.bos_token.as_deref().and_then(|t| self.inner.token_to_id(t)) {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(|e| LmError::Tokenizer(e.to_string()))
    }

    /// Number of tokens including added ones.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token's text (special tokens included).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The EOS token named by `tokenizer_config.json`, if any.
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos_token.as_deref().and_then(|t| self.inner.token_to_id(t))
    }

    /// Whether the model ships a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// The prompt text for a conversation, through the model's chat template.
    pub fn apply_chat_template(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, Json>,
    ) -> Result<String> {
        let template = self.chat_template.as_deref().ok_or_else(|| LmError::Template("this model has no chat template".into()))?;
        let mut vars = extra.clone();
        for (name, value) in [("bos_token", &self.bos_token), ("eos_token", &self.eos_token)] {
            if let Some(v) = value {
                vars.entry(name).or_insert_with(|| Json::String(v.clone()));
            }
        }
        chat_template::render(template, messages, add_generation_prompt, &vars)
    }

    /// A detokenizer for a stream of generated ids.
    pub fn stream(&self) -> StreamDecoder<'_> {
        StreamDecoder { tokenizer: self, ids: Vec::new(), prefix: 0, read: 0 }
    }
}

/// Turns generated ids into text pieces as they arrive. A piece is emitted only once the
/// ids decode to complete characters (byte-level BPE splits multi-byte characters across
/// tokens), and a few earlier ids are re-decoded with the new ones so that decoders which
/// depend on context (leading spaces of SentencePiece) give the same text as decoding all.
pub struct StreamDecoder<'t> {
    tokenizer: &'t Tokenizer,
    ids: Vec<u32>,
    prefix: usize,
    read: usize,
}

impl StreamDecoder<'_> {
    /// Adds one id; returns the new text it completes (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.ids.push(id);
        let before = self.tokenizer.decode(&self.ids[self.prefix..self.read], true)?;
        let now = self.tokenizer.decode(&self.ids[self.prefix..], true)?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.starts_with(&before) {
            let piece = now[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(piece)
        } else {
            Ok(String::new())
        }
    }

    /// Whatever is still held back (an incomplete character at the end of generation).
    pub fn finish(&mut self) -> Result<String> {
        let before = self.tokenizer.decode(&self.ids[self.prefix..self.read], true)?;
        let now = self.tokenizer.decode(&self.ids[self.prefix..], true)?;
        self.prefix = self.ids.len();
        self.read = self.ids.len();
        Ok(now.strip_prefix(before.as_str()).unwrap_or(&now).to_string())
    }
}
