//! Products of a few rows with a bfloat16 matrix (decoding with bf16 weights): each weight
//! is widened to float32 as it is read (a 16-bit shift), so the weights stream through
//! memory once at two bytes each, instead of being converted to a float32 copy first.

use super::matmul::MatOperand;
use super::strided::SendPtr;
use crate::storage::Storage;
use half::bf16;
use rayon::prelude::*;

/// Largest row count of `a` served here; larger products convert once and use gemm.
pub const MAX_ROWS: usize = 8;

/// Output columns per parallel task.
const COLUMNS_PER_TASK: usize = 32;

/// `out[b] = a[b] @ b[b]` for bfloat16 operands with `m <= MAX_ROWS`; `out` is row-major
/// `[batch, m, n]`; sums in float32, rounded once.
pub fn matmul((m, n, k): (usize, usize, usize), a: &MatOperand, b: &MatOperand, batch_offsets: &[(isize, isize)], out: &Storage) {
    let po = SendPtr(out.ptr::<bf16>() as *mut bf16);
    for (batch, &(oa, ob)) in batch_offsets.iter().enumerate() {
        // SAFETY: reads within a's view (its strides over [m, k] from offset `oa`).
        let rows: Vec<Vec<f32>> = (0..m)
            .map(|i| {
                (0..k)
                    .map(|l| {
                        unsafe { *a.storage.ptr::<bf16>().offset(oa + i as isize * a.row_stride + l as isize * a.col_stride) }.to_f32()
                    })
                    .collect()
            })
            .collect();
        let pb = b.storage.ptr::<bf16>() as usize;
        (0..n).into_par_iter().with_min_len(COLUMNS_PER_TASK).for_each(|j| {
            // Column j of b: k values `row_stride` apart.
            let start = (pb as *const bf16).wrapping_offset(ob + j as isize * b.col_stride);
            for (i, x) in rows.iter().enumerate() {
                let sum = if b.row_stride == 1 {
                    // SAFETY: a contiguous column of k elements inside b's view.
                    dot(unsafe { std::slice::from_raw_parts(start, k) }, x)
                } else {
                    // SAFETY: k elements `row_stride` apart inside b's view.
                    (0..k).map(|l| unsafe { *start.offset(l as isize * b.row_stride) }.to_f32() * x[l]).sum()
                };
                // SAFETY: each (i, j) of this batch's output block is written by one task.
                unsafe { *po.get().add(batch * m * n + i * n + j) = bf16::from_f32(sum) };
            }
        });
    }
}

/// `Σ w[l] · x[l]` with eight independent float32 lanes (vectorizes).
#[inline]
fn dot(w: &[bf16], x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (cw, cx) = (w.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = cw.remainder().iter().zip(cx.remainder()).map(|(w, x)| widen(*w) * x).sum();
    for (w, x) in cw.zip(cx) {
        for l in 0..8 {
            lanes[l] = widen(w[l]).mul_add(x[l], lanes[l]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The exact float32 value of a bfloat16 (its upper 16 bits).
#[inline(always)]
fn widen(v: bf16) -> f32 {
    f32::from_bits((v.to_bits() as u32) << 16)
}
