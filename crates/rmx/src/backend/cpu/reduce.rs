//! Reductions over any set of axes of a strided array.
//!
//! The input's axes are split into kept and reduced groups and each group is collapsed.
//! Three loop shapes cover the cases that matter:
//! - the reduced elements of each output are one contiguous run: a pairwise sum over SIMD
//!   lanes (NumPy's accuracy), parallel over outputs or, for few outputs, over chunks;
//! - the innermost kept axis is contiguous: whole rows are accumulated into a row of
//!   accumulators (reductions over leading axes), parallel over column blocks;
//! - anything else: a strided loop per output element.

use super::elementwise::LANES;
use super::parallel::parallel_for;
use super::strided::{collapse, SendConstPtr, SendPtr, PARALLEL_THRESHOLD};
use crate::element::Element;
use crate::storage::Storage;
use rayon::prelude::*;

/// A reduction: how to start, add an element, merge partial results and finish.
pub trait Reducer: Sync {
    type In: Element;
    type Acc: Copy + Send + Sync;
    type Out: Element;
    fn init(&self) -> Self::Acc;
    fn step(&self, acc: Self::Acc, x: Self::In) -> Self::Acc;
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn finish(&self, acc: Self::Acc) -> Self::Out;
    /// True when elements must be seen in order (arg reductions): no SIMD lanes.
    fn ordered(&self) -> bool {
        false
    }
    /// The reduction of a whole contiguous run by a dedicated kernel, if the reducer has one.
    fn contiguous(&self, xs: &[Self::In]) -> Option<Self::Acc> {
        let _ = xs;
        None
    }
    /// Folds the rows `srcs` into `acc` in order by a dedicated kernel; false if the reducer
    /// has none (the generic lanes then do it).
    fn fold_rows(&self, acc: &mut [Self::Acc], srcs: &[&[Self::In]]) -> bool {
        let _ = (acc, srcs);
        false
    }
}

/// Folds the rows `srcs` into the running maxima (`max`) or minima `acc` with AVX, 8 columns
/// at a time: an element replaces the accumulator when it is larger (smaller) or NaN, as the
/// generic reducer's step does; those lanes compiled to scalar compares here (measured: the
/// maximum over the leading axis of a 4096x4096 took 3.5x the sum's time). False off x86-64
/// with AVX.
pub fn extreme_rows_f32(acc: &mut [f32], srcs: &[&[f32]], max: bool) -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    {
        use std::arch::x86_64::*;
        let width = acc.len();
        assert!(srcs.iter().all(|s| s.len() >= width), "extreme_rows_f32: short row");
        let blocks = width / 8 * 8;
        // SAFETY: AVX is enabled at compile time; every load and store covers 8 floats below
        // `blocks`, inside the accumulators and each row (checked above).
        unsafe {
            for start in (0..blocks).step_by(8) {
                let mut a = _mm256_loadu_ps(acc.as_ptr().add(start));
                for src in srcs {
                    let x = _mm256_loadu_ps(src.as_ptr().add(start));
                    let better = if max { _mm256_cmp_ps::<_CMP_GT_OQ>(x, a) } else { _mm256_cmp_ps::<_CMP_LT_OQ>(x, a) };
                    a = _mm256_blendv_ps(a, x, _mm256_or_ps(better, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x)));
                }
                _mm256_storeu_ps(acc.as_mut_ptr().add(start), a);
            }
        }
        for i in blocks..width {
            for src in srcs {
                let x = src[i];
                if (if max { x > acc[i] } else { x < acc[i] }) || x.is_nan() {
                    acc[i] = x;
                }
            }
        }
        true
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
    {
        let _ = (acc, srcs, max);
        false
    }
}

/// Adds the rows `srcs` into the running sums `acc` with AVX, 32 columns at a time, in row
/// order (`acc + srcs[0] + srcs[1] + ...`, the generic reducer's order, so the sums are the
/// same to the bit); the generic lanes compiled to scalar adds here (measured: the sum over the
/// leading axis of a 4096x4096 took 1.4x the maximum's time). False off x86-64 with AVX.
pub fn sum_rows_f32(acc: &mut [f32], srcs: &[&[f32]]) -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    {
        use std::arch::x86_64::*;
        let width = acc.len();
        assert!(srcs.iter().all(|s| s.len() >= width), "sum_rows_f32: short row");
        let blocks = width / 32 * 32;
        // SAFETY: AVX is enabled at compile time; every load and store covers 8 floats below
        // `blocks`, inside the accumulators and each row (checked above).
        unsafe {
            for start in (0..blocks).step_by(32) {
                let at = |p: *const f32, i: usize| _mm256_loadu_ps(p.add(start + 8 * i));
                let mut a = [0, 1, 2, 3].map(|i| at(acc.as_ptr(), i));
                for src in srcs {
                    for (i, lane) in a.iter_mut().enumerate() {
                        *lane = _mm256_add_ps(*lane, at(src.as_ptr(), i));
                    }
                }
                for (i, lane) in a.into_iter().enumerate() {
                    _mm256_storeu_ps(acc.as_mut_ptr().add(start + 8 * i), lane);
                }
            }
        }
        for i in blocks..width {
            for src in srcs {
                acc[i] += src[i];
            }
        }
        true
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
    {
        let _ = (acc, srcs);
        false
    }
}

/// The maximum (`max`) or minimum of `xs` with AVX: two 8-wide accumulators and a NaN mask
/// (NaN if any element is NaN, as the generic reducer). The generic lanes compile to 2-wide
/// blends for these (measured 0.33x NumPy); `None` off x86-64 with AVX.
pub fn extreme_f32(xs: &[f32], max: bool) -> Option<f32> {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    {
        use std::arch::x86_64::*;
        let init = if max { f32::NEG_INFINITY } else { f32::INFINITY };
        let pick = |a: f32, b: f32| if max { a.max(b) } else { a.min(b) };
        let mut chunks = xs.chunks_exact(16);
        // SAFETY: AVX is enabled at compile time; every load reads 8 floats inside a chunk.
        let (lanes, any_nan) = unsafe {
            // (max_ps(v, acc) keeps acc on ties such as ±0, as the generic reducer keeps the earlier value.)
            let (mut a0, mut a1, mut nan) = (_mm256_set1_ps(init), _mm256_set1_ps(init), _mm256_setzero_ps());
            for c in &mut chunks {
                let (v0, v1) = (_mm256_loadu_ps(c.as_ptr()), _mm256_loadu_ps(c.as_ptr().add(8)));
                nan = _mm256_or_ps(nan, _mm256_or_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(v0, v0), _mm256_cmp_ps::<_CMP_UNORD_Q>(v1, v1)));
                if max {
                    (a0, a1) = (_mm256_max_ps(v0, a0), _mm256_max_ps(v1, a1));
                } else {
                    (a0, a1) = (_mm256_min_ps(v0, a0), _mm256_min_ps(v1, a1));
                }
            }
            let mut lanes = [0f32; 16];
            _mm256_storeu_ps(lanes.as_mut_ptr(), a0);
            _mm256_storeu_ps(lanes.as_mut_ptr().add(8), a1);
            (lanes, _mm256_movemask_ps(nan) != 0)
        };
        let rest = chunks.remainder();
        if any_nan || rest.iter().any(|v| v.is_nan()) {
            return Some(f32::NAN);
        }
        Some(lanes.iter().chain(rest).fold(init, |a, &b| pick(a, b)))
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
    {
        let _ = (xs, max);
        None
    }
}

const PAIRWISE_BLOCK: usize = 2048;

/// Rows folded into the accumulators per sweep when reducing over leading axes.
const ROWS_PER_SWEEP: usize = 4;

/// Pairwise reduction of a contiguous run.
pub(crate) fn reduce_contig<R: Reducer>(r: &R, x: &[R::In]) -> R::Acc {
    if let Some(acc) = r.contiguous(x) {
        return acc;
    }
    if x.len() > PAIRWISE_BLOCK {
        let mid = (x.len() / 2).div_ceil(LANES) * LANES;
        let (a, b) = x.split_at(mid);
        return r.merge(reduce_contig(r, a), reduce_contig(r, b));
    }
    if r.ordered() {
        return x.iter().fold(r.init(), |acc, &v| r.step(acc, v));
    }
    let mut lanes = [r.init(); LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for j in 0..LANES {
            lanes[j] = r.step(lanes[j], chunk[j]);
        }
    }
    let mut acc = r.init();
    for &v in rest {
        acc = r.step(acc, v);
    }
    // Merge lanes as a tree to keep the pairwise error bound.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            lanes[j] = r.merge(lanes[j], lanes[j + width]);
        }
    }
    r.merge(lanes[0], acc)
}

/// Folds the rows `srcs` into `acc` in order (`acc[i] = step(...step(acc[i], srcs[0][i])...,
/// srcs[K-1][i])`), in fixed-size blocks the compiler vectorizes. Several rows per sweep
/// load and store the accumulators once for all of them.
#[inline(always)]
fn accumulate_rows<R: Reducer, const K: usize>(r: &R, acc: &mut [R::Acc], srcs: [&[R::In]; K]) {
    if r.fold_rows(acc, &srcs) {
        return;
    }
    let width = acc.len();
    let blocks = width / LANES * LANES;
    for start in (0..blocks).step_by(LANES) {
        let a: &mut [R::Acc; LANES] = (&mut acc[start..start + LANES]).try_into().expect("block");
        for src in srcs {
            let s: &[R::In; LANES] = src[start..start + LANES].try_into().expect("block");
            for j in 0..LANES {
                a[j] = r.step(a[j], s[j]);
            }
        }
    }
    for i in blocks..width {
        for src in srcs {
            acc[i] = r.step(acc[i], src[i]);
        }
    }
}

/// Reduces `x` (viewed as `shape` with `strides`) over `axes` into the row-major `out`,
/// whose shape is `shape` without the reduced axes.
pub fn reduce<R: Reducer>(r: &R, x: &Storage, shape: &[usize], strides: &[isize], axes: &[usize], out: *mut R::Out) {
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let kshape: Vec<usize> = kept.iter().map(|&d| shape[d]).collect();
    let kstr: Vec<isize> = kept.iter().map(|&d| strides[d]).collect();
    let rshape: Vec<usize> = axes.iter().map(|&d| shape[d]).collect();
    let rstr: Vec<isize> = axes.iter().map(|&d| strides[d]).collect();
    let out_strides = crate::shape::row_major_strides(&kshape);
    let (kshape, [kstr, ostr]) = collapse(&kshape, [&kstr, &out_strides]);
    let (rshape, [rstr]) = collapse(&rshape, [&rstr]);
    let n_out: usize = kshape.iter().product();
    let n_red: usize = rshape.iter().product();
    let px = SendConstPtr(x.ptr::<R::In>());
    let po = SendPtr(out);
    if n_out == 0 {
        return;
    }
    if n_red == 0 {
        for i in 0..n_out {
            // SAFETY: the output has n_out slots.
            unsafe { *po.0.add(i) = r.finish(r.init()) };
        }
        return;
    }
    let kept_offset = |i: usize| -> (isize, isize) {
        let (mut rem, mut xo, mut oo) = (i, 0isize, 0isize);
        for d in (0..kshape.len()).rev() {
            let c = rem % kshape[d];
            rem /= kshape[d];
            xo += c as isize * kstr[d];
            oo += c as isize * ostr[d];
        }
        (xo, oo)
    };
    if rshape.len() == 1 && rstr[0] == 1 {
        // Contiguous runs.
        let len = rshape[0];
        let run = |i: usize| {
            let (xo, oo) = kept_offset(i);
            let (px, po) = (px, po);
            // SAFETY: the run lies inside the input view; the output slot exists.
            unsafe {
                let s = std::slice::from_raw_parts(px.0.offset(xo), len);
                *po.0.offset(oo) = r.finish(reduce_contig(r, s));
            }
        };
        if n_out * len >= PARALLEL_THRESHOLD && n_out >= rayon::current_num_threads() {
            parallel_for(n_out, (PARALLEL_THRESHOLD / len).max(1), run);
        } else if n_out * len >= PARALLEL_THRESHOLD {
            for i in 0..n_out {
                let (xo, oo) = kept_offset(i);
                // SAFETY: as above.
                let s = unsafe { std::slice::from_raw_parts(px.0.offset(xo), len) };
                let acc = s.par_chunks(PARALLEL_THRESHOLD).map(|c| reduce_contig(r, c)).reduce(|| r.init(), |a, b| r.merge(a, b));
                unsafe { *po.0.offset(oo) = r.finish(acc) };
            }
        } else {
            (0..n_out).for_each(run);
        }
        return;
    }
    let nk = kshape.len();
    if nk > 0 && kstr[nk - 1] == 1 && ostr[nk - 1] == 1 {
        // Accumulate rows: the innermost kept axis is contiguous in input and output. Work is
        // split over output rows when there are many, else over bands of reduced rows (each
        // band a sequential scan) whose partial accumulators are merged in order.
        let width = kshape[nk - 1];
        let rows = n_out / width;
        let big = n_out * n_red >= PARALLEL_THRESHOLD;
        let threads = rayon::current_num_threads();
        let bands = if big && rows < threads { threads.min(n_red) } else { 1 };
        let reduced_offset = |j: usize| -> isize {
            let (mut rem, mut ro) = (j, 0isize);
            for d in (0..rshape.len()).rev() {
                ro += (rem % rshape[d]) as isize * rstr[d];
                rem /= rshape[d];
            }
            ro
        };
        let band = |row: usize, b: usize| -> Vec<R::Acc> {
            let (xo, _) = kept_offset(row * width);
            let mut acc = vec![r.init(); width];
            let (lo, hi) = (b * n_red / bands, (b + 1) * n_red / bands);
            // SAFETY: reduced rows lie inside the input view.
            let src = |j: usize| unsafe { std::slice::from_raw_parts(px.get().offset(xo + reduced_offset(j)), width) };
            let mut j = lo;
            while j + ROWS_PER_SWEEP <= hi {
                accumulate_rows(r, &mut acc, std::array::from_fn::<_, ROWS_PER_SWEEP, _>(|k| src(j + k)));
                j += ROWS_PER_SWEEP;
            }
            for j in j..hi {
                accumulate_rows(r, &mut acc, [src(j)]);
            }
            acc
        };
        let finish_row = |row: usize, acc: Vec<R::Acc>| {
            let (_, oo) = kept_offset(row * width);
            for (k, a) in acc.into_iter().enumerate() {
                // SAFETY: output slots of this row belong to this call only.
                unsafe { *po.get().offset(oo + k as isize) = r.finish(a) };
            }
        };
        if bands > 1 {
            for row in 0..rows {
                let partials: Vec<Vec<R::Acc>> = (0..bands).into_par_iter().map(|b| band(row, b)).collect();
                let mut iter = partials.into_iter();
                let mut total = iter.next().expect("at least one band");
                for p in iter {
                    for (t, v) in total.iter_mut().zip(p) {
                        *t = r.merge(*t, v);
                    }
                }
                finish_row(row, total);
            }
        } else if big {
            parallel_for(rows, 1, |row| finish_row(row, band(row, 0)));
        } else {
            (0..rows).for_each(|row| finish_row(row, band(row, 0)));
        }
        return;
    }
    // General strided loop per output element.
    let run = |i: usize| {
        let (xo, oo) = kept_offset(i);
        let mut acc = r.init();
        let (px, po) = (px, po);
        for j in 0..n_red {
            let (mut rem, mut ro) = (j, 0isize);
            for d in (0..rshape.len()).rev() {
                ro += (rem % rshape[d]) as isize * rstr[d];
                rem /= rshape[d];
            }
            // SAFETY: inside the input view.
            acc = r.step(acc, unsafe { *px.0.offset(xo + ro) });
        }
        // SAFETY: the output slot exists.
        unsafe { *po.0.offset(oo) = r.finish(acc) };
    };
    if n_out * n_red >= PARALLEL_THRESHOLD {
        parallel_for(n_out, 1, run);
    } else {
        (0..n_out).for_each(run);
    }
}

#[cfg(test)]
mod tests {
    use super::{extreme_f32, extreme_rows_f32, sum_rows_f32};

    /// The SIMD maximum/minimum against a scalar fold: lengths around the 16-wide blocks, a
    /// NaN in a block or in the tail, infinities.
    #[test]
    fn simd_extremes_match_a_scalar_fold() {
        let scalar = |xs: &[f32], max: bool| {
            if xs.iter().any(|v| v.is_nan()) {
                return f32::NAN;
            }
            xs.iter().fold(if max { f32::NEG_INFINITY } else { f32::INFINITY }, |a, &b| if max { a.max(b) } else { a.min(b) })
        };
        for n in [0usize, 1, 15, 16, 17, 33, 100] {
            let mut xs: Vec<f32> = (0..n).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
            let cases = [None, Some(0usize), Some(n.saturating_sub(1)), Some(n / 2)];
            for nan_at in cases {
                let mut v = xs.clone();
                if let Some(i) = nan_at.filter(|&i| i < n) {
                    v[i] = f32::NAN;
                }
                for max in [true, false] {
                    let (Some(got), want) = (extreme_f32(&v, max), scalar(&v, max)) else { return };
                    assert!(got == want || (got.is_nan() && want.is_nan()), "n {n} nan {nan_at:?} max {max}: {got} vs {want}");
                }
            }
            if n > 2 {
                xs[1] = f32::INFINITY;
                xs[2] = f32::NEG_INFINITY;
                assert_eq!(extreme_f32(&xs, true), Some(f32::INFINITY));
                assert_eq!(extreme_f32(&xs, false), Some(f32::NEG_INFINITY));
            }
        }
    }

    /// The SIMD row fold against the scalar step: widths around the 8-wide blocks, NaNs that
    /// arrive in a later row than a larger value, NaN already in the accumulators.
    #[test]
    fn simd_row_extremes_match_the_scalar_step() {
        for width in [1usize, 7, 8, 9, 24, 30] {
            let rows: Vec<Vec<f32>> = (0..3)
                .map(|r| {
                    (0..width).map(|i| if (i + r) % 5 == 3 && r > 0 { f32::NAN } else { ((i * 31 + r * 17) % 23) as f32 - 11.0 }).collect()
                })
                .collect();
            for max in [true, false] {
                let mut want: Vec<f32> = (0..width).map(|i| if i % 4 == 1 { f32::NAN } else { 0.0 }).collect();
                let mut got = want.clone();
                for row in &rows {
                    for (a, &x) in want.iter_mut().zip(row) {
                        if (if max { x > *a } else { x < *a }) || x.is_nan() {
                            *a = x;
                        }
                    }
                }
                let srcs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
                let ran = extreme_rows_f32(&mut got, &srcs, max);
                assert_eq!(ran, cfg!(all(target_arch = "x86_64", target_feature = "avx")), "the AVX row fold runs on AVX builds");
                if !ran {
                    return;
                }
                let same = got.iter().zip(&want).all(|(g, w)| g == w || (g.is_nan() && w.is_nan()));
                assert!(same, "width {width} max {max}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn simd_row_sums_match_the_scalar_step_to_the_bit() {
        // Widths around the 32-column blocks; values of mixed magnitude so that the order of
        // the additions shows in the bits; a NaN and infinities.
        for width in [1usize, 31, 32, 33, 70, 96] {
            let rows: Vec<Vec<f32>> = (0..5)
                .map(|r| (0..width).map(|i| ((i * 37 + r * 11) % 29) as f32 * 10f32.powi((i % 7) as i32 - 3) - 3.3).collect())
                .collect();
            let mut want: Vec<f32> = (0..width).map(|i| [0.1, -0.0, f32::INFINITY, f32::NAN, 1e7][i % 5]).collect();
            let mut got = want.clone();
            for row in &rows {
                for (a, &x) in want.iter_mut().zip(row) {
                    *a += x;
                }
            }
            let srcs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
            let ran = sum_rows_f32(&mut got, &srcs);
            assert_eq!(ran, cfg!(all(target_arch = "x86_64", target_feature = "avx")), "the AVX row sum runs on AVX builds");
            if ran {
                let same = got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()));
                assert!(same, "width {width}: {got:?} vs {want:?}");
            }
        }
    }
}
