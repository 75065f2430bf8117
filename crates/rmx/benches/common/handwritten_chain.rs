//! The transforms benchmark's element-wise chain, `gelu(x·w + b) · sigmoid(x·w + b)`, written
//! by hand as one loop: rmx's own scalar formulas (`erf_f32`, `sigmoid`) with every value in
//! vector registers, compiled for AVX-512 and stored with streaming stores where the fused
//! kernel uses AVX-512 (elsewhere a plain loop with regular stores, a weaker ceiling), split
//! over threads like the fused kernel. It is the ceiling for any code generator that keeps
//! these formulas: the compiled chain is timed against it (how much the fused kernel's
//! interpreter costs) and it against a memcpy (how far code with these formulas is from the
//! memory bound).

use rmx::backend::cpu::math::{erf_f32, sigmoid};
use rmx::backend::cpu::parallel::parallel_for;

/// Elements computed per task and per streamed block, as the fused kernel's chunks.
const BLOCK: usize = 1024;

/// The chain on one element.
#[inline(always)]
fn chain(x: f32, w: f32, b: f32) -> f32 {
    let y = x * w + b;
    let gelu = (y * 0.5) * (erf_f32(y * std::f32::consts::FRAC_1_SQRT_2) + 1.0);
    gelu * sigmoid(y)
}

/// `out[i] = chain(x[i], w[i % w.len()], b[i % w.len()])` for row-major `x` of rows `w.len()`
/// long (a multiple of [`BLOCK`]); `out` must start on a 64-byte boundary (streaming stores).
pub fn run(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    assert!((out.as_ptr() as usize).is_multiple_of(64), "the output starts on a cache line");
    assert!(w.len().is_multiple_of(BLOCK) && x.len().is_multiple_of(w.len()) && out.len() == x.len() && b.len() == w.len());
    let out_ptr = out.as_mut_ptr() as usize;
    parallel_for(x.len() / BLOCK, 8, |t| {
        let start = t * BLOCK;
        let col = start % w.len();
        // SAFETY: tasks write disjoint blocks of `out`, which outlives the call.
        let out = unsafe { std::slice::from_raw_parts_mut((out_ptr as *mut f32).add(start), BLOCK) };
        block(&x[start..start + BLOCK], &w[col..col + BLOCK], &b[col..col + BLOCK], out);
    });
}

fn block(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    // AVX-512 exactly where the fused kernel uses it (`RMX_NO_AVX512` turns both off).
    #[cfg(target_arch = "x86_64")]
    if rmx::backend::cpu::fused::wide_vectors() {
        // SAFETY: the CPU has the extensions.
        unsafe { block_avx512(x, w, b, out) };
        return;
    }
    for (((o, &x), &w), &b) in out.iter_mut().zip(x).zip(w).zip(b) {
        *o = chain(x, w, b);
    }
}

#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct Aligned([f32; BLOCK]);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn block_avx512(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::{_mm512_load_ps, _mm512_stream_ps, _mm_sfence};
    let mut values = Aligned([0.0; BLOCK]);
    for (((o, &x), &w), &b) in values.0.iter_mut().zip(x).zip(w).zip(b) {
        *o = chain(x, w, b);
    }
    for i in (0..BLOCK).step_by(16) {
        // SAFETY: both blocks hold BLOCK values; `out` is 64-byte aligned (`run` checks).
        unsafe { _mm512_stream_ps(out.as_mut_ptr().add(i), _mm512_load_ps(values.0.as_ptr().add(i))) };
    }
    _mm_sfence();
}
