//! `rmx::linalg`: norms, factorizations (LU, QR, SVD, Cholesky, eigen), inverses and
//! solvers, with MLX's names, argument conventions and output layouts.
//!
//! Factorizations need float32 or float64 inputs with the matrices in the last two
//! dimensions (any leading batch dimensions). Values that make a factorization impossible
//! (a singular matrix for `inv`, a matrix that is not positive definite for `cholesky`)
//! surface as an error at evaluation.
//!
//! ```
//! use rmx::{linalg, Array};
//! let a = Array::from_slice(&[4.0f32, 1.0, 2.0, 3.0], &[2, 2])?;
//! let x = linalg::solve(&a, &Array::from_slice(&[1.0f32, 2.0], &[2])?)?;
//! let back = rmx::matmul(&a, &x)?.to_vec::<f32>()?;
//! assert!((back[0] - 1.0).abs() < 1e-6 && (back[1] - 2.0).abs() < 1e-6);
//! # Ok::<(), rmx::Error>(())
//! ```

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::ops::reduce::Axes;
use crate::primitive::linalg::{Linalg, LinalgOp};
use crate::shape::{broadcast_shapes_for, normalize_axis};
use std::sync::Arc;

/// Checks a factorization input: at least 2-d, float32/float64, square when asked.
fn check(op: LinalgOp, a: &Array, square: bool) -> Result<()> {
    let name = op.name();
    if a.ndim() < 2 {
        return Err(Error::shapes_detail(name, &[a.shape()], "input must have at least two dimensions"));
    }
    if !matches!(a.dtype(), Dtype::F32 | Dtype::F64) {
        return Err(Error::dtype_detail(name, a.dtype(), "arrays must have type float32 or float64"));
    }
    let nd = a.ndim();
    if square && a.shape()[nd - 1] != a.shape()[nd - 2] {
        return Err(Error::shapes_detail(name, &[a.shape()], "the matrices must be square"));
    }
    Ok(())
}

fn factor(op: LinalgOp, a: &Array, square: bool) -> Result<Vec<Array>> {
    check(op, a, square)?;
    let outputs = op.outputs(a.shape(), a.dtype(), None);
    Ok(Array::multi_from_primitive(outputs, Arc::new(Linalg { op }), vec![a.clone()]))
}

fn single(op: LinalgOp, a: &Array) -> Result<Array> {
    let mut out = factor(op, a, true)?;
    Ok(out.swap_remove(0))
}

/// Inverse of each square matrix.
pub fn inv(a: &Array) -> Result<Array> {
    single(LinalgOp::Inv, a)
}

/// Inverse of each triangular matrix (`upper` picks the triangle that is read).
pub fn tri_inv(a: &Array, upper: bool) -> Result<Array> {
    single(LinalgOp::TriInv { upper }, a)
}

/// Cholesky factor of each symmetric positive definite matrix: lower `L` with `a = L Lᵀ`,
/// or upper `U` with `a = Uᵀ U`. Only the lower triangle of `a` is read.
pub fn cholesky(a: &Array, upper: bool) -> Result<Array> {
    single(LinalgOp::Cholesky { upper }, a)
}

/// Inverse of `L Lᵀ` (or `Uᵀ U` when `upper`) given the Cholesky factor.
pub fn cholesky_inv(factor: &Array, upper: bool) -> Result<Array> {
    single(LinalgOp::CholeskyInv { upper }, factor)
}

/// Reduced QR: `q` is `[..., m, k]` with orthonormal columns, `r` is `[..., k, n]` upper
/// triangular, `k = min(m, n)`, and `q @ r == a`.
pub fn qr(a: &Array) -> Result<(Array, Array)> {
    let mut out = factor(LinalgOp::Qr, a, false)?.into_iter();
    Ok((out.next().expect("qr has 2 outputs"), out.next().expect("qr has 2 outputs")))
}

/// Full SVD: `u` `[..., m, m]`, `s` `[..., k]` descending, `vt` `[..., n, n]`, with
/// `a == u[:, :k] * s @ vt[:k]`.
pub fn svd(a: &Array) -> Result<(Array, Array, Array)> {
    let mut out = factor(LinalgOp::Svd { compute_uv: true }, a, false)?.into_iter();
    let mut next = || out.next().expect("svd has 3 outputs");
    Ok((next(), next(), next()))
}

/// Singular values only (descending).
pub fn svd_values(a: &Array) -> Result<Array> {
    Ok(factor(LinalgOp::Svd { compute_uv: false }, a, false)?.swap_remove(0))
}

/// Eigenvalues and unit-norm right eigenvectors (as columns) of general square matrices,
/// both complex64 like MLX, in no particular order.
pub fn eig(a: &Array) -> Result<(Array, Array)> {
    let mut out = factor(LinalgOp::Eig { vectors: true }, a, true)?.into_iter();
    Ok((out.next().expect("eig has 2 outputs"), out.next().expect("eig has 2 outputs")))
}

/// Eigenvalues (complex64) of general square matrices.
pub fn eigvals(a: &Array) -> Result<Array> {
    Ok(factor(LinalgOp::Eig { vectors: false }, a, true)?.swap_remove(0))
}

fn uplo(op: &'static str, triangle: &str) -> Result<bool> {
    match triangle {
        "L" => Ok(false),
        "U" => Ok(true),
        other => Err(Error::arg(op, format!("UPLO must be \"L\" or \"U\", got {other:?}"))),
    }
}

/// Eigenvalues (ascending) and eigenvectors (columns) of real symmetric matrices, reading
/// the lower (`"L"`) or upper (`"U"`) triangle.
pub fn eigh(a: &Array, triangle: &str) -> Result<(Array, Array)> {
    let upper = uplo("linalg::eigh", triangle)?;
    let mut out = factor(LinalgOp::Eigh { upper, vectors: true }, a, true)?.into_iter();
    Ok((out.next().expect("eigh has 2 outputs"), out.next().expect("eigh has 2 outputs")))
}

/// Eigenvalues (ascending) of real symmetric matrices.
pub fn eigvalsh(a: &Array, triangle: &str) -> Result<Array> {
    let upper = uplo("linalg::eigvalsh", triangle)?;
    Ok(factor(LinalgOp::Eigh { upper, vectors: false }, a, true)?.swap_remove(0))
}

/// Packed LU factorization with partial pivoting: `lu` holds unit-lower `L` below the
/// diagonal and `U` on and above it; `pivots` (uint32) are LAPACK-style row swaps
/// (0-based).
pub fn lu_factor(a: &Array) -> Result<(Array, Array)> {
    let mut out = factor(LinalgOp::LuFactor, a, false)?.into_iter();
    Ok((out.next().expect("lu_factor has 3 outputs"), out.next().expect("lu_factor has 3 outputs")))
}

/// LU factorization as `(p, l, u)`: `l` `[..., m, k]` unit lower, `u` `[..., k, n]` upper
/// and row indices `p` (uint32) with `a == take_along_axis(l, p[..., None], -2) @ u`.
pub fn lu(a: &Array) -> Result<(Array, Array, Array)> {
    let out = factor(LinalgOp::LuFactor, a, false)?;
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let k = m.min(n) as isize;
    let packed = &out[0];
    let keep = |stops: [isize; 2]| {
        let starts = vec![0; nd];
        let mut ends: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
        ends[nd - 2] = stops[0];
        ends[nd - 1] = stops[1];
        crate::slice(packed, &starts, &ends, &vec![1; nd])
    };
    let lower = crate::tril(&keep([m as isize, k])?, -1)?;
    let l = crate::add(&lower, &crate::eye(m, Some(k as usize), 0, a.dtype())?)?;
    let u = crate::triu(&keep([k, n as isize])?, 0)?;
    Ok((out[2].clone(), l, u))
}

/// Shapes of `a x = b` for the solvers: `b` is a vector when 1-d, else `[..., n, k]`;
/// batch dimensions broadcast. Returns (a, b as `[..., n, k]`, was-vector).
fn solve_operands(op: LinalgOp, a: &Array, b: &Array) -> Result<(Array, Array, bool)> {
    check(op, a, true)?;
    let name = op.name();
    let dtype = crate::promote_types(a.dtype(), b.dtype());
    if !matches!(dtype, Dtype::F32 | Dtype::F64) {
        return Err(Error::dtype_detail(name, dtype, "arrays must have type float32 or float64"));
    }
    let nd = a.ndim();
    let n = a.shape()[nd - 1];
    let vector = b.ndim() == 1;
    let b2 = if vector { crate::expand_dims(b, &[-1])? } else { b.clone() };
    if b2.ndim() < 2 || b2.shape()[b2.ndim() - 2] != n {
        return Err(Error::shapes_detail(name, &[a.shape(), b.shape()], format!("b must have {n} rows to match a")));
    }
    let batch = broadcast_shapes_for(name, &a.shape()[..nd - 2], &b2.shape()[..b2.ndim() - 2])?;
    let k = b2.shape()[b2.ndim() - 1];
    let a = crate::broadcast_to(&crate::astype(a, dtype)?, &[batch.as_slice(), &[n, n]].concat())?;
    let b2 = crate::broadcast_to(&crate::astype(&b2, dtype)?, &[batch.as_slice(), &[n, k]].concat())?;
    Ok((a, b2, vector))
}

fn run_solve(op: LinalgOp, a: &Array, b: &Array) -> Result<Array> {
    let (a, b, vector) = solve_operands(op, a, b)?;
    let outputs = op.outputs(a.shape(), a.dtype(), Some(b.shape()));
    let (shape, dtype) = outputs.into_iter().next().expect("one output");
    let x = Array::from_primitive(shape, dtype, Arc::new(Linalg { op }), vec![a, b]);
    if vector {
        crate::squeeze(&x, Some(&[-1]))
    } else {
        Ok(x)
    }
}

/// Solves `a x = b` (batched; `b` is a vector when 1-d, else `[..., n, k]`).
pub fn solve(a: &Array, b: &Array) -> Result<Array> {
    run_solve(LinalgOp::Solve, a, b)
}

/// Solves `a x = b` for triangular `a` (`upper` picks the triangle that is read).
pub fn solve_triangular(a: &Array, b: &Array, upper: bool) -> Result<Array> {
    run_solve(LinalgOp::SolveTriangular { upper }, a, b)
}

/// Sign and log of the absolute determinant, from the LU factorization: `sign` is 0 and
/// `logabsdet` is `-inf` for a singular matrix.
pub fn slogdet(a: &Array) -> Result<(Array, Array)> {
    let (diag, parity) = lu_diagonal(a)?;
    let sign = crate::multiply(&crate::prod(&crate::sign(&diag)?, -1, false)?, &parity)?;
    let logabsdet = crate::sum(&crate::log(&crate::abs(&diag)?)?, -1, false)?;
    Ok((sign, logabsdet))
}

/// Determinant of each square matrix, from the LU factorization.
pub fn det(a: &Array) -> Result<Array> {
    let (diag, parity) = lu_diagonal(a)?;
    crate::multiply(&crate::prod(&diag, -1, false)?, &parity)
}

/// The diagonal of U and the permutation's sign (+1/-1) for each square matrix.
fn lu_diagonal(a: &Array) -> Result<(Array, Array)> {
    let out = factor(LinalgOp::LuFactor, a, true)?;
    let diag = crate::diagonal(&out[0], 0, -2, -1)?;
    let n = a.shape()[a.ndim() - 1];
    let steps = crate::arange(0.0, n as f64, 1.0, Dtype::U32)?;
    let swaps = crate::sum(&crate::not_equal(&out[1], &steps)?, -1, false)?;
    let odd = crate::remainder(&swaps, 2)?;
    let parity = crate::astype(&crate::subtract(1, &crate::multiply(&odd, 2)?)?, a.dtype())?;
    Ok((diag, parity))
}

/// Moore-Penrose pseudo-inverse via the SVD; singular values below
/// `max(m, n) * eps * max(s)` count as zero.
pub fn pinv(a: &Array) -> Result<Array> {
    let (u, s, vt) = svd(a)?;
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let k = m.min(n) as isize;
    let eps = if a.dtype() == Dtype::F64 { f64::EPSILON } else { f32::EPSILON as f64 };
    let cutoff = crate::multiply(&crate::max(&s, -1, true)?, eps * m.max(n) as f64)?;
    let keep = crate::greater(&s, &cutoff)?;
    let s_inv = crate::where_(&keep, &crate::reciprocal(&crate::where_(&keep, &s, 1)?)?, 0)?;
    let columns = |x: &Array, axis: usize, len: isize| {
        let mut ends: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        ends[axis] = len;
        crate::slice(x, &vec![0; nd], &ends, &vec![1; nd])
    };
    let u_k = columns(&u, nd - 1, k)?;
    let vt_k = columns(&vt, nd - 2, k)?;
    // pinv = V_k diag(1/s) U_kᵀ
    let scaled_v = crate::multiply(&crate::swapaxes(&vt_k, -1, -2)?, &crate::expand_dims(&s_inv, &[-2])?)?;
    crate::matmul(&scaled_v, &crate::swapaxes(&u_k, -1, -2)?)
}

/// Cross product of 3-vectors (or 2-vectors, taken with a zero third component) along
/// `axis`; the other dimensions broadcast.
pub fn cross(a: &Array, b: &Array, axis: isize) -> Result<Array> {
    let op = "linalg::cross";
    let ax_a = normalize_axis(op, axis, a.ndim())?;
    let ax_b = normalize_axis(op, axis, b.ndim())?;
    let (da, db) = (a.shape()[ax_a], b.shape()[ax_b]);
    if !(2..=3).contains(&da) || !(2..=3).contains(&db) {
        return Err(Error::shapes_detail(op, &[a.shape(), b.shape()], "the cross axis must have size 2 or 3"));
    }
    let parts = |x: &Array, ax: usize, d: usize| -> Result<Vec<Array>> {
        let mut p = crate::split(x, d, ax as isize)?;
        if d == 2 {
            p.push(crate::zeros_like(&p[0])?);
        }
        Ok(p)
    };
    let (pa, pb) = (parts(a, ax_a, da)?, parts(b, ax_b, db)?);
    let term = |i: usize, j: usize| crate::subtract(&crate::multiply(&pa[i], &pb[j])?, &crate::multiply(&pa[j], &pb[i])?);
    crate::concatenate(&[term(1, 2)?, term(2, 0)?, term(0, 1)?], axis)
}

/// The order of a norm (`ord` in NumPy and MLX).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NormOrd {
    /// A number: vector p-norms (incl. 0, ±1, ±2, ±inf); matrix norms for ±1, ±2, ±inf.
    P(f64),
    /// Frobenius (matrices only).
    Fro,
    /// Nuclear: sum of singular values (matrices only).
    Nuc,
}

/// Vector or matrix norm. With no `ord`, the 2-norm over `axes` (all elements when `axes`
/// is `None`). With an `ord`, `axes` must name one axis (vector norm) or two (matrix
/// norm), or be `None` for a 1-d or 2-d input. Integer inputs give float32.
///
/// ```
/// use rmx::linalg::{norm, NormOrd};
/// let a = rmx::Array::from_slice(&[3.0f32, -4.0], &[2])?;
/// assert_eq!(norm(&a, None, None, false)?.item::<f32>()?, 5.0);
/// assert_eq!(norm(&a, Some(NormOrd::P(f64::INFINITY)), None, false)?.item::<f32>()?, 4.0);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn norm(a: &Array, ord: Option<NormOrd>, axes: Option<&[isize]>, keepdims: bool) -> Result<Array> {
    let op = "linalg::norm";
    let x = if a.dtype().is_inexact() { a.clone() } else { crate::astype(a, Dtype::F32)? };
    let axes: Vec<isize> = match (axes, ord) {
        (Some(list), _) => list.to_vec(),
        (None, None) => {
            let flat = crate::sqrt(&crate::sum(&crate::square(&crate::abs(&x)?)?, Axes::All, keepdims)?)?;
            return Ok(flat);
        }
        (None, Some(_)) if a.ndim() == 1 || a.ndim() == 2 => (0..a.ndim() as isize).collect(),
        (None, Some(_)) => return Err(Error::shapes_detail(op, &[a.shape()], "with ord given and no axis, the input must be 1-d or 2-d")),
    };
    match axes.len() {
        1 => vector_norm(&x, ord.unwrap_or(NormOrd::P(2.0)), axes[0], keepdims),
        2 => {
            let (r, c) = (normalize_axis(op, axes[0], a.ndim())?, normalize_axis(op, axes[1], a.ndim())?);
            if r == c {
                return Err(Error::arg(op, "the two norm axes must differ"));
            }
            matrix_norm(&x, ord.unwrap_or(NormOrd::Fro), (r, c), keepdims)
        }
        n => Err(Error::arg(op, format!("norm over {n} axes; give one axis (vector norm) or two (matrix norm)"))),
    }
}

fn vector_norm(x: &Array, ord: NormOrd, axis: isize, keepdims: bool) -> Result<Array> {
    let p = match ord {
        NormOrd::P(p) => p,
        _ => return Err(Error::arg("linalg::norm", "Frobenius and nuclear norms need two axes")),
    };
    let ax = crate::abs(x)?;
    Ok(match p {
        p if p == f64::INFINITY => crate::max(&ax, axis, keepdims)?,
        p if p == f64::NEG_INFINITY => crate::min(&ax, axis, keepdims)?,
        0.0 => crate::astype(&crate::count_nonzero(&ax, axis, keepdims)?, ax.dtype())?,
        1.0 => crate::sum(&ax, axis, keepdims)?,
        2.0 => crate::sqrt(&crate::sum(&crate::square(&ax)?, axis, keepdims)?)?,
        p => crate::power(&crate::sum(&crate::power(&ax, p)?, axis, keepdims)?, 1.0 / p)?,
    })
}

fn matrix_norm(x: &Array, ord: NormOrd, (r, c): (usize, usize), keepdims: bool) -> Result<Array> {
    let op = "linalg::norm";
    let ax = crate::abs(x)?;
    let both = Axes::List(vec![r as isize, c as isize]);
    let sum_then = |sum_axis: usize, other: usize, take_max: bool| -> Result<Array> {
        let sums = crate::sum(&ax, sum_axis as isize, true)?;
        let out = if take_max { crate::max(&sums, other as isize, true)? } else { crate::min(&sums, other as isize, true)? };
        if keepdims {
            Ok(out)
        } else {
            crate::squeeze(&out, Some(&[r as isize, c as isize]))
        }
    };
    let singular = |take_max: Option<bool>| -> Result<Array> {
        let mut order: Vec<isize> = (0..x.ndim()).filter(|&d| d != r && d != c).map(|d| d as isize).collect();
        order.extend([r as isize, c as isize]);
        let moved = crate::transpose(x, Some(&order))?;
        let moved = if matches!(moved.dtype(), Dtype::F32 | Dtype::F64) { moved } else { crate::astype(&moved, Dtype::F32)? };
        let s = svd_values(&moved)?;
        let out = match take_max {
            Some(true) => crate::max(&s, -1, false)?,
            Some(false) => crate::min(&s, -1, false)?,
            None => crate::sum(&s, -1, false)?,
        };
        if keepdims {
            let (lo, hi) = (r.min(c) as isize, r.max(c) as isize);
            crate::expand_dims(&crate::expand_dims(&out, &[lo])?, &[hi])
        } else {
            Ok(out)
        }
    };
    match ord {
        NormOrd::Fro => crate::sqrt(&crate::sum(&crate::square(&ax)?, both, keepdims)?),
        NormOrd::Nuc => singular(None),
        NormOrd::P(p) if p == f64::INFINITY => sum_then(c, r, true),
        NormOrd::P(p) if p == f64::NEG_INFINITY => sum_then(c, r, false),
        NormOrd::P(1.0) => sum_then(r, c, true),
        NormOrd::P(-1.0) => sum_then(r, c, false),
        NormOrd::P(2.0) => singular(Some(true)),
        NormOrd::P(-2.0) => singular(Some(false)),
        NormOrd::P(p) => Err(Error::arg(op, format!("invalid ord {p} for a matrix norm"))),
    }
}
