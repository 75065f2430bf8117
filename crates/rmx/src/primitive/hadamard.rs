//! `Hadamard`: the Walsh-Hadamard transform along the last axis of a row-major float32
//! input (the op casts other float types around it).

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::hadamard::{factor, transform_row};
use crate::error::{Error, Result};
use crate::primitive::views::to_row_major_copy;
use rayon::prelude::*;

/// `y = (H_n @ x) * scale` along the last axis.
#[derive(Debug)]
pub struct Hadamard {
    pub scale: f32,
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
            let scale = self.scale;
            let work = |rows: &mut [f32]| {
                let mut scratch = Vec::new();
                rows.chunks_exact_mut(n).for_each(|row| transform_row(row, m, pow2, scale, &mut scratch));
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
}
