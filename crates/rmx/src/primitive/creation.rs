//! Primitives that make data from parameters alone: `Full` (a broadcast constant) and
//! `Arange`.

use super::Primitive;
use crate::array::Array;
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::Result;
use crate::shape::numel;
use crate::storage::alloc_output;

/// Fills the output with the single element of its input (already of the output dtype).
#[derive(Debug)]
pub struct Full;

impl Primitive for Full {
    fn name(&self) -> &'static str {
        "full"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let out = &outputs[0];
        let value = inputs[0].storage()?;
        let storage = alloc_output(out.shape(), out.dtype())?;
        let n = numel(out.shape());
        crate::dispatch_dtype!(out.dtype(), T => {
            // SAFETY: the input is a 0-d array of T; the output holds n elements.
            let v = unsafe { *value.ptr::<T>() };
            let dst = unsafe { std::slice::from_raw_parts_mut(storage.ptr::<T>() as *mut T, n) };
            fill(dst, v);
        });
        out.set_storage(storage);
        Ok(())
    }
}

fn fill<T: Element>(dst: &mut [T], v: T) {
    use rayon::prelude::*;
    if dst.len() >= crate::backend::cpu::strided::PARALLEL_THRESHOLD * 4 {
        dst.par_chunks_mut(1 << 16).for_each(|c| c.fill(v));
    } else {
        dst.fill(v);
    }
}

/// `start + i * step` for each output index, computed in f64 then cast.
#[derive(Debug)]
pub struct Arange {
    pub start: f64,
    pub step: f64,
}

impl Primitive for Arange {
    fn name(&self) -> &'static str {
        "arange"
    }

    fn eval_cpu(&self, _inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let out = &outputs[0];
        let storage = alloc_output(out.shape(), out.dtype())?;
        let n = numel(out.shape());
        crate::dispatch_dtype!(out.dtype(), T => {
            // SAFETY: fresh output of n elements.
            let dst = unsafe { std::slice::from_raw_parts_mut(storage.ptr::<T>() as *mut T, n) };
            arange_into(dst, self.start, self.step, out.dtype());
        });
        out.set_storage(storage);
        Ok(())
    }
}

fn arange_into<T: Element>(dst: &mut [T], start: f64, step: f64, dtype: Dtype) {
    if dtype.is_integer() && start.fract() == 0.0 && step.fract() == 0.0 {
        // Exact integer progression (f64 loses precision past 2^53).
        let (s, st) = (start as i64, step as i64);
        for (i, d) in dst.iter_mut().enumerate() {
            *d = T::from_i64(s.wrapping_add((i as i64).wrapping_mul(st)));
        }
    } else {
        for (i, d) in dst.iter_mut().enumerate() {
            *d = T::from_f64(start + i as f64 * step);
        }
    }
}
