//! Positional encodings: `RoPE` (rotary, over the fast `rope` op) and
//! `SinusoidalPositionalEncoding`.

use crate::module::Module;
use crate::visit;
use rmx::{Array, Dtype, Result};

/// Rotary positional encoding of the first `dims` features of `[..., T, D]` inputs.
#[derive(Debug, Clone)]
pub struct RoPE {
    pub dims: usize,
    pub traditional: bool,
    pub base: f64,
    pub scale: f64,
}
visit!(RoPE {});
impl Module for RoPE {}

impl RoPE {
    /// MLX's defaults are `traditional = false`, `base = 10000`, `scale = 1`.
    pub fn new(dims: usize, traditional: bool, base: f64, scale: f64) -> RoPE {
        RoPE { dims, traditional, base, scale }
    }

    /// Rotates positions `offset..offset + T`.
    pub fn forward(&self, x: &Array, offset: usize) -> Result<Array> {
        rmx::rope(x, self.dims, self.traditional, Some(self.base), self.scale, offset, None)
    }
}

/// `[sin(p w), cos(p w)]` (or cos first) features of positions `p` with frequencies
/// geometrically spaced from `max_freq` down to `min_freq`, times `scale`.
#[derive(Debug, Clone)]
pub struct SinusoidalPositionalEncoding {
    pub dims: usize,
    pub min_freq: f64,
    pub max_freq: f64,
    pub scale: f64,
    pub cos_first: bool,
    pub full_turns: bool,
}
visit!(SinusoidalPositionalEncoding {});
impl Module for SinusoidalPositionalEncoding {}

impl SinusoidalPositionalEncoding {
    /// MLX's defaults: `min_freq` 1e-4, `max_freq` 1, `scale` `sqrt(2/dims)`, sin first.
    pub fn new(dims: usize) -> SinusoidalPositionalEncoding {
        SinusoidalPositionalEncoding {
            dims,
            min_freq: 1e-4,
            max_freq: 1.0,
            scale: (2.0 / dims as f64).sqrt(),
            cos_first: false,
            full_turns: false,
        }
    }

    /// `positions [...]` → `[..., dims]`.
    pub fn forward(&self, positions: &Array) -> Result<Array> {
        let half = self.dims / 2;
        let one_zero = rmx::subtract(1.0, &rmx::divide(&rmx::arange(0.0, half as f64, 1.0, Dtype::F32)?, (half.max(2) - 1) as f64)?)?;
        let (min, max) = (self.min_freq.ln(), self.max_freq.ln());
        let mut freqs = rmx::exp(&rmx::add(&rmx::multiply(&one_zero, max - min)?, min)?)?;
        if self.full_turns {
            freqs = rmx::multiply(&freqs, 2.0 * std::f64::consts::PI)?;
        }
        let theta = rmx::multiply(&rmx::expand_dims(&rmx::astype(positions, Dtype::F32)?, &[-1])?, &freqs)?;
        let (s, c) = (rmx::sin(&theta)?, rmx::cos(&theta)?);
        let parts = if self.cos_first { [c, s] } else { [s, c] };
        rmx::multiply(&rmx::concatenate(&parts, -1)?, self.scale)
    }
}
