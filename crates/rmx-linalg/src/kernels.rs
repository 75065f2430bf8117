//! The factorizations, generic over the float type, on one row-major matrix at a time.
//!
//! Every function takes row-major slices and writes row-major outputs.

use faer::linalg::solvers::{PartialPivLu, Solve};
use faer::traits::RealField;
use faer::{MatMut, MatRef, Par, Side};
use num_complex::Complex;

use crate::Failure;

/// Element types the factorizations support (f32 and f64).
pub(crate) trait LinalgFloat: RealField + Copy + num_traits::Float {}
impl LinalgFloat for f32 {}
impl LinalgFloat for f64 {}

fn view<T: LinalgFloat>(a: &[T], rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::from_row_major_slice(a, rows, cols)
}

fn view_mut<T: LinalgFloat>(a: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_row_major_slice_mut(a, rows, cols)
}

fn store<T: LinalgFloat>(src: MatRef<'_, T>, dst: &mut [T]) {
    let cols = src.ncols();
    for i in 0..src.nrows() {
        for j in 0..cols {
            dst[i * cols + j] = src[(i, j)];
        }
    }
}

fn side(upper: bool) -> Side {
    if upper {
        Side::Upper
    } else {
        Side::Lower
    }
}

/// LU with partial pivoting of the `m x n` matrix in `lu`, in place (unit-lower L below the
/// diagonal, U on and above it). `pivots` (length min(m, n)) receives LAPACK-style row
/// swaps (row i was swapped with row `pivots[i]`) and `perm` (length m) the row order:
/// row i of the input is row `perm[i]` of `L @ U`.
pub(crate) fn lu_factor<T: LinalgFloat>(lu: &mut [T], m: usize, n: usize, pivots: &mut [u32], perm: &mut [u32]) {
    let mut fwd = vec![0usize; m];
    let mut inv = vec![0usize; m];
    let mut stack = faer::dyn_stack::MemBuffer::new(faer::linalg::lu::partial_pivoting::factor::lu_in_place_scratch::<usize, T>(
        m,
        n,
        Par::Seq,
        Default::default(),
    ));
    faer::linalg::lu::partial_pivoting::factor::lu_in_place(
        view_mut(lu, m, n),
        &mut fwd,
        &mut inv,
        Par::Seq,
        faer::dyn_stack::MemStack::new(&mut stack),
        Default::default(),
    );
    // `fwd[i]` is the input row that ended up at row i; replay it as successive swaps.
    let mut order: Vec<usize> = (0..m).collect();
    let mut position: Vec<usize> = (0..m).collect();
    for (i, pivot) in pivots.iter_mut().enumerate() {
        let j = position[fwd[i]];
        *pivot = j as u32;
        let (ri, rj) = (order[i], order[j]);
        order.swap(i, j);
        position[ri] = j;
        position[rj] = i;
    }
    for (p, &k) in perm.iter_mut().zip(&inv) {
        *p = k as u32;
    }
}

fn singular_check<T: LinalgFloat>(lu: &PartialPivLu<T>) -> Result<(), Failure> {
    let u = lu.U();
    if (0..u.nrows().min(u.ncols())).any(|i| u[(i, i)] == T::zero()) {
        Err("the matrix is singular".into())
    } else {
        Ok(())
    }
}

/// Inverse of the `n x n` matrix `a` into `out`.
pub(crate) fn inverse<T: LinalgFloat>(a: &[T], n: usize, out: &mut [T]) -> Result<(), Failure> {
    let lu = view(a, n, n).partial_piv_lu();
    singular_check(&lu)?;
    out.fill(T::zero());
    for i in 0..n {
        out[i * n + i] = T::one();
    }
    lu.solve_in_place(view_mut(out, n, n));
    Ok(())
}

/// A triangular matrix is singular exactly when a diagonal entry is zero.
fn nonzero_diagonal<T: LinalgFloat>(a: &[T], n: usize) -> Result<(), Failure> {
    if (0..n).any(|i| a[i * n + i] == T::zero()) {
        Err("the matrix is singular".into())
    } else {
        Ok(())
    }
}

/// Inverse of a triangular matrix (only the named triangle of `a` is read).
pub(crate) fn triangular_inverse<T: LinalgFloat>(a: &[T], n: usize, upper: bool, out: &mut [T]) -> Result<(), Failure> {
    nonzero_diagonal(a, n)?;
    out.fill(T::zero());
    let (src, dst) = (view(a, n, n), view_mut(out, n, n));
    if upper {
        faer::linalg::triangular_inverse::invert_upper_triangular(dst, src, Par::Seq);
    } else {
        faer::linalg::triangular_inverse::invert_lower_triangular(dst, src, Par::Seq);
    }
    Ok(())
}

/// Cholesky factor of a symmetric positive definite matrix: lower `L` with `a = L Lᵀ`, or
/// upper `U = Lᵀ`. Only the lower triangle of `a` is read.
pub(crate) fn cholesky<T: LinalgFloat>(a: &[T], n: usize, upper: bool, out: &mut [T]) -> Result<(), Failure> {
    let llt = view(a, n, n).llt(Side::Lower).map_err(|_| "the matrix is not positive definite".to_string())?;
    let l = llt.L();
    if upper {
        store(l.transpose(), out);
    } else {
        store(l, out);
    }
    Ok(())
}

/// `(L Lᵀ)⁻¹` (or `(Uᵀ U)⁻¹`) from a Cholesky factor.
pub(crate) fn cholesky_inverse<T: LinalgFloat>(factor: &[T], n: usize, upper: bool, out: &mut [T]) -> Result<(), Failure> {
    let mut tri_inv = vec![T::zero(); n * n];
    triangular_inverse(factor, n, upper, &mut tri_inv)?;
    // With L⁻¹ (lower case): A⁻¹ = L⁻ᵀ L⁻¹; with U⁻¹ (upper case): A⁻¹ = U⁻¹ U⁻ᵀ.
    let w = view(&tri_inv, n, n);
    let product = if upper { w * w.transpose() } else { w.transpose() * w };
    store(product.as_ref(), out);
    Ok(())
}

/// Reduced QR of an `m x n` matrix: `q` is `m x k`, `r` is `k x n` with `k = min(m, n)`.
pub(crate) fn qr<T: LinalgFloat>(a: &[T], m: usize, n: usize, q: &mut [T], r: &mut [T]) {
    let k = m.min(n);
    let f = view(a, m, n).qr();
    store(f.compute_thin_Q().as_ref(), q);
    let full_r = f.R();
    for i in 0..k {
        for j in 0..n {
            r[i * n + j] = if j >= i { full_r[(i, j)] } else { T::zero() };
        }
    }
}

/// Singular values (descending) of an `m x n` matrix into `s`, plus the full `u` (`m x m`)
/// and `vt` (`n x n`) when given.
pub(crate) fn svd<T: LinalgFloat>(a: &[T], m: usize, n: usize, s: &mut [T], factors: Option<(&mut [T], &mut [T])>) -> Result<(), Failure> {
    let not_converged = |_| "the SVD did not converge".to_string();
    let a = view(a, m, n);
    match factors {
        None => {
            let values = a.singular_values().map_err(not_converged)?;
            s.copy_from_slice(&values);
        }
        Some((u, vt)) => {
            let f = a.svd().map_err(not_converged)?;
            for (i, v) in s.iter_mut().enumerate() {
                *v = f.S()[i];
            }
            store(f.U(), u);
            store(f.V().transpose(), vt);
        }
    }
    Ok(())
}

/// Eigenvalues (ascending) of a symmetric matrix, reading the lower or upper triangle,
/// plus the eigenvectors as columns of `vectors` when given.
pub(crate) fn eigh<T: LinalgFloat>(a: &[T], n: usize, upper: bool, w: &mut [T], vectors: Option<&mut [T]>) -> Result<(), Failure> {
    let not_converged = |_| "the symmetric eigensolver did not converge".to_string();
    let a = view(a, n, n);
    match vectors {
        None => {
            let values = a.self_adjoint_eigenvalues(side(upper)).map_err(not_converged)?;
            w.copy_from_slice(&values);
        }
        Some(v) => {
            let f = a.self_adjoint_eigen(side(upper)).map_err(not_converged)?;
            for (i, x) in w.iter_mut().enumerate() {
                *x = f.S()[i];
            }
            store(f.U(), v);
        }
    }
    Ok(())
}

/// Eigenvalues of a general real matrix (as complex64) plus unit-norm right eigenvectors
/// as columns of `vectors` when given.
pub(crate) fn eig<T: LinalgFloat>(a: &[T], n: usize, w: &mut [Complex<f32>], vectors: Option<&mut [Complex<f32>]>) -> Result<(), Failure> {
    let not_converged = |_| "the eigensolver did not converge".to_string();
    let to_c32 = |z: Complex<T>| Complex::new(z.re.to_f32().unwrap_or(f32::NAN), z.im.to_f32().unwrap_or(f32::NAN));
    let a = view(a, n, n);
    match vectors {
        None => {
            let values = a.eigenvalues().map_err(not_converged)?;
            for (x, z) in w.iter_mut().zip(values) {
                *x = to_c32(z);
            }
        }
        Some(v) => {
            let f = a.eigen().map_err(not_converged)?;
            for (i, x) in w.iter_mut().enumerate() {
                *x = to_c32(f.S()[i]);
            }
            let u = f.U();
            for j in 0..n {
                let norm = (0..n).map(|i| u[(i, j)].norm_sqr()).fold(T::zero(), |acc, x| acc + x).sqrt();
                let scale = if norm > T::zero() { norm.recip() } else { T::one() };
                for i in 0..n {
                    v[i * n + j] = to_c32(u[(i, j)] * scale);
                }
            }
        }
    }
    Ok(())
}

/// Solves `a x = b` for an `n x n` matrix `a` and `n x k` right-hand sides, into `x`.
pub(crate) fn solve<T: LinalgFloat>(a: &[T], n: usize, b: &[T], k: usize, x: &mut [T]) -> Result<(), Failure> {
    let lu = view(a, n, n).partial_piv_lu();
    singular_check(&lu)?;
    x.copy_from_slice(b);
    lu.solve_in_place(view_mut(x, n, k));
    Ok(())
}

/// Solves `a x = b` for a triangular `a` (only the named triangle is read).
pub(crate) fn solve_triangular<T: LinalgFloat>(a: &[T], n: usize, upper: bool, b: &[T], k: usize, x: &mut [T]) -> Result<(), Failure> {
    nonzero_diagonal(a, n)?;
    x.copy_from_slice(b);
    let (tri, rhs) = (view(a, n, n), view_mut(x, n, k));
    if upper {
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(tri, rhs, Par::Seq);
    } else {
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(tri, rhs, Par::Seq);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lu_pivots_replay_the_permutation() {
        // Row order after pivoting is [2, 0, 1] (the largest first column entry leads).
        let mut a = vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0];
        let (mut piv, mut perm) = (vec![0u32; 3], vec![0u32; 3]);
        lu_factor(&mut a, 3, 3, &mut piv, &mut perm);
        assert_eq!(piv, vec![2, 2, 2]);
        assert_eq!(perm, vec![1, 2, 0]);
        assert_eq!(a[0], 7.0);
    }
}
