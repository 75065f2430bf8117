//! Matrix-vector products with weights in MLX's floating-point modes (mxfp4, mxfp8, nvfp4):
//! `out[m, n] = Σ_k x[m, k] · dequant(w)[n, k]` for a few rows of `x` (decode), reading the
//! packed weights once and never writing them out dequantized.
//!
//! With AVX-512 the codes decode in registers. fp4 (E2M1): one 8-byte load broadcast to the
//! sixteen 32-bit lanes, shifted so each lane's low nibble is one code, and `vpermps` looks up
//! all sixteen values (sign included) in a 16-entry table; the lanes come out as elements
//! `0, 8, 1, 9, …` of the sixteen, so `x` is permuted to match once per call. fp8 (E4M3): a
//! byte `s eeee mmm` moved to `s 0eeee mmm0000000` is the half float of `2^-8` times its value
//! (subnormals included), so two shifts and a mask make halves for `vcvtph2ps`, the `2^8` going
//! into the group scale; groups holding E4M3's NaN code, or whose scale would overflow by that
//! `2^8`, take the portable path. Elsewhere a portable loop decodes each group and takes dot
//! products.

use super::fp_quantized::{decode_group, scale_table};
use super::quantized::by_weight_rows;
use crate::ops::quantized::QuantMode;
use std::borrow::Cow;

/// Rows of `x` that share each decoded block of weights.
const ROWS_AT_ONCE: usize = 4;

/// One packed weight row: its words and one scale byte per group.
#[derive(Clone, Copy)]
struct Row<'a> {
    words: &'a [u32],
    scales: &'a [u8],
}

/// What every row's product needs: the format, the row length and the scale of each byte.
#[derive(Clone, Copy)]
struct Format {
    group: usize,
    bits: u32,
    k: usize,
    scales: &'static [f32; 256],
}

/// `out [m, n] = x [m, k] · dequant(w)ᵀ` for `w` packed in `mode` (`n` rows of `k` values,
/// one scale byte per group, no global scale).
#[allow(clippy::too_many_arguments)]
pub fn qmv_fp(x: &[f32], m: usize, wq: &[u32], scales: &[u8], n: usize, k: usize, mode: QuantMode, out: &mut [f32]) {
    let (group, bits) = mode.fixed_format().expect("a floating-point mode");
    let f = Format { group, bits, k, scales: scale_table(mode) };
    let (words_per_row, groups) = (k * bits as usize / 32, k / group);
    let simd = super::avx512_bw_available();
    let lanes: Cow<[f32]> = if simd && bits == 4 { Cow::Owned(fp4_lane_order(x)) } else { Cow::Borrowed(x) };
    by_weight_rows(out, m, n, |first, block| {
        for (r, sums) in block.chunks_mut(m).enumerate() {
            let row = first + r;
            let w = Row { words: &wq[row * words_per_row..(row + 1) * words_per_row], scales: &scales[row * groups..(row + 1) * groups] };
            for (i, sums) in sums.chunks_mut(ROWS_AT_ONCE).enumerate() {
                let at = i * ROWS_AT_ONCE * k;
                let (xs, plain) = (&lanes[at..at + sums.len() * k], &x[at..at + sums.len() * k]);
                match sums.len() {
                    1 => sums.copy_from_slice(&rows_dot::<1>(w, xs, plain, f, simd)),
                    2 => sums.copy_from_slice(&rows_dot::<2>(w, xs, plain, f, simd)),
                    3 => sums.copy_from_slice(&rows_dot::<3>(w, xs, plain, f, simd)),
                    _ => sums.copy_from_slice(&rows_dot::<4>(w, xs, plain, f, simd)),
                }
            }
        }
    });
}

/// `x` with each block of sixteen values in the order the fp4 kernel's lanes hold them:
/// `x0, x8, x1, x9, …, x7, x15`.
fn fp4_lane_order(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(16).flat_map(|b| (0..8).flat_map(move |i| [b[i], b[8 + i]])).collect()
}

/// The dot products of one weight row with `R` rows of `x` (`xs` in the kernel's lane order,
/// `plain` as given).
fn rows_dot<const R: usize>(w: Row, xs: &[f32], plain: &[f32], f: Format, simd: bool) -> [f32; R] {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` means the CPU has the kernels' features; `w` holds a whole row of
        // `f.k` values and `xs` `R` rows of `f.k` values.
        return unsafe {
            if f.bits == 4 {
                avx512::fp4_rows::<R>(w, xs, plain, f)
            } else {
                avx512::fp8_rows::<R>(w, xs, f)
            }
        };
    }
    let _ = (xs, simd);
    let mut sums = [0f32; R];
    for j in 0..w.scales.len() {
        add_group(w, j, plain, f, &mut sums);
    }
    sums
}

/// Adds group `j`'s products with `R` rows of `x` (natural order) to `sums`, decoding it with
/// the portable code.
fn add_group<const R: usize>(w: Row, j: usize, x: &[f32], f: Format, sums: &mut [f32; R]) {
    let words = f.group * f.bits as usize / 32;
    let mut values = [0f32; 32];
    let values = &mut values[..f.group];
    decode_group(&w.words[j * words..(j + 1) * words], f.scales[w.scales[j] as usize], f.bits, values);
    for (r, sum) in sums.iter_mut().enumerate() {
        let xs = &x[r * f.k + j * f.group..][..f.group];
        *sum += xs.iter().zip(values.iter()).map(|(a, b)| a * b).sum::<f32>();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{add_group, Format, Row};
    use crate::backend::cpu::fp_quantized::FP4_VALUES;
    use crate::backend::cpu::prefetch_ahead;
    use std::arch::x86_64::*;

    /// Independent accumulators per row of `x`: an FMA's latency is four cycles, so one chain
    /// would wait on itself.
    const CHAINS: usize = 4;

    /// The lane-wise sum of the chains.
    #[inline(always)]
    unsafe fn sum(chains: [__m512; CHAINS]) -> __m512 {
        // SAFETY: callers run with AVX-512 F.
        unsafe { _mm512_add_ps(_mm512_add_ps(chains[0], chains[1]), _mm512_add_ps(chains[2], chains[3])) }
    }

    /// fp4 rows (E2M1 codes, groups of 16 or 32); `xs` in [`fp4_lane_order`](super::fp4_lane_order),
    /// `plain` in natural order (for the groups after the last whole block of four vectors).
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `w` holds `f.k` values and `xs` `R` rows of `f.k`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fp4_rows<const R: usize>(w: Row, xs: &[f32], plain: &[f32], f: Format) -> [f32; R] {
        // SAFETY: the caller guarantees the features and the bounds (see # Safety).
        unsafe {
            let table = _mm512_loadu_ps(FP4_VALUES.as_ptr());
            // Lanes 2i and 2i+1 take nibble i of the low and the high word of the pair.
            let shifts = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
            let mut acc = [[_mm512_setzero_ps(); CHAINS]; R];
            let bytes = w.words.as_ptr() as *const u8;
            let blocks = f.k / (16 * CHAINS);
            // Vector v is in group v >> shift (groups of 16 or 32: a shift, not a division).
            let shift = (f.group / 16).trailing_zeros();
            for block in 0..blocks {
                prefetch_ahead(bytes.add(block * 8 * CHAINS));
                // One vector of sixteen codes (8 bytes) per chain. A plain loop with a constant
                // bound unrolls, so the chains stay in registers (an iterator adaptor kept them
                // in memory: 3x slower).
                for c in 0..CHAINS {
                    let chain = block * CHAINS + c;
                    // Its group's sixteen values, scaled once for all sixteen codes.
                    let scale = f.scales[w.scales[chain >> shift] as usize];
                    let scaled = _mm512_mul_ps(table, _mm512_set1_ps(scale));
                    let pair = _mm512_set1_epi64((bytes.add(chain * 8) as *const i64).read_unaligned());
                    let values = _mm512_permutexvar_ps(_mm512_srlv_epi32(pair, shifts), scaled);
                    for (r, chains) in acc.iter_mut().enumerate() {
                        chains[c] = _mm512_fmadd_ps(values, _mm512_loadu_ps(xs.as_ptr().add(r * f.k + chain * 16)), chains[c]);
                    }
                }
            }
            let mut sums = acc.map(|chains| _mm512_reduce_add_ps(sum(chains)));
            for j in blocks * 16 * CHAINS / f.group..w.scales.len() {
                add_group(w, j, plain, f, &mut sums);
            }
            sums
        }
    }

    /// fp8 rows (E4M3 codes, groups of 32); `xs` in natural order.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VL; `w` holds `f.k` values and `xs` `R` rows of `f.k`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn fp8_rows<const R: usize>(w: Row, xs: &[f32], f: Format) -> [f32; R] {
        // SAFETY: the caller guarantees the features and the bounds (see # Safety).
        unsafe {
            let magnitude = _mm256_set1_epi8(0x7f);
            let clear_bit14 = _mm512_set1_epi16(0xbfffu16 as i16);
            let mut acc = [[_mm512_setzero_ps(); CHAINS]; R];
            let mut aside = [0f32; R];
            let bytes = w.words.as_ptr() as *const u8;
            let pairs = w.scales.len() / 2;
            for pair in 0..pairs {
                prefetch_ahead(bytes.add(pair * 64));
                // Two groups of 32 codes, each on two chains; the constant bound unrolls.
                for i in 0..2 {
                    let (c, j) = (2 * i, 2 * pair + i);
                    let b = _mm256_loadu_si256(bytes.add(j * 32) as *const __m256i);
                    // E4M3's 2^-7 bias against the half's 2^-15: values come out 2^-8 of theirs.
                    let s = f.scales[w.scales[j] as usize] * 256.0;
                    if _mm256_cmpeq_epi8_mask(_mm256_and_si256(b, magnitude), magnitude) != 0 || !s.is_finite() {
                        add_group(w, j, xs, f, &mut aside);
                        continue;
                    }
                    let halves = _mm512_and_si512(_mm512_srai_epi16::<1>(_mm512_slli_epi16::<8>(_mm512_cvtepu8_epi16(b))), clear_bit14);
                    let s = _mm512_set1_ps(s);
                    let lo = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(halves)), s);
                    let hi = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(halves)), s);
                    for (r, chains) in acc.iter_mut().enumerate() {
                        let x = xs.as_ptr().add(r * f.k + j * 32);
                        chains[c] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x), chains[c]);
                        chains[c + 1] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x.add(16)), chains[c + 1]);
                    }
                }
            }
            if w.scales.len() % 2 == 1 {
                add_group(w, w.scales.len() - 1, xs, f, &mut aside);
            }
            std::array::from_fn(|r| _mm512_reduce_add_ps(sum(acc[r])) + aside[r])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernels (AVX-512 where the CPU has it) against the portable loop, on random codes
    /// with every scale byte a mode uses, incl. E4M3 NaN codes and huge E8M0 scales.
    #[test]
    fn kernels_match_the_portable_loop() {
        let mut state = 0x1234_5678_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for mode in [QuantMode::Mxfp4, QuantMode::Nvfp4, QuantMode::Mxfp8] {
            let (g, bits) = mode.fixed_format().unwrap();
            let (n, k) = (5, 4 * 32);
            let mut wq: Vec<u32> = (0..n * k * bits as usize / 32).map(|_| next() as u32).collect();
            let scales: Vec<u8> = (0..n * k / g)
                .map(|_| match mode {
                    QuantMode::Nvfp4 => (next() % 0x7e) as u8,
                    _ => 100 + (next() % 50) as u8,
                })
                .collect();
            if mode == QuantMode::Mxfp8 {
                // No NaN codes but one, in row 0.
                wq.iter_mut().for_each(|w| *w = u32::from_le_bytes(w.to_le_bytes().map(|b| if b & 0x7f == 0x7f { b ^ 1 } else { b })));
                wq[3] |= 0x7f00;
            }
            for m in [1, 3, 6] {
                let x: Vec<f32> = (0..m * k).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
                let mut fast = vec![0f32; m * n];
                qmv_fp(&x, m, &wq, &scales, n, k, mode, &mut fast);
                let f = Format { group: g, bits, k, scales: scale_table(mode) };
                let words = k * bits as usize / 32;
                for row in 0..n {
                    let w = Row { words: &wq[row * words..][..words], scales: &scales[row * k / g..][..k / g] };
                    for mi in 0..m {
                        let x_row = &x[mi * k..][..k];
                        let (got, want) = (fast[mi * n + row], rows_dot::<1>(w, x_row, x_row, f, false)[0]);
                        // Rounding is relative to the terms' magnitudes, not to their sum.
                        let abs_x: Vec<f32> = x_row.iter().map(|v| v.abs()).collect();
                        let mut magnitude = 0f32;
                        let mut values = vec![0f32; g];
                        for j in 0..k / g {
                            let words = g * bits as usize / 32;
                            decode_group(&w.words[j * words..][..words], f.scales[w.scales[j] as usize], bits, &mut values);
                            magnitude += values.iter().zip(&abs_x[j * g..]).map(|(v, a)| v.abs() * a).sum::<f32>();
                        }
                        let close = (got - want).abs() <= 1e-6 * magnitude || (got.is_nan() && want.is_nan());
                        assert!(close, "{mode:?} m={m} row {row} x-row {mi}: {got} vs {want}");
                    }
                }
            }
        }
    }
}
