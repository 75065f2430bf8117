//! How the fused kernel runs a program: step by step, or with runs of cheap f32 steps
//! compiled into register-resident loops ([`super::jit`]).
//!
//! A [`Plan`] lists the program's steps in order, grouping consecutive operations that
//! lower to vector instructions ([`lower`]) into segments. An input read ends a run: run
//! early, it could fill a register buffer that the register allocator gave it only after a
//! value the run reads had died (the fuser puts every input first, so this never splits
//! its programs). A segment reads the
//! values of earlier steps through a pointer table filled per chunk (registers, inputs read
//! in place, broadcast scalars) and stores only what later steps, outputs and folds read.
//! A segment writing an output that nothing else reads also has a streaming kernel, which
//! stores that output past the caches itself when it is larger than them (a lone step too,
//! for that). Plans are cached per program and per set of broadcast-scalar inputs.

use super::jit::{self, Arg, Kernel, Segment, SegmentOp, VecOp};
use crate::compile::program::{FusedOp, FusedProgram, Step};
use crate::dtype::Dtype;
use crate::primitive::binary::BinaryOp;
use crate::primitive::unary::UnaryOp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Elements from which a program's f32 steps may run as generated code: below it the
/// interpreter's per-step cost is small next to planning and the call.
pub const MIN_ELEMENTS: usize = 1 << 16;

/// Plans cached at most; programs past them are interpreted.
const MAX_PLANS: usize = 4096;

/// The most pointers a segment's table holds.
pub const MAX_POINTERS: usize = 32;

/// What the kernel does next for a chunk.
#[derive(Debug)]
pub enum Action {
    /// Runs step `i` (an input read or one interpreted operation).
    Step(usize),
    /// Runs segment `k` of the plan.
    Segment(usize),
}

/// Where a pointer of a segment's table comes from, per chunk.
#[derive(Clone, Copy, Debug)]
pub enum Pointer {
    /// The values of step `i` (its register, or where it is read in place).
    Value(usize),
    /// The first value of step `i`, a broadcast scalar.
    Scalar(usize),
    /// Where step `i` writes (its register, or its output).
    Target(usize),
}

/// A compiled run of steps.
pub struct CompiledSegment {
    pub kernel: Arc<Kernel>,
    /// The same loop storing the program's outputs in [`Plan::streamed_outputs`] past the
    /// caches, when it stores any (for outputs larger than the caches; their pointers must be
    /// aligned to [`jit::stream_alignment`]).
    pub streaming: Option<Arc<Kernel>>,
    /// The steps it computes, in order (the interpreter runs them on chunks whose length is
    /// not a multiple of 8).
    pub steps: Vec<usize>,
    pub table: Vec<Pointer>,
}

/// The order of work for every chunk of a program.
pub struct Plan {
    pub actions: Vec<Action>,
    pub segments: Vec<CompiledSegment>,
    /// The output steps that segments' streaming kernels write straight into their outputs:
    /// f32 values that only outputs read (no later step, no fold), among the steps the fused
    /// kernel can point at its outputs.
    pub streamed_outputs: Vec<usize>,
}

/// The vector operation performing step `step` of an f32 program exactly as the interpreter
/// does, if there is one: values that stay f32 (or 0/1 truth values), operations that are one
/// IEEE instruction or a fixed selection, and erf, exp and sigmoid (their formulas' operation
/// sequences).
pub fn lower(program: &FusedProgram, step: usize) -> Option<VecOp> {
    let s = &program.steps[step];
    let Step::Op(op, args) = &s.step else { return None };
    if program.compute != Dtype::F32 || !matches!(s.dtype, Dtype::F32 | Dtype::Bool) {
        return None;
    }
    Some(match *op {
        FusedOp::Unary(u) => match u {
            UnaryOp::Abs => VecOp::Abs,
            UnaryOp::Negative => VecOp::Neg,
            UnaryOp::Sqrt => VecOp::Sqrt,
            UnaryOp::Rsqrt => VecOp::Rsqrt,
            UnaryOp::Square => VecOp::Square,
            UnaryOp::Reciprocal => VecOp::Reciprocal,
            UnaryOp::Floor => VecOp::Floor,
            UnaryOp::Ceil => VecOp::Ceil,
            UnaryOp::Trunc => VecOp::Trunc,
            UnaryOp::Conj | UnaryOp::Real => VecOp::Copy,
            UnaryOp::LogicalNot => VecOp::IsZero,
            UnaryOp::Erf => VecOp::Erf,
            UnaryOp::Exp => VecOp::Exp,
            UnaryOp::Sigmoid => VecOp::Sigmoid,
            _ => return None,
        },
        FusedOp::Binary(b) => match b {
            BinaryOp::Add => VecOp::Add,
            BinaryOp::Subtract => VecOp::Sub,
            BinaryOp::Multiply => VecOp::Mul,
            BinaryOp::Divide => VecOp::Div,
            BinaryOp::Maximum => VecOp::Max,
            BinaryOp::Minimum => VecOp::Min,
            BinaryOp::Equal => VecOp::EQUAL,
            BinaryOp::NotEqual => VecOp::NOT_EQUAL,
            BinaryOp::Less => VecOp::LESS,
            BinaryOp::LessEqual => VecOp::LESS_EQUAL,
            BinaryOp::Greater => VecOp::GREATER,
            BinaryOp::GreaterEqual => VecOp::GREATER_EQUAL,
            BinaryOp::LogicalAnd => VecOp::And,
            BinaryOp::LogicalOr => VecOp::Or,
            _ => return None,
        },
        FusedOp::Select => VecOp::Select,
        FusedOp::Cast if s.dtype == Dtype::Bool && program.steps[args[0]].dtype != Dtype::Bool => VecOp::NonZero,
        // Other casts into f32 or bool copy (widening is exact; bool to bool keeps 0/1).
        FusedOp::Cast => VecOp::Copy,
    })
}

/// The plan of `program` whose inputs `pinned` are broadcast scalars, from a process-wide
/// cache; `None` when generated code does not run here or no run of two or more steps
/// compiles.
pub fn plan(program: &FusedProgram, pinned: &[bool]) -> Option<Arc<Plan>> {
    if !jit::available() || program.compute != Dtype::F32 {
        return None;
    }
    type Cache = Mutex<HashMap<(FusedProgram, Vec<bool>), Option<Arc<Plan>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (program.clone(), pinned.to_vec());
    {
        let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(&key) {
            return p.clone();
        }
        if cache.len() >= MAX_PLANS {
            return None;
        }
    }
    let built = build(program, pinned).map(Arc::new);
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, built.clone());
    built
}

fn build(program: &FusedProgram, pinned: &[bool]) -> Option<Plan> {
    // A run stores the values that steps after it, outputs or folds read.
    let last_reader = program.last_readers();
    let streamable = streamable_outputs(program);
    let mut plan = Plan { actions: Vec::new(), segments: Vec::new(), streamed_outputs: Vec::new() };
    // The current run, and its segment as last fitted (kept so that ending the run does not
    // lower it again).
    let mut run: Vec<usize> = Vec::new();
    let mut fitted: Option<(Segment, Vec<Pointer>)> = None;
    for i in 0..program.steps.len() {
        if matches!(program.steps[i].step, Step::Op(..)) && lower(program, i).is_some() {
            run.push(i);
            match segment_of(program, pinned, &run, &last_reader) {
                Some(segment) => fitted = Some(segment),
                None => {
                    run.pop();
                    flush(&mut run, fitted.take(), &streamable, &mut plan);
                    run.push(i);
                    fitted = segment_of(program, pinned, &run, &last_reader);
                }
            }
        } else {
            // An input read or an interpreted operation ends the run.
            flush(&mut run, fitted.take(), &streamable, &mut plan);
            plan.actions.push(Action::Step(i));
        }
    }
    flush(&mut run, fitted, &streamable, &mut plan);
    (!plan.segments.is_empty()).then_some(plan)
}

/// Whether each step may be stored past the caches straight into its output: an f32 output
/// that no later step and no fold reads, which the fused kernel can write in place.
fn streamable_outputs(program: &FusedProgram) -> Vec<bool> {
    let mut streamable = vec![false; program.steps.len()];
    for &o in &program.outputs {
        streamable[o] = super::fused::writes_in_place(program, o, Dtype::F32);
    }
    for s in &program.steps {
        if let Step::Op(_, args) = &s.step {
            args.iter().for_each(|&a| streamable[a] = false);
        }
    }
    for fold in program.reduction.iter().flat_map(|r| &r.folds) {
        streamable[fold.step] = false;
    }
    streamable
}

/// Ends the current run: compiled as its fitted segment when it compiles and has two or more
/// steps or streams an output (a loop of one step that spreads its output's streaming stores
/// among its arithmetic beats the interpreter's pass and its copy of the chunk), else its
/// steps are interpreted.
fn flush(run: &mut Vec<usize>, fitted: Option<(Segment, Vec<Pointer>)>, streamable: &[bool], plan: &mut Plan) {
    let steps = std::mem::take(run);
    if let Some((segment, table)) = fitted {
        // (table slot, step) of the outputs this segment could stream.
        let streamed: Vec<(usize, usize)> = table
            .iter()
            .enumerate()
            .filter_map(|(slot, p)| match *p {
                Pointer::Target(i) if streamable[i] => Some((slot, i)),
                _ => None,
            })
            .collect();
        if steps.len() >= 2 || !streamed.is_empty() {
            if let Some(kernel) = jit::compile(&segment) {
                let slots = streamed.iter().map(|&(slot, _)| slot).collect();
                let streaming = (!streamed.is_empty()).then(|| jit::compile(&Segment { streamed: slots, ..segment })).flatten();
                if streaming.is_some() {
                    plan.streamed_outputs.extend(streamed.iter().map(|&(_, i)| i));
                }
                plan.actions.push(Action::Segment(plan.segments.len()));
                plan.segments.push(CompiledSegment { kernel, streaming, steps, table });
                return;
            }
        }
    }
    plan.actions.extend(steps.into_iter().map(Action::Step));
}

/// The segment computing `steps` and its pointer table, if it fits the registers.
fn segment_of(program: &FusedProgram, pinned: &[bool], steps: &[usize], last_reader: &[usize]) -> Option<(Segment, Vec<Pointer>)> {
    let mut table: Vec<Pointer> = Vec::new();
    let slot = |p: Pointer, table: &mut Vec<Pointer>| -> usize {
        let same = |q: &Pointer| match (q, p) {
            (Pointer::Value(a), Pointer::Value(b)) | (Pointer::Scalar(a), Pointer::Scalar(b)) => *a == b,
            _ => false,
        };
        table.iter().position(same).unwrap_or_else(|| {
            table.push(p);
            table.len() - 1
        })
    };
    let last = *steps.last()?;
    let mut ops = Vec::with_capacity(steps.len());
    for &i in steps {
        let Step::Op(_, args) = &program.steps[i].step else { return None };
        let args = args
            .iter()
            .map(|&a| match steps.iter().position(|&s| s == a) {
                Some(k) => Arg::Value(k),
                None if pinned[a] => Arg::Scalar(slot(Pointer::Scalar(a), &mut table)),
                None => Arg::Slot(slot(Pointer::Value(a), &mut table)),
            })
            .collect();
        ops.push(SegmentOp { op: lower(program, i)?, args });
    }
    let mut stores = Vec::new();
    for (k, &i) in steps.iter().enumerate() {
        if last_reader[i] > last {
            table.push(Pointer::Target(i));
            stores.push((k, table.len() - 1));
        }
    }
    let segment = Segment { ops, stores, streamed: Vec::new() };
    (table.len() <= MAX_POINTERS && jit::fits(&segment)).then_some((segment, table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::program::FusedStep;

    fn step(step: Step, dtype: Dtype) -> FusedStep {
        FusedStep { step, dtype }
    }

    /// `y = x·w + 0.5; e = tanh(y); out = (e + y) · 0.5`: inputs are read first, the run
    /// before tanh and the run after it are segments, tanh stays interpreted, and each
    /// segment stores only what is read outside it.
    #[test]
    fn runs_around_an_interpreted_step_become_segments() {
        if !jit::available() {
            return;
        }
        let (mul, add) = (FusedOp::Binary(BinaryOp::Multiply), FusedOp::Binary(BinaryOp::Add));
        let f32 = Dtype::F32;
        let program = FusedProgram {
            steps: vec![
                step(Step::Input(0), f32),
                step(Step::Input(1), f32),
                step(Step::Input(2), f32),
                step(Step::Op(mul, vec![0, 1]), f32),
                step(Step::Op(add, vec![3, 2]), f32),
                step(Step::Op(FusedOp::Unary(UnaryOp::Tanh), vec![4]), f32),
                step(Step::Op(add, vec![5, 4]), f32),
                step(Step::Op(mul, vec![6, 2]), f32),
            ],
            outputs: vec![7],
            reduction: None,
            compute: f32,
        };
        let pinned = [false, false, true, false, false, false, false, false];
        let plan = plan(&program, &pinned).expect("two segments");
        let actions: Vec<String> = plan.actions.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(actions, ["Step(0)", "Step(1)", "Step(2)", "Segment(0)", "Step(5)", "Segment(1)"]);
        let (first, second) = (&plan.segments[0], &plan.segments[1]);
        assert_eq!((first.steps.clone(), second.steps.clone()), (vec![3, 4], vec![6, 7]));
        // The first reads x, w and the scalar and writes y (tanh and the second run read it);
        // the second reads tanh's value, y and the scalar and writes the output.
        let show = |s: &CompiledSegment| format!("{:?}", s.table);
        assert_eq!(show(first), "[Value(0), Value(1), Scalar(2), Target(4)]");
        assert_eq!(show(second), "[Value(5), Value(4), Scalar(2), Target(7)]");
        // Only the second writes an output, which only the output reads: it can stream it.
        assert_eq!(plan.streamed_outputs, [7]);
        assert!(first.streaming.is_none() && second.streaming.is_some());
        // A lone step writing such an output is a segment too (the interpreter would copy its
        // chunk to the output in one burst); one writing an output that a later step reads,
        // or no output, is interpreted.
        let mut lone = program.clone();
        lone.steps.truncate(7);
        lone.steps[6].step = Step::Op(mul, vec![5, 2]);
        lone.outputs = vec![6];
        let actions = |p: &FusedProgram| -> Vec<String> {
            super::plan(p, &pinned[..p.steps.len()]).map_or(vec![], |plan| plan.actions.iter().map(|a| format!("{a:?}")).collect())
        };
        assert_eq!(actions(&lone)[4..], ["Step(5)", "Segment(1)"]);
        lone.steps.push(step(Step::Op(FusedOp::Unary(UnaryOp::Tanh), vec![6]), f32));
        lone.outputs = vec![6, 7];
        assert_eq!(actions(&lone)[4..], ["Step(5)", "Step(6)", "Step(7)"]);
        // An input read after some operations ends the run before it.
        let late_input = FusedProgram {
            steps: vec![
                step(Step::Input(0), f32),
                step(Step::Input(1), f32),
                step(Step::Op(mul, vec![0, 1]), f32),
                step(Step::Op(add, vec![2, 0]), f32),
                step(Step::Input(2), f32),
                step(Step::Op(mul, vec![3, 4]), f32),
                step(Step::Op(add, vec![5, 4]), f32),
            ],
            outputs: vec![6],
            reduction: None,
            compute: f32,
        };
        let late = super::plan(&late_input, &[false; 7]).expect("two segments");
        let actions: Vec<String> = late.actions.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(actions, ["Step(0)", "Step(1)", "Segment(0)", "Step(4)", "Segment(1)"]);
        // f16 steps round where the interpreter rounds: not lowered.
        let mut half = program.clone();
        half.steps[4].dtype = Dtype::F16;
        assert!(lower(&half, 4).is_none() && lower(&half, 3).is_some());
        // erf, exp and sigmoid are generated sequences.
        let mut transcendental = program.clone();
        for (u, want) in [(UnaryOp::Erf, VecOp::Erf), (UnaryOp::Exp, VecOp::Exp), (UnaryOp::Sigmoid, VecOp::Sigmoid)] {
            transcendental.steps[5].step = Step::Op(FusedOp::Unary(u), vec![4]);
            assert_eq!(lower(&transcendental, 5), Some(want));
        }
    }
}
