//! 4- and 8-bit quantized matrix-vector products for half-precision activations, on 16-bit
//! integer multiply-adds.
//!
//! When `x` comes from bfloat16 or float16 it carries at most 11 significant bits, so it can
//! be quantized per weight group to int16 (scale `max|x| / 32767`, error below 2^-16 of the
//! group's largest value, far under the input's own rounding) and multiplied with the 4-bit
//! weights by AVX2's `vpmaddwd`: sixteen products per instruction instead of eight float
//! multiply-adds after a shift, mask and conversion each. Group sums stay exact in int32 and
//! are scaled in float32: `Σ_groups s_w s_x Σ q·x_q + b_w Σ x` (the bias term uses the exact
//! float sums). Float32 activations keep the float kernel, which MLX's results are checked
//! against.

use super::quantized::Scale;
use rayon::prelude::*;

/// Values per 32-value block (16 bytes of 4-bit or two 16-byte loads of 8-bit weights).
const BLOCK: usize = 32;

/// `x` prepared for the integer kernel: int16 values (for 4-bit weights, per block of 32 the
/// 16 even-indexed then the 16 odd-indexed ones, the order in which nibbles unpack), and per
/// group its scale and exact sum.
pub struct QuantizedRow {
    values: Vec<i16>,
    scales: Vec<f32>,
    sums: Vec<f32>,
}

/// Whether the integer kernel applies: 4- or 8-bit weights, groups of whole blocks, AVX2.
pub fn applies(bits: u32, group_size: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(bits, 4 | 8) && group_size % BLOCK == 0 && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (bits, group_size);
        false
    }
}

/// Quantizes one row of `x` (a multiple of `g` values) to int16 per group of `g`, laid out
/// for `bits`-bit weights.
pub fn quantize_row(x: &[f32], g: usize, bits: u32) -> QuantizedRow {
    let mut row = QuantizedRow { values: vec![0; x.len()], scales: Vec::with_capacity(x.len() / g), sums: Vec::with_capacity(x.len() / g) };
    for (group, out) in x.chunks_exact(g).zip(row.values.chunks_exact_mut(g)) {
        let max = group.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = max / 32767.0;
        let inv = if max > 0.0 { 32767.0 / max } else { 0.0 };
        for (src, dst) in group.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
            for i in 0..BLOCK / 2 {
                let (a, b) = if bits == 4 { (2 * i, 2 * i + 1) } else { (i, BLOCK / 2 + i) };
                dst[i] = (src[a] * inv).round() as i16;
                dst[BLOCK / 2 + i] = (src[b] * inv).round() as i16;
            }
        }
        row.scales.push(scale);
        row.sums.push(group.iter().sum());
    }
    row
}

/// `out[r] = Σ_k x[k] · dequant(w)[r, k]` for the rows of `bits`-bit `w` (`k` values each),
/// with `x` from [`quantize_row`] for the same `bits`. Callers check [`applies`] first.
#[allow(clippy::too_many_arguments)]
pub fn qmv<S: Scale>(x: &QuantizedRow, wq: &[u32], scales: &[S], biases: &[S], k: usize, g: usize, bits: u32, out: &mut [f32]) {
    let words_per_row = k * bits as usize / 32;
    let groups = k / g;
    out.par_chunks_mut(16).enumerate().for_each(|(task, rows)| {
        for (i, acc) in rows.iter_mut().enumerate() {
            let r = task * 16 + i;
            let words = &wq[r * words_per_row..(r + 1) * words_per_row];
            let (s, b) = (&scales[r * groups..(r + 1) * groups], &biases[r * groups..(r + 1) * groups]);
            #[cfg(target_arch = "x86_64")]
            {
                // SAFETY: `applies` checked AVX2 and FMA; slices hold whole rows and groups.
                *acc = unsafe {
                    if bits == 4 {
                        row_dot::<4, S>(words, x, s, b, g)
                    } else {
                        row_dot::<8, S>(words, x, s, b, g)
                    }
                };
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let _ = (words, s, b);
                unreachable!("callers check `applies`");
            }
        }
    });
}

/// One row's dot product. Callers ensure AVX2 and FMA and that `words` holds `k * BITS / 32`
/// words and `x` `k` values with `k` a multiple of `g`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_dot<const BITS: usize, S: Scale>(words: &[u32], x: &QuantizedRow, scales: &[S], biases: &[S], g: usize) -> f32 {
    use std::arch::x86_64::*;
    let blocks_per_group = g / BLOCK;
    let bytes = words.as_ptr() as *const u8;
    let low_nibble = _mm256_set1_epi16(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut bias_term = 0f32;
    for (j, (s, b)) in scales.iter().zip(biases).enumerate() {
        let mut sums = _mm256_setzero_si256();
        for blk in j * blocks_per_group..(j + 1) * blocks_per_group {
            let at = blk * BLOCK * BITS / 8;
            // SAFETY: block `blk` is 32 weights of `words` and 32 values of `x` (caller's sizes).
            let (first, second, xa, xb) = unsafe {
                let xs = x.values.as_ptr().add(blk * BLOCK);
                let (xa, xb) = (_mm256_loadu_si256(xs as *const __m256i), _mm256_loadu_si256(xs.add(16) as *const __m256i));
                if BITS == 4 {
                    // 16 bytes = 32 weights; byte i holds weight 2i (low nibble) and 2i + 1.
                    let w = _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at) as *const __m128i));
                    (_mm256_and_si256(w, low_nibble), _mm256_srli_epi16(w, 4), xa, xb)
                } else {
                    let lo = _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at) as *const __m128i));
                    (lo, _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at + 16) as *const __m128i)), xa, xb)
                }
            };
            sums = _mm256_add_epi32(sums, _mm256_add_epi32(_mm256_madd_epi16(first, xa), _mm256_madd_epi16(second, xb)));
        }
        let factor = _mm256_set1_ps(s.to_f32() * x.scales[j]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), factor, acc);
        bias_term = b.to_f32().mul_add(x.sums[j], bias_term);
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    lanes.iter().sum::<f32>() + bias_term
}
