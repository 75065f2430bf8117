//! Generic element-wise kernels: map one, two or three strided operands into a row-major
//! output.
//!
//! Contiguous runs of one operand are plain loops the compiler vectorizes (the output apart
//! from the input, or exactly the input's donated buffer); two or more operands, and any other
//! overlap, are processed in blocks of [`LANES`] elements loaded into local arrays, which the
//! compiler turns into SIMD code for most formulas, and which stays correct when the output is
//! the donated buffer of an input (reads of a block finish before its writes).

use super::strided::{for_each_row, SendConstPtr, SendPtr};
use crate::element::Element;
use crate::storage::Storage;

/// Elements per block of the contiguous inner loops.
pub const LANES: usize = 16;

/// `[f(0), f(1), ..., f(N - 1)]` as a plain loop the compiler unrolls and vectorizes.
/// (`std::array::from_fn` goes through closure adapters that the optimizer sometimes leaves
/// out of line, turning these loops into one call per element: measured 3x slower.)
#[inline(always)]
fn lanes<T: Copy + Default, const N: usize>(f: impl Fn(usize) -> T) -> [T; N] {
    let mut y = [T::default(); N];
    for (j, v) in y.iter_mut().enumerate() {
        *v = f(j);
    }
    y
}

/// Whether `n` elements of `A` from `a` and `m` of `B` from `b` share no byte.
#[inline(always)]
fn disjoint<A, B>(a: *const A, n: usize, b: *const B, m: usize) -> bool {
    let (a0, b0) = (a as usize, b as usize);
    a0 + n * std::mem::size_of::<A>() <= b0 || b0 + m * std::mem::size_of::<B>() <= a0
}

/// `po[i] = f(pi[i])` for `n` contiguous elements, as plain loops where the ranges allow:
/// over two slices when they are disjoint, over one pointer when the output is the input's own
/// buffer (a donated input of the same element size). The loop vectorizer handles every
/// formula there; the blocks of [`LANES`] in local arrays, kept for any other overlap, leave
/// formulas with selects to the SLP vectorizer, which kept sign and round scalar (10x and
/// 2.6x slower on Zen 3, session 25).
#[inline(always)]
unsafe fn map1_contig<I: Element, O: Element>(pi: *const I, po: *mut O, n: usize, f: &impl Fn(I) -> O) {
    // SAFETY (whole body): the caller guarantees `n` readable inputs and writable outputs.
    unsafe {
        if disjoint(pi, n, po, n) {
            let (x, out) = (std::slice::from_raw_parts(pi, n), std::slice::from_raw_parts_mut(po, n));
            for (o, &v) in out.iter_mut().zip(x) {
                *o = f(v);
            }
            return;
        }
        if std::ptr::addr_eq(pi, po) && std::mem::size_of::<I>() == std::mem::size_of::<O>() {
            for i in 0..n {
                let v = (po.add(i) as *const I).read();
                po.add(i).write(f(v));
            }
            return;
        }
        let mut i = 0;
        while i + LANES <= n {
            let x: [I; LANES] = std::ptr::read_unaligned(pi.add(i) as *const [I; LANES]);
            let y: [O; LANES] = lanes(|j| f(x[j]));
            std::ptr::write_unaligned(po.add(i) as *mut [O; LANES], y);
            i += LANES;
        }
        while i < n {
            *po.add(i) = f(*pi.add(i));
            i += 1;
        }
    }
}

/// Calls `row(input, output, len, stride)` for every row of the row-major output `out` of
/// `shape`: where the row's input starts, where its output starts, its length, and the input's
/// stride along it (`x` viewed with `strides` over `shape`).
fn for_each_input_row<I: Element, O: Element>(
    x: &Storage,
    strides: &[isize],
    shape: &[usize],
    out: *mut O,
    row: impl Fn(*const I, *mut O, usize, isize) + Sync,
) {
    let pi = SendConstPtr(x.ptr::<I>());
    let po = SendPtr(out);
    for_each_row(shape, [strides], |start, [off], len, [s]| {
        let (pi, po) = (pi, po);
        row(pi.0.wrapping_offset(off), po.0.wrapping_add(start), len, s);
    });
}

/// `out[i] = f(x[i])` over a strided input viewed with `strides` over `shape`.
pub fn map1<I: Element, O: Element>(x: &Storage, strides: &[isize], shape: &[usize], out: *mut O, f: impl Fn(I) -> O + Sync) {
    // SAFETY: offsets come from valid strides over the input; the output has `numel` slots.
    for_each_input_row(x, strides, shape, out, |pin, pout, len, s| unsafe {
        match s {
            1 => map1_contig(pin, pout, len, &f),
            0 => {
                let y = f(*pin);
                for j in 0..len {
                    *pout.add(j) = y;
                }
            }
            _ => {
                for j in 0..len {
                    *pout.add(j) = f(*pin.offset(j as isize * s));
                }
            }
        }
    });
}

/// Elements per local block of [`map1_slices`].
const SLICE_BLOCK: usize = 256;

/// [`map1`] for a kernel over slices, `f(input, output)` with equal lengths (formulas
/// vectorized by hand, such as f32 erf): a contiguous run apart from the output goes to `f`
/// whole; any other run (strided, broadcast, or in the output's own buffer) in blocks of
/// [`SLICE_BLOCK`] gathered into a local array.
pub fn map1_slices<I: Element, O: Element>(
    x: &Storage,
    strides: &[isize],
    shape: &[usize],
    out: *mut O,
    f: impl Fn(&[I], &mut [O]) + Sync,
) {
    // SAFETY: offsets come from valid strides over the input; the output has `numel` slots.
    for_each_input_row(x, strides, shape, out, |pin, pout, len, s| unsafe {
        if s == 1 && disjoint(pin, len, pout, len) {
            f(std::slice::from_raw_parts(pin, len), std::slice::from_raw_parts_mut(pout, len));
            return;
        }
        let (mut xs, mut ys) = ([I::default(); SLICE_BLOCK], [O::default(); SLICE_BLOCK]);
        for from in (0..len).step_by(SLICE_BLOCK) {
            let m = SLICE_BLOCK.min(len - from);
            for (j, v) in xs[..m].iter_mut().enumerate() {
                *v = *pin.offset((from + j) as isize * s);
            }
            f(&xs[..m], &mut ys[..m]);
            std::ptr::copy_nonoverlapping(ys.as_ptr(), pout.add(from), m);
        }
    });
}

#[inline(always)]
unsafe fn map2_contig<A: Element, B: Element, O: Element>(
    pa: *const A,
    sa: isize,
    pb: *const B,
    sb: isize,
    po: *mut O,
    n: usize,
    f: &impl Fn(A, B) -> O,
) {
    let mut i = 0;
    // SAFETY (whole body): the caller guarantees the ranges; strides are 0 or 1 here.
    unsafe {
        while i + LANES <= n {
            let a: [A; LANES] = if sa == 0 { [*pa; LANES] } else { std::ptr::read_unaligned(pa.add(i) as *const [A; LANES]) };
            let b: [B; LANES] = if sb == 0 { [*pb; LANES] } else { std::ptr::read_unaligned(pb.add(i) as *const [B; LANES]) };
            let y: [O; LANES] = lanes(|j| f(a[j], b[j]));
            std::ptr::write_unaligned(po.add(i) as *mut [O; LANES], y);
            i += LANES;
        }
        while i < n {
            *po.add(i) = f(*pa.offset(i as isize * sa), *pb.offset(i as isize * sb));
            i += 1;
        }
    }
}

/// `out[i] = f(a[i], b[i])` with both inputs viewed through (broadcast) strides over `shape`.
pub fn map2<A: Element, B: Element, O: Element>(
    a: &Storage,
    a_strides: &[isize],
    b: &Storage,
    b_strides: &[isize],
    shape: &[usize],
    out: *mut O,
    f: impl Fn(A, B) -> O + Sync,
) {
    let pa = SendConstPtr(a.ptr::<A>());
    let pb = SendConstPtr(b.ptr::<B>());
    let po = SendPtr(out);
    for_each_row(shape, [a_strides, b_strides], |start, [oa, ob], len, [sa, sb]| {
        let (pa, pb, po) = (pa, pb, po);
        // SAFETY: offsets come from valid strides; the output has `numel` slots.
        unsafe {
            let (xa, xb, xo) = (pa.0.offset(oa), pb.0.offset(ob), po.0.add(start));
            match (sa, sb) {
                (0 | 1, 0 | 1) => {
                    // Both strides 0 is a scalar op broadcast along the row; map2_contig handles it.
                    map2_contig(xa, sa, xb, sb, xo, len, &f)
                }
                _ => {
                    for j in 0..len {
                        let j = j as isize;
                        *xo.offset(j) = f(*xa.offset(j * sa), *xb.offset(j * sb));
                    }
                }
            }
        }
    });
}

/// `out[i] = f(a[i], b[i], c[i])` for three strided operands.
pub fn map3<A: Element, B: Element, C: Element, O: Element>(
    operands: (&Storage, &Storage, &Storage),
    strides: [&[isize]; 3],
    shape: &[usize],
    out: *mut O,
    f: impl Fn(A, B, C) -> O + Sync,
) {
    let pa = SendConstPtr(operands.0.ptr::<A>());
    let pb = SendConstPtr(operands.1.ptr::<B>());
    let pc = SendConstPtr(operands.2.ptr::<C>());
    let po = SendPtr(out);
    for_each_row(shape, strides, |start, [oa, ob, oc], len, [sa, sb, sc]| {
        let (pa, pb, pc, po) = (pa, pb, pc, po);
        // SAFETY: offsets come from valid strides; the output has `numel` slots.
        unsafe {
            let (xa, xb, xc, xo) = (pa.0.offset(oa), pb.0.offset(ob), pc.0.offset(oc), po.0.add(start));
            for j in 0..len as isize {
                *xo.offset(j) = f(*xa.offset(j * sa), *xb.offset(j * sb), *xc.offset(j * sc));
            }
        }
    });
}
