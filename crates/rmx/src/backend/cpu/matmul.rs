//! Matrix products through the `gemm` crate (AVX-512 when the CPU has it), with strides
//! passed through so transposed and sliced operands are never copied first.

use super::strided::SendPtr;
use crate::dtype::Dtype;
use crate::element::C64;
use crate::error::{Error, Result};
use crate::storage::Storage;
use gemm::{c32, Parallelism};
use half::f16;

/// One matrix operand: its storage and the strides of its rows and columns, plus the offset
/// (in elements, relative to the view start) of each batch entry.
pub struct MatOperand<'a> {
    pub storage: &'a Storage,
    pub row_stride: isize,
    pub col_stride: isize,
}

/// Products below this many multiply-adds run on one thread: splitting them costs more
/// than it saves (measured on 2 cores: 128×512×10 takes 0.025 ms alone, 0.048 ms split).
const SPLIT_PRODUCT_MIN: usize = 1 << 21;
/// Products below this size in a batch of at least one per thread run one per thread instead
/// of each being split (64 products of 128³: 0.90 ms vs 2.8 ms).
const BATCH_PRODUCT_MAX: usize = 256 * 256 * 256;

/// How the products of one `matmul` call share the threads: across the batch (each product
/// on one thread), within each product, or not at all.
fn parallelism(m: usize, n: usize, k: usize, batch: usize) -> (bool, Parallelism) {
    let (size, threads) = (m * n * k, rayon::current_num_threads());
    let across_batch = batch > 1 && batch >= threads && size < BATCH_PRODUCT_MAX;
    let within = if !across_batch && size >= SPLIT_PRODUCT_MIN { Parallelism::Rayon(threads) } else { Parallelism::None };
    (across_batch, within)
}

/// `out[b] = alpha * out[b] + beta * a[b] @ b[b]` over batches; `out` is row-major
/// `[batch, m, n]`, and `read_out` says whether `out` holds a value to scale (addmm).
pub fn matmul(
    dtype: Dtype,
    (m, n, k): (usize, usize, usize),
    a: &MatOperand,
    b: &MatOperand,
    batch_offsets: &[(isize, isize)],
    out: &Storage,
    (alpha, beta, read_out): (f64, f64, bool),
) -> Result<()> {
    let (across_batch, per_product) = parallelism(m, n, k, batch_offsets.len());
    macro_rules! run {
        ($t:ty, $alpha:expr, $beta:expr) => {{
            let po = SendPtr(out.ptr::<$t>() as *mut $t);
            let product = |batch: usize, (oa, ob): (isize, isize)| {
                // SAFETY: operand views and the fresh output cover every index gemm touches;
                // each batch entry writes its own disjoint `m * n` block.
                unsafe {
                    gemm::gemm::<$t>(
                        m,
                        n,
                        k,
                        po.get().add(batch * m * n),
                        1,
                        n as isize,
                        read_out,
                        a.storage.ptr::<$t>().offset(oa),
                        a.col_stride,
                        a.row_stride,
                        b.storage.ptr::<$t>().offset(ob),
                        b.col_stride,
                        b.row_stride,
                        $alpha,
                        $beta,
                        false,
                        false,
                        false,
                        per_product,
                    );
                }
            };
            if across_batch {
                use rayon::prelude::*;
                batch_offsets.par_iter().enumerate().for_each(|(batch, &offsets)| product(batch, offsets));
            } else {
                batch_offsets.iter().enumerate().for_each(|(batch, &offsets)| product(batch, offsets));
            }
        }};
    }
    match dtype {
        Dtype::F32 => run!(f32, alpha as f32, beta as f32),
        Dtype::F64 => run!(f64, alpha, beta),
        Dtype::F16 => run!(f16, f16::from_f64(alpha), f16::from_f64(beta)),
        Dtype::C64 => run!(c32, c32::new(alpha as f32, 0.0), c32::new(beta as f32, 0.0)),
        Dtype::BF16 if !read_out && alpha == 0.0 && beta == 1.0 && native_bf16_product(m) => {
            if m <= super::matvec_bf16::MAX_ROWS {
                super::matvec_bf16::matmul((m, n, k), a, b, batch_offsets, out)
            } else if super::amx::available() {
                super::matmul_amx::matmul((m, n, k), a, b, batch_offsets, out)
            } else {
                super::matmul_dpbf16::matmul((m, n, k), a, b, batch_offsets, out)
            }
        }
        _ => return Err(Error::dtype_detail("matmul", dtype, "matmul needs float or complex inputs")),
    }
    Ok(())
}

/// Whether [`matmul`] handles `dtype` natively; bf16 goes through f32 unless
/// [`native_bf16_product`] says otherwise.
pub fn native(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::C64)
}

/// Whether [`matmul`] (without `addmm`'s scaling) multiplies bfloat16 operands whose left
/// one has `m` rows without float32 copies: a few rows always (`matvec_bf16`), any number on
/// CPUs with AMX (`matmul_amx`) or AVX-512 BF16 (`matmul_dpbf16`).
pub fn native_bf16_product(m: usize) -> bool {
    m <= super::matvec_bf16::MAX_ROWS || super::amx::available() || super::matmul_dpbf16::available()
}

const _: () = {
    // gemm's complex type must be layout-compatible with ours.
    assert!(std::mem::size_of::<c32>() == std::mem::size_of::<C64>());
};
