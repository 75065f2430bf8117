//! `view`: the same bytes seen as another dtype (MLX's `mx.view`, NumPy's `ndarray.view`).
//! Row-major data is shared, not copied: the output is the input's buffer with the last axis
//! rescaled by the ratio of the element sizes.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::copy::{astype, to_row_major};
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::shape::row_major_strides;
use crate::storage::alloc_output;

/// Reinterprets the bytes of a row-major copy of its input as `dtype`.
#[derive(Debug)]
pub struct View {
    pub dtype: Dtype,
}

/// The shape of `shape` (of `from` elements) seen as `to`: the last axis scaled by the
/// ratio of the sizes.
pub(crate) fn viewed_shape(shape: &[usize], from: Dtype, to: Dtype) -> Result<Vec<usize>> {
    let (a, b) = (from.size(), to.size());
    if a == b {
        return Ok(shape.to_vec());
    }
    let Some((&last, _)) = shape.split_last() else {
        return Err(Error::arg("view", format!("a 0-d {from} array can only be viewed as a type of the same size ({a} bytes), not {to}")));
    };
    if (last * a) % b != 0 {
        return Err(Error::shapes_detail(
            "view",
            &[shape],
            format!("viewing {from} as the larger {to} needs the last axis to hold a multiple of {b} bytes (it holds {})", last * a),
        ));
    }
    let mut out = shape.to_vec();
    *out.last_mut().expect("checked above") = last * a / b;
    Ok(out)
}

impl Primitive for View {
    fn name(&self) -> &'static str {
        "view"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let (from, to) = (x.dtype().size(), out.dtype().size());
        let mut s = to_row_major(&x.storage()?, x.shape(), x.dtype())?;
        if (s.offset * from) % to != 0 {
            // A row-major view starting between two output elements: copied to a fresh buffer.
            let copy = alloc_output(x.shape(), x.dtype())?;
            astype(&s, x.shape(), x.dtype(), x.dtype(), &copy);
            s = copy;
        }
        out.set_storage(s.view(row_major_strides(out.shape()), s.offset * from / to));
        Ok(())
    }

    /// Bits carry no derivative: integer sides get zero cotangents, a float read as another
    /// float is an error (as in MLX).
    fn vjp(&self, inputs: &[Array], _: &[Array], _: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        let (x, y) = (&inputs[0], &outputs[0]);
        if x.dtype().is_inexact() && y.dtype().is_inexact() {
            return Err(Error::NotImplemented(format!("vjp of view ({} bits read as {} have no derivative)", x.dtype(), y.dtype())));
        }
        Ok(vec![crate::zeros_like(x)?])
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        // The last axis is rescaled: with the batch in front, every example keeps its own.
        let (x, axis) = (&inputs[0].0, inputs[0].1);
        let x = match axis {
            Some(b) if b != 0 => crate::moveaxis(x, b as isize, 0)?,
            _ => x.clone(),
        };
        Ok(Some((vec![crate::view(&x, self.dtype)?], vec![axis.map(|_| 0)])))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        Some(viewed_shape(inputs[0].shape(), inputs[0].dtype(), self.dtype).map(|s| vec![s]))
    }
}
