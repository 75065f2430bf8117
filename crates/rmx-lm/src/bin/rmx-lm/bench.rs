//! `rmx-lm bench`: prompt-processing and generation speed on random tokens, like
//! `mlx_lm.benchmark` (median of the trials).

use crate::{CacheArgs, ModelArg};
use clap::Args;
use rmx::Array;
use rmx_lm::stream::{last_rows, prefill};
use rmx_lm::{KvCache, LanguageModel, Result, SamplingParams, Stats, TokenSource, TokenStream};
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Prompt length in tokens.
    #[arg(long, short = 'p', default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens to generate.
    #[arg(long, short = 'g', default_value_t = 128)]
    generation_tokens: usize,
    /// Trials (the median is reported).
    #[arg(long, short = 'n', default_value_t = 3)]
    trials: usize,
    /// Prompt tokens per forward pass.
    #[arg(long, default_value_t = 512)]
    prefill_step: usize,
    /// Prompts processed and continued together (batched generation; tok/s count every row).
    #[arg(long, short = 'b', default_value_t = 1)]
    batch_size: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Cast the floating-point parameters first (float32, bfloat16 or float16).
    #[arg(long)]
    dtype: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: BenchArgs) -> Result<()> {
    let (mut model, config) = rmx_lm::load_model(&args.model.model)?;
    let kv_quantization = args.cache.quantization(&config)?;
    if let Some(name) = &args.dtype {
        model.set_dtype(crate::convert::parse_dtype(name)?, &|_| true)?;
    }
    let vocab = model.vocab_size() as u64;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let prompt: Vec<u32> = (0..args.prompt_tokens.max(1) * args.batch_size.max(1))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % vocab) as u32
        })
        .collect();
    let (mut prefill, mut decode, mut peak) = (Vec::new(), Vec::new(), 0);
    for trial in 0..args.trials.max(1) + 1 {
        let caches = rmx_lm::make_caches(model.as_ref(), args.cache.max_kv_size, kv_quantization)?;
        let stats = if args.batch_size > 1 {
            run_batch(model.as_ref(), caches, &prompt, args.batch_size, args.generation_tokens, args.prefill_step)?
        } else {
            let sampling = SamplingParams { seed: Some(0), ..Default::default() };
            let mut stream = TokenStream::resume(model.as_ref(), caches, &prompt, sampling, args.prefill_step, None)?;
            for _ in 0..args.generation_tokens {
                stream.next_token()?;
            }
            stream.stats
        };
        // The first run warms caches and the allocator; it is not counted.
        if trial > 0 {
            prefill.push(stats.prompt_tps());
            decode.push(stats.generation_tps());
            peak = peak.max(stats.peak_memory);
        }
    }
    let (p, g) = (median(prefill), median(decode));
    if args.json {
        println!(
            "{}",
            serde_json::json!({"model": args.model.model.display().to_string(), "prompt_tokens": args.prompt_tokens, "batch_size": args.batch_size,
                "generation_tokens": args.generation_tokens, "prompt_tps": p, "generation_tps": g, "peak_memory": peak})
        );
    } else {
        println!("prompt_tps {p:.2}  generation_tps {g:.2}  peak_memory {:.3} GB", peak as f64 / 1e9);
    }
    Ok(())
}

/// `rows` prompts of `prompt.len() / rows` tokens each, prefilled as one batch, then
/// `steps` greedy tokens for every row, one forward pass per step.
fn run_batch(
    model: &dyn LanguageModel,
    mut caches: Vec<KvCache>,
    prompt: &[u32],
    rows: usize,
    steps: usize,
    prefill_step: usize,
) -> Result<Stats> {
    let len = prompt.len() / rows;
    rmx::memory::reset_peak_memory();
    let start = Instant::now();
    let mut logits = prefill(model, &Array::from_slice(prompt, &[rows, len])?, &mut caches, prefill_step)?;
    let prompt_time = start.elapsed();
    let start = Instant::now();
    for step in 0..steps {
        let next: Vec<u32> = logits.iter().map(|row| rmx_lm::sample::argmax(row)).collect();
        if step + 1 < steps {
            logits = last_rows(&model.forward(&Array::from_slice(&next, &[rows, 1])?, &mut caches)?)?;
        }
    }
    Ok(Stats {
        prompt_tokens: rows * len,
        prompt_time,
        generation_tokens: rows * steps,
        generation_time: start.elapsed(),
        peak_memory: rmx::memory::peak_memory(),
        ..Stats::default()
    })
}
