//! `hadamard_transform`: the Walsh-Hadamard transform along the last axis.

use crate::array::Array;
use crate::backend::cpu::hadamard::factor;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::hadamard::Hadamard;
use std::sync::Arc;

/// `(H_n @ x) * scale` along the last axis, for `n = m * 2^k` with `m` in {1, 12, 20, 28}
/// (MLX's matrices). `scale` defaults to `1 / sqrt(n)` (orthonormal). Integer inputs give
/// float32; other float types keep their dtype (computed in float32).
///
/// ```
/// let x = rmx::Array::from_slice(&[1.0f32, 0.0, 0.0, 0.0], &[4])?;
/// let y = rmx::hadamard_transform(&x, Some(1.0))?;
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0, 1.0, 1.0, 1.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn hadamard_transform(a: &Array, scale: Option<f64>) -> Result<Array> {
    let op = "hadamard_transform";
    let n = a.shape().last().copied().unwrap_or(1);
    if factor(n).is_none() {
        return Err(Error::shapes_detail(op, &[a.shape()], format!("the last axis ({n}) must be m * 2^k with m in (1, 12, 20, 28)")));
    }
    if a.dtype() == Dtype::C64 {
        return Err(Error::dtype_detail(op, a.dtype(), "complex inputs are not supported"));
    }
    let out_dtype = if a.dtype().is_inexact() { a.dtype() } else { Dtype::F32 };
    let scale = scale.unwrap_or(1.0 / (n as f64).sqrt()) as f32;
    let x = crate::astype(a, Dtype::F32)?;
    let y = Array::from_primitive(x.shape().to_vec(), Dtype::F32, Arc::new(Hadamard { scale, transposed: false }), vec![x]);
    crate::astype(&y, out_dtype)
}
