//! The generation engine: prefill a prompt in chunks, then decode one token at a time with
//! the KV caches, sampling each token from the last position's logits. [`TokenStream`] is
//! the reusable core (request in, tokens out) that the CLI and a server drive;
//! [`generate_text`] adds tokenization, streaming detokenization, EOS and stop strings.

use crate::cache::KvCache;
use crate::error::{LmError, Result};
use crate::loader::Loaded;
use crate::models::LanguageModel;
use crate::sample::{Sampler, SamplingParams};
use rmx::{Array, Dtype};
use std::time::{Duration, Instant};

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
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams { max_tokens: 100, sampling: SamplingParams::default(), stop: Vec::new(), prefill_step: 512 }
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

/// Timings of a generation.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub prompt_tokens: usize,
    pub prompt_time: Duration,
    pub generation_tokens: usize,
    pub generation_time: Duration,
    /// Peak bytes allocated by rmx during the generation.
    pub peak_memory: usize,
}

impl Stats {
    pub fn prompt_tps(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }
    pub fn generation_tps(&self) -> f64 {
        self.generation_tokens as f64 / self.generation_time.as_secs_f64().max(1e-9)
    }
}

/// A prompt being continued token by token.
pub struct TokenStream<'m> {
    model: &'m dyn LanguageModel,
    caches: Vec<KvCache>,
    sampler: Sampler,
    tokens: Vec<u32>,
    logits: Option<Vec<f32>>,
    pending: Option<u32>,
    context: Option<usize>,
    pub stats: Stats,
}

impl<'m> TokenStream<'m> {
    /// Prefills `prompt` (in chunks of `prefill_step`). `context` is the model's maximum
    /// number of positions, if known: a longer prompt is an error.
    pub fn new(
        model: &'m dyn LanguageModel,
        prompt: &[u32],
        sampling: SamplingParams,
        prefill_step: usize,
        context: Option<usize>,
    ) -> Result<TokenStream<'m>> {
        if prompt.is_empty() {
            return Err(LmError::Request("empty prompt".into()));
        }
        let vocab = model.vocab_size();
        if let Some(bad) = prompt.iter().find(|&&t| t as usize >= vocab) {
            return Err(LmError::Request(format!("token id {bad} is outside the vocabulary of {vocab}")));
        }
        if let Some(limit) = context {
            if prompt.len() > limit {
                return Err(LmError::Request(format!("the prompt has {} tokens, more than the model's context of {limit}", prompt.len())));
            }
        }
        let sampler = Sampler::new(sampling)?;
        rmx::memory::reset_peak_memory();
        let start = Instant::now();
        let mut caches = model.new_cache();
        let step = prefill_step.max(1);
        let mut logits = None;
        for (i, chunk) in prompt.chunks(step).enumerate() {
            let ids = Array::from_slice(chunk, &[1, chunk.len()])?;
            let out = model.forward(&ids, &mut caches)?;
            if (i + 1) * step >= prompt.len() {
                logits = Some(last_row(&out)?);
            } else {
                // Materialize this chunk's keys and values before the next chunk.
                rmx::eval(&cache_arrays(&caches))?;
            }
        }
        let stats = Stats { prompt_tokens: prompt.len(), prompt_time: start.elapsed(), ..Stats::default() };
        Ok(TokenStream { model, caches, sampler, tokens: prompt.to_vec(), logits, pending: None, context, stats })
    }

    /// The next token, or `None` once the model's context is full.
    pub fn next_token(&mut self) -> Result<Option<u32>> {
        let start = Instant::now();
        if let Some(t) = self.pending.take() {
            if self.context.is_some_and(|limit| self.tokens.len() >= limit) {
                return Ok(None);
            }
            let ids = Array::from_slice(&[t], &[1, 1])?;
            self.logits = Some(last_row(&self.model.forward(&ids, &mut self.caches)?)?);
        }
        let logits = self.logits.take().expect("logits are computed before each draw");
        let token = self.sampler.sample(&logits, &self.tokens)?;
        self.tokens.push(token);
        self.pending = Some(token);
        self.stats.generation_tokens += 1;
        self.stats.generation_time += start.elapsed();
        self.stats.peak_memory = rmx::memory::peak_memory();
        Ok(Some(token))
    }

    /// Prompt and generated tokens so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

/// The float32 logits of the last position of `[1, T, vocab]`.
fn last_row(logits: &Array) -> Result<Vec<f32>> {
    let t = logits.shape()[1] as isize;
    let v = logits.shape()[2] as isize;
    let row = rmx::slice(logits, &[0, t - 1, 0], &[1, t, v], &[1, 1, 1])?;
    Ok(rmx::astype(&row, Dtype::F32)?.to_vec::<f32>()?)
}

fn cache_arrays(caches: &[KvCache]) -> Vec<Array> {
    caches.iter().flat_map(KvCache::arrays).collect()
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
    let tokenizer = loaded.tokenizer.as_ref().ok_or_else(|| LmError::file(&loaded.dir.join("tokenizer.json"), "not found"))?;
    if text.is_empty() {
        return Err(LmError::Request("empty prompt".into()));
    }
    let prompt = tokenizer.encode(text, true)?;
    generate_from_tokens(loaded, &prompt, params, on_text)
}

/// Like [`generate_text`] from prompt token ids.
pub fn generate_from_tokens(
    loaded: &Loaded,
    prompt: &[u32],
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Generation> {
    let tokenizer = loaded.tokenizer.as_ref().ok_or_else(|| LmError::file(&loaded.dir.join("tokenizer.json"), "not found"))?;
    let context = loaded.config.opt_usize("max_position_embeddings")?;
    let mut stream = TokenStream::new(loaded.model.as_ref(), prompt, params.sampling.clone(), params.prefill_step, context)?;
    let mut decoder = tokenizer.stream();
    let (mut text, mut generated) = (String::new(), Vec::new());
    let mut finish = FinishReason::Length;
    while generated.len() < params.max_tokens {
        let Some(token) = stream.next_token()? else { break };
        if loaded.eos_token_ids.contains(&token) {
            finish = FinishReason::Stop;
            break;
        }
        generated.push(token);
        let piece = decoder.push(token)?;
        if piece.is_empty() {
            continue;
        }
        let before = text.len();
        text.push_str(&piece);
        if let Some(cut) = find_stop(&text, &params.stop, before) {
            let emitted = text[before..cut.max(before)].to_string();
            text.truncate(cut);
            if !emitted.is_empty() {
                on_text(&emitted);
            }
            finish = FinishReason::Stop;
            break;
        }
        if !on_text(&piece) {
            finish = FinishReason::Stop;
            break;
        }
    }
    if finish == FinishReason::Length {
        let rest = decoder.finish()?;
        if !rest.is_empty() {
            text.push_str(&rest);
            on_text(&rest);
        }
    }
    Ok(Generation { text, tokens: generated, finish_reason: finish, stats: stream.stats.clone() })
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
