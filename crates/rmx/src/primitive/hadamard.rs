//! `Hadamard`: the Walsh-Hadamard transform along the last axis of a row-major float32
//! input (the op casts other float types around it).

use super::{Batched, BatchedOutputs, Primitive};
use crate::array::Array;
use crate::backend::cpu::hadamard::{factor, transform_row};
use crate::error::{Error, Result};
use crate::primitive::views::to_row_major_copy;
use rayon::prelude::*;
use std::sync::Arc;

/// `y = (H_n @ x) * scale` along the last axis (`H_nᵀ` when `transposed`: the reverse rule).
#[derive(Debug, Clone, Copy)]
pub struct Hadamard {
    pub scale: f32,
    pub transposed: bool,
}

impl Primitive for Hadamard {
    fn name(&self) -> &'static str {
        "hadamard_transform"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let n = x.shape().last().copied().unwrap_or(1);
        let (m, pow2) = factor(n).ok_or_else(|| Error::arg("hadamard_transform", format!("unsupported length {n}")))?;
        let storage = to_row_major_copy(&x.storage()?, x.shape(), x.dtype())?;
        if out.size() > 0 {
            // SAFETY: the fresh row-major copy holds exactly `out.size()` f32 values and is
            // owned by this kernel until it is stored.
            let data = unsafe { std::slice::from_raw_parts_mut(storage.ptr::<f32>() as *mut f32, out.size()) };
            let (scale, transposed) = (self.scale, self.transposed);
            let work = |rows: &mut [f32]| {
                let mut scratch = Vec::new();
                rows.chunks_exact_mut(n).for_each(|row| transform_row(row, m, pow2, scale, transposed, &mut scratch));
            };
            if out.size() >= 1 << 16 {
                data.par_chunks_mut(n * (1usize << 14).div_ceil(n)).for_each(work);
            } else {
                work(data);
            }
        }
        out.set_storage(storage);
        Ok(())
    }

    /// Linear: the cotangent goes through the transposed transform (MLX applies `H` itself,
    /// which is wrong for the non-symmetric 20- and 28-point tables).
    fn vjp(&self, _: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let c = &cotangents[0];
        let transposed = Hadamard { transposed: !self.transposed, ..*self };
        Ok(vec![Array::from_primitive(c.shape().to_vec(), c.dtype(), Arc::new(transposed), vec![c.clone()])])
    }

    /// Rows are independent: the batch moves to the front.
    fn vmap(&self, inputs: &[Batched], _: &[Array]) -> Result<Option<BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        super::rules::batched_front(Array::from_primitive(x.shape().to_vec(), x.dtype(), Arc::new(*self), vec![x]))
    }
}
