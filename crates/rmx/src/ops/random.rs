//! Random sampling on threefry-2x32 keys (MLX's `mx.random`): explicit keys everywhere, and a
//! global key sequence (seeded with [`seed`]) for calls that pass `None`. The same key gives
//! the same numbers on every run, thread and backend, and the same numbers as MLX.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::random::RandomBits;
use crate::shape::broadcast_shapes_for;
use std::sync::{Arc, Mutex};

static GLOBAL_KEY: Mutex<Option<(u32, u32)>> = Mutex::new(None);

/// A key (a `[2]` uint32 array) from a seed.
///
/// ```
/// let k = rmx::random::key(42);
/// assert_eq!(k.to_vec::<u32>().unwrap(), vec![0, 42]);
/// ```
pub fn key(seed: u64) -> Array {
    Array::from_slice(&[(seed >> 32) as u32, seed as u32], &[2]).expect("two words")
}

/// Seeds the global key sequence.
pub fn seed(seed: u64) {
    *GLOBAL_KEY.lock().unwrap_or_else(|e| e.into_inner()) = Some(((seed >> 32) as u32, seed as u32));
}

/// The next key of the global sequence (seeded from the clock if never seeded).
fn next_key() -> Result<Array> {
    if crate::compile::trace::tracing() {
        return Err(Error::arg(
            "random",
            "sampling without a key inside a compiled function would repeat the same numbers on every call; \
             pass a key as an input of the function",
        ));
    }
    let mut g = GLOBAL_KEY.lock().unwrap_or_else(|e| e.into_inner());
    let k = *g.get_or_insert_with(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        ((t >> 32) as u32, t as u32)
    });
    let a = crate::primitive::random::threefry2x32(k, (0, 2));
    let b = crate::primitive::random::threefry2x32(k, (1, 3));
    // split(k) = bits of shape [2, 2]: words [a.0, b.0, a.1, b.1] -> keys (a.0, b.0), (a.1, b.1).
    *g = Some((a.0, b.0));
    Array::from_slice(&[a.1, b.1], &[2])
}

fn key_or_next(key: Option<&Array>) -> Result<Array> {
    match key {
        Some(k) => {
            if k.dtype() != Dtype::U32 || k.shape().last() != Some(&2) {
                return Err(Error::arg("random", format!("a key is a uint32 array of shape [..., 2], got {:?} {}", k.shape(), k.dtype())));
            }
            Ok(k.clone())
        }
        None => next_key(),
    }
}

/// Raw random bits: `width` bytes per element (1, 2 or 4) as u8/u16/u32.
pub fn bits(shape: &[usize], width: usize, key: Option<&Array>) -> Result<Array> {
    let dtype = match width {
        1 => Dtype::U8,
        2 => Dtype::U16,
        4 => Dtype::U32,
        w => return Err(Error::arg("bits", format!("width must be 1, 2 or 4 bytes, got {w}"))),
    };
    crate::shape::checked_numel("bits", shape)?;
    Ok(Array::from_primitive(shape.to_vec(), dtype, Arc::new(RandomBits), vec![key_or_next(key)?]))
}

/// `num` new keys derived from `key`, as a `[num, 2]` array.
pub fn split(key: &Array, num: usize) -> Result<Array> {
    bits(&[num, 2], 4, Some(key))
}

/// Uniform samples in `[low, high)`.
///
/// ```
/// let u = rmx::random::uniform(0.0, 1.0, &[5], rmx::Dtype::F32, Some(&rmx::random::key(42))).unwrap();
/// assert!((u.to_vec::<f32>().unwrap()[0] - 0.72981888).abs() < 1e-6); // the value MLX gives
/// ```
pub fn uniform(low: f64, high: f64, shape: &[usize], dtype: Dtype, key: Option<&Array>) -> Result<Array> {
    if !dtype.is_float() {
        return Err(Error::dtype_detail("uniform", dtype, "uniform needs a floating dtype"));
    }
    // 32 random bits per sample whatever the dtype (as MLX), scaled in float32 then cast.
    let raw = bits(shape, 4, key)?;
    let unit = crate::divide(&crate::astype(&raw, Dtype::F32)?, u32::MAX as f64)?;
    let below_one = f32::from_bits(1.0f32.to_bits() - 1) as f64;
    let unit = crate::minimum(&unit, below_one)?;
    crate::astype(&crate::add(&crate::multiply(&unit, high - low)?, low)?, dtype)
}

/// Standard normal samples scaled by `scale` and shifted by `loc`.
pub fn normal(shape: &[usize], dtype: Dtype, loc: f64, scale: f64, key: Option<&Array>) -> Result<Array> {
    let low = f32::from_bits((-1.0f32).to_bits() - 1) as f64;
    let u = uniform(low, 1.0, shape, dtype, key)?;
    let z = crate::multiply(&crate::erfinv(&u)?, std::f64::consts::SQRT_2)?;
    crate::add(&crate::multiply(&z, scale)?, loc)
}

/// Integers uniform in `[low, high)`.
pub fn randint(low: i64, high: i64, shape: &[usize], dtype: Dtype, key: Option<&Array>) -> Result<Array> {
    if !dtype.is_integer() {
        return Err(Error::dtype_detail("randint", dtype, "randint needs an integer dtype"));
    }
    if high <= low {
        return Err(Error::arg("randint", format!("high {high} must exceed low {low}")));
    }
    let u = uniform(low as f64, high as f64, shape, Dtype::F32, key)?;
    crate::astype(&crate::maximum(&crate::floor(&u)?, low as f64)?, dtype)
}

/// True with probability `p`.
pub fn bernoulli(p: f64, shape: &[usize], key: Option<&Array>) -> Result<Array> {
    crate::less(&uniform(0.0, 1.0, shape, Dtype::F32, key)?, p)
}

/// Normal samples truncated to `[lower, upper]`.
pub fn truncated_normal(lower: f64, upper: f64, shape: &[usize], dtype: Dtype, key: Option<&Array>) -> Result<Array> {
    if lower >= upper {
        return Err(Error::arg("truncated_normal", format!("lower {lower} must be below upper {upper}")));
    }
    let a = libm::erf(lower / std::f64::consts::SQRT_2);
    let b = libm::erf(upper / std::f64::consts::SQRT_2);
    let u = uniform(a, b, shape, dtype, key)?;
    let z = crate::multiply(&crate::erfinv(&u)?, std::f64::consts::SQRT_2)?;
    crate::clip(&z, Some(lower), Some(upper))
}

/// Standard Gumbel samples.
pub fn gumbel(shape: &[usize], dtype: Dtype, key: Option<&Array>) -> Result<Array> {
    let u = uniform(0.0, 1.0, shape, dtype, key)?;
    crate::negative(&crate::log(&crate::negative(&crate::log(&u)?)?)?)
}

/// Laplace samples with location `loc` and scale `scale`.
pub fn laplace(shape: &[usize], dtype: Dtype, loc: f64, scale: f64, key: Option<&Array>) -> Result<Array> {
    let low = f32::from_bits((-1.0f32).to_bits() - 1) as f64;
    let u = uniform(low, 1.0, shape, dtype, key)?;
    let s = crate::multiply(&crate::sign(&u)?, &crate::log1p(&crate::negative(&crate::abs(&u)?)?)?)?;
    crate::add(&crate::multiply(&s, scale)?, loc)
}

/// Samples category indices (uint32) from unnormalized log-probabilities along `axis`,
/// `num_samples` per distribution (as a new last axis) or one when `None`.
pub fn categorical(logits: &Array, axis: isize, num_samples: Option<usize>, key: Option<&Array>) -> Result<Array> {
    let ax = crate::shape::normalize_axis("categorical", axis, logits.ndim())?;
    let logits = crate::moveaxis(logits, ax as isize, -1)?;
    let lf = crate::astype(&logits, Dtype::F32)?;
    match num_samples {
        None => {
            let g = gumbel(lf.shape(), Dtype::F32, key)?;
            crate::argmax(&crate::add(&lf, &g)?, Some(-1), false)
        }
        Some(n) => {
            let mut shape = lf.shape().to_vec();
            let k = shape.pop().expect("at least one axis");
            shape.extend([n, k]);
            let expanded = crate::expand_dims(&lf, &[-2])?;
            let g = gumbel(&shape, Dtype::F32, key)?;
            crate::argmax(&crate::add(&expanded, &g)?, Some(-1), false)
        }
    }
}

/// A random permutation of `0..n` (uint32, as MLX).
pub fn permutation(n: usize, key: Option<&Array>) -> Result<Array> {
    crate::argsort(&bits(&[n], 4, key)?, Some(0))
}

/// Jointly normal samples with `mean` `[..., n]` and positive semi-definite covariance
/// `cov` `[..., n, n]` (float32). The output is `shape + [n]`, where `shape` must broadcast
/// with the batch shapes of `mean` and `cov` (empty: their broadcast). Like MLX, the
/// covariance is factored by SVD (`cov = U S Uᵀ`) and standard normals are mapped through
/// `U sqrt(S)`; singular-vector signs may differ from MLX's LAPACK, so the samples match
/// MLX in distribution, not bit for bit.
pub fn multivariate_normal(mean: &Array, cov: &Array, shape: &[usize], key: Option<&Array>) -> Result<Array> {
    let op = "random.multivariate_normal";
    if mean.ndim() < 1 || cov.ndim() < 2 {
        return Err(Error::shapes_detail(op, &[mean.shape(), cov.shape()], "mean must be at least 1-d and cov at least 2-d"));
    }
    let n = mean.shape()[mean.ndim() - 1];
    if cov.shape()[cov.ndim() - 1] != n || cov.shape()[cov.ndim() - 2] != n {
        return Err(Error::shapes_detail(op, &[mean.shape(), cov.shape()], format!("cov must end in ({n}, {n}) to match mean")));
    }
    let batch = broadcast_shapes_for(op, &mean.shape()[..mean.ndim() - 1], &cov.shape()[..cov.ndim() - 2])?;
    let out_batch = if shape.is_empty() { batch } else { broadcast_shapes_for(op, shape, &batch)? };
    let (u, s, _) = crate::linalg::svd(&crate::astype(cov, Dtype::F32)?)?;
    let std = crate::multiply(&u, &crate::expand_dims(&crate::sqrt(&s)?, &[-2])?)?;
    let z = normal(&[out_batch.as_slice(), &[n]].concat(), Dtype::F32, 0.0, 1.0, key)?;
    // x = mean + std @ z, written row-wise as z @ stdᵀ.
    let mapped = crate::squeeze(&crate::matmul(&crate::expand_dims(&z, &[-2])?, &crate::swapaxes(&std, -1, -2)?)?, Some(&[-2]))?;
    crate::add(&crate::astype(mean, Dtype::F32)?, &mapped)
}
