//! erf for f32: one algorithm with a scalar form ([`erf_f32`]) and AVX2 and AVX-512 forms
//! behind [`erf_f32_slice`], all giving the same bits for every input.
//!
//! |x| is cut into eight intervals of width 1/2 on [0, 4); on interval i a degree-6 polynomial
//! in `t = |x| - (i/2 + 1/4)` gives erf, as `|x| + |x|·P_i(t)` below 1 (relative accuracy near
//! 0) and as `P_i(t)` above. The vector form picks each lane's coefficients from the table with
//! one permute per power, so it evaluates one short polynomial where a single-piece fit needs
//! two long ones (degree 6 and 15 over [0, 1) and [1, 4.1], the form used before session 27):
//! over L1-resident data, 0.65x the time of that polynomial form on Zen 3 (AVX2), and on an
//! Intel Xeon 0.61x (AVX2) and 0.79x (AVX-512, against the polynomial compiled for AVX-512).
//! More accurate too: 0.82 ulp at worst against the exact erf over every f32
//! (`erf_f32_every_input`, an ignored test), against 0.99. The polynomial is evaluated as
//! `c0 + t·q(t)` with `q` in Estrin's scheme: short dependency chains, and the final rounding
//! dominated by `c0`'s.
//!
//! The scalar form reads the table by index, which loops cannot vectorize, so kernels call
//! [`erf_f32_slice`]; it runs every element (tails included, padded to a full vector) through
//! a vector form where the CPU has one. The AVX-512 form's bits equal the AVX2 form's over every
//! non-negative f32 (a probe with the same code on the Xeon, session 27).

/// `TABLE[k][i]`: the coefficient of `t^k` on interval `i`, made by `scripts/fit_erf.py`
/// (max relative error of the fits 1.86e-8, 0.31 of 2^-24).
#[allow(clippy::excessive_precision)]
pub(crate) const TABLE: [[f32; 8]; 7] = [
    [0.10530556, -0.051792488, 0.92290014, 0.9866717, 0.9985373, 0.9998994, 0.9999957, 0.9999999],
    [-0.1811655, -0.40703514, 0.23652112, 0.052774996, 0.007142319, 0.00058627734, 2.9189106e-05, 8.815474e-07],
    [-0.33535087, -0.100217625, -0.29565427, -0.09235884, -0.016075347, -0.0016147954, -9.787822e-05, -1.7413107e-06],
    [0.104692325, 0.1693253, 0.16753106, 0.090166524, 0.021725094, 0.002759863, 0.00019551322, 7.933766e-06],
    [0.089013785, -0.024855552, -0.006044444, -0.048022225, -0.018873101, -0.0031547812, -0.0001594345, -8.043902e-05],
    [-0.034976177, -0.0372828, -0.04688792, 0.006116646, 0.0106134005, 0.0027980625, 0.00032880934, 1.9920866e-05],
    [-0.01793594, 0.01415555, 0.019789662, 0.008332445, -0.005014986, -0.0027186652, -0.0016214228, 0.0006899505],
];

/// The largest f32 below 4: |x| is capped here (erf rounds to 1 from 3.92 on), which keeps
/// the interval index in 0..8.
pub(crate) const CAP: f32 = 3.999_999_8;

/// erf for f32 (the scalar form; see the module doc). NaN gives NaN, ±inf gives ±1, and
/// -0.0 gives -0.0.
///
/// ```
/// use rmx::backend::cpu::erf::erf_f32;
/// assert!((erf_f32(0.5) - 0.520_499_9).abs() < 1e-7);
/// assert_eq!((erf_f32(f32::INFINITY), erf_f32(-10.0)), (1.0, -1.0));
/// ```
#[inline]
pub fn erf_f32(x: f32) -> f32 {
    let a = x.abs();
    // Written as the vector form's `min(CAP, a)`, which keeps a NaN `a`.
    let a = if CAP < a { CAP } else { a };
    // The vector form truncates with `cvttps2dq` and permutes by the low three bits (a NaN
    // index becomes 0x80000000, lane 0); `as` saturates NaN to 0, the same lane.
    let i = ((a * 2.0) as i32 & 7) as usize;
    let t = a - (i as f32).mul_add(0.5, 0.25);
    let c = |k: usize| TABLE[k][i];
    let (t2, t4) = (t * t, (t * t) * (t * t));
    let q = c(6).mul_add(t, c(5)).mul_add(t4, c(4).mul_add(t, c(3)).mul_add(t2, c(2).mul_add(t, c(1))));
    let p = q.mul_add(t, c(0));
    let (scale, offset) = if a < 1.0 { (a, a) } else { (1.0, 0.0) };
    let r = p.mul_add(scale, offset);
    let r = if 1.0 < r { 1.0 } else { r };
    f32::from_bits(r.to_bits() | (x.to_bits() & 0x8000_0000))
}

/// `out[i] = erf_f32(x[i])`, vectorized where the CPU has AVX-512 (unless `RMX_NO_AVX512` is
/// set, as for the fused kernels) or AVX2 and FMA.
///
/// ```
/// let x = [-1.0f32, 0.0, 0.25, 2.0, 9.0];
/// let mut out = [0.0; 5];
/// rmx::backend::cpu::erf::erf_f32_slice(&x, &mut out);
/// assert_eq!(out, x.map(rmx::backend::cpu::erf::erf_f32));
/// ```
pub fn erf_f32_slice(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "erf_f32_slice: input and output lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        if super::fused::wide_vectors() {
            // SAFETY: the CPU has the extensions.
            unsafe { avx512::erf_slice(x, out) };
            return;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the extensions.
            unsafe { avx2::erf_slice(x, out) };
            return;
        }
    }
    for (o, &v) in out.iter_mut().zip(x) {
        *o = erf_f32(v);
    }
}

/// Runs `kernel` (`W` values in, `W` out) over `x` into `out`, the tail padded into one more
/// vector, so every element takes the same vector code.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn by_vectors<const W: usize>(x: &[f32], out: &mut [f32], kernel: impl Fn(&[f32], &mut [f32])) {
    let mut xs = x.chunks_exact(W);
    let mut outs = out.chunks_exact_mut(W);
    for (x, o) in (&mut xs).zip(&mut outs) {
        kernel(x, o);
    }
    let (x, o) = (xs.remainder(), outs.into_remainder());
    if !x.is_empty() {
        let (mut lanes, mut results) = ([0.0f32; W], [0.0f32; W]);
        lanes[..x.len()].copy_from_slice(x);
        kernel(&lanes, &mut results);
        o.copy_from_slice(&results[..x.len()]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{CAP, TABLE};
    use std::arch::x86_64::*;

    /// [`super::erf_f32`] on eight lanes, operation for operation.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn erf8(x: __m256) -> __m256 {
        let sign = _mm256_set1_ps(-0.0);
        let one = _mm256_set1_ps(1.0);
        // `min(CAP, a)` returns `a` when it is NaN.
        let a = _mm256_min_ps(_mm256_set1_ps(CAP), _mm256_andnot_ps(sign, x));
        let i = _mm256_cvttps_epi32(_mm256_mul_ps(a, _mm256_set1_ps(2.0)));
        let t = _mm256_sub_ps(a, _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(0.5), _mm256_set1_ps(0.25)));
        // SAFETY: each row of the table holds eight f32.
        let c = |k: usize| _mm256_permutevar8x32_ps(unsafe { _mm256_loadu_ps(TABLE[k].as_ptr()) }, i);
        let t2 = _mm256_mul_ps(t, t);
        let t4 = _mm256_mul_ps(t2, t2);
        let low = _mm256_fmadd_ps(_mm256_fmadd_ps(c(4), t, c(3)), t2, _mm256_fmadd_ps(c(2), t, c(1)));
        let q = _mm256_fmadd_ps(_mm256_fmadd_ps(c(6), t, c(5)), t4, low);
        let p = _mm256_fmadd_ps(q, t, c(0));
        let small = _mm256_cmp_ps::<_CMP_LT_OQ>(a, one);
        let r = _mm256_fmadd_ps(p, _mm256_blendv_ps(one, a, small), _mm256_and_ps(small, a));
        // `min(1, r)` returns `r` when it is NaN.
        _mm256_or_ps(_mm256_min_ps(one, r), _mm256_and_ps(sign, x))
    }

    /// [`super::erf_f32_slice`] for CPUs with AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn erf_slice(x: &[f32], out: &mut [f32]) {
        // SAFETY: `by_vectors` hands the kernel eight f32 in and eight out.
        super::by_vectors::<8>(x, out, |x, o| unsafe { _mm256_storeu_ps(o.as_mut_ptr(), erf8(_mm256_loadu_ps(x.as_ptr()))) });
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{CAP, TABLE};
    use std::arch::x86_64::*;

    /// [`super::erf_f32`] on sixteen lanes, operation for operation (each row of the table is
    /// repeated in both halves of a register, and indices stay below 8).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn erf16(x: __m512) -> __m512 {
        let sign = _mm512_set1_ps(-0.0);
        let one = _mm512_set1_ps(1.0);
        // `min(CAP, a)` returns `a` when it is NaN.
        let a = _mm512_min_ps(_mm512_set1_ps(CAP), _mm512_andnot_ps(sign, x));
        let i = _mm512_cvttps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(2.0)));
        let t = _mm512_sub_ps(a, _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(0.5), _mm512_set1_ps(0.25)));
        // SAFETY: each row of the table holds eight f32.
        let c = |k: usize| _mm512_permutexvar_ps(i, _mm512_broadcast_f32x8(unsafe { _mm256_loadu_ps(TABLE[k].as_ptr()) }));
        let t2 = _mm512_mul_ps(t, t);
        let t4 = _mm512_mul_ps(t2, t2);
        let low = _mm512_fmadd_ps(_mm512_fmadd_ps(c(4), t, c(3)), t2, _mm512_fmadd_ps(c(2), t, c(1)));
        let q = _mm512_fmadd_ps(_mm512_fmadd_ps(c(6), t, c(5)), t4, low);
        let p = _mm512_fmadd_ps(q, t, c(0));
        let small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, one);
        let r = _mm512_fmadd_ps(p, _mm512_mask_blend_ps(small, one, a), _mm512_maskz_mov_ps(small, a));
        // `min(1, r)` returns `r` when it is NaN.
        _mm512_or_ps(_mm512_min_ps(one, r), _mm512_and_ps(sign, x))
    }

    /// [`super::erf_f32_slice`] for CPUs with AVX-512.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn erf_slice(x: &[f32], out: &mut [f32]) {
        // SAFETY: `by_vectors` hands the kernel sixteen f32 in and sixteen out.
        super::by_vectors::<16>(x, out, |x, o| unsafe { _mm512_storeu_ps(o.as_mut_ptr(), erf16(_mm512_loadu_ps(x.as_ptr()))) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::math::ulps;

    /// erf of `x` by the slice kernel (the vector form on AVX2 machines).
    fn erf_of_slice(x: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        erf_f32_slice(x, &mut out);
        out
    }

    #[test]
    fn matches_libm_on_a_grid() {
        let x: Vec<f32> = (0..32_000).map(|i| -6.0 + i as f32 * 0.000_375).collect();
        let worst = x.iter().zip(erf_of_slice(&x)).map(|(&x, got)| ulps(got, libm::erf(x as f64))).fold(0.0, f64::max);
        // Every f32 input was checked once (`erf_f32_every_input`): 0.82 ulp at worst.
        assert!(worst < 1.0, "worst error {worst} ulp");
    }

    #[test]
    fn special_values_in_both_forms() {
        let x = [f32::NAN, 4.1, 1e30, -1e30, -0.0, 0.0, f32::INFINITY, f32::NEG_INFINITY, -3.95];
        let want = [f32::NAN, 1.0, 1.0, -1.0, -0.0, 0.0, 1.0, -1.0, -1.0];
        for got in [erf_of_slice(&x), x.map(erf_f32).to_vec()] {
            for ((&x, &got), &want) in x.iter().zip(&got).zip(&want) {
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "erf({x}) = {got}, want {want}");
            }
        }
        // A subnormal input: 2/sqrt(pi)·x, within an ulp.
        let tiny = 1e-40f32;
        assert!(ulps(erf_f32(tiny), libm::erf(tiny as f64)) < 1.0);
    }

    /// The slice kernel gives the scalar form's bits, whatever the length (tails included).
    #[test]
    fn slice_and_scalar_agree_to_the_bit() {
        for n in [0, 1, 7, 8, 9, 100] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 4.5).collect();
            let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            assert_eq!(bits(erf_of_slice(&x)), bits(x.iter().map(|&v| erf_f32(v)).collect()), "length {n}");
        }
    }

    /// Every non-negative f32 through the slice kernel against libm's f64 erf, the scalar form
    /// to the bit, and odd symmetry (about 60 s in release:
    /// `cargo test --release -p rmx --lib -- --ignored every_input`).
    #[test]
    #[ignore = "exhaustive; run in release"]
    fn erf_f32_every_input() {
        let mut worst = 0.0f64;
        let mut x = vec![0.0f32; 1 << 16];
        for block in 0..(1u32 << 15) {
            for (k, v) in x.iter_mut().enumerate() {
                *v = f32::from_bits(block << 16 | k as u32);
            }
            for (&x, got) in x.iter().zip(erf_of_slice(&x)) {
                let scalar = erf_f32(x);
                if x.is_nan() {
                    assert!(got.is_nan() && scalar.is_nan());
                    continue;
                }
                assert_eq!(got.to_bits(), scalar.to_bits(), "erf({x}): slice and scalar forms");
                assert_eq!(erf_f32(-x).to_bits(), (-got).to_bits(), "erf(-{x})");
                worst = worst.max(ulps(got, libm::erf(x as f64)));
            }
        }
        assert!(worst < 0.83, "worst error {worst} ulp");
    }
}
