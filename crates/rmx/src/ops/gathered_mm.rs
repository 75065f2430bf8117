//! Matmul variants of mlx.core: `gather_mm` (matrix-level gather, for mixtures of experts),
//! `segmented_mm` (one product per segment of the inner dimension) and `block_masked_mm`
//! (products with blocks of the operands or the output masked).

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::shape::broadcast_shapes_for;

fn batch_of(x: &Array) -> (Vec<usize>, usize) {
    let batch = x.shape()[..x.ndim() - 2].to_vec();
    let count = batch.iter().product();
    (batch, count)
}

fn flat_matrices(op: &'static str, x: &Array, indices: Option<&Array>) -> Result<(Array, Array)> {
    if x.ndim() < 2 {
        return Err(Error::shapes_detail(op, &[x.shape()], "operands must have at least two dimensions"));
    }
    let (batch, count) = batch_of(x);
    let nd = x.ndim();
    let flat = crate::reshape_to(x, &[count, x.shape()[nd - 2], x.shape()[nd - 1]])?;
    let idx = match indices {
        Some(i) if i.dtype().is_integer() => i.clone(),
        Some(i) => return Err(Error::dtype_detail(op, i.dtype(), "indices must be integers")),
        None => crate::reshape_to(&crate::arange(0.0, count as f64, 1.0, Dtype::U32)?, &batch)?,
    };
    Ok((flat, idx))
}

/// `take(a, lhs_indices) @ take(b, rhs_indices)` over the flattened batch dimensions of `a`
/// and `b` (`None` means every batch entry in order). The index arrays broadcast together;
/// the result has their shape followed by `[m, n]`.
pub fn gather_mm(a: &Array, b: &Array, lhs_indices: Option<&Array>, rhs_indices: Option<&Array>) -> Result<Array> {
    let op = "gather_mm";
    let (fa, ia) = flat_matrices(op, a, lhs_indices)?;
    let (fb, ib) = flat_matrices(op, b, rhs_indices)?;
    let shape = broadcast_shapes_for(op, ia.shape(), ib.shape())?;
    let ga = crate::take(&fa, &crate::broadcast_to(&ia, &shape)?, Some(0))?;
    let gb = crate::take(&fb, &crate::broadcast_to(&ib, &shape)?, Some(0))?;
    crate::matmul(&ga, &gb)
}

/// For `segments` of shape `[..., s, 2]` holding `(start, end)` offsets into the inner
/// dimension, `out[..., i, :, :] = a[..., :, start_i:end_i] @ b[..., start_i:end_i, :]`.
pub fn segmented_mm(a: &Array, b: &Array, segments: &Array) -> Result<Array> {
    let op = "segmented_mm";
    if a.ndim() < 2 || b.ndim() < 2 || segments.ndim() < 1 || segments.shape()[segments.ndim() - 1] != 2 {
        return Err(Error::shapes_detail(op, &[a.shape(), b.shape(), segments.shape()], "segments must end in a dimension of 2"));
    }
    let k = a.shape()[a.ndim() - 1];
    let ks = crate::arange(0.0, k as f64, 1.0, Dtype::I64)?;
    let bounds = crate::astype(segments, Dtype::I64)?;
    let start = crate::expand_dims(&crate::take(&bounds, &Array::scalar(0i32), Some(-1))?, &[-1])?;
    let end = crate::expand_dims(&crate::take(&bounds, &Array::scalar(1i32), Some(-1))?, &[-1])?;
    let mask = crate::logical_and(&crate::greater_equal(&ks, &start)?, &crate::less(&ks, &end)?)?;
    let mask = crate::expand_dims(&crate::astype(&mask, a.dtype())?, &[-2])?;
    let masked = crate::multiply(&crate::expand_dims(a, &[-3])?, &mask)?;
    crate::matmul(&masked, &crate::expand_dims(b, &[-3])?)
}

/// Expands a block mask `[..., ceil(r / bs), ceil(c / bs)]` to `[..., r, c]`.
fn expand_mask(op: &'static str, mask: &Array, block: usize, rows: usize, cols: usize) -> Result<Array> {
    let nd = mask.ndim();
    let want = (rows.div_ceil(block), cols.div_ceil(block));
    if nd < 2 || (mask.shape()[nd - 2], mask.shape()[nd - 1]) != want {
        return Err(Error::shapes_detail(op, &[mask.shape()], format!("mask must end in {want:?} for block size {block}")));
    }
    let up = crate::repeat(&crate::repeat(mask, block, Some(-2))?, block, Some(-1))?;
    let mut stops: Vec<isize> = up.shape().iter().map(|&d| d as isize).collect();
    stops[nd - 2] = rows as isize;
    stops[nd - 1] = cols as isize;
    crate::slice(&up, &vec![0; nd], &stops, &vec![1; nd])
}

fn apply(op: &'static str, x: &Array, mask: Option<&Array>, block: usize) -> Result<Array> {
    match mask {
        None => Ok(x.clone()),
        Some(m) => {
            let nd = x.ndim();
            let full = expand_mask(op, m, block, x.shape()[nd - 2], x.shape()[nd - 1])?;
            let full = if full.dtype() == Dtype::Bool { crate::astype(&full, x.dtype())? } else { full };
            crate::multiply(x, &full)
        }
    }
}

/// `a @ b` with `block_size x block_size` blocks masked: boolean masks zero blocks, float
/// masks scale them. `mask_lhs`/`mask_rhs` act on the operands, `mask_out` on the result.
/// Block sizes 32 and 64 are accepted, as in MLX.
pub fn block_masked_mm(
    a: &Array,
    b: &Array,
    block_size: usize,
    mask_out: Option<&Array>,
    mask_lhs: Option<&Array>,
    mask_rhs: Option<&Array>,
) -> Result<Array> {
    let op = "block_masked_mm";
    if block_size != 32 && block_size != 64 {
        return Err(Error::arg(op, format!("block size must be 32 or 64, got {block_size}")));
    }
    if a.ndim() < 2 || b.ndim() < 2 {
        return Err(Error::shapes_detail(op, &[a.shape(), b.shape()], "operands must have at least two dimensions"));
    }
    let product = crate::matmul(&apply(op, a, mask_lhs, block_size)?, &apply(op, b, mask_rhs, block_size)?)?;
    match mask_out {
        None => Ok(product),
        Some(m) => {
            let nd = product.ndim();
            let full = expand_mask(op, m, block_size, product.shape()[nd - 2], product.shape()[nd - 1])?;
            if full.dtype() == Dtype::Bool {
                crate::where_(&full, &product, 0)
            } else {
                crate::multiply(&product, &full)
            }
        }
    }
}
