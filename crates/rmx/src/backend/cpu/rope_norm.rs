//! Rotary position embedding and RMS normalization in one pass each: read any float dtype
//! through its strides (a transposed `[B, T, H, D]` projection needs no copy), compute in
//! float32, write row-major. The rotation angles of the `T` positions are computed once per
//! call and shared by every row.

use super::strided::{SendConstPtr, SendPtr, PARALLEL_THRESHOLD};
use crate::element::Element;
use crate::storage::Storage;
use rayon::prelude::*;

/// `cos` and `sin` of the angles `(position · inv_freq[i]) · scale` for positions
/// `offset..offset + t`, as `[t, inv_freq.len()]` tables (float32 throughout, like the
/// composed op).
pub fn angle_tables(inv_freq: &[f32], offset: usize, t: usize, scale: f32) -> (Vec<f32>, Vec<f32>) {
    let angles: Vec<f32> = (0..t).flat_map(|p| inv_freq.iter().map(move |&f| ((offset + p) as f32 * f) * scale)).collect();
    (angles.iter().map(|a| a.cos()).collect(), angles.iter().map(|a| a.sin()).collect())
}

/// Element offsets of the start of each row (all axes but the last) of a strided view.
fn row_starts(shape: &[usize], strides: &[isize]) -> Vec<isize> {
    let outer = &shape[..shape.len() - 1];
    let mut starts = vec![0isize];
    for (&size, &stride) in outer.iter().zip(strides) {
        starts = starts.iter().flat_map(|&s| (0..size).map(move |i| s + i as isize * stride)).collect();
    }
    starts
}

/// Runs `body(row, input_start, output_row)` over the rows of `x` (shape `shape`), in
/// parallel when large.
fn for_rows<T: Element>(x: &Storage, shape: &[usize], out: &Storage, body: impl Fn(usize, *const T, isize, &mut [T]) + Sync) {
    let d = *shape.last().expect("at least one axis");
    let starts = row_starts(shape, &x.strides);
    let (px, po) = (SendConstPtr(x.ptr::<T>()), SendPtr(out.ptr::<T>() as *mut T));
    let run = |row: usize| {
        let (px, po) = (px, po);
        // SAFETY: each row writes its own `d` elements of the fresh row-major output.
        let dst = unsafe { std::slice::from_raw_parts_mut(po.0.add(row * d), d) };
        body(row, px.0, starts[row], dst);
    };
    if starts.len() * d >= PARALLEL_THRESHOLD {
        (0..starts.len()).into_par_iter().with_min_len((PARALLEL_THRESHOLD / d.max(1)).max(1)).for_each(run);
    } else {
        (0..starts.len()).for_each(run);
    }
}

/// Rotates the first `dims` features of each row of `x` (`[..., T, D]`) by the angles of
/// its position (row index modulo `T`): pairs `(i, i + dims/2)`, or `(2i, 2i + 1)` when
/// `traditional`. Features past `dims` are copied. `cos`/`sin` are [`angle_tables`].
#[allow(clippy::too_many_arguments)]
pub fn rope<T: Element>(x: &Storage, shape: &[usize], out: &Storage, dims: usize, traditional: bool, cos: &[f32], sin: &[f32]) {
    let t = shape[shape.len() - 2];
    let half = dims / 2;
    let stride = *x.strides.last().expect("at least one axis");
    for_rows::<T>(x, shape, out, |row, px, start, dst| {
        let read = |c: usize| -> f32 {
            // SAFETY: `c` indexes the row's last axis, through its stride.
            unsafe { *px.offset(start + c as isize * stride) }.to_f32()
        };
        let p = row % t;
        let (cs, sn) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
        for i in 0..half {
            let (a, b) = if traditional { (2 * i, 2 * i + 1) } else { (i, i + half) };
            let (x1, x2) = (read(a), read(b));
            dst[a] = T::from_f32(x1 * cs[i] - x2 * sn[i]);
            dst[b] = T::from_f32(x1 * sn[i] + x2 * cs[i]);
        }
        for (c, o) in dst.iter_mut().enumerate().skip(dims) {
            *o = T::from_f32(read(c));
        }
    });
}

/// `round(x / sqrt(mean(x²) + eps)) · weight` per row of `x`, the normalized value rounded to
/// `T` before the weight multiplies it (as the composed op does in `T`).
pub fn rms_norm<T: Element>(x: &Storage, shape: &[usize], weight: Option<&[T]>, out: &Storage, eps: f32) {
    let d = *shape.last().expect("at least one axis");
    let stride = *x.strides.last().expect("at least one axis");
    for_rows::<T>(x, shape, out, |_, px, start, dst| {
        // SAFETY: `c` indexes the row's last axis, through its stride.
        let read = |c: usize| -> f32 { unsafe { *px.offset(start + c as isize * stride) }.to_f32() };
        let mut lanes = [0f32; 8];
        for c in 0..d {
            let v = read(c);
            lanes[c % 8] = v.mul_add(v, lanes[c % 8]);
        }
        let inv = 1.0 / (lanes.iter().sum::<f32>() / d as f32 + eps).sqrt();
        for (c, o) in dst.iter_mut().enumerate() {
            let y = T::from_f32(read(c) * inv);
            *o = match weight {
                Some(w) => T::from_f32(y.to_f32() * w[c].to_f32()),
                None => y,
            };
        }
    });
}
