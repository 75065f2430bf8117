//! Vectorising map: `vmap`.
//!
//! The function is traced once on placeholders of the unbatched inputs (the mapped axis
//! removed). The trace is then replayed on the real, batched inputs: each primitive's
//! batching rule turns the node into batched nodes. A primitive without a rule is replayed
//! once per batch entry and the results stacked, which is correct for every primitive and
//! only slower.

use super::tape::{key, tape, NodeKey};
use crate::address_hash::{AddressMap, AddressSet};
use crate::array::{placeholder, Array};
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use std::sync::Arc;

use crate::primitive::Batched;

/// Replays one node per batch entry and stacks the results along axis 0.
fn by_loop(node: &Array, inputs: &[Batched], size: usize) -> Result<(Vec<Array>, Vec<Option<usize>>)> {
    let (primitive, _) = node.graph().ok_or_else(|| Error::Eval("vmap: node lost its graph".into()))?;
    let specs: Vec<(Vec<usize>, Dtype)> = node.sibling_specs();
    let mut per_output: Vec<Vec<Array>> = vec![Vec::with_capacity(size); specs.len()];
    for b in 0..size {
        let args: Vec<Array> = inputs
            .iter()
            .map(|(x, axis)| match axis {
                Some(a) => crate::take(x, &Array::scalar(b as u32), Some(*a as isize)),
                None => Ok(x.clone()),
            })
            .collect::<Result<_>>()?;
        let results = Array::multi_from_primitive(specs.clone(), Arc::clone(&primitive), args);
        for (slot, r) in per_output.iter_mut().zip(results) {
            slot.push(r);
        }
    }
    let stacked = per_output.iter().map(|parts| crate::stack(parts, 0)).collect::<Result<Vec<_>>>()?;
    let axes = vec![Some(0); stacked.len()];
    Ok((stacked, axes))
}

/// Maps `f` over axis `in_axes[i]` of each input (`None`: passed whole to every call) and
/// stacks the results along `out_axes[j]` of each output (`None` is allowed only for outputs
/// that do not depend on a mapped input). Composes with `grad`, `vjp` and `jvp` both ways.
///
/// ```
/// use rmx::Array;
/// let x = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
/// let w = Array::from_slice(&[1.0f32, 10.0, 100.0], &[3])?;
/// // Row-wise dot products, written for one row.
/// let f = rmx::vmap(|a| Ok(vec![rmx::sum(&rmx::multiply(&a[0], &a[1])?, rmx::Axes::All, false)?]), &[Some(0), None], &[Some(0)]);
/// assert_eq!(f(&[x, w])?[0].to_vec::<f32>()?, vec![321.0, 654.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn vmap<F>(f: F, in_axes: &[Option<usize>], out_axes: &[Option<usize>]) -> impl Fn(&[Array]) -> Result<Vec<Array>>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let (in_axes, out_axes) = (in_axes.to_vec(), out_axes.to_vec());
    move |args: &[Array]| {
        if args.len() != in_axes.len() {
            return Err(Error::arg("vmap", format!("{} in_axes for {} arguments", in_axes.len(), args.len())));
        }
        let mut size = None;
        for (i, (x, axis)) in args.iter().zip(&in_axes).enumerate() {
            let Some(axis) = *axis else { continue };
            if axis >= x.ndim() {
                return Err(Error::arg("vmap", format!("in_axes[{i}] = {axis} is out of range for an input of rank {}", x.ndim())));
            }
            let n = x.shape()[axis];
            match size {
                Some(m) if m != n => return Err(Error::arg("vmap", format!("inconsistent batch sizes: {m} and {n} (input {i})"))),
                _ => size = Some(n),
            }
        }
        let size = size.ok_or_else(|| Error::arg("vmap", "at least one input must be mapped"))?;
        let leaves: Vec<Array> = args
            .iter()
            .zip(&in_axes)
            .map(|(x, axis)| match axis {
                Some(a) => {
                    let mut shape = x.shape().to_vec();
                    shape.remove(*a);
                    placeholder(shape, x.dtype())
                }
                None => x.clone(),
            })
            .collect();
        let outputs = f(&leaves)?;
        if outputs.len() != out_axes.len() {
            return Err(Error::arg("vmap", format!("{} out_axes for {} outputs", out_axes.len(), outputs.len())));
        }
        let mut values: AddressMap<NodeKey, Batched> = AddressMap::default();
        let mut leaf_keys = AddressSet::default();
        for ((leaf, x), axis) in leaves.iter().zip(args).zip(&in_axes) {
            if axis.is_some() {
                leaf_keys.insert(key(leaf));
                values.insert(key(leaf), (x.clone(), *axis));
            }
        }
        let mut done: AddressSet<*const ()> = AddressSet::default();
        for node in tape(&outputs, &leaf_keys, |_| false).0 {
            let Some((primitive, inputs)) = node.graph() else { continue };
            if !done.insert(node.application_key()) {
                continue;
            }
            let batched: Vec<Batched> = inputs.iter().map(|i| values.get(&key(i)).cloned().unwrap_or_else(|| (i.clone(), None))).collect();
            let siblings = node.outputs_of_primitive();
            let traced = node.outputs_or_recomputed(&siblings);
            let (arrays, axes): (Vec<Array>, Vec<Option<usize>>) = match primitive.vmap(&batched, &traced)? {
                Some(result) => result,
                None => by_loop(&node, &batched, size)?,
            };
            for ((s, a), ax) in siblings.iter().zip(arrays).zip(axes) {
                if let Some(s) = s {
                    values.insert(key(s), (a, ax));
                }
            }
        }
        outputs
            .iter()
            .zip(&out_axes)
            .enumerate()
            .map(|(j, (o, out_axis))| {
                let (value, axis) = values.get(&key(o)).cloned().unwrap_or_else(|| (o.clone(), None));
                match (axis, out_axis) {
                    (Some(a), Some(to)) => {
                        if *to > value.ndim() - 1 {
                            return Err(Error::arg(
                                "vmap",
                                format!("out_axes[{j}] = {to} is out of range for an output of rank {}", value.ndim()),
                            ));
                        }
                        crate::moveaxis(&value, a as isize, *to as isize)
                    }
                    (None, Some(to)) => {
                        if *to > value.ndim() {
                            return Err(Error::arg(
                                "vmap",
                                format!("out_axes[{j}] = {to} is out of range for an output of rank {}", value.ndim() + 1),
                            ));
                        }
                        let expanded = crate::expand_dims(&value, &[*to as isize])?;
                        let mut shape = expanded.shape().to_vec();
                        shape[*to] = size;
                        crate::broadcast_to(&expanded, &shape)
                    }
                    (None, None) => Ok(value),
                    (Some(_), None) => {
                        Err(Error::arg("vmap", format!("output {j} depends on a mapped input, so out_axes[{j}] cannot be None")))
                    }
                }
            })
            .collect()
    }
}
