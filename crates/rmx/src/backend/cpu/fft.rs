//! Discrete Fourier transforms along one axis, line by line, through `rustfft` (mixed radix
//! and Bluestein plans, so every length works in O(n log n)). Lines run in parallel for large
//! inputs; each output is multiplied by the caller's normalisation `scale`.

use super::lines::{for_each_line, line_offset};
use super::strided::{SendConstPtr, SendPtr};
use crate::shape::row_major_strides;
use crate::storage::Storage;
use num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Which transform a line gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FftKind {
    /// complex64 -> complex64, forward or inverse.
    Complex { inverse: bool },
    /// float32 of length n -> complex64 of length n/2 + 1.
    RealForward,
    /// complex64 of length n/2 + 1 -> float32 of length n (the Hermitian half is implied).
    RealInverse,
}

fn plan(n: usize, inverse: bool) -> Arc<dyn Fft<f32>> {
    let mut planner = FftPlanner::<f32>::new();
    if inverse {
        planner.plan_fft_inverse(n)
    } else {
        planner.plan_fft_forward(n)
    }
}

/// Transforms every line of `x` (shape `in_shape`) along `axis` into the fresh row-major
/// output `out` (shape `out_shape`; equal to `in_shape` except along `axis`). `n` is the
/// transform length: the line length, except for `RealInverse` where it is the output length.
/// Outputs are multiplied by `scale`.
pub fn fft_lines(kind: FftKind, x: &Storage, in_shape: &[usize], axis: usize, out: &Storage, out_shape: &[usize], n: usize, scale: f32) {
    if n == 0 {
        return;
    }
    let fft = plan(n, matches!(kind, FftKind::Complex { inverse: true } | FftKind::RealInverse));
    let (in_len, out_len) = (in_shape[axis], out_shape[axis]);
    let in_stride = x.strides[axis];
    let ostrides = row_major_strides(out_shape);
    let ostride = ostrides[axis];
    let (pc, pr) = (SendConstPtr(x.ptr::<Complex<f32>>()), SendConstPtr(x.ptr::<f32>()));
    let (oc, or) = (SendPtr(out.ptr::<Complex<f32>>() as *mut Complex<f32>), SendPtr(out.ptr::<f32>() as *mut f32));
    for_each_line(in_shape, &x.strides, axis, |line, xo| {
        let (pc, pr, oc, or) = (pc, pr, oc, or);
        let mut buf = vec![Complex::new(0.0f32, 0.0); n];
        // SAFETY (reads): every offset lies on this line of the input view.
        match kind {
            FftKind::Complex { .. } => {
                for (i, b) in buf.iter_mut().enumerate().take(in_len) {
                    *b = unsafe { *pc.get().offset(xo + i as isize * in_stride) };
                }
            }
            FftKind::RealForward => {
                for (i, b) in buf.iter_mut().enumerate().take(in_len) {
                    *b = Complex::new(unsafe { *pr.get().offset(xo + i as isize * in_stride) }, 0.0);
                }
            }
            FftKind::RealInverse => {
                for k in 0..in_len.min(n / 2 + 1) {
                    let v = unsafe { *pc.get().offset(xo + k as isize * in_stride) };
                    buf[k] = v;
                    if k > 0 && k < n - k {
                        buf[n - k] = v.conj();
                    }
                }
            }
        }
        fft.process(&mut buf);
        let oo = line_offset(out_shape, &ostrides, axis, line);
        // SAFETY (writes): every offset lies on this line of the fresh output, and lines
        // are disjoint across threads.
        match kind {
            FftKind::RealInverse => {
                for (j, b) in buf.iter().enumerate().take(out_len) {
                    unsafe { *or.get().offset(oo + j as isize * ostride) = b.re * scale };
                }
            }
            _ => {
                for (j, b) in buf.iter().enumerate().take(out_len) {
                    unsafe { *oc.get().offset(oo + j as isize * ostride) = b * scale };
                }
            }
        }
    });
}
