//! Cumulative reductions along one axis (cumsum, cumprod, cummax, cummin, logcumsumexp),
//! forward or reversed, inclusive or exclusive.

use super::reduce::{Acc, HasAcc};
use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::lines::{for_each_line, line_offset};
use crate::backend::cpu::math::logaddexp;
use crate::backend::cpu::strided::{SendConstPtr, SendPtr};
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::shape::row_major_strides;
use crate::storage::alloc_output;

/// Which scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanOp {
    Sum,
    Prod,
    Max,
    Min,
    LogAddExp,
}

impl ScanOp {
    pub fn name(self) -> &'static str {
        match self {
            ScanOp::Sum => "cumsum",
            ScanOp::Prod => "cumprod",
            ScanOp::Max => "cummax",
            ScanOp::Min => "cummin",
            ScanOp::LogAddExp => "logcumsumexp",
        }
    }
}

/// The `Scan` primitive; input already has the output dtype.
#[derive(Debug)]
pub struct Scan {
    pub op: ScanOp,
    pub axis: usize,
    pub reverse: bool,
    pub inclusive: bool,
}

fn combine<A: Acc>(op: ScanOp, a: A, x: A) -> A {
    match op {
        ScanOp::Sum => a.add(x),
        ScanOp::Prod => a.mul(x),
        ScanOp::Max => {
            if (x > a) | x.is_nan() {
                x
            } else {
                a
            }
        }
        ScanOp::Min => {
            if (x < a) | x.is_nan() {
                x
            } else {
                a
            }
        }
        ScanOp::LogAddExp => unreachable!("logaddexp scans run in f64"),
    }
}

fn init<A: Acc>(op: ScanOp) -> A {
    match op {
        ScanOp::Sum => A::zero(),
        ScanOp::Prod => A::one(),
        ScanOp::Max => A::lowest(),
        ScanOp::Min | ScanOp::LogAddExp => A::highest(),
    }
}

fn scan_typed<T: HasAcc>(p: &Scan, x: &crate::storage::Storage, shape: &[usize], out: &crate::storage::Storage) {
    let n = shape[p.axis];
    let stride = x.strides[p.axis];
    let ostrides = row_major_strides(shape);
    let ostride = ostrides[p.axis];
    let (px, po) = (SendConstPtr(x.ptr::<T>()), SendPtr(out.ptr::<T>() as *mut T));
    // Output offsets follow the same line order with the output's own strides.
    for_each_line(shape, &x.strides, p.axis, |line, xo| {
        let (px, po) = (px, po);
        let oo = line_offset(shape, &ostrides, p.axis, line);
        let mut acc: T::A = init(p.op);
        for step in 0..n {
            let i = if p.reverse { n - 1 - step } else { step } as isize;
            // SAFETY: indices stay inside the line of the input view and the fresh output.
            unsafe {
                let v = (*px.0.offset(xo + i * stride)).to_acc();
                if p.inclusive {
                    acc = combine(p.op, acc, v);
                    *po.0.offset(oo + i * ostride) = T::from_acc(acc);
                } else {
                    *po.0.offset(oo + i * ostride) = T::from_acc(acc);
                    acc = combine(p.op, acc, v);
                }
            }
        }
    });
}

fn logcumsumexp<T: Element>(p: &Scan, x: &crate::storage::Storage, shape: &[usize], out: &crate::storage::Storage) {
    let n = shape[p.axis];
    let stride = x.strides[p.axis];
    let ostrides = row_major_strides(shape);
    let ostride = ostrides[p.axis];
    let (px, po) = (SendConstPtr(x.ptr::<T>()), SendPtr(out.ptr::<T>() as *mut T));
    for_each_line(shape, &x.strides, p.axis, |line, xo| {
        let (px, po) = (px, po);
        let oo = line_offset(shape, &ostrides, p.axis, line);
        let mut acc = f64::NEG_INFINITY;
        for step in 0..n {
            let i = if p.reverse { n - 1 - step } else { step } as isize;
            // SAFETY: as in scan_typed.
            unsafe {
                let v = (*px.0.offset(xo + i * stride)).to_f64();
                let next = logaddexp(acc, v);
                if p.inclusive {
                    acc = next;
                    *po.0.offset(oo + i * ostride) = T::from_f64(acc);
                } else {
                    *po.0.offset(oo + i * ostride) = T::from_f64(acc);
                    acc = next;
                }
            }
        }
    });
}

impl Scan {
    /// Runs `vjp` (written for a forward scan: `(x, y, cotangent, axis)`) on this scan's
    /// arrays, flipping the axis first and the result back for a reversed scan.
    fn in_forward_order(
        &self,
        vjp: fn(&Array, &Array, &Array, usize) -> Result<Array>,
        inputs: &[Array],
        outputs: &[Array],
        cotangents: &[Array],
    ) -> Result<Vec<Array>> {
        let flip = |a: &Array| if self.reverse { crate::flip(a, Some(&[self.axis as isize])) } else { Ok(a.clone()) };
        let g = vjp(&flip(&inputs[0])?, &flip(&outputs[0])?, &flip(&cotangents[0])?, self.axis)?;
        Ok(vec![flip(&g)?])
    }
}

impl Scan {
    /// The reverse rule as the transpose of the Jacobian (real numbers).
    fn transposed_vjp(&self, inputs: &[Array], cotangents: &[Array], outputs: &[Array]) -> Result<Vec<Array>> {
        match self.op {
            // Each input contributes to the outputs after it (before it when reversed).
            ScanOp::Sum => Ok(vec![crate::cumsum(&cotangents[0], Some(self.axis as isize), !self.reverse, self.inclusive)?]),
            ScanOp::Prod | ScanOp::Max | ScanOp::Min => {
                let rule = if self.op == ScanOp::Prod { cumprod_vjp } else { extreme_scan_vjp };
                if self.inclusive {
                    return self.in_forward_order(rule, inputs, outputs, cotangents);
                }
                // Exclusive output i is inclusive output i-1 (in scan order), so the inclusive
                // scan's cotangent is the exclusive one shifted back a step; the last inclusive
                // output feeds nothing.
                let inclusive = Scan { inclusive: true, ..*self };
                let x = &inputs[0];
                let y = Array::from_primitive(x.shape().to_vec(), x.dtype(), std::sync::Arc::new(Scan { ..inclusive }), vec![x.clone()]);
                inclusive.in_forward_order(rule, inputs, &[y], &[self.shift_back(&cotangents[0])?])
            }
            ScanOp::LogAddExp => {
                // x̄_j = Σ_i c_i exp(x_j − y_i) over the outputs i that include x_j: split by
                // the sign of c, each part is a logcumsumexp in the other direction, so nothing
                // overflows.
                let (x, y, c, ax) = (&inputs[0], &outputs[0], &cotangents[0], Some(self.axis as isize));
                let part = |weights: &Array| -> Result<Array> {
                    let logs = crate::subtract(&crate::log(weights)?, y)?;
                    crate::exp(&crate::add(x, &crate::logcumsumexp(&logs, ax, !self.reverse, self.inclusive)?)?)
                };
                let (positive, negative) = (crate::maximum(c, 0.0)?, crate::maximum(&crate::negative(c)?, 0.0)?);
                Ok(vec![crate::subtract(&part(&positive)?, &part(&negative)?)?])
            }
        }
    }

    /// `c` moved one step against the scan direction along the axis (`c[j+1]` at `j` for a
    /// forward scan, `c[j-1]` reversed), zero where nothing comes in.
    fn shift_back(&self, c: &Array) -> Result<Array> {
        let (n, ax) = (c.shape()[self.axis], self.axis);
        if n == 0 {
            return Ok(c.clone());
        }
        let mut starts = vec![0isize; c.ndim()];
        let mut stops: Vec<isize> = c.shape().iter().map(|&d| d as isize).collect();
        let mut widths = vec![(0usize, 0usize); c.ndim()];
        if self.reverse {
            stops[ax] = n as isize - 1;
            widths[ax] = (1, 0);
        } else {
            starts[ax] = 1;
            widths[ax] = (0, 1);
        }
        let kept = crate::slice(c, &starts, &stops, &vec![1; c.ndim()])?;
        crate::pad(&kept, &widths, crate::PadMode::Constant(0.0))
    }
}

impl Primitive for Scan {
    fn name(&self) -> &'static str {
        self.op.name()
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let s = x.storage()?;
        let storage = alloc_output(out.shape(), out.dtype())?;
        if self.op == ScanOp::LogAddExp {
            match out.dtype() {
                d if d.is_float() => crate::dispatch_dtype!(d, T => logcumsumexp::<T>(self, &s, x.shape(), &storage)),
                d => return Err(Error::dtype(self.name(), d)),
            }
        } else if out.dtype() == Dtype::C64 && matches!(self.op, ScanOp::Max | ScanOp::Min) {
            return Err(Error::dtype(self.name(), Dtype::C64));
        } else {
            crate::dispatch_dtype!(out.dtype(), T => scan_typed::<T>(self, &s, x.shape(), &storage));
        }
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        // cumprod of complex numbers is holomorphic: the real rule under the adjoint convention.
        let complex = inputs[0].dtype().is_complex();
        super::rules::adjoint(&cotangents[0], complex, |g| self.transposed_vjp(inputs, std::slice::from_ref(g), outputs))
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let shifted = Scan { op: self.op, axis: self.axis + 1, reverse: self.reverse, inclusive: self.inclusive };
        let size = x.shape()[0];
        super::rules::batched_front(super::rules::batched_node(std::sync::Arc::new(shifted), vec![x], size, &outputs[0]))
    }
}

/// Positions `0..n` along `axis`, broadcast to `shape` (int32).
fn positions(shape: &[usize], axis: usize) -> Result<Array> {
    let mut along = vec![1usize; shape.len()];
    along[axis] = shape[axis];
    crate::broadcast_to(&crate::reshape_to(&crate::arange(0.0, shape[axis] as f64, 1.0, Dtype::I32)?, &along)?, shape)
}

/// The vjp of an inclusive forward cumprod `y` of `x` along `axis`, exact with zeros in `x`:
/// `x̄_j = Σ_{i≥j} c_i Π_{k≤i, k≠j} x_k`. Before a line's first zero `z` that is
/// `Σ_{i≥j} c_i y_i / x_j` (the `y_i` past `z` vanish); at `z` it is the product before `z`
/// times `Σ_{i≥z} c_i Π_{z<k≤i} x_k`; after `z` every term holds the zero.
fn cumprod_vjp(x: &Array, y: &Array, c: &Array, axis: usize) -> Result<Array> {
    let (n, ax) = (x.shape()[axis], axis as isize);
    let index = positions(x.shape(), axis)?;
    let zero = crate::equal(x, 0.0)?;
    let first_zero = crate::min(&crate::where_(&zero, &index, n as i32)?, ax, true)?;
    let before = crate::less(&index, &first_zero)?;
    let safe_x = crate::where_(&zero, 1.0, x)?;
    let before_zero = crate::divide(&crate::cumsum(&crate::multiply(c, y)?, Some(ax), true, true)?, &safe_x)?;
    // At the first zero: the product before it, times the sums of c_i Π_{z<k≤i} x_k.
    let at = crate::equal(&index, &first_zero)?;
    let prefix = crate::cumprod(&safe_x, Some(ax), false, false)?;
    let after_z = crate::cumprod(&crate::where_(&crate::less_equal(&index, &first_zero)?, 1.0, x)?, Some(ax), false, true)?;
    let at_zero = crate::multiply(&prefix, &crate::cumsum(&crate::multiply(c, &after_z)?, Some(ax), true, true)?)?;
    crate::where_(&before, &before_zero, &crate::where_(&at, &at_zero, 0.0)?)
}

/// The vjp of an inclusive forward cummax/cummin `y` of `x` along `axis`: each output's
/// cotangent goes to the latest position at or before it where `x` equals the running
/// extreme (as MLX: of equal values, the later one). Position `j` with `x[j] == y[j]` thus
/// collects the cotangents from `j` up to the next such position.
fn extreme_scan_vjp(x: &Array, y: &Array, c: &Array, axis: usize) -> Result<Array> {
    let (n, ax) = (x.shape()[axis], axis as isize);
    let index = positions(x.shape(), axis)?;
    let sources = crate::equal(x, y)?;
    // The next source after each position (n past the last), through an exclusive reverse min.
    let next = crate::cummin(&crate::where_(&sources, &index, n as i32)?, Some(ax), true, false)?;
    let next = crate::minimum(&next, n as i32)?;
    let from = crate::cumsum(c, Some(ax), true, true)?;
    let mut pad_shape = x.shape().to_vec();
    pad_shape[axis] = 1;
    let padded = crate::concatenate(&[from.clone(), crate::zeros(&pad_shape, from.dtype())?], ax)?;
    let beyond = crate::take_along_axis(&padded, &next, Some(ax))?;
    crate::where_(&sources, &crate::subtract(&from, &beyond)?, 0.0)
}
