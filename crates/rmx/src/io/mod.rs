//! Reading and writing arrays in files: NumPy's `.npy` and `.npz`, `.safetensors` and
//! llama.cpp's `.gguf`.

mod gguf;
mod gguf_quants;
mod npy;
mod npz;
mod safetensors;
mod zip;

pub use gguf::{gguf_from_bytes, gguf_to_bytes, load_gguf, save_gguf, Gguf, GgufValue};
pub use npy::{load_npy, npy_from_bytes, npy_to_bytes, save_npy};
pub use npz::{load_npz, npz_from_bytes, npz_to_bytes, savez, savez_compressed};
pub use safetensors::{load_safetensors, safetensors_from_bytes, save_safetensors, write_safetensors, Tensors};

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

/// An operating-system error on `path`.
fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), detail: e.to_string() }
}

/// Writes a file through `write` into a temporary sibling and renames it over `path` only
/// when everything succeeded.
fn write_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<std::fs::File>) -> Result<()>) -> Result<()> {
    let name = path.file_name().ok_or_else(|| Error::arg("save", format!("'{}' names no file", path.display())))?;
    let tmp = path.with_file_name(format!(".{}.rmx-partial-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, e))?);
        write(&mut w)?;
        w.flush().map_err(|e| io_error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}
