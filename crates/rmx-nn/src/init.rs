//! The 10 initializers of `mlx.nn.init`, as functions from a shape and dtype to a fresh
//! array (MLX returns closures that take an array for its shape and dtype). Fans follow
//! MLX: for `[out, in]` weights `fan_in = in`, `fan_out = out`; for `[out, *kernel, in]`
//! both are multiplied by the kernel size.

use rmx::{Array, Dtype, Error, Result};

/// `(fan_in, fan_out)` of a weight shape.
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    match shape {
        [] | [_] => Err(Error::arg("init", format!("fans need at least 2 dimensions, got {shape:?}"))),
        [out, inp] => Ok((*inp, *out)),
        [out, kernel @ .., inp] => {
            let field: usize = kernel.iter().product();
            Ok((inp * field, out * field))
        }
    }
}

/// Every element `value`.
pub fn constant(shape: &[usize], dtype: Dtype, value: f64) -> Result<Array> {
    rmx::full(shape, value, dtype)
}

/// Normal with the given mean and standard deviation.
pub fn normal(shape: &[usize], dtype: Dtype, mean: f64, std: f64) -> Result<Array> {
    rmx::random::normal(shape, dtype, mean, std, None)
}

/// Uniform in `[low, high)`.
pub fn uniform(shape: &[usize], dtype: Dtype, low: f64, high: f64) -> Result<Array> {
    rmx::random::uniform(low, high, shape, dtype, None)
}

/// The identity matrix (square 2-d shapes only).
pub fn identity(shape: &[usize], dtype: Dtype) -> Result<Array> {
    match shape {
        [n, m] if n == m => rmx::eye(*n, None, 0, dtype),
        _ => Err(Error::arg("init::identity", format!("needs a square 2-d shape, got {shape:?}"))),
    }
}

/// Glorot (Xavier) normal: std `gain * sqrt(2 / (fan_in + fan_out))`.
pub fn glorot_normal(shape: &[usize], dtype: Dtype, gain: f64) -> Result<Array> {
    let (fan_in, fan_out) = fans(shape)?;
    normal(shape, dtype, 0.0, gain * (2.0 / (fan_in + fan_out) as f64).sqrt())
}

/// Glorot (Xavier) uniform: limit `gain * sqrt(6 / (fan_in + fan_out))`.
pub fn glorot_uniform(shape: &[usize], dtype: Dtype, gain: f64) -> Result<Array> {
    let (fan_in, fan_out) = fans(shape)?;
    let limit = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
    uniform(shape, dtype, -limit, limit)
}

/// Which fan the He initializers scale by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
}

fn fan(shape: &[usize], mode: FanMode) -> Result<f64> {
    let (fan_in, fan_out) = fans(shape)?;
    Ok(match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    } as f64)
}

/// He (Kaiming) normal: std `gain / sqrt(fan)`.
pub fn he_normal(shape: &[usize], dtype: Dtype, mode: FanMode, gain: f64) -> Result<Array> {
    normal(shape, dtype, 0.0, gain / fan(shape, mode)?.sqrt())
}

/// He (Kaiming) uniform: limit `gain * sqrt(3 / fan)`.
pub fn he_uniform(shape: &[usize], dtype: Dtype, mode: FanMode, gain: f64) -> Result<Array> {
    let limit = gain * (3.0 / fan(shape, mode)?).sqrt();
    uniform(shape, dtype, -limit, limit)
}

/// Normal(mean, std) with `ceil(sparsity * rows)` random entries of each column zeroed
/// (2-d shapes).
pub fn sparse(shape: &[usize], dtype: Dtype, sparsity: f64, mean: f64, std: f64) -> Result<Array> {
    let [rows, cols] = shape else {
        return Err(Error::arg("init::sparse", format!("needs a 2-d shape, got {shape:?}")));
    };
    if !(0.0..=1.0).contains(&sparsity) {
        return Err(Error::arg("init::sparse", format!("sparsity {sparsity} must be in [0, 1]")));
    }
    let zeros = (sparsity * *rows as f64).ceil() as usize;
    let a = normal(shape, dtype, mean, std)?;
    if zeros == 0 {
        return Ok(a);
    }
    let order = rmx::argsort(&rmx::random::uniform(0.0, 1.0, shape, Dtype::F32, None)?, Some(0))?;
    let picked = rmx::slice(&order, &[0, 0], &[zeros as isize, *cols as isize], &[1, 1])?;
    rmx::put_along_axis(&a, &picked, &rmx::zeros(&[zeros, *cols], dtype)?, 0)
}

/// A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a normal matrix
/// with the signs of `R`'s diagonal folded in (2-d shapes).
pub fn orthogonal(shape: &[usize], dtype: Dtype, gain: f64) -> Result<Array> {
    let [rows, cols] = shape else {
        return Err(Error::arg("init::orthogonal", format!("needs a 2-d shape, got {shape:?}")));
    };
    let (n, m) = (*rows.max(cols), *rows.min(cols));
    let a = rmx::random::normal(&[n, m], Dtype::F32, 0.0, 1.0, None)?;
    let (q, r) = rmx::linalg::qr(&a)?;
    let q = rmx::multiply(&q, &rmx::sign(&rmx::diagonal(&r, 0, 0, 1)?)?)?;
    let q = if rows < cols { rmx::transpose(&q, None)? } else { q };
    rmx::astype(&rmx::multiply(&q, gain)?, dtype)
}
