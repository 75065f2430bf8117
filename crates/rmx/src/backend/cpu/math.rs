//! Scalar math shared by the kernels: the [`Real`] trait over f32/f64 with the functions
//! `std` lacks (erf, whose f32 form is in [`super::erf`]; erfinv, round-half-even, NumPy's
//! sign), and vectorizable f32 versions of exp-based functions and of log1p on [0, 1].

use crate::element::Element;
use num_traits::Float;

/// A kernel over slices: `kernel(x, out)` fills `out` from `x` (equal lengths).
pub type SliceKernel<F> = fn(&[F], &mut [F]);

/// f32 or f64 with the math element-wise kernels need.
pub trait Real: Float + Element + Send + Sync {
    fn erf(self) -> Self;
    /// `out[i] = x[i].erf()`: what kernels call, vectorized explicitly for f32 (see
    /// [`super::erf`]), whose scalar `erf` does not vectorize.
    fn erf_slice(x: &[Self], out: &mut [Self]);
    /// The hand-vectorized slice kernel of `fast_exp`, where this type has one on this CPU
    /// (f32 where AVX-512 runs, see [`super::exp`]); elsewhere loops over the formula are as fast.
    fn vector_exp_slice() -> Option<SliceKernel<Self>>;
    /// Likewise for [`sigmoid`].
    fn vector_sigmoid_slice() -> Option<SliceKernel<Self>>;
    fn erfinv(self) -> Self;
    fn of(v: f64) -> Self;
    /// exp that the compiler can vectorize (f32), or the libm one (f64).
    fn fast_exp(self) -> Self;
    /// exp for |x| ≤ 87 only, without range handling (f32), or the libm one (f64).
    fn moderate_exp(self) -> Self;
    /// log(1 + t) for t in [0, 1] only, vectorizable (f32), or the libm one (f64).
    fn ln_1p_unit(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn erf(self) -> Self {
        super::erf::erf_f32(self)
    }
    fn erf_slice(x: &[Self], out: &mut [Self]) {
        super::erf::erf_f32_slice(x, out)
    }
    fn vector_exp_slice() -> Option<SliceKernel<Self>> {
        super::exp::has_vector_form().then_some(super::exp::exp_f32_slice)
    }
    fn vector_sigmoid_slice() -> Option<SliceKernel<Self>> {
        super::exp::has_vector_form().then_some(super::exp::sigmoid_f32_slice)
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
    #[inline(always)]
    fn ln_1p_unit(self) -> Self {
        ln_1p_unit_f32(self)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn erf_slice(x: &[Self], out: &mut [Self]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = libm::erf(v);
        }
    }
    fn vector_exp_slice() -> Option<SliceKernel<Self>> {
        None
    }
    fn vector_sigmoid_slice() -> Option<SliceKernel<Self>> {
        None
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
    #[inline(always)]
    fn ln_1p_unit(self) -> Self {
        self.ln_1p()
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

/// `log(e^x + e^y)` without overflow, as `hi + log1p(e^(lo - hi))`; infinities and NaN
/// propagate as in MLX (`-inf` with anything gives the other operand). Branch-free, so loops
/// over it vectorize for f32 (17x faster than through libm's log1p on Zen 3, unfused).
#[inline(always)]
pub fn logaddexp<F: Real>(x: F, y: F) -> F {
    let (hi, lo) = if x > y { (x, y) } else { (y, x) };
    let d = lo - hi;
    let sum = hi + d.fast_exp().ln_1p_unit();
    // d is NaN exactly when an operand is NaN or both are the same infinity: x + y is then
    // NaN or that infinity.
    if d.is_nan() {
        x + y
    } else if lo == F::neg_infinity() {
        hi
    } else {
        sum
    }
}

/// log(1 + t) for f32 t in [0, 1] (what logaddexp needs), branch-free and without division:
/// `s + s·q(s)` with `s = t` up to 1/2 and `s = (t - 1)/2` (exact) above, where
/// `log1p(t) = ln 2 + log1p(s)`; q is a degree-9 minimax fit on [-1/4, 1/2] made by
/// `scripts/fit_log1p.py`. Max error 0.90 ulp against the exact log1p over every f32 in
/// [0, 1] (`ln_1p_unit_f32_every_input`, an ignored test).
#[inline(always)]
pub fn ln_1p_unit_f32(t: f32) -> f32 {
    const Q: [f32; 9] =
        [-0.5, 0.333_334_48, -0.250_000_92, 0.199_909_18, -0.166_475_06, 0.144_780_46, -0.131_589_47, 0.104_599_52, -0.045_062_803];
    let upper = t > 0.5;
    let s = if upper { (t - 1.0) * 0.5 } else { t };
    let mut q = Q[8];
    for &c in Q[..8].iter().rev() {
        q = q.mul_add(s, c);
    }
    let l = s.mul_add(q * s, s);
    l + if upper { std::f32::consts::LN_2 } else { 0.0 }
}

/// exp(x) for f32 by range reduction (x = k ln2 + r) and a degree-6 polynomial; written with
/// plain arithmetic, fused multiply-adds and bit casts so loops over it vectorize. Max error
/// 1.01 ulp over every finite f32 (`exp_f32_every_input`, an ignored test). x is clamped to
/// [-104, 100], past both ends of f32's range, and 2^k applied in two factors, so overflow to
/// infinity and underflow through the subnormals to 0 happen in the arithmetic itself; NaN
/// stays NaN through the clamp.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let (y, ki) = exp_f32_parts(x.clamp(EXP_CLAMP.0, EXP_CLAMP.1));
    let k1 = ki >> 1;
    y * pow2_f32(k1) * pow2_f32(ki.wrapping_sub(k1))
}

/// exp(x) for f32 with |x| ≤ 87 (NaN and larger magnitudes give meaningless values): the
/// kernel of [`exp_f32`] without its range handling, for callers that bound x themselves.
#[inline(always)]
pub fn exp_f32_moderate(x: f32) -> f32 {
    let (y, ki) = exp_f32_parts(x);
    y * pow2_f32(ki)
}

/// `(y, k)` with `e^x = y · 2^k`, `y` in about [0.7, 1.42], for `x` in [-104, 100].
///
/// k is x·log2(e) rounded to the nearest integer by adding 1.5·2^23 in the same fused
/// multiply-add (the sum's last mantissa bits are then k, read without a saturating `as` cast,
/// which would keep loops from vectorizing); `r = x - k ln2` in two parts (Cody and Waite);
/// `e^r = 1 + r + r²·q(r)` with q of degree 4, minimax from `scripts/fit_exp.py`. Session 28:
/// 0.84-0.89x the time of the rounding instruction and degree-7 polynomial used before, at
/// the same accuracy (1.0095 against 1.0103 ulp at worst over every f32).
#[inline(always)]
fn exp_f32_parts(x: f32) -> (f32, i32) {
    let shifted = x.mul_add(std::f32::consts::LOG2_E, EXP_SHIFTER);
    let k = shifted - EXP_SHIFTER;
    let r = k.mul_add(-EXP_LN2_LO, k.mul_add(-EXP_LN2_HI, x));
    let [c2, c3, c4, c5, c6] = EXP_Q;
    let q = c6.mul_add(r, c5).mul_add(r, c4).mul_add(r, c3).mul_add(r, c2);
    let y = q.mul_add(r * r, r) + 1.0;
    (y, shifted.to_bits().wrapping_sub(0x4B40_0000) as i32)
}

// The constants of [`exp_f32`], shared with its AVX-512 form (`super::exp`).
/// x is clamped to this range (past both ends of f32's exp).
pub(crate) const EXP_CLAMP: (f32, f32) = (-104.0, 100.0);
/// 1.5·2^23: adding it rounds to an integer, which its last mantissa bits then hold.
pub(crate) const EXP_SHIFTER: f32 = 12_582_912.0;
/// ln 2 in two parts: the first exact in 9 bits (so k·hi is exact), the second the rest.
pub(crate) const EXP_LN2_HI: f32 = 0.693_359_4;
pub(crate) const EXP_LN2_LO: f32 = -2.121_944_4e-4;
/// q's coefficients, of r^0 to r^4 (made by `scripts/fit_exp.py`).
pub(crate) const EXP_Q: [f32; 5] = [0.499_999_94, 0.166_665_21, 0.041_668_39, 0.008_368_717_5, 0.001_381_459_8];

/// 2^k for k in [-126, 127], built from exponent bits.
#[inline(always)]
fn pow2_f32(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32) << 23)
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

/// Error in ulps of the f32 `got` against the exact `want` (spacing of f32 at `want`, the
/// smallest subnormal at least): what the accuracy tests of the f32 math measure.
#[cfg(test)]
pub(crate) fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    let spacing = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
    (got as f64 - want).abs() / spacing.max(f32::from_bits(1) as f64)
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

    /// Every finite f32 against f64 exp: within 1.02 ulp, and exactly inf or 0 where the
    /// rounded result is (about 80 s in release).
    #[test]
    #[ignore = "exhaustive; run in release"]
    fn exp_f32_every_input() {
        let mut worst = 0.0f64;
        for bits in 0..=u32::MAX {
            let x = f32::from_bits(bits);
            if !x.is_finite() {
                continue;
            }
            let want = (x as f64).exp();
            let (got, rounded) = (exp_f32(x), want as f32);
            if rounded.is_infinite() || rounded == 0.0 {
                assert!(got == rounded || got.to_bits().abs_diff(rounded.to_bits()) <= 1, "exp({x}) = {got}, want {rounded}");
            } else {
                worst = worst.max(ulps(got, want));
            }
        }
        assert!(worst < 1.02, "worst error {worst} ulp");
    }

    #[test]
    fn ln_1p_unit_f32_matches_libm() {
        let mut worst = 0.0f64;
        let mut t = 0.0f32;
        while t <= 1.0 {
            worst = worst.max(ulps(ln_1p_unit_f32(t), (t as f64).ln_1p()));
            t += 0.000_131;
        }
        // Every f32 in [0, 1] was checked once (see `ln_1p_unit_f32`): 0.90 ulp at worst.
        assert!(worst < 1.0, "worst error {worst} ulp");
        for t in [0.0f32, 1e-30, f32::from_bits(1), 0.5, 1.0] {
            assert!(ulps(ln_1p_unit_f32(t), (t as f64).ln_1p()) < 1.0, "log1p({t})");
        }
        assert_eq!(ln_1p_unit_f32(0.0).to_bits(), 0);
        assert_eq!(ln_1p_unit_f32(1.0), std::f32::consts::LN_2);
    }

    /// Every f32 from 0 to 1 against libm's f64 log1p (about 15 s in release).
    #[test]
    #[ignore = "exhaustive; run in release"]
    fn ln_1p_unit_f32_every_input() {
        let worst = (0..=1.0f32.to_bits()).map(f32::from_bits).map(|t| ulps(ln_1p_unit_f32(t), (t as f64).ln_1p())).fold(0.0, f64::max);
        assert!(worst < 1.0, "worst error {worst} ulp");
    }

    #[test]
    fn logaddexp_matches_the_definition_and_mlx_edge_cases() {
        // The definition itself, ln(e^x + e^y), in f64 (finite for these pairs).
        let exact = |x: f64, y: f64| (x.exp() + y.exp()).ln();
        for &(x, y) in &[(0.0f32, 0.0f32), (1.5, -2.25), (-30.0, -29.5), (80.0, 79.0), (-100.0, 3.0), (5.0, 5.0)] {
            let want = exact(x as f64, y as f64);
            for (a, b) in [(x, y), (y, x)] {
                let got = logaddexp(a, b);
                assert!((got as f64 - want).abs() <= 2e-7 * want.abs().max(1.0), "logaddexp({a}, {b}) = {got}, want {want}");
                assert!((logaddexp(a as f64, b as f64) - want).abs() <= 1e-15 * want.abs().max(1.0));
            }
        }
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        assert_eq!(logaddexp(inf, inf), inf);
        assert_eq!(logaddexp(-inf, -inf), -inf);
        assert_eq!((logaddexp(inf, -inf), logaddexp(-inf, inf)), (inf, inf));
        assert_eq!((logaddexp(-inf, 2.0), logaddexp(2.0, -inf)), (2.0, 2.0));
        assert_eq!(logaddexp(-0.0f32, -inf).to_bits(), (-0.0f32).to_bits());
        assert_eq!(logaddexp(f32::MAX, f32::MAX), f32::MAX);
        assert_eq!((logaddexp(1e30f32, -1e30), logaddexp(-1e30f32, 1e30)), (1e30, 1e30));
        assert_eq!(logaddexp(1e300f64, -1e300), 1e300);
        assert!(logaddexp(nan, 1.0).is_nan() && logaddexp(1.0, nan).is_nan() && logaddexp(inf, nan).is_nan());
        assert!(logaddexp(f64::NAN, f64::NEG_INFINITY).is_nan());
        assert_eq!(logaddexp(f64::NEG_INFINITY, -1.0), -1.0);
    }

    #[test]
    fn erfinv_inverts_erf() {
        for i in -99..100 {
            let x = i as f64 / 100.0;
            assert!((libm::erf(erfinv_f64(x)) - x).abs() < 1e-14);
        }
    }
}
