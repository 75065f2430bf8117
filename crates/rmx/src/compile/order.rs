//! Restores the invariant that every entry of a trace comes after the entries it reads, once
//! fusion has put a fused entry where its last member stood (possibly after readers of its
//! other outputs).

use super::trace::{Entry, Ref, Trace};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The trace with its entries in an order where each comes after its operands, keeping the
/// given order wherever it already does (among entries ready to run, the earliest first).
pub(crate) fn topological_order(trace: Trace) -> Trace {
    let n = trace.entries.len();
    let mut waiting: Vec<usize> = vec![0; n];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut in_order = true;
    for (i, e) in trace.entries.iter().enumerate() {
        let mut operands: Vec<usize> =
            e.inputs.iter().filter_map(|r| if let Ref::Out { entry, .. } = r { Some(*entry) } else { None }).collect();
        operands.sort_unstable();
        operands.dedup();
        for p in operands {
            in_order &= p < i;
            waiting[i] += 1;
            readers[p].push(i);
        }
    }
    if in_order {
        return trace;
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
    let mut new_index = vec![usize::MAX; n];
    let mut placed = 0;
    while let Some(Reverse(i)) = ready.pop() {
        new_index[i] = placed;
        placed += 1;
        for &r in &readers[i] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push(Reverse(r));
            }
        }
    }
    assert_eq!(placed, n, "fusion left a cycle in the trace");
    let Trace { inputs, consts, entries, mut outputs } = trace;
    let renumber = |r: &mut Ref| {
        if let Ref::Out { entry, .. } = r {
            *entry = new_index[*entry];
        }
    };
    let mut placed_entries: Vec<(usize, Entry)> = entries.into_iter().enumerate().map(|(i, e)| (new_index[i], e)).collect();
    placed_entries.sort_unstable_by_key(|(at, _)| *at);
    let mut sorted: Vec<Entry> = placed_entries.into_iter().map(|(_, e)| e).collect();
    for e in &mut sorted {
        e.inputs.iter_mut().for_each(renumber);
    }
    outputs.iter_mut().for_each(renumber);
    Trace { inputs, consts, entries: sorted, outputs }
}
