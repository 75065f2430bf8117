//! `rmx-lm chat`: an interactive conversation through the model's chat template.

use crate::generate::prompt_tokens;
use crate::{CacheArgs, ModelArg, SamplingArgs};
use clap::Args;
use rmx_lm::chat_template::{message, Message};
use rmx_lm::{GenerateParams, LmError, PrefixCache, Result};
use std::io::{BufRead, Write};

#[derive(Args)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Tokens per reply at most.
    #[arg(long, short = 'n', default_value_t = 256)]
    max_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// A system message that starts every conversation.
    #[arg(long)]
    system_prompt: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
}

const HELP: &str = "Type a message and press enter. Commands: q = quit, r = reset the conversation, h = this help.";

pub fn run(args: ChatArgs) -> Result<()> {
    let loaded = crate::load_with_progress(&args.model.model)?;
    let tokenizer = loaded.tokenizer()?;
    if !tokenizer.has_chat_template() {
        return Err(LmError::Template(format!(
            "{} has no chat template; use `rmx-lm generate` for plain continuation",
            loaded.dir.display()
        )));
    }
    let fresh = || -> Vec<Message> { args.system_prompt.iter().map(|s| message("system", s)).collect() };
    let mut history = fresh();
    let params = GenerateParams {
        max_tokens: args.max_tokens,
        sampling: args.sampling.params(),
        max_kv_size: args.cache.max_kv_size,
        kv_quantization: args.cache.quantization(&loaded.config)?,
        ..Default::default()
    };
    // The KV cache carries over between turns: each turn processes only what is new.
    let mut cache = PrefixCache::default();
    println!("[rmx-lm chat] {HELP}");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    loop {
        print!(">> ");
        let _ = out.flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| LmError::Request(e.to_string()))? == 0 {
            return Ok(());
        }
        match line.trim() {
            "q" => return Ok(()),
            "r" => {
                history = fresh();
                cache.clear();
                continue;
            }
            "h" => {
                println!("{HELP}");
                continue;
            }
            "" => continue,
            text => history.push(message("user", text)),
        }
        let tokens = prompt_tokens(&loaded, &history, "", true)?;
        let (caches, new) =
            cache.prepare(&tokens, || rmx_lm::make_caches(loaded.model.as_ref(), params.max_kv_size, params.kv_quantization))?;
        let reused = tokens.len() - new.len();
        let (reply, caches, seen) = rmx_lm::generate_with_caches(&loaded, caches, new, &params, &mut |piece| {
            print!("{piece}");
            let _ = std::io::stdout().flush();
            true
        })?;
        println!();
        cache.store(caches, [&tokens[..reused], &seen[..]].concat());
        history.push(message("assistant", &reply.text));
    }
}
