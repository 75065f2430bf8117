//! `compile`: trace a function once per input signature, simplify the trace and fuse its
//! element-wise chains into single kernels.
//!
//! Calling a [`Compiled`] function looks up the trace for the inputs' shapes and dtypes (or
//! only their ranks and dtypes with [`Compiled::shapeless`]); the first call with a new
//! signature runs the function on tracers and records the primitives it applied
//! ([`trace`]), then [`simplify`] merges equal constants, drops no-ops and computes common
//! subexpressions once, and [`fuse`] replaces chains of element-wise ops with one
//! [`Fused`](crate::primitive::fused::Fused) node each, described by a backend-neutral
//! [`program::FusedProgram`]. Every call replays the trace as a fresh lazy graph over the
//! real inputs, so compiled functions compose with every transform: `grad` of a compiled
//! function differentiates the replayed graph, and a compiled `grad` fuses the backward pass.
//!
//! Compilation is on by default; [`disable_compile`] or the environment variable
//! `RMX_DISABLE_COMPILE=1` make compiled functions run their Rust code directly.

mod fuse;
mod order;
pub mod program;
mod simplify;
pub(crate) mod trace;

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use trace::Trace;

/// 0: not yet read from the environment, 1: enabled, 2: disabled.
static ENABLED: AtomicU8 = AtomicU8::new(0);

/// True when compiled functions use their traces (see [`disable_compile`]).
pub fn compile_enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let off = std::env::var("RMX_DISABLE_COMPILE").is_ok_and(|v| !v.is_empty() && v != "0");
            ENABLED.store(if off { 2 } else { 1 }, Ordering::Relaxed);
            !off
        }
    }
}

/// Makes every compiled function run its Rust code directly (for debugging); the same as
/// setting `RMX_DISABLE_COMPILE=1`.
pub fn disable_compile() {
    ENABLED.store(2, Ordering::Relaxed);
}

/// Undoes [`disable_compile`].
pub fn enable_compile() {
    ENABLED.store(1, Ordering::Relaxed);
}

/// Compiles `f`: see [`Compiled`].
///
/// ```
/// use rmx::Array;
/// let f = rmx::compile(|a: &[Array]| {
///     let y = rmx::add(&rmx::multiply(&a[0], 2.0)?, 1.0)?;
///     Ok(vec![rmx::sigmoid(&y)?])
/// });
/// let x = Array::from_slice(&[0.0f32, -0.5], &[2])?;
/// assert_eq!(f.call(&[x.clone()])?[0].to_vec::<f32>()?, vec![0.7310586, 0.5]);
/// f.call(&[x])?; // same signature: no new trace
/// assert_eq!(f.trace_count(), 1);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn compile<F>(f: F) -> Compiled<F>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    Compiled { f, shapeless: false, cache: Mutex::new(HashMap::new()), traces: AtomicUsize::new(0) }
}

/// What identifies a trace: per input, its shape (or only its rank when shapeless) and dtype.
type Signature = Vec<(Vec<usize>, usize, Dtype)>;

/// A compiled function: call it with [`Compiled::call`].
pub struct Compiled<F> {
    f: F,
    shapeless: bool,
    cache: Mutex<HashMap<Signature, Arc<Trace>>>,
    traces: AtomicUsize,
}

impl<F> Compiled<F>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    /// Keys traces on input ranks and dtypes only, so one trace serves every size. Each
    /// primitive then infers its output shapes anew; functions whose ops depend on the
    /// traced shapes (reshape, broadcast to a fixed shape, constants made from input
    /// shapes) fail with an error naming the op rather than compute at the wrong shape.
    pub fn shapeless(mut self) -> Self {
        self.shapeless = true;
        self
    }

    /// Runs the compiled function: the outputs are lazy, like any op's.
    pub fn call(&self, inputs: &[Array]) -> Result<Vec<Array>> {
        if !compile_enabled() {
            return (self.f)(inputs);
        }
        let trace = self.trace_for(inputs)?;
        let reinfer = self.shapeless && trace.inputs.iter().zip(inputs).any(|((shape, _), x)| shape.as_slice() != x.shape());
        trace::replay(&trace, inputs, reinfer)
    }

    /// Runs a step that reads and writes `state` (model parameters, optimizer moments...):
    /// the function receives `state` followed by `inputs` and must return the new state
    /// (same count, shapes and dtypes) followed by its other outputs. `state` is replaced by
    /// the new (lazy) values and the other outputs are returned.
    pub fn call_with_state(&self, state: &mut [Array], inputs: &[Array]) -> Result<Vec<Array>> {
        let all: Vec<Array> = state.iter().chain(inputs).cloned().collect();
        let mut outputs = self.call(&all)?;
        if outputs.len() < state.len() {
            return Err(Error::arg("compile", format!("the step returned {} outputs for {} state arrays", outputs.len(), state.len())));
        }
        for (i, (old, new)) in state.iter().zip(&outputs).enumerate() {
            if old.shape() != new.shape() || old.dtype() != new.dtype() {
                return Err(Error::arg(
                    "compile",
                    format!("state {i} changed from {:?} {} to {:?} {}", old.shape(), old.dtype(), new.shape(), new.dtype()),
                ));
            }
        }
        let rest = outputs.split_off(state.len());
        state.clone_from_slice(&outputs);
        Ok(rest)
    }

    /// How many times the function has been traced (once per new input signature).
    pub fn trace_count(&self) -> usize {
        self.traces.load(Ordering::Relaxed)
    }

    /// The kernels one call with inputs like `inputs` runs, in order: primitive names, with
    /// each fused kernel shown as `fused[n]` for its `n` operations. Traces if needed.
    ///
    /// ```
    /// use rmx::Array;
    /// let f = rmx::compile(|a: &[Array]| Ok(vec![rmx::exp(&rmx::negative(&rmx::abs(&a[0])?)?)?]));
    /// let x = Array::from_slice(&[1.0f32, -2.0], &[2])?;
    /// assert_eq!(f.kernels(&[x])?, vec!["fused[3]"]);
    /// # Ok::<(), rmx::Error>(())
    /// ```
    pub fn kernels(&self, inputs: &[Array]) -> Result<Vec<String>> {
        let trace = self.trace_for(inputs)?;
        Ok(trace.entries.iter().map(|e| e.primitive.label()).collect())
    }

    fn signature(&self, inputs: &[Array]) -> Signature {
        inputs.iter().map(|a| (if self.shapeless { Vec::new() } else { a.shape().to_vec() }, a.ndim(), a.dtype())).collect()
    }

    fn trace_for(&self, inputs: &[Array]) -> Result<Arc<Trace>> {
        let signature = self.signature(inputs);
        if let Some(t) = self.lock().get(&signature) {
            return Ok(Arc::clone(t));
        }
        // Traced without the lock held: the function may call this compiled function.
        let traced = fuse::fuse(simplify::simplify(trace::capture(&self.f, inputs)?));
        self.traces.fetch_add(1, Ordering::Relaxed);
        let traced = Arc::new(traced);
        self.lock().insert(signature, Arc::clone(&traced));
        Ok(traced)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Signature, Arc<Trace>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether the current thread is tracing a function for [`compile`]: code whose values
/// would be frozen into the trace (host-side counters, schedules) can refuse to run.
pub fn is_tracing() -> bool {
    trace::tracing()
}
