//! Matrix products: matmul with batch broadcasting, addmm, and the compositions on top
//! (inner, outer, tensordot, vecdot, kron).

use crate::array::Array;
use crate::backend::cpu::matmul::{native, native_bf16_product};
use crate::dtype::{promote_types, Dtype};
use crate::error::{Error, Result};
use crate::primitive::matmul::{AddMM, Matmul};
use crate::shape::broadcast_shapes_for;
use std::sync::Arc;

/// Matmul operands ready for the primitive: (a, b, output shape before squeezing,
/// result dtype, axes to squeeze).
type Prepared = (Array, Array, Vec<usize>, Dtype, Vec<isize>);

/// Prepares matmul operands: promotes, lifts 1-d inputs, broadcasts batch dims.
/// Returns (a, b, output shape before squeezing, compute dtype, squeeze axes).
fn prepare(op: &'static str, a: &Array, b: &Array) -> Result<Prepared> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(Error::shapes_detail(op, &[a.shape(), b.shape()], "inputs must have at least one dimension"));
    }
    let dtype = promote_types(a.dtype(), b.dtype());
    if !dtype.is_inexact() {
        return Err(Error::dtype_detail(op, dtype, "only floating point and complex types are supported"));
    }
    let mut squeeze = Vec::new();
    let a = if a.ndim() == 1 {
        squeeze.push(-2);
        crate::reshape_to(a, &[1, a.shape()[0]])?
    } else {
        a.clone()
    };
    let b = if b.ndim() == 1 {
        squeeze.push(-1);
        crate::reshape_to(b, &[b.shape()[0], 1])?
    } else {
        b.clone()
    };
    let (an, bn) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[an - 2], a.shape()[an - 1]);
    let (k2, n) = (b.shape()[bn - 2], b.shape()[bn - 1]);
    if k != k2 {
        return Err(Error::shapes_detail(op, &[a.shape(), b.shape()], format!("inner dimensions {k} and {k2} differ")));
    }
    let batch = broadcast_shapes_for(op, &a.shape()[..an - 2], &b.shape()[..bn - 2])?;
    // bf16 products of a few rows (decoding), and any on CPUs with AMX, have their own
    // kernels; others use gemm in f32.
    let bf16_kernel = dtype == Dtype::BF16 && op == "matmul" && native_bf16_product(m);
    let compute = if native(dtype) || bf16_kernel { dtype } else { Dtype::F32 };
    let a = crate::broadcast_to(&crate::astype(&a, compute)?, &[batch.as_slice(), &[m, k]].concat())?;
    let b = crate::broadcast_to(&crate::astype(&b, compute)?, &[batch.as_slice(), &[k, n]].concat())?;
    let mut shape = batch;
    shape.extend([m, n]);
    Ok((a, b, shape, dtype, squeeze))
}

fn finish(out: Array, dtype: Dtype, squeeze: &[isize]) -> Result<Array> {
    let out = crate::astype(&out, dtype)?;
    if squeeze.is_empty() {
        Ok(out)
    } else {
        crate::squeeze(&out, Some(squeeze))
    }
}

/// Matrix product with NumPy's rules: batch dims broadcast, 1-d operands are promoted to
/// matrices and their added axis removed from the result.
///
/// ```
/// let a = rmx::Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
/// let c = rmx::matmul(&a, &a).unwrap();
/// assert_eq!(c.to_vec::<f32>().unwrap(), vec![7.0, 10.0, 15.0, 22.0]);
/// ```
pub fn matmul(a: &Array, b: &Array) -> Result<Array> {
    let (a, b, shape, dtype, squeeze) = prepare("matmul", a, b)?;
    let compute = a.dtype();
    let out = Array::from_primitive(shape, compute, Arc::new(Matmul), vec![a, b]);
    finish(out, dtype, &squeeze)
}

/// `alpha * (a @ b) + beta * c`.
pub fn addmm(c: &Array, a: &Array, b: &Array, alpha: f64, beta: f64) -> Result<Array> {
    let (a, b, shape, dtype, squeeze) = prepare("addmm", a, b)?;
    let dtype = promote_types(dtype, c.dtype());
    let compute = a.dtype();
    let c = crate::astype(c, compute)?;
    broadcast_shapes_for("addmm", c.shape(), &shape).and_then(|s| {
        if s == shape {
            Ok(())
        } else {
            Err(Error::shapes("addmm", &[c.shape(), &shape]))
        }
    })?;
    let out = Array::from_primitive(shape, compute, Arc::new(AddMM { alpha, beta }), vec![a, b, c]);
    finish(out, dtype, &squeeze)
}
