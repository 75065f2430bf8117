//! Copies between layouts: strided views to row-major buffers, and dtype conversion.

use super::elementwise::map1;
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::Result;
use crate::shape::numel;
use crate::storage::{alloc_output, Storage};

/// The elements of a strided view, in row-major order.
pub fn gather_to_vec<T: Element>(s: &Storage, shape: &[usize]) -> Vec<T> {
    let n = numel(shape);
    if s.is_row_contiguous(shape) {
        // SAFETY: a row-contiguous view of `n` elements.
        return unsafe { s.as_slice::<T>(n) }.to_vec();
    }
    let mut out: Vec<T> = Vec::with_capacity(n);
    map1::<T, T>(s, &s.strides, shape, out.as_mut_ptr(), |x| x);
    // SAFETY: map1 wrote all `n` elements.
    unsafe { out.set_len(n) };
    out
}

/// A row-major copy of a strided view (the input itself when it is already row-major).
pub fn to_row_major(s: &Storage, shape: &[usize], dtype: Dtype) -> Result<Storage> {
    if s.is_row_contiguous(shape) && s.strides == crate::shape::row_major_strides(shape) {
        return Ok(s.clone());
    }
    let out = alloc_output(shape, dtype)?;
    crate::dispatch_dtype!(dtype, T => map1::<T, T>(s, &s.strides, shape, out.ptr::<T>() as *mut T, |x| x));
    Ok(out)
}

/// Converts a strided view of `from` elements into a fresh row-major array of `to`.
pub fn astype(s: &Storage, shape: &[usize], from: Dtype, to: Dtype, out: &Storage) {
    crate::dispatch_dtype!(from, I => {
        crate::dispatch_dtype!(to, O => {
            map1::<I, O>(s, &s.strides, shape, out.ptr::<O>() as *mut O, |x| x.cast::<O>())
        })
    })
}

/// Copies a strided source into a strided destination of the same shape.
///
/// # Safety
/// `dst` with `dst_strides` must address writable memory for every index of `shape`, and
/// distinct indices must map to distinct destination elements.
pub unsafe fn copy_strided<T: Element>(src: &Storage, src_strides: &[isize], dst: *mut T, dst_strides: &[isize], shape: &[usize]) {
    let ps = super::strided::SendConstPtr(src.ptr::<T>());
    let pd = super::strided::SendPtr(dst);
    super::strided::for_each_row(shape, [src_strides, dst_strides], |_, [os, od], len, [ss, sd]| {
        let (ps, pd) = (ps, pd);
        // SAFETY: the caller guarantees the destination range; the source view is valid.
        unsafe {
            let (s, d) = (ps.0.offset(os), pd.0.offset(od));
            if ss == 1 && sd == 1 {
                std::ptr::copy_nonoverlapping(s, d, len);
            } else {
                for j in 0..len as isize {
                    *d.offset(j * sd) = *s.offset(j * ss);
                }
            }
        }
    });
}
