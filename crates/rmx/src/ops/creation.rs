//! Creation ops: constants, ranges, identity matrices and triangles.

use super::scalar::{IntoOperand, Operand, Scalar};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::creation::{Arange, Full};
use crate::shape::checked_numel;
use std::sync::Arc;

/// An array of `shape` filled with `value` (converted to `dtype`).
///
/// ```
/// let a = rmx::full(&[2, 2], 7, rmx::Dtype::I32).unwrap();
/// assert_eq!(a.to_vec::<i32>().unwrap(), vec![7; 4]);
/// ```
pub fn full(shape: &[usize], value: impl IntoOperand, dtype: Dtype) -> Result<Array> {
    checked_numel("full", shape)?;
    let v = match value.into_operand() {
        Operand::Scalar(s) => s.to_array("full", dtype).or_else(|_| crate::astype(&s.to_array("full", s.default_dtype())?, dtype))?,
        Operand::Array(a) => {
            if a.size() != 1 {
                return crate::broadcast_to(&crate::astype(&a, dtype)?, shape).and_then(|b| crate::contiguous(&b));
            }
            crate::reshape_to(&crate::astype(&a, dtype)?, &[])?
        }
    };
    Ok(Array::from_primitive(shape.to_vec(), dtype, Arc::new(Full), vec![v]))
}

/// Zeros of `shape`.
pub fn zeros(shape: &[usize], dtype: Dtype) -> Result<Array> {
    full(shape, Scalar::Int(0).to_array("zeros", dtype)?, dtype)
}

/// Ones of `shape`.
pub fn ones(shape: &[usize], dtype: Dtype) -> Result<Array> {
    full(shape, Scalar::Int(1).to_array("ones", dtype)?, dtype)
}

/// Zeros with the shape and dtype of `a`.
pub fn zeros_like(a: &Array) -> Result<Array> {
    zeros(a.shape(), a.dtype())
}

/// Ones with the shape and dtype of `a`.
pub fn ones_like(a: &Array) -> Result<Array> {
    ones(a.shape(), a.dtype())
}

/// `value` with the shape and dtype of `a`.
pub fn full_like(a: &Array, value: impl IntoOperand) -> Result<Array> {
    full(a.shape(), value, a.dtype())
}

/// `start, start + step, ...` up to (excluding) `stop`.
///
/// ```
/// let a = rmx::arange(0.0, 1.0, 0.25, rmx::Dtype::F32).unwrap();
/// assert_eq!(a.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.5, 0.75]);
/// assert!(rmx::arange(0.0, 1.0, 0.0, rmx::Dtype::F32).is_err());
/// ```
pub fn arange(start: f64, stop: f64, step: f64, dtype: Dtype) -> Result<Array> {
    if dtype == Dtype::Bool {
        return Err(Error::dtype_detail("arange", dtype, "arange cannot make bool arrays"));
    }
    if step == 0.0 {
        return Err(Error::arg("arange", "step cannot be 0"));
    }
    if !(start.is_finite() && stop.is_finite() && step.is_finite()) {
        return Err(Error::arg("arange", format!("start {start}, stop {stop} and step {step} must be finite")));
    }
    let n = ((stop - start) / step).ceil().max(0.0);
    if n > (isize::MAX as f64) / 16.0 {
        return Err(Error::arg("arange", format!("{n} elements is too many")));
    }
    Ok(Array::from_primitive(vec![n as usize], dtype, Arc::new(Arange { start, step }), vec![]))
}

/// `num` evenly spaced values from `start` to `stop` inclusive.
pub fn linspace(start: f64, stop: f64, num: usize, dtype: Dtype) -> Result<Array> {
    if !dtype.is_float() {
        return Err(Error::dtype_detail("linspace", dtype, "linspace needs a floating dtype"));
    }
    if num == 1 {
        return full(&[1], start, dtype);
    }
    let step = if num > 1 { (stop - start) / (num - 1) as f64 } else { 0.0 };
    // start + i * step, computed in f32 like MLX: arange(0, num) * step + start.
    let idx = Array::from_primitive(vec![num], Dtype::F32, Arc::new(Arange { start: 0.0, step: 1.0 }), vec![]);
    let v = crate::add(&crate::multiply(&idx, step)?, start)?;
    let v = crate::astype(&v, dtype)?;
    if num > 1 {
        // The last value is exactly `stop`.
        let last = full(&[1], stop, dtype)?;
        return crate::slice_update(&v, &last, &[num as isize - 1], &[num as isize], &[1]);
    }
    Ok(v)
}

/// An `n x m` matrix with ones on diagonal `k`.
pub fn eye(n: usize, m: Option<usize>, k: isize, dtype: Dtype) -> Result<Array> {
    let m = m.unwrap_or(n);
    let rows = crate::reshape_to(&arange(0.0, n as f64, 1.0, Dtype::I64)?, &[n, 1])?;
    let cols = crate::reshape_to(&arange(0.0, m as f64, 1.0, Dtype::I64)?, &[1, m])?;
    let diag = crate::equal(&crate::subtract(&cols, &rows)?, k as i64)?;
    crate::astype(&diag, dtype)
}

/// The `n x n` identity.
pub fn identity(n: usize, dtype: Dtype) -> Result<Array> {
    eye(n, None, 0, dtype)
}

/// Ones at and below diagonal `k` of an `n x m` matrix.
pub fn tri(n: usize, m: Option<usize>, k: isize, dtype: Dtype) -> Result<Array> {
    let m = m.unwrap_or(n);
    let rows = crate::reshape_to(&arange(0.0, n as f64, 1.0, Dtype::I64)?, &[n, 1])?;
    let cols = crate::reshape_to(&arange(0.0, m as f64, 1.0, Dtype::I64)?, &[1, m])?;
    let mask = crate::less_equal(&crate::subtract(&cols, &rows)?, k as i64)?;
    crate::astype(&mask, dtype)
}

/// Zeroes the elements above diagonal `k` of the last two axes.
pub fn tril(a: &Array, k: isize) -> Result<Array> {
    triangle("tril", a, k, true)
}

/// Zeroes the elements below diagonal `k` of the last two axes.
pub fn triu(a: &Array, k: isize) -> Result<Array> {
    triangle("triu", a, k, false)
}

fn triangle(op: &'static str, a: &Array, k: isize, lower: bool) -> Result<Array> {
    if a.ndim() < 2 {
        return Err(Error::shapes_detail(op, &[a.shape()], "needs at least 2 dimensions"));
    }
    let (n, m) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let mask = if lower { tri(n, Some(m), k, Dtype::Bool)? } else { crate::logical_not(&tri(n, Some(m), k - 1, Dtype::Bool)?)? };
    crate::where_(&mask, a, &zeros(&[], a.dtype())?)
}
