//! Choosing the next token from logits, as mlx-lm does: logits processors (logit bias,
//! repetition penalty over the recent context) and then either argmax (`temperature == 0`)
//! or top-p → min-p → top-k filtering of the distribution and a draw at the temperature.
//! Runs on the host over one row of logits; a seeded generator makes draws reproducible.

use crate::error::{LmError, Result};
use std::collections::HashMap;

/// Sampling settings (mlx-lm's defaults: greedy, no filters).
#[derive(Clone, Debug)]
pub struct SamplingParams {
    /// 0 picks the most likely token.
    pub temperature: f32,
    /// Keep the smallest set of tokens whose probability reaches this (1 = off).
    pub top_p: f32,
    /// Keep the `top_k` most likely tokens (0 = off).
    pub top_k: usize,
    /// Drop tokens less likely than `min_p` times the most likely one (0 = off).
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens by this (1 = off).
    pub repetition_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    pub repetition_context: usize,
    /// Added to the logits of the given tokens.
    pub logit_bias: HashMap<u32, f32>,
    /// Seed of the draws; `None` seeds from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            repetition_context: 20,
            logit_bias: HashMap::new(),
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Rejects values outside their ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(LmError::Request(what));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature must be a finite number >= 0, got {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad(format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad(format!("repetition_penalty must be a finite number > 0, got {}", self.repetition_penalty));
        }
        Ok(())
    }
}

/// Draws tokens according to [`SamplingParams`].
#[derive(Clone, Debug)]
pub struct Sampler {
    params: SamplingParams,
    rng: SplitMix64,
}

impl Sampler {
    /// ```
    /// use rmx_lm::sample::{Sampler, SamplingParams};
    /// let mut greedy = Sampler::new(SamplingParams::default())?;
    /// assert_eq!(greedy.sample(&[0.1, 2.0, -1.0], &[])?, 1);
    /// # Ok::<(), rmx_lm::LmError>(())
    /// ```
    pub fn new(params: SamplingParams) -> Result<Sampler> {
        params.validate()?;
        let seed = params
            .seed
            .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
        Ok(Sampler { params, rng: SplitMix64(seed) })
    }

    /// The next token given the logits of the last position and the tokens so far.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(LmError::Request("no logits to sample from".into()));
        }
        let mut logits = logits.to_vec();
        self.process(&mut logits, history)?;
        let p = &self.params;
        if p.temperature == 0.0 {
            return Ok(argmax(&logits));
        }
        // Probabilities at temperature 1 decide what is kept (as in mlx-lm).
        let probs = softmax(&logits, 1.0);
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_unstable_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        let mut keep = order.len();
        if p.top_p < 1.0 {
            let mut mass = 0.0;
            keep = order
                .iter()
                .position(|&i| {
                    mass += probs[i];
                    mass >= p.top_p
                })
                .map_or(keep, |i| i + 1);
        }
        if p.min_p > 0.0 {
            let floor = probs[order[0]] * p.min_p;
            keep = keep.min(order.iter().take_while(|&&i| probs[i] >= floor).count().max(1));
        }
        if p.top_k > 0 {
            keep = keep.min(p.top_k);
        }
        let kept = &order[..keep];
        let weights = softmax(&kept.iter().map(|&i| logits[i]).collect::<Vec<_>>(), p.temperature);
        let mut u = self.rng.next_f32();
        for (&i, w) in kept.iter().zip(&weights) {
            if u < *w {
                return Ok(i as u32);
            }
            u -= w;
        }
        Ok(kept[keep - 1] as u32)
    }

    fn process(&self, logits: &mut [f32], history: &[u32]) -> Result<()> {
        let vocab = logits.len();
        for (&token, &bias) in &self.params.logit_bias {
            let slot = logits
                .get_mut(token as usize)
                .ok_or_else(|| LmError::Request(format!("logit_bias token {token} is outside the vocabulary of {vocab}")))?;
            *slot += bias;
        }
        let penalty = self.params.repetition_penalty;
        if penalty != 1.0 {
            let recent = &history[history.len().saturating_sub(self.params.repetition_context)..];
            let mut seen = recent.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
                }
            }
        }
        Ok(())
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| ((l - max) / temperature).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// A small, fast, seedable generator (SplitMix64).
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(p: SamplingParams) -> Sampler {
        Sampler::new(SamplingParams { seed: Some(7), ..p }).unwrap()
    }

    #[test]
    fn filters_keep_only_what_they_allow() {
        let logits = [3.0, 2.9, 0.0, -1.0, 1.0];
        let mut top1 = sampler(SamplingParams { temperature: 1.0, top_k: 1, ..Default::default() });
        assert!((0..50).all(|_| top1.sample(&logits, &[]).unwrap() == 0));
        let mut top2 = sampler(SamplingParams { temperature: 5.0, top_k: 2, ..Default::default() });
        let draws: Vec<u32> = (0..200).map(|_| top2.sample(&logits, &[]).unwrap()).collect();
        assert!(draws.iter().all(|&t| t < 2) && draws.contains(&0) && draws.contains(&1));
        let mut min_p = sampler(SamplingParams { temperature: 5.0, min_p: 0.5, ..Default::default() });
        assert!((0..200).all(|_| min_p.sample(&logits, &[]).unwrap() < 2));
        // top_p 0.5: the first token alone holds ~0.46, so two are kept.
        let mut top_p = sampler(SamplingParams { temperature: 1.0, top_p: 0.5, ..Default::default() });
        assert!((0..200).all(|_| top_p.sample(&logits, &[]).unwrap() < 2));
    }

    #[test]
    fn draws_follow_the_distribution_and_the_seed() {
        let logits = [0.0f32, (3.0f32).ln()];
        let mut s = sampler(SamplingParams { temperature: 1.0, ..Default::default() });
        let ones = (0..4000).filter(|_| s.sample(&logits, &[]).unwrap() == 1).count();
        assert!((ones as f64 / 4000.0 - 0.75).abs() < 0.03, "{ones}");
        let run = |seed| {
            let mut s = Sampler::new(SamplingParams { temperature: 1.0, seed: Some(seed), ..Default::default() }).unwrap();
            (0..20).map(|_| s.sample(&logits, &[]).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn processors_and_validation() {
        let mut s = sampler(SamplingParams { repetition_penalty: 4.0, ..Default::default() });
        assert_eq!(s.sample(&[2.0, 1.0], &[0]).unwrap(), 1);
        let mut b = sampler(SamplingParams { logit_bias: [(1, 5.0)].into(), ..Default::default() });
        assert_eq!(b.sample(&[2.0, 1.0], &[]).unwrap(), 1);
        assert!(b.sample(&[2.0], &[]).is_err());
        assert!(Sampler::new(SamplingParams { top_p: 0.0, ..Default::default() }).is_err());
        assert!(Sampler::new(SamplingParams { temperature: -1.0, ..Default::default() }).is_err());
    }
}
