//! `rmx-lm embed`: sentence embeddings from a BERT model directory (sentence-transformers
//! layout), one JSON array per input line.

use clap::Args;
use rmx_lm::embed::Embedder;
use rmx_lm::{LmError, Result};
use std::io::Read;
use std::path::PathBuf;

#[derive(Args)]
pub struct EmbedArgs {
    /// A BERT model directory (e.g. all-MiniLM-L6-v2).
    #[arg(long, short = 'm')]
    model: PathBuf,
    /// Text to embed (repeatable); without it, each line of stdin is one text.
    #[arg(long, short = 't')]
    text: Vec<String>,
}

pub fn run(args: EmbedArgs) -> Result<()> {
    let texts = if args.text.is_empty() {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input).map_err(|e| LmError::Request(format!("reading stdin: {e}")))?;
        input.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    } else {
        args.text
    };
    if texts.is_empty() {
        return Err(LmError::Request("nothing to embed (give --text or lines on stdin)".into()));
    }
    let embedder = Embedder::load(&args.model)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for vector in embedder.embed(&refs)? {
        println!("{}", serde_json::to_string(&vector).expect("floats serialize"));
    }
    Ok(())
}
