//! Element-wise fusion: maximal groups of element-wise entries of one shape whose
//! intermediate values nobody outside the group reads become one [`Fused`] entry.
//!
//! A group grows from its last entry backwards through its operands; an operand entry joins
//! when it is element-wise, has the group's shape and compute type, and every reader of its
//! value is already in the group. So only the last entry's value leaves the group and the
//! rewritten trace stays acyclic.
//!
//! A reduction over the trailing or the leading axes of a float32/float64 element-wise value
//! (sum, prod, max, min) starts a group at that value and ends its kernel: one pass computes the chain
//! and reduces it. When others read the value too, the kernel writes it as well (two outputs),
//! which still saves the reduction's read of it. The fused entry takes the reduced value's
//! place, so every reader of either output comes after it.

use super::program::{FusedOp, FusedProgram, FusedStep, Reduction, Step};
use super::simplify::drop_unused;
use super::trace::{Entry, Ref, Trace};
use crate::dtype::Dtype;
use crate::primitive::binary::BinaryOp;
use crate::primitive::fused::Fused;
use crate::primitive::reduce::ReduceOp;
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

/// A reduction a fused kernel can end with, as `(op, entry reduced, (axes, leading), compute
/// type)`: sum/prod/max/min over the trailing or the leading axes of the value of a fusible
/// float32/float64 entry, in that dtype.
fn absorbable_reduction(
    trace: &Trace,
    entry: &Entry,
    info: &[Option<(FusedOp, Option<Dtype>)>],
) -> Option<(ReduceOp, usize, (usize, bool), Dtype)> {
    let (op, axes) = entry.primitive.reduction()?;
    if !matches!(op, ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min) {
        return None;
    }
    let Ref::Out { entry: source, index: 0 } = entry.inputs[0] else { return None };
    let (_, Some(compute)) = info[source]? else { return None };
    let (shape, dtype) = &trace.entries[source].outputs[0];
    let nd = shape.len();
    let count = axes.len();
    let is_trailing = count >= 1 && axes.iter().copied().eq(nd - count..nd);
    let is_leading = count >= 1 && axes.iter().copied().eq(0..count);
    let fits = (is_trailing || is_leading) && *dtype == compute && entry.outputs[0].1 == compute;
    fits.then_some((op, source, (count, !is_trailing), compute))
}

/// A group of entries to fuse: members in trace order (the root, whose value the kernel
/// computes, last) and the reduction entry it absorbs, with whether the root's value is
/// read elsewhere too.
struct Group {
    members: Vec<usize>,
    reduction: Option<(usize, ReduceOp, (usize, bool))>,
    exported: bool,
}

/// Replaces every fusible group of at least two entries, and every chain that ends in an
/// absorbable reduction, with one fused entry.
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
    let mut groups: Vec<Group> = Vec::new();
    for last in (0..n).rev() {
        // A reduction claims the entry it reduces (visited later: it comes earlier).
        let (root, compute, reduction) = match absorbable_reduction(&trace, &trace.entries[last], &info) {
            Some((op, source, axes, compute)) => (source, compute, Some((last, op, axes))),
            None => match info[last] {
                Some((_, Some(compute))) => (last, compute, None),
                _ => continue,
            },
        };
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
        if members.len() >= 2 || reduction.is_some() {
            for &m in &members {
                group_of[m] = Some(groups.len());
            }
            let exported = reduction.is_some_and(|(e, ..)| readers[root].iter().any(|&r| r != e));
            groups.push(Group { members: members.into_iter().collect(), reduction, exported });
        }
    }
    if groups.is_empty() {
        return trace;
    }
    let mut trace = trace;
    for group in &groups {
        let root = *group.members.last().expect("groups are not empty");
        let compute = info[root].and_then(|(_, c)| c).expect("roots have a compute type");
        let (inputs, program) = build_program(&trace, group, &info, compute);
        let primitive = Arc::new(Fused(Arc::new(program)));
        let mut outputs = trace.entries[root].outputs.clone();
        if let Some((reduce, ..)) = group.reduction {
            // The reduced value is now this entry's last output.
            let reduced = trace.entries[reduce].outputs[0].clone();
            if !group.exported {
                outputs.clear();
            }
            outputs.push(reduced);
            let moved = Ref::Out { entry: root, index: outputs.len() - 1 };
            let was = Ref::Out { entry: reduce, index: 0 };
            for r in trace.entries.iter_mut().flat_map(|e| e.inputs.iter_mut()).chain(trace.outputs.iter_mut()) {
                if *r == was {
                    *r = moved;
                }
            }
        }
        trace.entries[root] = Entry { primitive, inputs, outputs };
    }
    // The absorbed entries are now read by nobody.
    drop_unused(trace)
}

/// The program of a group and the values it reads.
fn build_program(trace: &Trace, group: &Group, info: &[Option<(FusedOp, Option<Dtype>)>], compute: Dtype) -> (Vec<Ref>, FusedProgram) {
    let members = &group.members;
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
    let last = steps.len() - 1;
    let reduction = group.reduction.map(|(_, op, (axes, leading))| Reduction { op, step: last, axes, leading });
    let outputs = if reduction.is_none() || group.exported { vec![last] } else { Vec::new() };
    (inputs, FusedProgram { steps, outputs, reduction, compute })
}
