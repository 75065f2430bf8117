//! Normalization layers: `RMSNorm`, `LayerNorm`, `GroupNorm`, `InstanceNorm` and
//! `BatchNorm` (running statistics kept as state, used in eval mode). Features are the
//! last axis (channels-last), as in MLX.

use crate::module::{Module, Param};
use crate::visit;
use rmx::{Array, Dtype, Result};

fn ones(dims: usize) -> Result<Param> {
    Ok(Param::new(rmx::ones(&[dims], Dtype::F32)?))
}

fn zeros(dims: usize) -> Result<Param> {
    Ok(Param::new(rmx::zeros(&[dims], Dtype::F32)?))
}

/// `(x - mean) / sqrt(var + eps)`.
fn standardize(x: &Array, mean: &Array, var: &Array, eps: f64) -> Result<Array> {
    rmx::multiply(&rmx::subtract(x, mean)?, &rmx::rsqrt(&rmx::add(var, eps)?)?)
}

/// `x` standardized with its (biased) mean and variance over `axes`.
fn normalize_over(x: &Array, axes: &[isize], eps: f64) -> Result<Array> {
    standardize(x, &rmx::mean(x, axes, true)?, &rmx::var(x, axes, true, 0)?, eps)
}

fn affine(y: Array, weight: &Option<Param>, bias: &Option<Param>) -> Result<Array> {
    let y = match weight {
        Some(w) => rmx::multiply(&y, &w.value)?,
        None => y,
    };
    match bias {
        Some(b) => rmx::add(&y, &b.value),
        None => Ok(y),
    }
}

/// `x / rms(x) * weight` over the last axis. Gemma's variant ([`RMSNorm::with_unit_offset`])
/// stores the weight as an offset from one and scales by `1 + weight`.
///
/// ```
/// let norm = rmx_nn::RMSNorm::new(4, 1e-5).unwrap();
/// let y = norm.forward(&rmx::Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[1, 4]).unwrap()).unwrap();
/// assert_eq!(y.shape(), &[1, 4]);
/// ```
#[derive(Clone, Debug)]
pub struct RMSNorm {
    pub weight: Param,
    pub eps: f64,
    /// Scale by `1 + weight` (computed in float32) instead of `weight`.
    pub unit_offset: bool,
}
visit!(RMSNorm { weight });
impl Module for RMSNorm {}

impl RMSNorm {
    /// Weight of ones; MLX's default `eps` is 1e-5.
    pub fn new(dims: usize, eps: f64) -> Result<RMSNorm> {
        Ok(RMSNorm { weight: ones(dims)?, eps, unit_offset: false })
    }
    /// Gemma's variant: weight of zeros, applied as `1 + weight`.
    pub fn with_unit_offset(dims: usize, eps: f64) -> Result<RMSNorm> {
        Ok(RMSNorm { weight: zeros(dims)?, eps, unit_offset: true })
    }
    pub fn forward(&self, x: &Array) -> Result<Array> {
        if self.unit_offset {
            // Gemma computes `1 + w` and the norm in float32, then casts back to x's dtype.
            let w = rmx::add(&rmx::astype(&self.weight.value, Dtype::F32)?, 1.0)?;
            let y = rmx::rms_norm(&rmx::astype(x, Dtype::F32)?, Some(&w), self.eps)?;
            return rmx::astype(&y, x.dtype());
        }
        rmx::rms_norm(x, Some(&self.weight.value), self.eps)
    }
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last axis.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub weight: Option<Param>,
    pub bias: Option<Param>,
    pub eps: f64,
}
visit!(LayerNorm { weight, bias });
impl Module for LayerNorm {}

impl LayerNorm {
    /// `affine` adds weight (and `bias`, if also set) as MLX does.
    pub fn new(dims: usize, eps: f64, affine: bool, bias: bool) -> Result<LayerNorm> {
        Ok(LayerNorm { weight: affine.then(|| ones(dims)).transpose()?, bias: (affine && bias).then(|| zeros(dims)).transpose()?, eps })
    }
    pub fn forward(&self, x: &Array) -> Result<Array> {
        rmx::layer_norm(x, self.weight.as_ref().map(|p| &p.value), self.bias.as_ref().map(|p| &p.value), self.eps)
    }
}

/// Normalizes groups of channels together over every non-batch axis (`x [B, ..., C]`).
/// `pytorch_compatible` groups channels the way PyTorch does (contiguous blocks).
#[derive(Clone, Debug)]
pub struct GroupNorm {
    pub weight: Option<Param>,
    pub bias: Option<Param>,
    pub num_groups: usize,
    pub eps: f64,
    pub pytorch_compatible: bool,
}
visit!(GroupNorm { weight, bias });
impl Module for GroupNorm {}

impl GroupNorm {
    pub fn new(num_groups: usize, dims: usize, eps: f64, affine: bool, pytorch_compatible: bool) -> Result<GroupNorm> {
        if num_groups == 0 || !dims.is_multiple_of(num_groups) {
            return Err(rmx::Error::arg("GroupNorm", format!("{dims} channels do not split into {num_groups} groups")));
        }
        Ok(GroupNorm {
            weight: affine.then(|| ones(dims)).transpose()?,
            bias: affine.then(|| zeros(dims)).transpose()?,
            num_groups,
            eps,
            pytorch_compatible,
        })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let shape = x.shape().to_vec();
        let (b, c, g) = (shape[0] as isize, shape[shape.len() - 1] as isize, self.num_groups as isize);
        let spatial = shape[1..shape.len() - 1].iter().product::<usize>() as isize;
        let y = if self.pytorch_compatible {
            // [B, ..., G, C/G] → [B, G, ...*C/G]: each group is a contiguous block of channels.
            let grouped = rmx::reshape(x, &[b, spatial, g, c / g])?;
            let grouped = rmx::reshape(&rmx::transpose(&grouped, Some(&[0, 2, 1, 3]))?, &[b, g, -1])?;
            let normed = rmx::layer_norm(&grouped, None, None, self.eps)?;
            let back = rmx::reshape(&normed, &[b, g, spatial, c / g])?;
            rmx::reshape_to(&rmx::transpose(&back, Some(&[0, 2, 1, 3]))?, &shape)?
        } else {
            // MLX's default: channel k belongs to group k % G.
            let grouped = rmx::reshape(x, &[b, -1, g])?;
            rmx::reshape_to(&normalize_over(&grouped, &[1], self.eps)?, &shape)?
        };
        affine(y, &self.weight, &self.bias)
    }
}

/// Normalizes each channel of each sample over the spatial axes (`x [B, ..., C]`).
#[derive(Clone, Debug)]
pub struct InstanceNorm {
    pub weight: Option<Param>,
    pub bias: Option<Param>,
    pub eps: f64,
}
visit!(InstanceNorm { weight, bias });
impl Module for InstanceNorm {}

impl InstanceNorm {
    pub fn new(dims: usize, eps: f64, affine: bool) -> Result<InstanceNorm> {
        Ok(InstanceNorm { weight: affine.then(|| ones(dims)).transpose()?, bias: affine.then(|| zeros(dims)).transpose()?, eps })
    }
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let axes: Vec<isize> = (1..x.ndim() as isize - 1).collect();
        affine(normalize_over(x, &axes, self.eps)?, &self.weight, &self.bias)
    }
}

/// Batch normalization over every axis but the last. In training mode it normalizes with
/// the batch statistics and updates the running ones (`running_mean`, `running_var` —
/// the latter from the unbiased variance, as MLX and PyTorch do — saved with the
/// weights); in eval mode it uses the running statistics.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub weight: Option<Param>,
    pub bias: Option<Param>,
    pub running_mean: Option<Param>,
    pub running_var: Option<Param>,
    pub eps: f64,
    pub momentum: f64,
    training: bool,
}
visit!(BatchNorm { weight, bias, running_mean, running_var });

impl Module for BatchNorm {
    fn set_training_self(&mut self, training: bool) {
        self.training = training;
    }
}

impl BatchNorm {
    /// MLX's defaults: `eps` 1e-5, `momentum` 0.1, affine, tracking running statistics.
    pub fn new(dims: usize, eps: f64, momentum: f64, affine: bool, track_running_stats: bool) -> Result<BatchNorm> {
        let state = |v: Array| Param::state(v);
        Ok(BatchNorm {
            weight: affine.then(|| ones(dims)).transpose()?,
            bias: affine.then(|| zeros(dims)).transpose()?,
            running_mean: track_running_stats.then(|| rmx::zeros(&[dims], Dtype::F32).map(state)).transpose()?,
            running_var: track_running_stats.then(|| rmx::ones(&[dims], Dtype::F32).map(state)).transpose()?,
            eps,
            momentum,
            training: true,
        })
    }

    /// Takes `&mut self`: training mode updates the running statistics.
    pub fn forward(&mut self, x: &Array) -> Result<Array> {
        if !(2..=4).contains(&x.ndim()) {
            return Err(rmx::Error::shapes_detail("BatchNorm", &[x.shape()], "expects 2, 3 or 4 dimensions"));
        }
        let axes: Vec<isize> = (0..x.ndim() as isize - 1).collect();
        let count: usize = x.shape()[..x.ndim() - 1].iter().product();
        if self.training && count < 2 {
            return Err(rmx::Error::shapes_detail("BatchNorm", &[x.shape()], "training needs more than one value per channel"));
        }
        let (mean, var) = match (&mut self.running_mean, &mut self.running_var) {
            (Some(rm), Some(rv)) if !self.training => (rm.value.clone(), rv.value.clone()),
            (running_mean, running_var) => {
                let mean = rmx::mean(x, axes.as_slice(), false)?;
                let var = rmx::var(x, axes.as_slice(), false, 0)?;
                if let (Some(rm), Some(rv)) = (running_mean, running_var) {
                    let m = self.momentum;
                    let blend =
                        |old: &Array, new: &Array| rmx::add(&rmx::multiply(old, 1.0 - m)?, &rmx::multiply(&rmx::stop_gradient(new)?, m)?);
                    rm.value = blend(&rm.value, &mean)?;
                    rv.value = blend(&rv.value, &rmx::var(x, axes.as_slice(), false, 1)?)?;
                }
                (mean, var)
            }
        };
        affine(standardize(x, &mean, &var, self.eps)?, &self.weight, &self.bias)
    }
}
