//! Restores the invariant that every entry of a trace comes after the entries it reads, once
//! fusion has put a fused entry where its last member stood (possibly after readers of its
//! other outputs).

use super::trace::{Entry, Ref, Trace};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The trace with its entries in an order where each comes after its operands, keeping the
/// given order wherever it already does (among entries ready to run, the earliest first).
pub(crate) fn topological_order(mut trace: Trace) -> Trace {
    let n = trace.entries.len();
    let mut waiting: Vec<usize> = vec![0; n];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut in_order = true;
    for (i, e) in trace.entries.iter().enumerate() {
        let mut operands: Vec<usize> = e.inputs.iter().filter_map(|r| r.entry()).collect();
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
    for r in trace.refs_mut() {
        if let Ref::Out { entry, .. } = r {
            *entry = new_index[*entry];
        }
    }
    let mut placed: Vec<(usize, Entry)> = trace.entries.drain(..).enumerate().map(|(i, e)| (new_index[i], e)).collect();
    placed.sort_unstable_by_key(|(at, _)| *at);
    trace.entries = placed.into_iter().map(|(_, e)| e).collect();
    trace
}
