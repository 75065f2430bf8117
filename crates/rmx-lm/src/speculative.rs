//! Speculative decoding: a small draft model proposes a few tokens greedily, the model
//! checks all of them in one forward pass, and every proposal up to the first disagreement
//! is kept, plus the model's own token at that point. Acceptance compares the draft's token
//! with the token the model *samples* (as mlx-lm does), so the output is distributed exactly
//! as without a draft; with greedy sampling it is token for token the same. Both caches are
//! rewound past rejected proposals, so they must be trimmable (no rotating caches).

use crate::cache::KvCache;
use crate::error::{LmError, Result};
use crate::models::LanguageModel;
use crate::sample::{argmax, Sampler, SamplingParams};
use crate::stream::{all_rows, check_prompt, last_rows, prefill, Stats, TokenSource};
use rmx::Array;
use std::collections::VecDeque;
use std::time::Instant;

/// A prompt continued by a model with the help of a draft model.
pub struct SpeculativeStream<'m> {
    model: &'m dyn LanguageModel,
    draft: &'m dyn LanguageModel,
    caches: Vec<KvCache>,
    draft_caches: Vec<KvCache>,
    sampler: Sampler,
    num_draft: usize,
    /// Prompt and returned tokens.
    tokens: Vec<u32>,
    /// Tokens decided but not yet returned.
    ready: VecDeque<u32>,
    /// The last decided token, which the model has not seen yet.
    unseen: u32,
    /// Decided tokens the draft has not seen yet.
    draft_unseen: Vec<u32>,
    context: Option<usize>,
    pub stats: Stats,
}

impl<'m> SpeculativeStream<'m> {
    /// Prefills `prompt` into both models; each round then drafts `num_draft` tokens.
    pub fn new(
        model: &'m dyn LanguageModel,
        draft: &'m dyn LanguageModel,
        prompt: &[u32],
        sampling: SamplingParams,
        prefill_step: usize,
        context: Option<usize>,
        num_draft: usize,
    ) -> Result<SpeculativeStream<'m>> {
        check_prompt(model, prompt, 0, context)?;
        check_prompt(draft, prompt, 0, None).map_err(|e| LmError::Request(format!("draft model: {e}")))?;
        let (mut caches, mut draft_caches) = (model.new_cache(), draft.new_cache());
        if !caches.iter().chain(&draft_caches).all(KvCache::is_trimmable) {
            return Err(LmError::NotImplemented("speculative decoding with sliding-window (rotating) caches".into()));
        }
        let mut sampler = Sampler::new(sampling)?;
        rmx::memory::reset_peak_memory();
        let start = Instant::now();
        let ids = Array::from_slice(prompt, &[1, prompt.len()])?;
        let logits = prefill(model, &ids, &mut caches, prefill_step)?.pop().expect("one row");
        prefill(draft, &ids, &mut draft_caches, prefill_step)?;
        let first = sampler.sample(&logits, prompt)?;
        Ok(SpeculativeStream {
            model,
            draft,
            caches,
            draft_caches,
            sampler,
            num_draft: num_draft.max(1),
            tokens: prompt.to_vec(),
            ready: VecDeque::from([first]),
            unseen: first,
            draft_unseen: vec![first],
            context,
            stats: Stats { prompt_tokens: prompt.len(), prompt_time: start.elapsed(), ..Stats::default() },
        })
    }

    /// One round: draft, verify, keep the agreeing prefix plus the model's next token.
    fn round(&mut self) -> Result<()> {
        let room = self.context.map_or(usize::MAX, |c| c.saturating_sub(self.tokens.len() + 1));
        let k = self.num_draft.min(room);
        let proposals = self.propose(k)?;
        let mut input = vec![self.unseen];
        input.extend(&proposals);
        let ids = Array::from_slice(&input, &[1, input.len()])?;
        let rows = all_rows(&self.model.forward(&ids, &mut self.caches)?)?;
        let mut history = self.tokens.clone();
        let mut accepted = 0;
        for (i, row) in rows.iter().enumerate() {
            let token = self.sampler.sample(row, &history)?;
            history.push(token);
            self.ready.push_back(token);
            if proposals.get(i) != Some(&token) {
                break;
            }
            accepted += 1;
        }
        self.stats.drafted += proposals.len();
        self.stats.accepted += accepted;
        // The model saw `unseen` and every proposal; keep `unseen` and the accepted ones.
        for c in &mut self.caches {
            c.trim(proposals.len() - accepted)?;
        }
        // The draft saw its unseen tokens and all proposals but the last.
        let draft_seen = proposals.len().saturating_sub(1);
        for c in &mut self.draft_caches {
            c.trim(draft_seen.saturating_sub(accepted))?;
        }
        self.unseen = *self.ready.back().expect("a round decides at least one token");
        // Without drafting (k == 0) the draft consumed nothing this round.
        let mut pending = if k == 0 { std::mem::take(&mut self.draft_unseen) } else { Vec::new() };
        if accepted == proposals.len() && !proposals.is_empty() {
            pending.push(proposals[proposals.len() - 1]);
        }
        pending.push(self.unseen);
        self.draft_unseen = pending;
        Ok(())
    }

    /// Up to `k` greedy draft tokens continuing the decided ones (fewer if the draft
    /// proposes an id outside the model's vocabulary).
    fn propose(&mut self, k: usize) -> Result<Vec<u32>> {
        let mut proposals = Vec::with_capacity(k);
        if k == 0 {
            return Ok(proposals);
        }
        let mut feed = std::mem::take(&mut self.draft_unseen);
        loop {
            let ids = Array::from_slice(&feed, &[1, feed.len()])?;
            let logits = last_rows(&self.draft.forward(&ids, &mut self.draft_caches)?)?.pop().expect("one row");
            let token = argmax(&logits);
            if token as usize >= self.model.vocab_size() {
                // Nothing after an unusable proposal can be accepted. The draft has seen every
                // proposal; rewind it to having seen all but the last, as after a full draft.
                if !proposals.is_empty() {
                    for c in &mut self.draft_caches {
                        c.trim(1)?;
                    }
                }
                return Ok(proposals);
            }
            proposals.push(token);
            if proposals.len() == k {
                return Ok(proposals);
            }
            feed = vec![token];
        }
    }
}

impl TokenSource for SpeculativeStream<'_> {
    fn next_token(&mut self) -> Result<Option<u32>> {
        let start = Instant::now();
        if self.ready.is_empty() {
            if self.context.is_some_and(|limit| self.tokens.len() >= limit) {
                return Ok(None);
            }
            self.round()?;
        }
        let token = self.ready.pop_front().expect("a round decides at least one token");
        self.tokens.push(token);
        self.stats.record_token(start);
        Ok(Some(token))
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}
