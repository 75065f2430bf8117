//! Floating-point quantization primitives (`mxfp4`, `mxfp8`, `nvfp4`): `FpQuantize` (float32
//! rows → packed codes and one scale byte per group), `FpDequantize` (back to float32) and
//! `FpQuantizedMatmul` (decode-sized `x @ dequant(w).T` straight from the packed codes). An
//! optional last input of the first two is nvfp4's float32 global scale (a scalar). Inputs
//! arrive row-contiguous.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::fp_quantized as kernels;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::ops::quantized::QuantMode;
use crate::storage::alloc_output;

/// Quantizes float32 `[..., K]` into `uint32 [..., K*bits/32]` codes and `uint8 [..., K/g]`
/// scales; inputs `[w]` or `[w, global_scale]`.
#[derive(Debug)]
pub struct FpQuantize {
    pub mode: QuantMode,
}

/// Rebuilds float32 `[..., K]` from codes and scale bytes; inputs `[wq, scales]` or `[wq,
/// scales, global_scale]`.
#[derive(Debug)]
pub struct FpDequantize {
    pub mode: QuantMode,
}

/// `x [M, K] @ dequant(w [N, K]).T` for few rows (decode), reading the packed codes once;
/// inputs `[x, wq, scales]`, `x` and the result in one float dtype.
#[derive(Debug)]
pub struct FpQuantizedMatmul {
    pub mode: QuantMode,
}

/// The global scale input at `index`, if present, as a float.
fn global_scale(inputs: &[Array], index: usize) -> Result<Option<f32>> {
    inputs.get(index).map(|g| g.item::<f32>()).transpose()
}

impl Primitive for FpQuantize {
    fn name(&self) -> &'static str {
        "quantize"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let w = &inputs[0];
        let global = global_scale(inputs, 1)?;
        let (codes, scales) = (alloc_output(outputs[0].shape(), Dtype::U32)?, alloc_output(outputs[1].shape(), Dtype::U8)?);
        let ws = w.storage()?;
        // SAFETY: the input is row-contiguous float32 of `w.size()` elements; the two
        // outputs are fresh, distinct allocations of their sizes.
        unsafe {
            kernels::quantize(
                ws.as_slice::<f32>(w.size()),
                self.mode,
                global,
                &mut *std::ptr::slice_from_raw_parts_mut(codes.ptr::<u32>() as *mut u32, outputs[0].size()),
                &mut *std::ptr::slice_from_raw_parts_mut(scales.ptr::<u8>() as *mut u8, outputs[1].size()),
            );
        }
        outputs[0].set_storage(codes);
        outputs[1].set_storage(scales);
        Ok(())
    }
}

impl Primitive for FpDequantize {
    fn name(&self) -> &'static str {
        "dequantize"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (wq, scales, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let global = global_scale(inputs, 2)?;
        let (qs, ss) = (wq.storage()?, scales.storage()?);
        let storage = alloc_output(out.shape(), Dtype::F32)?;
        // SAFETY: row-contiguous inputs of their sizes; the output is fresh.
        unsafe {
            kernels::dequantize(
                qs.as_slice::<u32>(wq.size()),
                ss.as_slice::<u8>(scales.size()),
                self.mode,
                global,
                &mut *std::ptr::slice_from_raw_parts_mut(storage.ptr::<f32>() as *mut f32, out.size()),
            );
        }
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, _: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let what = match argnums.first() {
            Some(0) => "the packed weights (integers)",
            Some(1) => "the scales of a floating-point mode (as MLX)",
            _ => "the global scale",
        };
        Err(Error::NotImplemented(format!("vjp of dequantize ({:?}) with respect to {what}", self.mode)))
    }
}

impl Primitive for FpQuantizedMatmul {
    fn name(&self) -> &'static str {
        "quantized_matmul"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, wq, scales, out) = (&inputs[0], &inputs[1], &inputs[2], &outputs[0]);
        let k = *x.shape().last().expect("checked: ndim >= 1");
        let (m, n) = (x.size() / k.max(1), wq.shape()[0]);
        let (qs, ss) = (wq.storage()?, scales.storage()?);
        super::quantized::in_float32(x, out, |xv, dst| {
            // SAFETY: row-contiguous inputs of their sizes.
            let (packed, bytes) = unsafe { (qs.as_slice::<u32>(wq.size()), ss.as_slice::<u8>(scales.size())) };
            crate::backend::cpu::qmv_fp::qmv_fp(xv, m, packed, bytes, n, k, self.mode, dst);
            Ok(())
        })
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (x, wq, scales) = (&inputs[0], &inputs[1], &inputs[2]);
        let (group_size, bits) = self.mode.fixed_format().expect("a floating-point mode");
        argnums
            .iter()
            .map(|&i| match i {
                // y = x W^T, so x̄ = ȳ W.
                0 => {
                    let w = crate::dequantize(wq, scales, None, group_size, bits, self.mode, Some(Dtype::F32))?;
                    crate::astype(&crate::matmul(&crate::astype(&cotangents[0], Dtype::F32)?, &w)?, x.dtype())
                }
                1 => Err(Error::NotImplemented(format!(
                    "vjp of quantized_matmul ({:?}) with respect to the packed weights (integers)",
                    self.mode
                ))),
                _ => Err(Error::NotImplemented(format!("vjp of quantized_matmul ({:?}) with respect to the scales (as MLX)", self.mode))),
            })
            .collect()
    }
}
