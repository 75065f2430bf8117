//! `Matmul` and `AddMM`: batched matrix products. Inputs arrive with equal batch shapes
//! (broadcast views) in a dtype the kernel supports natively.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::copy::copy_strided;
use crate::backend::cpu::matmul::{matmul, MatOperand};
use crate::error::Result;
use crate::shape::{broadcast_strides, row_major_strides};
use crate::storage::{alloc_output, Storage};

/// `a @ b` with `a: [..., m, k]`, `b: [..., k, n]`.
#[derive(Debug)]
pub struct Matmul;

/// `alpha * (a @ b) + beta * c` with `c` broadcastable to the output.
#[derive(Debug)]
pub struct AddMM {
    pub alpha: f64,
    pub beta: f64,
}

fn batch_offsets(sa: &Storage, sb: &Storage, batch: &[usize]) -> Vec<(isize, isize)> {
    let nb = batch.len();
    let count: usize = batch.iter().product();
    let (ast, bst) = (&sa.strides[..nb], &sb.strides[..nb]);
    (0..count)
        .map(|mut i| {
            let (mut oa, mut ob) = (0isize, 0isize);
            for d in (0..nb).rev() {
                let c = (i % batch[d]) as isize;
                i /= batch[d];
                oa += c * ast[d];
                ob += c * bst[d];
            }
            (oa, ob)
        })
        .collect()
}

fn run(inputs: &[Array], out: &Array, scale: Option<(f64, f64)>) -> Result<()> {
    let (a, b) = (&inputs[0], &inputs[1]);
    let (sa, sb) = (a.storage()?, b.storage()?);
    let nd = out.ndim();
    let (m, n, k) = (out.shape()[nd - 2], out.shape()[nd - 1], a.shape()[nd - 1]);
    let batch = &out.shape()[..nd - 2];
    let storage = alloc_output(out.shape(), out.dtype())?;
    let (alpha, beta, read_out) = match scale {
        Some((alpha, beta)) => {
            let c = &inputs[2];
            let sc = c.storage()?;
            let strides = broadcast_strides(c.shape(), &sc.strides, out.shape());
            crate::dispatch_dtype!(out.dtype(), T => unsafe {
                // SAFETY: the fresh output has the full output shape.
                copy_strided::<T>(&sc, &strides, storage.ptr::<T>() as *mut T, &row_major_strides(out.shape()), out.shape());
            });
            // gemm computes dst = alpha * dst + beta * a @ b.
            (beta, alpha, true)
        }
        None => (0.0, 1.0, false),
    };
    if k == 0 && !read_out {
        crate::dispatch_dtype!(out.dtype(), T => unsafe {
            // SAFETY: zero-fill of the fresh output.
            std::ptr::write_bytes(storage.ptr::<T>() as *mut T, 0, out.size());
        });
    } else if out.size() > 0 {
        let oa = MatOperand { storage: &sa, row_stride: sa.strides[nd - 2], col_stride: sa.strides[nd - 1] };
        let ob = MatOperand { storage: &sb, row_stride: sb.strides[nd - 2], col_stride: sb.strides[nd - 1] };
        matmul(out.dtype(), (m, n, k), &oa, &ob, &batch_offsets(&sa, &sb, batch), &storage, (alpha, beta, read_out))?;
    }
    out.set_storage(storage);
    Ok(())
}

impl Primitive for Matmul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        run(inputs, &outputs[0], None)
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        argnums.iter().map(|&i| product_vjp(inputs, &cotangents[0], i, 1.0)).collect()
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let a = super::rules::front(&inputs[0])?;
        let b = super::rules::front(&inputs[1])?;
        let (a, b) = lift_unbatched(a, inputs[0].1, b, inputs[1].1)?;
        super::rules::batched_front(crate::matmul(&a, &b)?)
    }
}

/// The cotangent of operand `i` (0 = a, 1 = b) of `scale * (a @ b)`; both operands carry the
/// full batch shape (the op broadcast them).
fn product_vjp(inputs: &[Array], g: &Array, i: usize, scale: f64) -> Result<Array> {
    let g = if scale == 1.0 { g.clone() } else { crate::multiply(g, scale)? };
    // The adjoint for complex operands (MLX's convention): the other operand conjugated.
    let other = |j: usize| crate::swapaxes(&super::rules::conj_complex(&inputs[j])?, -1, -2);
    if i == 0 {
        crate::matmul(&g, &other(1)?)
    } else {
        crate::matmul(&other(0)?, &g)
    }
}

impl Primitive for AddMM {
    fn name(&self) -> &'static str {
        "addmm"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        run(inputs, &outputs[0], Some((self.alpha, self.beta)))
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let g = &cotangents[0];
        argnums
            .iter()
            .map(|&i| match i {
                2 => super::rules::sum_to_shape(&crate::multiply(g, self.beta)?, inputs[2].shape()),
                _ => product_vjp(inputs, g, i, self.alpha),
            })
            .collect()
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let a = super::rules::front(&inputs[0])?;
        let b = super::rules::front(&inputs[1])?;
        let (a, b) = lift_unbatched(a, inputs[0].1, b, inputs[1].1)?;
        let (c, size) = super::rules::align_elementwise(&inputs[2..3], outputs[0].ndim())?;
        // When only `c` is batched, the product must carry the batch too.
        let widen = |x: Array| -> Result<Array> {
            let mut shape = x.shape().to_vec();
            shape[0] = shape[0].max(size);
            crate::broadcast_to(&x, &shape)
        };
        super::rules::batched_front(crate::addmm(&c[0], &widen(a)?, &b, self.alpha, self.beta)?)
    }
}

/// Gives an unbatched matmul operand a leading size-1 axis so it broadcasts against the
/// batched one (whose batch is in front).
fn lift_unbatched(a: Array, a_axis: Option<usize>, b: Array, b_axis: Option<usize>) -> Result<(Array, Array)> {
    let lift = |x: Array, axis: Option<usize>| if axis.is_none() { crate::expand_dims(&x, &[0]) } else { Ok(x) };
    Ok((lift(a, a_axis)?, lift(b, b_axis)?))
}
