//! Forward mode: `jvp`.
//!
//! The Jacobian-vector product is obtained by transposing the (linear) vector-Jacobian
//! product: `u ↦ vjp(f, x, u)` is linear in `u`, so differentiating it with respect to `u`
//! and pulling `t` back gives `J t`. Every primitive with a vjp rule therefore has forward
//! mode, and forward mode composes with reverse mode and with itself.

use crate::array::Array;
use crate::error::{Error, Result};

/// Runs `f` on `primals` and pushes `tangents` (one per primal, shaped like it) forward.
/// Returns `(outputs, tangents of the outputs)`.
///
/// ```
/// use rmx::Array;
/// let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// let t = Array::from_slice(&[1.0f32, 0.5], &[2])?;
/// let (out, tangent) = rmx::jvp(|a| Ok(vec![rmx::multiply(&a[0], &a[0])?]), &[x], &[t])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![1.0, 4.0]);
/// assert_eq!(tangent[0].to_vec::<f32>()?, vec![2.0, 2.0]); // 2x * t
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn jvp<F>(f: F, primals: &[Array], tangents: &[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: Fn(&[Array]) -> Result<Vec<Array>>,
{
    if primals.len() != tangents.len() {
        return Err(Error::arg("jvp", format!("{} tangents for {} primals", tangents.len(), primals.len())));
    }
    for (i, (p, t)) in primals.iter().zip(tangents).enumerate() {
        if p.shape() != t.shape() {
            return Err(Error::shapes_detail("jvp", &[p.shape(), t.shape()], format!("tangent {i} must have the shape of primal {i}")));
        }
    }
    let outputs = f(primals)?;
    // Dummy cotangents: the pull-back is linear in them, so their values do not matter.
    let dummies: Vec<Array> = outputs.iter().map(|o| crate::zeros(o.shape(), o.dtype())).collect::<Result<_>>()?;
    let pull = |u: &[Array]| -> Result<Vec<Array>> { Ok(super::vjp(&f, primals, u)?.1) };
    let (_, pushed) = super::vjp(pull, &dummies, tangents)?;
    Ok((outputs, pushed))
}
