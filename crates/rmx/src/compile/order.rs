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
    let operands = |e: &Entry| -> Vec<usize> {
        let mut v: Vec<usize> = e.inputs.iter().filter_map(|r| if let Ref::Out { entry, .. } = r { Some(*entry) } else { None }).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut waiting: Vec<usize> = vec![0; n];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in trace.entries.iter().enumerate() {
        for p in operands(e) {
            waiting[i] += 1;
            readers[p].push(i);
        }
    }
    if trace.entries.iter().enumerate().all(|(i, e)| operands(e).iter().all(|&p| p < i)) {
        return trace;
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
    let mut new_index = vec![usize::MAX; n];
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        new_index[i] = order.len();
        order.push(i);
        for &r in &readers[i] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push(Reverse(r));
            }
        }
    }
    assert_eq!(order.len(), n, "fusion left a cycle in the trace");
    let Trace { inputs, consts, entries, mut outputs } = trace;
    let mut slots: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
    let renumber = |r: &mut Ref| {
        if let Ref::Out { entry, .. } = r {
            *entry = new_index[*entry];
        }
    };
    let mut sorted: Vec<Entry> = order.iter().map(|&i| slots[i].take().expect("each entry once")).collect();
    for e in &mut sorted {
        e.inputs.iter_mut().for_each(renumber);
    }
    outputs.iter_mut().for_each(renumber);
    Trace { inputs, consts, entries: sorted, outputs }
}
