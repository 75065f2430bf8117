//! The evaluated data of an array: a shared buffer plus the strided view into it.
//!
//! Views (reshape, transpose, slice, broadcast, as_strided) share one [`Buffer`] and differ
//! only in strides and offset, so they cost no copy. Kernels read any strided layout and
//! write fresh row-major outputs.

use crate::dtype::Dtype;
use crate::element::Element;
use crate::memory::Buffer;
use crate::shape::row_major_strides;
use std::sync::Arc;

/// A strided view of a buffer. Strides and offset are in elements.
#[derive(Clone)]
pub struct Storage {
    pub(crate) buffer: Arc<Buffer>,
    pub(crate) strides: Vec<isize>,
    pub(crate) offset: usize,
}

impl Storage {
    /// A fresh row-major storage over `buffer` for `shape`.
    pub(crate) fn row_major(buffer: Buffer, shape: &[usize]) -> Storage {
        Storage { buffer: Arc::new(buffer), strides: row_major_strides(shape), offset: 0 }
    }

    /// The same buffer seen with other strides and offset.
    pub(crate) fn view(&self, strides: Vec<isize>, offset: usize) -> Storage {
        Storage { buffer: Arc::clone(&self.buffer), strides, offset }
    }

    /// True when the elements are laid out densely in C order (size-1 dims ignored).
    pub(crate) fn is_row_contiguous(&self, shape: &[usize]) -> bool {
        crate::shape::is_row_major(shape, &self.strides)
    }

    /// Pointer to the first element of the view.
    pub(crate) fn ptr<T: Element>(&self) -> *const T {
        // SAFETY: offset stays within the buffer by construction of every view.
        unsafe { (self.buffer.as_ptr() as *const T).add(self.offset) }
    }

    /// The elements of a row-contiguous view as a slice.
    ///
    /// # Safety
    /// The view must be row-contiguous for `len` elements of type `T`.
    pub(crate) unsafe fn as_slice<T: Element>(&self, len: usize) -> &[T] {
        if len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees the layout; the buffer outlives `self`.
        unsafe { std::slice::from_raw_parts(self.ptr::<T>(), len) }
    }

    /// True when nobody else holds the buffer and it is ours (not a read-only memory
    /// map), so a kernel may overwrite it.
    pub(crate) fn is_donatable(&self) -> bool {
        Arc::strong_count(&self.buffer) == 1 && !self.buffer.is_external()
    }

    /// Size in bytes of the underlying buffer.
    pub(crate) fn buffer_len(&self) -> usize {
        self.buffer.len()
    }
}

/// Allocates a row-major output for `shape` and `dtype`.
pub(crate) fn alloc_output(shape: &[usize], dtype: Dtype) -> crate::Result<Storage> {
    let bytes = crate::shape::numel(shape) * dtype.size();
    Ok(Storage::row_major(Buffer::allocate(bytes)?, shape))
}
