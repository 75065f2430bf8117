//! `Fused`: a chain of element-wise operations that `compile` merged into one kernel, maybe
//! ending in reductions over trailing or leading axes. It evaluates in one pass over its inputs
//! with no full-size intermediates; its derivative and batching rules work through the
//! equivalent unfused graph.

use super::rules::align_elementwise;
use super::{Batched, BatchedOutputs, Primitive};
use crate::array::Array;
use crate::compile::program::FusedProgram;
use crate::error::{Error, Result};
use crate::shape::{broadcast_many, broadcast_strides};
use crate::storage::alloc_output;
use std::sync::Arc;

/// A fused element-wise kernel over its inputs.
#[derive(Debug)]
pub struct Fused(pub Arc<FusedProgram>);

impl Primitive for Fused {
    fn name(&self) -> &'static str {
        "fused"
    }

    fn label(&self) -> String {
        format!("fused[{}]", self.0.op_count())
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        // The shape every step has: what the inputs broadcast to.
        let input_shapes: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
        let shape = broadcast_many("fused", &input_shapes)?;
        let storages = inputs.iter().map(|a| a.storage()).collect::<Result<Vec<_>>>()?;
        let strides: Vec<Vec<isize>> =
            inputs.iter().zip(&storages).map(|(a, s)| broadcast_strides(a.shape(), &s.strides, &shape)).collect();
        // Outputs of other shapes than the kernel writes (a node built wrongly) would be
        // written out of bounds.
        let got: Vec<&[usize]> = outputs.iter().map(|o| o.shape()).collect();
        if !self.0.writes(&shape, &got) {
            return Err(Error::Eval(format!("fused kernel: outputs {got:?} for inputs broadcast to {shape:?} ({:?})", self.0)));
        }
        let out_storages = outputs.iter().map(|o| alloc_output(o.shape(), o.dtype())).collect::<Result<Vec<_>>>()?;
        let input_views: Vec<(&crate::storage::Storage, &[isize])> =
            storages.iter().zip(&strides).map(|(s, st)| (s, st.as_slice())).collect();
        crate::backend::cpu::fused::run(&self.0, &input_views, &shape, &out_storages);
        for (out, storage) in outputs.iter().zip(out_storages) {
            out.set_storage(storage);
        }
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let replay = |differentiated: &[Array]| {
            let mut all = inputs.to_vec();
            for (&i, x) in argnums.iter().zip(differentiated) {
                all[i] = x.clone();
            }
            self.0.unfused(&all)
        };
        let primals: Vec<Array> = argnums.iter().map(|&i| inputs[i].clone()).collect();
        Ok(crate::vjp(replay, &primals, cotangents)?.1)
    }

    fn vmap(&self, inputs: &[Batched], outputs: &[Array]) -> Result<Option<BatchedOutputs>> {
        if self.0.reduction.as_ref().is_some_and(|r| r.leading) {
            // The batch goes in front, where a reduction over the leading axes would fold it
            // in: batch the unfused graph instead.
            let arrays: Vec<Array> = inputs.iter().map(|(x, _)| x.clone()).collect();
            let in_axes: Vec<Option<usize>> = inputs.iter().map(|(_, axis)| *axis).collect();
            let batched = crate::vmap(|a| self.0.unfused(a), &in_axes, &vec![Some(0); outputs.len()])(&arrays)?;
            return Ok(Some((batched, vec![Some(0); outputs.len()])));
        }
        let (arrays, size) = align_elementwise(inputs, outputs[0].ndim())?;
        let specs = outputs.iter().map(|o| ([&[size], o.shape()].concat(), o.dtype())).collect();
        let batched = Array::outputs_from_primitive(specs, Arc::new(Fused(Arc::clone(&self.0))), arrays);
        let axes = vec![Some(0); batched.len()];
        Ok(Some((batched, axes)))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
        Some(self.0.output_shapes(&shapes))
    }
}
