//! Quantized weights in MLX's formats: `quantize`, `dequantize` and `quantized_matmul`.
//!
//! Affine mode packs each row of `w [..., N, K]` into `K * bits / 32` uint32 words (one
//! LSB-first bit stream per row) with one scale and one bias per group of `group_size`
//! values, byte-identical to `mx.quantize` (so mlx-community checkpoints load as they are).
//! The floating-point modes (`mxfp4`, `mxfp8`, `nvfp4`) pack E2M1 or E4M3 codes the same way
//! with one `uint8` scale per group and no biases, also byte-identical to MLX.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::fp_quantized::{FpDequantize, FpQuantize, FpQuantizedMatmul};
use crate::primitive::quantized::{AffineDequantize, AffineQuantize, QuantizedMatmul};
use std::sync::Arc;

/// A quantization format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantMode {
    /// `w ≈ scale * q + bias` per group, q unsigned of `bits` bits (MLX's default).
    Affine,
    /// OCP MX fp4 (E2M1) with E8M0 scales per 32 values.
    Mxfp4,
    /// OCP MX fp8 (E4M3) with E8M0 scales per 32 values.
    Mxfp8,
    /// NVIDIA fp4 (E2M1) with E4M3 scales per 16 values.
    Nvfp4,
}

pub use crate::backend::cpu::qmv_integer::{int8_activations, set_int8_activations};

/// Largest row count `quantized_matmul` serves with its matrix-vector kernel; larger
/// products dequantize once and use the matmul kernel.
const MATVEC_MAX_ROWS: usize = 16;

impl QuantMode {
    /// The group size and bits a floating-point mode fixes (`None` for affine, which takes
    /// groups of 32, 64, 128 and 2–8 bits).
    pub fn fixed_format(self) -> Option<(usize, u32)> {
        match self {
            QuantMode::Affine => None,
            QuantMode::Mxfp4 => Some((32, 4)),
            QuantMode::Mxfp8 => Some((32, 8)),
            QuantMode::Nvfp4 => Some((16, 4)),
        }
    }
}

pub(super) fn check_mode(op: &'static str, mode: QuantMode, group_size: usize, bits: u32) -> Result<()> {
    if let Some((g, b)) = mode.fixed_format() {
        if (group_size, bits) != (g, b) {
            return Err(Error::arg(op, format!("mode {mode:?} needs group_size {g} and bits {b}, got {group_size} and {bits}")));
        }
        return Ok(());
    }
    if ![32, 64, 128].contains(&group_size) {
        return Err(Error::arg(op, format!("group_size must be 32, 64 or 128, got {group_size}")));
    }
    if ![2, 3, 4, 5, 6, 8].contains(&bits) {
        return Err(Error::arg(op, format!("bits must be 2, 3, 4, 5, 6 or 8, got {bits}")));
    }
    Ok(())
}

/// nvfp4's global scale: a float32 scalar, for that mode only.
pub(super) fn check_global_scale(op: &'static str, mode: QuantMode, global_scale: &Array) -> Result<()> {
    if mode != QuantMode::Nvfp4 {
        return Err(Error::arg(op, format!("a global scale is only valid in mode Nvfp4, not {mode:?}")));
    }
    if global_scale.dtype() != Dtype::F32 || global_scale.size() != 1 {
        return Err(Error::dtype_detail(
            op,
            global_scale.dtype(),
            format!("the global scale must be one float32 (shape {:?})", global_scale.shape()),
        ));
    }
    Ok(())
}

/// Checks that `a` (named `what`) is float32, float16 or bfloat16.
pub(super) fn check_float(op: &'static str, a: &Array, what: &str) -> Result<()> {
    if matches!(a.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
        Ok(())
    } else {
        Err(Error::dtype_detail(op, a.dtype(), format!("{what} must be float32, float16 or bfloat16")))
    }
}

fn with_last(shape: &[usize], last: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    *s.last_mut().expect("ndim >= 1") = last;
    s
}

/// Quantizes `w` (`[..., N, K]`, float32/float16/bfloat16, `K` a multiple of `group_size`)
/// along its last axis. Returns the packed words (`uint32 [..., N, K*bits/32]`), the scales
/// and, in affine mode, the biases (both `[..., N, K/group_size]` in `w`'s dtype).
///
/// ```
/// let w = rmx::reshape(&rmx::arange(0.0, 64.0, 1.0, rmx::Dtype::F32)?, &[2, 32])?;
/// let (wq, scales, biases) = rmx::quantize(&w, 32, 4, rmx::QuantMode::Affine)?;
/// assert_eq!((wq.shape(), scales.shape()), (&[2, 4][..], &[2, 1][..]));
/// let back = rmx::dequantize(&wq, &scales, biases.as_ref(), 32, 4, rmx::QuantMode::Affine, None)?;
/// let err = rmx::max(&rmx::abs(&rmx::subtract(&back, &w)?)?, rmx::Axes::All, false)?;
/// assert!(err.item::<f32>()? <= 1.1); // half a step of 31/15
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn quantize(w: &Array, group_size: usize, bits: u32, mode: QuantMode) -> Result<(Array, Array, Option<Array>)> {
    quantize_impl(w, group_size, bits, mode, None)
}

/// [`quantize`] in mode `Nvfp4` with a float32 global scale: the group scales are stored
/// relative to `global_scale / (448 · 6)`, widening their range (MLX's `global_scale=`).
///
/// ```
/// let w = rmx::reshape(&rmx::arange(-16.0, 16.0, 1.0, rmx::Dtype::F32)?, &[1, 32])?;
/// let g = rmx::Array::from_slice(&[16.0f32], &[])?;
/// let (wq, scales, _) = rmx::quantize_with_global_scale(&w, 16, 4, rmx::QuantMode::Nvfp4, &g)?;
/// let back = rmx::dequantize_with_global_scale(&wq, &scales, 16, 4, rmx::QuantMode::Nvfp4, &g, None)?;
/// assert_eq!(back.shape(), &[1, 32]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn quantize_with_global_scale(
    w: &Array,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
    global_scale: &Array,
) -> Result<(Array, Array, Option<Array>)> {
    check_global_scale("quantize", mode, global_scale)?;
    quantize_impl(w, group_size, bits, mode, Some(global_scale))
}

pub(super) fn quantize_impl(
    w: &Array,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
    global_scale: Option<&Array>,
) -> Result<(Array, Array, Option<Array>)> {
    let op = "quantize";
    check_mode(op, mode, group_size, bits)?;
    check_float(op, w, "weights")?;
    let k = if w.ndim() >= 2 { w.shape()[w.ndim() - 1] } else { 0 };
    if w.ndim() < 2 || k % group_size != 0 {
        return Err(Error::shapes_detail(op, &[w.shape()], format!("need ndim >= 2 and a last axis divisible by group_size {group_size}")));
    }
    let wf = crate::contiguous(&crate::astype(w, Dtype::F32)?)?;
    let packed = with_last(w.shape(), k * bits as usize / 32);
    let groups = with_last(w.shape(), k / group_size);
    if mode != QuantMode::Affine {
        let global = global_scale.map(|g| crate::reshape_to(g, &[])).transpose()?;
        let inputs = std::iter::once(wf).chain(global).collect();
        let outs = Array::multi_from_primitive(vec![(packed, Dtype::U32), (groups, Dtype::U8)], Arc::new(FpQuantize { mode }), inputs);
        return Ok((outs[0].clone(), outs[1].clone(), None));
    }
    let outs = Array::multi_from_primitive(
        vec![(packed, Dtype::U32), (groups.clone(), Dtype::F32), (groups, Dtype::F32)],
        Arc::new(AffineQuantize { group_size, bits }),
        vec![wf],
    );
    Ok((outs[0].clone(), crate::astype(&outs[1], w.dtype())?, Some(crate::astype(&outs[2], w.dtype())?)))
}

/// Checks packed weights against their scales and biases (affine) or scale bytes (the
/// floating-point modes, which take no biases); returns the unpacked width `K`.
fn check_packed(
    op: &'static str,
    wq: &Array,
    scales: &Array,
    biases: Option<&Array>,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
) -> Result<usize> {
    if wq.dtype() != Dtype::U32 {
        return Err(Error::dtype_detail(op, wq.dtype(), "packed weights must be uint32"));
    }
    let affine = mode == QuantMode::Affine;
    let biases = match (biases, affine) {
        (None, true) => return Err(Error::arg(op, "affine mode needs biases")),
        (Some(_), false) => return Err(Error::arg(op, format!("mode {mode:?} takes no biases"))),
        (b, _) => b,
    };
    let nd = wq.ndim();
    let k = wq.shape().last().copied().unwrap_or(0) * 32 / bits as usize;
    let fits = nd >= 2
        && scales.ndim() == nd
        && scales.shape()[..nd - 1] == wq.shape()[..nd - 1]
        && scales.shape()[nd - 1] * group_size == k
        && biases.is_none_or(|b| b.shape() == scales.shape());
    if !fits {
        let shapes: Vec<&[usize]> = [Some(wq), Some(scales), biases].into_iter().flatten().map(Array::shape).collect();
        let what = if affine { "scales and biases" } else { "scales" };
        return Err(Error::shapes_detail(op, &shapes, format!("{what} must be [..., K/{group_size}] for packed [..., K*{bits}/32]")));
    }
    match biases {
        None if scales.dtype() != Dtype::U8 => Err(Error::dtype_detail(op, scales.dtype(), format!("mode {mode:?} scales must be uint8"))),
        Some(b) if !matches!(scales.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) || b.dtype() != scales.dtype() => {
            Err(Error::dtype_detail(op, scales.dtype(), format!("scales and biases must share a float dtype (biases are {})", b.dtype())))
        }
        _ => Ok(k),
    }
}

/// Rebuilds `w` from [`quantize`]'s outputs: `scale * q + bias` per group (affine) or
/// `value(q) * scale` (floating-point modes), in `dtype` (default, as MLX: the scales' dtype
/// for affine, bfloat16 for the floating-point modes).
pub fn dequantize(
    wq: &Array,
    scales: &Array,
    biases: Option<&Array>,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
    dtype: Option<Dtype>,
) -> Result<Array> {
    dequantize_impl(wq, scales, biases, group_size, bits, mode, None, dtype)
}

/// [`dequantize`] of nvfp4 weights quantized with a global scale
/// ([`quantize_with_global_scale`]); float32 by default, as MLX.
pub fn dequantize_with_global_scale(
    wq: &Array,
    scales: &Array,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
    global_scale: &Array,
    dtype: Option<Dtype>,
) -> Result<Array> {
    check_global_scale("dequantize", mode, global_scale)?;
    dequantize_impl(wq, scales, None, group_size, bits, mode, Some(global_scale), dtype)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn dequantize_impl(
    wq: &Array,
    scales: &Array,
    biases: Option<&Array>,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
    global_scale: Option<&Array>,
    dtype: Option<Dtype>,
) -> Result<Array> {
    let op = "dequantize";
    check_mode(op, mode, group_size, bits)?;
    let k = check_packed(op, wq, scales, biases, group_size, bits, mode)?;
    let shape = with_last(wq.shape(), k);
    let w = match biases {
        Some(biases) => {
            let inputs = vec![crate::contiguous(wq)?, crate::contiguous(scales)?, crate::contiguous(biases)?];
            Array::from_primitive(shape, Dtype::F32, Arc::new(AffineDequantize { group_size, bits }), inputs)
        }
        None => {
            let global = global_scale.map(|g| crate::reshape_to(g, &[])).transpose()?;
            let inputs = [crate::contiguous(wq)?, crate::contiguous(scales)?].into_iter().chain(global).collect();
            Array::from_primitive(shape, Dtype::F32, Arc::new(FpDequantize { mode }), inputs)
        }
    };
    // MLX: the scales' dtype (affine), the global scale's (float32), else bfloat16.
    let default = match (mode, global_scale) {
        (QuantMode::Affine, _) => scales.dtype(),
        (_, Some(g)) => g.dtype(),
        _ => Dtype::BF16,
    };
    crate::astype(&w, dtype.unwrap_or(default))
}

/// `x @ dequantize(w).T` (with `transpose`, the `nn.Linear` layout `w [N, K]`) or
/// `x @ dequantize(w)` (`w [K, N]`), for `x [..., M, K]`. The result has `x`'s dtype.
/// Products of few rows (decode) read the packed weights once without dequantizing them.
#[allow(clippy::too_many_arguments)]
pub fn quantized_matmul(
    x: &Array,
    wq: &Array,
    scales: &Array,
    biases: Option<&Array>,
    transpose: bool,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
) -> Result<Array> {
    let op = "quantized_matmul";
    check_mode(op, mode, group_size, bits)?;
    let k_packed = check_packed(op, wq, scales, biases, group_size, bits, mode)?;
    check_float(op, x, "x")?;
    let nd = wq.ndim();
    let (k_w, n) = if transpose { (k_packed, wq.shape()[nd - 2]) } else { (wq.shape()[nd - 2], k_packed) };
    let k = x.shape().last().copied().unwrap_or(0);
    if x.ndim() < 1 || k != k_w {
        return Err(Error::shapes_detail(
            op,
            &[x.shape(), wq.shape()],
            format!("x's last axis must be {k_w} (w holds {n} x {k_w} when transposed)"),
        ));
    }
    let rows = x.size() / k.max(1);
    let decode_sized = transpose && nd == 2 && rows <= MATVEC_MAX_ROWS;
    let y = if decode_sized && mode != QuantMode::Affine {
        // The kernel reads x and writes the result in x's float dtype.
        let x2 = crate::contiguous(&crate::reshape_to(x, &[rows, k])?)?;
        let inputs = vec![x2, crate::contiguous(wq)?, crate::contiguous(scales)?];
        let y = Array::from_primitive(vec![rows, n], x.dtype(), Arc::new(FpQuantizedMatmul { mode }), inputs);
        crate::reshape_to(&y, &with_last(x.shape(), n))?
    } else if decode_sized {
        // The kernel reads x and writes the result in x's float dtype.
        let x = if matches!(x.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) { x.clone() } else { crate::astype(x, Dtype::F32)? };
        let x2 = crate::contiguous(&crate::reshape_to(&x, &[rows, k])?)?;
        let inputs = vec![x2, crate::contiguous(wq)?, crate::contiguous(scales)?, crate::contiguous(biases.expect("checked"))?];
        let y = Array::from_primitive(
            vec![rows, n],
            x.dtype(),
            Arc::new(QuantizedMatmul {
                group_size,
                bits,
                integer_input: matches!(x.dtype(), Dtype::F16 | Dtype::BF16) || crate::backend::cpu::qmv_integer::int8_activations(),
                int8_activations: crate::backend::cpu::qmv_integer::int8_activations(),
            }),
            inputs,
        );
        crate::reshape_to(&y, &with_last(x.shape(), n))?
    } else {
        let w = dequantize(wq, scales, biases, group_size, bits, mode, Some(Dtype::F32))?;
        let w = if transpose { crate::swapaxes(&w, -1, -2)? } else { w };
        crate::matmul(&crate::astype(x, Dtype::F32)?, &w)?
    };
    crate::astype(&y, x.dtype())
}

/// The quantized [`gather_mm`](crate::gather_mm), the mixture-of-experts product:
/// `take(x, lhs_indices) @ dequantize(take(w, rhs_indices)).T` (with `transpose`) over the
/// flattened batch dimensions of `x` (`[..., M, K]`) and of the packed experts `w`
/// (`[E, N, K*bits/32]`). The index arrays broadcast together; the result has their shape
/// followed by `[M, N]` and `x`'s dtype. Only the experts the indices name are dequantized.
#[allow(clippy::too_many_arguments)]
pub fn gather_qmm(
    x: &Array,
    wq: &Array,
    scales: &Array,
    biases: Option<&Array>,
    lhs_indices: Option<&Array>,
    rhs_indices: Option<&Array>,
    transpose: bool,
    group_size: usize,
    bits: u32,
    mode: QuantMode,
) -> Result<Array> {
    let op = "gather_qmm";
    check_mode(op, mode, group_size, bits)?;
    check_packed(op, wq, scales, biases, group_size, bits, mode)?;
    if wq.ndim() < 3 {
        return Err(Error::shapes_detail(op, &[wq.shape()], "packed experts must be [..., E, N, K*bits/32]"));
    }
    check_float(op, x, "x")?;
    // Dequantize only the experts in use: select them first, then index the selection.
    let (w, rhs) = match rhs_indices {
        Some(idx) if idx.dtype().is_integer() => {
            let experts: usize = wq.shape()[..wq.ndim() - 2].iter().product();
            let flat = |a: &Array| crate::reshape_to(a, &[&[experts][..], &a.shape()[a.ndim() - 2..]].concat());
            let order = crate::reshape_to(idx, &[idx.size()])?;
            let pick = |a: &Array| crate::take(&flat(a)?, &order, Some(0));
            let biases = biases.map(pick).transpose()?;
            let w = dequantize(&pick(wq)?, &pick(scales)?, biases.as_ref(), group_size, bits, mode, Some(Dtype::F32))?;
            let positions = crate::reshape_to(&crate::arange(0.0, idx.size() as f64, 1.0, Dtype::U32)?, idx.shape())?;
            (w, Some(positions))
        }
        Some(idx) => return Err(Error::dtype_detail(op, idx.dtype(), "indices must be integers")),
        None => (dequantize(wq, scales, biases, group_size, bits, mode, Some(Dtype::F32))?, None),
    };
    let w = if transpose { crate::swapaxes(&w, -1, -2)? } else { w };
    let y = crate::gather_mm(&crate::astype(x, Dtype::F32)?, &w, lhs_indices, rhs.as_ref())?;
    crate::astype(&y, x.dtype())
}
