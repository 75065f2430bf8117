//! The CPU backend: strided kernels over every dtype, multi-threaded with rayon above a
//! size threshold (set `RAYON_NUM_THREADS` to bound the threads).

pub mod attention;
pub mod copy;
pub mod elementwise;
pub mod fft;
pub mod fused;
pub mod hadamard;
pub mod lines;
pub mod math;
pub mod matmul;
pub mod matvec_bf16;
pub mod qmv_integer;
pub mod qmv_vnni;
pub mod quantized;
pub mod reduce;
pub mod rope_norm;
pub mod sort;
pub mod strided;

/// Whether the AVX-512 kernels (VNNI quantized products, BF16 products) may run where the CPU
/// has them: `RMX_NO_AVX512=1` keeps the AVX2 kernels, to compare or test them.
pub fn avx512_allowed() -> bool {
    std::env::var_os("RMX_NO_AVX512").is_none()
}
