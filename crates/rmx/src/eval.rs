//! Evaluation: turns a lazy graph into data.
//!
//! [`eval`] walks the graph iteratively (no recursion, so a chain of a million ops is fine),
//! orders the unevaluated nodes so that inputs come before their consumers, and runs each
//! primitive's kernel on its stream's device. Before a kernel runs its node is detached: the
//! primitive and inputs move out of the node, so an input used by nobody else can donate its
//! buffer to the output and is freed as soon as the kernel returns.
//!
//! A graph whose ops sit on several streams runs each stream's share on a thread of its own
//! ([`crate::eval::concurrent`]): streams overlap, ordered only by the data they pass.
//! [`async_eval`] evaluates on a background thread ([`crate::eval::background`]).

use crate::address_hash::AddressSet;
use crate::array::{Array, Node};
use crate::device::{Device, Stream};
use crate::error::{Error, Result};
use std::sync::Arc;

mod background;
mod concurrent;

/// Evaluates all `outputs` (and everything they depend on).
///
/// ```
/// let a = rmx::ones(&[3], rmx::Dtype::F32).unwrap();
/// let b = rmx::multiply(&a, 3.0).unwrap();
/// rmx::eval(&[b.clone()]).unwrap();
/// assert!(b.is_evaluated());
/// ```
pub fn eval(outputs: &[Array]) -> Result<()> {
    // Arrays an `async_eval` is filling are read once it has finished.
    background::wait();
    let Tape { nodes: tape, streams, communicates, largest } = build_tape(outputs)?;
    if streams.iter().any(|s| *s != streams[0]) {
        return concurrent::run(tape.into_iter().zip(streams).collect());
    }
    // A graph that waits on other processes stays on the calling thread, never holding a pool
    // thread while it waits.
    let move_to_pool = runs_on_pool(tape.len(), largest) && !inline_only() && !communicates;
    let run = move || tape.into_iter().try_for_each(run_node);
    if move_to_pool {
        crate::thread_context::on_pool(run)
    } else {
        run()
    }
}

/// Node count from which [`eval`] runs a graph on the compute pool.
const POOL_MIN_NODES: usize = 4;

/// Array size (elements) from which a graph has kernels that split over threads: no kernel
/// splits work on smaller arrays (element-wise kernels from 65536 elements, products from
/// 2^21 multiply-adds, which need an operand or output of at least 2^14 elements).
const POOL_MIN_ELEMENTS: usize = 1 << 14;
const _: () = assert!(crate::backend::cpu::strided::PARALLEL_THRESHOLD >= POOL_MIN_ELEMENTS);

/// Whether [`eval`] moves a graph of `nodes` nodes whose largest array (input or output of
/// a node) has `largest` elements to the compute pool. Graphs of a few nodes run where they
/// are, and so do graphs of small arrays, whose kernels all run on one thread: moving them
/// costs the pool's wake-up and leaves a helper polling next to the caller (an 11-node graph
/// on 16 floats, interleaved A/B on 2 vCPUs: 26.7–31.3 µs per evaluation on the pool, 8.8–15.8
/// µs on the caller). Other graphs move once instead of waking the pool for every parallel
/// kernel.
fn runs_on_pool(nodes: usize, largest: usize) -> bool {
    nodes >= POOL_MIN_NODES && largest >= POOL_MIN_ELEMENTS
}

/// `RMX_EVAL_INLINE` set: graphs are evaluated on the calling thread (for profiling).
fn inline_only() -> bool {
    static INLINE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INLINE.get_or_init(|| std::env::var_os("RMX_EVAL_INLINE").is_some())
}

/// Starts evaluating `outputs` on a background thread and returns at once, so the caller
/// can build the next graph meanwhile. Reading the arrays ([`eval`], `to_vec`, `item`) or
/// [`crate::synchronize`] waits for the evaluation; an error it met is returned by the next
/// `eval` of the failed array (which runs the failing op again). Inside a transform or a
/// `compile` trace the evaluation happens before the call returns.
///
/// ```
/// let x = rmx::multiply(&rmx::ones(&[1000], rmx::Dtype::F32).unwrap(), 3.0f32).unwrap();
/// rmx::async_eval(&[x.clone()]).unwrap();
/// let next = rmx::sum(&x, None, false).unwrap(); // built while x is computed
/// assert_eq!(next.item::<f32>().unwrap(), 3000.0);
/// ```
pub fn async_eval(outputs: &[Array]) -> Result<()> {
    if crate::transforms::retaining_graph() || crate::compile::trace::tracing() {
        return eval(outputs);
    }
    background::submit(outputs.to_vec());
    Ok(())
}

/// Waits for every outstanding asynchronous evaluation.
pub(crate) fn wait_all() {
    background::wait();
}

/// What [`build_tape`] finds.
struct Tape {
    /// Unevaluated nodes reachable from the outputs, inputs before consumers.
    nodes: Vec<Array>,
    /// The stream of each node.
    streams: Vec<Stream>,
    /// Whether one of them waits on other processes (`Primitive::communicates`).
    communicates: bool,
    /// Elements of the largest output or input of a node.
    largest: usize,
}

fn build_tape(outputs: &[Array]) -> Result<Tape> {
    let mut visited: AddressSet<*const Node> = AddressSet::default();
    let mut tape = Vec::new();
    let mut streams = Vec::new();
    let mut communicates = false;
    let mut largest = 0;
    // (array, its stream once its inputs are pushed)
    let mut stack: Vec<(Array, Option<Stream>)> = outputs.iter().rev().map(|a| (a.clone(), None)).collect();
    while let Some((array, expanded)) = stack.pop() {
        let key = Arc::as_ptr(&array.node);
        if let Some(stream) = expanded {
            streams.push(stream);
            tape.push(array);
            continue;
        }
        if visited.contains(&key) {
            continue;
        }
        let state = array.node.lock();
        if state.storage.is_some() {
            continue;
        }
        if state.primitive.is_none() {
            if state.in_flight {
                drop(state);
                wait_for(&array)?;
                continue;
            }
            return Err(Error::Eval("attempting to eval an array without a primitive or data".into()));
        }
        communicates |= state.primitive.as_ref().is_some_and(|p| p.communicates());
        largest = state.inputs.iter().map(Array::size).fold(largest.max(array.size()), usize::max);
        let inputs: Vec<Array> = state.inputs.iter().rev().cloned().collect();
        let stream = state.stream;
        drop(state);
        visited.insert(key);
        stack.push((array, Some(stream)));
        for input in inputs {
            if !visited.contains(&Arc::as_ptr(&input.node)) {
                stack.push((input, None));
            }
        }
    }
    Ok(Tape { nodes: tape, streams, communicates, largest })
}

/// Runs one node's primitive, filling it and its siblings.
pub(super) fn run_node(array: Array) -> Result<()> {
    let mut state = array.node.lock();
    if state.storage.is_some() {
        return Ok(());
    }
    if state.primitive.is_none() && state.in_flight {
        drop(state);
        return wait_for(&array);
    }
    // Inside a transform the graph stays attached so it can be differentiated afterwards.
    let retain = crate::transforms::retaining_graph();
    let primitive = if retain { state.primitive.clone() } else { state.primitive.take() };
    let primitive = primitive.ok_or_else(|| Error::Eval("node lost its primitive".into()))?;
    let inputs = if retain { state.inputs.clone() } else { std::mem::take(&mut state.inputs) };
    state.in_flight = true;
    let siblings = Arc::clone(&state.siblings);
    let stream = state.stream;
    drop(state);

    let outputs: Vec<Array> = if siblings.is_empty() {
        vec![array.clone()]
    } else {
        siblings
            .iter()
            .map(|s| match s.node.upgrade() {
                Some(node) => {
                    let out = Array { node };
                    let mut st = out.node.lock();
                    st.in_flight = true;
                    if !retain {
                        st.primitive = None;
                        st.inputs.clear();
                    }
                    drop(st);
                    out
                }
                None => crate::array::placeholder(s.shape.clone(), s.dtype),
            })
            .collect()
    };
    drop(array);

    let result = match stream.device {
        Device::Cpu => primitive.eval_cpu(&inputs, &outputs),
        Device::Gpu(i) => Err(Error::NotImplemented(format!("{} on gpu({i})", primitive.name()))),
    };
    if let Err(err) = result {
        for out in &outputs {
            let mut st = out.node.lock();
            st.primitive = Some(Arc::clone(&primitive));
            st.inputs = inputs.clone();
            st.in_flight = false;
        }
        return Err(err);
    }
    for out in &outputs {
        if out.node.lock().storage.is_none() {
            return Err(Error::Eval(format!("{} did not produce all its outputs", primitive.name())));
        }
    }
    Ok(())
}

/// Waits for another thread's evaluation of `array` to finish.
fn wait_for(array: &Array) -> Result<()> {
    loop {
        {
            let state = array.node.lock();
            if state.storage.is_some() {
                return Ok(());
            }
            if !state.in_flight {
                return Err(Error::Eval("a concurrent evaluation of this array failed".into()));
            }
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_graphs_with_parallel_kernels_move_to_the_pool() {
        assert!(!runs_on_pool(10, 16), "a chain on 16 floats runs where it is");
        assert!(!runs_on_pool(10_000, 1), "so does a long chain of scalars");
        assert!(!runs_on_pool(3, 1 << 24), "and a graph of a few nodes");
        assert!(runs_on_pool(4, 1 << 16), "element-wise kernels split from 65536 elements");
        assert!(runs_on_pool(4, 128 * 128), "a 128³ product (2^21 multiply-adds) splits");
    }
}
