//! Trains rmx-lm's bundled default model, `models/rmx-alice`: a byte-level BPE tokenizer and
//! a small llama-architecture language model, both learned from *Alice's Adventures in
//! Wonderland* (`data/alice29.txt`, public domain) with rmx itself, saved in the standard
//! Hugging Face layout (`config.json`, `model.safetensors`, `tokenizer.json`, ...) that
//! `rmx-lm generate --model DIR` (and transformers, and mlx-lm) load.
//!
//! Run: `cargo run --release -p rmx-lm --example train_alice [OUT_DIR]` (STEPS=N to change the
//! number of steps; the committed model used the default).

use rmx::{Array, Dtype};
use rmx_lm::cache::KvCache;
use rmx_lm::models::{decoder::CausalTransformer, LanguageModel};
use rmx_nn::{losses, optim, Module};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Size of the tokenizer's vocabulary (256 bytes, merges and one special token).
pub const VOCAB: usize = 1024;
/// Training window, in tokens.
pub const CONTEXT: usize = 128;
/// The special token that marks the start and end of a text.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// What a training run reached, in nats per token.
pub struct Report {
    pub train_loss: f32,
    pub validation_loss: f32,
    pub unigram_entropy: f64,
}

fn alice() -> Result<String, Error> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/alice29.txt");
    Ok(std::fs::read_to_string(path)?)
}

/// A byte-level BPE tokenizer (GPT-2 style) learned from `text`.
pub fn train_tokenizer(text: &str) -> Result<tokenizers::Tokenizer, Error> {
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(VOCAB)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(vec![AddedToken::from(END_OF_TEXT, true)])
        .build();
    let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    tokenizer.with_post_processor(Some(ByteLevel::default().trim_offsets(false)));
    let mut trainer = TrainerWrapper::BpeTrainer(trainer);
    tokenizer.train(&mut trainer, text.split_inclusive('\n'))?;
    Ok(tokenizer)
}

/// The model's `config.json`.
pub fn config(vocab: usize) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true,
        "hidden_act": "silu",
        "bos_token_id": 0,
        "eos_token_id": 0,
        "torch_dtype": "float32"
    })
}

/// Replaces the placeholder weights: norms start at one, everything else normal(0, 0.02).
fn initialize(model: &mut CausalTransformer) -> rmx::Result<()> {
    let fresh: BTreeMap<String, Array> = model
        .parameters()
        .into_iter()
        .map(|(name, p)| {
            let value = if name.ends_with("norm.weight") {
                rmx::ones(p.shape(), Dtype::F32)?
            } else {
                rmx::random::normal(p.shape(), Dtype::F32, 0.0, 0.02, None)?
            };
            Ok((name, value))
        })
        .collect::<rmx::Result<_>>()?;
    model.update(&fresh, true)
}

fn unigram_entropy(ids: &[u32], vocab: usize) -> f64 {
    let mut counts = vec![0usize; vocab];
    ids.iter().for_each(|&i| counts[i as usize] += 1);
    let n = ids.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / n) * (c as f64 / n).ln()).sum()
}

/// `batch` random windows of `CONTEXT + 1` tokens: (inputs, next-token targets).
fn windows(ids: &Array, batch: usize, key: &Array) -> rmx::Result<(Array, Array)> {
    let starts = rmx::random::randint(0, (ids.size() - CONTEXT - 1) as i64, &[batch, 1], Dtype::I32, Some(key))?;
    let offsets = rmx::reshape(&rmx::arange(0.0, (CONTEXT + 1) as f64, 1.0, Dtype::I32)?, &[1, -1])?;
    let w = rmx::take(ids, &rmx::add(&starts, &offsets)?, None)?;
    let (c, b) = (CONTEXT as isize, batch as isize);
    Ok((rmx::slice(&w, &[0, 0], &[b, c], &[1, 1])?, rmx::slice(&w, &[0, 1], &[b, c + 1], &[1, 1])?))
}

fn loss(model: &CausalTransformer, x: &Array, y: &Array) -> rmx::Result<Array> {
    let mut caches = vec![KvCache::off(); model.model.layers.len()];
    let logits = model.forward(x, &mut caches).map_err(|e| rmx::Error::Eval(e.to_string()))?;
    losses::cross_entropy(&logits, y, None, -1, 0.0, losses::Reduction::Mean)
}

/// Trains for `steps` steps and writes the model directory to `out`.
pub fn run(out: &Path, steps: usize, verbose: bool) -> Result<Report, Error> {
    let text = alice()?;
    let tokenizer = train_tokenizer(&text)?;
    let ids = tokenizer.encode(text.as_str(), false)?.get_ids().to_vec();
    let vocab = tokenizer.get_vocab_size(true);
    let cut = ids.len() * 95 / 100;
    let (train, valid) = (Array::from_slice(&ids[..cut], &[cut])?, Array::from_slice(&ids[cut..], &[ids.len() - cut])?);
    let config_json = config(vocab);
    let config = rmx_lm::Config::parse(&config_json.to_string(), "config.json")?;

    rmx::random::seed(0);
    let mut model = rmx_lm::models::llama::build(&config)?;
    initialize(&mut model)?;
    let mut opt = optim::Optimizer::new(optim::AdamW::default(), optim::schedulers::cosine_decay(3e-3, steps, 2e-4));
    let mut train_loss = f32::NAN;
    for step in 0..steps {
        let (x, y) = windows(&train, 16, &rmx::random::key(step as u64))?;
        let (l, grads) = rmx_nn::value_and_grad(&mut model, |m| Ok(vec![loss(m, &x, &y)?]))?;
        let (grads, _) = optim::clip_grad_norm(&grads, 1.0)?;
        opt.update(&mut model, &grads)?;
        rmx_nn::module::eval_parameters(&model)?;
        train_loss = l[0].item::<f32>()?;
        if verbose && step % 50 == 0 {
            println!("step {step:>5}  loss {train_loss:.3}");
        }
    }
    let (x, y) = windows(&valid, 32, &rmx::random::key(1 << 40))?;
    let validation_loss = loss(&model, &x, &y)?.item::<f32>()?;
    save(out, &model, &tokenizer, &config_json)?;
    Ok(Report { train_loss, validation_loss, unigram_entropy: unigram_entropy(&ids[..cut], vocab) })
}

fn save(out: &Path, model: &CausalTransformer, tokenizer: &tokenizers::Tokenizer, config: &serde_json::Value) -> Result<(), Error> {
    std::fs::create_dir_all(out)?;
    rmx_nn::save_weights(model, out.join("model.safetensors"))?;
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("JSON values serialize");
    std::fs::write(out.join("config.json"), pretty(config) + "\n")?;
    std::fs::write(out.join("generation_config.json"), pretty(&serde_json::json!({"bos_token_id": 0, "eos_token_id": 0})) + "\n")?;
    std::fs::write(
        out.join("tokenizer_config.json"),
        pretty(&serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": END_OF_TEXT,
            "eos_token": END_OF_TEXT,
            "unk_token": END_OF_TEXT,
            "add_bos_token": false,
            "model_max_length": 512
        })) + "\n",
    )?;
    tokenizer.save(out.join("tokenizer.json"), false)?;
    Ok(())
}

#[allow(dead_code)]
fn main() -> Result<(), Error> {
    let out =
        std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/rmx-alice"));
    let steps = std::env::var("STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(1500);
    let t = std::time::Instant::now();
    let r = run(&out, steps, true)?;
    println!(
        "{steps} steps in {:.0} s: train loss {:.3}, held-out loss {:.3} nats/token vs unigram entropy {:.3}; saved to {}",
        t.elapsed().as_secs_f64(),
        r.train_loss,
        r.validation_loss,
        r.unigram_entropy,
        out.display()
    );
    Ok(())
}
