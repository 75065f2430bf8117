//! Attention for a few query positions (decoding): one pass over the keys and values per
//! group of query heads that share them, reading any float dtype straight from its strided
//! layout (a KV cache's prefix view needs no copy) and accumulating in float32 with an online
//! softmax. Larger query blocks go through the matmul formulation, which blocks for cache reuse.
//! Quantized keys and values (a quantized KV cache) are dequantized row by row as they are read.

use super::quantized::{unpack, Scale};
use super::strided::{SendConstPtr, SendPtr};
use crate::element::Element;
use crate::storage::Storage;
use rayon::prelude::*;

/// Sizes of one attention call: `q: [b, nq, tq, d]`, `k: [b, nkv, tk, d]`, `v: [b, nkv, tk, dv]`.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub b: usize,
    pub nq: usize,
    pub nkv: usize,
    pub tq: usize,
    pub tk: usize,
    pub d: usize,
    pub dv: usize,
}

/// `out[b, h, i] = softmax_j(scale * q[b,h,i] · k[b,h/g,j]) v[b,h/g,j]` over the keys query
/// `i` sees (all, or `j <= i + tk - tq` when `causal`). `out` is row-major `[b, nq, tq, dv]`.
pub fn attend<T: Element>(q: &Storage, k: &Storage, v: &Storage, out: &Storage, dims: Dims, scale: f32, causal: bool) {
    let (pk, pv) = (SendConstPtr(k.ptr::<T>()), SendConstPtr(v.ptr::<T>()));
    let (ks, vs) = (k.strides.clone(), v.strides.clone());
    let key_row = move |bi: usize, hk: usize, j: usize, row: &mut [f32]| {
        let pk = pk;
        load_row(pk.0, bi as isize * ks[0] + hk as isize * ks[1] + j as isize * ks[2], ks[3], row)
    };
    let value_row = move |bi: usize, hk: usize, j: usize, row: &mut [f32]| {
        let pv = pv;
        load_row(pv.0, bi as isize * vs[0] + hk as isize * vs[1] + j as isize * vs[2], vs[3], row)
    };
    attend_rows::<T>(q, out, dims, scale, causal, key_row, value_row);
}

/// Packed keys or values (`[b, nkv, t, d · bits / 32]` words) with their scales and biases
/// (`[b, nkv, t, d / group]`), each row contiguous, as a quantized KV cache stores them.
pub struct PackedRows<'a> {
    pub words: &'a Storage,
    pub scales: &'a Storage,
    pub biases: &'a Storage,
}

/// [`attend`] over MLX-affine-quantized keys and values, dequantizing each row as it is read
/// (`scale · q + bias` per group, float32), so the cache is read in its packed size.
#[allow(clippy::too_many_arguments)]
pub fn attend_quantized<T: Element, S: Scale + Element>(
    q: &Storage,
    k: PackedRows,
    v: PackedRows,
    out: &Storage,
    dims: Dims,
    scale: f32,
    causal: bool,
    group: usize,
    bits: u32,
) {
    let key_row = packed_row_reader::<S>(k, group, bits);
    let value_row = packed_row_reader::<S>(v, group, bits);
    attend_rows::<T>(q, out, dims, scale, causal, key_row, value_row);
}

/// A reader of dequantized rows `(batch, head, position) → row` of packed storage.
fn packed_row_reader<S: Scale + Element>(p: PackedRows, group: usize, bits: u32) -> impl Fn(usize, usize, usize, &mut [f32]) + Sync {
    let (pw, ps, pb) = (SendConstPtr(p.words.ptr::<u32>()), SendConstPtr(p.scales.ptr::<S>()), SendConstPtr(p.biases.ptr::<S>()));
    let (ws, ss, bs) = (p.words.strides.clone(), p.scales.strides.clone(), p.biases.strides.clone());
    move |bi, hk, j, row: &mut [f32]| {
        let (pw, ps, pb) = (pw, ps, pb);
        let at = |st: &[isize]| bi as isize * st[0] + hk as isize * st[1] + j as isize * st[2];
        let words = row.len() * bits as usize / 32;
        let groups = row.len() / group;
        // SAFETY: rows of `d · bits / 32` words and `d / group` scales and biases (the op
        // layer's shapes), read through their strides.
        let (w, s, b) = unsafe {
            (strided_row(pw.0, at(&ws), ws[3], words), strided_row(ps.0, at(&ss), ss[3], groups), strided_row(pb.0, at(&bs), bs[3], groups))
        };
        unpack(&w, bits, row);
        for ((values, s), b) in row.chunks_exact_mut(group).zip(s.iter()).zip(b.iter()) {
            let (s, b) = (Scale::to_f32(*s), Scale::to_f32(*b));
            values.iter_mut().for_each(|x| *x = s.mul_add(*x, b));
        }
    }
}

/// `n` elements from `base` with `stride`: borrowed when contiguous (a KV cache's rows are),
/// else gathered.
///
/// # Safety
/// The `n` elements must lie inside the allocation behind `p`.
unsafe fn strided_row<'a, T: Copy>(p: *const T, base: isize, stride: isize, n: usize) -> std::borrow::Cow<'a, [T]>
where
    [T]: ToOwned<Owned = Vec<T>>,
{
    if stride == 1 || n <= 1 {
        // SAFETY: the caller's bounds.
        std::borrow::Cow::Borrowed(unsafe { std::slice::from_raw_parts(p.offset(base), n) })
    } else {
        // SAFETY: the caller's bounds.
        std::borrow::Cow::Owned((0..n).map(|i| unsafe { *p.offset(base + i as isize * stride) }).collect())
    }
}

/// The attention loop over rows read by `key_row` / `value_row` (`(batch, kv head, position,
/// row)`, filling `d` or `dv` floats).
fn attend_rows<T: Element>(
    q: &Storage,
    out: &Storage,
    dims: Dims,
    scale: f32,
    causal: bool,
    key_row: impl Fn(usize, usize, usize, &mut [f32]) + Sync,
    value_row: impl Fn(usize, usize, usize, &mut [f32]) + Sync,
) {
    let Dims { b, nq, nkv, tq, tk, d, dv } = dims;
    let g = nq / nkv;
    let (pq, po) = (SendConstPtr(q.ptr::<T>()), SendPtr(out.ptr::<T>() as *mut T));
    let qs = q.strides.clone();
    // One task per (batch, kv head, query position): its g query heads share every key row.
    (0..b * nkv * tq).into_par_iter().for_each(|task| {
        let (pq, po) = (pq, po);
        let (bi, rest) = (task / (nkv * tq), task % (nkv * tq));
        let (hk, i) = (rest / tq, rest % tq);
        let visible = if causal { (i + tk + 1).saturating_sub(tq).min(tk) } else { tk };
        let mut queries = vec![0f32; g * d];
        for h in 0..g {
            let base = bi as isize * qs[0] + (hk * g + h) as isize * qs[1] + i as isize * qs[2];
            for c in 0..d {
                // SAFETY: indices within q's shape, through its strides.
                queries[h * d + c] = unsafe { *pq.0.offset(base + c as isize * qs[3]) }.to_f32() * scale;
            }
        }
        let mut row = vec![0f32; d.max(dv)];
        let mut scores = vec![0f32; g * visible];
        for j in 0..visible {
            key_row(bi, hk, j, &mut row[..d]);
            for h in 0..g {
                scores[h * visible + j] = dot(&queries[h * d..(h + 1) * d], &row[..d]);
            }
        }
        let mut acc = vec![0f32; g * dv];
        for h in 0..g {
            let s = &mut scores[h * visible..(h + 1) * visible];
            let max = s.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let mut total = 0f32;
            for x in s.iter_mut() {
                *x = (*x - max).exp();
                total += *x;
            }
            let inv = if total > 0.0 { 1.0 / total } else { 0.0 };
            s.iter_mut().for_each(|x| *x *= inv);
        }
        for j in 0..visible {
            value_row(bi, hk, j, &mut row[..dv]);
            for h in 0..g {
                let p = scores[h * visible + j];
                for (a, &x) in acc[h * dv..(h + 1) * dv].iter_mut().zip(&row[..dv]) {
                    *a = p.mul_add(x, *a);
                }
            }
        }
        for h in 0..g {
            let start = ((bi * nq + hk * g + h) * tq + i) * dv;
            for (c, &a) in acc[h * dv..(h + 1) * dv].iter().enumerate() {
                // SAFETY: each task writes its own rows of the fresh row-major output.
                unsafe { *po.0.add(start + c) = T::from_f32(a) };
            }
        }
    });
}

/// One strided row converted to f32.
#[inline(always)]
fn load_row<T: Element>(p: *const T, base: isize, stride: isize, row: &mut [f32]) {
    if stride == 1 {
        // SAFETY: a contiguous row of `row.len()` elements inside the operand.
        let src = unsafe { std::slice::from_raw_parts(p.offset(base), row.len()) };
        row.iter_mut().zip(src).for_each(|(r, &x)| *r = x.to_f32());
    } else {
        for (c, r) in row.iter_mut().enumerate() {
            // SAFETY: indices within the operand's shape, through its strides.
            *r = unsafe { *p.offset(base + c as isize * stride) }.to_f32();
        }
    }
}

/// A dot product in eight independent lanes (vectorizes without reassociation flags).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] = x[l].mul_add(y[l], lanes[l]);
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}
