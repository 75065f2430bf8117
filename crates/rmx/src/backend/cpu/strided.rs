//! Strided iteration: the loop structure shared by element-wise kernels and copies.
//!
//! Operands are described by strides over a common output shape. [`collapse`] merges
//! dimensions that are contiguous in every operand, so most calls reduce to one flat loop;
//! the rest become a loop over rows whose innermost dimension is a tight loop with a
//! constant stride. Rows are spread over threads when the work is large enough to pay.

use super::parallel::parallel_for;

/// Element count from which kernels split their work over threads.
pub const PARALLEL_THRESHOLD: usize = 1 << 16;

/// Merges adjacent dimensions that are contiguous in every operand and drops size-1 ones.
/// Returns the collapsed shape and each operand's strides over it.
pub fn collapse<const N: usize>(shape: &[usize], strides: [&[isize]; N]) -> (Vec<usize>, [Vec<isize>; N]) {
    let (out_shape, out_strides) = collapse_many(shape, &strides);
    let mut it = out_strides.into_iter();
    (out_shape, std::array::from_fn(|_| it.next().expect("one stride list per operand")))
}

/// [`collapse`] for any number of operands.
pub fn collapse_many(shape: &[usize], strides: &[&[isize]]) -> (Vec<usize>, Vec<Vec<isize>>) {
    let n = strides.len();
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out_strides: Vec<Vec<isize>> = (0..n).map(|_| Vec::with_capacity(shape.len())).collect();
    for (d, &size) in shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        if !out_shape.is_empty() {
            let mergeable = (0..n).all(|k| out_strides[k].last().copied() == Some(strides[k][d] * size as isize));
            if mergeable {
                *out_shape.last_mut().expect("nonempty") *= size;
                for k in 0..n {
                    *out_strides[k].last_mut().expect("nonempty") = strides[k][d];
                }
                continue;
            }
        }
        out_shape.push(size);
        for k in 0..n {
            out_strides[k].push(strides[k][d]);
        }
    }
    (out_shape, out_strides)
}

/// The offset of the start of row `row` (the innermost dimension is the row) of an operand
/// with `strides` over the outer dimensions `outer_shape`.
#[inline]
pub fn row_start(outer_shape: &[usize], strides: &[isize], row: usize) -> isize {
    row_offsets(outer_shape, &[strides], row)[0]
}

/// Offsets of the start of row `row` (the innermost dimension is the row) for each operand.
#[inline]
fn row_offsets<const N: usize, S: AsRef<[isize]>>(outer_shape: &[usize], strides: &[S; N], mut row: usize) -> [isize; N] {
    let mut offsets = [0isize; N];
    for d in (0..outer_shape.len()).rev() {
        let i = row % outer_shape[d];
        row /= outer_shape[d];
        for k in 0..N {
            offsets[k] += i as isize * strides[k].as_ref()[d];
        }
    }
    offsets
}

/// Calls `body(out_start, offsets, len, inner_strides)` for every row of a row-major output of
/// `shape`, where `offsets` are the operands' element offsets of the row start. Rows are
/// processed in parallel when the output is large.
pub fn for_each_row<const N: usize>(shape: &[usize], strides: [&[isize]; N], body: impl Fn(usize, [isize; N], usize, [isize; N]) + Sync) {
    let total: usize = shape.iter().product();
    if total == 0 {
        return;
    }
    // Operands contiguous or broadcast from one value walk the whole output as one row, with no
    // collapse (and none of its allocations): the usual element-wise op.
    let flat: [Option<isize>; N] = std::array::from_fn(|k| flat_stride(shape, strides[k]));
    if flat.iter().all(Option::is_some) {
        for_one_row(total, flat.map(|s| s.unwrap_or_default()), &body);
        return;
    }
    let (shape, strides) = collapse(shape, strides);
    let nd = shape.len();
    let inner = shape[nd - 1];
    let inner_strides: [isize; N] = std::array::from_fn(|k| strides[k][nd - 1]);
    let outer_shape = &shape[..nd - 1];
    let rows = total / inner;
    let run_row = |row: usize| body(row * inner, row_offsets(outer_shape, &strides, row), inner, inner_strides);
    if rows == 1 {
        for_one_row(inner, inner_strides, &body);
    } else if total >= PARALLEL_THRESHOLD {
        parallel_for(rows, (PARALLEL_THRESHOLD / inner).max(1), run_row);
    } else {
        (0..rows).for_each(run_row);
    }
}

/// [`for_each_row`] for one row of `len` elements starting at offset 0 of every operand, split
/// into chunks over threads when it is long.
fn for_one_row<const N: usize>(len: usize, strides: [isize; N], body: &(impl Fn(usize, [isize; N], usize, [isize; N]) + Sync)) {
    if len < PARALLEL_THRESHOLD {
        body(0, [0; N], len, strides);
        return;
    }
    let chunk = PARALLEL_THRESHOLD;
    parallel_for(len.div_ceil(chunk), 1, |c| {
        let start = c * chunk;
        body(start, strides.map(|s| start as isize * s), chunk.min(len - start), strides);
    });
}

/// The stride that walks an operand over all of `shape` in row-major order as one row: 1 when
/// it is contiguous there, 0 when one value is broadcast to every element, `None` otherwise.
/// Dimensions of size 1 do not count.
fn flat_stride(shape: &[usize], strides: &[isize]) -> Option<isize> {
    let (mut expected, mut contiguous, mut broadcast) = (1isize, true, true);
    for (&size, &stride) in shape.iter().zip(strides).rev() {
        if size != 1 {
            contiguous &= stride == expected;
            broadcast &= stride == 0;
            expected *= size as isize;
        }
    }
    if contiguous {
        Some(1)
    } else if broadcast {
        Some(0)
    } else {
        None
    }
}

/// A raw pointer that may cross threads; kernels write disjoint ranges through it.
#[derive(Clone, Copy)]
pub struct SendPtr<T>(pub *mut T);
// SAFETY: users write disjoint index ranges from each thread.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer; calling this in a closure moves the whole (Send) wrapper into it.
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// A raw const pointer that may cross threads.
#[derive(Clone, Copy)]
pub struct SendConstPtr<T>(pub *const T);
// SAFETY: read-only access to data that outlives the kernel.
unsafe impl<T> Send for SendConstPtr<T> {}
unsafe impl<T> Sync for SendConstPtr<T> {}

impl<T> SendConstPtr<T> {
    /// The pointer; calling this in a closure moves the whole (Send) wrapper into it.
    pub fn get(self) -> *const T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_strides_of_contiguous_broadcast_and_other_operands() {
        assert_eq!(flat_stride(&[2, 3, 4], &[12, 4, 1]), Some(1));
        assert_eq!(flat_stride(&[2, 1, 4], &[4, 99, 1]), Some(1), "size-1 dimensions do not count");
        assert_eq!(flat_stride(&[2, 3], &[0, 0]), Some(0));
        assert_eq!(flat_stride(&[], &[]), Some(1));
        assert_eq!(flat_stride(&[2, 3], &[1, 2]), None, "transposed");
        assert_eq!(flat_stride(&[2, 3], &[0, 1]), None, "a broadcast row");
        assert_eq!(flat_stride(&[2, 3], &[6, 2]), None, "every other element");
    }

    /// The one-row path and the row-by-row path visit the same elements at the same offsets.
    #[test]
    fn rows_cover_the_output_once_with_the_operands_offsets() {
        let shape = [3, 5];
        let visit = |strides: [&[isize]; 2]| {
            let seen = std::sync::Mutex::new(vec![]);
            for_each_row(&shape, strides, |start, offsets, len, steps| {
                for j in 0..len {
                    seen.lock().unwrap().push((start + j, offsets[0] + j as isize * steps[0], offsets[1] + j as isize * steps[1]));
                }
            });
            let mut seen = seen.into_inner().unwrap();
            seen.sort();
            seen
        };
        let flat = visit([&[5, 1], &[0, 0]]);
        assert_eq!(flat, (0..15).map(|i| (i, i as isize, 0)).collect::<Vec<_>>());
        let transposed = visit([&[1, 3], &[5, 1]]);
        assert_eq!(transposed, (0..15).map(|i| (i, (i % 5 * 3 + i / 5) as isize, i as isize)).collect::<Vec<_>>());
    }
}
