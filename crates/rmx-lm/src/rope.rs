//! Rotary position embeddings as the checkpoints configure them: `default`, `linear`
//! (positions divided by a factor), `llama3` (low frequencies slowed, a smooth band between),
//! `yarn` (interpolated low frequencies and an attention factor), `longrope` (Phi-3.5's short
//! and long per-pair factors, switched by sequence length as transformers does) and
//! `freq_factors` (per-pair frequency divisors, as GGUF files store llama3 scaling), all
//! applied by `rmx::rope` with the "rotate halves" pairing transformers uses.

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
    /// LongRoPE: the periods used instead of `periods` once a sequence holds more than
    /// `original` positions.
    pub long: Option<LongPeriods>,
    /// Multiplies the rotated features (transformers scales cos and sin by it): YaRN's and
    /// LongRoPE's attention factor, 1 otherwise.
    pub attention_factor: f64,
}

/// LongRoPE's periods for sequences longer than the pretraining context.
#[derive(Clone, Debug)]
pub struct LongPeriods {
    pub original: usize,
    pub periods: Vec<f32>,
}

impl RopeSpec {
    /// Unscaled rotation with `base`.
    pub fn plain(dims: usize, base: f64) -> RopeSpec {
        RopeSpec { dims, base, scale: 1.0, periods: None, long: None, attention_factor: 1.0 }
    }

    /// Rotation by explicit per-pair periods.
    fn with_periods(dims: usize, base: f64, periods: Vec<f32>) -> RopeSpec {
        RopeSpec { periods: Some(periods), ..RopeSpec::plain(dims, base) }
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
                Ok(RopeSpec { scale: 1.0 / factor, ..RopeSpec::plain(dims, theta) })
            }
            "llama3" => {
                let factor = s.f64_or("factor", 8.0)?;
                let low = s.f64_or("low_freq_factor", 1.0)?;
                let high = s.f64_or("high_freq_factor", 4.0)?;
                let original = s.opt_usize("original_max_position_embeddings")?.unwrap_or(8192) as f64;
                if high <= low {
                    return Err(config.invalid(format!("llama3 rope needs high_freq_factor > low_freq_factor, got {high} and {low}")));
                }
                Ok(RopeSpec::with_periods(dims, theta, llama3_periods(dims, theta, factor, low, high, original)))
            }
            // What GGUF files carry instead of the llama3 parameters: llama.cpp's per-pair
            // divisors of the frequencies (`rope_freqs`).
            "freq_factors" => {
                let factors = s.f64_list("factors")?;
                if factors.len() != dims / 2 || factors.iter().any(|&f| f.is_nan() || f <= 0.0) {
                    return Err(config.invalid(format!("freq_factors needs {} positive factors, got {factors:?}", dims / 2)));
                }
                Ok(RopeSpec::with_periods(dims, theta, divided_periods(dims, theta, &factors)))
            }
            "yarn" => yarn(dims, theta, s, config),
            // `su` is LongRoPE's name in the first Phi-3 128k configs.
            "longrope" | "su" => longrope(dims, theta, s, config),
            other => Err(LmError::NotImplemented(format!("rope_type '{other}'"))),
        }
    }
}

/// `original_max_position_embeddings` from the scaling object or, as older Phi-3 configs
/// keep it, the top level of the config.
fn original_context(s: &Config, config: &Config) -> Result<usize> {
    match s.opt_usize("original_max_position_embeddings")? {
        Some(n) => Ok(n),
        None => config.usize("original_max_position_embeddings"),
    }
}

/// `factor` if given, else `max_position_embeddings / original` (transformers' rule for
/// DeepSeek-V3 and Phi-3 configs).
fn factor_or_ratio(s: &Config, config: &Config, original: usize) -> Result<f64> {
    match s.opt_f64("factor")? {
        Some(f) => Ok(f),
        None => Ok(config.usize("max_position_embeddings")? as f64 / original as f64),
    }
}

/// Periods `base^(2i/dims)` divided by per-pair factors.
fn divided_periods(dims: usize, theta: f64, factors: &[f64]) -> Vec<f32> {
    factors.iter().enumerate().map(|(i, f)| (f * theta.powf(2.0 * i as f64 / dims as f64)) as f32).collect()
}

/// YaRN: frequencies that turn fewer than `beta_slow` times over the original context are
/// interpolated (divided by `factor`), those turning more than `beta_fast` times kept, a
/// linear ramp between; cos and sin scaled by `0.1 ln(factor) + 1` (or the ratio of two such
/// terms with `mscale`/`mscale_all_dim`, or `attention_factor` when given).
fn yarn(dims: usize, theta: f64, s: &Config, config: &Config) -> Result<RopeSpec> {
    let original = original_context(s, config)? as f64;
    let factor = factor_or_ratio(s, config, original as usize)?;
    if factor <= 0.0 {
        return Err(config.invalid(format!("yarn rope factor must be positive, got {factor}")));
    }
    let mscale = |m: f64| if factor <= 1.0 { 1.0 } else { 0.1 * m * factor.ln() + 1.0 };
    let attention_factor = match (s.opt_f64("attention_factor")?, s.opt_f64("mscale")?, s.opt_f64("mscale_all_dim")?) {
        (Some(a), _, _) => a,
        (None, Some(m), Some(all)) if m != 0.0 && all != 0.0 => mscale(m) / mscale(all),
        _ => mscale(1.0),
    };
    let beta_fast = s.opt_f64("beta_fast")?.filter(|&b| b != 0.0).unwrap_or(32.0);
    let beta_slow = s.opt_f64("beta_slow")?.filter(|&b| b != 0.0).unwrap_or(1.0);
    let truncate = s.get("truncate").and_then(|v| v.as_bool()).unwrap_or(true);
    // The pair index at which a frequency turns `rotations` times over the original context.
    let pair = |rotations: f64| dims as f64 * (original / (rotations * 2.0 * std::f64::consts::PI)).ln() / (2.0 * theta.ln());
    let (mut low, mut high) = (pair(beta_fast), pair(beta_slow));
    if truncate {
        (low, high) = (low.floor(), high.ceil());
    }
    let (low, high) = (low.max(0.0), high.min(dims as f64 - 1.0));
    let span = if low == high { 0.001 } else { high - low };
    let periods = (0..dims / 2)
        .map(|i| {
            // transformers computes the ramp and the frequencies in float32.
            let ramp = ((i as f32 - low as f32) / span as f32).clamp(0.0, 1.0);
            let extrapolated = 1.0 - ramp;
            let pos = (theta as f32).powf(2.0 * i as f32 / dims as f32);
            let inv_freq = (1.0 / (factor as f32 * pos)) * ramp + (1.0 / pos) * extrapolated;
            1.0 / inv_freq
        })
        .collect();
    Ok(RopeSpec { attention_factor, ..RopeSpec::with_periods(dims, theta, periods) })
}

/// LongRoPE (Phi-3.5, Phi-4-mini): per-pair `short_factor` divisors while a sequence fits
/// the original context, `long_factor` beyond it; cos and sin scaled by
/// `sqrt(1 + ln(factor) / ln(original))` unless `attention_factor` is given.
fn longrope(dims: usize, theta: f64, s: &Config, config: &Config) -> Result<RopeSpec> {
    let original = original_context(s, config)?;
    let factors = |key: &str| -> Result<Vec<f64>> {
        let f = s.f64_list(key)?;
        if f.len() != dims / 2 || f.iter().any(|&x| x.is_nan() || x <= 0.0) {
            return Err(config.invalid(format!("longrope {key} needs {} positive factors, got {}", dims / 2, f.len())));
        }
        Ok(f)
    };
    let (short, long) = (factors("short_factor")?, factors("long_factor")?);
    let factor = factor_or_ratio(s, config, original)?;
    let attention_factor = match s.opt_f64("attention_factor")? {
        Some(a) => a,
        None if factor <= 1.0 => 1.0,
        None => (1.0 + factor.ln() / (original as f64).ln()).sqrt(),
    };
    Ok(RopeSpec {
        long: Some(LongPeriods { original, periods: divided_periods(dims, theta, &long) }),
        attention_factor,
        ..RopeSpec::with_periods(dims, theta, divided_periods(dims, theta, &short))
    })
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
    long: Option<(usize, Array)>,
    attention_factor: f64,
    /// With a partial rotation: the per-feature factors (`attention_factor` on the rotated
    /// prefix, 1 after it), built once at the first call, in that call's head size and dtype.
    prefix_factors: std::sync::OnceLock<Array>,
}

impl Rope {
    /// LongRoPE: sequences longer than this many positions rotate with the long periods.
    pub fn long_context_from(&self) -> Option<usize> {
        self.long.as_ref().map(|(original, _)| *original)
    }

    pub fn new(spec: &RopeSpec) -> Result<Rope> {
        let array = |p: &[f32]| Array::from_slice(p, &[p.len()]);
        let periods = spec.periods.as_deref().map(array).transpose()?;
        let long = spec.long.as_ref().map(|l| Ok::<_, rmx::Error>((l.original, array(&l.periods)?))).transpose()?;
        Ok(Rope {
            dims: spec.dims,
            base: spec.base,
            scale: spec.scale,
            periods,
            long,
            attention_factor: spec.attention_factor,
            prefix_factors: std::sync::OnceLock::new(),
        })
    }

    /// Rotates positions `offset..offset + T` of a sequence of `length` positions. LongRoPE
    /// picks its long periods when `length` is longer than the original context
    /// ([`Rope::long_context_from`]).
    pub fn forward(&self, x: &Array, offset: usize, length: usize) -> Result<Array> {
        let periods = match &self.long {
            Some((original, long)) if length > *original => Some(long),
            _ => self.periods.as_ref(),
        };
        let base = if periods.is_some() { None } else { Some(self.base) };
        let y = rmx::rope(x, self.dims, false, base, self.scale, offset, periods)?;
        if self.attention_factor == 1.0 {
            return Ok(y);
        }
        let head = x.shape().last().copied().unwrap_or(0);
        if head == self.dims {
            return Ok(rmx::multiply(&y, self.attention_factor)?);
        }
        // Only the rotated prefix of each head is scaled. Every call of a model has the same
        // head size and dtype; a call with others builds its own factors.
        let build = || -> Result<Array> {
            let f: Vec<f32> = (0..head).map(|i| if i < self.dims { self.attention_factor as f32 } else { 1.0 }).collect();
            Ok(rmx::astype(&Array::from_slice(&f, &[head])?, x.dtype())?)
        };
        let factors = match self.prefix_factors.get() {
            Some(f) if f.shape() == [head] && f.dtype() == x.dtype() => f.clone(),
            Some(_) => build()?,
            None => {
                let f = build()?;
                rmx::eval(std::slice::from_ref(&f))?;
                self.prefix_factors.get_or_init(|| f).clone()
            }
        };
        Ok(rmx::multiply(&y, &factors)?)
    }
}
