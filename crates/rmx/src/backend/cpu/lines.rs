//! Iteration over the 1-d lines of an array along one axis: the loop structure of scans and
//! sorts. A line is described by the element offset of its start and the axis stride.

use super::strided::PARALLEL_THRESHOLD;
use rayon::prelude::*;

/// Calls `body(line_index, offset_of_line_start)` for each line of `shape` along `axis`, with
/// input strides `strides`; lines are numbered in row-major order of the other axes.
pub fn for_each_line(shape: &[usize], strides: &[isize], axis: usize, body: impl Fn(usize, isize) + Sync) {
    let others: Vec<usize> = (0..shape.len()).filter(|&d| d != axis).collect();
    let count: usize = others.iter().map(|&d| shape[d]).product();
    if shape.iter().product::<usize>() == 0 {
        return;
    }
    let offset = |mut i: usize| -> isize {
        let mut off = 0isize;
        for &d in others.iter().rev() {
            off += (i % shape[d]) as isize * strides[d];
            i /= shape[d];
        }
        off
    };
    let total = count * shape[axis];
    if total >= PARALLEL_THRESHOLD && count > 1 {
        (0..count).into_par_iter().for_each(|i| body(i, offset(i)));
    } else {
        (0..count).for_each(|i| body(i, offset(i)));
    }
}

/// Element offset of the start of line `line` (numbered as in [`for_each_line`]) in an array
/// of `shape` with `strides`.
pub fn line_offset(shape: &[usize], strides: &[isize], axis: usize, mut line: usize) -> isize {
    let mut off = 0isize;
    for d in (0..shape.len()).rev() {
        if d != axis {
            off += (line % shape[d]) as isize * strides[d];
            line /= shape[d];
        }
    }
    off
}
