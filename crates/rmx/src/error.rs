//! The error type of every fallible rmx operation.
//!
//! Errors name the operation and the shapes and dtypes involved, so a message read in a log
//! says what was wrong without a debugger. Panicking sugar (operators such as `+`) formats
//! these same errors.

use crate::dtype::Dtype;

/// Result alias used across rmx.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when building or evaluating an array graph.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Shapes that cannot be combined (broadcasting, matmul inner sizes, concatenation...).
    #[error("{op}: incompatible shapes {shapes:?}{detail}")]
    IncompatibleShapes { op: &'static str, shapes: Vec<Vec<usize>>, detail: String },

    /// An axis outside `-ndim..ndim`, or repeated where axes must be unique.
    #[error("{op}: axis {axis} is out of range for an array of rank {ndim}")]
    AxisOutOfRange { op: &'static str, axis: isize, ndim: usize },

    /// A dtype the operation does not accept.
    #[error("{op}: dtype {dtype} is not supported{detail}")]
    UnsupportedDtype { op: &'static str, dtype: Dtype, detail: String },

    /// An argument value outside what the operation accepts (a zero step, a negative size...).
    #[error("{op}: invalid argument: {detail}")]
    InvalidArgument { op: &'static str, detail: String },

    /// A feature that rmx does not have yet, on some backend or at all.
    #[error("not implemented: {0}")]
    NotImplemented(String),

    /// Allocating would exceed the memory limit set with [`crate::memory::set_memory_limit`].
    #[error("out of memory: allocating {requested} bytes with {active} bytes active exceeds the memory limit of {limit} bytes")]
    OutOfMemory { requested: usize, active: usize, limit: usize },

    /// Evaluating the graph failed inside a kernel or the scheduler.
    #[error("eval: {0}")]
    Eval(String),

    /// Reading or writing a file failed at the operating-system level.
    #[error("io: {path}: {detail}")]
    Io { path: String, detail: String },

    /// A file's contents are malformed or truncated for its format.
    #[error("{format}: malformed file: {detail}")]
    Format { format: &'static str, detail: String },

    /// Joining a distributed group or talking to another rank failed (a peer missing or gone,
    /// ranks disagreeing about what they exchange).
    #[error("distributed: {0}")]
    Distributed(String),
}

impl Error {
    pub(crate) fn shapes(op: &'static str, shapes: &[&[usize]]) -> Self {
        Error::IncompatibleShapes { op, shapes: shapes.iter().map(|s| s.to_vec()).collect(), detail: String::new() }
    }

    /// Shapes that do not fit together, with what was expected.
    pub fn shapes_detail(op: &'static str, shapes: &[&[usize]], detail: impl Into<String>) -> Self {
        Error::IncompatibleShapes { op, shapes: shapes.iter().map(|s| s.to_vec()).collect(), detail: format!(": {}", detail.into()) }
    }

    pub(crate) fn dtype(op: &'static str, dtype: Dtype) -> Self {
        Error::UnsupportedDtype { op, dtype, detail: String::new() }
    }

    /// A dtype the operation does not accept, with why.
    pub fn dtype_detail(op: &'static str, dtype: Dtype, detail: impl Into<String>) -> Self {
        Error::UnsupportedDtype { op, dtype, detail: format!(" ({})", detail.into()) }
    }

    /// An invalid argument of `op`, described by `detail`.
    pub fn arg(op: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidArgument { op, detail: detail.into() }
    }
}
