//! Layout ops built from other ops: flip, roll, tile, repeat, pad (constant, edge, reflect,
//! symmetric), diag, diagonal, trace, meshgrid.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::shape::{normalize_axes, normalize_axis};

fn full_slice(a: &Array) -> (Vec<isize>, Vec<isize>, Vec<isize>) {
    let nd = a.ndim();
    (vec![0; nd], a.shape().iter().map(|&d| d as isize).collect(), vec![1; nd])
}

/// Reverses the order of elements along `axes` (all axes for `None`); a view.
pub fn flip(a: &Array, axes: Option<&[isize]>) -> Result<Array> {
    let axes = match axes {
        None => (0..a.ndim()).collect(),
        Some(ax) => normalize_axes("flip", ax, a.ndim())?,
    };
    let (mut starts, mut stops, mut steps) = full_slice(a);
    for ax in axes {
        starts[ax] = a.shape()[ax] as isize - 1;
        stops[ax] = -(a.shape()[ax] as isize) - 1;
        steps[ax] = -1;
    }
    crate::slice(a, &starts, &stops, &steps)
}

/// Rolls elements by `shift` along `axis` (of the flattened array for `None`).
///
/// ```
/// let a = rmx::arange(0.0, 5.0, 1.0, rmx::Dtype::F32).unwrap();
/// assert_eq!(rmx::roll(&a, 2, None).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 4.0, 0.0, 1.0, 2.0]);
/// ```
pub fn roll(a: &Array, shift: isize, axis: Option<isize>) -> Result<Array> {
    let Some(axis) = axis else {
        let flat = crate::reshape_to(a, &[a.size()])?;
        return crate::reshape_to(&roll(&flat, shift, Some(0))?, a.shape());
    };
    let ax = normalize_axis("roll", axis, a.ndim())?;
    let n = a.shape()[ax] as isize;
    if n == 0 {
        return Ok(a.clone());
    }
    let s = shift.rem_euclid(n);
    if s == 0 {
        return Ok(a.clone());
    }
    let parts = crate::split_at(a, &[(n - s) as usize], ax as isize)?;
    crate::concatenate(&[parts[1].clone(), parts[0].clone()], ax as isize)
}

/// Repeats the whole array `reps` times along each axis.
pub fn tile(a: &Array, reps: &[usize]) -> Result<Array> {
    let nd = a.ndim().max(reps.len());
    let mut shape = vec![1usize; nd - a.ndim()];
    shape.extend(a.shape());
    let mut reps_full = vec![1usize; nd - reps.len()];
    reps_full.extend(reps);
    let x = crate::reshape_to(a, &shape)?;
    let mut interleaved = Vec::new();
    let mut target = Vec::new();
    let mut out = Vec::new();
    for (&d, &r) in shape.iter().zip(&reps_full) {
        interleaved.extend([1, d]);
        target.extend([r, d]);
        out.push(r * d);
    }
    let x = crate::reshape_to(&x, &interleaved)?;
    crate::reshape_to(&crate::broadcast_to(&x, &target)?, &out)
}

/// Repeats each element `repeats` times along `axis` (of the flattened array for `None`).
pub fn repeat(a: &Array, repeats: usize, axis: Option<isize>) -> Result<Array> {
    let (x, ax) = match axis {
        None => (crate::reshape_to(a, &[a.size()])?, 0),
        Some(ax) => (a.clone(), normalize_axis("repeat", ax, a.ndim())?),
    };
    let expanded = crate::expand_dims(&x, &[ax as isize + 1])?;
    let mut target = expanded.shape().to_vec();
    target[ax + 1] = repeats;
    let mut out = x.shape().to_vec();
    out[ax] *= repeats;
    crate::reshape_to(&crate::broadcast_to(&expanded, &target)?, &out)
}

/// How [`pad`] fills the border.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value.
    Constant(f64),
    /// The edge element repeated.
    Edge,
    /// Mirror without repeating the edge (`3 2 | 1 2 3 | 2 1`).
    Reflect,
    /// Mirror repeating the edge (`2 1 | 1 2 3 | 3 2`).
    Symmetric,
}

/// Pads each axis with `(before, after)` elements.
///
/// ```
/// use rmx::PadMode;
/// let a = rmx::Array::from_slice(&[1i32, 2, 3], &[3]).unwrap();
/// let r = rmx::pad(&a, &[(2, 2)], PadMode::Reflect).unwrap();
/// assert_eq!(r.to_vec::<i32>().unwrap(), vec![3, 2, 1, 2, 3, 2, 1]);
/// ```
pub fn pad(a: &Array, widths: &[(usize, usize)], mode: PadMode) -> Result<Array> {
    let widths: Vec<(usize, usize)> = match widths.len() {
        1 => vec![widths[0]; a.ndim()],
        n if n == a.ndim() => widths.to_vec(),
        n => return Err(Error::arg("pad", format!("{n} pad widths for an array of rank {}", a.ndim()))),
    };
    if let PadMode::Constant(value) = mode {
        let shape: Vec<usize> = a.shape().iter().zip(&widths).map(|(&d, &(lo, hi))| d + lo + hi).collect();
        let base = crate::full(&shape, value, a.dtype())?;
        let starts: Vec<isize> = widths.iter().map(|&(lo, _)| lo as isize).collect();
        let stops: Vec<isize> = a.shape().iter().zip(&widths).map(|(&d, &(lo, _))| (lo + d) as isize).collect();
        return crate::slice_update(&base, a, &starts, &stops, &vec![1; a.ndim()]);
    }
    let mut x = a.clone();
    for (ax, &(lo, hi)) in widths.iter().enumerate() {
        if lo == 0 && hi == 0 {
            continue;
        }
        let n = a.shape()[ax] as i64;
        if n == 0 {
            return Err(Error::arg("pad", format!("cannot {mode:?}-pad an empty axis")));
        }
        let idx: Vec<i32> = (-(lo as i64)..n + hi as i64).map(|i| source_index(i, n, mode) as i32).collect();
        let len = idx.len();
        x = crate::take(&x, &Array::from_slice(&idx, &[len])?, Some(ax as isize))?;
    }
    Ok(x)
}

/// The element a padded position `i` copies from, for an axis of size `n`.
fn source_index(i: i64, n: i64, mode: PadMode) -> i64 {
    match mode {
        PadMode::Edge | PadMode::Constant(_) => i.clamp(0, n - 1),
        PadMode::Reflect => {
            if n == 1 {
                return 0;
            }
            let period = 2 * (n - 1);
            let m = i.rem_euclid(period);
            if m < n {
                m
            } else {
                period - m
            }
        }
        PadMode::Symmetric => {
            let period = 2 * n;
            let m = i.rem_euclid(period);
            if m < n {
                m
            } else {
                period - 1 - m
            }
        }
    }
}

/// The `offset` diagonal of the plane `(axis1, axis2)`, as a new last axis.
pub fn diagonal(a: &Array, offset: isize, axis1: isize, axis2: isize) -> Result<Array> {
    if a.ndim() < 2 {
        return Err(Error::shapes_detail("diagonal", &[a.shape()], "needs at least 2 dimensions"));
    }
    let (a1, a2) = (normalize_axis("diagonal", axis1, a.ndim())?, normalize_axis("diagonal", axis2, a.ndim())?);
    if a1 == a2 {
        return Err(Error::arg("diagonal", "axis1 and axis2 must differ"));
    }
    let (n1, n2) = (a.shape()[a1] as isize, a.shape()[a2] as isize);
    let len = if offset >= 0 { n1.min(n2 - offset) } else { (n1 + offset).min(n2) }.max(0) as usize;
    let rows: Vec<i32> = (0..len as isize).map(|i| (if offset >= 0 { i } else { i - offset }) as i32).collect();
    let cols: Vec<i32> = (0..len as isize).map(|i| (if offset >= 0 { i + offset } else { i }) as i32).collect();
    let g = crate::gather(a, &[Array::from_slice(&rows, &[len])?, Array::from_slice(&cols, &[len])?], &[a1 as isize, a2 as isize])?;
    crate::moveaxis(&g, 0, -1)
}

/// A 1-d input becomes a matrix with it on diagonal `k`; a 2-d input gives its diagonal `k`.
pub fn diag(a: &Array, k: isize) -> Result<Array> {
    match a.ndim() {
        1 => {
            let n = a.shape()[0];
            let m = n + k.unsigned_abs();
            let mask = crate::eye(m, None, k, Dtype::Bool)?;
            let idx: Vec<i32> = (0..m).map(|i| i.min(n.saturating_sub(1)) as i32).collect();
            let along = Array::from_slice(&idx, &[m])?;
            let values = crate::take(a, &along, Some(0))?;
            let values = if k >= 0 { crate::reshape_to(&values, &[m, 1])? } else { crate::reshape_to(&values, &[1, m])? };
            crate::where_(&mask, &values, &crate::zeros(&[], a.dtype())?)
        }
        2 => diagonal(a, k, 0, 1),
        _ => Err(Error::shapes_detail("diag", &[a.shape()], "input must be 1-d or 2-d")),
    }
}

/// Sum of the `offset` diagonal of the plane `(axis1, axis2)`.
pub fn trace(a: &Array, offset: isize, axis1: isize, axis2: isize) -> Result<Array> {
    crate::sum(&diagonal(a, offset, axis1, axis2)?, -1, false)
}

/// Coordinate grids from 1-d arrays; `xy` indexing swaps the first two output axes (NumPy).
pub fn meshgrid(arrays: &[Array], xy: bool) -> Result<Vec<Array>> {
    let n = arrays.len();
    let mut sizes: Vec<usize> = arrays.iter().map(|a| a.size()).collect();
    if xy && n >= 2 {
        sizes.swap(0, 1);
    }
    arrays
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut shape = vec![1usize; n];
            let pos = if xy && n >= 2 && i < 2 { 1 - i } else { i };
            shape[pos] = a.size();
            crate::broadcast_to(&crate::reshape_to(a, &shape)?, &sizes)
        })
        .collect()
}
