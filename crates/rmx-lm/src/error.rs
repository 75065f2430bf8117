//! The error type of rmx-lm: every way loading a model, tokenizing, templating or generating
//! can fail, each naming the file, field or value that was wrong.

use std::path::Path;

/// Result alias used across rmx-lm.
pub type Result<T, E = LmError> = std::result::Result<T, E>;

/// What can go wrong in rmx-lm.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// An array operation failed (shapes, dtypes, memory, malformed weight files).
    #[error(transparent)]
    Array(#[from] rmx::Error),

    /// A file that must exist is missing or unreadable.
    #[error("{path}: {detail}")]
    File { path: String, detail: String },

    /// `config.json` (or another JSON file) lacks a field or has a wrong value.
    #[error("{file}: {detail}")]
    Config { file: String, detail: String },

    /// The checkpoint's architecture is not one rmx-lm implements.
    #[error("unsupported model_type '{0}' (supported: {supported})", supported = crate::models::SUPPORTED.join(", "))]
    UnknownModelType(String),

    /// The weights do not fit the architecture the config describes.
    #[error("weights: {0}")]
    Weights(String),

    /// Tokenizer loading, encoding or decoding failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),

    /// A request that cannot be served as given (empty prompt, too long, bad sampling values).
    #[error("invalid request: {0}")]
    Request(String),

    /// A feature of a checkpoint or request that rmx-lm does not implement yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
}

impl LmError {
    /// A missing or unreadable file.
    pub fn file(path: &Path, detail: impl std::fmt::Display) -> LmError {
        LmError::File { path: path.display().to_string(), detail: detail.to_string() }
    }
}
