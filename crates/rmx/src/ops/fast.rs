//! The fast ops of `mx.fast`: rms_norm, layer_norm, rope and scaled_dot_product_attention.
//! rms_norm, rope and decoding-sized attention run as single fused kernels for float32 and
//! half-precision inputs; their composed formulations (float64, larger attention, and the
//! fused kernels' reverse rules) are built from primitives. Statistics and softmax run in
//! float32 for half-precision inputs, as MLX does.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use std::sync::Arc;

fn compute_dtype(d: Dtype) -> Dtype {
    if d == Dtype::F64 {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

fn check_last(op: &'static str, x: &Array, p: Option<&Array>) -> Result<()> {
    if x.ndim() == 0 {
        return Err(Error::shapes_detail(op, &[x.shape()], "needs at least one dimension"));
    }
    if let Some(p) = p {
        if p.ndim() != 1 || p.shape()[0] != x.shape()[x.ndim() - 1] {
            return Err(Error::shapes_detail(op, &[x.shape(), p.shape()], "weight and bias must be 1-d and match the last axis"));
        }
    }
    Ok(())
}

/// `x / sqrt(mean(x^2) + eps) * weight` over the last axis.
///
/// ```
/// let x = rmx::Array::from_slice(&[3.0f32, 4.0], &[1, 2]).unwrap();
/// let y = rmx::rms_norm(&x, None, 0.0).unwrap().to_vec::<f32>().unwrap();
/// assert!((y[0] - 3.0 / 12.5f32.sqrt()).abs() < 1e-6);
/// ```
pub fn rms_norm(x: &Array, weight: Option<&Array>, eps: f64) -> Result<Array> {
    check_last("rms_norm", x, weight)?;
    if !matches!(x.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
        return rms_norm_by_ops(x, weight, eps);
    }
    let mut inputs = vec![x.clone()];
    if let Some(w) = weight {
        inputs.push(crate::astype(w, x.dtype())?);
    }
    Ok(Array::from_primitive(x.shape().to_vec(), x.dtype(), Arc::new(crate::primitive::rope_norm::RmsNorm { eps }), inputs))
}

/// [`rms_norm`] composed from primitives.
pub(crate) fn rms_norm_by_ops(x: &Array, weight: Option<&Array>, eps: f64) -> Result<Array> {
    let xf = crate::astype(x, compute_dtype(x.dtype()))?;
    let ms = crate::mean(&crate::square(&xf)?, -1, true)?;
    let y = crate::multiply(&xf, &crate::rsqrt(&crate::add(&ms, eps)?)?)?;
    let y = crate::astype(&y, x.dtype())?;
    match weight {
        Some(w) => crate::multiply(&y, &crate::astype(w, x.dtype())?),
        None => Ok(y),
    }
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last axis.
pub fn layer_norm(x: &Array, weight: Option<&Array>, bias: Option<&Array>, eps: f64) -> Result<Array> {
    check_last("layer_norm", x, weight)?;
    check_last("layer_norm", x, bias)?;
    let xf = crate::astype(x, compute_dtype(x.dtype()))?;
    let mu = crate::mean(&xf, -1, true)?;
    let centered = crate::subtract(&xf, &mu)?;
    let var = crate::mean(&crate::square(&centered)?, -1, true)?;
    let y = crate::astype(&crate::multiply(&centered, &crate::rsqrt(&crate::add(&var, eps)?)?)?, x.dtype())?;
    let y = match weight {
        Some(w) => crate::multiply(&y, &crate::astype(w, x.dtype())?)?,
        None => y,
    };
    match bias {
        Some(b) => crate::add(&y, &crate::astype(b, x.dtype())?),
        None => Ok(y),
    }
}

/// Rotary position embedding of the first `dims` features of the last axis of `x`
/// (`[..., T, D]`, positions `offset..offset + T` along axis -2). `traditional` rotates
/// consecutive pairs; the default rotates the two halves. Frequencies are
/// `base^(-2i/dims)` or, when given, `1 / freqs`; angles are scaled by `scale`.
pub fn rope(
    x: &Array,
    dims: usize,
    traditional: bool,
    base: Option<f64>,
    scale: f64,
    offset: usize,
    freqs: Option<&Array>,
) -> Result<Array> {
    check_rope(x, dims, base, freqs)?;
    let rope = crate::primitive::rope_norm::Rope { dims, traditional, base, scale, offset };
    if !matches!(x.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
        return rope_by_ops(x, &rope, freqs);
    }
    let mut inputs = vec![x.clone()];
    if let Some(f) = freqs {
        // The kernel reads the frequencies as float32.
        inputs.push(crate::astype(f, Dtype::F32)?);
    }
    Ok(Array::from_primitive(x.shape().to_vec(), x.dtype(), Arc::new(rope), inputs))
}

/// The shape, `dims` and frequency checks of [`rope`].
fn check_rope(x: &Array, dims: usize, base: Option<f64>, freqs: Option<&Array>) -> Result<()> {
    if x.ndim() < 2 {
        return Err(Error::shapes_detail("rope", &[x.shape()], "needs at least 2 dimensions [..., T, D]"));
    }
    let d = x.shape()[x.ndim() - 1];
    if !dims.is_multiple_of(2) || dims > d || dims == 0 {
        return Err(Error::arg("rope", format!("dims {dims} must be even, positive and at most the feature size {d}")));
    }
    match (freqs, base) {
        (Some(f), None) if f.shape() != [dims / 2] => {
            Err(Error::shapes_detail("rope", &[f.shape()], format!("freqs must have shape [{}]", dims / 2)))
        }
        (Some(_), None) | (None, Some(_)) => Ok(()),
        _ => Err(Error::arg("rope", "exactly one of base and freqs must be given")),
    }
}

/// [`rope`] composed from primitives, for arguments [`check_rope`] accepted.
pub(crate) fn rope_by_ops(x: &Array, rope: &crate::primitive::rope_norm::Rope, freqs: Option<&Array>) -> Result<Array> {
    let crate::primitive::rope_norm::Rope { dims, traditional, base, scale, offset } = *rope;
    let d = x.shape()[x.ndim() - 1];
    let t = x.shape()[x.ndim() - 2];
    let half = dims / 2;
    let inv_freq = match (freqs, base) {
        (Some(f), None) => crate::reciprocal(&crate::astype(f, Dtype::F32)?)?,
        (None, Some(b)) => {
            let i = crate::arange(0.0, half as f64, 1.0, Dtype::F32)?;
            crate::exp(&crate::multiply(&i, -2.0 * b.ln() / dims as f64)?)?
        }
        _ => unreachable!("check_rope requires exactly one of base and freqs"),
    };
    let pos = crate::arange(offset as f64, (offset + t) as f64, 1.0, Dtype::F32)?;
    let angles = crate::multiply(&crate::multiply(&crate::reshape_to(&pos, &[t, 1])?, &crate::reshape_to(&inv_freq, &[1, half])?)?, scale)?;
    let (cos, sin) = (crate::cos(&angles)?, crate::sin(&angles)?);
    let xf = crate::astype(x, compute_dtype(x.dtype()))?;
    let nd = x.ndim();
    let rot = crate::slice(&xf, &vec![0; nd], &with_last(x, dims), &vec![1; nd])?;
    let (x1, x2) = if traditional {
        let pairs = crate::reshape_to(&rot, &[&x.shape()[..nd - 1], &[half, 2]].concat())?;
        let parts = crate::split(&pairs, 2, -1)?;
        (crate::squeeze(&parts[0], Some(&[-1]))?, crate::squeeze(&parts[1], Some(&[-1]))?)
    } else {
        let parts = crate::split(&rot, 2, -1)?;
        (parts[0].clone(), parts[1].clone())
    };
    let r1 = crate::subtract(&crate::multiply(&x1, &cos)?, &crate::multiply(&x2, &sin)?)?;
    let r2 = crate::add(&crate::multiply(&x1, &sin)?, &crate::multiply(&x2, &cos)?)?;
    let rotated = if traditional {
        crate::reshape_to(&crate::stack(&[r1, r2], -1)?, &[&x.shape()[..nd - 1], &[dims]].concat())?
    } else {
        crate::concatenate(&[r1, r2], -1)?
    };
    let out = if dims < d {
        let mut starts = vec![0isize; nd];
        starts[nd - 1] = dims as isize;
        let rest = crate::slice(&xf, &starts, &with_last(x, d), &vec![1; nd])?;
        crate::concatenate(&[rotated, rest], -1)?
    } else {
        rotated
    };
    crate::astype(&out, x.dtype())
}

fn with_last(x: &Array, last: usize) -> Vec<isize> {
    let mut s: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    *s.last_mut().expect("nonempty") = last as isize;
    s
}

/// An attention mask.
#[derive(Clone, Debug)]
pub enum AttentionMask {
    /// Query `i` sees keys `j <= i + (Tk - Tq)` (aligned to the lower right, as MLX).
    Causal,
    /// Boolean (true = attend) or additive mask broadcastable to `[B, Nq, Tq, Tk]`.
    Array(Array),
}

/// `softmax(q k^T * scale + mask) v` with `q: [B, Nq, Tq, D]`, `k, v: [B, Nkv, Tk, D]`;
/// `Nq` must be a multiple of `Nkv` (grouped-query attention without tiling the keys).
/// `sinks` (`[Nq]`) adds one logit per head to each softmax denominator. The softmax runs in
/// float32.
pub fn scaled_dot_product_attention(
    q: &Array,
    k: &Array,
    v: &Array,
    scale: f64,
    mask: Option<&AttentionMask>,
    sinks: Option<&Array>,
) -> Result<Array> {
    let op = "scaled_dot_product_attention";
    if q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4 {
        return Err(Error::shapes_detail(op, &[q.shape(), k.shape(), v.shape()], "q, k and v must be [B, N, T, D]"));
    }
    let (b, nq, tq, dq) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (nkv, tk) = (k.shape()[1], k.shape()[2]);
    if k.shape()[3] != dq || v.shape()[1] != nkv || v.shape()[2] != tk || k.shape()[0] != v.shape()[0] || nkv == 0 || nq % nkv != 0 {
        return Err(Error::shapes_detail(
            op,
            &[q.shape(), k.shape(), v.shape()],
            "key/value heads must divide query heads and shapes must agree",
        ));
    }
    let fused_dtype = matches!(q.dtype(), Dtype::F32 | Dtype::BF16 | Dtype::F16) && k.dtype() == q.dtype() && v.dtype() == q.dtype();
    if fused_dtype && tq <= FUSED_MAX_QUERIES && sinks.is_none() && matches!(mask, None | Some(AttentionMask::Causal)) {
        let out_shape = vec![b, nq, tq, v.shape()[3]];
        let causal = mask.is_some() && tq > 1;
        let node = Arc::new(crate::primitive::attention::DecodeAttention { scale, causal });
        return Ok(Array::from_primitive(out_shape, q.dtype(), node, vec![q.clone(), k.clone(), v.clone()]));
    }
    attention_by_matmul(q, k, v, scale, mask, sinks)
}

/// [`scaled_dot_product_attention`] over MLX-affine-quantized keys and values (`[packed,
/// scales, biases]` each, quantized along the head size as [`quantize`](crate::quantize) does;
/// what a quantized KV cache holds). Few query positions with no mask or a causal one run a
/// fused kernel that dequantizes each key and value row as it reads it (the cache is read in
/// its packed size); other cases dequantize to `q`'s dtype first. The result has `q`'s dtype.
///
/// ```
/// use rmx::{Dtype, QuantMode};
/// let q = rmx::random::normal(&[1, 4, 1, 64], Dtype::F32, 0.0, 1.0, None)?;
/// let k = rmx::random::normal(&[1, 2, 10, 64], Dtype::F32, 0.0, 1.0, None)?;
/// let (kq, ks, kb) = rmx::quantize(&k, 32, 8, QuantMode::Affine)?;
/// let (vq, vs, vb) = rmx::quantize(&k, 32, 8, QuantMode::Affine)?;
/// let (kb, vb) = (kb.unwrap(), vb.unwrap());
/// let out = rmx::quantized_scaled_dot_product_attention(&q, [&kq, &ks, &kb], [&vq, &vs, &vb], 0.125, None, 32, 8)?;
/// assert_eq!(out.shape(), &[1, 4, 1, 64]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn quantized_scaled_dot_product_attention(
    q: &Array,
    keys: [&Array; 3],
    values: [&Array; 3],
    scale: f64,
    mask: Option<&AttentionMask>,
    group_size: usize,
    bits: u32,
) -> Result<Array> {
    let op = "quantized_scaled_dot_product_attention";
    let d = q.shape().last().copied().unwrap_or(0);
    for [packed, scales, biases] in [keys, values] {
        let ok = q.ndim() == 4
            && packed.ndim() == 4
            && packed.dtype() == Dtype::U32
            && matches!(bits, 2 | 3 | 4 | 5 | 6 | 8)
            && matches!(group_size, 32 | 64 | 128)
            && d % group_size == 0
            && packed.shape()[3] * 32 == d * bits as usize
            && scales.shape() == biases.shape()
            && scales.dtype() == biases.dtype()
            && scales.shape()[..3] == packed.shape()[..3]
            && scales.shape()[3] * group_size == d;
        if !ok {
            return Err(Error::shapes_detail(
                op,
                &[q.shape(), packed.shape(), scales.shape(), biases.shape()],
                format!("q must be [B, N, T, D] and keys/values packed [B, Nkv, T, D·{bits}/32] uint32 with [B, Nkv, T, D/{group_size}] scales and biases (bits 2-8, group 32/64/128)"),
            ));
        }
    }
    let deq = |[p, s, b]: [&Array; 3]| crate::dequantize(p, s, Some(b), group_size, bits, crate::QuantMode::Affine, Some(q.dtype()));
    let (tq, nq, nkv) = (q.shape()[2], q.shape()[1], keys[0].shape()[1]);
    let fused = matches!(q.dtype(), Dtype::F32 | Dtype::BF16 | Dtype::F16)
        && matches!(keys[1].dtype(), Dtype::F32 | Dtype::BF16 | Dtype::F16)
        && keys[1].dtype() == values[1].dtype()
        && keys[0].shape() == values[0].shape()
        && nkv > 0
        && nq % nkv == 0
        && q.shape()[0] == keys[0].shape()[0]
        && tq <= FUSED_MAX_QUERIES
        && matches!(mask, None | Some(AttentionMask::Causal));
    if !fused {
        return scaled_dot_product_attention(q, &deq(keys)?, &deq(values)?, scale, mask, None);
    }
    let node =
        Arc::new(crate::primitive::attention::QuantizedDecodeAttention { scale, causal: mask.is_some() && tq > 1, group_size, bits });
    let inputs = [vec![q.clone()], keys.map(Array::clone).to_vec(), values.map(Array::clone).to_vec()].concat();
    Ok(Array::from_primitive(q.shape().to_vec(), q.dtype(), node, inputs))
}

/// Query blocks up to this size use the fused attention kernel (decoding, speculative
/// verification); larger ones the matmul formulation.
const FUSED_MAX_QUERIES: usize = 8;

/// [`scaled_dot_product_attention`] as matmuls and a softmax (shapes already checked).
pub(crate) fn attention_by_matmul(
    q: &Array,
    k: &Array,
    v: &Array,
    scale: f64,
    mask: Option<&AttentionMask>,
    sinks: Option<&Array>,
) -> Result<Array> {
    let op = "scaled_dot_product_attention";
    let (b, nq, tq, dq) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (nkv, tk) = (k.shape()[1], k.shape()[2]);
    let g = nq / nkv;
    let dv = v.shape()[3];
    // [B, Nkv, G, Tq, D] against [B, Nkv, 1, Tk, D].
    let qg = crate::reshape_to(q, &[b, nkv, g, tq, dq])?;
    let kg = crate::expand_dims(k, &[2])?;
    let vg = crate::expand_dims(v, &[2])?;
    let scores = crate::matmul(&crate::multiply(&qg, scale)?, &crate::swapaxes(&kg, -1, -2)?)?;
    let precise = compute_dtype(scores.dtype());
    let mut scores = crate::astype(&scores, precise)?;
    if let Some(m) = mask {
        let neg_inf = f32::NEG_INFINITY;
        match m {
            AttentionMask::Causal => {
                let qi = crate::reshape_to(&crate::arange(0.0, tq as f64, 1.0, Dtype::I32)?, &[tq, 1])?;
                let kj = crate::reshape_to(&crate::arange(0.0, tk as f64, 1.0, Dtype::I32)?, &[1, tk])?;
                let keep = crate::less_equal(&kj, &crate::add(&qi, tk as i64 - tq as i64)?)?;
                scores = crate::where_(&keep, &scores, neg_inf)?;
            }
            AttentionMask::Array(m) => {
                let m5 = mask_to_groups(m, b, nkv, g, tq, tk)?;
                scores = if m.dtype() == Dtype::Bool {
                    crate::where_(&m5, &scores, neg_inf)?
                } else {
                    crate::add(&scores, &crate::astype(&m5, precise)?)?
                };
            }
        }
    }
    let probs = match sinks {
        None => crate::softmax(&scores, -1)?,
        Some(s) => {
            if s.shape() != [nq] {
                return Err(Error::shapes_detail(op, &[s.shape()], format!("sinks must have shape [{nq}]")));
            }
            let sink = crate::broadcast_to(&crate::reshape_to(&crate::astype(s, precise)?, &[1, nkv, g, 1, 1])?, &[b, nkv, g, tq, 1])?;
            let all = crate::concatenate(&[sink, scores], -1)?;
            let p = crate::softmax(&all, -1)?;
            crate::slice(&p, &[0, 0, 0, 0, 1], &[b as isize, nkv as isize, g as isize, tq as isize, tk as isize + 1], &[1; 5])?
        }
    };
    let out = crate::matmul(&crate::astype(&probs, v.dtype())?, &vg)?;
    crate::reshape_to(&out, &[b, nq, tq, dv])
}

/// A mask broadcastable to `[B, Nq, Tq, Tk]` reshaped for the grouped layout.
fn mask_to_groups(m: &Array, b: usize, nkv: usize, g: usize, tq: usize, tk: usize) -> Result<Array> {
    let full = crate::broadcast_to(m, &[b, nkv * g, tq, tk]).map_err(|_| {
        Error::shapes_detail("scaled_dot_product_attention", &[m.shape()], format!("mask does not broadcast to {:?}", [b, nkv * g, tq, tk]))
    })?;
    crate::reshape_to(&full, &[b, nkv, g, tq, tk])
}
