//! Updates through indices, each returning a new array: `a[idx] = v` ([`index_update`]),
//! MLX's `a.at[idx].add(v)` family ([`at`], [`at_index`]), and the combining updates of a
//! strided window (MLX's `slice_update_add`/`_prod`/`_max`/`_min`).
//!
//! An index of integers and slices only updates a strided window (`slice_update`); integer
//! arrays on the leading axes scatter directly; any other mix scatters into the flattened
//! array at the positions the index selects from an `arange` of them, so every index that
//! [`index`](crate::index) reads can be written, with NumPy's and MLX's shapes.

use super::indexing::{basic_window, expand_index, scatter, Index};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::indexing::ScatterMode;

/// `a.at[indices]` for integer-array indices on the leading axes: combining updates, as
/// MLX's `x.at[idx].add(v)` and friends (repeated indices accumulate).
///
/// ```
/// let a = rmx::zeros(&[3], rmx::Dtype::F32).unwrap();
/// let i = rmx::Array::from_slice(&[0i32, 0, 2], &[3]).unwrap();
/// let r = rmx::at(&a, &[i]).add(1.0f32).unwrap();
/// assert_eq!(r.to_vec::<f32>().unwrap(), vec![2.0, 0.0, 1.0]);
/// ```
pub fn at(a: &Array, indices: &[Array]) -> At {
    At { a: a.clone(), index: indices.iter().map(|i| Index::Array(i.clone())).collect() }
}

/// `a.at[idx]` for any NumPy-style index (integers, slices, `...`, new axes, integer
/// arrays): the values broadcast to the shape `index(a, idx)` has.
///
/// ```
/// use rmx::Index;
/// let a = rmx::zeros(&[2, 4], rmx::Dtype::F32).unwrap();
/// let r = rmx::at_index(&a, &[Index::Ellipsis, Index::Slice(Some(1), None, 2)]).add(5.0f32).unwrap();
/// assert_eq!(r.to_vec::<f32>().unwrap(), vec![0.0, 5.0, 0.0, 5.0, 0.0, 5.0, 0.0, 5.0]);
/// ```
pub fn at_index(a: &Array, idx: &[Index]) -> At {
    At { a: a.clone(), index: idx.to_vec() }
}

/// `a[idx] = v` as a new array: NumPy's and MLX's `__setitem__` (with repeated array
/// indices, one of the values lands, as in both).
///
/// ```
/// use rmx::Index;
/// let a = rmx::zeros(&[2, 3], rmx::Dtype::I32).unwrap();
/// let r = rmx::index_update(&a, &[Index::Slice(None, None, 1), Index::At(-1)], 7).unwrap();
/// assert_eq!(r.to_vec::<i32>().unwrap(), vec![0, 0, 7, 0, 0, 7]);
/// ```
pub fn index_update(a: &Array, idx: &[Index], v: impl crate::IntoOperand) -> Result<Array> {
    at_index(a, idx).set(v)
}

/// The pending update returned by [`at`] and [`at_index`].
pub struct At {
    a: Array,
    index: Vec<Index>,
}

impl At {
    fn apply(&self, values: impl crate::IntoOperand, mode: ScatterMode) -> Result<Array> {
        let v = match values.into_operand() {
            crate::Operand::Array(v) => v,
            crate::Operand::Scalar(s) => s.to_array("at", s.weak_dtype(self.a.dtype()))?,
        };
        update(&self.a, &self.index, &v, mode)
    }
    /// Replaces the indexed elements.
    pub fn set(&self, v: impl crate::IntoOperand) -> Result<Array> {
        self.apply(v, ScatterMode::Replace)
    }
    /// Adds, accumulating over repeated indices.
    pub fn add(&self, v: impl crate::IntoOperand) -> Result<Array> {
        self.apply(v, ScatterMode::Add)
    }
    /// Subtracts, accumulating over repeated indices.
    pub fn subtract(&self, v: impl crate::IntoOperand) -> Result<Array> {
        let v = crate::ops::scalar::resolve_one("at", v.into_operand())?;
        self.apply(crate::negative(&v)?, ScatterMode::Add)
    }
    /// Multiplies, accumulating over repeated indices.
    pub fn multiply(&self, v: impl crate::IntoOperand) -> Result<Array> {
        self.apply(v, ScatterMode::Multiply)
    }
    /// Divides, accumulating over repeated indices.
    pub fn divide(&self, v: impl crate::IntoOperand) -> Result<Array> {
        self.apply(v, ScatterMode::Divide)
    }
    /// Element-wise maximum with the indexed elements.
    pub fn maximum(&self, v: impl crate::IntoOperand) -> Result<Array> {
        self.apply(v, ScatterMode::Maximum)
    }
    /// Element-wise minimum with the indexed elements.
    pub fn minimum(&self, v: impl crate::IntoOperand) -> Result<Array> {
        self.apply(v, ScatterMode::Minimum)
    }
}

/// Combines `v` into a copy of `a` at `idx` by `mode`.
fn update(a: &Array, idx: &[Index], v: &Array, mode: ScatterMode) -> Result<Array> {
    let full = expand_index(a, idx)?;
    let target = crate::index(a, idx)?;
    let v = crate::broadcast_to(&crate::astype(v, a.dtype())?, target.shape())
        .map_err(|_| Error::shapes_detail("at", &[v.shape(), target.shape()], "the values do not broadcast to the indexed shape"))?;
    let arrays: Vec<Array> = full.iter().filter_map(|i| if let Index::Array(x) = i { Some(x.clone()) } else { None }).collect();
    // Integer and boolean division keeps the scatter kernel's rule (truncation, 0 for a
    // zero divisor) rather than true division.
    if arrays.is_empty() && (mode != ScatterMode::Divide || a.dtype().is_inexact()) {
        let (starts, stops, steps) = basic_window(a, &full)?;
        // The window keeps the integer-indexed axes (size 1) and has no new axes (size 1 in
        // `v`): the same values in the same order.
        let window = crate::slice(a, &starts, &stops, &steps)?;
        return combine_window(a, &window, &crate::reshape_to(&v, window.shape())?, (&starts, &stops, &steps), mode);
    }
    let leading = !arrays.is_empty()
        && full[..arrays.len()].iter().all(|i| matches!(i, Index::Array(_)))
        && full[arrays.len()..].iter().all(|i| matches!(i, Index::Slice(None, None, 1)));
    if leading {
        let axes: Vec<isize> = (0..arrays.len() as isize).collect();
        return scatter(a, &arrays, &v, &axes, mode);
    }
    let position_dtype = if a.size() <= i32::MAX as usize { Dtype::I32 } else { Dtype::I64 };
    let positions = crate::reshape_to(&crate::arange(0.0, a.size() as f64, 1.0, position_dtype)?, a.shape())?;
    let flat = crate::reshape_to(a, &[a.size()])?;
    let updated = scatter(&flat, &[crate::index(&positions, idx)?], &v, &[0], mode)?;
    crate::reshape_to(&updated, a.shape())
}

/// `a` with `window` (the slice `starts..stops` by `steps` of `a`) replaced by its
/// combination with `v` (already the window's shape and `a`'s dtype; division only for
/// float and complex dtypes).
fn combine_window(
    a: &Array,
    window: &Array,
    v: &Array,
    (starts, stops, steps): (&[isize], &[isize], &[isize]),
    mode: ScatterMode,
) -> Result<Array> {
    let combined = match mode {
        ScatterMode::Replace => v.clone(),
        ScatterMode::Add => crate::add(window, v)?,
        ScatterMode::Multiply => crate::multiply(window, v)?,
        ScatterMode::Divide => crate::divide(window, v)?,
        ScatterMode::Maximum => crate::maximum(window, v)?,
        ScatterMode::Minimum => crate::minimum(window, v)?,
    };
    crate::slice_update(a, &combined, starts, stops, steps)
}

/// Combines `update` (broadcast to the window) into the strided window `starts..stops` by
/// `steps` of a copy of `a`.
fn slice_combine(
    op: &'static str,
    a: &Array,
    update: &Array,
    starts: &[isize],
    stops: &[isize],
    steps: &[isize],
    mode: ScatterMode,
) -> Result<Array> {
    let window = crate::slice(a, starts, stops, steps)?;
    let v = crate::broadcast_to(&crate::astype(update, a.dtype())?, window.shape())
        .map_err(|_| Error::shapes_detail(op, &[update.shape(), window.shape()], "the update does not broadcast to the window"))?;
    combine_window(a, &window, &v, (starts, stops, steps), mode)
}

/// Adds `update` (broadcast to the window) into the strided window `starts..stops` by
/// `steps` of a copy of `a` (MLX's `slice_update_add`).
///
/// ```
/// let a = rmx::ones(&[5], rmx::Dtype::F32).unwrap();
/// let u = rmx::Array::from_slice(&[10.0f32, 20.0], &[2]).unwrap();
/// let r = rmx::slice_update_add(&a, &u, &[1], &[5], &[2]).unwrap();
/// assert_eq!(r.to_vec::<f32>().unwrap(), vec![1.0, 11.0, 1.0, 21.0, 1.0]);
/// ```
pub fn slice_update_add(a: &Array, update: &Array, starts: &[isize], stops: &[isize], steps: &[isize]) -> Result<Array> {
    slice_combine("slice_update_add", a, update, starts, stops, steps, ScatterMode::Add)
}

/// Multiplies the strided window of a copy of `a` by `update` (MLX's `slice_update_prod`).
pub fn slice_update_prod(a: &Array, update: &Array, starts: &[isize], stops: &[isize], steps: &[isize]) -> Result<Array> {
    slice_combine("slice_update_prod", a, update, starts, stops, steps, ScatterMode::Multiply)
}

/// The element-wise maximum of the strided window of a copy of `a` and `update` (MLX's
/// `slice_update_max`).
pub fn slice_update_max(a: &Array, update: &Array, starts: &[isize], stops: &[isize], steps: &[isize]) -> Result<Array> {
    slice_combine("slice_update_max", a, update, starts, stops, steps, ScatterMode::Maximum)
}

/// The element-wise minimum of the strided window of a copy of `a` and `update` (MLX's
/// `slice_update_min`).
pub fn slice_update_min(a: &Array, update: &Array, starts: &[isize], stops: &[isize], steps: &[isize]) -> Result<Array> {
    slice_combine("slice_update_min", a, update, starts, stops, steps, ScatterMode::Minimum)
}
