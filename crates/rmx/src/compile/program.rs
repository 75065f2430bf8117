//! The fused-kernel representation: a straight-line program of element-wise steps over
//! inputs that broadcast to one shape.
//!
//! A program names operations, not code, so it is backend-neutral: the CPU backend
//! interprets it over cache-sized chunks ([`crate::backend::cpu::fused`]), and a GPU backend
//! can print the same steps as kernel source. Every step records the dtype its unfused node
//! had, so a backend rounds where the unfused graph would have (f16/bf16 steps) and the
//! fused result equals the unfused one.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::Result;
use crate::primitive::binary::{Binary, BinaryOp, Select};
use crate::primitive::unary::{Unary, UnaryOp};
use crate::primitive::views::AsType;
use crate::primitive::Primitive;
use crate::shape::broadcast_many;
use std::fmt;
use std::sync::Arc;

/// An element-wise operation a fused kernel can perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FusedOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(cond, x, y)`.
    Select,
    /// Conversion to the step's dtype.
    Cast,
}

impl FusedOp {
    /// The primitive that performs this operation unfused.
    pub fn primitive(self) -> Arc<dyn Primitive> {
        match self {
            FusedOp::Unary(op) => Arc::new(Unary(op)),
            FusedOp::Binary(op) => Arc::new(Binary(op)),
            FusedOp::Select => Arc::new(Select),
            FusedOp::Cast => Arc::new(AsType),
        }
    }

    fn name(self) -> &'static str {
        match self {
            FusedOp::Unary(op) => op.name(),
            FusedOp::Binary(op) => op.name(),
            FusedOp::Select => "where",
            FusedOp::Cast => "astype",
        }
    }
}

/// What a step computes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Reads input `i`.
    Input(usize),
    /// Applies an operation to earlier steps.
    Op(FusedOp, Vec<usize>),
}

/// One value of a program and the dtype it has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FusedStep {
    pub step: Step,
    pub dtype: Dtype,
}

/// A fused element-wise kernel: steps in order (operands always earlier), the steps that are
/// outputs, and the type values are computed in (`F32` for f32/f16/bf16/bool values, `F64`
/// for f64/bool values).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FusedProgram {
    pub steps: Vec<FusedStep>,
    pub outputs: Vec<usize>,
    pub compute: Dtype,
}

impl FusedProgram {
    /// Number of inputs the program reads.
    pub fn input_count(&self) -> usize {
        self.steps.iter().filter(|s| matches!(s.step, Step::Input(_))).count()
    }

    /// Number of operations (steps that are not input reads).
    pub fn op_count(&self) -> usize {
        self.steps.len() - self.input_count()
    }

    /// The shape of every step given the input shapes (the broadcast of its operands').
    fn step_shapes(&self, input_shapes: &[&[usize]]) -> Result<Vec<Vec<usize>>> {
        let mut shapes: Vec<Vec<usize>> = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            let shape = match &s.step {
                Step::Input(i) => input_shapes[*i].to_vec(),
                Step::Op(op, args) => {
                    let operands: Vec<&[usize]> = args.iter().map(|&a| shapes[a].as_slice()).collect();
                    broadcast_many(op.name(), &operands)?
                }
            };
            shapes.push(shape);
        }
        Ok(shapes)
    }

    /// The shape of each output given the input shapes.
    pub fn output_shapes(&self, input_shapes: &[&[usize]]) -> Result<Vec<Vec<usize>>> {
        let shapes = self.step_shapes(input_shapes)?;
        Ok(self.outputs.iter().map(|&o| shapes[o].clone()).collect())
    }

    /// Builds the unfused graph of the program over `inputs`: one ordinary node per step.
    /// Derivatives and batching of a fused node go through this graph.
    pub fn unfused(&self, inputs: &[Array]) -> Result<Vec<Array>> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
        let step_shapes = self.step_shapes(&shapes)?;
        let mut values: Vec<Array> = Vec::with_capacity(self.steps.len());
        for (s, shape) in self.steps.iter().zip(step_shapes) {
            let value = match &s.step {
                Step::Input(i) => inputs[*i].clone(),
                Step::Op(op, args) => {
                    let operands = args.iter().map(|&a| values[a].clone()).collect();
                    Array::from_primitive(shape, s.dtype, op.primitive(), operands)
                }
            };
            values.push(value);
        }
        Ok(self.outputs.iter().map(|&o| values[o].clone()).collect())
    }
}

impl fmt::Debug for FusedProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FusedProgram[{}](", self.compute)?;
        for (i, s) in self.steps.iter().enumerate() {
            match &s.step {
                Step::Input(k) => write!(f, "%{i}=in{k}:{} ", s.dtype)?,
                Step::Op(op, args) => write!(f, "%{i}={}{args:?}:{} ", op.name(), s.dtype)?,
            }
        }
        write!(f, "-> {:?})", self.outputs)
    }
}
