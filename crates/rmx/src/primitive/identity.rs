//! `Identity` (the tracer a transform substitutes for each input) and `StopGradient`: both
//! share their input's buffer; they differ only in their derivative rules.

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
