//! User-defined derivatives and the transforms built from the basic ones: `custom_vjp`,
//! `checkpoint`, `jacrev`, `jacfwd` and `hessian`.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::custom::{CustomVjp, VjpRule};
use std::sync::Arc;

/// Wraps `f` so that reverse mode uses `rule(primals, cotangents, outputs)` instead of
/// differentiating `f`'s graph. Forward values are `f`'s.
///
/// ```
/// use rmx::Array;
/// // Report a gradient of 2 for the identity.
/// let f = rmx::custom_vjp(|a| Ok(vec![a[0].clone()]), |_, cot, _| Ok(vec![rmx::multiply(&cot[0], 2.0)?]));
/// let g = rmx::grad(move |a| Ok(vec![rmx::sum(&f(a)?[0], rmx::Axes::All, false)?]), &[0]);
/// assert_eq!(g(&[Array::from_slice(&[1.0f32, 5.0], &[2])?])?[0].to_vec::<f32>()?, vec![2.0, 2.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn custom_vjp<F, R>(f: F, rule: R) -> impl Fn(&[Array]) -> Result<Vec<Array>>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
    R: Fn(&[Array], &[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
{
    let rule: VjpRule = Arc::new(rule);
    move |primals: &[Array]| {
        let computed = f(primals)?;
        let specs: Vec<(Vec<usize>, Dtype)> = computed.iter().map(|o| (o.shape().to_vec(), o.dtype())).collect();
        // The rule replaces f's graph in reverse mode: stop the tape at f's outputs, so it
        // neither walks f's graph (with zero cotangents) nor needs its primitives' rules.
        let mut inputs = primals.to_vec();
        for c in &computed {
            inputs.push(crate::stop_gradient(c)?);
        }
        let node = CustomVjp { primals: primals.len(), rule: Arc::clone(&rule) };
        Ok(Array::multi_from_primitive(specs, Arc::new(node), inputs))
    }
}

/// Gradient checkpointing: the forward pass of `f` keeps only its inputs and outputs, and
/// the backward pass recomputes `f` to differentiate it (less memory, more compute).
pub fn checkpoint<F>(f: F) -> impl Fn(&[Array]) -> Result<Vec<Array>>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + Clone + 'static,
{
    let recompute = f.clone();
    custom_vjp(f, move |primals, cotangents, _| Ok(super::vjp(&recompute, primals, cotangents)?.1))
}

fn basis(n: usize, dtype: Dtype) -> Result<Array> {
    crate::eye(n, None, 0, dtype)
}

/// Output 0 of `f` as a function of argument `argnum` alone (the others held at `args`).
fn output0_of<'a, F>(f: &'a F, args: &'a [Array], argnum: usize) -> impl Fn(&[Array]) -> Result<Vec<Array>> + 'a
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    move |xi: &[Array]| {
        let mut full = args.to_vec();
        full[argnum] = xi[0].clone();
        Ok(vec![f(&full)?.swap_remove(0)])
    }
}

/// The Jacobian of output 0 of `f` with respect to input `argnum` by reverse mode (one vjp
/// per output element, vectorised with `vmap`): shape `output.shape ++ input.shape`.
pub fn jacrev<F>(f: F, argnum: usize) -> impl Fn(&[Array]) -> Result<Array>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    move |args: &[Array]| {
        let x = args.get(argnum).ok_or_else(|| Error::arg("jacrev", format!("argnum {argnum} out of range")))?;
        let with = output0_of(&f, args, argnum);
        let y = with(std::slice::from_ref(x))?.swap_remove(0);
        let rows = basis(y.size(), y.dtype())?;
        let pull = |c: &[Array]| -> Result<Vec<Array>> {
            let cot = crate::reshape_to(&c[0], y.shape())?;
            super::vjp(&with, std::slice::from_ref(x), &[cot]).map(|(_, g)| g)
        };
        let jac = super::vmap(pull, &[Some(0)], &[Some(0)])(&[rows])?.swap_remove(0);
        crate::reshape_to(&jac, &[y.shape(), x.shape()].concat())
    }
}

/// The Jacobian of output 0 of `f` with respect to input `argnum` by forward mode (one jvp
/// per input element, vectorised with `vmap`): shape `output.shape ++ input.shape`.
pub fn jacfwd<F>(f: F, argnum: usize) -> impl Fn(&[Array]) -> Result<Array>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    move |args: &[Array]| {
        let x = args.get(argnum).ok_or_else(|| Error::arg("jacfwd", format!("argnum {argnum} out of range")))?;
        let with = output0_of(&f, args, argnum);
        let y = with(std::slice::from_ref(x))?.swap_remove(0);
        let columns = basis(x.size(), x.dtype())?;
        let push = |t: &[Array]| -> Result<Vec<Array>> {
            let tangent = crate::reshape_to(&t[0], x.shape())?;
            super::jvp(&with, std::slice::from_ref(x), &[tangent]).map(|(_, j)| j)
        };
        // [input elements, *output shape] -> move the input axis last.
        let jac = super::vmap(push, &[Some(0)], &[Some(y.ndim())])(&[columns])?.swap_remove(0);
        crate::reshape_to(&jac, &[y.shape(), x.shape()].concat())
    }
}

/// The Hessian of the scalar output 0 of `f` with respect to input `argnum`:
/// `jacfwd(jacrev(f))`, shape `input.shape ++ input.shape`.
pub fn hessian<F>(f: F, argnum: usize) -> impl Fn(&[Array]) -> Result<Array>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    let gradient = jacrev(f, argnum);
    jacfwd(move |a: &[Array]| Ok(vec![gradient(a)?]), argnum)
}
