//! `rmx-lm cache-prompt`: run a prompt through the model once and save its KV cache, so
//! later `generate --prompt-cache-file` runs start after it (mlx-lm's `cache_prompt`; the
//! file format is mlx-lm's, so either engine reads the other's files).

use crate::generate::{prompt_tokens, read_prompt};
use crate::{CacheArgs, ModelArg};
use clap::Args;
use rmx_lm::chat_template::message;
use rmx_lm::{Result, SamplingParams, TokenStream};
use std::path::PathBuf;

#[derive(Args)]
pub struct CachePromptArgs {
    #[command(flatten)]
    model: ModelArg,
    /// The prompt to cache; `-` or no flag reads it from stdin.
    #[arg(long, short = 'p')]
    prompt: Option<String>,
    /// Where to write the cache (.safetensors).
    #[arg(long)]
    prompt_cache_file: PathBuf,
    /// Render the prompt as a user message through the chat template (if the model has one).
    #[arg(long)]
    use_chat_template: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// Prompt tokens per forward pass.
    #[arg(long, default_value_t = 512)]
    prefill_step: usize,
}

pub fn run(args: CachePromptArgs) -> Result<()> {
    let prompt = read_prompt(args.prompt.as_deref())?;
    let loaded = crate::load_with_progress(&args.model.model)?;
    let tokens = prompt_tokens(&loaded, &[message("user", &prompt)], &prompt, args.use_chat_template)?;
    let model = loaded.model.as_ref();
    let caches = rmx_lm::make_caches(model, args.cache.max_kv_size, args.cache.quantization(&loaded.config)?)?;
    let context = loaded.config.opt_usize("max_position_embeddings")?;
    let stream = TokenStream::resume(model, caches, &tokens, SamplingParams::default(), args.prefill_step, context)?;
    let prompt_time = stream.stats.prompt_time;
    let (caches, _) = stream.into_caches();
    let metadata = [("model".to_string(), loaded.dir.display().to_string()), ("tokens".to_string(), tokens.len().to_string())].into();
    rmx_lm::save_prompt_cache(&args.prompt_cache_file, &caches, &metadata)?;
    eprintln!("Cached {} prompt tokens in {:.3} s to {}", tokens.len(), prompt_time.as_secs_f64(), args.prompt_cache_file.display());
    Ok(())
}
