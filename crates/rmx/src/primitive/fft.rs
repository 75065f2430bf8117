//! `Fft`: a discrete Fourier transform along one axis. The public ops in
//! [`crate::ops::fft`] pad or truncate inputs to the transform length and chain one `Fft` per
//! axis for the 2-d and n-d transforms.
//!
//! Derivatives follow MLX's adjoint convention for complex numbers: the cotangent of a
//! transform `y = s F x` is `s F^H c`, the same transform with the opposite sign (the real
//! transforms weigh the bins that stand for two conjugate frequencies).

use super::{Batched, BatchedOutputs, Primitive};
use crate::array::Array;
use crate::backend::cpu::fft::{fft_lines, FftKind};
use crate::dtype::Dtype;
use crate::error::Result;
use crate::storage::alloc_output;
use std::sync::Arc;

/// One transform along `axis` of length `n` (the output length for the inverse real
/// transform, the input length otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Fft {
    pub axis: usize,
    pub kind: FftKind,
    pub n: usize,
    /// Normalisation factor applied to every output.
    pub scale: f32,
}

impl Primitive for Fft {
    fn name(&self) -> &'static str {
        match self.kind {
            FftKind::Complex { inverse: false } => "fft",
            FftKind::Complex { inverse: true } => "ifft",
            FftKind::RealForward => "rfft",
            FftKind::RealInverse => "irfft",
        }
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let storage = alloc_output(out.shape(), out.dtype())?;
        if out.size() > 0 {
            fft_lines(self.kind, &x.storage()?, x.shape(), self.axis, &storage, out.shape(), self.n, self.scale);
        }
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (x, c) = (&inputs[0], &cotangents[0]);
        let with = |kind| Fft { kind, ..*self };
        Ok(vec![match self.kind {
            FftKind::Complex { inverse } => with(FftKind::Complex { inverse: !inverse }).apply(c, x.shape().to_vec(), Dtype::C64),
            // x̄_j = s Re Σ_k c_k e^{+2πi jk/n}: the inverse real transform counts each middle
            // bin twice, so those are halved first.
            FftKind::RealForward => {
                let halved = crate::multiply(c, &self.bin_weights(c.shape(), 1.0, 0.5)?)?;
                with(FftKind::RealInverse).apply(&halved, x.shape().to_vec(), Dtype::F32)
            }
            // Each middle bin stands for itself and its conjugate: twice the forward transform.
            FftKind::RealInverse => {
                let forward = with(FftKind::RealForward).apply(c, x.shape().to_vec(), Dtype::C64);
                crate::multiply(&forward, &self.bin_weights(x.shape(), 1.0, 2.0)?)?
            }
        }])
    }

    fn vmap(&self, inputs: &[Batched], outputs: &[Array]) -> Result<Option<BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let size = x.shape()[0];
        let shifted = Fft { axis: self.axis + 1, ..*self };
        super::rules::batched_front(super::rules::batched_node(Arc::new(shifted), vec![x], size, &outputs[0]))
    }
}

impl Fft {
    /// This transform of `x`, giving `shape` of `dtype`.
    fn apply(self, x: &Array, shape: Vec<usize>, dtype: Dtype) -> Array {
        Array::from_primitive(shape, dtype, Arc::new(self), vec![x.clone()])
    }

    /// Per-bin weights along the axis of a half spectrum shaped `shape` (n/2 + 1 bins of a
    /// length-n signal): `edge` for the zero frequency and, when n is even, the Nyquist bin
    /// (each its own conjugate), `middle` for the others. Shaped to broadcast against it.
    fn bin_weights(&self, shape: &[usize], edge: f32, middle: f32) -> Result<Array> {
        let bins = shape[self.axis];
        let weights: Vec<f32> =
            (0..bins).map(|k| if k == 0 || (self.n.is_multiple_of(2) && k == self.n / 2) { edge } else { middle }).collect();
        let mut along = vec![1usize; shape.len()];
        along[self.axis] = bins;
        Array::from_slice(&weights, &along)
    }
}
