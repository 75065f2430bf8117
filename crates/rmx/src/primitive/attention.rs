//! `DecodeAttention`: scaled dot-product attention for a few query positions in one fused
//! kernel (see `backend::cpu::attention`). Its reverse rule differentiates the matmul
//! formulation of the same function, so gradients match the unfused op exactly.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::attention::{attend, Dims};
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
