//! `rmx-lm generate`: one prompt in, streamed text out, then mlx-lm's statistics.

use crate::{CacheArgs, ModelArg, SamplingArgs};
use clap::Args;
use rmx_lm::chat_template::message;
use rmx_lm::{GenerateParams, Generation, LmError, Loaded, Result};
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArg,
    /// The prompt; `-` or no flag reads it from stdin.
    #[arg(long, short = 'p')]
    prompt: Option<String>,
    /// Generate at most this many tokens.
    #[arg(long, short = 'n', default_value_t = 100)]
    max_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// A system message (chat models).
    #[arg(long)]
    system_prompt: Option<String>,
    /// Use the prompt as is, even if the model has a chat template.
    #[arg(long)]
    ignore_chat_template: bool,
    /// Stop when the text contains this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Prompt tokens per forward pass while prefilling.
    #[arg(long, default_value_t = 512)]
    prefill_step: usize,
    #[command(flatten)]
    cache: CacheArgs,
    /// Start from a prompt cache written by `rmx-lm cache-prompt` (or mlx-lm): the prompt is
    /// appended to the cached text as is (no chat template, no BOS).
    #[arg(long)]
    prompt_cache_file: Option<PathBuf>,
    /// A smaller model with the same tokenizer that drafts tokens for speculative decoding.
    #[arg(long)]
    draft_model: Option<PathBuf>,
    /// Tokens the draft model proposes per step.
    #[arg(long, default_value_t = 3)]
    num_draft_tokens: usize,
    /// Print only the generated text (no prompt echo, no statistics).
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// The prompt token ids: through the chat template when the model has one.
pub fn prompt_tokens(loaded: &Loaded, messages: &[rmx_lm::chat_template::Message], raw: &str, use_template: bool) -> Result<Vec<u32>> {
    let tokenizer = loaded.tokenizer()?;
    if use_template && tokenizer.has_chat_template() {
        let text = tokenizer.apply_chat_template(messages, true, &serde_json::Map::new())?;
        // The template writes the special tokens (BOS) itself.
        return tokenizer.encode(&text, false);
    }
    if raw.is_empty() {
        return Err(LmError::Request("empty prompt".into()));
    }
    tokenizer.encode(raw, true)
}

/// `--prompt`, or stdin when it is absent or `-`.
pub fn read_prompt(prompt: Option<&str>) -> Result<String> {
    let prompt = match prompt {
        Some("-") | None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| LmError::Request(format!("reading the prompt from stdin: {e}")))?;
            text.trim_end_matches('\n').to_string()
        }
        Some(p) => p.to_string(),
    };
    if prompt.is_empty() {
        return Err(LmError::Request("empty prompt (give --prompt TEXT or pipe text to stdin)".into()));
    }
    Ok(prompt)
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let prompt = read_prompt(args.prompt.as_deref())?;
    let loaded = crate::load_with_progress(&args.model.model)?;
    let tokens = match &args.prompt_cache_file {
        Some(_) => loaded.tokenizer()?.encode(&prompt, false)?,
        None => {
            let mut messages = Vec::new();
            if let Some(system) = &args.system_prompt {
                messages.push(message("system", system));
            }
            messages.push(message("user", &prompt));
            prompt_tokens(&loaded, &messages, &prompt, !args.ignore_chat_template)?
        }
    };
    let params = GenerateParams {
        max_tokens: args.max_tokens,
        sampling: args.sampling.params(),
        stop: args.stop.clone(),
        prefill_step: args.prefill_step,
        max_kv_size: args.cache.max_kv_size,
        kv_quantization: args.cache.quantization(&loaded.config)?,
    };
    let mut out = std::io::stdout().lock();
    if !args.quiet {
        eprintln!("==========");
        let shown = loaded.tokenizer.as_ref().map_or(Ok(String::new()), |t| t.decode(&tokens, false))?;
        let _ = write!(out, "{shown}");
        let _ = out.flush();
    }
    let mut show = |piece: &str| {
        let _ = write!(out, "{piece}");
        let _ = out.flush();
        true
    };
    let generation = generate(&args, &loaded, &tokens, &params, &mut show)?;
    let _ = writeln!(out);
    if !args.quiet {
        let s = &generation.stats;
        eprintln!("==========");
        eprintln!("Prompt: {} tokens, {:.3} tokens-per-sec", s.prompt_tokens, s.prompt_tps());
        eprintln!("Generation: {} tokens, {:.3} tokens-per-sec", s.generation_tokens, s.generation_tps());
        if s.drafted > 0 {
            eprintln!("Draft tokens accepted: {} of {} ({:.1}%)", s.accepted, s.drafted, 100.0 * s.accepted as f64 / s.drafted as f64);
        }
        eprintln!("Peak memory: {:.3} GB", s.peak_memory as f64 / 1e9);
    }
    Ok(())
}

/// Plain, from a prompt cache, or speculative.
fn generate(
    args: &GenerateArgs,
    loaded: &Loaded,
    tokens: &[u32],
    params: &GenerateParams,
    show: &mut dyn FnMut(&str) -> bool,
) -> Result<Generation> {
    match (&args.prompt_cache_file, &args.draft_model) {
        (Some(_), Some(_)) => Err(LmError::NotImplemented("--draft-model together with --prompt-cache-file".into())),
        (Some(file), None) => {
            let (caches, _) = rmx_lm::load_prompt_cache(file)?;
            let layers = loaded.model.new_cache().len();
            if caches.len() != layers {
                return Err(LmError::Request(format!("{} holds {} layers' caches; the model has {layers}", file.display(), caches.len())));
            }
            Ok(rmx_lm::generate_with_caches(loaded, caches, tokens, params, show)?.0)
        }
        (None, Some(dir)) => {
            let draft = crate::load_with_progress(dir)?;
            rmx_lm::generate_speculative(loaded, &draft, args.num_draft_tokens, tokens, params, show)
        }
        (None, None) => rmx_lm::generate_from_tokens(loaded, tokens, params, show),
    }
}
