//! Text generation on top of the token streams: tokenization, streaming detokenization, EOS
//! and stop strings. [`generate_text`] and [`generate_from_tokens`] run the plain engine,
//! [`generate_with_caches`] continues a prompt cache and hands the caches back (chat turns,
//! `cache-prompt`), [`generate_speculative`] uses a draft model.

use crate::cache::{KvCache, KvQuantization};
use crate::error::{LmError, Result};
use crate::loader::Loaded;
use crate::sample::SamplingParams;
use crate::speculative::SpeculativeStream;
use crate::stream::{make_caches, Stats, TokenSource, TokenStream};
use crate::tokenizer::{StreamDecoder, Tokenizer};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateParams {
    /// Generated tokens at most.
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Generation ends when the text contains one of these (it is cut before it).
    pub stop: Vec<String>,
    /// Prompt tokens processed per forward pass while prefilling.
    pub prefill_step: usize,
    /// Bound full-attention caches to this many positions (a rotating cache keeping the
    /// first 4 and the most recent ones).
    pub max_kv_size: Option<usize>,
    /// Quantize full-attention caches (mlx-lm's `--kv-bits`).
    pub kv_quantization: Option<KvQuantization>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 100,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            prefill_step: 512,
            max_kv_size: None,
            kv_quantization: None,
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// An EOS token or a stop string, or the callback asked to stop.
    Stop,
    /// `max_tokens` or the model's context was reached.
    Length,
}

/// A finished generation.
#[derive(Clone, Debug)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub stats: Stats,
}

/// Continues the prompt `text` (tokenized as is, with the tokenizer's special tokens),
/// calling `on_text` with each new piece of text; `on_text` returning `false` stops.
pub fn generate_text(loaded: &Loaded, text: &str, params: &GenerateParams, on_text: &mut dyn FnMut(&str) -> bool) -> Result<Generation> {
    if text.is_empty() {
        return Err(LmError::Request("empty prompt".into()));
    }
    let prompt = loaded.tokenizer()?.encode(text, true)?;
    generate_from_tokens(loaded, &prompt, params, on_text)
}

/// Like [`generate_text`] from prompt token ids.
pub fn generate_from_tokens(
    loaded: &Loaded,
    prompt: &[u32],
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Generation> {
    let caches = make_caches(loaded.model.as_ref(), params.max_kv_size, params.kv_quantization)?;
    Ok(generate_with_caches(loaded, caches, prompt, params, on_text)?.0)
}

/// Continues `caches` (fresh, a loaded prompt cache, or the previous chat turn's) with
/// `prompt` and generates; also returns the caches and the tokens they gained (`prompt` and
/// the generated tokens but the last).
pub fn generate_with_caches(
    loaded: &Loaded,
    caches: Vec<KvCache>,
    prompt: &[u32],
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<(Generation, Vec<KvCache>, Vec<u32>)> {
    let context = loaded.config.opt_usize("max_position_embeddings")?;
    let model = loaded.model.as_ref();
    let mut stream = TokenStream::resume(model, caches, prompt, params.sampling.clone(), params.prefill_step, context)?;
    let generation = drive(loaded, &mut stream, params, on_text)?;
    let (caches, seen) = stream.into_caches();
    Ok((generation, caches, seen))
}

/// Like [`generate_from_tokens`], with `draft` proposing `num_draft` tokens per step.
pub fn generate_speculative(
    loaded: &Loaded,
    draft: &Loaded,
    num_draft: usize,
    prompt: &[u32],
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Generation> {
    if params.max_kv_size.is_some() {
        return Err(LmError::NotImplemented("speculative decoding with --max-kv-size (rotating caches cannot be rewound)".into()));
    }
    if params.kv_quantization.is_some() {
        return Err(LmError::NotImplemented("speculative decoding with a quantized KV cache (--kv-bits)".into()));
    }
    let context = loaded.config.opt_usize("max_position_embeddings")?;
    let (model, draft) = (loaded.model.as_ref(), draft.model.as_ref());
    let mut stream = SpeculativeStream::new(model, draft, prompt, params.sampling.clone(), params.prefill_step, context, num_draft)?;
    drive(loaded, &mut stream, params, on_text)
}

/// Pulls tokens from `source` until EOS, a stop string, `max_tokens` or the callback ends it.
fn drive(
    loaded: &Loaded,
    source: &mut dyn TokenSource,
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Generation> {
    let mut text = TextCollector::new(loaded.tokenizer()?, &loaded.eos_token_ids, &params.stop);
    while text.tokens.len() < params.max_tokens && text.finish.is_none() {
        let Some(token) = source.next_token()? else { break };
        let piece = text.push(token)?;
        if !piece.is_empty() && !on_text(&piece) {
            text.finish = Some(FinishReason::Stop);
        }
    }
    let rest = text.close()?;
    if !rest.is_empty() {
        on_text(&rest);
    }
    Ok(Generation {
        text: text.text,
        tokens: text.tokens,
        finish_reason: text.finish.unwrap_or(FinishReason::Length),
        stats: source.stats().clone(),
    })
}

/// One continuation's text, assembled token by token: EOS ends it, a stop string ends it
/// and is cut off.
pub struct TextCollector<'t> {
    decoder: StreamDecoder<'t>,
    eos: &'t [u32],
    stop: &'t [String],
    pub text: String,
    /// Generated tokens (without the EOS).
    pub tokens: Vec<u32>,
    /// Set once the continuation has ended on its own.
    pub finish: Option<FinishReason>,
}

impl<'t> TextCollector<'t> {
    pub fn new(tokenizer: &'t Tokenizer, eos: &'t [u32], stop: &'t [String]) -> TextCollector<'t> {
        TextCollector { decoder: tokenizer.stream(), eos, stop, text: String::new(), tokens: Vec::new(), finish: None }
    }

    /// Adds a token; returns the new text to show (empty while a character is incomplete,
    /// and cut before a stop string).
    pub fn push(&mut self, token: u32) -> Result<String> {
        if self.eos.contains(&token) {
            self.finish = Some(FinishReason::Stop);
            return Ok(String::new());
        }
        self.tokens.push(token);
        let piece = self.decoder.push(token)?;
        let before = self.text.len();
        self.text.push_str(&piece);
        if let Some(cut) = find_stop(&self.text, self.stop, before) {
            let shown = self.text[before..cut.max(before)].to_string();
            self.text.truncate(cut);
            self.finish = Some(FinishReason::Stop);
            return Ok(shown);
        }
        Ok(piece)
    }

    /// The text still held back at the end of an unfinished continuation.
    pub fn close(&mut self) -> Result<String> {
        if self.finish.is_some() {
            return Ok(String::new());
        }
        let rest = self.decoder.finish()?;
        self.text.push_str(&rest);
        Ok(rest)
    }
}

/// Where the first stop string that ends after `new_from` begins.
fn find_stop(text: &str, stops: &[String], new_from: usize) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let from = new_from.saturating_sub(s.len() - 1);
            let from = (0..=from).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text[from..].find(s.as_str()).map(|i| from + i)
        })
        .min()
}
