//! Window functions for spectral analysis (NumPy's and MLX's `hanning`, `hamming`,
//! `blackman`, `bartlett`): `m` float32 samples of a symmetric taper, computed in f64.

use crate::array::Array;
use crate::error::Result;
use std::f64::consts::PI;

/// `m` samples of `w(x)`, `x = n / (m - 1)` in [0, 1]; one sample is 1, none is empty.
fn window(m: usize, w: impl Fn(f64) -> f64) -> Result<Array> {
    let values: Vec<f32> = match m {
        0 => Vec::new(),
        1 => vec![1.0],
        _ => (0..m).map(|n| w(n as f64 / (m - 1) as f64) as f32).collect(),
    };
    Array::from_slice(&values, &[m])
}

/// The Hann window, `0.5 - 0.5 cos(2πn / (m - 1))`.
///
/// ```
/// let w = rmx::hanning(5)?;
/// assert_eq!(w.to_vec::<f32>()?, vec![0.0, 0.5, 1.0, 0.5, 0.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn hanning(m: usize) -> Result<Array> {
    window(m, |x| 0.5 - 0.5 * (2.0 * PI * x).cos())
}

/// The Hamming window, `0.54 - 0.46 cos(2πn / (m - 1))`.
pub fn hamming(m: usize) -> Result<Array> {
    window(m, |x| 0.54 - 0.46 * (2.0 * PI * x).cos())
}

/// The Blackman window, `0.42 - 0.5 cos(2πn / (m - 1)) + 0.08 cos(4πn / (m - 1))`.
pub fn blackman(m: usize) -> Result<Array> {
    window(m, |x| 0.42 - 0.5 * (2.0 * PI * x).cos() + 0.08 * (4.0 * PI * x).cos())
}

/// The Bartlett (triangular) window, rising linearly from 0 to 1 and back.
pub fn bartlett(m: usize) -> Result<Array> {
    window(m, |x| 1.0 - (2.0 * x - 1.0).abs())
}
