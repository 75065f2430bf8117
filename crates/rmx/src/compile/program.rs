//! The fused-kernel representation: a straight-line program of element-wise steps over
//! inputs that broadcast to one shape.
//!
//! A program may end with reductions over the trailing axes of some of its values (a sum of
//! squares, the normalizer of a softmax) or over their leading axes (sums over the batch),
//! computed in the same pass.
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
use crate::primitive::reduce::{Reduce, ReduceOp};
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

/// The most values one program reduces.
pub const MAX_FOLDS: usize = 8;

/// Reductions over the trailing (or, with `leading`, the leading) `axes` axes (kept with
/// size 1) of one or more of a program's values, computed in the same pass: its last
/// outputs, one per fold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reduction {
    pub folds: Vec<Fold>,
    pub axes: usize,
    pub leading: bool,
}

/// One reduced value: step `step`'s value folded by `op` (sum, prod, max or min).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fold {
    pub op: ReduceOp,
    pub step: usize,
}

/// A fused element-wise kernel: steps in order (operands always earlier), the steps that are
/// full-size outputs, optional reductions (one more output each, after those), and the type
/// values are computed in (`F32` for f32/f16/bf16/bool values, `F64` for f64/bool values).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FusedProgram {
    pub steps: Vec<FusedStep>,
    pub outputs: Vec<usize>,
    pub reduction: Option<Reduction>,
    pub compute: Dtype,
}

impl FusedProgram {
    /// Number of inputs the program reads.
    pub fn input_count(&self) -> usize {
        self.steps.iter().filter(|s| matches!(s.step, Step::Input(_))).count()
    }

    /// The last step reading each step's value (0 for values nothing reads), `usize::MAX` for
    /// outputs and folded values, which are read after the last step.
    pub fn last_readers(&self) -> Vec<usize> {
        let mut last = vec![0usize; self.steps.len()];
        for (i, s) in self.steps.iter().enumerate() {
            if let Step::Op(_, args) = &s.step {
                for &a in args {
                    last[a] = i;
                }
            }
        }
        for &o in self.outputs.iter().chain(self.reduction.iter().flat_map(|r| r.folds.iter().map(|f| &f.step))) {
            last[o] = usize::MAX;
        }
        last
    }

    /// Number of operations (steps that are not input reads, and the reduction).
    pub fn op_count(&self) -> usize {
        self.steps.len() - self.input_count() + self.reduction.as_ref().map_or(0, |r| r.folds.len())
    }

    /// Whether outputs of `shapes` are what the kernel writes over inputs broadcast to `shape`:
    /// each full-size output `shape` (every step has it), each reduced one `shape` with the
    /// reduced axes of size 1.
    pub fn writes(&self, shape: &[usize], shapes: &[&[usize]]) -> bool {
        let folds = self.reduction.as_ref().map_or(0, |r| r.folds.len());
        // One reduced shape for every fold (they share their axes), built once per call.
        let reduced = self.reduction.as_ref().map(|r| Self::reduced_shape(r, shape));
        shapes.len() == self.outputs.len() + folds
            && shapes.iter().enumerate().all(|(i, s)| if i < self.outputs.len() { *s == shape } else { reduced.as_deref() == Some(*s) })
    }

    /// The shape of the reduction's output given the shape of the value it reduces.
    fn reduced_shape(reduction: &Reduction, full: &[usize]) -> Vec<usize> {
        let mut shape = full.to_vec();
        for d in Self::reduced_axes(reduction, full.len()) {
            shape[d] = 1;
        }
        shape
    }

    /// The reduced axes of a value of rank `rank`.
    pub fn reduced_axes(reduction: &Reduction, rank: usize) -> Vec<usize> {
        if reduction.leading {
            (0..reduction.axes).collect()
        } else {
            (rank - reduction.axes..rank).collect()
        }
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
        let mut out: Vec<Vec<usize>> = self.outputs.iter().map(|&o| shapes[o].clone()).collect();
        if let Some(r) = &self.reduction {
            out.extend(r.folds.iter().map(|f| Self::reduced_shape(r, &shapes[f.step])));
        }
        Ok(out)
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
        let mut out: Vec<Array> = self.outputs.iter().map(|&o| values[o].clone()).collect();
        if let Some(r) = &self.reduction {
            for fold in &r.folds {
                let x = &values[fold.step];
                let primitive = Arc::new(Reduce { op: fold.op, axes: Self::reduced_axes(r, x.ndim()) });
                out.push(Array::from_primitive(Self::reduced_shape(r, x.shape()), x.dtype(), primitive, vec![x.clone()]));
            }
        }
        Ok(out)
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
        write!(f, "-> {:?}", self.outputs)?;
        if let Some(r) = &self.reduction {
            let side = if r.leading { "first" } else { "last" };
            let folds: Vec<String> = r.folds.iter().map(|fold| format!("{}(%{})", fold.op.name(), fold.step)).collect();
            write!(f, ", {} over the {side} {} axes", folds.join(" "), r.axes)?;
        }
        write!(f, ")")
    }
}
