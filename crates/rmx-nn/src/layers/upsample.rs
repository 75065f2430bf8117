//! `Upsample`: nearest, linear and cubic interpolation of channels-last inputs
//! (`[B, *spatial, C]`) by per-dimension scale factors, with `align_corners` and
//! anti-aliasing, following MLX's sampling grids and kernels (cubic `a = -0.75`, or
//! `-0.5` with anti-aliasing, as PyTorch). Interpolation is separable: one gather and
//! weighted sum per spatial axis.

use crate::module::Module;
use crate::visit;
use rmx::{Array, Error, Result};

/// Interpolation kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsampleMode {
    Nearest,
    Linear,
    Cubic,
}

/// One tap per output position along an axis: source indices and weights.
type Taps = Vec<(Vec<u32>, Vec<f32>)>;

/// Source coordinate of each of the `floor(scale * n)` outputs.
fn scaled_positions(n: usize, scale: f64, align_corners: bool) -> Vec<f64> {
    let m = (scale * n as f64) as usize;
    if align_corners {
        let step = (n as f64 - 1.0) / (m.max(2) - 1) as f64;
        (0..m).map(|i| i as f64 * step).collect()
    } else {
        let step = 1.0 / scale;
        let start = ((m as f64 - 1.0) * step - n as f64 + 1.0) / 2.0;
        (0..m).map(|i| i as f64 * step - start).collect()
    }
}

fn clamp_index(i: f64, n: usize) -> u32 {
    i.clamp(0.0, (n - 1) as f64) as u32
}

fn nearest_taps(n: usize, scale: f64) -> Taps {
    let m = (scale * n as f64) as usize;
    let idx = (0..m)
        .map(|i| {
            let i = i as f64;
            let src = if scale.fract() == 0.0 {
                (i / scale).floor()
            } else if m > n {
                ((i + 0.5) * (n as f64 / m as f64) - 0.5).round_ties_even()
            } else {
                (i * (n as f64 / m as f64)).floor()
            };
            clamp_index(src, n)
        })
        .collect();
    vec![(idx, vec![1.0; m])]
}

fn linear_taps(n: usize, scale: f64, align_corners: bool) -> Taps {
    let pos: Vec<f64> = scaled_positions(n, scale, align_corners).into_iter().map(|p| p.clamp(0.0, (n - 1) as f64)).collect();
    let w: Vec<f64> = pos.iter().map(|p| p - p.floor()).collect();
    vec![
        (pos.iter().map(|p| p.floor() as u32).collect(), w.iter().map(|w| (1.0 - w) as f32).collect()),
        (pos.iter().map(|p| p.ceil() as u32).collect(), w.iter().map(|&w| w as f32).collect()),
    ]
}

/// Keys' cubic kernel with coefficient `a` at distance `x`.
fn cubic(x: f64, a: f64) -> f64 {
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x <= 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

fn cubic_taps(n: usize, scale: f64, align_corners: bool) -> Taps {
    let pos = scaled_positions(n, scale, align_corners);
    [-1.0, 0.0, 1.0, 2.0]
        .iter()
        .map(|&k| {
            let grid: Vec<f64> = pos.iter().map(|p| p.floor() + k).collect();
            let w = pos.iter().zip(&grid).map(|(p, g)| cubic((p - g).abs(), -0.75) as f32).collect();
            (grid.iter().map(|&g| clamp_index(g, n)).collect(), w)
        })
        .collect()
}

/// Anti-aliased taps: the kernel widened by `1/scale` when downsampling, out-of-range
/// taps dropped and the weights renormalised.
fn antialias_taps(n: usize, scale: f64, kernel: fn(f64) -> f64, radius: f64) -> Taps {
    let pos = scaled_positions(n, scale, false);
    let inv = if scale < 1.0 { 1.0 / scale } else { 1.0 };
    let taps = (radius * inv).ceil() as i64 + 1;
    let raw: Vec<(Vec<f64>, Vec<f64>)> = (-taps + 1..taps)
        .map(|k| {
            let idx: Vec<f64> = pos.iter().map(|p| p.floor() + k as f64).collect();
            let w = pos.iter().zip(&idx).map(|(p, i)| if *i >= 0.0 && *i < n as f64 { kernel((p - i).abs() / inv) } else { 0.0 }).collect();
            (idx, w)
        })
        .collect();
    let sums: Vec<f64> =
        (0..pos.len()).map(|j| raw.iter().map(|(_, w)| w[j]).sum::<f64>()).map(|s| if s > 0.0 { s } else { 1.0 }).collect();
    raw.into_iter()
        .map(|(idx, w)| (idx.iter().map(|&i| clamp_index(i, n)).collect(), w.iter().zip(&sums).map(|(w, s)| (w / s) as f32).collect()))
        .collect()
}

/// Upsampling by `scale_factor` per spatial dimension.
///
/// ```
/// use rmx_nn::{Upsample, UpsampleMode};
/// let x = rmx::reshape(&rmx::arange(0.0, 4.0, 1.0, rmx::Dtype::F32)?, &[1, 2, 2, 1])?;
/// let up = Upsample::new(vec![2.0, 2.0], UpsampleMode::Nearest, false, false)?;
/// assert_eq!(up.forward(&x)?.shape(), &[1, 4, 4, 1]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Upsample {
    pub scale_factor: Vec<f64>,
    pub mode: UpsampleMode,
    pub align_corners: bool,
    pub antialias: bool,
}
visit!(Upsample {});
impl Module for Upsample {}

impl Upsample {
    pub fn new(scale_factor: Vec<f64>, mode: UpsampleMode, align_corners: bool, antialias: bool) -> Result<Upsample> {
        if scale_factor.is_empty() || scale_factor.iter().any(|&s| !(s > 0.0 && s.is_finite())) {
            return Err(Error::arg("Upsample", format!("scale factors {scale_factor:?} must be positive")));
        }
        if antialias && align_corners {
            return Err(Error::arg("Upsample", "antialias with align_corners is not supported (as in MLX)"));
        }
        Ok(Upsample { scale_factor, mode, align_corners, antialias })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let dims = self.scale_factor.len();
        if x.ndim() != dims + 2 {
            return Err(Error::shapes_detail("Upsample", &[x.shape()], format!("{dims} scale factors need [B, {dims} spatial dims, C]")));
        }
        let mut out = x.clone();
        for (axis, &scale) in self.scale_factor.iter().enumerate() {
            let n = x.shape()[axis + 1];
            if (scale * n as f64) < 1.0 {
                return Err(Error::shapes_detail(
                    "Upsample",
                    &[x.shape()],
                    format!("scale {scale} leaves no output along axis {}", axis + 1),
                ));
            }
            let taps = match (self.mode, self.antialias) {
                (UpsampleMode::Nearest, _) => nearest_taps(n, scale),
                (UpsampleMode::Linear, false) => linear_taps(n, scale, self.align_corners),
                (UpsampleMode::Cubic, false) => cubic_taps(n, scale, self.align_corners),
                (UpsampleMode::Linear, true) => antialias_taps(n, scale, |d| (1.0 - d).max(0.0), 1.0),
                (UpsampleMode::Cubic, true) => antialias_taps(n, scale, |d| cubic(d, -0.5), 2.0),
            };
            let mut weight_shape = vec![1usize; x.ndim()];
            weight_shape[axis + 1] = taps[0].0.len();
            let mut acc: Option<Array> = None;
            for (idx, w) in taps {
                let m = idx.len();
                let gathered = rmx::take(&out, &Array::from_slice(&idx, &[m])?, Some(axis as isize + 1))?;
                let term = if self.mode == UpsampleMode::Nearest {
                    gathered
                } else {
                    rmx::multiply(&gathered, &rmx::astype(&Array::from_slice(&w, &weight_shape)?, out.dtype())?)?
                };
                acc = Some(match acc {
                    Some(a) => rmx::add(&a, &term)?,
                    None => term,
                });
            }
            out = acc.expect("at least one tap");
        }
        Ok(out)
    }
}
