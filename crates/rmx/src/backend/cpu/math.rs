//! Scalar math shared by the kernels: the [`Real`] trait over f32/f64 with the functions
//! `std` lacks (erf, erfinv, round-half-even, NumPy's sign), and vectorizable f32 versions
//! of exp-based functions.

use crate::element::Element;
use num_traits::Float;

/// f32 or f64 with the math element-wise kernels need.
pub trait Real: Float + Element + Send + Sync {
    fn erf(self) -> Self;
    fn erfinv(self) -> Self;
    fn of(v: f64) -> Self;
    /// exp that the compiler can vectorize (f32), or the libm one (f64).
    fn fast_exp(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn erf(self) -> Self {
        libm::erff(self)
    }
    #[inline(always)]
    fn erfinv(self) -> Self {
        erfinv_f32(self)
    }
    #[inline(always)]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn fast_exp(self) -> Self {
        exp_f32(self)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline(always)]
    fn erfinv(self) -> Self {
        erfinv_f64(self)
    }
    #[inline(always)]
    fn of(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn fast_exp(self) -> Self {
        self.exp()
    }
}

/// NumPy's sign: -1, 0 or 1, NaN for NaN.
#[inline(always)]
pub fn sign<F: Real>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        x
    }
}

/// Logistic sigmoid, stable for large |x|.
#[inline(always)]
pub fn sigmoid<F: Real>(x: F) -> F {
    F::one() / (F::one() + (-x).fast_exp())
}

/// `log(e^x + e^y)` without overflow; infinities and NaN propagate as in NumPy.
#[inline(always)]
pub fn logaddexp<F: Real>(x: F, y: F) -> F {
    if x.is_nan() || y.is_nan() {
        return x + y;
    }
    let (hi, lo) = if x > y { (x, y) } else { (y, x) };
    if lo == F::neg_infinity() || hi == F::infinity() {
        return hi;
    }
    hi + (lo - hi).fast_exp().ln_1p()
}

/// exp(x) for f32 by range reduction (x = k ln2 + r) and a degree-6 polynomial; written with
/// plain arithmetic and bit casts so loops over it vectorize. Max error about 1 ulp.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-104.0, 88.722_83);
    let k = (xc * LOG2E).round_ties_even();
    let r = xc - k * LN2_HI - k * LN2_LO;
    let r2 = r * r;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let y = p * r2 + r + 1.0;
    // 2^k by building the exponent bits; k in [-127, 128] after the clamp.
    let ki = k as i32;
    let (k1, k2) = (ki / 2, ki - ki / 2);
    let s1 = f32::from_bits(((k1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((k2 + 127) as u32) << 23);
    let out = y * s1 * s2;
    if x.is_nan() {
        x
    } else if x > 88.722_83 {
        f32::INFINITY
    } else if x < -103.972_08 {
        0.0
    } else {
        out
    }
}

/// Inverse error function for f32 (Giles' single-precision approximation, then one Newton step).
pub fn erfinv_f32(x: f32) -> f32 {
    erfinv_f64(x as f64) as f32
}

/// Inverse error function for f64: Giles' approximation refined by Newton steps on erf.
pub fn erfinv_f64(x: f64) -> f64 {
    if x.is_nan() || !(-1.0..=1.0).contains(&x) {
        return f64::NAN;
    }
    if x == 1.0 {
        return f64::INFINITY;
    }
    if x == -1.0 {
        return f64::NEG_INFINITY;
    }
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let mut y = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        p = 3.432_739_39e-07 + p * w;
        p = -3.523_387_7e-06 + p * w;
        p = -4.391_506_54e-06 + p * w;
        p = 0.000_218_580_87 + p * w;
        p = -0.001_253_725_03 + p * w;
        p = -0.004_177_681_64 + p * w;
        p = 0.246_640_727 + p * w;
        p = 1.501_409_41 + p * w;
        p * x
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        p = 0.000_100_950_558 + p * w;
        p = 0.001_349_343_22 + p * w;
        p = -0.003_673_428_44 + p * w;
        p = 0.005_739_507_73 + p * w;
        p = -0.007_622_461_3 + p * w;
        p = 0.009_438_870_47 + p * w;
        p = 1.001_674_06 + p * w;
        p = 2.832_976_82 + p * w;
        p * x
    };
    // Newton on f(y) = erf(y) - x, f'(y) = 2/sqrt(pi) exp(-y^2).
    for _ in 0..2 {
        let err = libm::erf(y) - x;
        let deriv = std::f64::consts::FRAC_2_SQRT_PI * (-y * y).exp();
        if deriv == 0.0 {
            break;
        }
        y -= err / deriv;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -100.0f32;
        while x < 90.0 {
            let want = (x as f64).exp();
            let got = exp_f32(x) as f64;
            if want > 1e-37 && want.is_finite() && got.is_finite() {
                worst = worst.max(((got - want) / want).abs());
            }
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn erfinv_inverts_erf() {
        for i in -99..100 {
            let x = i as f64 / 100.0;
            assert!((libm::erf(erfinv_f64(x)) - x).abs() < 1e-14);
        }
    }
}
