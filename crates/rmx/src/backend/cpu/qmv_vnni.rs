//! AVX-512 VNNI versions of the integer quantized matrix-vector kernels of
//! [`qmv_integer`](super::qmv_integer), chosen at run time where the CPU has them.
//!
//! VNNI's `vpdpbusd` multiplies unsigned bytes by signed bytes and adds each four products
//! into an int32 lane in one instruction, with no int16 intermediate to saturate. MLX's
//! affine weights are unsigned (`q` in `0..2^bits`, the offset lives in the bias), so they are
//! the unsigned operand as they are: 64 products per instruction for 4- and 8-bit weights
//! against int8 activations. `vpdpwssd` does the same for int16 activations (32 products).
//!
//! The activation layouts are those of [`quantize_row`](super::qmv_integer::quantize_row):
//! for 4-bit weights per block of 32 values the 16 even-indexed then the 16 odd-indexed ones
//! (the order nibbles unpack in), except for int16 activations in groups of 64 or more, which
//! gather the even then the odd values of two blocks; for 8-bit weights the natural order.
//! Each kernel returns a group's eight int32 partial sums per row of `x`, as the AVX2 kernels
//! do, so the float scaling (`row_sum` in `qmv_integer`) is shared.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether the CPU has AVX-512 with VNNI (the features the kernels of this file need), and
/// [`avx512_allowed`](super::avx512_allowed) (`RMX_NO_AVX512` unset).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            super::avx512_allowed()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vnni")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Adds the upper half of `v` to its lower half: a group's sixteen int32 lanes as eight.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
fn fold(v: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
}

/// Group `j`'s int32 partial sums of `BITS` = 4- or 8-bit weights (`G · BITS / 8` bytes per
/// group from `bytes`) against `R` rows of int8 activations (`x[r]` from group 0; nibble order
/// for 4 bits, natural order for 8).
///
/// # Safety
/// The CPU has the features of [`available`]; every group up to `j` is in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
pub unsafe fn dot_int8<const BITS: usize, const G: usize, const R: usize>(bytes: *const u8, x: [*const i8; R], j: usize) -> [__m256i; R] {
    // SAFETY: the caller guarantees the features and the bounds (see # Safety).
    unsafe {
        let low_nibbles = _mm512_set1_epi8(0x0F);
        if G == 32 {
            // One block: for 4 bits its 16 bytes' low nibbles then high ones (even, then odd).
            let at = j * G;
            let q = if BITS == 4 {
                let packed = _mm_loadu_si128(bytes.add(at / 2) as *const __m128i);
                _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm512_castsi512_si256(low_nibbles))
            } else {
                _mm256_loadu_si256(bytes.add(at) as *const __m256i)
            };
            return std::array::from_fn(|r| {
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256(x[r].add(at) as *const __m256i))
            });
        }
        // For 4 bits, 32 bytes hold two blocks A and B; their 128-bit halves go to lanes
        // [A, A, B, B] and the odd lanes shift right by a nibble: [A even, A odd, B even, B odd],
        // the order of x.
        let shifts = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
        let mut sums = [_mm512_setzero_si512(); R];
        for part in 0..G / 64 {
            let at = j * G + part * 64;
            let q = if BITS == 4 {
                let packed = _mm512_castsi256_si512(_mm256_loadu_si256(bytes.add(at / 2) as *const __m256i));
                _mm512_and_si512(_mm512_srlv_epi64(_mm512_shuffle_i64x2::<0x50>(packed, packed), shifts), low_nibbles)
            } else {
                _mm512_loadu_si512(bytes.add(at) as *const _)
            };
            for r in 0..R {
                sums[r] = _mm512_dpbusd_epi32(sums[r], q, _mm512_loadu_si512(x[r].add(at) as *const _));
            }
        }
        sums.map(|v| fold(v))
    }
}

/// Group `j`'s int32 partial sums of `BITS` = 4- or 8-bit weights against `R` rows of int16
/// activations (for 4 bits in two-block nibble order), for groups of 64 or 128.
///
/// # Safety
/// As [`dot_int8`], and `G` is a multiple of 64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
#[inline]
pub unsafe fn dot_int16<const BITS: usize, const G: usize, const R: usize>(bytes: *const u8, x: [*const i16; R], j: usize) -> [__m256i; R] {
    // SAFETY: the caller guarantees the features and the bounds (see # Safety).
    unsafe {
        let low_nibble = _mm512_set1_epi16(0x0F);
        let mut sums = [_mm512_setzero_si512(); R];
        for part in 0..G / 64 {
            let at = j * G + part * 64;
            let (first, second) = if BITS == 4 {
                // 32 bytes widen to [A bytes, B bytes] of blocks A and B: their low nibbles
                // are [A even, B even] and their high ones [A odd, B odd], the order of x here.
                let w = _mm512_cvtepu8_epi16(_mm256_loadu_si256(bytes.add(at / 2) as *const __m256i));
                (_mm512_and_si512(w, low_nibble), _mm512_srli_epi16::<4>(w))
            } else {
                (
                    _mm512_cvtepu8_epi16(_mm256_loadu_si256(bytes.add(at) as *const __m256i)),
                    _mm512_cvtepu8_epi16(_mm256_loadu_si256(bytes.add(at + 32) as *const __m256i)),
                )
            };
            for r in 0..R {
                let xr = x[r].add(at);
                let partial = _mm512_dpwssd_epi32(sums[r], first, _mm512_loadu_si512(xr as *const _));
                sums[r] = _mm512_dpwssd_epi32(partial, second, _mm512_loadu_si512(xr.add(32) as *const _));
            }
        }
        sums.map(|v| fold(v))
    }
}
