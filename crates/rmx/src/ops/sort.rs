//! Sorting and selection: sort, argsort, partition, argpartition, topk, searchsorted; and
//! the scans cumsum, cumprod, cummax, cummin, logcumsumexp, with diff.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::scan::{Scan, ScanOp};
use crate::primitive::sort::{SearchSorted, Sort};
use crate::shape::normalize_axis;
use std::sync::Arc;

fn along(op: &'static str, a: &Array, axis: Option<isize>) -> Result<(Array, usize)> {
    match axis {
        None => Ok((crate::reshape_to(a, &[a.size()])?, 0)),
        Some(ax) => {
            if a.ndim() == 0 {
                return Err(Error::shapes_detail(op, &[a.shape()], "needs at least one dimension"));
            }
            Ok((a.clone(), normalize_axis(op, ax, a.ndim())?))
        }
    }
}

/// Sorted copy along `axis` (flattened for `None`); NaN sorts last.
///
/// ```
/// let a = rmx::Array::from_slice(&[3.0f32, f32::NAN, 1.0, 2.0], &[4]).unwrap();
/// let s = rmx::sort(&a, Some(-1)).unwrap().to_vec::<f32>().unwrap();
/// assert_eq!(&s[..3], &[1.0, 2.0, 3.0]);
/// assert!(s[3].is_nan());
/// ```
pub fn sort(a: &Array, axis: Option<isize>) -> Result<Array> {
    let (x, ax) = along("sort", a, axis)?;
    Ok(Array::from_primitive(x.shape().to_vec(), x.dtype(), Arc::new(Sort { axis: ax, indices: false }), vec![x]))
}

/// Indices (uint32) that sort along `axis`; stable for equal elements.
pub fn argsort(a: &Array, axis: Option<isize>) -> Result<Array> {
    let (x, ax) = along("argsort", a, axis)?;
    Ok(Array::from_primitive(x.shape().to_vec(), Dtype::U32, Arc::new(Sort { axis: ax, indices: true }), vec![x]))
}

fn check_kth(op: &'static str, a: &Array, kth: isize, ax: usize) -> Result<()> {
    let n = a.shape()[ax] as isize;
    if kth < -n || kth >= n {
        return Err(Error::arg(op, format!("kth {kth} is out of range for an axis of size {n}")));
    }
    Ok(())
}

/// A copy in which the element at `kth` is where a sort would put it, smaller ones before it
/// and larger ones after. (This build returns the fully sorted line, which satisfies that.)
pub fn partition(a: &Array, kth: isize, axis: Option<isize>) -> Result<Array> {
    let (x, ax) = along("partition", a, axis)?;
    check_kth("partition", &x, kth, ax)?;
    sort(&x, Some(ax as isize))
}

/// Indices that [`partition`] along `axis`.
pub fn argpartition(a: &Array, kth: isize, axis: Option<isize>) -> Result<Array> {
    let (x, ax) = along("argpartition", a, axis)?;
    check_kth("argpartition", &x, kth, ax)?;
    argsort(&x, Some(ax as isize))
}

/// The `k` largest elements along `axis` (ascending).
pub fn topk(a: &Array, k: usize, axis: Option<isize>) -> Result<Array> {
    let (x, ax) = along("topk", a, axis)?;
    let n = x.shape()[ax];
    if k == 0 || k > n {
        return Err(Error::arg("topk", format!("k = {k} must be in 1..={n}")));
    }
    let sorted = sort(&x, Some(ax as isize))?;
    let nd = x.ndim();
    let mut starts = vec![0isize; nd];
    let stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    starts[ax] = (n - k) as isize;
    crate::slice(&sorted, &starts, &stops, &vec![1; nd])
}

/// Insertion indices (uint32, shaped like `values`) that keep the 1-d `sorted` sequence sorted.
pub fn searchsorted(sorted: &Array, values: &Array, right: bool) -> Result<Array> {
    if sorted.ndim() != 1 {
        return Err(Error::shapes_detail("searchsorted", &[sorted.shape()], "the sorted sequence must be 1-d"));
    }
    let dtype = crate::promote_types(sorted.dtype(), values.dtype());
    let (s, v) = (crate::astype(sorted, dtype)?, crate::astype(values, dtype)?);
    Ok(Array::from_primitive(values.shape().to_vec(), Dtype::U32, Arc::new(SearchSorted { right }), vec![s, v]))
}

fn scan(op: ScanOp, a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    let (x, ax) = along(op.name(), a, axis)?;
    let dtype = match (op, x.dtype()) {
        (ScanOp::LogAddExp, d) if !d.is_float() => Dtype::F32,
        (ScanOp::Sum, Dtype::Bool) => Dtype::I32,
        (_, d) => d,
    };
    let x = crate::astype(&x, dtype)?;
    Ok(Array::from_primitive(x.shape().to_vec(), dtype, Arc::new(Scan { op, axis: ax, reverse, inclusive }), vec![x]))
}

/// Cumulative sum along `axis` (flattened for `None`); `reverse` scans from the end and
/// `inclusive = false` shifts by one (starting at 0).
///
/// ```
/// let a = rmx::Array::from_slice(&[1i32, 2, 3], &[3]).unwrap();
/// assert_eq!(rmx::cumsum(&a, Some(0), false, true).unwrap().to_vec::<i32>().unwrap(), vec![1, 3, 6]);
/// assert_eq!(rmx::cumsum(&a, Some(0), true, false).unwrap().to_vec::<i32>().unwrap(), vec![5, 3, 0]);
/// ```
pub fn cumsum(a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    scan(ScanOp::Sum, a, axis, reverse, inclusive)
}

/// Cumulative product.
pub fn cumprod(a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    scan(ScanOp::Prod, a, axis, reverse, inclusive)
}

/// Running maximum.
pub fn cummax(a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    scan(ScanOp::Max, a, axis, reverse, inclusive)
}

/// Running minimum.
pub fn cummin(a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    scan(ScanOp::Min, a, axis, reverse, inclusive)
}

/// Running `log(sum(exp(a)))`.
pub fn logcumsumexp(a: &Array, axis: Option<isize>, reverse: bool, inclusive: bool) -> Result<Array> {
    scan(ScanOp::LogAddExp, a, axis, reverse, inclusive)
}

/// `n`-th discrete difference along `axis`.
pub fn diff(a: &Array, n: usize, axis: isize) -> Result<Array> {
    let ax = normalize_axis("diff", axis, a.ndim())?;
    let mut x = a.clone();
    for _ in 0..n {
        let len = x.shape()[ax] as isize;
        let nd = x.ndim();
        let stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        let mut hi_start = vec![0isize; nd];
        hi_start[ax] = 1.min(len);
        let mut lo_stop = stops.clone();
        lo_stop[ax] = (len - 1).max(0);
        let hi = crate::slice(&x, &hi_start, &stops, &vec![1; nd])?;
        let lo = crate::slice(&x, &vec![0; nd], &lo_stop, &vec![1; nd])?;
        x = if x.dtype() == Dtype::Bool { crate::not_equal(&hi, &lo)? } else { crate::subtract(&hi, &lo)? };
    }
    Ok(x)
}
