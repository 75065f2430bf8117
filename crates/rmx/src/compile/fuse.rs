//! Element-wise fusion: maximal groups of element-wise entries of one shape whose
//! intermediate values nobody outside the group reads become one [`Fused`] entry.
//!
//! A group grows from its last entry backwards through its operands; an operand entry joins
//! when it is element-wise, has the group's shape and compute type, and every reader of its
//! value is already in the group. So only the last entry's value leaves the group and the
//! rewritten trace stays acyclic.

use super::program::{FusedOp, FusedProgram, FusedStep, Step};
use super::simplify::drop_unused;
use super::trace::{Entry, Ref, Trace};
use crate::dtype::Dtype;
use crate::primitive::binary::BinaryOp;
use crate::primitive::fused::Fused;
use crate::primitive::unary::UnaryOp;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The register type a fused kernel computes `dtype` values in, if it can hold them.
fn lane(dtype: Dtype) -> Option<Dtype> {
    match dtype {
        Dtype::F32 | Dtype::F16 | Dtype::BF16 => Some(Dtype::F32),
        Dtype::F64 => Some(Dtype::F64),
        _ => None,
    }
}

/// The fused operation of `entry` and the compute type of its float values (`None` when all
/// its values are bool, which any compute type holds), when the fused kernels implement it
/// exactly as the unfused kernel does.
fn fusible(trace: &Trace, entry: &Entry) -> Option<(FusedOp, Option<Dtype>)> {
    let op = entry.primitive.fusion()?;
    if entry.outputs.len() != 1 {
        return None;
    }
    let out = entry.outputs[0].1;
    let ins: Vec<Dtype> = entry.inputs.iter().map(|&r| trace.spec(r).1).collect();
    let floats: Vec<Dtype> = ins.iter().chain([&out]).copied().filter(|&d| d != Dtype::Bool).collect();
    let compute = match floats.first() {
        Some(&d) => Some(lane(d)?),
        None => None,
    };
    if floats.iter().any(|&d| lane(d) != compute) {
        return None;
    }
    let is_float = |d: Dtype| d != Dtype::Bool;
    let supported = match op {
        FusedOp::Unary(u) => match u {
            UnaryOp::LogicalNot => ins[0] == Dtype::Bool,
            UnaryOp::BitwiseInvert | UnaryOp::Conj | UnaryOp::Real | UnaryOp::Imag => false,
            _ => is_float(ins[0]),
        },
        FusedOp::Binary(b) => match b {
            BinaryOp::LogicalAnd | BinaryOp::LogicalOr => true,
            BinaryOp::BitwiseAnd | BinaryOp::BitwiseOr | BinaryOp::BitwiseXor | BinaryOp::LeftShift | BinaryOp::RightShift => false,
            _ => ins.iter().all(|&d| is_float(d)),
        },
        FusedOp::Select => ins[0] == Dtype::Bool && is_float(ins[1]) && is_float(ins[2]),
        FusedOp::Cast => true,
    };
    supported.then_some((op, compute))
}

/// Replaces every fusible group of at least two entries with one fused entry.
pub(crate) fn fuse(trace: Trace) -> Trace {
    let n = trace.entries.len();
    let info: Vec<Option<(FusedOp, Option<Dtype>)>> = trace.entries.iter().map(|e| fusible(&trace, e)).collect();
    // Readers of each single-output entry's value: entry indices, plus `n` for a trace output.
    let mut readers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, e) in trace.entries.iter().enumerate() {
        for r in &e.inputs {
            if let Ref::Out { entry, .. } = r {
                readers[*entry].insert(i);
            }
        }
    }
    for r in &trace.outputs {
        if let Ref::Out { entry, .. } = r {
            readers[*entry].insert(n);
        }
    }
    let mut group_of: Vec<Option<usize>> = vec![None; n];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for root in (0..n).rev() {
        let Some((_, Some(compute))) = info[root] else { continue };
        if group_of[root].is_some() {
            continue;
        }
        let shape = &trace.entries[root].outputs[0].0;
        let mut members: BTreeSet<usize> = BTreeSet::from([root]);
        loop {
            let candidates: Vec<usize> = members
                .iter()
                .flat_map(|&m| trace.entries[m].inputs.iter())
                .filter_map(|r| if let Ref::Out { entry, .. } = r { Some(*entry) } else { None })
                .filter(|p| !members.contains(p) && group_of[*p].is_none())
                .filter(|&p| info[p].is_some_and(|(_, c)| c.is_none_or(|c| c == compute)) && &trace.entries[p].outputs[0].0 == shape)
                .filter(|&p| readers[p].iter().all(|r| members.contains(r)))
                .collect();
            if candidates.is_empty() {
                break;
            }
            members.extend(candidates);
        }
        if members.len() >= 2 {
            for &m in &members {
                group_of[m] = Some(groups.len());
            }
            groups.push(members.into_iter().collect());
        }
    }
    if groups.is_empty() {
        return trace;
    }
    let mut trace = trace;
    for members in &groups {
        let root = *members.last().expect("groups are not empty");
        let compute = info[root].and_then(|(_, c)| c).expect("roots have a compute type");
        let (inputs, program) = build_program(&trace, members, &info, compute);
        let primitive = Arc::new(Fused(Arc::new(program)));
        let outputs = trace.entries[root].outputs.clone();
        trace.entries[root] = Entry { primitive, inputs, outputs };
    }
    // The absorbed entries are now read by nobody.
    drop_unused(trace)
}

/// The program of a group (members in trace order, the root last) and the values it reads.
fn build_program(trace: &Trace, members: &[usize], info: &[Option<(FusedOp, Option<Dtype>)>], compute: Dtype) -> (Vec<Ref>, FusedProgram) {
    let mut inputs: Vec<Ref> = Vec::new();
    let mut steps: Vec<FusedStep> = Vec::new();
    let mut step_of: HashMap<Ref, usize> = HashMap::new();
    for &m in members {
        for &r in &trace.entries[m].inputs {
            let internal = matches!(r, Ref::Out { entry, .. } if members.contains(&entry));
            if !internal && !step_of.contains_key(&r) {
                step_of.insert(r, steps.len());
                steps.push(FusedStep { step: Step::Input(inputs.len()), dtype: trace.spec(r).1 });
                inputs.push(r);
            }
        }
    }
    for &m in members {
        let (op, _) = info[m].expect("members are fusible");
        let args = trace.entries[m].inputs.iter().map(|r| step_of[r]).collect();
        step_of.insert(Ref::Out { entry: m, index: 0 }, steps.len());
        steps.push(FusedStep { step: Step::Op(op, args), dtype: trace.entries[m].outputs[0].1 });
    }
    let outputs = vec![steps.len() - 1];
    (inputs, FusedProgram { steps, outputs, compute })
}
