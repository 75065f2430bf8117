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
//! Where the CPU has AVX-512 VNNI, [`qmv_vnni`](super::qmv_vnni)'s kernels take over (one
//! instruction multiplies and accumulates 64 unsigned weights by int8 activations, or 32 by
//! int16 ones, with no intermediate to saturate), and 8-bit weights take int8 activations too
//! when asked.
//!
//! Float32 activations keep the float kernel, which MLX's results are checked against, unless
//! [`set_int8_activations`] asks for llama.cpp's precision: then they take the integer kernels
//! too (int8 for 4-bit weights, int16 for 8-bit), which is how llama.cpp multiplies its
//! float32 activations with quantized weights.

use super::quantized::{by_weight_rows, Scale};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether quantized products use llama.cpp's activation precision (see the module doc).
static INT8_ACTIVATIONS: AtomicBool = AtomicBool::new(false);

/// Makes quantized matrix-vector products quantize their activations as llama.cpp does
/// (faster): int8 for 4-bit weights (instead of int16 for float16/bfloat16 activations, MLX's
/// results within half-precision tolerance), and float32 activations integer too (instead of
/// the float kernel). Applies to products built after the call.
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

/// One row of `x` prepared for the integer kernels: quantized values (for 4-bit weights in
/// the order nibbles unpack in, see [`Layout`]), per group its scale and exact sum, and
/// the weights' bit width.
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
/// weights, in the order the kernel that will read it unpacks weights in (see [`Layout`]):
/// to int8 when `int8` (for 8-bit weights only where AVX-512 VNNI multiplies them without
/// saturating, in rows of whole 64-byte chunks), else int16.
pub fn quantize_row(x: &[f32], g: usize, bits: u32, int8: bool) -> QuantizedRow {
    let vnni = |int16| super::qmv_vnni::handles(bits, x.len(), g, int16);
    if int8 && (bits == 4 || vnni(false)) {
        let layout = Layout::of(bits, true, vnni(false));
        let (values, scales, sums) = quantize_groups(x, g, layout, i8::MAX as f32, |v| v as i8);
        QuantizedRow { values: Values::I8(values), scales, sums, bits }
    } else {
        let layout = Layout::of(bits, false, vnni(true));
        let (values, scales, sums) = quantize_groups(x, g, layout, i16::MAX as f32, |v| v as i16);
        QuantizedRow { values: Values::I16(values), scales, sums, bits }
    }
}

/// The order of a quantized row of `x`: the order in which its kernel unpacks the weights.
#[derive(Clone, Copy)]
enum Layout {
    /// As given (8-bit weights).
    Natural,
    /// Per `width` values, value `stride · i + n` at `n · width / stride + i`: for the AVX2
    /// 4-bit kernels (`width` 32, `stride` 2: a block's 16 even-indexed values, then the odd
    /// ones, as a byte's low and high nibbles unpack) and the AVX-512 ones (`width` 128, the
    /// nibbles of a byte for int8 activations or of a 16-bit word for int16, `stride` 2 or 4).
    Interleaved { width: usize, stride: usize },
}

impl Layout {
    /// The layout of activations for `bits`-bit weights; `vnni`: the AVX-512 VNNI kernels take
    /// the product ([`qmv_vnni::handles`](super::qmv_vnni::handles)), else the AVX2 ones do.
    fn of(bits: u32, int8: bool, vnni: bool) -> Layout {
        match bits {
            8 => Layout::Natural,
            _ if vnni => Layout::Interleaved { width: 128, stride: if int8 { 2 } else { 4 } },
            _ => Layout::Interleaved { width: BLOCK, stride: 2 },
        }
    }
}

/// `x` scaled per group of `g` to `±limit`, rounded (half to even) and cast, in `layout`'s
/// order, with each group's scale and exact sum.
fn quantize_groups<T: Copy>(x: &[f32], g: usize, layout: Layout, limit: f32, cast: impl Fn(f32) -> T) -> (Vec<T>, Vec<f32>, Vec<f32>) {
    let mut scaled = vec![0f32; x.len()];
    let mut scales = Vec::with_capacity(x.len() / g);
    let mut sums = Vec::with_capacity(x.len() / g);
    for (group, out) in x.chunks_exact(g).zip(scaled.chunks_exact_mut(g)) {
        // Eight lanes each for the largest magnitude and the sum, so both vectorize.
        let (mut max, mut sum) = ([0f32; 8], [0f32; 8]);
        for chunk in group.chunks_exact(8) {
            for i in 0..8 {
                max[i] = max[i].max(chunk[i].abs());
                sum[i] += chunk[i];
            }
        }
        let max = max.iter().fold(0f32, |m, &v| m.max(v));
        let inv = if max > 0.0 { limit / max } else { 0.0 };
        out.iter_mut().zip(group).for_each(|(d, &v)| *d = (v * inv).round_ties_even());
        scales.push(max / limit);
        sums.push(sum.iter().sum());
    }
    let values = match layout {
        Layout::Natural => scaled.iter().map(|&v| cast(v)).collect(),
        Layout::Interleaved { width, stride } => {
            let mut values = vec![cast(0.0); x.len()];
            for (src, dst) in scaled.chunks_exact(width).zip(values.chunks_exact_mut(width)) {
                for (n, dst) in dst.chunks_exact_mut(width / stride).enumerate() {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = cast(src[stride * i + n]);
                    }
                }
            }
            values
        }
    };
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
/// from [`quantize_row`] (same `g` and `bits`, all int8 or all int16); `out` is
/// `[xs.len(), rows of w]`. Each row of `w` is read from memory once for all rows of `x`, and
/// each block of its weights is unpacked once for up to [`ROWS_AT_ONCE`] of them. Callers
/// check [`applies`] first.
pub fn qmv<S: Scale>(xs: &[QuantizedRow], w: &PackedWeights<S>, out: &mut [f32]) {
    let (m, groups) = (xs.len(), w.k / w.g);
    let words_per_row = w.k * w.bits as usize / 32;
    let n = w.scales.len() / groups.max(1);
    let vnni = super::qmv_vnni::available();
    by_weight_rows(out, m, n, |first, block| {
        for (i, acc) in block.chunks_mut(m).enumerate() {
            let r = first + i;
            let words = &w.words[r * words_per_row..(r + 1) * words_per_row];
            let (s, b) = (&w.scales[r * groups..(r + 1) * groups], &w.biases[r * groups..(r + 1) * groups]);
            let mut done = 0;
            while done < m {
                let take = (m - done).min(ROWS_AT_ONCE);
                let out = &mut acc[done..done + take];
                match take {
                    4 => out.copy_from_slice(&rows_dot::<4, S>(words, rows(xs, done), s, b, w.g, vnni)),
                    3 => out.copy_from_slice(&rows_dot::<3, S>(words, rows(xs, done), s, b, w.g, vnni)),
                    2 => out.copy_from_slice(&rows_dot::<2, S>(words, rows(xs, done), s, b, w.g, vnni)),
                    _ => out.copy_from_slice(&rows_dot::<1, S>(words, rows(xs, done), s, b, w.g, vnni)),
                }
                done += take;
            }
        }
    });
}

/// Rows of `x` that share each unpacked block of weights (accumulators and activations of
/// four rows fit the sixteen vector registers with the weights).
const ROWS_AT_ONCE: usize = 4;

fn rows<const R: usize>(xs: &[QuantizedRow], at: usize) -> [&QuantizedRow; R] {
    std::array::from_fn(|i| &xs[at + i])
}

/// One weight row against `R` quantized rows of `x`, dispatched on the weight and group size,
/// on the AVX-512 VNNI kernels where `vnni` (the CPU has them: [`qmv_vnni::available`](super::qmv_vnni::available)).
fn rows_dot<const R: usize, S: Scale>(words: &[u32], xs: [&QuantizedRow; R], scales: &[S], biases: &[S], g: usize, vnni: bool) -> [f32; R] {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = words.as_ptr() as *const u8;
        // SAFETY: callers checked `applies` (AVX2, FMA, group size); `words` holds a whole row
        // for the groups of `scales`, and every row of `xs` was quantized for the same `k`,
        // `g` and bits, all to int8 or all to int16 (int8 with 8 bits only where VNNI is), and
        // `vnni` only where the CPU has the VNNI kernels' features.
        unsafe {
            if vnni {
                if let Some(sums) = rows_dot_vnni(bytes, xs, scales, biases, g) {
                    return sums;
                }
            }
            match (&xs[0].values, xs[0].bits, g) {
                (Values::I8(_), _, 32) => row_dot_4bit_int8::<32, R, S>(bytes, xs, scales, biases),
                (Values::I8(_), _, 64) => row_dot_4bit_int8::<64, R, S>(bytes, xs, scales, biases),
                (Values::I8(_), _, _) => row_dot_4bit_int8::<128, R, S>(bytes, xs, scales, biases),
                (Values::I16(_), 4, 32) => row_dot_int16::<4, 32, R, S>(bytes, xs, scales, biases),
                (Values::I16(_), 4, 64) => row_dot_int16::<4, 64, R, S>(bytes, xs, scales, biases),
                (Values::I16(_), 4, _) => row_dot_int16::<4, 128, R, S>(bytes, xs, scales, biases),
                (Values::I16(_), _, 32) => row_dot_int16::<8, 32, R, S>(bytes, xs, scales, biases),
                (Values::I16(_), _, 64) => row_dot_int16::<8, 64, R, S>(bytes, xs, scales, biases),
                (Values::I16(_), _, _) => row_dot_int16::<8, 128, R, S>(bytes, xs, scales, biases),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (words, xs, scales, biases, g, vnni);
        unreachable!("callers check `applies`")
    }
}

/// [`rows_dot`] on AVX-512 VNNI (see [`qmv_vnni`](super::qmv_vnni)), or `None` where the
/// AVX2 kernels keep the product ([`qmv_vnni::handles`](super::qmv_vnni::handles)).
///
/// # Safety
/// As [`rows_dot`]'s kernels, and the CPU has [`qmv_vnni::available`](super::qmv_vnni::available)'s features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn rows_dot_vnni<const R: usize, S: Scale>(
    bytes: *const u8,
    xs: [&QuantizedRow; R],
    scales: &[S],
    biases: &[S],
    g: usize,
) -> Option<[f32; R]> {
    use super::qmv_vnni::{chunk, chunk_values, handles, row_sum, RowFactors};
    let bits = xs[0].bits;
    if !handles(bits, scales.len() * g, g, matches!(xs[0].values, Values::I16(_))) {
        return None;
    }
    let factors = || xs.map(|x| RowFactors { scales: &x.scales, sums: &x.sums });
    // The bit width and group size as constants (so lanes find their group by shifts, not
    // divisions), for activation pointers `$x`.
    macro_rules! by_shape {
        ($x:expr) => {{
            let x = $x;
            // SAFETY (every arm): the caller's sizes (whole chunks, checked by `handles`); the
            // features are this function's.
            unsafe {
                match (bits, g) {
                    (4, 32) => row_sum::<R, 32, { chunk_values(4) }, S>(scales, biases, factors(), |c| chunk::<4, _, R>(bytes, x, c)),
                    (4, 64) => row_sum::<R, 64, { chunk_values(4) }, S>(scales, biases, factors(), |c| chunk::<4, _, R>(bytes, x, c)),
                    (4, _) => row_sum::<R, 128, { chunk_values(4) }, S>(scales, biases, factors(), |c| chunk::<4, _, R>(bytes, x, c)),
                    (_, 32) => row_sum::<R, 32, { chunk_values(8) }, S>(scales, biases, factors(), |c| chunk::<8, _, R>(bytes, x, c)),
                    (_, 64) => row_sum::<R, 64, { chunk_values(8) }, S>(scales, biases, factors(), |c| chunk::<8, _, R>(bytes, x, c)),
                    _ => row_sum::<R, 128, { chunk_values(8) }, S>(scales, biases, factors(), |c| chunk::<8, _, R>(bytes, x, c)),
                }
            }
        }};
    }
    Some(match &xs[0].values {
        Values::I16(_) => by_shape!(xs.map(|x| x.int16().as_ptr())),
        Values::I8(_) => by_shape!(xs.map(|x| x.int8().as_ptr())),
    })
}

impl QuantizedRow {
    fn int8(&self) -> &[i8] {
        match &self.values {
            Values::I8(v) => v,
            Values::I16(_) => unreachable!("rows of one product are quantized alike"),
        }
    }
    fn int16(&self) -> &[i16] {
        match &self.values {
            Values::I16(v) => v,
            Values::I8(_) => unreachable!("rows of one product are quantized alike"),
        }
    }
}

/// Groups whose float factors are prepared together: `s_w · s_x` and the bias term
/// `b_w · Σx` of eight groups are one vector multiply and one multiply-add.
const GROUP_LANES: usize = 8;

/// For each of `R` rows of `x`: `Σ_groups factor_j · dot_j(group) + b_j Σx_j` over one weight
/// row, where `dot(j)` returns group `j`'s integer dot products (eight int32 lanes per row);
/// the factors and bias terms of eight groups at a time are computed as vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn row_sum<const R: usize, S: Scale>(
    xs: [&QuantizedRow; R],
    scales: &[S],
    biases: &[S],
    mut dot: impl FnMut(usize) -> [std::arch::x86_64::__m256i; R],
) -> [f32; R] {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); R];
    let mut bias_acc = [_mm256_setzero_ps(); R];
    let whole = scales.len() / GROUP_LANES * GROUP_LANES;
    for first in (0..whole).step_by(GROUP_LANES) {
        let widen = |v: &[S]| -> [f32; GROUP_LANES] { std::array::from_fn(|i| v[first + i].to_f32()) };
        let (s, b) = (widen(scales), widen(biases));
        let mut factors = [[0f32; GROUP_LANES]; R];
        for r in 0..R {
            // SAFETY: `first + 8` groups exist in each row's per-group scales and sums as in
            // `scales`; `s`, `b` and `factors[r]` hold eight floats.
            unsafe {
                let (xs_r, sums) = (_mm256_loadu_ps(xs[r].scales.as_ptr().add(first)), _mm256_loadu_ps(xs[r].sums.as_ptr().add(first)));
                _mm256_storeu_ps(factors[r].as_mut_ptr(), _mm256_mul_ps(_mm256_loadu_ps(s.as_ptr()), xs_r));
                bias_acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(b.as_ptr()), sums, bias_acc[r]);
            }
        }
        for i in 0..GROUP_LANES {
            let dots = dot(first + i);
            for r in 0..R {
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[r]), _mm256_set1_ps(factors[r][i]), acc[r]);
            }
        }
    }
    let mut tail = [0f32; R];
    for j in whole..scales.len() {
        let dots = dot(j);
        for r in 0..R {
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[r]), _mm256_set1_ps(scales[j].to_f32() * xs[r].scales[j]), acc[r]);
            tail[r] = biases[j].to_f32().mul_add(xs[r].sums[j], tail[r]);
        }
    }
    std::array::from_fn(|r| horizontal_sum(_mm256_add_ps(acc[r], bias_acc[r])) + tail[r])
}

/// 4-bit weights (16 bytes per block, byte `i` holding weights `2i` and `2i + 1`) against
/// `R` rows of int8 activations in nibble order. Callers ensure AVX2 and FMA, `G / 2` bytes of
/// weights and `G` values per group of `scales`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_dot_4bit_int8<const G: usize, const R: usize, S: Scale>(
    bytes: *const u8,
    xs: [&QuantizedRow; R],
    scales: &[S],
    biases: &[S],
) -> [f32; R] {
    use std::arch::x86_64::*;
    let low_nibbles = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let values = xs.map(QuantizedRow::int8);
    let dot = |j: usize| {
        super::prefetch_ahead(bytes.wrapping_add(j * G / 2));
        let mut sums = [_mm256_setzero_si256(); R];
        for blk in 0..G / BLOCK {
            let at = j * G + blk * BLOCK;
            // SAFETY: group `j` holds G weights (G / 2 bytes) (caller's sizes).
            let packed = unsafe { _mm_loadu_si128(bytes.add(at / 2) as *const __m128i) };
            // Even-indexed weights in the low 16 bytes, odd-indexed ones in the high 16.
            let q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low_nibbles);
            for r in 0..R {
                // SAFETY: each row holds G values per group.
                let xq = unsafe { _mm256_loadu_si256(values[r].as_ptr().add(at) as *const __m256i) };
                sums[r] = _mm256_add_epi16(sums[r], _mm256_maddubs_epi16(q, xq));
            }
        }
        sums.map(|v| _mm256_madd_epi16(v, ones))
    };
    row_sum(xs, scales, biases, dot)
}

/// `BITS` = 4 or 8-bit weights against `R` rows of int16 activations (in nibble order for 4
/// bits: a block's 16 bytes widen to 16-bit lanes whose low and high nibbles are the even- and
/// odd-indexed weights). Callers ensure AVX2 and FMA, `G · BITS / 8` bytes of weights and `G`
/// values per group of `scales`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_dot_int16<const BITS: usize, const G: usize, const R: usize, S: Scale>(
    bytes: *const u8,
    xs: [&QuantizedRow; R],
    scales: &[S],
    biases: &[S],
) -> [f32; R] {
    use std::arch::x86_64::*;
    let low_nibble = _mm256_set1_epi16(0x0F);
    let values = xs.map(QuantizedRow::int16);
    let dot = |j: usize| {
        super::prefetch_ahead(bytes.wrapping_add(j * G * BITS / 8));
        let mut sums = [_mm256_setzero_si256(); R];
        for blk in 0..G / BLOCK {
            let at = j * G + blk * BLOCK;
            // SAFETY: group `j` holds G weights (G · BITS / 8 bytes) (caller's sizes).
            let (low, high) = unsafe {
                if BITS == 4 {
                    let w = _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at / 2) as *const __m128i));
                    (_mm256_and_si256(w, low_nibble), _mm256_srli_epi16(w, 4))
                } else {
                    let low = _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at) as *const __m128i));
                    (low, _mm256_cvtepu8_epi16(_mm_loadu_si128(bytes.add(at + 16) as *const __m128i)))
                }
            };
            for r in 0..R {
                // SAFETY: each row holds G values per group.
                let (xa, xb) = unsafe {
                    let x = values[r].as_ptr().add(at);
                    (_mm256_loadu_si256(x as *const __m256i), _mm256_loadu_si256(x.add(16) as *const __m256i))
                };
                sums[r] = _mm256_add_epi32(sums[r], _mm256_add_epi32(_mm256_madd_epi16(low, xa), _mm256_madd_epi16(high, xb)));
            }
        }
        sums
    };
    row_sum(xs, scales, biases, dot)
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
