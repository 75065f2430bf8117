//! Function transforms: reverse-mode differentiation (`vjp`, `grad`, `value_and_grad`),
//! forward mode (`jvp`), vectorising map (`vmap`), `stop_gradient`, user-defined rules
//! (`custom_vjp`, `checkpoint`) and Jacobians (`jacrev`, `jacfwd`, `hessian`).
//!
//! Transforms trace: the function runs once on tracer copies of its inputs, which builds a
//! lazy graph, and the transform walks that graph calling each primitive's rule (the rules
//! live next to the primitives in [`crate::primitive`]). The results are lazy arrays built
//! from ordinary ops, so transforms nest (`grad` of `grad`). While a transform traces, `eval`
//! keeps the graph attached so evaluating intermediates inside the function is allowed.

mod custom;
mod jvp;
pub(crate) mod tape;
mod vjp;
mod vmap;

pub use custom::{checkpoint, custom_vjp, hessian, jacfwd, jacrev};
pub use jvp::jvp;
pub use vjp::{grad, value_and_grad, value_and_grad_once, vjp};
pub use vmap::vmap;

use crate::array::Array;
use crate::error::Result;
use crate::primitive::identity::StopGradient;
use std::cell::Cell;
use std::sync::Arc;

thread_local! {
    static RETAIN_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// True while a transform on this thread is tracing (evaluation keeps the graph).
pub(crate) fn retaining_graph() -> bool {
    RETAIN_DEPTH.with(|d| d.get() > 0)
}

/// How many transforms on this thread are tracing (carried to the thread that evaluates).
pub(crate) fn retain_depth() -> usize {
    RETAIN_DEPTH.with(|d| d.get())
}

/// Sets [`retain_depth`] on this thread.
pub(crate) fn set_retain_depth(depth: usize) {
    RETAIN_DEPTH.with(|d| d.set(depth));
}

/// Keeps evaluated graphs attached until dropped.
pub(crate) struct RetainGraph;

impl RetainGraph {
    pub(crate) fn enter() -> RetainGraph {
        RETAIN_DEPTH.with(|d| d.set(d.get() + 1));
        RetainGraph
    }
}

impl Drop for RetainGraph {
    fn drop(&mut self) {
        RETAIN_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// The same values, with no gradient flowing back through them.
///
/// ```
/// let x = rmx::Array::scalar(3.0f32);
/// let g = rmx::grad(|a| Ok(vec![rmx::multiply(&a[0], &rmx::stop_gradient(&a[0])?)?]), &[0]);
/// assert_eq!(g(&[x])?[0].item::<f32>()?, 3.0); // d/dx (x * const) with const = x
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn stop_gradient(a: &Array) -> Result<Array> {
    Ok(Array::from_primitive(a.shape().to_vec(), a.dtype(), Arc::new(StopGradient), vec![a.clone()]))
}

/// `inputs`, unchanged (same buffers), as arrays that are computed only after
/// `dependencies`: an ordering edge without data flow (MLX's `depends`, which mlx-lm's
/// pipeline parallelism uses to order sends before later work). Gradients pass through to
/// `inputs`; the dependencies get none.
///
/// ```
/// let x = rmx::Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// let side = rmx::multiply(&x, 10.0)?;
/// let out = rmx::depends(&[x.clone()], &[side.clone()])?.remove(0);
/// out.eval()?;
/// assert!(side.is_evaluated());
/// assert_eq!(out.to_vec::<f32>()?, vec![1.0, 2.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn depends(inputs: &[Array], dependencies: &[Array]) -> Result<Vec<Array>> {
    if inputs.is_empty() {
        return Err(crate::Error::arg("depends", "needs at least one input"));
    }
    if dependencies.is_empty() {
        return Ok(inputs.to_vec());
    }
    let outputs = inputs.iter().map(|x| (x.shape().to_vec(), x.dtype())).collect();
    let all = inputs.iter().chain(dependencies).cloned().collect();
    Ok(Array::multi_from_primitive(outputs, Arc::new(crate::primitive::identity::Depends { count: inputs.len() }), all))
}
