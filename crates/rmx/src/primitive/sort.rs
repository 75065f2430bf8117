//! Sorting along an axis: `Sort` (values) and `ArgSort` (uint32 indices, stable), and
//! `SearchSorted`.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::lines::{for_each_line, line_offset};
use crate::backend::cpu::sort::{argsort_line, key, sort_line};
use crate::backend::cpu::strided::{SendConstPtr, SendPtr};
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::Result;
use crate::shape::row_major_strides;
use crate::storage::{alloc_output, Storage};

/// Sorts along an axis; `indices` selects argsort.
#[derive(Debug)]
pub struct Sort {
    pub axis: usize,
    pub indices: bool,
}

fn run<T: Element>(p: &Sort, x: &Storage, shape: &[usize], out: &Storage) {
    let n = shape[p.axis];
    let stride = x.strides[p.axis];
    let ostrides = row_major_strides(shape);
    let ostride = ostrides[p.axis];
    let px = SendConstPtr(x.ptr::<T>());
    let po_vals = SendPtr(out.ptr::<T>() as *mut T);
    let po_idx = SendPtr(out.ptr::<u32>() as *mut u32);
    for_each_line(shape, &x.strides, p.axis, |line, xo| {
        let oo = line_offset(shape, &ostrides, p.axis, line);
        // SAFETY: positions below n lie inside this line of the input view.
        let read = |i: usize| unsafe { *px.get().offset(xo + i as isize * stride) };
        if p.indices {
            // SAFETY: inside this line of the fresh output; each position written once.
            argsort_line(n, read, |i, idx| unsafe { *po_idx.get().offset(oo + i as isize * ostride) = idx });
        } else {
            // SAFETY: as above.
            sort_line(n, read, |i, v| unsafe { *po_vals.get().offset(oo + i as isize * ostride) = v });
        }
    });
}

impl Primitive for Sort {
    fn name(&self) -> &'static str {
        if self.indices {
            "argsort"
        } else {
            "sort"
        }
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let s = x.storage()?;
        let storage = alloc_output(out.shape(), out.dtype())?;
        crate::dispatch_dtype!(x.dtype(), T => run::<T>(self, &s, x.shape(), &storage));
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let x = &inputs[0];
        if self.indices {
            return Ok(vec![crate::zeros_like(x)?]);
        }
        // Sorted values go back to where they came from (the same stable order).
        let order = crate::argsort(x, Some(self.axis as isize))?;
        Ok(vec![crate::put_along_axis(&crate::zeros_like(x)?, &order, &cotangents[0], self.axis as isize)?])
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let shifted = Sort { axis: self.axis + 1, indices: self.indices };
        let dtype = if self.indices { Dtype::U32 } else { x.dtype() };
        super::rules::batched_front(Array::from_primitive(x.shape().to_vec(), dtype, std::sync::Arc::new(shifted), vec![x]))
    }
}

/// For each value, the insertion index into a sorted 1-d sequence (uint32).
#[derive(Debug)]
pub struct SearchSorted {
    pub right: bool,
}

impl Primitive for SearchSorted {
    fn name(&self) -> &'static str {
        "searchsorted"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (seq, values, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let storage = alloc_output(out.shape(), Dtype::U32)?;
        crate::dispatch_dtype!(seq.dtype(), T => {
            let keys: Vec<u64> = seq.to_vec::<T>()?.into_iter().map(key).collect();
            let vals: Vec<T> = values.to_vec::<T>()?;
            let dst = storage.ptr::<u32>() as *mut u32;
            for (i, v) in vals.into_iter().enumerate() {
                let k = key(v);
                let pos = if self.right { keys.partition_point(|&s| s <= k) } else { keys.partition_point(|&s| s < k) };
                // SAFETY: one output per value.
                unsafe { *dst.add(i) = pos as u32 };
            }
        });
        out.set_storage(storage);
        Ok(())
    }
}
