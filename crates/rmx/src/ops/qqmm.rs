//! `qqmm`: matrix products with both operands quantized (MLX's activation quantization, modes
//! nvfp4 and mxfp8), and their gradients.
//!
//! The forward pass quantizes `x` along its last axis and `w` (unless it comes packed) and
//! multiplies the dequantized values in float32. The reverse pass is MLX's: each gradient is
//! itself a `qqmm`, quantizing along the new contraction axis — `dx = qqmm(c, wᵀ)` and
//! `dw = qqmm(cᵀ, xᵀ)` for the cotangent `c` — and, when the forward pass used nvfp4 global
//! scales, the cotangent gets `max |c|` as its own. Contraction lengths that are not a whole
//! number of groups (a batch of rows in `dw`, the output width in `dx`) are padded with
//! zeros, which quantize to zero and add nothing.

use super::quantized::{check_float, check_global_scale, check_mode, dequantize_impl, quantize_impl, QuantMode};
use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};

/// `quantize(x) @ quantize(w).T` with both operands quantized (MLX's `qqmm`, modes `Nvfp4` and
/// `Mxfp8`): `x` (`[..., K]`) is quantized along its last axis on the fly, and so is `w`
/// (`[N, K]`) unless `scales` is given (then `w` is already packed). The product is computed
/// in float32 over the quantized values and returned in `x`'s dtype.
///
/// Differentiable with respect to `x` and a float `w` as MLX defines it (each gradient is a
/// `qqmm` of the cotangent, see the module doc); a packed `w` and its scales get zero.
///
/// ```
/// let x = rmx::ones(&[1, 32], rmx::Dtype::F32)?;
/// let w = rmx::full(&[4, 32], 0.5, rmx::Dtype::F32)?;
/// let y = rmx::qqmm(&x, &w, None, 32, 8, rmx::QuantMode::Mxfp8)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![16.0; 4]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn qqmm(x: &Array, w: &Array, scales: Option<&Array>, group_size: usize, bits: u32, mode: QuantMode) -> Result<Array> {
    qqmm_with_global_scales(x, w, scales, None, None, group_size, bits, mode)
}

/// [`qqmm`] with nvfp4's per-tensor global scales (MLX's `global_scale_x` and
/// `global_scale_w`, float32 scalars): each operand's groups are scaled relative to its
/// global scale (see [`crate::quantize_with_global_scale`]). A packed `w` must have been
/// quantized with `global_scale_w`.
///
/// ```
/// let x = rmx::ones(&[2, 16], rmx::Dtype::F32)?;
/// let w = rmx::full(&[3, 16], 0.25, rmx::Dtype::F32)?;
/// let g = rmx::Array::scalar(1.0f32);
/// let y = rmx::qqmm_with_global_scales(&x, &w, None, Some(&g), Some(&g), 16, 4, rmx::QuantMode::Nvfp4)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![4.0; 6]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[allow(clippy::too_many_arguments)] // MLX's argument list
pub fn qqmm_with_global_scales(
    x: &Array,
    w: &Array,
    scales: Option<&Array>,
    global_scale_x: Option<&Array>,
    global_scale_w: Option<&Array>,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
) -> Result<Array> {
    let op = "qqmm";
    if !matches!(mode, QuantMode::Nvfp4 | QuantMode::Mxfp8) {
        return Err(Error::arg(op, format!("both operands quantize only in modes Nvfp4 and Mxfp8, not {mode:?}")));
    }
    check_mode(op, mode, group_size, bits)?;
    check_float(op, x, "x")?;
    if scales.is_none() {
        check_float(op, w, "w")?;
    }
    for g in [global_scale_x, global_scale_w].into_iter().flatten() {
        check_global_scale(op, mode, g)?;
    }
    let k = x.shape().last().copied().unwrap_or(0);
    let n = if scales.is_none() && w.ndim() == 2 && w.shape()[1] == k { Some(w.shape()[0]) } else { None };
    let packed_ok = scales.is_some() && w.ndim() == 2 && w.shape()[1] * 32 == k * bits as usize;
    if x.ndim() == 0 || (n.is_none() && !packed_ok) {
        return Err(Error::shapes_detail(op, &[x.shape(), w.shape()], format!("w must be [N, {k}] (x's last axis), or packed from it")));
    }
    let plan = Plan {
        format: Format { group_size, bits, mode },
        packed: scales.is_some(),
        global_x: global_scale_x.is_some(),
        global_w: global_scale_w.is_some(),
    };
    let primals: Vec<Array> = [Some(x), Some(w), scales, global_scale_x, global_scale_w].into_iter().flatten().cloned().collect();
    let f = crate::custom_vjp(move |p| Ok(vec![plan.forward(p)?]), move |p, c, _| plan.backward(p, &c[0]));
    Ok(f(&primals)?.swap_remove(0))
}

/// The quantization format shared by both operands.
#[derive(Clone, Copy, Debug)]
struct Format {
    group_size: usize,
    bits: u32,
    mode: QuantMode,
}

impl Format {
    /// `dequantize(quantize(a))` along the last axis of a 2-d `a`, in float32.
    fn round_trip(self, a: &Array, global: Option<&Array>) -> Result<Array> {
        let (q, s, _) = quantize_impl(a, self.group_size, self.bits, self.mode, global)?;
        self.dequantize(&q, &s, global)
    }

    fn dequantize(self, q: &Array, s: &Array, global: Option<&Array>) -> Result<Array> {
        dequantize_impl(q, s, None, self.group_size, self.bits, self.mode, global, Some(Dtype::F32))
    }

    /// `round_trip(a) @ round_trip(b)ᵀ` for `a [M, L]`, `b [N, L]`, with `L` zero-padded to
    /// whole groups.
    fn product(self, a: &Array, b: &Array, global_a: Option<&Array>, global_b: Option<&Array>) -> Result<Array> {
        let length = a.shape()[1];
        let pad = length.next_multiple_of(self.group_size) - length;
        let widen = |t: &Array| crate::pad(t, &[(0, 0), (0, pad)], crate::PadMode::Constant(0.0));
        let (a, b) = if pad > 0 { (widen(a)?, widen(b)?) } else { (a.clone(), b.clone()) };
        crate::matmul(&self.round_trip(&a, global_a)?, &crate::swapaxes(&self.round_trip(&b, global_b)?, 0, 1)?)
    }
}

/// Which optional inputs a `qqmm` call has; its primals are `[x, w, scales?, global_x?,
/// global_w?]` in that order.
#[derive(Clone, Copy, Debug)]
struct Plan {
    format: Format,
    packed: bool,
    global_x: bool,
    global_w: bool,
}

/// The named primals of one call.
struct Operands<'a> {
    x: &'a Array,
    w: &'a Array,
    scales: Option<&'a Array>,
    global_x: Option<&'a Array>,
    global_w: Option<&'a Array>,
}

impl Plan {
    fn operands<'a>(&self, p: &'a [Array]) -> Operands<'a> {
        let mut rest = p[2..].iter();
        let mut next = |present: bool| if present { rest.next() } else { None };
        let scales = next(self.packed);
        let global_x = next(self.global_x);
        let global_w = next(self.global_w);
        Operands { x: &p[0], w: &p[1], scales, global_x, global_w }
    }

    /// `w` as float32 `[N, K]`: dequantized when packed.
    fn float_weight(&self, o: &Operands) -> Result<Array> {
        match o.scales {
            Some(s) => self.format.dequantize(o.w, s, o.global_w),
            None => crate::astype(o.w, Dtype::F32),
        }
    }

    fn forward(&self, p: &[Array]) -> Result<Array> {
        let o = self.operands(p);
        let k = o.x.shape()[o.x.ndim() - 1];
        let x2 = crate::reshape_to(o.x, &[o.x.size() / k.max(1), k])?;
        let w = match o.scales {
            Some(_) => self.float_weight(&o)?,
            None => self.format.round_trip(o.w, o.global_w)?,
        };
        let xq = self.format.round_trip(&x2, o.global_x)?;
        let y = crate::matmul(&xq, &crate::swapaxes(&w, 0, 1)?)?;
        let mut shape = o.x.shape().to_vec();
        *shape.last_mut().expect("x has a last axis") = w.shape()[0];
        crate::astype(&crate::reshape_to(&y, &shape)?, o.x.dtype())
    }

    /// MLX's reverse rule: `dx = qqmm(c, wᵀ)`, `dw = qqmm(cᵀ, xᵀ)`, the cotangent carrying
    /// `max |c|` as its global scale when the forward pass had any.
    fn backward(&self, p: &[Array], cotangent: &Array) -> Result<Vec<Array>> {
        let o = self.operands(p);
        let w = self.float_weight(&o)?;
        let (n, k) = (w.shape()[0], w.shape()[1]);
        let rows = o.x.size() / k.max(1);
        let c = crate::astype(&crate::reshape_to(cotangent, &[rows, n])?, Dtype::F32)?;
        let x = crate::astype(&crate::reshape_to(o.x, &[rows, k])?, Dtype::F32)?;
        let global_c = match self.global_x || self.global_w {
            true => Some(crate::max(&crate::abs(&c)?, crate::Axes::All, false)?),
            false => None,
        };
        let transposed = |a: &Array| crate::contiguous(&crate::swapaxes(a, 0, 1)?);
        let dx = self.format.product(&c, &transposed(&w)?, global_c.as_ref(), o.global_w)?;
        let dx = crate::astype(&crate::reshape_to(&dx, o.x.shape())?, o.x.dtype())?;
        let dw = match self.packed {
            true => crate::zeros_like(o.w)?,
            false => crate::astype(&self.format.product(&transposed(&c)?, &transposed(&x)?, global_c.as_ref(), o.global_x)?, o.w.dtype())?,
        };
        let mut grads = vec![dx, dw];
        for other in &p[2..] {
            grads.push(crate::zeros_like(other)?);
        }
        Ok(grads)
    }
}
