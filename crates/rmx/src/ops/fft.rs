//! `rmx::fft`: discrete Fourier transforms with NumPy's and MLX's conventions — complex64
//! results (float32 for the inverse real transforms), inputs zero-padded or truncated to the
//! requested sizes, and `backward`/`ortho`/`forward` normalisation.
//!
//! ```
//! use rmx::fft::{fft, ifft, FftNorm};
//! let x = rmx::Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[4])?;
//! let spectrum = fft(&x, None, -1, FftNorm::Backward)?;
//! assert_eq!(spectrum.dtype(), rmx::Dtype::C64);
//! let back = rmx::real(&ifft(&spectrum, None, -1, FftNorm::Backward)?)?;
//! assert!((back.to_vec::<f32>()?[3] - 4.0).abs() < 1e-6);
//! # Ok::<(), rmx::Error>(())
//! ```

use crate::array::Array;
use crate::backend::cpu::fft::FftKind;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::ops::layout::PadMode;
use crate::primitive::fft::Fft;
use crate::shape::normalize_axis;
use std::sync::Arc;

/// Which direction carries the `1/n` factor (NumPy's `norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FftNorm {
    /// Forward unscaled, inverse scaled by `1/n` (the default).
    #[default]
    Backward,
    /// Both scaled by `1/sqrt(n)`.
    Ortho,
    /// Forward scaled by `1/n`, inverse unscaled.
    Forward,
}

impl FftNorm {
    fn scale(self, n: usize, inverse: bool) -> f32 {
        let n = n as f64;
        (match (self, inverse) {
            (FftNorm::Backward, false) | (FftNorm::Forward, true) => 1.0,
            (FftNorm::Backward, true) | (FftNorm::Forward, false) => 1.0 / n,
            (FftNorm::Ortho, _) => 1.0 / n.sqrt(),
        }) as f32
    }
}

/// Zero-pads or truncates `a` along `axis` to `len`.
fn fit(a: &Array, axis: usize, len: usize) -> Result<Array> {
    let cur = a.shape()[axis];
    if cur == len {
        return Ok(a.clone());
    }
    if cur > len {
        let nd = a.ndim();
        let mut stops: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
        stops[axis] = len as isize;
        return crate::slice(a, &vec![0; nd], &stops, &vec![1; nd]);
    }
    let mut widths = vec![(0, 0); a.ndim()];
    widths[axis] = (0, len - cur);
    crate::pad(a, &widths, PadMode::Constant(0.0))
}

fn one_axis(a: &Array, axis: usize, kind: FftKind, n: usize, norm: FftNorm) -> Result<Array> {
    let inverse = matches!(kind, FftKind::Complex { inverse: true } | FftKind::RealInverse);
    let (input, out_len, out_dtype) = match kind {
        FftKind::Complex { .. } => (fit(&crate::astype(a, Dtype::C64)?, axis, n)?, n, Dtype::C64),
        FftKind::RealForward => (fit(a, axis, n)?, n / 2 + 1, Dtype::C64),
        FftKind::RealInverse => (fit(&crate::astype(a, Dtype::C64)?, axis, n / 2 + 1)?, n, Dtype::F32),
    };
    let mut shape = input.shape().to_vec();
    shape[axis] = out_len;
    let primitive = Fft { axis, kind, n, scale: norm.scale(n, inverse) };
    Ok(Array::from_primitive(shape, out_dtype, Arc::new(primitive), vec![input]))
}

/// Resolves the axes and sizes of an n-d transform (NumPy's rules: `axes` defaults to the
/// last `len(s)` axes, or all axes without `s`).
fn plan(op: &'static str, a: &Array, s: Option<&[usize]>, axes: Option<&[isize]>) -> Result<Vec<usize>> {
    let nd = a.ndim();
    let axes: Vec<usize> = match (axes, s) {
        (Some(list), _) => list.iter().map(|&ax| normalize_axis(op, ax, nd)).collect::<Result<_>>()?,
        (None, Some(sizes)) if sizes.len() <= nd => (nd - sizes.len()..nd).collect(),
        (None, Some(sizes)) => return Err(Error::arg(op, format!("{} sizes for an array of rank {nd}", sizes.len()))),
        (None, None) => (0..nd).collect(),
    };
    if let Some(sizes) = s {
        if sizes.len() != axes.len() {
            return Err(Error::arg(op, format!("{} sizes for {} axes", sizes.len(), axes.len())));
        }
    }
    if axes.is_empty() {
        return Err(Error::arg(op, "no axes to transform"));
    }
    let mut seen = axes.clone();
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::arg(op, format!("duplicate axes {axes:?}")));
    }
    Ok(axes)
}

fn check_size(op: &'static str, n: usize) -> Result<usize> {
    if n == 0 {
        Err(Error::arg(op, "invalid FFT size 0"))
    } else {
        Ok(n)
    }
}

/// Transform kinds of the n-d family.
#[derive(Clone, Copy)]
enum Family {
    Complex { inverse: bool },
    Real,
    RealInverse,
}

fn transform(op: &'static str, a: &Array, s: Option<&[usize]>, axes: Option<&[isize]>, family: Family, norm: FftNorm) -> Result<Array> {
    let axes = plan(op, a, s, axes)?;
    let last = axes.len() - 1;
    let size = |i: usize| -> Result<usize> {
        let n = match (s, family) {
            (Some(sizes), _) => sizes[i],
            (None, Family::RealInverse) if i == last => 2 * a.shape()[axes[i]].saturating_sub(1),
            (None, _) => a.shape()[axes[i]],
        };
        check_size(op, n)
    };
    match family {
        Family::Complex { inverse } => {
            let mut x = a.clone();
            for (i, &axis) in axes.iter().enumerate() {
                x = one_axis(&x, axis, FftKind::Complex { inverse }, size(i)?, norm)?;
            }
            Ok(x)
        }
        Family::Real => {
            if a.dtype() == Dtype::C64 {
                return Err(Error::dtype_detail(op, a.dtype(), "the input must be real"));
            }
            let mut x = one_axis(&crate::astype(a, Dtype::F32)?, axes[last], FftKind::RealForward, size(last)?, norm)?;
            for (i, &axis) in axes[..last].iter().enumerate() {
                x = one_axis(&x, axis, FftKind::Complex { inverse: false }, size(i)?, norm)?;
            }
            Ok(x)
        }
        Family::RealInverse => {
            let mut x = a.clone();
            for (i, &axis) in axes[..last].iter().enumerate() {
                x = one_axis(&x, axis, FftKind::Complex { inverse: true }, size(i)?, norm)?;
            }
            one_axis(&x, axes[last], FftKind::RealInverse, size(last)?, norm)
        }
    }
}

fn one_d(op: &'static str, a: &Array, n: Option<usize>, axis: isize, family: Family, norm: FftNorm) -> Result<Array> {
    let sizes = n.map(|n| [n]);
    transform(op, a, sizes.as_ref().map(|s| &s[..]), Some(&[axis]), family, norm)
}

/// 1-d FFT along `axis`, the input zero-padded or truncated to `n`.
pub fn fft(a: &Array, n: Option<usize>, axis: isize, norm: FftNorm) -> Result<Array> {
    one_d("fft", a, n, axis, Family::Complex { inverse: false }, norm)
}

/// 1-d inverse FFT along `axis`.
pub fn ifft(a: &Array, n: Option<usize>, axis: isize, norm: FftNorm) -> Result<Array> {
    one_d("ifft", a, n, axis, Family::Complex { inverse: true }, norm)
}

/// 1-d FFT of real input: `n / 2 + 1` complex outputs along `axis`.
pub fn rfft(a: &Array, n: Option<usize>, axis: isize, norm: FftNorm) -> Result<Array> {
    one_d("rfft", a, n, axis, Family::Real, norm)
}

/// Inverse of [`rfft`]: `n` real outputs (default `2 * (m - 1)` for `m` inputs).
pub fn irfft(a: &Array, n: Option<usize>, axis: isize, norm: FftNorm) -> Result<Array> {
    one_d("irfft", a, n, axis, Family::RealInverse, norm)
}

/// 2-d FFT over `axes` (NumPy's default is `[-2, -1]`).
pub fn fft2(a: &Array, s: Option<&[usize]>, axes: &[isize], norm: FftNorm) -> Result<Array> {
    transform("fft2", a, s, Some(axes), Family::Complex { inverse: false }, norm)
}

/// 2-d inverse FFT over `axes`.
pub fn ifft2(a: &Array, s: Option<&[usize]>, axes: &[isize], norm: FftNorm) -> Result<Array> {
    transform("ifft2", a, s, Some(axes), Family::Complex { inverse: true }, norm)
}

/// 2-d FFT of real input over `axes` (the last one is halved).
pub fn rfft2(a: &Array, s: Option<&[usize]>, axes: &[isize], norm: FftNorm) -> Result<Array> {
    transform("rfft2", a, s, Some(axes), Family::Real, norm)
}

/// Inverse of [`rfft2`].
pub fn irfft2(a: &Array, s: Option<&[usize]>, axes: &[isize], norm: FftNorm) -> Result<Array> {
    transform("irfft2", a, s, Some(axes), Family::RealInverse, norm)
}

/// n-d FFT over `axes` (all axes, or the last `len(s)`, when `None`).
pub fn fftn(a: &Array, s: Option<&[usize]>, axes: Option<&[isize]>, norm: FftNorm) -> Result<Array> {
    transform("fftn", a, s, axes, Family::Complex { inverse: false }, norm)
}

/// n-d inverse FFT.
pub fn ifftn(a: &Array, s: Option<&[usize]>, axes: Option<&[isize]>, norm: FftNorm) -> Result<Array> {
    transform("ifftn", a, s, axes, Family::Complex { inverse: true }, norm)
}

/// n-d FFT of real input (the last axis is halved).
pub fn rfftn(a: &Array, s: Option<&[usize]>, axes: Option<&[isize]>, norm: FftNorm) -> Result<Array> {
    transform("rfftn", a, s, axes, Family::Real, norm)
}

/// Inverse of [`rfftn`].
pub fn irfftn(a: &Array, s: Option<&[usize]>, axes: Option<&[isize]>, norm: FftNorm) -> Result<Array> {
    transform("irfftn", a, s, axes, Family::RealInverse, norm)
}

/// Sample frequencies of an `n`-point FFT with sample spacing `d` (float32):
/// `[0, 1, ..., n/2 - 1 (or (n-1)/2), -n/2, ..., -1] / (d * n)`.
pub fn fftfreq(n: usize, d: f64) -> Result<Array> {
    check_size("fftfreq", n)?;
    let values: Vec<f32> =
        (0..n).map(|i| if i < n.div_ceil(2) { i as f64 } else { i as f64 - n as f64 }).map(|k| (k / (d * n as f64)) as f32).collect();
    Array::from_slice(&values, &[n])
}

/// Sample frequencies of an `n`-point real FFT: `[0, 1, ..., n/2] / (d * n)` (float32).
pub fn rfftfreq(n: usize, d: f64) -> Result<Array> {
    check_size("rfftfreq", n)?;
    let values: Vec<f32> = (0..n / 2 + 1).map(|k| (k as f64 / (d * n as f64)) as f32).collect();
    Array::from_slice(&values, &[n / 2 + 1])
}

fn shift(a: &Array, axes: Option<&[isize]>, inverse: bool) -> Result<Array> {
    let all: Vec<isize> = (0..a.ndim() as isize).collect();
    let mut x = a.clone();
    for &axis in axes.unwrap_or(&all) {
        let ax = normalize_axis(if inverse { "ifftshift" } else { "fftshift" }, axis, a.ndim())?;
        let n = a.shape()[ax] as isize;
        let by = if inverse { -(n / 2) } else { n / 2 };
        x = crate::roll(&x, by, Some(ax as isize))?;
    }
    Ok(x)
}

/// Moves the zero-frequency term to the centre along `axes` (all when `None`).
pub fn fftshift(a: &Array, axes: Option<&[isize]>) -> Result<Array> {
    shift(a, axes, false)
}

/// Inverse of [`fftshift`].
pub fn ifftshift(a: &Array, axes: Option<&[isize]>) -> Result<Array> {
    shift(a, axes, true)
}
