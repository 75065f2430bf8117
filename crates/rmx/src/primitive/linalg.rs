//! `Linalg`: the dense factorizations and solvers of `rmx::linalg` as one primitive family.
//! Inputs arrive as float32 or float64 with matrices in the last two dimensions and equal
//! batch dimensions; each matrix of the batch is handed to
//! the `rmx-linalg` kernels (in parallel over the batch).

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::strided::SendPtr;
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::primitive::views::to_row_major_copy;
use crate::storage::{alloc_output, Storage};
use num_complex::Complex;
use rayon::prelude::*;
use rmx_linalg::{Dense, Failure};

/// Which factorization or solve, with its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinalgOp {
    /// Outputs: inverse.
    Inv,
    /// Outputs: inverse of a triangular matrix.
    TriInv { upper: bool },
    /// Outputs: the Cholesky factor.
    Cholesky { upper: bool },
    /// Outputs: the inverse from a Cholesky factor.
    CholeskyInv { upper: bool },
    /// Outputs: Q, R (reduced).
    Qr,
    /// Outputs: S, or U, S, Vt (full).
    Svd { compute_uv: bool },
    /// Outputs: complex64 eigenvalues, and eigenvectors when `vectors`.
    Eig { vectors: bool },
    /// Outputs: eigenvalues, and eigenvectors when `vectors`.
    Eigh { upper: bool, vectors: bool },
    /// Outputs: packed LU, uint32 pivots, uint32 row permutation.
    LuFactor,
    /// Inputs: a, b (`[..., n, k]`). Outputs: x.
    Solve,
    /// Inputs: a, b (`[..., n, k]`). Outputs: x.
    SolveTriangular { upper: bool },
}

/// A factorization or solve over the last two dimensions.
#[derive(Debug)]
pub struct Linalg {
    pub op: LinalgOp,
}

impl LinalgOp {
    /// The user-facing name, for errors.
    pub fn name(self) -> &'static str {
        match self {
            LinalgOp::Inv => "linalg::inv",
            LinalgOp::TriInv { .. } => "linalg::tri_inv",
            LinalgOp::Cholesky { .. } => "linalg::cholesky",
            LinalgOp::CholeskyInv { .. } => "linalg::cholesky_inv",
            LinalgOp::Qr => "linalg::qr",
            LinalgOp::Svd { .. } => "linalg::svd",
            LinalgOp::Eig { .. } => "linalg::eig",
            LinalgOp::Eigh { .. } => "linalg::eigh",
            LinalgOp::LuFactor => "linalg::lu_factor",
            LinalgOp::Solve => "linalg::solve",
            LinalgOp::SolveTriangular { .. } => "linalg::solve_triangular",
        }
    }

    /// Output shapes and dtypes for an input `[..., m, n]` of float dtype `dtype` (and the
    /// right-hand side shape for the solves).
    pub(crate) fn outputs(self, shape: &[usize], dtype: Dtype, rhs: Option<&[usize]>) -> Vec<(Vec<usize>, Dtype)> {
        let nd = shape.len();
        let batch = &shape[..nd - 2];
        let (m, n) = (shape[nd - 2], shape[nd - 1]);
        let k = m.min(n);
        let with = |dims: &[usize]| [batch, dims].concat();
        match self {
            LinalgOp::Inv | LinalgOp::TriInv { .. } | LinalgOp::Cholesky { .. } | LinalgOp::CholeskyInv { .. } => {
                vec![(shape.to_vec(), dtype)]
            }
            LinalgOp::Qr => vec![(with(&[m, k]), dtype), (with(&[k, n]), dtype)],
            LinalgOp::Svd { compute_uv: false } => vec![(with(&[k]), dtype)],
            LinalgOp::Svd { compute_uv: true } => vec![(with(&[m, m]), dtype), (with(&[k]), dtype), (with(&[n, n]), dtype)],
            LinalgOp::Eig { vectors } => {
                let mut out = vec![(with(&[n]), Dtype::C64)];
                if vectors {
                    out.push((shape.to_vec(), Dtype::C64));
                }
                out
            }
            LinalgOp::Eigh { vectors, .. } => {
                let mut out = vec![(with(&[n]), dtype)];
                if vectors {
                    out.push((shape.to_vec(), dtype));
                }
                out
            }
            LinalgOp::LuFactor => vec![(shape.to_vec(), dtype), (with(&[k]), Dtype::U32), (with(&[m]), Dtype::U32)],
            LinalgOp::Solve | LinalgOp::SolveTriangular { .. } => vec![(rhs.unwrap_or(shape).to_vec(), dtype)],
        }
    }
}

/// One output buffer seen as `count` consecutive blocks of `block` elements.
#[derive(Clone, Copy)]
struct Blocks<T> {
    ptr: SendPtr<T>,
    block: usize,
}

impl<T> Blocks<T> {
    fn of(storage: &Storage, block: usize) -> Blocks<T>
    where
        T: Element,
    {
        Blocks { ptr: SendPtr(storage.ptr::<T>() as *mut T), block }
    }

    /// # Safety
    /// `i` must be in range and no two threads may take the same block.
    unsafe fn get<'a>(self, i: usize) -> &'a mut [T] {
        // SAFETY: the caller keeps `i` in range and the blocks disjoint across threads.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.0.add(i * self.block), self.block) }
    }
}

fn contiguous(x: &Array) -> Result<Storage> {
    let s = x.storage()?;
    if s.is_row_contiguous(x.shape()) {
        Ok(s)
    } else {
        to_row_major_copy(&s, x.shape(), x.dtype())
    }
}

/// Runs `f` for every matrix of the batch, in parallel, reporting the first failure with
/// the index of the matrix that failed.
fn for_each_matrix(op: LinalgOp, count: usize, f: impl Fn(usize) -> std::result::Result<(), Failure> + Sync) -> Result<()> {
    let run = |i: usize| f(i).map_err(|why| (i, why));
    let outcome = if count > 1 { (0..count).into_par_iter().try_for_each(run) } else { (0..count).try_for_each(run) };
    outcome.map_err(|(i, why)| {
        let at = if count > 1 { format!(" (matrix {i} of the batch)") } else { String::new() };
        Error::Eval(format!("{}: {why}{at}", op.name()))
    })
}

fn run<T: Dense + Element>(op: LinalgOp, inputs: &[Array], outputs: &[Array]) -> Result<()> {
    let a = &inputs[0];
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let count: usize = a.shape()[..nd - 2].iter().product();
    let sa = contiguous(a)?;
    let a_all = unsafe { sa.as_slice::<T>(a.size()) };
    let a_at = |i: usize| &a_all[i * m * n..(i + 1) * m * n];
    let stores: Vec<Storage> = outputs.iter().map(|o| alloc_output(o.shape(), o.dtype())).collect::<Result<_>>()?;
    let block = |j: usize| outputs[j].size().checked_div(count).unwrap_or(0);
    let out = |j: usize| Blocks::<T>::of(&stores[j], block(j));
    // SAFETY (all `get` calls below): each matrix index is visited by exactly one task and
    // every block lies inside its freshly allocated output.
    match op {
        LinalgOp::Inv => {
            let o = out(0);
            for_each_matrix(op, count, |i| T::inverse(a_at(i), n, unsafe { o.get(i) }))?;
        }
        LinalgOp::TriInv { upper } => {
            let o = out(0);
            for_each_matrix(op, count, |i| T::triangular_inverse(a_at(i), n, upper, unsafe { o.get(i) }))?;
        }
        LinalgOp::Cholesky { upper } => {
            let o = out(0);
            for_each_matrix(op, count, |i| T::cholesky(a_at(i), n, upper, unsafe { o.get(i) }))?;
        }
        LinalgOp::CholeskyInv { upper } => {
            let o = out(0);
            for_each_matrix(op, count, |i| T::cholesky_inverse(a_at(i), n, upper, unsafe { o.get(i) }))?;
        }
        LinalgOp::Qr => {
            let (q, r) = (out(0), out(1));
            for_each_matrix(op, count, |i| {
                T::qr(a_at(i), m, n, unsafe { q.get(i) }, unsafe { r.get(i) });
                Ok(())
            })?;
        }
        LinalgOp::Svd { compute_uv: false } => {
            let s = out(0);
            for_each_matrix(op, count, |i| T::svd(a_at(i), m, n, unsafe { s.get(i) }, None))?;
        }
        LinalgOp::Svd { compute_uv: true } => {
            let (u, s, vt) = (out(0), out(1), out(2));
            for_each_matrix(op, count, |i| T::svd(a_at(i), m, n, unsafe { s.get(i) }, Some((unsafe { u.get(i) }, unsafe { vt.get(i) }))))?;
        }
        LinalgOp::Eig { vectors } => {
            let w = Blocks::<Complex<f32>>::of(&stores[0], block(0));
            let v = vectors.then(|| Blocks::<Complex<f32>>::of(&stores[1], block(1)));
            for_each_matrix(op, count, |i| T::eig(a_at(i), n, unsafe { w.get(i) }, v.map(|v| unsafe { v.get(i) })))?;
        }
        LinalgOp::Eigh { upper, vectors } => {
            let w = out(0);
            let v = vectors.then(|| out(1));
            for_each_matrix(op, count, |i| T::eigh(a_at(i), n, upper, unsafe { w.get(i) }, v.map(|v| unsafe { v.get(i) })))?;
        }
        LinalgOp::LuFactor => {
            let lu = out(0);
            let piv = Blocks::<u32>::of(&stores[1], block(1));
            let perm = Blocks::<u32>::of(&stores[2], block(2));
            for_each_matrix(op, count, |i| {
                let dst = unsafe { lu.get(i) };
                dst.copy_from_slice(a_at(i));
                T::lu_factor(dst, m, n, unsafe { piv.get(i) }, unsafe { perm.get(i) });
                Ok(())
            })?;
        }
        LinalgOp::Solve | LinalgOp::SolveTriangular { .. } => {
            let b = &inputs[1];
            let k = b.shape()[b.ndim() - 1];
            let sb = contiguous(b)?;
            let b_all = unsafe { sb.as_slice::<T>(b.size()) };
            let x = out(0);
            for_each_matrix(op, count, |i| {
                let rhs = &b_all[i * n * k..(i + 1) * n * k];
                let dst = unsafe { x.get(i) };
                match op {
                    LinalgOp::SolveTriangular { upper } => T::solve_triangular(a_at(i), n, upper, rhs, k, dst),
                    _ => T::solve(a_at(i), n, rhs, k, dst),
                }
            })?;
        }
    }
    for (o, s) in outputs.iter().zip(stores) {
        o.set_storage(s);
    }
    Ok(())
}

impl Primitive for Linalg {
    fn name(&self) -> &'static str {
        self.op.name()
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        match inputs[0].dtype() {
            Dtype::F32 => run::<f32>(self.op, inputs, outputs),
            Dtype::F64 => run::<f64>(self.op, inputs, outputs),
            other => Err(Error::dtype_detail(self.op.name(), other, "only float32 and float64 are supported")),
        }
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        super::linalg_rules::vjp(self.op, inputs, cotangents, argnums, outputs)
    }

    /// Leading dimensions are batch dimensions already: the batch moves to the front, an
    /// unbatched right-hand side is broadcast along it.
    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let size = inputs.iter().find_map(|(x, axis)| axis.map(|a| x.shape()[a])).unwrap_or(1);
        let batched: Vec<Array> = inputs
            .iter()
            .map(|input| match input.1 {
                Some(_) => super::rules::front(input),
                None => crate::broadcast_to(&input.0, &[&[size], input.0.shape()].concat()),
            })
            .collect::<Result<_>>()?;
        let shapes = outputs.iter().map(|o| ([&[size], o.shape()].concat(), o.dtype())).collect();
        let out = Array::multi_from_primitive(shapes, std::sync::Arc::new(Linalg { op: self.op }), batched);
        Ok(Some((out, vec![Some(0); outputs.len()])))
    }
}
