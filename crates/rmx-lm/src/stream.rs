//! Token streams: a prompt prefilled in chunks through the KV caches, then continued one
//! sampled token at a time. [`TokenStream`] is the plain engine;
//! [`crate::speculative::SpeculativeStream`] produces the same kind of stream with a draft
//! model. Both are [`TokenSource`]s, which the text layer ([`crate::generate`]) and the CLI
//! drive.

use crate::cache::{KvCache, KvQuantization, Span};
use crate::error::{LmError, Result};
use crate::models::LanguageModel;
use crate::sample::{Sampler, SamplingParams};
use rmx::{Array, Dtype};
use std::time::{Duration, Instant};

/// Timings of a generation.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub prompt_tokens: usize,
    pub prompt_time: Duration,
    pub generation_tokens: usize,
    pub generation_time: Duration,
    /// Peak bytes allocated by rmx during the generation.
    pub peak_memory: usize,
    /// Speculative decoding: tokens the draft proposed and how many the model accepted.
    pub drafted: usize,
    pub accepted: usize,
}

impl Stats {
    pub fn prompt_tps(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }
    pub fn generation_tps(&self) -> f64 {
        self.generation_tokens as f64 / self.generation_time.as_secs_f64().max(1e-9)
    }

    /// Counts one generated token whose work began at `start`, and the peak memory so far.
    pub fn record_token(&mut self, start: Instant) {
        self.generation_tokens += 1;
        self.generation_time += start.elapsed();
        self.peak_memory = rmx::memory::peak_memory();
    }
}

/// Anything that yields a prompt's continuation token by token.
pub trait TokenSource {
    /// The next token, or `None` once the model's context is full.
    fn next_token(&mut self) -> Result<Option<u32>>;
    fn stats(&self) -> &Stats;
}

/// The caches for a generation: the model's own kinds, with every full-attention cache
/// bounded to `max_kv_size` positions (keeping the first 4, as mlx-lm) or quantized
/// (`kv_quantization`) when asked. A cache cannot be both (as in mlx-lm).
pub fn make_caches(model: &dyn LanguageModel, max_kv_size: Option<usize>, kv_quantization: Option<KvQuantization>) -> Result<Vec<KvCache>> {
    if max_kv_size.is_some() && kv_quantization.is_some() {
        return Err(LmError::Request("a quantized KV cache cannot also be bounded (max_kv_size): choose one".into()));
    }
    model
        .new_cache()
        .into_iter()
        .map(|c| match (max_kv_size, kv_quantization, c.span()) {
            (Some(n), _, Span::Full) => KvCache::rotating(n, 4),
            (_, Some(q), Span::Full) => KvCache::quantized(q),
            _ => Ok(c),
        })
        .collect()
}

/// Errors unless `prompt` is a non-empty run of the model's token ids that fits, after
/// `cached` positions, in `context`.
pub fn check_prompt(model: &dyn LanguageModel, prompt: &[u32], cached: usize, context: Option<usize>) -> Result<()> {
    if prompt.is_empty() {
        return Err(LmError::Request("empty prompt".into()));
    }
    let vocab = model.vocab_size();
    if let Some(bad) = prompt.iter().find(|&&t| t as usize >= vocab) {
        return Err(LmError::Request(format!("token id {bad} is outside the vocabulary of {vocab}")));
    }
    if let Some(limit) = context {
        if cached + prompt.len() > limit {
            return Err(LmError::Request(format!(
                "the prompt has {} tokens{}, more than the model's context of {limit}",
                prompt.len(),
                if cached > 0 { format!(" after {cached} cached ones") } else { String::new() }
            )));
        }
    }
    Ok(())
}

/// Runs `prompt` (`[B, T]` ids) through the model and returns the float32 logits of the last
/// position of each row. As mlx-lm's generate_step: all but the last token in chunks of `step`
/// positions, then the last token alone (which matters where caches change between calls,
/// such as a quantized cache converting once it holds enough positions).
pub fn prefill(model: &dyn LanguageModel, ids: &Array, caches: &mut [KvCache], step: usize) -> Result<Vec<Vec<f32>>> {
    let (rows, t) = (ids.shape()[0], ids.shape()[1]);
    let total = caches.first().map_or(0, KvCache::offset) + t;
    caches.iter_mut().for_each(|c| c.expect_length(total));
    let step = step.max(1);
    let mut start = 0;
    loop {
        let end = if start + 1 < t { (start + step).min(t - 1) } else { t };
        let chunk = rmx::slice(ids, &[0, start as isize], &[rows as isize, end as isize], &[1, 1])?;
        let out = model.forward(&chunk, caches)?;
        if end == t {
            return last_rows(&out);
        }
        // Materialize this chunk's keys and values before the next chunk.
        rmx::eval(&caches.iter().flat_map(KvCache::arrays).collect::<Vec<_>>())?;
        start = end;
    }
}

/// The float32 logits of the last position of each row of `[B, T, vocab]`.
pub fn last_rows(logits: &Array) -> Result<Vec<Vec<f32>>> {
    let s = logits.shape();
    let (b, t, v) = (s[0], s[1] as isize, s[2]);
    let last = rmx::slice(logits, &[0, t - 1, 0], &[b as isize, t, v as isize], &[1, 1, 1])?;
    let flat = rmx::astype(&last, Dtype::F32)?.to_vec::<f32>()?;
    Ok(flat.chunks(v.max(1)).map(<[f32]>::to_vec).collect())
}

/// All positions' float32 logits of a `[1, T, vocab]` output, one row per position.
pub fn all_rows(logits: &Array) -> Result<Vec<Vec<f32>>> {
    let v = logits.shape()[2];
    let flat = rmx::astype(logits, Dtype::F32)?.to_vec::<f32>()?;
    Ok(flat.chunks(v.max(1)).map(<[f32]>::to_vec).collect())
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
    prefill_step: usize,
    pub stats: Stats,
}

impl<'m> TokenStream<'m> {
    /// Prefills `prompt` (in chunks of `prefill_step`) into fresh caches. `context` is the
    /// model's maximum number of positions, if known: a longer prompt is an error.
    pub fn new(
        model: &'m dyn LanguageModel,
        prompt: &[u32],
        sampling: SamplingParams,
        prefill_step: usize,
        context: Option<usize>,
    ) -> Result<TokenStream<'m>> {
        TokenStream::resume(model, model.new_cache(), prompt, sampling, prefill_step, context)
    }

    /// Like [`TokenStream::new`], continuing `caches` (a prompt cache: `prompt` follows
    /// what they hold). A LongRoPE model whose sequence outgrows its original context
    /// recomputes only the tokens of this stream: the cached prefix keeps its rotation.
    pub fn resume(
        model: &'m dyn LanguageModel,
        mut caches: Vec<KvCache>,
        prompt: &[u32],
        sampling: SamplingParams,
        prefill_step: usize,
        context: Option<usize>,
    ) -> Result<TokenStream<'m>> {
        let cached = caches.first().map_or(0, KvCache::offset);
        check_prompt(model, prompt, cached, context)?;
        let sampler = Sampler::new(sampling)?;
        rmx::memory::reset_peak_memory();
        let start = Instant::now();
        let ids = Array::from_slice(prompt, &[1, prompt.len()])?;
        let logits = prefill(model, &ids, &mut caches, prefill_step)?.pop();
        let stats = Stats { prompt_tokens: prompt.len(), prompt_time: start.elapsed(), ..Stats::default() };
        Ok(TokenStream {
            model,
            caches,
            sampler,
            tokens: prompt.to_vec(),
            logits,
            pending: None,
            context: context.map(|c| c - cached),
            prefill_step,
            stats,
        })
    }

    /// Prompt and generated tokens so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The caches and the tokens they hold since the stream began: the prompt and every
    /// returned token except the last (which has not been through the model yet).
    pub fn into_caches(mut self) -> (Vec<KvCache>, Vec<u32>) {
        if self.pending.is_some() {
            self.tokens.pop();
        }
        (self.caches, self.tokens)
    }
}

impl TokenStream<'_> {
    /// Runs the last sampled token `t` through the model: the logits of the next position.
    /// When this token takes a LongRoPE model past its original context, the whole sequence
    /// is recomputed with the long rotation instead (transformers' Phi-3 drops its cache at
    /// that point too), unless the caches began with a prompt cache whose tokens are unknown.
    fn advance(&mut self, t: u32) -> Result<Option<Vec<f32>>> {
        let cached = self.caches.first().map_or(0, KvCache::offset);
        let whole_sequence_known = self.tokens.len() == cached + 1;
        if self.model.long_context_from() == Some(cached) && whole_sequence_known {
            self.caches = self.caches.iter().map(KvCache::emptied).collect();
            let ids = Array::from_slice(&self.tokens, &[1, self.tokens.len()])?;
            return Ok(prefill(self.model, &ids, &mut self.caches, self.prefill_step)?.pop());
        }
        let ids = Array::from_slice(&[t], &[1, 1])?;
        Ok(last_rows(&self.model.forward(&ids, &mut self.caches)?)?.pop())
    }
}

impl TokenSource for TokenStream<'_> {
    fn next_token(&mut self) -> Result<Option<u32>> {
        let start = Instant::now();
        if let Some(t) = self.pending.take() {
            if self.context.is_some_and(|limit| self.tokens.len() >= limit) {
                return Ok(None);
            }
            self.logits = self.advance(t)?;
        }
        let logits = self.logits.take().expect("logits are computed before each draw");
        let token = self.sampler.sample(&logits, &self.tokens)?;
        self.tokens.push(token);
        self.pending = Some(token);
        self.stats.record_token(start);
        Ok(Some(token))
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}
