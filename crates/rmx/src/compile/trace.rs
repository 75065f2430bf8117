//! A traced function as data: the primitives it applies, in order, with their inputs named
//! by position (an input of the function, a captured constant, or an output of an earlier
//! entry). Capturing runs the function once on tracers; replaying builds a fresh lazy graph
//! over real inputs without running the function again.

use crate::address_hash::{AddressMap, AddressSet};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::tracer::CompileTracer;
use crate::primitive::Primitive;
use crate::transforms::tape::{key, tape, NodeKey};
use std::sync::Arc;

/// Where a value of the trace comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ref {
    /// Input `i` of the function.
    Input(usize),
    /// Captured constant `i` (an array the function used that does not depend on its inputs).
    Const(usize),
    /// Output `index` of entry `entry`.
    Out { entry: usize, index: usize },
}

impl Ref {
    /// The entry whose output this is, if it is one.
    pub fn entry(self) -> Option<usize> {
        match self {
            Ref::Out { entry, .. } => Some(entry),
            _ => None,
        }
    }
}

/// One primitive application.
pub(crate) struct Entry {
    pub primitive: Arc<dyn Primitive>,
    pub inputs: Vec<Ref>,
    /// Shape and dtype of each output as traced.
    pub outputs: Vec<(Vec<usize>, Dtype)>,
}

/// A function as a list of primitive applications.
pub(crate) struct Trace {
    pub inputs: Vec<(Vec<usize>, Dtype)>,
    pub consts: Vec<Array>,
    pub entries: Vec<Entry>,
    pub outputs: Vec<Ref>,
}

impl Trace {
    /// Every reference the trace holds: the entries' inputs and the function's outputs.
    pub fn refs_mut(&mut self) -> impl Iterator<Item = &mut Ref> {
        self.entries.iter_mut().flat_map(|e| e.inputs.iter_mut()).chain(self.outputs.iter_mut())
    }

    /// Shape and dtype of a value.
    pub fn spec(&self, r: Ref) -> (&[usize], Dtype) {
        match r {
            Ref::Input(i) => (&self.inputs[i].0, self.inputs[i].1),
            Ref::Const(i) => (self.consts[i].shape(), self.consts[i].dtype()),
            Ref::Out { entry, index } => {
                let (shape, dtype) = &self.entries[entry].outputs[index];
                (shape, *dtype)
            }
        }
    }
}

/// Runs `f` on tracers shaped like `inputs` and records what it computed.
pub(crate) fn capture<F>(f: &F, inputs: &[Array]) -> Result<Trace>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let tracers: Vec<Array> =
        inputs.iter().map(|a| Array::from_primitive(a.shape().to_vec(), a.dtype(), Arc::new(CompileTracer), Vec::new())).collect();
    let outputs = {
        let _tracing = Tracing::enter();
        f(&tracers)?
    };
    let tracer_index: AddressMap<NodeKey, usize> = tracers.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
    let leaves: AddressSet<NodeKey> = tracer_index.keys().copied().collect();
    let (order, _) = tape(&outputs, &leaves, |_| false);

    let mut trace = Trace {
        inputs: inputs.iter().map(|a| (a.shape().to_vec(), a.dtype())).collect(),
        consts: Vec::new(),
        entries: Vec::new(),
        outputs: Vec::new(),
    };
    let mut refs: AddressMap<NodeKey, Ref> = tracer_index.iter().map(|(&k, &i)| (k, Ref::Input(i))).collect();
    let mut seen: AddressSet<*const ()> = AddressSet::default();
    for node in &order {
        let Some((primitive, node_inputs)) = node.graph() else { continue };
        if !seen.insert(node.application_key()) {
            continue; // a sibling output of an entry already recorded
        }
        let inputs = node_inputs.iter().map(|a| resolve(&mut refs, &mut trace.consts, a)).collect();
        let siblings = node.outputs_of_primitive();
        let entry = trace.entries.len();
        let outputs = if siblings.len() <= 1 {
            refs.insert(key(node), Ref::Out { entry, index: 0 });
            vec![(node.shape().to_vec(), node.dtype())]
        } else {
            let specs = node.sibling_specs();
            for (index, s) in siblings.iter().enumerate() {
                if let Some(s) = s {
                    refs.insert(key(s), Ref::Out { entry, index });
                }
            }
            specs
        };
        trace.entries.push(Entry { primitive, inputs, outputs });
    }
    trace.outputs = outputs.iter().map(|o| resolve(&mut refs, &mut trace.consts, o)).collect();
    Ok(trace)
}

/// The reference of a value met while recording: known, or a new captured constant.
fn resolve(refs: &mut AddressMap<NodeKey, Ref>, consts: &mut Vec<Array>, a: &Array) -> Ref {
    *refs.entry(key(a)).or_insert_with(|| {
        consts.push(a.clone());
        Ref::Const(consts.len() - 1)
    })
}

/// Builds the graph of `trace` over `inputs`. With `reinfer`, output shapes come from each
/// primitive's shape rule instead of the traced shapes (shapeless compile).
pub(crate) fn replay(trace: &Trace, inputs: &[Array], reinfer: bool) -> Result<Vec<Array>> {
    let mut values: Vec<Vec<Array>> = Vec::with_capacity(trace.entries.len());
    let get = |values: &Vec<Vec<Array>>, r: Ref| -> Array {
        match r {
            Ref::Input(i) => inputs[i].clone(),
            Ref::Const(i) => trace.consts[i].clone(),
            Ref::Out { entry, index } => values[entry][index].clone(),
        }
    };
    for entry in &trace.entries {
        let args: Vec<Array> = entry.inputs.iter().map(|&r| get(&values, r)).collect();
        let specs = if reinfer {
            let shapes = entry.primitive.output_shapes(&args).ok_or_else(|| {
                Error::NotImplemented(format!(
                    "compile(shapeless) of {}: its output shape depends on the traced input shapes; compile without shapeless",
                    entry.primitive.name()
                ))
            })??;
            shapes.into_iter().zip(&entry.outputs).map(|(s, (_, d))| (s, *d)).collect()
        } else {
            entry.outputs.clone()
        };
        values.push(Array::outputs_from_primitive(specs, Arc::clone(&entry.primitive), args));
    }
    Ok(trace.outputs.iter().map(|&r| get(&values, r)).collect())
}

thread_local! {
    static TRACING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// True while `compile` traces a function on this thread.
pub(crate) fn tracing() -> bool {
    TRACING.with(|t| t.get() > 0)
}

/// How many `compile` traces are open on this thread (carried to the thread that evaluates).
pub(crate) fn tracing_depth() -> usize {
    TRACING.with(|t| t.get())
}

/// Sets [`tracing_depth`] on this thread.
pub(crate) fn set_tracing_depth(depth: usize) {
    TRACING.with(|t| t.set(depth));
}

struct Tracing;

impl Tracing {
    fn enter() -> Tracing {
        TRACING.with(|t| t.set(t.get() + 1));
        Tracing
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        TRACING.with(|t| t.set(t.get() - 1));
    }
}
