//! The transforms benchmark's element-wise chain, `gelu(x·w + b) · sigmoid(x·w + b)`, written
//! by hand: rmx's own formulas (`erf_f32_slice`, `sigmoid`) over blocks of 64 values in L1 —
//! `x·w + b` and erf's argument in one loop, erf through its vector kernel, the rest in a
//! second loop with every value in vector registers — compiled for AVX-512 and stored with
//! streaming stores where the fused kernel uses AVX-512 (elsewhere plain loops with regular
//! stores, a weaker ceiling), split over threads like the fused kernel. It is the ceiling for any code generator that keeps
//! these formulas: the compiled chain is timed against it (how much the fused kernel's
//! interpreter costs) and it against a memcpy (how far code with these formulas is from the
//! memory bound).

use rmx::backend::cpu::erf::erf_f32_slice;
use rmx::backend::cpu::math::sigmoid;
use rmx::backend::cpu::parallel::parallel_for;

/// Elements computed per task and per streamed block, as the fused kernel's chunks.
const BLOCK: usize = 1024;

/// Elements per block of the two loops around erf.
const SUB: usize = 64;

/// The chain on up to [`SUB`] elements.
#[inline(always)]
fn chain(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let n = x.len();
    let (mut y, mut arg, mut erf) = ([0.0f32; SUB], [0.0f32; SUB], [0.0f32; SUB]);
    for ((((y, arg), &x), &w), &b) in y.iter_mut().zip(&mut arg).zip(x).zip(w).zip(b) {
        *y = x * w + b;
        *arg = *y * std::f32::consts::FRAC_1_SQRT_2;
    }
    erf_f32_slice(&arg[..n], &mut erf[..n]);
    for ((o, &y), &e) in out.iter_mut().zip(&y).zip(&erf) {
        *o = (y * 0.5) * (e + 1.0) * sigmoid(y);
    }
}

/// The chain over a block, [`SUB`] elements at a time.
#[inline(always)]
fn chain_all(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    for (((x, w), b), out) in x.chunks(SUB).zip(w.chunks(SUB)).zip(b.chunks(SUB)).zip(out.chunks_mut(SUB)) {
        chain(x, w, b, out);
    }
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
    chain_all(x, w, b, out);
}

#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct Aligned([f32; BLOCK]);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn block_avx512(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::{_mm512_load_ps, _mm512_stream_ps, _mm_sfence};
    let mut values = Aligned([0.0; BLOCK]);
    chain_all(x, w, b, &mut values.0);
    for i in (0..BLOCK).step_by(16) {
        // SAFETY: both blocks hold BLOCK values; `out` is 64-byte aligned (`run` checks).
        unsafe { _mm512_stream_ps(out.as_mut_ptr().add(i), _mm512_load_ps(values.0.as_ptr().add(i))) };
    }
    _mm_sfence();
}
