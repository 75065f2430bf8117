//! Reverse mode: `vjp`, `value_and_grad` and `grad`.

use super::tape::{key, tape, NodeKey};
use super::RetainGraph;
use crate::address_hash::{AddressMap, AddressSet};
use crate::array::Array;
use crate::error::{Error, Result};
use crate::primitive::identity::{Identity, StopGradient};
use crate::primitive::Primitive;
use std::sync::Arc;

fn accumulate(cotangents: &mut AddressMap<NodeKey, Array>, target: &Array, value: Array) -> Result<()> {
    let k = key(target);
    let value = if value.dtype() != target.dtype() { crate::astype(&value, target.dtype())? } else { value };
    let sum = match cotangents.remove(&k) {
        Some(existing) => crate::add(&existing, &value)?,
        None => value,
    };
    cotangents.insert(k, sum);
    Ok(())
}

/// Runs `f` on `primals` and pulls `cotangents` (one per output, shaped like it) back to the
/// inputs. Returns `(outputs, cotangents of the primals)`; a primal the outputs do not
/// depend on gets zeros.
///
/// ```
/// use rmx::Array;
/// let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// let (out, vjps) = rmx::vjp(|a| Ok(vec![rmx::multiply(&a[0], &a[0])?]), &[x], &[Array::from_slice(&[1.0f32, 10.0], &[2])?])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![1.0, 4.0]);
/// assert_eq!(vjps[0].to_vec::<f32>()?, vec![2.0, 40.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn vjp<F>(f: F, primals: &[Array], cotangents: &[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: FnOnce(&[Array]) -> Result<Vec<Array>>,
{
    pull_back(f, primals, |outputs| {
        if outputs.len() != cotangents.len() {
            return Err(Error::arg("vjp", format!("{} cotangents for {} outputs", cotangents.len(), outputs.len())));
        }
        for (i, (o, c)) in outputs.iter().zip(cotangents).enumerate() {
            if o.shape() != c.shape() {
                return Err(Error::shapes_detail(
                    "vjp",
                    &[o.shape(), c.shape()],
                    format!("cotangent {i} must have the shape of output {i}"),
                ));
            }
        }
        Ok(cotangents.to_vec())
    })
}

/// Traces `f` on tracers of `primals`, asks `seed` for the output cotangents, and
/// propagates them back through every primitive's vjp rule.
fn pull_back<F, S>(f: F, primals: &[Array], seed: S) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: FnOnce(&[Array]) -> Result<Vec<Array>>,
    S: FnOnce(&[Array]) -> Result<Vec<Array>>,
{
    for (i, p) in primals.iter().enumerate() {
        if !p.dtype().is_inexact() {
            return Err(Error::dtype_detail("vjp", p.dtype(), format!("input {i} must be floating point or complex to be differentiated")));
        }
    }
    let _retain = RetainGraph::enter();
    let tracers: Vec<Array> =
        primals.iter().map(|p| Array::from_primitive(p.shape().to_vec(), p.dtype(), Arc::new(Identity), vec![p.clone()])).collect();
    let outputs = f(&tracers)?;
    let cotangents = seed(&outputs)?;
    let tracer_keys: AddressSet<NodeKey> = tracers.iter().map(key).collect();
    let mut cots: AddressMap<NodeKey, Array> = AddressMap::default();
    for (o, c) in outputs.iter().zip(cotangents) {
        accumulate(&mut cots, o, c)?;
    }
    let (order, depends) = tape(&outputs, &tracer_keys, |p| p.name() == StopGradient.name());
    // A multi-output application runs its rule once, at the earliest of its outputs in the
    // order: by then every consumer of every output has passed its cotangent back (the
    // outputs are separate nodes, and one may be consumed later than another is placed).
    let mut earliest: AddressMap<*const (), usize> = AddressMap::default();
    for (i, node) in order.iter().enumerate() {
        earliest.entry(node.application_key()).or_insert(i);
    }
    for (i, node) in order.iter().enumerate().rev() {
        let Some((primitive, inputs)) = node.graph() else { continue };
        if earliest[&node.application_key()] != i {
            continue;
        }
        let siblings = node.outputs_of_primitive();
        if siblings.iter().flatten().all(|s| !cots.contains_key(&key(s))) {
            continue;
        }
        // An output the program dropped gets a zero cotangent.
        let sibling_arrays = node.outputs_or_recomputed(&siblings);
        let sibling_cots: Vec<Array> = siblings
            .iter()
            .zip(&sibling_arrays)
            .map(|(s, a)| match s.as_ref().and_then(|s| cots.remove(&key(s))) {
                Some(c) => Ok(c),
                None => crate::zeros_like(a),
            })
            .collect::<Result<_>>()?;
        let argnums: Vec<usize> = (0..inputs.len()).filter(|&i| depends.contains(&key(&inputs[i]))).collect();
        let grads = primitive.vjp(&inputs, &sibling_cots, &argnums, &sibling_arrays).map_err(|e| match e {
            Error::NotImplemented(what) => Error::NotImplemented(format!("{what} (needed to differentiate)")),
            other => other,
        })?;
        for (&i, g) in argnums.iter().zip(grads) {
            accumulate(&mut cots, &inputs[i], g)?;
        }
    }
    let grads =
        tracers.iter().zip(primals).map(|(t, p)| cots.remove(&key(t)).map_or_else(|| crate::zeros_like(p), Ok)).collect::<Result<_>>()?;
    Ok((outputs, grads))
}

/// The value of `f` at `primals` and the gradients of its output 0 (a single element) with
/// respect to every primal, for a function called once (`FnOnce`: it may mutate what it
/// captures, as a model update does). Outputs after the first are auxiliary.
pub fn value_and_grad_once<F>(f: F, primals: &[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: FnOnce(&[Array]) -> Result<Vec<Array>>,
{
    let call = |tracers: &[Array]| -> Result<Vec<Array>> {
        let outs = f(tracers)?;
        // Auxiliary outputs are returned but never differentiated.
        outs.iter().enumerate().map(|(i, o)| if i == 0 { Ok(o.clone()) } else { crate::stop_gradient(o) }).collect()
    };
    pull_back(call, primals, |outs| {
        let Some(first) = outs.first() else {
            return Err(Error::arg("value_and_grad", "the function returned no outputs"));
        };
        if first.size() != 1 {
            return Err(Error::shapes_detail("value_and_grad", &[first.shape()], "output 0 must be a scalar to take its gradient"));
        }
        let mut seeds = vec![crate::ones(first.shape(), first.dtype())?];
        for o in &outs[1..] {
            seeds.push(crate::zeros_like(o)?);
        }
        Ok(seeds)
    })
}

/// Wraps `f` so it returns `(outputs, gradients)`: the gradients of output 0 (which must
/// have a single element) with respect to the inputs listed in `argnums`. Outputs after the
/// first are auxiliary and carry no gradient.
///
/// ```
/// use rmx::Array;
/// let f = rmx::value_and_grad(|a| Ok(vec![rmx::sum(&rmx::square(&a[0])?, rmx::Axes::All, false)?]), &[0]);
/// let (value, grads) = f(&[Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?])?;
/// assert_eq!(value[0].item::<f32>()?, 14.0);
/// assert_eq!(grads[0].to_vec::<f32>()?, vec![2.0, 4.0, 6.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn value_and_grad<F>(f: F, argnums: &[usize]) -> impl Fn(&[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let argnums = argnums.to_vec();
    move |args: &[Array]| {
        if let Some(&bad) = argnums.iter().find(|&&i| i >= args.len()) {
            return Err(Error::arg("value_and_grad", format!("argnum {bad} out of range for {} arguments", args.len())));
        }
        let primals: Vec<Array> = argnums.iter().map(|&i| args[i].clone()).collect();
        value_and_grad_once(
            |tracers: &[Array]| {
                let mut full = args.to_vec();
                for (&i, t) in argnums.iter().zip(tracers) {
                    full[i] = t.clone();
                }
                f(&full)
            },
            &primals,
        )
    }
}

/// Like [`value_and_grad`], returning only the gradients.
pub fn grad<F>(f: F, argnums: &[usize]) -> impl Fn(&[Array]) -> Result<Vec<Array>>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let vg = value_and_grad(f, argnums);
    move |args: &[Array]| vg(args).map(|(_, g)| g)
}
