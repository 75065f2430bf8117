//! Shapes, strides and axes: broadcasting rules and the helpers every op uses to validate
//! its axis arguments.

use crate::error::{Error, Result};

/// Number of elements of a shape (1 for a 0-d shape).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major (C order) strides, in elements, of a shape.
pub fn row_major_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for (stride, &dim) in strides.iter_mut().zip(shape).rev() {
        *stride = acc;
        acc *= dim.max(1) as isize;
    }
    strides
}

/// Whether `strides` (in elements) lay `shape` out densely in C order; size-1 dimensions may
/// have any stride.
pub(crate) fn is_row_major(shape: &[usize], strides: &[isize]) -> bool {
    let mut expected = 1isize;
    for (&dim, &stride) in shape.iter().zip(strides).rev() {
        if dim != 1 {
            if stride != expected {
                return false;
            }
            expected *= dim as isize;
        }
    }
    true
}

/// NumPy broadcasting of two shapes: align on the right, sizes must match or be 1.
///
/// ```
/// assert_eq!(rmx::broadcast_shapes(&[3, 1, 5], &[4, 1]).unwrap(), vec![3, 4, 5]);
/// assert!(rmx::broadcast_shapes(&[3], &[4]).is_err());
/// ```
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    broadcast_shapes_for("broadcast_shapes", a, b)
}

pub(crate) fn broadcast_shapes_for(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let ndim = a.len().max(b.len());
    let mut out = vec![0; ndim];
    for i in 0..ndim {
        let da = if i < ndim - a.len() { 1 } else { a[i - (ndim - a.len())] };
        let db = if i < ndim - b.len() { 1 } else { b[i - (ndim - b.len())] };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shapes_detail(op, &[a, b], "cannot broadcast"));
        };
    }
    Ok(out)
}

/// Broadcast shape of many shapes.
pub fn broadcast_many(op: &'static str, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = Vec::new();
    for s in shapes {
        out = broadcast_shapes_for(op, &out, s).map_err(|_| Error::shapes_detail(op, shapes, "cannot broadcast"))?;
    }
    Ok(out)
}

/// Maps a possibly negative axis into `0..ndim`.
pub fn normalize_axis(op: &'static str, axis: isize, ndim: usize) -> Result<usize> {
    let n = ndim as isize;
    if axis < -n || axis >= n {
        return Err(Error::AxisOutOfRange { op, axis, ndim });
    }
    Ok(if axis < 0 { (axis + n) as usize } else { axis as usize })
}

/// Normalizes a list of axes, rejecting duplicates; the result is sorted.
pub fn normalize_axes(op: &'static str, axes: &[isize], ndim: usize) -> Result<Vec<usize>> {
    let mut out = axes.iter().map(|&a| normalize_axis(op, a, ndim)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::arg(op, format!("repeated axis in {axes:?}")));
    }
    Ok(out)
}

/// Strides of `shape` viewed as broadcast to `target` (0 for broadcast dimensions).
pub fn broadcast_strides(shape: &[usize], strides: &[isize], target: &[usize]) -> Vec<isize> {
    let pad = target.len() - shape.len();
    (0..target.len()).map(|i| if i < pad || (shape[i - pad] == 1 && target[i] != 1) { 0 } else { strides[i - pad] }).collect()
}

/// Checks that a requested dimension list holds no overflow of the address space.
pub(crate) fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize / 16)
        .ok_or_else(|| Error::arg(op, format!("shape {shape:?} is too large")))
}
