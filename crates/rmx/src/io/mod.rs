//! Reading and writing arrays in files: NumPy's `.npy`.

mod npy;

pub use npy::{load_npy, npy_from_bytes, npy_to_bytes, save_npy};

use crate::error::Error;

/// An operating-system error on `path`.
fn io_error(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), detail: e.to_string() }
}
