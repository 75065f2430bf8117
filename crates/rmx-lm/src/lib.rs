//! rmx-lm: large language models on rmx — the job mlx-lm does. Load a Hugging Face or
//! mlx-community model directory (safetensors, sharded or not, quantized or not), tokenize
//! with its `tokenizer.json`, render its chat template, and generate with a KV cache and the
//! usual samplers.
//!
//! ```no_run
//! let loaded = rmx_lm::load("models/rmx-alice")?;
//! let params = rmx_lm::GenerateParams { max_tokens: 20, ..Default::default() };
//! let out = rmx_lm::generate_text(&loaded, "Alice was", &params, &mut |_| true)?;
//! println!("{}", out.text);
//! # Ok::<(), rmx_lm::LmError>(())
//! ```

pub mod batch;
pub mod cache;
pub mod chat_template;
pub mod config;
pub mod embed;
pub mod error;
pub mod generate;
pub mod gguf;
mod gguf_tokenizer;
pub mod loader;
pub mod models;
pub mod prompt_cache;
pub mod quant_recipe;
pub mod rope;
pub mod sample;
pub mod speculative;
pub mod stream;
pub mod tokenizer;

pub use batch::generate_batch;
pub use cache::KvCache;
pub use config::Config;
pub use error::{LmError, Result};
pub use generate::{
    generate_from_tokens, generate_speculative, generate_text, generate_with_caches, FinishReason, GenerateParams, Generation,
};
pub use loader::{load, load_model, Loaded};
pub use models::LanguageModel;
pub use prompt_cache::{load_prompt_cache, save_prompt_cache, PrefixCache};
pub use sample::{Sampler, SamplingParams};
pub use speculative::SpeculativeStream;
pub use stream::{make_caches, Stats, TokenSource, TokenStream};
pub use tokenizer::Tokenizer;
