//! Attention for a few query positions (decoding): one pass over the keys and values per
//! group of query heads that share them, reading any float dtype straight from its strided
//! layout (a KV cache's prefix view needs no copy) and accumulating in float32 with an online
//! softmax. Larger query blocks go through the matmul formulation, which blocks for cache reuse.

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
    let Dims { b, nq, nkv, tq, tk, d, dv } = dims;
    let g = nq / nkv;
    let (pq, pk, pv, po) =
        (SendConstPtr(q.ptr::<T>()), SendConstPtr(k.ptr::<T>()), SendConstPtr(v.ptr::<T>()), SendPtr(out.ptr::<T>() as *mut T));
    let (qs, ks, vs) = (q.strides.clone(), k.strides.clone(), v.strides.clone());
    // One task per (batch, kv head, query position): its g query heads share every key row.
    (0..b * nkv * tq).into_par_iter().for_each(|task| {
        let (pq, pk, pv, po) = (pq, pk, pv, po);
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
            let base = bi as isize * ks[0] + hk as isize * ks[1] + j as isize * ks[2];
            load_row(pk.0, base, ks[3], &mut row[..d]);
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
            let base = bi as isize * vs[0] + hk as isize * vs[1] + j as isize * vs[2];
            load_row(pv.0, base, vs[3], &mut row[..dv]);
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
