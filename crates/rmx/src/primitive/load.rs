//! `Load`: an array whose bytes come from a region of a file (or an in-memory image of
//! one) and are copied out only when the node is evaluated. Lazy weight loading rests on
//! it: a checkpoint's tensors cost nothing until used, and each is read once.

use super::Primitive;
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::Result;
use crate::storage::alloc_output;
use std::fmt;
use std::sync::Arc;

/// Bytes a `Load` reads from: a memory-mapped file or an owned image.
pub enum ByteSource {
    /// A file mapped read-only; `path` names it in errors and listings.
    Mapped { path: String, map: memmap2::Mmap },
    /// Bytes already in memory.
    Owned(Vec<u8>),
}

impl ByteSource {
    /// All the bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            ByteSource::Mapped { map, .. } => map,
            ByteSource::Owned(v) => v,
        }
    }

    fn describe(&self) -> String {
        match self {
            ByteSource::Mapped { path, .. } => path.clone(),
            ByteSource::Owned(v) => format!("<{} bytes in memory at {:p}>", v.len(), v.as_ptr()),
        }
    }
}

/// Copies `source[offset..offset + len]` into the output (row-major, output dtype).
pub struct Load {
    pub source: Arc<ByteSource>,
    pub offset: usize,
}

impl fmt::Debug for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Load({} @ {})", self.source.describe(), self.offset)
    }
}

impl Primitive for Load {
    fn name(&self) -> &'static str {
        "load"
    }

    fn eval_cpu(&self, _inputs: &[Array], outputs: &[Array]) -> Result<()> {
        use rayon::prelude::*;
        let out = &outputs[0];
        let storage = alloc_output(out.shape(), out.dtype())?;
        let len = out.size() * out.dtype().size();
        // Bounds were checked when the node was built; `get` keeps a bad caller from reading past the end.
        let src = self.source.bytes().get(self.offset..self.offset + len).ok_or_else(|| crate::error::Error::Format {
            format: "load",
            detail: format!("{self:?}: {len} bytes past the end of the source"),
        })?;
        // SAFETY: the fresh buffer holds exactly `len` bytes.
        let dst = unsafe { std::slice::from_raw_parts_mut(storage.ptr::<u8>() as *mut u8, len) };
        const CHUNK: usize = 1 << 20;
        if len >= 8 * CHUNK {
            // Several threads fault the mapped pages in at once.
            dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(d, s)| d.copy_from_slice(s));
        } else {
            dst.copy_from_slice(src);
        }
        if out.dtype() == Dtype::Bool {
            dst.iter_mut().for_each(|b| *b = (*b != 0) as u8);
        }
        out.set_storage(storage);
        Ok(())
    }
}

/// An array over the bytes of `source` at `offset`, of the given shape and dtype. From a
/// memory map, when the bytes are aligned for the dtype, the array *is* the mapped bytes
/// (no copy: pages are read from disk when a kernel first touches them, and the page
/// cache is the only copy); otherwise a lazy [`Load`] copies them when evaluated. Booleans
/// always go through `Load`, which normalises them to 0/1.
pub(crate) fn file_array(source: &Arc<ByteSource>, offset: usize, shape: Vec<usize>, dtype: Dtype) -> Array {
    if let ByteSource::Mapped { map, .. } = &**source {
        let len = crate::shape::numel(&shape) * dtype.size();
        let ptr = map[offset..].as_ptr();
        if dtype != Dtype::Bool && len > 0 && (ptr as usize).is_multiple_of(dtype.size()) {
            let ptr = std::ptr::NonNull::new(ptr as *mut u8).expect("a slice pointer is never null");
            // SAFETY: the map holds `len` bytes from `ptr` (bounds checked by the caller), is
            // never written (external buffers are not donated) and lives as long as the
            // buffer through the owner; the pointer is aligned for the dtype.
            let buffer = unsafe { crate::memory::Buffer::from_external(ptr, len, Box::new(Arc::clone(source))) };
            return Array::from_storage(shape.clone(), dtype, crate::storage::Storage::row_major(buffer, &shape));
        }
    }
    Array::from_primitive(shape, dtype, Arc::new(Load { source: Arc::clone(source), offset }), Vec::new())
}
