//! A character-level transformer language model trained on the bundled *Alice's
//! Adventures in Wonderland* (`data/alice29.txt`): causal self-attention over 64-character
//! windows, next-character cross entropy. Reports the held-out loss against the unigram
//! entropy of the text (what a model that ignores context would reach) and samples text.
//!
//! Run: `cargo run --release -p rmx-nn --example char_transformer`

use rmx::{Array, AttentionMask, Dtype, Result};
use rmx_nn::{activations, losses, optim, Embedding, Linear, Module, TransformerEncoder};

const CONTEXT: usize = 64;

/// Held-out loss and the unigram entropy, both in nats per character.
pub struct Report {
    pub validation_loss: f32,
    pub unigram_entropy: f64,
    pub sample: String,
}

struct CharLm {
    embedding: Embedding,
    positions: Embedding,
    encoder: TransformerEncoder,
    out: Linear,
}
rmx_nn::visit!(CharLm { embedding, positions, encoder, out });
impl Module for CharLm {}

impl CharLm {
    fn new(vocab: usize, dims: usize, layers: usize, heads: usize) -> Result<CharLm> {
        Ok(CharLm {
            embedding: Embedding::new(vocab, dims)?,
            positions: Embedding::new(CONTEXT, dims)?,
            encoder: TransformerEncoder::new(layers, dims, heads, Some(4 * dims), 0.0, activations::gelu, true)?,
            out: Linear::new(dims, vocab, true)?,
        })
    }

    /// `ids [B, T]` → logits `[B, T, vocab]`.
    fn forward(&self, ids: &Array) -> Result<Array> {
        let t = ids.shape()[1];
        let pos = self.positions.forward(&rmx::arange(0.0, t as f64, 1.0, Dtype::I32)?)?;
        let h = rmx::add(&self.embedding.forward(ids)?, &pos)?;
        self.out.forward(&self.encoder.forward(&h, Some(&AttentionMask::Causal))?)
    }
}

/// The text as ids over its sorted character set, and that set.
fn encode(text: &str) -> (Vec<i32>, Vec<char>) {
    let mut chars: Vec<char> = text.chars().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    chars.sort();
    let ids = text.chars().map(|c| chars.binary_search(&c).expect("in the set") as i32).collect();
    (ids, chars)
}

/// Entropy of the character distribution of `ids`, in nats.
fn unigram_entropy(ids: &[i32], vocab: usize) -> f64 {
    let mut counts = vec![0usize; vocab];
    ids.iter().for_each(|&i| counts[i as usize] += 1);
    let n = ids.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / n) * (c as f64 / n).ln()).sum()
}

/// `batch` random windows of `CONTEXT + 1` characters: (inputs, next-character targets).
fn windows(ids: &Array, batch: usize, key: &Array) -> Result<(Array, Array)> {
    let starts = rmx::random::randint(0, (ids.size() - CONTEXT - 1) as i64, &[batch, 1], Dtype::I32, Some(key))?;
    let offsets = rmx::reshape(&rmx::arange(0.0, (CONTEXT + 1) as f64, 1.0, Dtype::I32)?, &[1, -1])?;
    let w = rmx::take(ids, &rmx::add(&starts, &offsets)?, None)?;
    let (c, b) = (CONTEXT as isize, batch as isize);
    Ok((rmx::slice(&w, &[0, 0], &[b, c], &[1, 1])?, rmx::slice(&w, &[0, 1], &[b, c + 1], &[1, 1])?))
}

pub fn run(steps: usize, dims: usize, verbose: bool) -> Result<Report> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/alice29.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| rmx::Error::Io { path: path.display().to_string(), detail: e.to_string() })?;
    let (ids, chars) = encode(&text);
    let cut = ids.len() * 9 / 10;
    let train = Array::from_slice(&ids[..cut], &[cut])?;
    let valid = Array::from_slice(&ids[cut..], &[ids.len() - cut])?;
    let entropy = unigram_entropy(&ids[..cut], chars.len());

    rmx::random::seed(0);
    let mut model = CharLm::new(chars.len(), dims, 2, 4)?;
    let mut opt = optim::Optimizer::new(optim::AdamW::default(), optim::schedulers::cosine_decay(3e-3, steps, 3e-4));
    let loss_of = |m: &CharLm, x: &Array, y: &Array| losses::cross_entropy(&m.forward(x)?, y, None, -1, 0.0, losses::Reduction::Mean);
    for step in 0..steps {
        let (x, y) = windows(&train, 32, &rmx::random::key(step as u64))?;
        let (loss, grads) = rmx_nn::value_and_grad(&mut model, |m| Ok(vec![loss_of(m, &x, &y)?]))?;
        let (grads, _) = optim::clip_grad_norm(&grads, 1.0)?;
        opt.update(&mut model, &grads)?;
        rmx_nn::module::eval_parameters(&model)?;
        if verbose && step % 50 == 0 {
            println!("step {step:>4}  loss {:.3}  (unigram entropy {entropy:.3})", loss[0].item::<f32>()?);
        }
    }
    let (x, y) = windows(&valid, 64, &rmx::random::key(999_999))?;
    let validation_loss = loss_of(&model, &x, &y)?.item::<f32>()?;
    Ok(Report { validation_loss, unigram_entropy: entropy, sample: sample(&model, &chars, "Alice was ", 80)? })
}

/// Greedy continuation of `prompt` by `n` characters.
fn sample(model: &CharLm, chars: &[char], prompt: &str, n: usize) -> Result<String> {
    let mut ids: Vec<i32> = prompt.chars().filter_map(|c| chars.binary_search(&c).ok().map(|i| i as i32)).collect();
    for _ in 0..n {
        let window = &ids[ids.len().saturating_sub(CONTEXT)..];
        let logits = model.forward(&Array::from_slice(window, &[1, window.len()])?)?;
        let last = rmx::slice(&logits, &[0, window.len() as isize - 1, 0], &[1, window.len() as isize, chars.len() as isize], &[1, 1, 1])?;
        ids.push(rmx::argmax(&last, None, false)?.item::<u32>()? as i32);
    }
    Ok(ids.iter().map(|&i| chars[i as usize]).collect())
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let t = std::time::Instant::now();
    let steps = std::env::var("STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let report = run(steps, 128, true)?;
    println!(
        "validation loss {:.3} nats/char vs unigram entropy {:.3} ({:.1} s)\nsample: {:?}",
        report.validation_loss,
        report.unigram_entropy,
        t.elapsed().as_secs_f64(),
        report.sample
    );
    Ok(())
}
