//! AVX-512 VNNI versions of the integer quantized matrix-vector kernels of
//! [`qmv_integer`](super::qmv_integer), chosen at run time where the CPU has them.
//!
//! VNNI's `vpdpbusd` multiplies unsigned bytes by signed bytes and adds each four products
//! into an int32 lane in one instruction, with no int16 intermediate to saturate. MLX's
//! affine weights are unsigned (`q` in `0..2^bits`, the offset lives in the bias), so they are
//! the unsigned operand as they are. `vpdpwssd` does the same for int16 activations.
//!
//! Every kernel reads one 64-byte line of a weight row per call (a *chunk*: 128 4-bit or 64
//! 8-bit weights) and returns sixteen int32 lanes per row of `x`; lane `m` holds products of
//! weights `m · chunk / 16 ..` of the chunk only, so each lane belongs to one group for groups
//! of 32, 64 and 128. [`row_sum`] scales the lanes by their group's factor where they are,
//! with no horizontal sum until the end of the row. 4-bit weights unpack without shuffles:
//! masks and shifts take the `s`-th nibble of each byte (int8, two per byte) or 16-bit word
//! (int16, four per word), which is why the activations come in the order of
//! [`quantize_row`](super::qmv_integer::quantize_row): per 128 values, value `s·i + n` at
//! `n · 128/s + i`. 8-bit weights take activations in their natural order.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether the CPU has AVX-512 with VNNI (the features the kernels of this file need), and
/// [`avx512_allowed`](super::avx512_allowed) (`RMX_NO_AVX512` unset).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| super::avx512_bw_available() && is_x86_feature_detected!("avx512vnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Asks for the line [`PREFETCH_AHEAD`](super::PREFETCH_AHEAD) bytes past chunk `c`.
#[inline(always)]
fn prefetch(bytes: *const u8, c: usize) {
    super::prefetch_ahead(bytes.wrapping_add(c * 64));
}

/// Weights per chunk (64 bytes) of `bits`-bit weights.
pub const fn chunk_values(bits: u32) -> usize {
    512 / bits as usize
}

/// Whether these kernels take a product of `k`-value rows of `bits`-bit weights in groups of
/// `g` against int16 (`int16`) or int8 activations: the CPU has them ([`available`]), rows are
/// whole chunks, and 8-bit weights against int16 activations (whose chunk halves share lanes,
/// see [`chunk`]) come in groups of at least 64. Elsewhere the AVX2 kernels run, and
/// [`quantize_row`](super::qmv_integer::quantize_row) lays activations out for them.
pub fn handles(bits: u32, k: usize, g: usize, int16: bool) -> bool {
    available() && k.is_multiple_of(chunk_values(bits)) && !(bits == 8 && int16 && g < 64)
}

/// Chunk `c` (64 bytes from `bytes`) of `BITS` = 4- or 8-bit weights against `R` rows of int8
/// or int16 activations `T`, in the order of the module doc: for 4 bits, a 16-bit word holds
/// weights `4i .. 4i + 4` (int16: one vector per nibble) and a byte weights `2i, 2i + 1`
/// (int8: even, then odd); for 8 bits against int16 the chunk's two halves widen to one
/// vector each and share lanes, so groups must hold at least 64 weights.
///
/// # Safety
/// The CPU has the features of [`available`]; `T` is `i8` or `i16`; chunk `c` is in bounds of
/// `bytes` and of each row of `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
pub unsafe fn chunk<const BITS: u32, T, const R: usize>(bytes: *const u8, x: [*const T; R], c: usize) -> [__m512i; R] {
    // SAFETY: the caller guarantees the features and the bounds (see # Safety).
    unsafe {
        prefetch(bytes, c);
        let at = bytes.add(c * 64);
        let first = c * chunk_values(BITS);
        let line = || _mm512_loadu_si512(at as *const _);
        match (BITS, size_of::<T>()) {
            (4, 2) => {
                let (w, nibble) = (line(), _mm512_set1_epi16(0x0F));
                let q = [
                    _mm512_and_si512(w, nibble),
                    _mm512_and_si512(_mm512_srli_epi16::<4>(w), nibble),
                    _mm512_and_si512(_mm512_srli_epi16::<8>(w), nibble),
                    _mm512_srli_epi16::<12>(w),
                ];
                products(q, x, first)
            }
            (4, _) => {
                let (w, nibble) = (line(), _mm512_set1_epi8(0x0F));
                products([_mm512_and_si512(w, nibble), _mm512_and_si512(_mm512_srli_epi16::<4>(w), nibble)], x, first)
            }
            (_, 2) => {
                let half = |h: usize| _mm512_cvtepu8_epi16(_mm256_loadu_si256(at.add(32 * h) as *const __m256i));
                products([half(0), half(1)], x, first)
            }
            _ => products([line()], x, first),
        }
    }
}

/// For each row of `x` (int8 or int16 activations `T`, from value `first`): the sum of the
/// products of `q[n]` with the `n`-th following 64 bytes of activations (`vpdpwssd` for int16,
/// `vpdpbusd` for int8, with `q` the unsigned operand).
///
/// # Safety
/// As [`chunk`]; `N · 64` bytes from value `first` are in bounds of each row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn products<const N: usize, T, const R: usize>(q: [__m512i; N], x: [*const T; R], first: usize) -> [__m512i; R] {
    // SAFETY: the caller's bounds.
    unsafe {
        x.map(|x| {
            let x = x.add(first) as *const u8;
            let mut sum = _mm512_setzero_si512();
            for (n, q) in q.iter().enumerate() {
                let values = _mm512_loadu_si512(x.add(64 * n) as *const _);
                sum = if size_of::<T>() == 2 { _mm512_dpwssd_epi32(sum, *q, values) } else { _mm512_dpbusd_epi32(sum, *q, values) };
            }
            sum
        })
    }
}

/// The lanes of `mask` from `v` as float32 (zero elsewhere), for any [`Scale`](super::quantized::Scale) type.
///
/// # Safety
/// The CPU has the features of [`available`]; the masked lanes are in bounds of `v`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn widen<S: super::quantized::Scale>(v: *const S, mask: __mmask16) -> __m512 {
    use crate::dtype::Dtype;
    // SAFETY: the caller's bounds; S's layout is that of S::DTYPE.
    unsafe {
        match S::DTYPE {
            Dtype::F32 => _mm512_maskz_loadu_ps(mask, v as *const f32),
            Dtype::BF16 => {
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, v as *const i16))))
            }
            _ => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, v as *const i16)),
        }
    }
}

/// One row of `x` as [`row_sum`] scales it: per group its activation scale and exact sum.
pub struct RowFactors<'a> {
    pub scales: &'a [f32],
    pub sums: &'a [f32],
}

/// Groups whose factors one vector holds.
const LANES: usize = 16;

/// For each of `R` rows of `x`: `Σ_groups s_w s_x · dot + b_w Σx` over one weight row of
/// groups of `G` (`scales` and `biases` per group), given `dot(c)`: chunk `c`'s int32 lanes
/// (chunks of `CHUNK` weights; see the module doc for which group each lane belongs to).
/// Sixteen groups' factors are one vector, and each chunk's lanes pick theirs by a permute.
///
/// # Safety
/// The CPU has the features of [`available`]; `dot` reads whole chunks, `scales.len() · G` is
/// a multiple of `CHUNK`, and each row's factors cover `scales.len()` groups.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
pub unsafe fn row_sum<const R: usize, const G: usize, const CHUNK: usize, S: super::quantized::Scale>(
    scales: &[S],
    biases: &[S],
    xs: [RowFactors; R],
    mut dot: impl FnMut(usize) -> [__m512i; R],
) -> [f32; R] {
    let groups = scales.len();
    // The group (within a chunk's first) of each lane.
    let lane_group: [i32; LANES] = std::array::from_fn(|m| (m * CHUNK / LANES / G) as i32);
    // SAFETY: a 16-lane i32 array.
    let lane_group = unsafe { _mm512_loadu_si512(lane_group.as_ptr() as *const _) };
    let mut acc = [_mm512_setzero_ps(); R];
    for first in (0..groups).step_by(LANES) {
        let count = LANES.min(groups - first);
        let mask: __mmask16 = ((1u32 << count) - 1) as __mmask16;
        // SAFETY: `count` groups from `first` exist in the weights' and each row's factors.
        let (s, b) = unsafe { (widen(scales.as_ptr().add(first), mask), widen(biases.as_ptr().add(first), mask)) };
        let factors: [__m512; R] = std::array::from_fn(|r| unsafe {
            let (x_scales, x_sums) = (xs[r].scales.as_ptr().add(first), xs[r].sums.as_ptr().add(first));
            acc[r] = _mm512_fmadd_ps(b, _mm512_maskz_loadu_ps(mask, x_sums), acc[r]);
            _mm512_mul_ps(s, _mm512_maskz_loadu_ps(mask, x_scales))
        });
        for c in first * G / CHUNK..((first + count) * G).div_ceil(CHUNK) {
            let lanes = dot(c);
            let index = _mm512_add_epi32(lane_group, _mm512_set1_epi32((c * CHUNK / G - first) as i32));
            for r in 0..R {
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes[r]), _mm512_permutexvar_ps(index, factors[r]), acc[r]);
            }
        }
    }
    acc.map(|a| _mm512_reduce_add_ps(a))
}
