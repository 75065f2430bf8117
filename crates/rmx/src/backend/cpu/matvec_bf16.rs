//! Products of a few rows with a bfloat16 matrix (decoding with bf16 weights): the weights
//! stream through memory once at two bytes each, instead of being converted to a float32
//! copy first. Sums are float32, rounded to bfloat16 once.
//!
//! Weights in `nn.Linear` layout (each output column contiguous along `k`) take a SIMD kernel
//! chosen at run time: AVX-512 BF16's `vdpbf16ps` multiplies 32 bfloat16 pairs and adds them
//! into float32 lanes in one instruction (its products are exact in float32; like the
//! hardware, it treats subnormal inputs as zero), or on AVX2 each weight is widened to
//! float32 by a 16-bit shift and multiplied by a fused multiply-add. Four output columns
//! share each load of the left row. Other layouts take a portable loop.

use super::matmul::MatOperand;
use super::strided::SendPtr;
use crate::storage::Storage;
use half::bf16;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Largest row count of `a` served here; larger products convert once and use gemm.
pub const MAX_ROWS: usize = 8;

/// Output columns per SIMD kernel call (they share each load of a left row).
const COLUMNS_PER_CALL: usize = 4;

/// Kernel calls per parallel task.
const CALLS_PER_TASK: usize = 8;

/// The SIMD kernel this CPU runs, if any.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Simd {
    Avx512Bf16,
    Avx2,
    None,
}

fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static SIMD: OnceLock<Simd> = OnceLock::new();
        *SIMD.get_or_init(|| {
            if super::avx512_allowed()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512bf16")
            {
                Simd::Avx512Bf16
            } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                Simd::Avx2
            } else {
                Simd::None
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Simd::None
}

/// `out[b] = a[b] @ b[b]` for bfloat16 operands with `m <= MAX_ROWS`; `out` is row-major
/// `[batch, m, n]`; sums in float32, rounded once.
pub fn matmul((m, n, k): (usize, usize, usize), a: &MatOperand, b: &MatOperand, batch_offsets: &[(isize, isize)], out: &Storage) {
    let po = SendPtr(out.ptr::<bf16>() as *mut bf16);
    let simd = if b.row_stride == 1 { simd() } else { Simd::None };
    for (batch, &(oa, ob)) in batch_offsets.iter().enumerate() {
        // SAFETY: reads within a's view (its strides over [m, k] from offset `oa`).
        let rows: Vec<Vec<bf16>> = (0..m)
            .map(|i| {
                (0..k)
                    .map(|l| unsafe { *a.storage.ptr::<bf16>().offset(oa + i as isize * a.row_stride + l as isize * a.col_stride) })
                    .collect()
            })
            .collect();
        let pb = b.storage.ptr::<bf16>() as usize;
        // Column j of b: k values `row_stride` apart.
        let column = move |j: usize| (pb as *const bf16).wrapping_offset(ob + j as isize * b.col_stride);
        // SAFETY (for the writes below): each (i, j) of this batch's output block is written by one task.
        let write = move |i: usize, j: usize, sum: f32| unsafe { *po.get().add(batch * m * n + i * n + j) = bf16::from_f32(sum) };
        // The rows as float32, for the kernels that multiply in float32.
        let wide: Vec<Vec<f32>> =
            if simd == Simd::Avx512Bf16 { Vec::new() } else { rows.iter().map(|r| r.iter().map(|v| v.to_f32()).collect()).collect() };
        if simd == Simd::None {
            (0..n).into_par_iter().with_min_len(COLUMNS_PER_CALL * CALLS_PER_TASK).for_each(|j| {
                for (i, x) in wide.iter().enumerate() {
                    // SAFETY: k elements `row_stride` apart inside b's view.
                    write(i, j, (0..k).map(|l| unsafe { *column(j).offset(l as isize * b.row_stride) }.to_f32() * x[l]).sum());
                }
            });
            continue;
        }
        (0..n.div_ceil(COLUMNS_PER_CALL)).into_par_iter().with_min_len(CALLS_PER_TASK).for_each(|call| {
            let first = call * COLUMNS_PER_CALL;
            let count = COLUMNS_PER_CALL.min(n - first);
            // Past the last column, repeat it (computed, not written).
            let w: [*const u16; COLUMNS_PER_CALL] = std::array::from_fn(|c| column(first + c.min(count - 1)) as *const u16);
            for i in 0..m {
                // SAFETY: `simd` was detected on this CPU; each column holds k contiguous weights.
                let sums = unsafe {
                    match simd {
                        Simd::Avx512Bf16 => dot_avx512_bf16(w, rows[i].as_ptr() as *const u16, k),
                        _ => dot_avx2(w, wide[i].as_ptr(), k),
                    }
                };
                for (c, sum) in sums.iter().take(count).enumerate() {
                    write(i, first + c, *sum);
                }
            }
        });
    }
}

/// `Σ_l w[c][l] · x[l]` for four columns `w[c]` of k bfloat16 weights and a bfloat16 row.
///
/// # Safety
/// The CPU has AVX-512 BF16; `x` and each column hold k contiguous values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn dot_avx512_bf16(w: [*const u16; COLUMNS_PER_CALL], x: *const u16, k: usize) -> [f32; COLUMNS_PER_CALL] {
    let mut acc = [_mm512_setzero_ps(); COLUMNS_PER_CALL];
    let mut l = 0;
    while l < k {
        // A full 32-value step, or the tail under a mask (masked lanes read nothing, add 0).
        let mask: __mmask32 = if k - l >= 32 { !0 } else { (1u32 << (k - l)) - 1 };
        // SAFETY: the mask keeps the loads within the k values of x and of each column; a
        // 512-bit vector of 32 bf16 is a valid `__m512bh`.
        unsafe {
            let xv: __m512bh = std::mem::transmute(_mm512_maskz_loadu_epi16(mask, x.add(l) as *const i16));
            for c in 0..COLUMNS_PER_CALL {
                super::prefetch_ahead(w[c].wrapping_add(l));
                let wv: __m512bh = std::mem::transmute(_mm512_maskz_loadu_epi16(mask, w[c].add(l) as *const i16));
                acc[c] = _mm512_dpbf16_ps(acc[c], wv, xv);
            }
        }
        l += 32;
    }
    acc.map(|a| _mm512_reduce_add_ps(a))
}

/// As [`dot_avx512_bf16`] on AVX2: weights widened by a shift, times a float32 row.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x` and each column hold k contiguous values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(w: [*const u16; COLUMNS_PER_CALL], x: *const f32, k: usize) -> [f32; COLUMNS_PER_CALL] {
    let mut acc = [_mm256_setzero_ps(); COLUMNS_PER_CALL];
    let full = k - k % 8;
    // SAFETY: every load below is within the first k values of x and of each column.
    unsafe {
        for l in (0..full).step_by(8) {
            let xv = _mm256_loadu_ps(x.add(l));
            for c in 0..COLUMNS_PER_CALL {
                let wv = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(w[c].add(l) as *const __m128i)), 16);
                acc[c] = _mm256_fmadd_ps(_mm256_castsi256_ps(wv), xv, acc[c]);
            }
        }
        std::array::from_fn(|c| {
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc[c]);
            lanes.iter().sum::<f32>() + (full..k).map(|l| f32::from_bits((*w[c].add(l) as u32) << 16) * *x.add(l)).sum::<f32>()
        })
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_avx512_bf16(_: [*const u16; COLUMNS_PER_CALL], _: *const u16, _: usize) -> [f32; COLUMNS_PER_CALL] {
    unreachable!("SIMD kernels are selected only on x86-64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_avx2(_: [*const u16; COLUMNS_PER_CALL], _: *const f32, _: usize) -> [f32; COLUMNS_PER_CALL] {
    unreachable!("SIMD kernels are selected only on x86-64")
}
