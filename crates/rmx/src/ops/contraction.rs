//! Products built on matmul and broadcasting: tensordot, inner, outer, vecdot, kron.

use crate::array::Array;
use crate::error::{Error, Result};
use crate::shape::normalize_axis;

/// Which axes [`tensordot`] contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorDotAxes {
    /// The last `n` axes of `a` with the first `n` axes of `b`.
    Count(usize),
    /// The listed axes of `a` with the listed axes of `b`, pairwise.
    Pairs(Vec<isize>, Vec<isize>),
}

/// Sum of products over the given axes of `a` and `b`; the result has `a`'s free axes
/// followed by `b`'s.
///
/// ```
/// use rmx::{tensordot, Array, TensorDotAxes};
/// let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let t = tensordot(&a, &a, TensorDotAxes::Count(1))?; // == a @ a
/// assert_eq!(t.to_vec::<f32>()?, vec![7.0, 10.0, 15.0, 22.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn tensordot(a: &Array, b: &Array, axes: TensorDotAxes) -> Result<Array> {
    let op = "tensordot";
    let (ax_a, ax_b): (Vec<usize>, Vec<usize>) = match axes {
        TensorDotAxes::Count(n) => {
            if n > a.ndim() || n > b.ndim() {
                return Err(Error::shapes_detail(op, &[a.shape(), b.shape()], format!("cannot contract {n} axes")));
            }
            ((a.ndim() - n..a.ndim()).collect(), (0..n).collect())
        }
        TensorDotAxes::Pairs(xa, xb) => {
            if xa.len() != xb.len() {
                return Err(Error::arg(op, format!("{} axes of a paired with {} axes of b", xa.len(), xb.len())));
            }
            let na: Vec<usize> = xa.iter().map(|&x| normalize_axis(op, x, a.ndim())).collect::<Result<_>>()?;
            let nb: Vec<usize> = xb.iter().map(|&x| normalize_axis(op, x, b.ndim())).collect::<Result<_>>()?;
            (na, nb)
        }
    };
    for (&i, &j) in ax_a.iter().zip(&ax_b) {
        if a.shape()[i] != b.shape()[j] {
            return Err(Error::shapes_detail(op, &[a.shape(), b.shape()], format!("axis {i} of a and axis {j} of b differ in size")));
        }
    }
    let free_a: Vec<usize> = (0..a.ndim()).filter(|d| !ax_a.contains(d)).collect();
    let free_b: Vec<usize> = (0..b.ndim()).filter(|d| !ax_b.contains(d)).collect();
    let k: usize = ax_a.iter().map(|&d| a.shape()[d]).product();
    let m: usize = free_a.iter().map(|&d| a.shape()[d]).product();
    let n: usize = free_b.iter().map(|&d| b.shape()[d]).product();
    let perm = |free: &[usize], contracted: &[usize], contracted_first: bool| -> Vec<isize> {
        let (x, y) = if contracted_first { (contracted, free) } else { (free, contracted) };
        x.iter().chain(y).map(|&d| d as isize).collect()
    };
    let a2 = crate::reshape_to(&crate::transpose(a, Some(&perm(&free_a, &ax_a, false)))?, &[m, k])?;
    let b2 = crate::reshape_to(&crate::transpose(b, Some(&perm(&free_b, &ax_b, true)))?, &[k, n])?;
    let shape: Vec<usize> = free_a.iter().map(|&d| a.shape()[d]).chain(free_b.iter().map(|&d| b.shape()[d])).collect();
    crate::reshape_to(&crate::matmul(&a2, &b2)?, &shape)
}

/// Inner product over the last axes (a plain product when either input is 0-d).
pub fn inner(a: &Array, b: &Array) -> Result<Array> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return crate::multiply(a, b);
    }
    tensordot(a, b, TensorDotAxes::Pairs(vec![-1], vec![-1]))
}

/// Outer product of the flattened inputs.
pub fn outer(a: &Array, b: &Array) -> Result<Array> {
    let a = crate::reshape(a, &[-1, 1])?;
    let b = crate::reshape(b, &[1, -1])?;
    crate::multiply(&a, &b)
}

/// `sum(conj(a) * b, axis)` with broadcasting.
pub fn vecdot(a: &Array, b: &Array, axis: isize) -> Result<Array> {
    let a = if a.dtype() == crate::Dtype::C64 { crate::conj(a)? } else { a.clone() };
    let product = crate::multiply(&a, b)?;
    normalize_axis("vecdot", axis, product.ndim())?;
    crate::sum(&product, axis, false)
}

/// Kronecker product: block `(i, j, ...)` of the result is `a[i, j, ...] * b`.
///
/// ```
/// let a = rmx::Array::from_slice(&[1i32, 2], &[2])?;
/// let b = rmx::Array::from_slice(&[1i32, 10], &[2])?;
/// assert_eq!(rmx::kron(&a, &b)?.to_vec::<i32>()?, vec![1, 10, 2, 20]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn kron(a: &Array, b: &Array) -> Result<Array> {
    let nd = a.ndim().max(b.ndim());
    let pad = |x: &Array| -> Vec<usize> { std::iter::repeat_n(1, nd - x.ndim()).chain(x.shape().iter().copied()).collect() };
    let (sa, sb) = (pad(a), pad(b));
    let interleave = |s: &[usize], first: bool| -> Vec<usize> { s.iter().flat_map(|&d| if first { [d, 1] } else { [1, d] }).collect() };
    let a2 = crate::reshape_to(a, &interleave(&sa, true))?;
    let b2 = crate::reshape_to(b, &interleave(&sb, false))?;
    let shape: Vec<usize> = sa.iter().zip(&sb).map(|(x, y)| x * y).collect();
    crate::reshape_to(&crate::multiply(&a2, &b2)?, &shape)
}
