//! Trace simplification before fusion: equal scalar constants merged, no-op nodes removed
//! (identity, and reshape/broadcast/astype that change nothing), common subexpressions
//! computed once, and entries no output needs dropped.

use super::trace::{Entry, Ref, Trace};
use std::collections::HashMap;

/// What makes two entries compute the same values: primitive parameters, inputs, outputs.
type CseKey = (String, Vec<Ref>, Vec<(Vec<usize>, crate::Dtype)>);

/// Primitives that are the identity when their output has the input's shape and dtype.
const NO_OP_WHEN_SAME_SPEC: [&str; 4] = ["identity", "reshape", "broadcast", "astype"];

/// Largest constant (in bytes) compared by value when merging constants.
const MERGE_CONST_BYTES: usize = 64;

/// Returns the simplified trace.
pub(crate) fn simplify(trace: Trace) -> Trace {
    let trace = merge_constants(trace);
    let trace = fold_entries(trace);
    drop_unused(trace)
}

/// Small evaluated constants with equal dtype, shape and bytes become one.
fn merge_constants(mut trace: Trace) -> Trace {
    let mut first: HashMap<(Vec<u8>, Vec<usize>, crate::Dtype), usize> = HashMap::new();
    let mut alias: Vec<usize> = Vec::with_capacity(trace.consts.len());
    for (i, c) in trace.consts.iter().enumerate() {
        let small = c.is_evaluated() && c.nbytes() <= MERGE_CONST_BYTES;
        let target = match small.then(|| c.to_bytes().ok()).flatten() {
            Some(bytes) => *first.entry((bytes, c.shape().to_vec(), c.dtype())).or_insert(i),
            None => i,
        };
        alias.push(target);
    }
    for r in trace.refs_mut() {
        if let Ref::Const(i) = r {
            *i = alias[*i];
        }
    }
    trace
}

/// One forward pass: rewrites inputs through earlier decisions, drops no-ops and merges
/// entries equal to an earlier one.
fn fold_entries(trace: Trace) -> Trace {
    let Trace { inputs, consts, entries, outputs } = trace;
    let mut out = Trace { inputs, consts, entries: Vec::with_capacity(entries.len()), outputs: Vec::new() };
    let mut alias: HashMap<(usize, usize), Ref> = HashMap::new();
    let mut seen: HashMap<CseKey, usize> = HashMap::new();
    let rewrite = |alias: &HashMap<(usize, usize), Ref>, r: Ref| match r {
        Ref::Out { entry, index } => alias[&(entry, index)],
        other => other,
    };
    for (old, entry) in entries.into_iter().enumerate() {
        let inputs: Vec<Ref> = entry.inputs.iter().map(|&r| rewrite(&alias, r)).collect();
        if inputs.len() == 1 && entry.outputs.len() == 1 && NO_OP_WHEN_SAME_SPEC.contains(&entry.primitive.name()) {
            let (shape, dtype) = out.spec(inputs[0]);
            if shape == entry.outputs[0].0.as_slice() && dtype == entry.outputs[0].1 {
                alias.insert((old, 0), inputs[0]);
                continue;
            }
        }
        let key = entry.primitive.cse_key().map(|k| (k, inputs.clone(), entry.outputs.clone()));
        if let Some(&earlier) = key.as_ref().and_then(|k| seen.get(k)) {
            for index in 0..entry.outputs.len() {
                alias.insert((old, index), Ref::Out { entry: earlier, index });
            }
            continue;
        }
        let new = out.entries.len();
        if let Some(k) = key {
            seen.insert(k, new);
        }
        for index in 0..entry.outputs.len() {
            alias.insert((old, index), Ref::Out { entry: new, index });
        }
        out.entries.push(Entry { inputs, ..entry });
    }
    out.outputs = outputs.iter().map(|&r| rewrite(&alias, r)).collect();
    out
}

/// Removes entries that no output depends on, and constants nothing uses.
pub(crate) fn drop_unused(trace: Trace) -> Trace {
    let Trace { inputs, consts, entries, mut outputs } = trace;
    let mut live = vec![false; entries.len()];
    let mark = |live: &mut Vec<bool>, r: &Ref| {
        if let Some(entry) = r.entry() {
            live[entry] = true;
        }
    };
    outputs.iter().for_each(|r| mark(&mut live, r));
    for i in (0..entries.len()).rev() {
        if live[i] {
            for r in &entries[i].inputs {
                mark(&mut live, r);
            }
        }
    }
    // Constants read by a live entry or an output survive.
    let mut const_used = vec![false; consts.len()];
    let live_refs = entries.iter().zip(&live).filter(|(_, &l)| l).flat_map(|(e, _)| e.inputs.iter());
    for r in live_refs.chain(&outputs) {
        if let Ref::Const(i) = r {
            const_used[*i] = true;
        }
    }
    let (mut kept, new_index) = keep(entries, &live);
    let (kept_consts, const_index) = keep(consts, &const_used);
    let renumber = |r: &mut Ref| match r {
        Ref::Out { entry, .. } => *entry = new_index[*entry],
        Ref::Const(i) => *i = const_index[*i],
        Ref::Input(_) => {}
    };
    for e in &mut kept {
        e.inputs.iter_mut().for_each(renumber);
    }
    outputs.iter_mut().for_each(renumber);
    Trace { inputs, consts: kept_consts, entries: kept, outputs }
}

/// The items whose flag is set, and each item's new index (`usize::MAX` if dropped).
fn keep<T>(items: Vec<T>, flags: &[bool]) -> (Vec<T>, Vec<usize>) {
    let mut index = vec![usize::MAX; items.len()];
    let mut kept = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if flags[i] {
            index[i] = kept.len();
            kept.push(item);
        }
    }
    (kept, index)
}
