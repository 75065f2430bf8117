//! Element-wise fusion: groups of element-wise entries of one shape become one [`Fused`]
//! entry, a kernel that computes them all in one pass.
//!
//! A group grows from a root entry (visited from the end of the trace) through its operands.
//! An operand entry joins when it is element-wise with the group's shape and compute type,
//! together with the other element-wise readers of its value that can join (siblings:
//! `exp(x)` read by both `2·e` and `e + 1`), or alone; the root's own element-wise readers
//! join the same way. Readers outside the group then read a member's value as an extra
//! output of the kernel (which writes it once, as the unfused graph did). An entry joins only
//! if the trace stays acyclic with the group as one entry — no path may leave the group and
//! come back, as through a matmul of one member that another member reads — counting groups
//! already formed as single entries too. Afterwards the trace is put back in dependency order
//! ([`topological_order`]): a fused entry stands where its last member stood.
//!
//! A reduction over the trailing or the leading axes of a float32/float64 element-wise value
//! (sum, prod, max, min) starts a group at that value and ends its kernel: one pass computes the chain
//! and reduces it. When others read the value too, the kernel writes it as well, which still
//! saves the reduction's read of it. A reduction of a value some group already computes
//! joins that group's kernel when it reduces the same axes (the sums over the batch of a
//! layer's weight and bias gradients: one pass, no full-size intermediate).

use super::order::topological_order;
use super::program::{Fold, FusedOp, FusedProgram, FusedStep, Reduction, Step, MAX_FOLDS};
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

/// Entry `index` as a reduction a fused kernel can end with, and the compute type:
/// sum/prod/max/min over the trailing or the leading axes of the value of a fusible
/// float32/float64 entry, in that dtype.
fn absorbable_reduction(trace: &Trace, index: usize, info: &[Option<(FusedOp, Option<Dtype>)>]) -> Option<(Absorbed, Dtype)> {
    let entry = &trace.entries[index];
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
    fits.then_some((Absorbed { entry: index, op, source, axes: (count, !is_trailing) }, compute))
}

/// A group of entries to fuse: members in trace order (the fused entry takes the last one's
/// place) and the reductions it absorbs.
struct Group {
    members: Vec<usize>,
    /// Absorbed reductions, all over the same axes.
    folds: Vec<Absorbed>,
    compute: Dtype,
}

/// A reduction entry a group absorbs: its `op` over `axes` (`(count, leading)`) of member
/// `source`'s value.
#[derive(Clone, Copy)]
struct Absorbed {
    entry: usize,
    op: ReduceOp,
    source: usize,
    axes: (usize, bool),
}

impl Group {
    /// The trace entries the fused entry replaces: the members and the absorbed reductions.
    fn entries(&self) -> impl Iterator<Item = usize> + '_ {
        self.members.iter().copied().chain(self.folds.iter().map(|f| f.entry))
    }

    /// Whether the group can absorb a reduction over `axes` in `compute` too.
    fn takes_fold(&self, axes: (usize, bool), compute: Dtype) -> bool {
        self.compute == compute && self.folds.first().is_none_or(|f| f.axes == axes) && self.folds.len() < MAX_FOLDS
    }
}

/// `p` and the readers of its value, transitively, that could join the group `members`
/// (`joins`): the chain's siblings.
fn with_joinable_readers(
    p: usize,
    members: &BTreeSet<usize>,
    readers: &[BTreeSet<usize>],
    joins: &impl Fn(usize) -> bool,
) -> BTreeSet<usize> {
    let (mut found, mut todo) = (BTreeSet::from([p]), vec![p]);
    while let Some(e) = todo.pop() {
        for &r in &readers[e] {
            if r < readers.len() && !members.contains(&r) && joins(r) && found.insert(r) {
                todo.push(r);
            }
        }
    }
    found
}

/// Whether fusing `entries` into one entry keeps the trace acyclic: no path leaves them and
/// comes back, counting each group already formed as the one entry it becomes.
fn stays_acyclic(entries: &BTreeSet<usize>, readers: &[BTreeSet<usize>], group_of: &[Option<usize>], groups: &[Group]) -> bool {
    let n = readers.len();
    let outside = |e: &usize| *e < n && !entries.contains(e);
    let mut todo: Vec<usize> = entries.iter().flat_map(|&m| readers[m].iter().copied()).filter(outside).collect();
    let mut seen = vec![false; n];
    while let Some(e) = todo.pop() {
        if entries.contains(&e) {
            return false;
        }
        if std::mem::replace(&mut seen[e], true) {
            continue;
        }
        let whole = group_of[e].map_or_else(|| vec![e], |g| groups[g].entries().collect());
        for m in whole {
            seen[m] = true;
            todo.extend(readers[m].iter().copied().filter(|&r| r < n));
        }
    }
    true
}

/// Whether `members` and the reductions `folds` that end their kernel can be one entry: no
/// member reads a reduced value (known only once the kernel has read everything) and the
/// trace stays acyclic.
fn can_fuse(members: &BTreeSet<usize>, folds: &[usize], readers: &[BTreeSet<usize>], group_of: &[Option<usize>], groups: &[Group]) -> bool {
    let reads_fold = folds.iter().any(|&f| readers[f].iter().any(|r| members.contains(r)));
    let entries: BTreeSet<usize> = members.iter().chain(folds).copied().collect();
    !reads_fold && stays_acyclic(&entries, readers, group_of, groups)
}

/// Replaces every fusible group of at least two entries, and every chain that ends in an
/// absorbable reduction, with one fused entry.
pub(crate) fn fuse(trace: Trace) -> Trace {
    let n = trace.entries.len();
    let info: Vec<Option<(FusedOp, Option<Dtype>)>> = trace.entries.iter().map(|e| fusible(&trace, e)).collect();
    // Readers of each single-output entry's value: entry indices, plus `n` for a trace output.
    let mut readers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, e) in trace.entries.iter().enumerate() {
        for entry in e.inputs.iter().filter_map(|r| r.entry()) {
            readers[entry].insert(i);
        }
    }
    for entry in trace.outputs.iter().filter_map(|r| r.entry()) {
        readers[entry].insert(n);
    }
    let mut group_of: Vec<Option<usize>> = vec![None; n];
    let mut groups: Vec<Group> = Vec::new();
    for last in (0..n).rev() {
        let absorbable = absorbable_reduction(&trace, last, &info);
        // A reduction of a value already in a group joins that group's kernel (one more fold
        // of the chunks it computes) if the trace stays acyclic.
        if let Some((fold, compute)) = absorbable {
            if let Some(g) = group_of[fold.source] {
                if groups[g].takes_fold(fold.axes, compute) {
                    let members: BTreeSet<usize> = groups[g].members.iter().copied().collect();
                    let folds: Vec<usize> = groups[g].folds.iter().map(|f| f.entry).chain([last]).collect();
                    if can_fuse(&members, &folds, &readers, &group_of, &groups) {
                        group_of[last] = Some(g);
                        groups[g].folds.push(fold);
                    }
                }
                continue;
            }
        }
        // A reduction claims the entry it reduces (visited later: it comes earlier).
        let (root, compute, reduction) = match absorbable {
            Some((fold, compute)) => (fold.source, compute, Some(fold)),
            None => match info[last] {
                Some((_, Some(compute))) => (last, compute, None),
                _ => continue,
            },
        };
        if group_of[root].is_some() {
            continue;
        }
        let shape = &trace.entries[root].outputs[0].0;
        let joins = |p: usize| {
            group_of[p].is_none() && info[p].is_some_and(|(_, c)| c.is_none_or(|c| c == compute)) && &trace.entries[p].outputs[0].0 == shape
        };
        // The group grows through its members' operands; an operand joins with the readers
        // of its value that could join too (siblings of the chain), or alone, whichever keeps
        // the trace acyclic. Its other readers then read it as an extra output.
        let absorbed: Vec<usize> = reduction.map(|f| f.entry).into_iter().collect();
        let fits = |joining: &BTreeSet<usize>, members: &BTreeSet<usize>| {
            let trial: BTreeSet<usize> = members.iter().chain(joining).copied().collect();
            can_fuse(&trial, &absorbed, &readers, &group_of, &groups)
        };
        // Element-wise readers of the root join it where they can (a reduction's root may be
        // read by later entries of the chain too).
        let with_readers = with_joinable_readers(root, &BTreeSet::new(), &readers, &joins);
        let mut members = if fits(&with_readers, &BTreeSet::new()) { with_readers } else { BTreeSet::from([root]) };
        let mut refused: BTreeSet<usize> = BTreeSet::new();
        loop {
            let operands: BTreeSet<usize> = members
                .iter()
                .flat_map(|&m| trace.entries[m].inputs.iter())
                .filter_map(|r| r.entry())
                .filter(|p| !members.contains(p) && !refused.contains(p) && joins(*p))
                .collect();
            if operands.is_empty() {
                break;
            }
            for p in operands {
                let siblings = with_joinable_readers(p, &members, &readers, &joins);
                let alone = BTreeSet::from([p]);
                let accepted = [siblings, alone].into_iter().find(|joining| fits(joining, &members));
                match accepted {
                    Some(joining) => members.extend(joining),
                    None => {
                        refused.insert(p);
                    }
                }
            }
        }
        if members.len() >= 2 || reduction.is_some() {
            for &m in members.iter().chain(&absorbed) {
                group_of[m] = Some(groups.len());
            }
            groups.push(Group { members: members.into_iter().collect(), folds: reduction.into_iter().collect(), compute });
        }
    }
    if groups.is_empty() {
        return trace;
    }
    let mut trace = trace;
    for group in &groups {
        let place = *group.members.last().expect("groups are not empty");
        // Full-size outputs: the members read outside the group (the last one first, so its
        // readers need no change), then one reduced value per fold.
        let inside: BTreeSet<usize> = group.entries().collect();
        let exports: Vec<usize> = group.members.iter().rev().copied().filter(|&m| readers[m].iter().any(|r| !inside.contains(r))).collect();
        let (inputs, program) = build_program(&trace, group, &exports, &info);
        let primitive = Arc::new(Fused(Arc::new(program)));
        let mut outputs = Vec::new();
        let mut moves: Vec<(Ref, Ref)> = Vec::new();
        for source in exports.iter().copied().chain(group.folds.iter().map(|f| f.entry)) {
            outputs.push(trace.entries[source].outputs[0].clone());
            moves.push((Ref::Out { entry: source, index: 0 }, Ref::Out { entry: place, index: outputs.len() - 1 }));
        }
        for r in trace.refs_mut() {
            if let Some((_, to)) = moves.iter().find(|(from, _)| from == r) {
                *r = *to;
            }
        }
        trace.entries[place] = Entry { primitive, inputs, outputs };
    }
    // The absorbed entries are now read by nobody; a fused entry stands where its last member stood,
    // which may be after some readers of its extra outputs.
    topological_order(drop_unused(trace))
}

/// The program of a group whose members `exports` are full-size outputs, and the values it
/// reads.
fn build_program(trace: &Trace, group: &Group, exports: &[usize], info: &[Option<(FusedOp, Option<Dtype>)>]) -> (Vec<Ref>, FusedProgram) {
    let members = &group.members;
    let mut inputs: Vec<Ref> = Vec::new();
    let mut steps: Vec<FusedStep> = Vec::new();
    let mut step_of: HashMap<Ref, usize> = HashMap::new();
    for &m in members {
        for &r in &trace.entries[m].inputs {
            let internal = r.entry().is_some_and(|entry| members.contains(&entry));
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
    let step = |m: usize| step_of[&Ref::Out { entry: m, index: 0 }];
    let reduction = group.folds.first().map(|first| Reduction {
        folds: group.folds.iter().map(|f| Fold { op: f.op, step: step(f.source) }).collect(),
        axes: first.axes.0,
        leading: first.axes.1,
    });
    let outputs = exports.iter().map(|&m| step(m)).collect();
    (inputs, FusedProgram { steps, outputs, reduction, compute: group.compute })
}
