//! Primitives: the real op set. Each primitive says how to compute its outputs from its
//! inputs on each backend; public ops in [`crate::ops`] validate arguments, infer shapes and
//! dtypes, and build nodes that carry a primitive.
//!
//! One file per family: the primitive's parameters and its dispatch to the kernels of
//! [`crate::backend`]. Derivative and batching rules join each primitive in its own file.

use crate::array::Array;
use crate::compile::program::FusedOp;
use crate::error::Result;
use std::fmt;

pub mod attention;
pub mod binary;
pub mod creation;
pub mod custom;
pub mod distributed;
pub mod fft;
pub mod fp_quantized;
pub mod fused;
pub mod hadamard;
pub mod identity;
pub mod indexing;
pub mod linalg;
pub(crate) mod linalg_rules;
pub mod load;
pub mod matmul;
pub mod quantized;
pub mod random;
pub mod reduce;
pub mod rope_norm;
pub(crate) mod rules;
pub mod scan;
pub mod sort;
pub mod tracer;
pub mod unary;
pub mod view;
pub mod views;

/// A node's computation.
pub trait Primitive: Send + Sync + fmt::Debug {
    /// The name used in errors and graph dumps.
    fn name(&self) -> &'static str;

    /// Computes `outputs` from evaluated `inputs` on the CPU, setting each output's storage.
    /// `inputs` is owned by the evaluator, so an input whose node has no other reference
    /// may donate its buffer.
    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()>;

    /// Reverse-mode rule: given the primal `inputs`, the cotangents of every output (zeros
    /// where an output received none) and the primal `outputs`, returns the cotangent of
    /// each input listed in `argnums`, in that order, shaped and typed like that input.
    /// The default says the primitive has no derivative rule.
    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        let _ = (inputs, cotangents, argnums, outputs);
        Err(crate::error::Error::NotImplemented(format!("vjp of {}", self.name())))
    }

    /// Batching rule: given the inputs with the axis their batch lives on (`None`: not
    /// batched) and the unbatched `outputs` of the traced node, returns the batched outputs
    /// and their batch axes. `Ok(None)` (the default) makes `vmap` replay the primitive once
    /// per batch entry instead.
    fn vmap(&self, inputs: &[Batched], outputs: &[Array]) -> Result<Option<BatchedOutputs>> {
        let _ = (inputs, outputs);
        Ok(None)
    }

    /// The name with what distinguishes this node in a listing (a fused kernel's op count).
    fn label(&self) -> String {
        self.name().to_string()
    }

    /// This primitive as one step of a fused element-wise kernel, if it is one.
    fn fusion(&self) -> Option<FusedOp> {
        None
    }

    /// This primitive as a reduction a fused kernel can end with: the operation and the
    /// reduced axes (kept with size 1), if it is one.
    fn reduction(&self) -> Option<(reduce::ReduceOp, &[usize])> {
        None
    }

    /// The parameters that, with the inputs and output shapes, determine the outputs: nodes
    /// with equal keys over equal inputs compute equal values, so `compile` keeps one of
    /// them. `None` opts out (a primitive with hidden state or behaviour, or one that
    /// communicates).
    fn cse_key(&self) -> Option<String> {
        // Each communication happens once per node: never merged.
        (!self.communicates()).then(|| format!("{self:?}"))
    }

    /// Whether evaluating this node waits on other processes (the collectives of
    /// `rmx::distributed`): a graph holding one runs on the calling thread, never holding a
    /// compute-pool thread while it waits (ranks sharing a process would deadlock the pool).
    fn communicates(&self) -> bool {
        false
    }

    /// The output shapes for inputs of other shapes than traced (`compile` in shapeless
    /// mode), or `None` when they depend on the traced shapes (the default).
    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        let _ = inputs;
        None
    }
}

/// An input of a batching rule: the array and the axis its batch lives on, if any.
pub type Batched = (Array, Option<usize>);

/// What a batching rule returns: the batched outputs and the axis each one's batch lives on.
pub type BatchedOutputs = (Vec<Array>, Vec<Option<usize>>);
