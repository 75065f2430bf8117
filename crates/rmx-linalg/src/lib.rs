//! Dense factorizations and solvers on row-major slices, one matrix at a time: the CPU
//! kernels behind `rmx::linalg`, computed by `faer`.
//!
//! This is a crate of its own so that faer's heavily generic code is instantiated and
//! optimised here, once, for `f32` and `f64` ([`Dense`] is implemented for both), instead of
//! in every build profile of `rmx`.
//!
//! Callers make inputs contiguous and loop over batch dimensions. Failures that depend on the
//! values (a singular matrix, a matrix that is not positive definite, an iteration that did
//! not converge) come back as a [`Failure`] message.
//!
//! ```
//! use rmx_linalg::Dense;
//! let a = [4.0f64, 1.0, 2.0, 3.0];
//! let mut inv = [0.0; 4];
//! f64::inverse(&a, 2, &mut inv).unwrap();
//! assert!((inv[0] - 0.3).abs() < 1e-12);
//! ```

mod kernels;

use num_complex::Complex;

/// A value-dependent failure, described for the user.
pub type Failure = String;

/// The factorizations for one float type. Matrices are row-major; `n` is the order of a
/// square matrix, `m x n` the shape of a general one, `k` the number of right-hand sides.
pub trait Dense: Sized + Copy + Send + Sync {
    /// LU with partial pivoting of the `m x n` matrix in `lu`, in place (unit-lower L below
    /// the diagonal, U on and above it). `pivots` (length min(m, n)) receives LAPACK-style
    /// row swaps (row i was swapped with row `pivots[i]`) and `perm` (length m) the row
    /// order: row i of the input is row `perm[i]` of `L @ U`.
    fn lu_factor(lu: &mut [Self], m: usize, n: usize, pivots: &mut [u32], perm: &mut [u32]);
    /// Inverse of the `n x n` matrix `a` into `out`.
    fn inverse(a: &[Self], n: usize, out: &mut [Self]) -> Result<(), Failure>;
    /// Inverse of a triangular matrix (only the named triangle of `a` is read).
    fn triangular_inverse(a: &[Self], n: usize, upper: bool, out: &mut [Self]) -> Result<(), Failure>;
    /// Cholesky factor of a symmetric positive definite matrix: lower `L` with `a = L Lᵀ`,
    /// or upper `U = Lᵀ`. Only the lower triangle of `a` is read.
    fn cholesky(a: &[Self], n: usize, upper: bool, out: &mut [Self]) -> Result<(), Failure>;
    /// `(L Lᵀ)⁻¹` (or `(Uᵀ U)⁻¹`) from a Cholesky factor.
    fn cholesky_inverse(factor: &[Self], n: usize, upper: bool, out: &mut [Self]) -> Result<(), Failure>;
    /// Reduced QR: `q` is `m x k`, `r` is `k x n` with `k = min(m, n)`.
    fn qr(a: &[Self], m: usize, n: usize, q: &mut [Self], r: &mut [Self]);
    /// Singular values (descending) into `s`, plus the full `u` (`m x m`) and `vt`
    /// (`n x n`) when given.
    fn svd(a: &[Self], m: usize, n: usize, s: &mut [Self], factors: Option<(&mut [Self], &mut [Self])>) -> Result<(), Failure>;
    /// Eigenvalues (ascending) of a symmetric matrix, reading the lower or upper triangle,
    /// plus the eigenvectors as columns of `vectors` when given.
    fn eigh(a: &[Self], n: usize, upper: bool, w: &mut [Self], vectors: Option<&mut [Self]>) -> Result<(), Failure>;
    /// Eigenvalues of a general real matrix (as complex64) plus unit-norm right eigenvectors
    /// as columns of `vectors` when given.
    fn eig(a: &[Self], n: usize, w: &mut [Complex<f32>], vectors: Option<&mut [Complex<f32>]>) -> Result<(), Failure>;
    /// Solves `a x = b` for an `n x n` matrix `a` and `n x k` right-hand sides, into `x`.
    fn solve(a: &[Self], n: usize, b: &[Self], k: usize, x: &mut [Self]) -> Result<(), Failure>;
    /// Solves `a x = b` for a triangular `a` (only the named triangle is read).
    fn solve_triangular(a: &[Self], n: usize, upper: bool, b: &[Self], k: usize, x: &mut [Self]) -> Result<(), Failure>;
}

macro_rules! impl_dense {
    ($t:ty) => {
        impl Dense for $t {
            fn lu_factor(lu: &mut [Self], m: usize, n: usize, pivots: &mut [u32], perm: &mut [u32]) {
                kernels::lu_factor(lu, m, n, pivots, perm)
            }
            fn inverse(a: &[Self], n: usize, out: &mut [Self]) -> Result<(), Failure> {
                kernels::inverse(a, n, out)
            }
            fn triangular_inverse(a: &[Self], n: usize, upper: bool, out: &mut [Self]) -> Result<(), Failure> {
                kernels::triangular_inverse(a, n, upper, out)
            }
            fn cholesky(a: &[Self], n: usize, upper: bool, out: &mut [Self]) -> Result<(), Failure> {
                kernels::cholesky(a, n, upper, out)
            }
            fn cholesky_inverse(factor: &[Self], n: usize, upper: bool, out: &mut [Self]) -> Result<(), Failure> {
                kernels::cholesky_inverse(factor, n, upper, out)
            }
            fn qr(a: &[Self], m: usize, n: usize, q: &mut [Self], r: &mut [Self]) {
                kernels::qr(a, m, n, q, r)
            }
            fn svd(a: &[Self], m: usize, n: usize, s: &mut [Self], factors: Option<(&mut [Self], &mut [Self])>) -> Result<(), Failure> {
                kernels::svd(a, m, n, s, factors)
            }
            fn eigh(a: &[Self], n: usize, upper: bool, w: &mut [Self], vectors: Option<&mut [Self]>) -> Result<(), Failure> {
                kernels::eigh(a, n, upper, w, vectors)
            }
            fn eig(a: &[Self], n: usize, w: &mut [Complex<f32>], vectors: Option<&mut [Complex<f32>]>) -> Result<(), Failure> {
                kernels::eig(a, n, w, vectors)
            }
            fn solve(a: &[Self], n: usize, b: &[Self], k: usize, x: &mut [Self]) -> Result<(), Failure> {
                kernels::solve(a, n, b, k, x)
            }
            fn solve_triangular(a: &[Self], n: usize, upper: bool, b: &[Self], k: usize, x: &mut [Self]) -> Result<(), Failure> {
                kernels::solve_triangular(a, n, upper, b, k, x)
            }
        }
    };
}

impl_dense!(f32);
impl_dense!(f64);
