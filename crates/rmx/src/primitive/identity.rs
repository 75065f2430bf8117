//! Pass-through primitives that share their input's buffer and differ only in their rules:
//! `Identity` (the tracer a transform substitutes for each input), `StopGradient`, and
//! `Depends` (outputs that wait for other arrays).

use super::Primitive;
use crate::array::Array;
use crate::error::Result;

/// Passes its input through; its cotangent is the input's.
#[derive(Debug)]
pub struct Identity;

/// Passes its input through and blocks gradients.
#[derive(Debug)]
pub struct StopGradient;

fn share(inputs: &[Array], outputs: &[Array]) -> Result<()> {
    outputs[0].set_storage(inputs[0].storage()?);
    Ok(())
}

impl Primitive for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        share(inputs, outputs)
    }

    fn vjp(&self, _: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![cotangents[0].clone()])
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        Ok(Some((vec![inputs[0].0.clone()], vec![inputs[0].1])))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        Some(Ok(vec![inputs[0].shape().to_vec()]))
    }
}

impl Primitive for StopGradient {
    fn name(&self) -> &'static str {
        "stop_gradient"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        share(inputs, outputs)
    }

    fn vjp(&self, primals: &[Array], _: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![crate::zeros_like(&primals[0])?])
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        Ok(Some((vec![crate::stop_gradient(&inputs[0].0)?], vec![inputs[0].1])))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        Some(Ok(vec![inputs[0].shape().to_vec()]))
    }
}

/// Passes its first `count` inputs through once the rest (the dependencies) are computed.
#[derive(Debug)]
pub struct Depends {
    pub count: usize,
}

impl Primitive for Depends {
    fn name(&self) -> &'static str {
        "depends"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        for (x, out) in inputs.iter().zip(outputs) {
            out.set_storage(x.storage()?);
        }
        Ok(())
    }

    fn vjp(&self, primals: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        argnums.iter().map(|&i| if i < self.count { Ok(cotangents[i].clone()) } else { crate::zeros_like(&primals[i]) }).collect()
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let (passed, waited) = inputs.split_at(self.count);
        let arrays = |b: &[super::Batched]| b.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>();
        Ok(Some((crate::depends(&arrays(passed), &arrays(waited))?, passed.iter().map(|b| b.1).collect())))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        Some(Ok(inputs[..self.count].iter().map(|x| x.shape().to_vec()).collect()))
    }
}
