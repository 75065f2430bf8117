//! `rmx-lm generate`: one prompt in, streamed text out, then mlx-lm's statistics.

use crate::{ModelArg, SamplingArgs};
use clap::Args;
use rmx_lm::chat_template::message;
use rmx_lm::{GenerateParams, LmError, Loaded, Result};
use std::io::{Read, Write};

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
    /// Print only the generated text (no prompt echo, no statistics).
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// The prompt token ids: through the chat template when the model has one.
pub fn prompt_tokens(loaded: &Loaded, messages: &[rmx_lm::chat_template::Message], raw: &str, use_template: bool) -> Result<Vec<u32>> {
    let tokenizer = loaded.tokenizer.as_ref().ok_or_else(|| LmError::file(&loaded.dir.join("tokenizer.json"), "not found"))?;
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

pub fn run(args: GenerateArgs) -> Result<()> {
    let prompt = match args.prompt.as_deref() {
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
    let loaded = rmx_lm::load(&args.model.model)?;
    let mut messages = Vec::new();
    if let Some(system) = &args.system_prompt {
        messages.push(message("system", system));
    }
    messages.push(message("user", &prompt));
    let tokens = prompt_tokens(&loaded, &messages, &prompt, !args.ignore_chat_template)?;
    let params =
        GenerateParams { max_tokens: args.max_tokens, sampling: args.sampling.params(), stop: args.stop, prefill_step: args.prefill_step };
    let mut out = std::io::stdout().lock();
    if !args.quiet {
        eprintln!("==========");
        let shown = loaded.tokenizer.as_ref().map_or(Ok(String::new()), |t| t.decode(&tokens, false))?;
        let _ = write!(out, "{shown}");
        let _ = out.flush();
    }
    let generation = rmx_lm::generate_from_tokens(&loaded, &tokens, &params, &mut |piece| {
        let _ = write!(out, "{piece}");
        let _ = out.flush();
        true
    })?;
    let _ = writeln!(out);
    if !args.quiet {
        let s = &generation.stats;
        eprintln!("==========");
        eprintln!("Prompt: {} tokens, {:.3} tokens-per-sec", s.prompt_tokens, s.prompt_tps());
        eprintln!("Generation: {} tokens, {:.3} tokens-per-sec", s.generation_tokens, s.generation_tps());
        eprintln!("Peak memory: {:.3} GB", s.peak_memory as f64 / 1e9);
    }
    Ok(())
}
