//! `Fft`: a discrete Fourier transform along one axis. The public ops in
//! [`crate::ops::fft`] pad or truncate inputs to the transform length and chain one `Fft` per
//! axis for the 2-d and n-d transforms.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::fft::{fft_lines, FftKind};
use crate::error::Result;
use crate::storage::alloc_output;

/// One transform along `axis` of length `n` (the output length for the inverse real
/// transform, the input length otherwise).
#[derive(Debug)]
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
}
