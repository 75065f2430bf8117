//! Rotary position embeddings as the checkpoints configure them: `default`, `linear`
//! (positions divided by a factor), `llama3` (low frequencies slowed, a smooth band between)
//! and `freq_factors` (per-pair frequency divisors, as GGUF files store llama3 scaling),
//! all applied by `rmx::rope` with the "rotate halves" pairing transformers uses.

use crate::config::Config;
use crate::error::{LmError, Result};
use rmx::Array;

/// How a model rotates queries and keys.
#[derive(Clone, Debug)]
pub struct RopeSpec {
    /// Rotated features per head (a prefix of the head when `partial_rotary_factor < 1`).
    pub dims: usize,
    /// `base^(2i/dims)`, unless `periods` is given.
    pub base: f64,
    /// Angles are multiplied by this (`1/factor` for linear scaling).
    pub scale: f64,
    /// Per-pair periods (`1/inv_freq`) replacing the base, for scaled variants.
    pub periods: Option<Vec<f32>>,
}

impl RopeSpec {
    /// Unscaled rotation with `base`.
    pub fn plain(dims: usize, base: f64) -> RopeSpec {
        RopeSpec { dims, base, scale: 1.0, periods: None }
    }

    /// From `theta` and a scaling object (`rope_scaling` or `rope_parameters`) of `config`.
    pub fn from_config(dims: usize, theta: f64, scaling: Option<&Config>, config: &Config) -> Result<RopeSpec> {
        let Some(s) = scaling else { return Ok(RopeSpec::plain(dims, theta)) };
        let kind = match s.opt_str("rope_type")? {
            Some(t) => t.to_string(),
            None => s.opt_str("type")?.unwrap_or("default").to_string(),
        };
        match kind.as_str() {
            "default" => Ok(RopeSpec::plain(dims, theta)),
            "linear" => {
                let factor = s.f64_or("factor", 1.0)?;
                if factor <= 0.0 {
                    return Err(config.invalid(format!("rope factor must be positive, got {factor}")));
                }
                Ok(RopeSpec { dims, base: theta, scale: 1.0 / factor, periods: None })
            }
            "llama3" => {
                let factor = s.f64_or("factor", 8.0)?;
                let low = s.f64_or("low_freq_factor", 1.0)?;
                let high = s.f64_or("high_freq_factor", 4.0)?;
                let original = s.opt_usize("original_max_position_embeddings")?.unwrap_or(8192) as f64;
                if high <= low {
                    return Err(config.invalid(format!("llama3 rope needs high_freq_factor > low_freq_factor, got {high} and {low}")));
                }
                Ok(RopeSpec { dims, base: theta, scale: 1.0, periods: Some(llama3_periods(dims, theta, factor, low, high, original)) })
            }
            // What GGUF files carry instead of the llama3 parameters: llama.cpp's per-pair
            // divisors of the frequencies (`rope_freqs`).
            "freq_factors" => {
                let factors = s.f64_list("factors")?;
                if factors.len() != dims / 2 || factors.iter().any(|&f| f.is_nan() || f <= 0.0) {
                    return Err(config.invalid(format!("freq_factors needs {} positive factors, got {factors:?}", dims / 2)));
                }
                let periods = factors.iter().enumerate().map(|(i, f)| (theta.powf(2.0 * i as f64 / dims as f64) * f) as f32).collect();
                Ok(RopeSpec { dims, base: theta, scale: 1.0, periods: Some(periods) })
            }
            other => Err(LmError::NotImplemented(format!("rope_type '{other}'"))),
        }
    }
}

/// Llama 3.1's frequency scaling: wavelengths longer than `original / low` are slowed by
/// `factor`, shorter than `original / high` kept, and those between interpolated.
fn llama3_periods(dims: usize, theta: f64, factor: f64, low: f64, high: f64, original: f64) -> Vec<f32> {
    let (low_wavelen, high_wavelen) = (original / low, original / high);
    (0..dims / 2)
        .map(|i| {
            let inv_freq = 1.0 / theta.powf(2.0 * i as f64 / dims as f64);
            let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
            let scaled = if wavelen < high_wavelen {
                inv_freq
            } else if wavelen > low_wavelen {
                inv_freq / factor
            } else {
                let smooth = (original / wavelen - low) / (high - low);
                (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
            };
            (1.0 / scaled) as f32
        })
        .collect()
}

/// A rotary embedding ready to apply to `[B, heads, T, head_dim]`.
#[derive(Clone, Debug)]
pub struct Rope {
    dims: usize,
    base: f64,
    scale: f64,
    periods: Option<Array>,
}

impl Rope {
    pub fn new(spec: &RopeSpec) -> Result<Rope> {
        let periods = match &spec.periods {
            Some(p) => Some(Array::from_slice(p, &[p.len()])?),
            None => None,
        };
        Ok(Rope { dims: spec.dims, base: spec.base, scale: spec.scale, periods })
    }

    /// Rotates positions `offset..offset + T`.
    pub fn forward(&self, x: &Array, offset: usize) -> Result<Array> {
        let base = if self.periods.is_some() { None } else { Some(self.base) };
        Ok(rmx::rope(x, self.dims, false, base, self.scale, offset, self.periods.as_ref())?)
    }
}
