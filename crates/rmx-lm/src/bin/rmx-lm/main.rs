//! `rmx-lm`: run language models from the command line — `generate`, `chat`,
//! `cache-prompt`, `convert`, `bench`, `embed`. Every command takes `--model DIR` (a Hugging Face or MLX model directory, or a GGUF file) and
//! defaults to the bundled `models/rmx-alice` (embed needs a BERT model), so each works
//! offline on a fresh checkout.

mod bench;
mod cache_prompt;
mod chat;
mod convert;
mod embed;
mod generate;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The model shipped with the repository (trained by `examples/train_alice.rs`).
const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/rmx-alice");

#[derive(Parser)]
#[command(
    name = "rmx-lm",
    version,
    about = "Run large language models on rmx: generate text, chat, convert and quantize checkpoints, benchmark."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Quantize activations to int8 in 4-bit products, and in 8-bit ones on CPUs with AVX-512
    /// VNNI (llama.cpp's precision, faster decoding), instead of int16 for bf16/f16 and float
    /// for f32 activations (results match MLX within bf16 tolerance).
    #[arg(long, global = true)]
    int8_activations: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Continue a prompt (from --prompt or stdin), streaming the text, then print speed and memory.
    Generate(generate::GenerateArgs),
    /// Talk with a chat model interactively (q quits, r resets the conversation).
    Chat(chat::ChatArgs),
    /// Run a prompt through the model once and save its KV cache for `generate --prompt-cache-file`.
    CachePrompt(cache_prompt::CachePromptArgs),
    /// Convert a Hugging Face model to an MLX-format directory, optionally quantized (q4/q8).
    Convert(convert::ConvertArgs),
    /// Measure prompt-processing and generation speed on random tokens.
    Bench(bench::BenchArgs),
    /// Sentence embeddings from a BERT model (sentence-transformers layout).
    Embed(embed::EmbedArgs),
}

/// The model to load.
#[derive(Args, Clone)]
struct ModelArg {
    /// Model directory (config.json, model*.safetensors, tokenizer.json) or a llama-family
    /// `.gguf` file (llama, mistral, qwen2, qwen3, qwen3moe, phi3; F32/F16/BF16, Q4_0/Q4_1/Q8_0 kept quantized, K-quants dequantized).
    #[arg(long, short = 'm', default_value = DEFAULT_MODEL)]
    model: PathBuf,
}

/// Sampling flags shared by generate and chat.
#[derive(Args, Clone)]
struct SamplingArgs {
    /// Sampling temperature; 0 always picks the most likely token.
    #[arg(long = "temp", default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling: keep the most likely tokens up to this total probability.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Keep only the K most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Drop tokens less likely than this fraction of the most likely one.
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    /// Penalize tokens seen in the last 20 (values > 1 discourage repeats).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Seed for reproducible sampling.
    #[arg(long)]
    seed: Option<u64>,
}

impl SamplingArgs {
    fn params(&self) -> rmx_lm::SamplingParams {
        rmx_lm::SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            seed: self.seed,
            ..Default::default()
        }
    }
}

/// KV cache flags shared by generate, chat and cache-prompt.
#[derive(Args, Clone)]
struct CacheArgs {
    /// Keep at most this many positions in the KV cache (the first 4 and the most recent).
    #[arg(long)]
    max_kv_size: Option<usize>,
    /// Quantize the KV cache to this many bits (2, 3, 4, 5, 6 or 8; as mlx-lm's --kv-bits).
    #[arg(long)]
    kv_bits: Option<u32>,
    /// Group size of the KV cache quantization (must divide the head size).
    #[arg(long, default_value_t = 64)]
    kv_group_size: usize,
    /// Positions cached in full precision before the cache is quantized.
    #[arg(long, default_value_t = 5000)]
    quantized_kv_start: usize,
}

impl CacheArgs {
    /// The requested KV quantization, checked against the model's head size up front.
    fn quantization(&self, config: &rmx_lm::Config) -> rmx_lm::Result<Option<rmx_lm::cache::KvQuantization>> {
        let Some(bits) = self.kv_bits else { return Ok(None) };
        let head = config.head_dim()?;
        if head % self.kv_group_size != 0 {
            return Err(rmx_lm::LmError::Request(format!("--kv-group-size {} does not divide the head size {head}", self.kv_group_size)));
        }
        Ok(Some(rmx_lm::cache::KvQuantization { bits, group_size: self.kv_group_size, start: self.quantized_kv_start }))
    }
}

/// Evaluates `arrays` (reading lazily loaded weights from disk) with a progress bar on
/// stderr, labelled `message`, measured in bytes.
fn evaluate_with_progress<'a>(arrays: impl ExactSizeIterator<Item = &'a rmx::Array> + Clone, message: &'static str) -> rmx_lm::Result<()> {
    let total: usize = arrays.clone().map(rmx::Array::nbytes).sum();
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes}").expect("a valid template");
    let bar = indicatif::ProgressBar::new(total as u64).with_style(style.progress_chars("=> "));
    bar.set_message(message);
    for a in arrays {
        a.eval()?;
        bar.inc(a.nbytes() as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

/// [`rmx_lm::load`], then every weight read from disk under a progress bar (as mlx-lm
/// evaluates the parameters at load), so the first forward pass does not pay for it.
fn load_with_progress(dir: &std::path::Path) -> rmx_lm::Result<rmx_lm::Loaded> {
    let loaded = rmx_lm::load(dir)?;
    let params = loaded.model.parameters();
    evaluate_with_progress(params.values(), "loading")?;
    Ok(loaded)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    rmx::set_int8_activations(cli.int8_activations);
    let result = match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Chat(a) => chat::run(a),
        Command::CachePrompt(a) => cache_prompt::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Embed(a) => embed::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
