//! Helpers shared by the derivative rules of the primitives.

use crate::array::Array;
use crate::error::Result;

/// Sums a cotangent computed at a broadcast shape back to `shape` (the input's shape).
pub(crate) fn sum_to_shape(g: &Array, shape: &[usize]) -> Result<Array> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.ndim() - shape.len();
    let mut axes: Vec<isize> = (0..lead as isize).collect();
    axes.extend(shape.iter().enumerate().filter(|&(i, &d)| d == 1 && g.shape()[lead + i] != 1).map(|(i, _)| (lead + i) as isize));
    let summed = if axes.is_empty() { g.clone() } else { crate::sum(g, axes, true)? };
    crate::reshape_to(&summed, shape)
}

/// Zeros shaped and typed like each input listed in `argnums` (for outputs without a
/// derivative: comparisons, integer results, rounding).
pub(crate) fn zero_cotangents(inputs: &[Array], argnums: &[usize]) -> Result<Vec<Array>> {
    argnums.iter().map(|&i| crate::zeros_like(&inputs[i])).collect()
}
