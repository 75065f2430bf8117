//! Batched generation: several prompts continued together, one forward pass per step for
//! all of them. Prompts are left-padded to a common length and every cache hides each row's
//! padding; rotary positions are relative, so a row's continuation is the one it would get
//! alone. Each row has its own sampler (seeded `seed + row`), EOS and stop strings; rows that
//! finish early are carried along until the last one ends.

use crate::error::{LmError, Result};
use crate::generate::{FinishReason, GenerateParams, Generation, TextCollector};
use crate::loader::Loaded;
use crate::sample::{Sampler, SamplingParams};
use crate::stream::{check_prompt, last_rows, make_caches, prefill, Stats};
use rmx::Array;
use std::time::Instant;

/// Continues every prompt (token ids) with `params`; one [`Generation`] per prompt, in order.
///
/// ```no_run
/// let loaded = rmx_lm::load("models/rmx-alice")?;
/// let tok = loaded.tokenizer.as_ref().unwrap();
/// let prompts = vec![tok.encode("Alice", true)?, tok.encode("The Queen said", true)?];
/// let params = rmx_lm::GenerateParams { max_tokens: 16, ..Default::default() };
/// for g in rmx_lm::generate_batch(&loaded, &prompts, &params)? {
///     println!("{}", g.text);
/// }
/// # Ok::<(), rmx_lm::LmError>(())
/// ```
pub fn generate_batch(loaded: &Loaded, prompts: &[Vec<u32>], params: &GenerateParams) -> Result<Vec<Generation>> {
    let model = loaded.model.as_ref();
    let tokenizer = loaded.tokenizer()?;
    if prompts.is_empty() {
        return Err(LmError::Request("no prompts to generate from".into()));
    }
    let context = loaded.config.opt_usize("max_position_embeddings")?;
    for (i, p) in prompts.iter().enumerate() {
        check_prompt(model, p, 0, context).map_err(|e| LmError::Request(format!("prompt {i}: {e}")))?;
    }
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let mut ids = Vec::with_capacity(prompts.len() * longest);
    for (p, &pad) in prompts.iter().zip(&padding) {
        ids.extend(std::iter::repeat_n(p[0], pad).chain(p.iter().copied()));
    }
    let mut samplers = (0..prompts.len())
        .map(|row| Sampler::new(SamplingParams { seed: params.sampling.seed.map(|s| s + row as u64), ..params.sampling.clone() }))
        .collect::<Result<Vec<_>>>()?;
    let mut caches = make_caches(model, params.max_kv_size, params.kv_quantization)?;
    for c in &mut caches {
        c.set_left_padding(padding.clone());
    }
    rmx::memory::reset_peak_memory();
    let start = Instant::now();
    let mut logits = prefill(model, &Array::from_slice(&ids, &[prompts.len(), longest])?, &mut caches, params.prefill_step)?;
    let prompt_time = start.elapsed();
    let start = Instant::now();
    let mut rows: Vec<TextCollector> = prompts.iter().map(|_| TextCollector::new(tokenizer, &loaded.eos_token_ids, &params.stop)).collect();
    let mut histories = prompts.to_vec();
    let mut positions = longest;
    let mut steps = 0;
    loop {
        let mut next = Vec::with_capacity(rows.len());
        for (row, text) in rows.iter_mut().enumerate() {
            if text.finish.is_some() || text.tokens.len() >= params.max_tokens {
                next.push(histories[row][histories[row].len() - 1]);
                continue;
            }
            let token = samplers[row].sample(&logits[row], &histories[row])?;
            histories[row].push(token);
            text.push(token)?;
            steps += 1;
            next.push(token);
        }
        let active = rows.iter().any(|t| t.finish.is_none() && t.tokens.len() < params.max_tokens);
        if !active || context.is_some_and(|c| positions >= c) {
            break;
        }
        logits = last_rows(&model.forward(&Array::from_slice(&next, &[next.len(), 1])?, &mut caches)?)?;
        positions += 1;
    }
    let stats = Stats {
        prompt_tokens: prompts.iter().map(Vec::len).sum(),
        prompt_time,
        generation_tokens: steps,
        generation_time: start.elapsed(),
        peak_memory: rmx::memory::peak_memory(),
        ..Stats::default()
    };
    rows.into_iter()
        .map(|mut text| {
            text.close()?;
            let finish = text.finish.unwrap_or(FinishReason::Length);
            Ok(Generation { text: text.text, tokens: text.tokens, finish_reason: finish, stats: stats.clone() })
        })
        .collect()
}
