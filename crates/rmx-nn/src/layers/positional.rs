//! Positional encodings: `RoPE` (rotary, over the fast `rope` op),
//! `SinusoidalPositionalEncoding` and `ALiBi` (linear attention biases).

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

/// Attention with linear biases: adds `-slope_h * |i - j|` to head `h`'s scores, with
/// slopes `(2^8)^(-h/H)` for `h = 1..H` (MLX's `nn.ALiBi`).
#[derive(Debug, Clone, Default)]
pub struct ALiBi;
visit!(ALiBi {});
impl Module for ALiBi {}

impl ALiBi {
    /// The bias `[1, H, Tq - offset, Tk]` for queries at positions `offset..tq`.
    pub fn create_alibi_matrix(tq: usize, tk: usize, num_heads: usize, offset: usize, dtype: Dtype) -> Result<Array> {
        let q = rmx::arange(offset as f64, tq as f64, 1.0, Dtype::I32)?;
        let k = rmx::arange(0.0, tk as f64, 1.0, Dtype::I32)?;
        let distance = rmx::negative(&rmx::abs(&rmx::subtract(&rmx::expand_dims(&q, &[1])?, &rmx::expand_dims(&k, &[0])?)?)?)?;
        let base = 256f64.powf(1.0 / num_heads as f64);
        let slopes: Vec<f32> = (1..=num_heads).map(|h| base.powi(-(h as i32)) as f32).collect();
        let slopes = Array::from_slice(&slopes, &[num_heads, 1, 1])?;
        rmx::astype(&rmx::multiply(&rmx::expand_dims(&distance, &[0])?, &slopes)?, dtype)
    }

    /// `scores [B, H, Tq, Tk]` plus the biases (and `mask`, if given).
    pub fn forward(&self, scores: &Array, offset: usize, mask: Option<&Array>) -> Result<Array> {
        if scores.ndim() != 4 {
            return Err(rmx::Error::shapes_detail("ALiBi", &[scores.shape()], "expects scores [B, H, Tq, Tk]"));
        }
        let s = scores.shape();
        let mut bias = ALiBi::create_alibi_matrix(s[2] + offset, s[3], s[1], offset, scores.dtype())?;
        if let Some(m) = mask {
            bias = rmx::add(&bias, m)?;
        }
        rmx::add(scores, &bias)
    }
}
