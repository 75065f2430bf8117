//! Reductions: sum, prod, max, min, mean, var, std, median, all, any, argmax, argmin,
//! logsumexp, softmax, count_nonzero.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::reduce::{ArgReduce, Reduce, ReduceOp};
use crate::shape::{normalize_axes, normalize_axis};
use std::sync::Arc;

/// Which axes a reduction runs over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Axes {
    /// Every axis.
    All,
    /// The listed axes (negative counts from the end).
    List(Vec<isize>),
}

impl From<isize> for Axes {
    fn from(a: isize) -> Self {
        Axes::List(vec![a])
    }
}

impl From<i32> for Axes {
    fn from(a: i32) -> Self {
        Axes::List(vec![a as isize])
    }
}

impl From<&[isize]> for Axes {
    fn from(a: &[isize]) -> Self {
        Axes::List(a.to_vec())
    }
}

impl<const N: usize> From<[isize; N]> for Axes {
    fn from(a: [isize; N]) -> Self {
        Axes::List(a.to_vec())
    }
}

impl From<Vec<isize>> for Axes {
    fn from(a: Vec<isize>) -> Self {
        Axes::List(a)
    }
}

impl From<Option<isize>> for Axes {
    fn from(a: Option<isize>) -> Self {
        a.map_or(Axes::All, |a| Axes::List(vec![a]))
    }
}

impl Axes {
    pub(crate) fn resolve(&self, op: &'static str, ndim: usize) -> Result<Vec<usize>> {
        match self {
            Axes::All => Ok((0..ndim).collect()),
            Axes::List(list) => normalize_axes(op, list, ndim),
        }
    }
}

/// The dtype a sum or product of `dtype` produces (MLX: small ints widen to 32 bits).
pub fn sum_dtype(dtype: Dtype) -> Dtype {
    match dtype {
        Dtype::Bool | Dtype::I8 | Dtype::I16 => Dtype::I32,
        Dtype::U8 | Dtype::U16 => Dtype::U32,
        d => d,
    }
}

fn reduce_op(op: ReduceOp, a: &Array, axes: impl Into<Axes>, keepdims: bool) -> Result<Array> {
    let axes = axes.into().resolve(op.name(), a.ndim())?;
    let dtype = match op {
        ReduceOp::Sum | ReduceOp::Prod => sum_dtype(a.dtype()),
        ReduceOp::All | ReduceOp::Any => Dtype::Bool,
        ReduceOp::Max | ReduceOp::Min => a.dtype(),
    };
    if matches!(op, ReduceOp::Max | ReduceOp::Min) && axes.iter().any(|&ax| a.shape()[ax] == 0) {
        return Err(Error::arg(op.name(), format!("cannot reduce an empty axis of shape {:?} without an initial value", a.shape())));
    }
    let x = crate::astype(a, dtype)?;
    let kept: Vec<usize> = a.shape().iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect();
    let out = if axes.is_empty() { x } else { Array::from_primitive(kept, dtype, Arc::new(Reduce { op, axes: axes.clone() }), vec![x]) };
    if keepdims {
        Ok(out)
    } else {
        let shape: Vec<usize> = a.shape().iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
        crate::reshape_to(&out, &shape)
    }
}

macro_rules! reductions {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(a: &Array, axes: impl Into<Axes>, keepdims: bool) -> Result<Array> {
            reduce_op(ReduceOp::$op, a, axes, keepdims)
        }
    )*};
}

reductions! {
    /// Sum over axes (bool and small ints accumulate in 32-bit integers).
    ///
    /// ```
    /// let a = rmx::reshape(&rmx::arange(0.0, 6.0, 1.0, rmx::Dtype::F32).unwrap(), &[2, 3]).unwrap();
    /// assert_eq!(rmx::sum(&a, 0, false).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 5.0, 7.0]);
    /// assert_eq!(rmx::sum(&a, rmx::Axes::All, false).unwrap().item::<f32>().unwrap(), 15.0);
    /// ```
    sum => Sum,
    /// Product over axes.
    prod => Prod,
    /// Maximum over axes; NaN propagates.
    max => Max,
    /// Minimum over axes; NaN propagates.
    min => Min,
    /// True when every element is nonzero.
    all => All,
    /// True when any element is nonzero.
    any => Any,
}

fn count(a: &Array, axes: &[usize]) -> f64 {
    axes.iter().map(|&i| a.shape()[i] as f64).product()
}

fn float_dtype(dtype: Dtype) -> Dtype {
    if dtype.is_inexact() {
        dtype
    } else {
        Dtype::F32
    }
}

/// The median over axes (integers give float32): the middle of the sorted values, or the
/// mean of the two middle ones; NaN where a NaN is among them (as MLX and NumPy).
///
/// ```
/// let a = rmx::Array::from_slice(&[3i32, 1, 2, 4, 5, 6, 7, 9], &[2, 4])?;
/// assert_eq!(rmx::median(&a, 1, false)?.to_vec::<f32>()?, vec![2.5, 6.5]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn median(a: &Array, axes: impl Into<Axes>, keepdims: bool) -> Result<Array> {
    let reduced = axes.into().resolve("median", a.ndim())?;
    let count: usize = reduced.iter().map(|&d| a.shape()[d]).product();
    if count == 0 {
        return Err(Error::arg("median", format!("cannot take the median along an empty axis (shape {:?}, axes {reduced:?})", a.shape())));
    }
    // The reduced axes, last and flattened into one.
    let kept: Vec<usize> = (0..a.ndim()).filter(|d| !reduced.contains(d)).collect();
    let order: Vec<isize> = kept.iter().chain(&reduced).map(|&d| d as isize).collect();
    let mut rows: Vec<isize> = kept.iter().map(|&d| a.shape()[d] as isize).collect();
    rows.push(count as isize);
    let x = crate::reshape(&crate::transpose(&crate::astype(a, float_dtype(a.dtype()))?, Some(&order))?, &rows)?;
    let sorted = crate::sort(&x, Some(-1))?;
    let at = |i: usize| crate::take(&sorted, &Array::scalar(i as u32), Some(-1));
    let mut m = crate::multiply(&crate::add(&at((count - 1) / 2)?, &at(count / 2)?)?, 0.5)?;
    if m.dtype().is_float() {
        m = crate::where_(&crate::any(&crate::isnan(&x)?, -1, false)?, f64::NAN, &m)?;
    }
    if keepdims {
        let axes: Vec<isize> = reduced.iter().map(|&d| d as isize).collect();
        m = crate::expand_dims(&m, &axes)?;
    }
    Ok(m)
}

/// Arithmetic mean over axes (integers give float32).
pub fn mean(a: &Array, axes: impl Into<Axes>, keepdims: bool) -> Result<Array> {
    let axes = axes.into();
    let resolved = axes.resolve("mean", a.ndim())?;
    let x = crate::astype(a, float_dtype(a.dtype()))?;
    crate::divide(&sum(&x, axes, keepdims)?, count(a, &resolved))
}

/// Variance over axes with `ddof` delta degrees of freedom.
pub fn var(a: &Array, axes: impl Into<Axes>, keepdims: bool, ddof: usize) -> Result<Array> {
    let axes = axes.into();
    let resolved = axes.resolve("var", a.ndim())?;
    let x = crate::astype(a, float_dtype(a.dtype()))?;
    let mu = mean(&x, axes.clone(), true)?;
    let centered = crate::subtract(&x, &mu)?;
    let sq = if x.dtype().is_complex() {
        crate::real(&crate::multiply(&centered, &crate::conj(&centered)?)?)?
    } else {
        crate::square(&centered)?
    };
    let n = count(a, &resolved);
    let denom = n - ddof as f64;
    let total = sum(&sq, axes, keepdims)?;
    if denom <= 0.0 {
        return crate::multiply(&total, f64::NAN);
    }
    crate::divide(&total, denom)
}

/// Standard deviation over axes with `ddof`.
pub fn std(a: &Array, axes: impl Into<Axes>, keepdims: bool, ddof: usize) -> Result<Array> {
    crate::sqrt(&var(a, axes, keepdims, ddof)?)
}

fn arg_reduce(max: bool, a: &Array, axis: Option<isize>, keepdims: bool) -> Result<Array> {
    let name = if max { "argmax" } else { "argmin" };
    let (x, ax) = match axis {
        None => (crate::reshape_to(a, &[a.size()])?, 0usize),
        Some(ax) => (a.clone(), normalize_axis(name, ax, a.ndim())?),
    };
    if x.shape()[ax] == 0 {
        return Err(Error::arg(name, "attempt to get the index of an extreme of an empty sequence"));
    }
    let mut kept = x.shape().to_vec();
    kept[ax] = 1;
    let out = Array::from_primitive(kept.clone(), Dtype::U32, Arc::new(ArgReduce { max, axis: ax }), vec![x]);
    match (keepdims, axis) {
        (true, Some(_)) => Ok(out),
        (true, None) => crate::reshape_to(&out, &vec![1; a.ndim()]),
        (false, _) => {
            kept.remove(ax);
            crate::reshape_to(&out, &kept)
        }
    }
}

/// Index (uint32) of the first maximum along `axis` (of the flattened array for `None`).
pub fn argmax(a: &Array, axis: Option<isize>, keepdims: bool) -> Result<Array> {
    arg_reduce(true, a, axis, keepdims)
}

/// Index (uint32) of the first minimum along `axis` (of the flattened array for `None`).
pub fn argmin(a: &Array, axis: Option<isize>, keepdims: bool) -> Result<Array> {
    arg_reduce(false, a, axis, keepdims)
}

/// `log(sum(exp(a)))` over axes, computed stably.
pub fn logsumexp(a: &Array, axes: impl Into<Axes>, keepdims: bool) -> Result<Array> {
    let axes = axes.into();
    let x = crate::astype(a, float_dtype(a.dtype()))?;
    let m = max(&x, axes.clone(), true)?;
    // An infinite maximum would give inf - inf; shift by zero there instead.
    let shift = crate::where_(&crate::isinf(&m)?, 0.0, &m)?;
    let s = sum(&crate::exp(&crate::subtract(&x, &shift)?)?, axes.clone(), true)?;
    let out = crate::add(&crate::log(&s)?, &shift)?;
    if keepdims {
        Ok(out)
    } else {
        let resolved = axes.resolve("logsumexp", a.ndim())?;
        let shape: Vec<usize> = a.shape().iter().enumerate().filter(|(i, _)| !resolved.contains(i)).map(|(_, &d)| d).collect();
        crate::reshape_to(&out, &shape)
    }
}

/// `exp(a) / sum(exp(a))` over axes.
pub fn softmax(a: &Array, axes: impl Into<Axes>) -> Result<Array> {
    let axes = axes.into();
    let x = crate::astype(a, float_dtype(a.dtype()))?;
    if x.size() == 0 {
        // Nothing to normalize (the max of an empty axis would be an error).
        axes.resolve("softmax", x.ndim())?;
        return Ok(x);
    }
    let m = max(&x, axes.clone(), true)?;
    let e = crate::exp(&crate::subtract(&x, &m)?)?;
    crate::divide(&e, &sum(&e, axes, true)?)
}

/// Number of nonzero elements over axes (uint32... as MLX: the sum dtype of bool, int32).
pub fn count_nonzero(a: &Array, axes: impl Into<Axes>, keepdims: bool) -> Result<Array> {
    sum(&crate::not_equal(a, 0)?, axes, keepdims)
}
