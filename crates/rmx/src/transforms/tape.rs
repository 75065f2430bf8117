//! The graph walk the transforms share: which nodes between some leaves and the outputs
//! depend on a leaf, in an order where inputs come first.

use crate::address_hash::AddressSet;
use crate::array::{Array, Node};
use crate::primitive::Primitive;
use std::sync::Arc;

/// Identity of a node (equal for clones of one handle).
pub(crate) type NodeKey = *const Node;

pub(crate) fn key(a: &Array) -> NodeKey {
    Arc::as_ptr(&a.node)
}

/// Nodes reachable from `outputs` that depend on one of `leaves`, inputs first, and the set
/// of nodes (leaves included) that depend on a leaf. The walk does not enter the leaves, and
/// a node whose primitive `blocks` does not pass dependence on.
pub(crate) fn tape(
    outputs: &[Array],
    leaves: &AddressSet<NodeKey>,
    blocks: impl Fn(&dyn Primitive) -> bool,
) -> (Vec<Array>, AddressSet<NodeKey>) {
    let mut depends = leaves.clone();
    let mut visited = AddressSet::default();
    let mut order = Vec::new();
    let mut stack: Vec<(Array, bool)> = outputs.iter().map(|a| (a.clone(), false)).collect();
    while let Some((array, expanded)) = stack.pop() {
        let k = key(&array);
        let Some((primitive, inputs)) = array.graph() else { continue };
        if expanded {
            if !blocks(primitive.as_ref()) && inputs.iter().any(|i| depends.contains(&key(i))) {
                depends.insert(k);
                order.push(array);
            }
            continue;
        }
        if leaves.contains(&k) || !visited.insert(k) {
            continue;
        }
        stack.push((array, true));
        for input in inputs {
            if !visited.contains(&key(&input)) {
                stack.push((input, false));
            }
        }
    }
    (order, depends)
}
