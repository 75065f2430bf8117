//! GGUF (llama.cpp's model format, versions 2 and 3): metadata and tensors. Tensors are
//! returned in MLX's conventions: dimensions reversed from GGML's order; F32, F16, BF16,
//! F64 and integer tensors as they are (views of the mapped file when aligned); Q4_0, Q4_1
//! and Q8_0 as MLX affine quantization (group 32: `name.weight` packed u32 plus
//! `name.scales` and `name.biases` in f16), exactly as MLX converts them; Q5_0, Q5_1 and
//! the K-quants Q2_K–Q6_K dequantized to f16 (MLX refuses Q3_K, Q5_K, Q5_0, Q5_1). Other
//! types (IQ*, TQ*, MXFP4...) are errors naming the type. Writing covers metadata and
//! unquantized tensors.

use super::gguf_quants::{block_layout, dequantize, to_affine};
use super::io_error;
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::load::{file_array, ByteSource};
use half::f16;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: usize = 32;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Vec<GgufValue>),
}

/// A GGUF file's tensors (MLX names and layouts, see the module docs) and metadata.
#[derive(Debug, Default)]
pub struct Gguf {
    pub tensors: BTreeMap<String, Array>,
    pub metadata: BTreeMap<String, GgufValue>,
}

fn bad(detail: impl Into<String>) -> Error {
    Error::Format { format: "gguf", detail: detail.into() }
}

/// Bounds-checked little-endian reads.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| bad(format!("truncated at byte {}", self.pos)))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn len(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| bad("length does not fit in memory"))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }

    fn value(&mut self, kind: u32, depth: usize) -> Result<GgufValue> {
        use GgufValue::*;
        Ok(match kind {
            0 => U8(self.array::<1>()?[0]),
            1 => I8(self.array::<1>()?[0] as i8),
            2 => U16(u16::from_le_bytes(self.array()?)),
            3 => I16(i16::from_le_bytes(self.array()?)),
            4 => U32(self.u32()?),
            5 => I32(i32::from_le_bytes(self.array()?)),
            6 => F32(f32::from_le_bytes(self.array()?)),
            7 => Bool(self.array::<1>()?[0] != 0),
            8 => Str(self.string()?),
            9 => {
                if depth > 8 {
                    return Err(bad("arrays nested too deeply"));
                }
                let item = self.u32()?;
                let n = self.len()?;
                // Each item takes at least one byte: a count beyond the file is a lie.
                if n > self.bytes.len() - self.pos {
                    return Err(bad(format!("array of {n} items is longer than the file")));
                }
                Array((0..n).map(|_| self.value(item, depth + 1)).collect::<Result<_>>()?)
            }
            10 => U64(self.u64()?),
            11 => I64(i64::from_le_bytes(self.array()?)),
            12 => F64(f64::from_le_bytes(self.array()?)),
            k => return Err(bad(format!("unknown metadata value type {k}"))),
        })
    }
}

/// The rmx dtype of an unquantized GGML type.
fn plain_dtype(kind: u32) -> Option<Dtype> {
    Some(match kind {
        0 => Dtype::F32,
        1 => Dtype::F16,
        24 => Dtype::I8,
        25 => Dtype::I16,
        26 => Dtype::I32,
        27 => Dtype::I64,
        28 => Dtype::F64,
        30 => Dtype::BF16,
        _ => return None,
    })
}

fn type_name(kind: u32) -> String {
    let names = [
        (2, "Q4_0"),
        (3, "Q4_1"),
        (6, "Q5_0"),
        (7, "Q5_1"),
        (8, "Q8_0"),
        (9, "Q8_1"),
        (10, "Q2_K"),
        (11, "Q3_K"),
        (12, "Q4_K"),
        (13, "Q5_K"),
        (14, "Q6_K"),
        (15, "Q8_K"),
        (16, "IQ2_XXS"),
        (17, "IQ2_XS"),
        (18, "IQ3_XXS"),
        (19, "IQ1_S"),
        (20, "IQ4_NL"),
        (21, "IQ3_S"),
        (22, "IQ2_S"),
        (23, "IQ4_XS"),
        (29, "IQ1_M"),
        (34, "TQ1_0"),
        (35, "TQ2_0"),
        (39, "MXFP4"),
    ];
    names.iter().find(|(k, _)| *k == kind).map_or_else(|| format!("type {kind}"), |(_, n)| n.to_string())
}

fn parse(source: Arc<ByteSource>) -> Result<Gguf> {
    let bytes = source.bytes();
    let mut c = Cursor { bytes, pos: 0 };
    if c.take(4)? != MAGIC {
        return Err(bad("missing the GGUF magic"));
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        return Err(bad(format!("unsupported version {version} (2 and 3 are)")));
    }
    let (n_tensors, n_kv) = (c.len()?, c.len()?);
    // Every entry takes several bytes: counts beyond the file are corrupt.
    if n_tensors > bytes.len() || n_kv > bytes.len() {
        return Err(bad(format!("{n_tensors} tensors and {n_kv} metadata entries cannot fit in {} bytes", bytes.len())));
    }
    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = c.string()?;
        let kind = c.u32()?;
        metadata.insert(key, c.value(kind, 0)?);
    }
    let alignment = match metadata.get("general.alignment") {
        Some(GgufValue::U32(a)) if *a > 0 && a.is_power_of_two() => *a as usize,
        Some(other) => return Err(bad(format!("general.alignment {other:?} is not a power of two"))),
        None => DEFAULT_ALIGNMENT,
    };
    let mut infos = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        let name = c.string()?;
        let nd = c.u32()? as usize;
        if nd > 8 {
            return Err(bad(format!("tensor '{name}' has {nd} dimensions")));
        }
        let mut shape: Vec<usize> = (0..nd).map(|_| c.len()).collect::<Result<_>>()?;
        shape.reverse();
        let kind = c.u32()?;
        let offset = c.len()?;
        infos.push((name, shape, kind, offset));
    }
    let data_start = c.pos.next_multiple_of(alignment);
    let mut tensors = BTreeMap::new();
    for (name, shape, kind, offset) in infos {
        let count =
            shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(format!("tensor '{name}': shape overflows")))?;
        let nbytes = if let Some(dtype) = plain_dtype(kind) {
            count.checked_mul(dtype.size())
        } else {
            let (block, size) = block_layout(kind).ok_or_else(|| bad(format!("tensor '{name}': {} is not supported", type_name(kind))))?;
            if shape.last().is_none_or(|&inner| inner % block != 0) {
                return Err(bad(format!("tensor '{name}': {} rows of {shape:?} are not whole blocks of {block}", type_name(kind))));
            }
            (count / block).checked_mul(size)
        }
        .ok_or_else(|| bad(format!("tensor '{name}': size overflows")))?;
        let start = data_start.checked_add(offset).filter(|s| s.checked_add(nbytes).is_some_and(|e| e <= bytes.len()));
        let start = start.ok_or_else(|| bad(format!("tensor '{name}': {nbytes} bytes at offset {offset} run past the end of the file")))?;
        let data = &bytes[start..start + nbytes];
        if let Some(dtype) = plain_dtype(kind) {
            tensors.insert(name, file_array(&source, start, shape, dtype));
        } else if matches!(kind, 2 | 3 | 8) {
            let (words, scales, biases) = to_affine(kind, data);
            let bits = if kind == 8 { 8 } else { 4 };
            let rows = &shape[..shape.len() - 1];
            let inner = shape[shape.len() - 1];
            let base = name.strip_suffix(".weight").unwrap_or(&name).to_string();
            tensors.insert(format!("{base}.weight"), Array::from_slice(&words, &[rows, &[inner * bits / 32]].concat())?);
            tensors.insert(format!("{base}.scales"), Array::from_slice(&scales, &[rows, &[inner / 32]].concat())?);
            tensors.insert(format!("{base}.biases"), Array::from_slice(&biases, &[rows, &[inner / 32]].concat())?);
        } else {
            let values: Vec<f16> = dequantize(kind, data).into_iter().map(f16::from_f32).collect();
            tensors.insert(name, Array::from_slice(&values, &shape)?);
        }
    }
    Ok(Gguf { tensors, metadata })
}

/// Loads a `.gguf` file (memory-mapped; see the module docs for how each type loads).
pub fn load_gguf(path: impl AsRef<Path>) -> Result<Gguf> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    // SAFETY: read-only map; see `load_safetensors` for the caveat on concurrent writers.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_error(path, e))?;
    parse(Arc::new(ByteSource::Mapped { path: path.display().to_string(), map })).map_err(|e| {
        if let Error::Format { format, detail } = e {
            Error::Format { format, detail: format!("{}: {detail}", path.display()) }
        } else {
            e
        }
    })
}

/// Parses GGUF bytes held in memory.
pub fn gguf_from_bytes(bytes: Vec<u8>) -> Result<Gguf> {
    parse(Arc::new(ByteSource::Owned(bytes)))
}

fn write_value(out: &mut Vec<u8>, v: &GgufValue) {
    use GgufValue::*;
    match v {
        U8(x) => out.push(*x),
        I8(x) => out.push(*x as u8),
        U16(x) => out.extend(x.to_le_bytes()),
        I16(x) => out.extend(x.to_le_bytes()),
        U32(x) => out.extend(x.to_le_bytes()),
        I32(x) => out.extend(x.to_le_bytes()),
        U64(x) => out.extend(x.to_le_bytes()),
        I64(x) => out.extend(x.to_le_bytes()),
        F32(x) => out.extend(x.to_le_bytes()),
        F64(x) => out.extend(x.to_le_bytes()),
        Bool(x) => out.push(*x as u8),
        Str(s) => {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s.as_bytes());
        }
        Array(items) => {
            out.extend(items.first().map_or(4, value_type).to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            items.iter().for_each(|i| write_value(out, i));
        }
    }
}

fn value_type(v: &GgufValue) -> u32 {
    use GgufValue::*;
    match v {
        U8(_) => 0,
        I8(_) => 1,
        U16(_) => 2,
        I16(_) => 3,
        U32(_) => 4,
        I32(_) => 5,
        F32(_) => 6,
        Bool(_) => 7,
        Str(_) => 8,
        Array(_) => 9,
        U64(_) => 10,
        I64(_) => 11,
        F64(_) => 12,
    }
}

fn ggml_type(name: &str, dtype: Dtype) -> Result<u32> {
    Ok(match dtype {
        Dtype::F32 => 0,
        Dtype::F16 => 1,
        Dtype::I8 => 24,
        Dtype::I16 => 25,
        Dtype::I32 => 26,
        Dtype::I64 => 27,
        Dtype::F64 => 28,
        Dtype::BF16 => 30,
        other => return Err(Error::dtype_detail("save_gguf", other, format!("tensor '{name}': GGUF has no such type"))),
    })
}

/// The bytes of a GGUF v3 file of unquantized tensors and metadata (arrays must hold
/// values of one type).
pub fn gguf_to_bytes(tensors: &BTreeMap<String, Array>, metadata: &BTreeMap<String, GgufValue>) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (key, v) in metadata {
        if let GgufValue::Array(items) = v {
            if items.iter().any(|i| value_type(i) != value_type(&items[0])) {
                return Err(Error::arg("save_gguf", format!("metadata '{key}': array items of different types")));
            }
        }
        write_value(&mut out, &GgufValue::Str(key.clone()));
        out.extend(value_type(v).to_le_bytes());
        write_value(&mut out, v);
    }
    let mut offset = 0usize;
    for (name, a) in tensors {
        write_value(&mut out, &GgufValue::Str(name.clone()));
        out.extend((a.ndim() as u32).to_le_bytes());
        a.shape().iter().rev().for_each(|&d| out.extend((d as u64).to_le_bytes()));
        out.extend(ggml_type(name, a.dtype())?.to_le_bytes());
        out.extend((offset as u64).to_le_bytes());
        offset = (offset + a.nbytes()).next_multiple_of(DEFAULT_ALIGNMENT);
    }
    // Each tensor starts aligned; nothing follows the last one.
    for a in tensors.values() {
        out.resize(out.len().next_multiple_of(DEFAULT_ALIGNMENT), 0);
        out.extend(a.to_bytes()?);
    }
    Ok(out)
}

/// Saves tensors and metadata as a GGUF v3 file (atomically, like the other writers).
pub fn save_gguf(path: impl AsRef<Path>, tensors: &BTreeMap<String, Array>, metadata: &BTreeMap<String, GgufValue>) -> Result<()> {
    let path = path.as_ref();
    let bytes = gguf_to_bytes(tensors, metadata)?;
    super::write_atomically(path, |w| std::io::Write::write_all(w, &bytes).map_err(|e| io_error(path, e)))
}
