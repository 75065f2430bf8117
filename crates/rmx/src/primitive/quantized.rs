//! Affine quantization primitives: `AffineQuantize` (float32 rows → packed words, scales,
//! biases), `AffineDequantize` and `QuantizedMatmul` (`x @ dequant(w).T` for 2-d `w`).
//! Inputs arrive row-contiguous, floats as float32 except scales and biases, which keep
//! the checkpoint's dtype, and `QuantizedMatmul`'s `x`, which keeps its own.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::quantized as kernels;
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::storage::{alloc_output, Storage};
use half::{bf16, f16};

/// Quantizes float32 `[..., K]` into `[..., K*bits/32]` words and `[..., K/g]` scales and biases.
#[derive(Debug)]
pub struct AffineQuantize {
    pub group_size: usize,
    pub bits: u32,
}

/// Rebuilds float32 `[..., K]` from packed words, scales and biases.
#[derive(Debug)]
pub struct AffineDequantize {
    pub group_size: usize,
    pub bits: u32,
}

/// `x [M, K] @ dequant(w [N, K]).T` accumulated in float32, reading the packed weights once;
/// `x` and the result share a float dtype (converted in the kernel: decode-sized rows).
#[derive(Debug)]
pub struct QuantizedMatmul {
    pub group_size: usize,
    pub bits: u32,
    /// `x` may take the integer kernels (`backend::cpu::qmv_integer`): it is float16 or
    /// bfloat16, or llama.cpp's activation precision was asked for
    /// (`rmx::set_int8_activations` when the product was built, which covers float32 too).
    pub integer_input: bool,
    /// With `integer_input` and 4-bit weights: int8 instead of int16 activations.
    pub int8_activations: bool,
}

/// A row-contiguous storage as a slice of `len` elements.
fn slice<T: Element>(s: &Storage, len: usize) -> &[T] {
    // SAFETY: the op layer makes every input row-contiguous; `len` is its element count.
    unsafe { s.as_slice::<T>(len) }
}

/// The elements of a freshly allocated output, which nothing else reads or writes yet.
fn fresh<T: Element>(s: &Storage, len: usize) -> *mut [T] {
    std::ptr::slice_from_raw_parts_mut(s.ptr::<T>() as *mut T, len)
}

/// Calls `body` with the scales and biases as slices of their dtype.
macro_rules! with_scale_type {
    ($dtype:expr, $s:expr, $b:expr, $len:expr, |$sv:ident, $bv:ident| $body:expr) => {
        match $dtype {
            Dtype::F32 => {
                let ($sv, $bv) = (slice::<f32>($s, $len), slice::<f32>($b, $len));
                $body
            }
            Dtype::F16 => {
                let ($sv, $bv) = (slice::<f16>($s, $len), slice::<f16>($b, $len));
                $body
            }
            Dtype::BF16 => {
                let ($sv, $bv) = (slice::<bf16>($s, $len), slice::<bf16>($b, $len));
                $body
            }
            other => return Err(Error::dtype_detail("quantized", other, "scales must be float32, float16 or bfloat16")),
        }
    };
}

impl Primitive for AffineQuantize {
    fn name(&self) -> &'static str {
        "quantize"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let w = &inputs[0];
        let storages = outputs.iter().map(|o| alloc_output(o.shape(), o.dtype())).collect::<Result<Vec<_>>>()?;
        let ws = w.storage()?;
        // SAFETY: the three storages are fresh and distinct.
        let (wq, scales, biases) = unsafe {
            (
                &mut *fresh::<u32>(&storages[0], outputs[0].size()),
                &mut *fresh::<f32>(&storages[1], outputs[1].size()),
                &mut *fresh::<f32>(&storages[2], outputs[2].size()),
            )
        };
        kernels::quantize(slice::<f32>(&ws, w.size()), self.group_size, self.bits, wq, scales, biases);
        for (o, s) in outputs.iter().zip(storages) {
            o.set_storage(s);
        }
        Ok(())
    }
}

impl Primitive for AffineDequantize {
    fn name(&self) -> &'static str {
        "dequantize"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (wq, scales, biases, out) = (&inputs[0], &inputs[1], &inputs[2], &outputs[0]);
        let (qs, ss, bs) = (wq.storage()?, scales.storage()?, biases.storage()?);
        let storage = alloc_output(out.shape(), Dtype::F32)?;
        // SAFETY: the storage is fresh.
        let dst = unsafe { &mut *fresh::<f32>(&storage, out.size()) };
        let packed = slice::<u32>(&qs, wq.size());
        with_scale_type!(scales.dtype(), &ss, &bs, scales.size(), |s, b| kernels::dequantize(
            packed,
            s,
            b,
            self.group_size,
            self.bits,
            dst
        ));
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (wq, scales) = (&inputs[0], &inputs[1]);
        let (s_bar, b_bar) = affine_parameter_cotangents(wq, scales, &cotangents[0], self.group_size, self.bits)?;
        argnums
            .iter()
            .map(|&i| match i {
                0 => Err(Error::NotImplemented("vjp of dequantize with respect to the packed weights (integers)".into())),
                1 => Ok(s_bar.clone()),
                _ => Ok(b_bar.clone()),
            })
            .collect()
    }
}

impl Primitive for QuantizedMatmul {
    fn name(&self) -> &'static str {
        "quantized_matmul"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, wq, scales, biases, out) = (&inputs[0], &inputs[1], &inputs[2], &inputs[3], &outputs[0]);
        let k = *x.shape().last().expect("checked: ndim >= 1");
        let n = wq.shape()[0];
        let m = x.size() / k.max(1);
        let (qs, ss, bs) = (wq.storage()?, scales.storage()?, biases.storage()?);
        let packed = slice::<u32>(&qs, wq.size());
        in_float32(x, out, |xv, dst| {
            if self.integer_input && k > 0 && crate::backend::cpu::qmv_integer::applies(self.bits, self.group_size) {
                let rows: Vec<_> = xv
                    .chunks_exact(k)
                    .map(|row| crate::backend::cpu::qmv_integer::quantize_row(row, self.group_size, self.bits, self.int8_activations))
                    .collect();
                with_scale_type!(scales.dtype(), &ss, &bs, scales.size(), |s, b| {
                    let w = crate::backend::cpu::qmv_integer::PackedWeights {
                        words: packed,
                        scales: s,
                        biases: b,
                        k,
                        g: self.group_size,
                        bits: self.bits,
                    };
                    crate::backend::cpu::qmv_integer::qmv(&rows, &w, dst)
                });
            } else {
                with_scale_type!(scales.dtype(), &ss, &bs, scales.size(), |s, b| kernels::qmv(
                    xv,
                    m,
                    packed,
                    s,
                    b,
                    n,
                    k,
                    self.group_size,
                    self.bits,
                    dst
                ));
            }
            Ok(())
        })
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (wq, scales, biases) = (&inputs[1], &inputs[2], &inputs[3]);
        // ȳ^T x is the cotangent of the dequantized weight [N, K]; scales and biases share it.
        let parameters = if argnums.iter().any(|&i| i >= 2) {
            let (y_bar, x) = (crate::astype(&cotangents[0], Dtype::F32)?, crate::astype(&inputs[0], Dtype::F32)?);
            let w_bar = crate::matmul(&crate::transpose(&y_bar, None)?, &x)?;
            Some(affine_parameter_cotangents(wq, scales, &w_bar, self.group_size, self.bits)?)
        } else {
            None
        };
        argnums
            .iter()
            .map(|&i| match i {
                // y = x W^T, so x̄ = ȳ W.
                0 => {
                    let w = crate::dequantize(
                        wq,
                        scales,
                        Some(biases),
                        self.group_size,
                        self.bits,
                        crate::QuantMode::Affine,
                        Some(Dtype::F32),
                    )?;
                    crate::astype(&crate::matmul(&cotangents[0], &w)?, inputs[0].dtype())
                }
                i => {
                    let (s_bar, b_bar) = parameters.as_ref().expect("computed for argnums >= 2");
                    Ok(if i == 2 { s_bar.clone() } else { b_bar.clone() })
                }
            })
            .collect()
    }
}

/// Runs a matrix-vector kernel on float32 views of `x` and of `out` (both float32, float16 or
/// bfloat16): decode-sized `x` and outputs are converted here rather than by separate cast
/// nodes (a few thousand values against a whole weight matrix); sets `out`'s storage.
pub(super) fn in_float32(x: &Array, out: &Array, body: impl FnOnce(&[f32], &mut [f32]) -> Result<()>) -> Result<()> {
    let xs = x.storage()?;
    let storage = alloc_output(out.shape(), out.dtype())?;
    let xv: std::borrow::Cow<[f32]> = match x.dtype() {
        Dtype::F16 => slice::<f16>(&xs, x.size()).iter().map(|v| v.to_f32()).collect(),
        Dtype::BF16 => slice::<bf16>(&xs, x.size()).iter().map(|v| v.to_f32()).collect(),
        _ => std::borrow::Cow::Borrowed(slice::<f32>(&xs, x.size())),
    };
    let mut staging = Vec::new();
    let dst: &mut [f32] = if out.dtype() == Dtype::F32 {
        // SAFETY: the storage is fresh.
        unsafe { &mut *fresh::<f32>(&storage, out.size()) }
    } else {
        staging.resize(out.size(), 0f32);
        &mut staging
    };
    body(&xv, dst)?;
    match out.dtype() {
        // SAFETY (both): the storage is fresh.
        Dtype::F16 => {
            unsafe { &mut *fresh::<f16>(&storage, out.size()) }.iter_mut().zip(&staging).for_each(|(o, &v)| *o = f16::from_f32(v))
        }
        Dtype::BF16 => {
            unsafe { &mut *fresh::<bf16>(&storage, out.size()) }.iter_mut().zip(&staging).for_each(|(o, &v)| *o = bf16::from_f32(v))
        }
        _ => {}
    }
    out.set_storage(storage);
    Ok(())
}

/// Cotangents of the scales and biases of `w = scale * q + bias` given the cotangent of
/// `w`: per group, `Σ w̄ q` and `Σ w̄`, in the scales' dtype.
fn affine_parameter_cotangents(wq: &Array, scales: &Array, w_bar: &Array, group_size: usize, bits: u32) -> Result<(Array, Array)> {
    let ones = crate::ones(scales.shape(), Dtype::F32)?;
    let q =
        crate::dequantize(wq, &ones, Some(&crate::zeros(scales.shape(), Dtype::F32)?), group_size, bits, crate::QuantMode::Affine, None)?;
    let grouped = [scales.shape(), &[group_size]].concat();
    let w_bar = crate::reshape_to(&crate::astype(w_bar, Dtype::F32)?, &grouped)?;
    let q = crate::reshape_to(&q, &grouped)?;
    let s_bar = crate::sum(&crate::multiply(&w_bar, &q)?, -1, false)?;
    let b_bar = crate::sum(&w_bar, -1, false)?;
    Ok((crate::astype(&s_bar, scales.dtype())?, crate::astype(&b_bar, scales.dtype())?))
}
