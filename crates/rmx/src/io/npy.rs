//! NumPy's `.npy` format (versions 1–3): little- and big-endian data, C and Fortran order,
//! every NumPy dtype rmx has (bfloat16 has no NumPy type and is refused). Malformed or
//! truncated files are errors that say what is wrong.

use super::io_error;
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

fn bad(detail: impl Into<String>) -> Error {
    Error::Format { format: "npy", detail: detail.into() }
}

/// The NumPy type string (without byte order) of a dtype.
fn descr(dtype: Dtype) -> Result<&'static str> {
    Ok(match dtype {
        Dtype::Bool => "b1",
        Dtype::U8 => "u1",
        Dtype::U16 => "u2",
        Dtype::U32 => "u4",
        Dtype::U64 => "u8",
        Dtype::I8 => "i1",
        Dtype::I16 => "i2",
        Dtype::I32 => "i4",
        Dtype::I64 => "i8",
        Dtype::F16 => "f2",
        Dtype::F32 => "f4",
        Dtype::F64 => "f8",
        Dtype::C64 => "c8",
        Dtype::BF16 => return Err(Error::dtype_detail("save_npy", dtype, "NumPy has no bfloat16; convert with astype first")),
    })
}

fn dtype_of(code: &str) -> Result<Dtype> {
    crate::dtype::ALL_DTYPES.into_iter().find(|&d| descr(d).ok() == Some(code)).ok_or_else(|| bad(format!("unsupported dtype '{code}'")))
}

/// The value of `key` in the header dictionary, as its source text.
fn field<'a>(header: &'a str, key: &str) -> Result<&'a str> {
    let pattern = format!("'{key}':");
    let start = header.find(&pattern).ok_or_else(|| bad(format!("header has no '{key}'")))? + pattern.len();
    let rest = header[start..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else if let Some(body) = rest.strip_prefix('\'') {
        body.find('\'').map(|i| i + 2)
    } else {
        rest.find([',', '}'])
    };
    end.map(|e| rest[..e].trim()).ok_or_else(|| bad(format!("unterminated '{key}' in header")))
}

/// Parses an `.npy` file's bytes into an array.
///
/// ```
/// let a = rmx::Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let back = rmx::io::npy_from_bytes(&rmx::io::npy_to_bytes(&a)?)?;
/// assert_eq!(back.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
/// assert!(rmx::io::npy_from_bytes(b"not numpy").is_err());
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn npy_from_bytes(bytes: &[u8]) -> Result<Array> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let (len_bytes, header_start) = match bytes[6] {
        1 => (2, 10),
        2 | 3 => (4, 12),
        v => return Err(bad(format!("unknown format version {v}"))),
    };
    if bytes.len() < header_start {
        return Err(bad("truncated header length"));
    }
    let header_len = bytes[8..8 + len_bytes].iter().rev().fold(0usize, |acc, &b| acc << 8 | b as usize);
    let data_start = header_start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(&bytes[header_start..data_start]).map_err(|_| bad("header is not text"))?;
    let descr_text = field(header, "descr")?.trim_matches('\'');
    let (order, code) = descr_text.split_at(descr_text.len().min(1));
    let big_endian = match order {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => return Err(bad(format!("bad dtype '{descr_text}'"))),
    };
    let dtype = dtype_of(code)?;
    let fortran = match field(header, "fortran_order")? {
        "True" => true,
        "False" => false,
        other => return Err(bad(format!("fortran_order is '{other}'"))),
    };
    let shape_text = field(header, "shape")?;
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(format!("bad shape {shape_text}"))))
        .collect::<Result<_>>()?;
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad("shape overflows"))?;
    let nbytes = count.checked_mul(dtype.size()).ok_or_else(|| bad("shape overflows"))?;
    let data = bytes
        .get(data_start..data_start + nbytes)
        .ok_or_else(|| bad(format!("truncated data: {} of {nbytes} bytes", bytes.len() - data_start)))?;
    let mut data = data.to_vec();
    if big_endian {
        // Complex numbers swap each of their two float halves.
        let unit = if dtype == Dtype::C64 { 4 } else { dtype.size() };
        data.chunks_mut(unit).for_each(<[u8]>::reverse);
    }
    if !fortran {
        return Array::from_bytes(&data, &shape, dtype);
    }
    let reversed: Vec<usize> = shape.iter().rev().copied().collect();
    crate::contiguous(&crate::transpose(&Array::from_bytes(&data, &reversed, dtype)?, None)?)
}

/// The `.npy` bytes (version 1, little-endian, C order) of an array.
pub fn npy_to_bytes(a: &Array) -> Result<Vec<u8>> {
    let code = descr(a.dtype())?;
    let order = if matches!(a.dtype(), Dtype::Bool | Dtype::U8 | Dtype::I8) { '|' } else { '<' };
    let shape = match a.shape() {
        [d] => format!("({d},)"),
        dims => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{order}{code}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad with spaces so the data starts on a multiple of 64 bytes, newline last.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let header_len = u16::try_from(header.len()).map_err(|_| Error::arg("save_npy", "header longer than 65535 bytes"))?;
    let mut out = MAGIC.to_vec();
    out.extend([1, 0]);
    out.extend(header_len.to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(a.to_bytes()?);
    Ok(out)
}

/// Reads an `.npy` file.
pub fn load_npy(path: impl AsRef<Path>) -> Result<Array> {
    let path = path.as_ref();
    npy_from_bytes(&std::fs::read(path).map_err(|e| io_error(path, e))?)
}

/// Writes an array as an `.npy` file.
pub fn save_npy(path: impl AsRef<Path>, a: &Array) -> Result<()> {
    let path = path.as_ref();
    let bytes = npy_to_bytes(a)?;
    super::write_atomically(path, |w| std::io::Write::write_all(w, &bytes).map_err(|e| io_error(path, e)))
}
