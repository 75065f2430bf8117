//! The CPU backend: strided kernels over every dtype, multi-threaded with rayon above a
//! size threshold (set `RAYON_NUM_THREADS` to bound the threads).

pub mod amx;
pub mod attention;
pub mod bf16_lines;
pub mod copy;
pub mod elementwise;
pub mod erf;
pub mod exp;
pub mod fft;
pub mod fp_quantized;
pub mod fused;
pub mod fused_plan;
pub mod hadamard;
pub mod jit;
pub mod lines;
pub mod math;
pub mod matmul;
pub mod matmul_amx;
pub mod matmul_dpbf16;
pub mod matvec_bf16;
pub mod parallel;
pub mod qmv_fp;
pub mod qmv_integer;
pub mod qmv_vnni;
pub mod quantized;
pub mod radix;
pub mod reduce;
pub mod rope_norm;
pub mod scratch;
pub mod sort;
pub mod strided;

/// Whether the AVX-512 kernels (VNNI quantized products, BF16 products) may run where the CPU
/// has them: `RMX_NO_AVX512=1` keeps the AVX2 kernels, to compare or test them.
pub fn avx512_allowed() -> bool {
    std::env::var_os("RMX_NO_AVX512").is_none()
}

/// Whether the CPU has AVX-512 F, BW and VL with AVX2 and FMA, and [`avx512_allowed`] (checked
/// once): what the AVX-512 kernels of this backend need beyond their own extensions.
pub fn avx512_bw_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            avx512_allowed()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// How far ahead of its current position a matrix-vector kernel asks for weights: the
/// hardware prefetchers alone stream a weight matrix from memory at about 13 GB/s on two cores
/// of the Xeon these kernels were measured on; a prefetch 2 KB ahead keeps enough lines in
/// flight for about 20 GB/s (1 KB: 17, 4 KB: 17.5).
pub const PREFETCH_AHEAD: usize = 2048;

/// Asks the cache for the line [`PREFETCH_AHEAD`] bytes past `at` (a hint: it never faults,
/// and past the end of the weights it fetches nothing useful).
#[inline(always)]
pub fn prefetch_ahead<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching reads no memory architecturally, for any address.
    unsafe {
        use std::arch::x86_64::*;
        _mm_prefetch::<_MM_HINT_T0>((at as *const i8).wrapping_add(PREFETCH_AHEAD))
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
