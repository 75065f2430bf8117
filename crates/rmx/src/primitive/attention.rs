//! `DecodeAttention`: scaled dot-product attention for a few query positions in one fused
//! kernel (see `backend::cpu::attention`). Its reverse rule differentiates the matmul
//! formulation of the same function, so gradients match the unfused op exactly.
//! `QuantizedDecodeAttention`: the same over quantized keys and values.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::attention::{attend, attend_quantized, Dims, PackedRows};
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::ops::fast::AttentionMask;
use crate::storage::alloc_output;
use half::{bf16, f16};

/// `softmax(scale · q kᵀ [causal]) v` over `[q, k, v]`, grouped-query heads.
#[derive(Debug)]
pub struct DecodeAttention {
    pub scale: f64,
    pub causal: bool,
}

impl Primitive for DecodeAttention {
    fn name(&self) -> &'static str {
        "scaled_dot_product_attention"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (q, k, v, out) = (&inputs[0], &inputs[1], &inputs[2], &outputs[0]);
        let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
        let dims = Dims { b: qs[0], nq: qs[1], nkv: ks[1], tq: qs[2], tk: ks[2], d: qs[3], dv: vs[3] };
        let storage = alloc_output(out.shape(), out.dtype())?;
        let (sq, sk, sv) = (q.storage()?, k.storage()?, v.storage()?);
        let scale = self.scale as f32;
        match q.dtype() {
            Dtype::F32 => attend::<f32>(&sq, &sk, &sv, &storage, dims, scale, self.causal),
            Dtype::BF16 => attend::<bf16>(&sq, &sk, &sv, &storage, dims, scale, self.causal),
            Dtype::F16 => attend::<f16>(&sq, &sk, &sv, &storage, dims, scale, self.causal),
            other => return Err(Error::dtype_detail(self.name(), other, "the fused kernel takes f32, f16 or bf16")),
        }
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _outputs: &[Array]) -> Result<Vec<Array>> {
        let mask = self.causal.then_some(AttentionMask::Causal);
        let (_, grads) = crate::vjp(
            |p| Ok(vec![crate::ops::fast::attention_by_matmul(&p[0], &p[1], &p[2], self.scale, mask.as_ref(), None)?]),
            &inputs[..3],
            &cotangents[..1],
        )?;
        Ok(argnums.iter().map(|&i| grads[i].clone()).collect())
    }
}

/// `softmax(scale · q dequant(k)ᵀ [causal]) dequant(v)` over `[q, k_packed, k_scales,
/// k_biases, v_packed, v_scales, v_biases]` (MLX affine quantization along the head size).
#[derive(Debug)]
pub struct QuantizedDecodeAttention {
    pub scale: f64,
    pub causal: bool,
    pub group_size: usize,
    pub bits: u32,
}

impl QuantizedDecodeAttention {
    fn dequantized(&self, inputs: &[Array], dtype: Dtype) -> Result<(Array, Array)> {
        let deq = |i: usize| {
            crate::dequantize(
                &inputs[i],
                &inputs[i + 1],
                Some(&inputs[i + 2]),
                self.group_size,
                self.bits,
                crate::QuantMode::Affine,
                Some(dtype),
            )
        };
        Ok((deq(1)?, deq(4)?))
    }
}

impl Primitive for QuantizedDecodeAttention {
    fn name(&self) -> &'static str {
        "quantized_scaled_dot_product_attention"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (q, out) = (&inputs[0], &outputs[0]);
        let (qs, ks) = (q.shape(), inputs[1].shape());
        let dims = Dims { b: qs[0], nq: qs[1], nkv: ks[1], tq: qs[2], tk: ks[2], d: qs[3], dv: qs[3] };
        let storage = alloc_output(out.shape(), out.dtype())?;
        let st = inputs.iter().map(Array::storage).collect::<Result<Vec<_>>>()?;
        let k = PackedRows { words: &st[1], scales: &st[2], biases: &st[3] };
        let v = PackedRows { words: &st[4], scales: &st[5], biases: &st[6] };
        let (scale, g, bits) = (self.scale as f32, self.group_size, self.bits);
        macro_rules! run {
            ($t:ty) => {
                match inputs[2].dtype() {
                    Dtype::F32 => attend_quantized::<$t, f32>(&st[0], k, v, &storage, dims, scale, self.causal, g, bits),
                    Dtype::BF16 => attend_quantized::<$t, bf16>(&st[0], k, v, &storage, dims, scale, self.causal, g, bits),
                    _ => attend_quantized::<$t, f16>(&st[0], k, v, &storage, dims, scale, self.causal, g, bits),
                }
            };
        }
        match q.dtype() {
            Dtype::F32 => run!(f32),
            Dtype::BF16 => run!(bf16),
            Dtype::F16 => run!(f16),
            other => return Err(Error::dtype_detail(self.name(), other, "the fused kernel takes f32, f16 or bf16")),
        }
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _outputs: &[Array]) -> Result<Vec<Array>> {
        if argnums.iter().any(|&i| i != 0) {
            return Err(Error::NotImplemented(format!("vjp of {} with respect to the quantized keys or values", self.name())));
        }
        let mask = self.causal.then_some(AttentionMask::Causal);
        let (k, v) = self.dequantized(inputs, inputs[0].dtype())?;
        let (_, grads) = crate::vjp(
            |p| Ok(vec![crate::ops::fast::attention_by_matmul(&p[0], &k, &v, self.scale, mask.as_ref(), None)?]),
            &inputs[..1],
            &cotangents[..1],
        )?;
        Ok(vec![grads[0].clone()])
    }
}
