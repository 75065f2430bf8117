//! `Rope` and `RmsNorm`: the fast ops `rope` and `rms_norm` as single kernels (see
//! `backend::cpu::rope_norm`) for float32 and half-precision inputs. Their reverse rules
//! differentiate the composed formulation of the same function (`ops::fast`), so gradients
//! match the unfused ops exactly; batching maps over the leading axes.

use super::{Batched, BatchedOutputs, Primitive};
use crate::array::Array;
use crate::backend::cpu::rope_norm;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::storage::{alloc_output, Storage};
use half::{bf16, f16};

/// Runs `$body` with `$t` bound to the element type of a float32/float16/bfloat16 dtype.
macro_rules! with_half_or_single {
    ($dtype:expr, $op:expr, $t:ident => $body:expr) => {
        match $dtype {
            Dtype::F32 => {
                type $t = f32;
                $body
            }
            Dtype::F16 => {
                type $t = f16;
                $body
            }
            Dtype::BF16 => {
                type $t = bf16;
                $body
            }
            other => return Err(Error::dtype_detail($op, other, "the fused kernel takes f32, f16 or bf16")),
        }
    };
}

/// Rotary embedding of `[x]` or `[x, freqs]` (see [`crate::rope`]).
#[derive(Clone, Copy, Debug)]
pub struct Rope {
    pub dims: usize,
    pub traditional: bool,
    pub base: Option<f64>,
    pub scale: f64,
    pub offset: usize,
}

impl Rope {
    /// `base^(-2i/dims)` or `1 / freqs`, in float32 as the composed op computes them.
    fn inv_freq(&self, inputs: &[Array]) -> Result<Vec<f32>> {
        let half = self.dims / 2;
        match (self.base, inputs.get(1)) {
            (Some(base), _) => {
                let step = (-2.0 * base.ln() / self.dims as f64) as f32;
                Ok((0..half).map(|i| crate::backend::cpu::math::exp_f32(i as f32 * step)).collect())
            }
            // `rope` passes the frequencies as float32.
            (None, Some(freqs)) => Ok(freqs.to_vec::<f32>()?.iter().map(|f| 1.0 / f).collect()),
            (None, None) => Err(Error::Eval("rope without base or freqs".into())),
        }
    }

    fn composed(&self, x: &Array, freqs: Option<&Array>) -> Result<Array> {
        crate::ops::fast::rope_by_ops(x, self, freqs)
    }
}

impl Primitive for Rope {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let t = x.shape()[x.ndim() - 2];
        let (cos, sin) = rope_norm::angle_tables(&self.inv_freq(inputs)?, self.offset, t, self.scale as f32);
        let storage = alloc_output(out.shape(), out.dtype())?;
        let sx = x.storage()?;
        with_half_or_single!(x.dtype(), self.name(), T => rope_norm::rope::<T>(&sx, x.shape(), &storage, self.dims, self.traditional, &cos, &sin));
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let freqs = inputs.get(1).cloned();
        let (_, grads) = crate::vjp(|p| Ok(vec![self.composed(&p[0], freqs.as_ref())?]), &inputs[..1], &cotangents[..1])?;
        argnums
            .iter()
            .map(|&i| match i {
                0 => Ok(grads[0].clone()),
                _ => Err(Error::NotImplemented("vjp of rope with respect to freqs".into())),
            })
            .collect()
    }

    fn vmap(&self, inputs: &[Batched], _: &[Array]) -> Result<Option<BatchedOutputs>> {
        let (x, axis) = &inputs[0];
        let freqs_batched = inputs.get(1).is_some_and(|f| f.1.is_some());
        match axis {
            // A batch axis in front of `[T, D]` is one more leading axis.
            Some(a) if *a + 2 < x.ndim() && !freqs_batched => {
                let freqs = inputs.get(1).map(|f| f.0.clone());
                let y = crate::rope(x, self.dims, self.traditional, self.base, self.scale, self.offset, freqs.as_ref())?;
                Ok(Some((vec![y], vec![Some(*a)])))
            }
            _ => Ok(None),
        }
    }
}

/// `x / sqrt(mean(x²) + eps) · weight` over the last axis of `[x]` or `[x, weight]`
/// (weight in `x`'s dtype).
#[derive(Debug)]
pub struct RmsNorm {
    pub eps: f64,
}

impl Primitive for RmsNorm {
    fn name(&self) -> &'static str {
        "rms_norm"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let storage = alloc_output(out.shape(), out.dtype())?;
        let sx = x.storage()?;
        let weight: Option<Storage> = match inputs.get(1) {
            Some(w) => Some(crate::contiguous(w)?.storage()?),
            None => None,
        };
        let d = x.shape()[x.ndim() - 1];
        with_half_or_single!(x.dtype(), self.name(), T => {
            // SAFETY: the weight is a contiguous vector of `d` elements of `x`'s dtype.
            let w = weight.as_ref().map(|w| unsafe { w.as_slice::<T>(d) });
            rope_norm::rms_norm::<T>(&sx, x.shape(), w, &storage, self.eps as f32)
        });
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (_, grads) = crate::vjp(|p| Ok(vec![crate::ops::fast::rms_norm_by_ops(&p[0], p.get(1), self.eps)?]), inputs, &cotangents[..1])?;
        Ok(argnums.iter().map(|&i| grads[i].clone()).collect())
    }

    fn vmap(&self, inputs: &[Batched], _: &[Array]) -> Result<Option<BatchedOutputs>> {
        let (x, axis) = &inputs[0];
        match axis {
            Some(a) if *a + 1 < x.ndim() && inputs.get(1).is_none_or(|w| w.1.is_none()) => {
                let w = inputs.get(1).map(|w| w.0.clone());
                Ok(Some((vec![crate::rms_norm(x, w.as_ref(), self.eps)?], vec![Some(*a)])))
            }
            _ => Ok(None),
        }
    }
}
