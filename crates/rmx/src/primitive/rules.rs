//! Helpers shared by the derivative rules of the primitives.

use super::{Batched, BatchedOutputs};
use crate::array::Array;
use crate::error::Result;
use crate::primitive::Primitive;
use std::sync::Arc;

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

/// Batched inputs lined up for an element-wise primitive whose unbatched output has rank
/// `rank`: batch axes moved to the front and, for batched inputs of lower rank, size-1 axes
/// inserted after it so that broadcasting from the right still lines up. Unbatched inputs
/// are left alone (they broadcast). Returns the inputs and the batch size.
pub(crate) fn align_elementwise(inputs: &[Batched], rank: usize) -> Result<(Vec<Array>, usize)> {
    let mut size = 1;
    let arrays = inputs
        .iter()
        .map(|(x, axis)| match axis {
            None => Ok(x.clone()),
            Some(a) => {
                let front = crate::moveaxis(x, *a as isize, 0)?;
                size = front.shape()[0];
                let missing = rank + 1 - front.ndim();
                let mut shape = vec![size];
                shape.extend(std::iter::repeat_n(1, missing));
                shape.extend(&front.shape()[1..]);
                crate::reshape_to(&front, &shape)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, size))
}

/// One batched node of `primitive` over `inputs`, with the batch in front of `output`'s
/// unbatched shape.
pub(crate) fn batched_node(primitive: Arc<dyn Primitive>, inputs: Vec<Array>, size: usize, output: &Array) -> Array {
    let mut shape = vec![size];
    shape.extend(output.shape());
    Array::from_primitive(shape, output.dtype(), primitive, inputs)
}

/// Output shape of an element-wise node over inputs of any shapes (shapeless compile).
pub(crate) fn elementwise_shapes(name: &'static str, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
    let shapes: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
    Some(crate::shape::broadcast_many(name, &shapes).map(|s| vec![s]))
}

/// The element-wise batching rule: batch in front, the primitive applied once.
pub(crate) fn vmap_elementwise(primitive: Arc<dyn Primitive>, inputs: &[Batched], outputs: &[Array]) -> Result<Option<BatchedOutputs>> {
    let (arrays, size) = align_elementwise(inputs, outputs[0].ndim())?;
    Ok(Some((vec![batched_node(primitive, arrays, size, &outputs[0])], vec![Some(0)])))
}

/// A batched input with its batch axis at the front.
pub(crate) fn front((x, axis): &Batched) -> Result<Array> {
    match axis {
        Some(a) if *a != 0 => crate::moveaxis(x, *a as isize, 0),
        _ => Ok(x.clone()),
    }
}

/// A batching rule's result: one output batched along axis 0.
pub(crate) fn batched_front(x: Array) -> Result<Option<BatchedOutputs>> {
    Ok(Some((vec![x], vec![Some(0)])))
}

/// Runs a derivative rule written for real numbers (the transpose of the Jacobian) under
/// MLX's convention for complex numbers, where a cotangent is pulled back through the
/// *adjoint*: `conj(rule(conj(g)))`, which for a holomorphic `f` gives `g * conj(f'(z))`.
/// With no complex array involved the rule runs as is.
pub(crate) fn adjoint(g: &Array, complex: bool, rule: impl FnOnce(&Array) -> Result<Vec<Array>>) -> Result<Vec<Array>> {
    if !complex {
        return rule(g);
    }
    rule(&conj_complex(g)?)?.iter().map(conj_complex).collect()
}

/// `conj(x)` for complex `x`; `x` itself otherwise.
pub(crate) fn conj_complex(x: &Array) -> Result<Array> {
    if x.dtype().is_complex() {
        crate::conj(x)
    } else {
        Ok(x.clone())
    }
}
