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
    /// exp for |x| ≤ 87 only, without range handling (f32), or the libm one (f64).
    fn moderate_exp(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn erf(self) -> Self {
        erf_f32(self)
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
    #[inline(always)]
    fn moderate_exp(self) -> Self {
        exp_f32_moderate(self)
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
    #[inline(always)]
    fn moderate_exp(self) -> Self {
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
/// plain arithmetic, fused multiply-adds and bit casts so loops over it vectorize. Max error
/// about 1 ulp.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let (y, ki) = exp_f32_parts(x.clamp(-104.0, 88.722_83));
    // 2^k in two factors so k in [-151, 129] stays in range.
    let k1 = ki >> 1;
    let out = y * pow2_f32(k1) * pow2_f32(ki.wrapping_sub(k1));
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

/// exp(x) for f32 with |x| ≤ 87 (NaN and larger magnitudes give meaningless values): the
/// kernel of [`exp_f32`] without its range handling, for callers that bound x themselves.
#[inline(always)]
pub fn exp_f32_moderate(x: f32) -> f32 {
    let (y, ki) = exp_f32_parts(x);
    y * pow2_f32(ki)
}

/// `(y, k)` with `e^x = y · 2^k`, `y` in about [0.7, 1.42], for `x` in [-104, 88.73].
#[inline(always)]
fn exp_f32_parts(x: f32) -> (f32, i32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let k = (x * LOG2E).round_ties_even();
    let r = k.mul_add(-LN2_LO, k.mul_add(-LN2_HI, x));
    let r2 = r * r;
    let p = 1.987_569_1e-4f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 5e-1);
    let y = p.mul_add(r2, r) + 1.0;
    // The integer k comes out of the mantissa of k + 1.5·2^23 rather than from an `as` cast,
    // whose saturating semantics would keep the loop from vectorizing.
    (y, (k + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000) as i32)
}

/// 2^k for k in [-126, 127], built from exponent bits.
#[inline(always)]
fn pow2_f32(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32) << 23)
}

/// erf for f32, branch-free so loops over it vectorize: `x·P(x²)` for |x| < 1 and
/// `1 − e^{−x²}·Q(t)`, `t = 1/(1 + 0.47047|x|)` above (least-squares fits to the exact
/// function, generated for this crate). Max error 2.6 ulp against the exact erf.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    const P: [f32; 7] =
        [std::f32::consts::FRAC_2_SQRT_PI, -0.376_126_3, 0.112_836_35, -0.026_856_07, 0.005_192_958, -8.053_751e-4, 8.006_874e-5];
    const Q: [f32; 7] = [2.588_881e-4, 0.262_148_07, 0.281_428_25, 0.202_715_53, 0.183_946_13, 0.193_018_42, -0.124_116_95];
    let a = x.abs();
    let z = a * a;
    let mut p = P[6];
    for &c in P[..6].iter().rev() {
        p = p.mul_add(z, c);
    }
    let small = x * p;
    let ac = a.min(4.5);
    let t = 1.0 / (1.0 + 0.47047 * ac);
    let mut q = Q[6];
    for &c in Q[..6].iter().rev() {
        q = q.mul_add(t, c);
    }
    let big = (-q).mul_add(exp_f32(-ac * ac), 1.0).copysign(x);
    if a < 1.0 {
        small
    } else if x.is_nan() {
        x
    } else {
        big
    }
}

/// tanh through exp, branch-free so loops over it vectorize: `1 - 2 / (e^{2|x|} + 1)` with
/// the sign restored, and an odd Taylor polynomial for |x| < 1/16 where that form would lose
/// relative precision. |x| is capped at 20 (tanh is 1 in f32 and f64 from about 9.1 and 19.1),
/// which keeps the exp in its moderate range.
#[inline(always)]
pub fn tanh<F: Real>(v: F) -> F {
    let a = v.abs().min(F::of(20.0));
    let e = (a + a).moderate_exp();
    let big = F::one() - F::of(2.0) / (e + F::one());
    let v2 = v * v;
    let p = F::of(62.0 / 2835.0);
    let p = p * v2 - F::of(17.0 / 315.0);
    let p = p * v2 + F::of(2.0 / 15.0);
    let p = p * v2 - F::of(1.0 / 3.0);
    // (copysign: the sum would turn -0.0 into +0.0.)
    let small = (v + v * v2 * p).copysign(v);
    let t = big.copysign(v);
    if a < F::of(0.0625) {
        small
    } else if v.is_nan() {
        v
    } else {
        t
    }
}

/// Round half to even (NumPy's `round`).
#[inline(always)]
pub fn round_half_even<F: Real>(v: F) -> F {
    let r = v.round();
    if (v - v.trunc()).abs() == F::of(0.5) {
        F::of(2.0) * (v / F::of(2.0)).round()
    } else {
        r
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
    fn tanh_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -30.0f32;
        while x < 30.0 {
            let (want, got) = ((x as f64).tanh(), tanh(x) as f64);
            worst = worst.max((got - want).abs() / want.abs().max(1e-30));
            x += 0.00731;
        }
        // Worst near |x| = 1/16, where 1 - 2/(e+1) cancels: about 5 ulp.
        assert!(worst < 8e-7, "worst relative error {worst}");
        assert!(tanh(f32::NAN).is_nan() && tanh(f64::NAN).is_nan());
        assert_eq!((tanh(f32::INFINITY), tanh(f32::NEG_INFINITY)), (1.0, -1.0));
        assert_eq!((tanh(1e-30f32), tanh(-0.0f32).to_bits()), (1e-30, (-0.0f32).to_bits()));
        assert!((tanh(0.7f64) - 0.7f64.tanh()).abs() < 1e-15);
    }

    #[test]
    fn erf_f32_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = libm::erf(x as f64);
            let ulp = (want.abs() as f32).to_bits();
            let ulp = (f32::from_bits(ulp + 1) - f32::from_bits(ulp)) as f64;
            worst = worst.max((erf_f32(x) as f64 - want).abs() / ulp);
            x += 0.000_37;
        }
        assert!(worst < 3.0, "worst error {worst} ulp");
        assert!(erf_f32(f32::NAN).is_nan());
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf_f32(0.0), 0.0);
    }

    #[test]
    fn erfinv_inverts_erf() {
        for i in -99..100 {
            let x = i as f64 / 100.0;
            assert!((libm::erf(erfinv_f64(x)) - x).abs() < 1e-14);
        }
    }
}
