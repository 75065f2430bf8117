//! The `.safetensors` format: a little-endian u64 header length, a JSON header naming each
//! tensor's dtype, shape and byte range (plus optional `__metadata__` strings), then the
//! data. Loading maps the file: aligned tensors are views of the mapped bytes (nothing is
//! read until a kernel touches them, nothing is copied), the others lazy arrays that copy
//! their bytes once when evaluated. F8 tensors load as `u8` (as MLX does); sub-byte types
//! are refused.

use super::io_error;
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::load::{file_array, ByteSource};
use safetensors::Dtype as St;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Tensors by name and the file's `__metadata__`.
pub type Tensors = (BTreeMap<String, Array>, BTreeMap<String, String>);

fn bad(detail: impl Into<String>) -> Error {
    Error::Format { format: "safetensors", detail: detail.into() }
}

fn to_rmx(name: &str, dtype: St) -> Result<Dtype> {
    Ok(match dtype {
        St::BOOL => Dtype::Bool,
        St::U8 | St::F8_E4M3 | St::F8_E5M2 | St::F8_E8M0 | St::F8_E4M3FNUZ | St::F8_E5M2FNUZ => Dtype::U8,
        St::I8 => Dtype::I8,
        St::U16 => Dtype::U16,
        St::I16 => Dtype::I16,
        St::F16 => Dtype::F16,
        St::BF16 => Dtype::BF16,
        St::U32 => Dtype::U32,
        St::I32 => Dtype::I32,
        St::F32 => Dtype::F32,
        St::C64 => Dtype::C64,
        St::U64 => Dtype::U64,
        St::I64 => Dtype::I64,
        St::F64 => Dtype::F64,
        other => return Err(bad(format!("tensor '{name}': dtype {other:?} (sub-byte) is not supported"))),
    })
}

fn code(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::Bool => "BOOL",
        Dtype::U8 => "U8",
        Dtype::U16 => "U16",
        Dtype::U32 => "U32",
        Dtype::U64 => "U64",
        Dtype::I8 => "I8",
        Dtype::I16 => "I16",
        Dtype::I32 => "I32",
        Dtype::I64 => "I64",
        Dtype::F16 => "F16",
        Dtype::BF16 => "BF16",
        Dtype::F32 => "F32",
        Dtype::F64 => "F64",
        Dtype::C64 => "C64",
    }
}

fn parse(source: Arc<ByteSource>) -> Result<Tensors> {
    let (header_len, meta) = safetensors::SafeTensors::read_metadata(source.bytes()).map_err(|e| bad(e.to_string()))?;
    let data_start = 8 + header_len;
    let mut arrays = BTreeMap::new();
    for (name, info) in meta.tensors() {
        let dtype = to_rmx(&name, info.dtype)?;
        let (start, end) = info.data_offsets;
        // `read_metadata` checked that the ranges tile the data and fit the file; the size
        // check guards the F8-as-u8 mapping and any future change there.
        let count = info
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor '{name}': shape overflows")))?;
        if count.checked_mul(dtype.size()) != Some(end - start) || data_start + end > source.bytes().len() {
            return Err(bad(format!("tensor '{name}': {} bytes do not hold shape {:?} of {dtype}", end - start, info.shape)));
        }
        arrays.insert(name, file_array(&source, data_start + start, info.shape.clone(), dtype));
    }
    let metadata = meta.metadata().clone().unwrap_or_default().into_iter().collect();
    Ok((arrays, metadata))
}

/// Loads a `.safetensors` file lazily: the file is memory-mapped and each array reads its
/// bytes only when used (see the module documentation).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("rmx-doc-st-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("w.safetensors");
/// let w = rmx::Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
/// let meta = [("format".to_string(), "mlx".to_string())].into();
/// rmx::io::save_safetensors(&path, &[("w".to_string(), w)].into(), &meta)?;
/// let (tensors, metadata) = rmx::io::load_safetensors(&path)?;
/// assert_eq!(tensors["w"].to_vec::<f32>()?, vec![1.0, 2.0, 3.0]);
/// assert_eq!(metadata["format"], "mlx");
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Tensors> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    if len < 8 {
        return Err(bad(format!("{}: {len} bytes is too short for a header", path.display())));
    }
    // SAFETY: the map is read-only; like every mmap-based loader (llama.cpp's included),
    // results are undefined if another process truncates or rewrites the file while
    // arrays still read from it.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_error(path, e))?;
    parse(Arc::new(ByteSource::Mapped { path: path.display().to_string(), map })).map_err(|e| {
        if let Error::Format { format, detail } = e {
            Error::Format { format, detail: format!("{}: {detail}", path.display()) }
        } else {
            e
        }
    })
}

/// Parses `.safetensors` bytes held in memory (arrays stay lazy views of them).
pub fn safetensors_from_bytes(bytes: Vec<u8>) -> Result<Tensors> {
    parse(Arc::new(ByteSource::Owned(bytes)))
}

/// Writes `.safetensors` data to `out`: tensors in name order, header padded to 8 bytes.
/// Arrays are evaluated and copied one at a time, so peak memory is one tensor.
pub fn write_safetensors(out: &mut impl Write, arrays: &BTreeMap<String, Array>, metadata: &BTreeMap<String, String>) -> Result<()> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).map_err(|e| bad(e.to_string()))?);
    }
    let mut offset = 0usize;
    for (name, a) in arrays {
        if name == "__metadata__" {
            return Err(Error::arg("save_safetensors", "'__metadata__' is reserved and cannot name a tensor"));
        }
        let len = a.size() * a.dtype().size();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": code(a.dtype()), "shape": a.shape(), "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut text = serde_json::to_string(&header).map_err(|e| bad(e.to_string()))?;
    text.push_str(&" ".repeat(text.len().next_multiple_of(8) - text.len()));
    let io = |e: std::io::Error| Error::Io { path: "<safetensors writer>".into(), detail: e.to_string() };
    out.write_all(&(text.len() as u64).to_le_bytes()).map_err(io)?;
    out.write_all(text.as_bytes()).map_err(io)?;
    for a in arrays.values() {
        out.write_all(&a.to_bytes()?).map_err(io)?;
    }
    Ok(())
}

/// Saves arrays (and string metadata) as a `.safetensors` file, replacing it atomically:
/// the data goes to a temporary file beside it that is renamed over `path` when complete,
/// so a failed save never leaves a truncated checkpoint.
pub fn save_safetensors(path: impl AsRef<Path>, arrays: &BTreeMap<String, Array>, metadata: &BTreeMap<String, String>) -> Result<()> {
    let path = path.as_ref();
    super::write_atomically(path, |w| write_safetensors(w, arrays, metadata))
}
