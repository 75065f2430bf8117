//! 4- and 8-bit quantized matrix-vector products for half-precision activations, on integer
//! multiply-adds.
//!
//! When `x` comes from bfloat16 or float16 it is quantized per weight group, then multiplied
//! with the packed weights by AVX2 integer instructions; each group's sum is exact in
//! integers and scaled in float32: `Σ_groups s_w s_x Σ q·x_q + b_w Σ x` (the bias term uses
//! the exact float sums of `x`).
//!
//! Activations are int16 by default (scale `max|x| / 32767`, multiplied by `vpmaddwd`): the
//! added error is below 2^-15 of a group's largest activation, far under the inputs' own
//! rounding, so results match MLX's within half-precision tolerances. With
//! [`set_int8_activations`], 4-bit weights take int8 activations instead (scale
//! `max|x| / 127`, `vpmaddubsw`: 32 products per instruction, summed in int16 across the
//! group, at most 8 blocks of `2 · 15 · 127`, no saturation), as llama.cpp does: half the
//! instructions per weight, at an activation error of up to 1/254 of each group's largest
//! value, still below the 4-bit weights' own (1/30 of a group's range).
//!
//! Float32 activations keep the float kernel, which MLX's results are checked against.

use super::quantized::{by_weight_rows, Scale};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether 4-bit products quantize half-precision activations to int8 (see the module doc).
static INT8_ACTIVATIONS: AtomicBool = AtomicBool::new(false);

/// Makes 4-bit quantized products with float16/bfloat16 activations quantize them to int8
/// (faster, llama.cpp's precision) instead of int16 (the default, MLX's results within
/// half-precision tolerance). Applies to products built after the call.
///
/// ```
/// rmx::set_int8_activations(true);
/// assert!(rmx::int8_activations());
/// rmx::set_int8_activations(false);
/// ```
pub fn set_int8_activations(enabled: bool) {
    INT8_ACTIVATIONS.store(enabled, Ordering::Relaxed);
}

/// Whether [`set_int8_activations`] is on.
pub fn int8_activations() -> bool {
    INT8_ACTIVATIONS.load(Ordering::Relaxed)
}

/// Values per block: 16 bytes of 4-bit or 32 bytes of 8-bit weights.
const BLOCK: usize = 32;

/// One row of `x` prepared for the integer kernels: quantized values (for 4-bit weights, per
/// block of 32 the 16 even-indexed then the 16 odd-indexed ones, the order in which nibbles
/// unpack), per group its scale and exact sum, and the weights' bit width.
pub struct QuantizedRow {
    values: Values,
    scales: Vec<f32>,
    sums: Vec<f32>,
    bits: u32,
}

enum Values {
    I8(Vec<i8>),
    I16(Vec<i16>),
}

/// Whether the integer kernels apply: 4- or 8-bit weights, groups of 32, 64 or 128, AVX2.
pub fn applies(bits: u32, group_size: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(bits, 4 | 8) && matches!(group_size, 32 | 64 | 128) && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (bits, group_size);
        false
    }
}

/// Quantizes one row of `x` (a multiple of `g` values) per group of `g`, for `bits`-bit
/// weights, in nibble order for 4 bits: to int8 when `int8` (4-bit weights only), else int16.
pub fn quantize_row(x: &[f32], g: usize, bits: u32, int8: bool) -> QuantizedRow {
    if int8 && bits == 4 {
        let (values, scales, sums) = quantize_groups(x, g, bits, i8::MAX as f32, |v| v as i8);
        QuantizedRow { values: Values::I8(values), scales, sums, bits }
    } else {
        let (values, scales, sums) = quantize_groups(x, g, bits, i16::MAX as f32, |v| v as i16);
        QuantizedRow { values: Values::I16(values), scales, sums, bits }
    }
}

/// `x` scaled per group of `g` to `±limit`, rounded and cast (nibble order for 4 bits),
/// with each group's scale and exact sum.
fn quantize_groups<T: Copy + Default>(x: &[f32], g: usize, bits: u32, limit: f32, cast: impl Fn(f32) -> T) -> (Vec<T>, Vec<f32>, Vec<f32>) {
    let mut values = vec![T::default(); x.len()];
    let mut scales = Vec::with_capacity(x.len() / g);
    let mut sums = Vec::with_capacity(x.len() / g);
    for (group, out) in x.chunks_exact(g).zip(values.chunks_exact_mut(g)) {
        let max = group.iter().fold(0f32, |m, v| m.max(v.abs()));
        let inv = if max > 0.0 { limit / max } else { 0.0 };
        for (src, dst) in group.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
            for i in 0..BLOCK / 2 {
                let (a, b) = if bits == 4 { (2 * i, 2 * i + 1) } else { (i, BLOCK / 2 + i) };
                dst[i] = cast((src[a] * inv).round());
                dst[BLOCK / 2 + i] = cast((src[b] * inv).round());
            }
        }
        scales.push(max / limit);
        sums.push(group.iter().sum());
    }
    (values, scales, sums)
}

/// A packed weight matrix: rows of `k` values of `bits` bits in groups of `g`, with their
/// scales and biases (`k / g` per row).
pub struct PackedWeights<'a, S> {
    pub words: &'a [u32],
    pub scales: &'a [S],
    pub biases: &'a [S],
    pub k: usize,
    pub g: usize,
    pub bits: u32,
}

/// `out[i, r] = Σ_k x_i[k] · dequant(w)[r, k]` for the rows `r` of `w` and the rows `x_i`
/// from [`quantize_row`] (same `g` and `bits`); `out` is `[xs.len(), rows of w]`. Each row of
/// `w` is read from memory once for all rows of `x`. Callers check [`applies`] first.
pub fn qmv<S: Scale>(xs: &[QuantizedRow], w: &PackedWeights<S>, out: &mut [f32]) {
    let (m, groups) = (xs.len(), w.k / w.g);
    let words_per_row = w.k * w.bits as usize / 32;
    let n = w.scales.len() / groups.max(1);
    by_weight_rows(out, m, n, |first, block| {
        for (i, acc) in block.chunks_mut(m).enumerate() {
            let r = first + i;
            let words = &w.words[r * words_per_row..(r + 1) * words_per_row];
            let (s, b) = (&w.scales[r * groups..(r + 1) * groups], &w.biases[r * groups..(r + 1) * groups]);
            for (a, x) in acc.iter_mut().zip(xs) {
                *a = row_dot(words, x, s, b, w.g);
            }
        }
    });
}

/// One weight row against one quantized row of `x`, dispatched on the weight and group size.
fn row_dot<S: Scale>(words: &[u32], x: &QuantizedRow, scales: &[S], biases: &[S], g: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = words.as_ptr() as *const u8;
        // SAFETY: callers checked `applies` (AVX2, FMA, group size); `words` holds a whole row
        // for the groups of `scales`, and `x` was quantized for the same `k`, `g` and bits.
        unsafe {
            match (&x.values, x.bits, g) {
                (Values::I8(v), _, 32) => row_dot_4bit_int8::<32, S>(bytes, v, x, scales, biases),
                (Values::I8(v), _, 64) => row_dot_4bit_int8::<64, S>(bytes, v, x, scales, biases),
                (Values::I8(v), _, _) => row_dot_4bit_int8::<128, S>(bytes, v, x, scales, biases),
                (Values::I16(v), 4, 32) => row_dot_int16::<4, 32, S>(bytes, v, x, scales, biases),
                (Values::I16(v), 4, 64) => row_dot_int16::<4, 64, S>(bytes, v, x, scales, biases),
                (Values::I16(v), 4, _) => row_dot_int16::<4, 128, S>(bytes, v, x, scales, biases),
                (Values::I16(v), _, 32) => row_dot_int16::<8, 32, S>(bytes, v, x, scales, biases),
                (Values::I16(v), _, 64) => row_dot_int16::<8, 64, S>(bytes, v, x, scales, biases),
                (Values::I16(v), _, _) => row_dot_int16::<8, 128, S>(bytes, v, x, scales, biases),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (words, x, scales, biases, g);
        unreachable!("callers check `applies`")
    }
}

/// Groups whose float factors are prepared together: `s_w · s_x` and the bias term
/// `b_w · Σx` of eight groups are one vector multiply and one multiply-add.
const GROUP_LANES: usize = 8;

/// `Σ_groups factor_j · dot_j(group) + b_j Σx_j` over one weight row, where `dot(j)`
/// returns group `j`'s integer dot product as eight int32 lanes; the factors and the bias
/// terms of eight groups at a time are computed as vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn row_sum<S: Scale>(x: &QuantizedRow, scales: &[S], biases: &[S], mut dot: impl FnMut(usize) -> std::arch::x86_64::__m256i) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = _mm256_setzero_ps();
    let mut bias_acc = _mm256_setzero_ps();
    let whole = scales.len() / GROUP_LANES * GROUP_LANES;
    for first in (0..whole).step_by(GROUP_LANES) {
        let widen = |v: &[S]| -> [f32; GROUP_LANES] { std::array::from_fn(|i| v[first + i].to_f32()) };
        let (s, b) = (widen(scales), widen(biases));
        // SAFETY: `first + 8` groups exist in `x`'s per-group scales and sums as in `scales`.
        let (xs, sums) = unsafe { (_mm256_loadu_ps(x.scales.as_ptr().add(first)), _mm256_loadu_ps(x.sums.as_ptr().add(first))) };
        let mut factors = [0f32; GROUP_LANES];
        // SAFETY: both arrays hold eight floats.
        unsafe {
            _mm256_storeu_ps(factors.as_mut_ptr(), _mm256_mul_ps(_mm256_loadu_ps(s.as_ptr()), xs));
            bias_acc = _mm256_fmadd_ps(_mm256_loadu_ps(b.as_ptr()), sums, bias_acc);
        }
        for (i, f) in factors.iter().enumerate() {
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot(first + i)), _mm256_set1_ps(*f), acc);
        }
    }
    let mut tail = 0f32;
    for j in whole..scales.len() {
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot(j)), _mm256_set1_ps(scales[j].to_f32() * x.scales[j]), acc);
        tail = biases[j].to_f32().mul_add(x.sums[j], tail);
    }
    horizontal_sum(_mm256_add_ps(acc, bias_acc)) + tail
}

/// 4-bit weights (16 bytes per block, byte `i` holding weights `2i` and `2i + 1`) against
/// int8 activations in nibble order. Callers ensure AVX2 and FMA, `G / 2` bytes of weights
/// and `G` values per group of `scales`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_dot_4bit_int8<const G: usize, S: Scale>(
    bytes: *const u8,
    values: &[i8],
    x: &QuantizedRow,
    scales: &[S],
    biases: &[S],
) -> f32 {
    use std::arch::x86_64::*;
    let low_nibbles = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let dot = |j: usize| {
        let mut sums = _mm256_setzero_si256();
        for blk in 0..G / BLOCK {
            let at = j * G + blk * BLOCK;
            // SAFETY: group `j` holds G weights (G / 2 bytes) and G values (caller's sizes).
            let (packed, xq) = unsafe {
                (_mm_loadu_si128(bytes.add(at / 2) as *const __m128i), _mm256_loadu_si256(values.as_ptr().add(at) as *const __m256i))
            };
            // Even-indexed weights in the low 16 bytes, odd-indexed ones in the high 16.
            let q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low_nibbles);
            sums = _mm256_add_epi16(sums, _mm256_maddubs_epi16(q, xq));
        }
        _mm256_madd_epi16(sums, ones)
    };
    row_sum(x, scales, biases, dot)
}

/// `BITS` = 4 or 8-bit weights against int16 activations (in nibble order for 4 bits: a
/// block's 16 bytes widen to 16-bit lanes whose low and high nibbles are the even- and
/// odd-indexed weights). Callers ensure AVX2 and FMA, `G · BITS / 8` bytes of weights and `G`
/// values per group of `scales`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_dot_int16<const BITS: usize, const G: usize, S: Scale>(
    bytes: *const u8,
    values: &[i16],
    x: &QuantizedRow,
    scales: &[S],
    biases: &[S],
) -> f32 {
    use std::arch::x86_64::*;
    let low_nibble = _mm256_set1_epi16(0x0F);
    let dot = |j: usize| {
        let mut sums = _mm256_setzero_si256();
        for blk in 0..G / BLOCK {
            let at = j * G + blk * BLOCK;
            // SAFETY: group `j` holds G weights (G · BITS / 8 bytes) and G values (caller's sizes).
            let (low, high, xa, xb) = unsafe {
                let xs = values.as_ptr().add(at);
                let (xa, xb) = (_mm256_loadu_si256(xs as *const __m256i), _mm256_loadu_si256(xs.add(16) as *const __m256i));
                if BITS == 4 {
                    let w = _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at / 2) as *const __m128i));
                    (_mm256_and_si256(w, low_nibble), _mm256_srli_epi16(w, 4), xa, xb)
                } else {
                    let low = _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at) as *const __m128i));
                    (low, _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at + 16) as *const __m128i)), xa, xb)
                }
            };
            sums = _mm256_add_epi32(sums, _mm256_add_epi32(_mm256_madd_epi16(low, xa), _mm256_madd_epi16(high, xb)));
        }
        sums
    };
    row_sum(x, scales, biases, dot)
}

/// The sum of a vector's eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn horizontal_sum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)))
}
