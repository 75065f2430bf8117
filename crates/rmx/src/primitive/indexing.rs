//! Gather and scatter: the primitives behind integer-array indexing, take, take_along_axis,
//! put_along_axis, `at`-style updates and masked_scatter.
//!
//! `Gather { axes }` takes `a` and one integer index array per indexed axis; the index arrays
//! broadcast to a shape `I`, and the output is `I ++ (the shape of a without those axes)`.
//! `Scatter` is its inverse with a combining mode. Index arrays are read through broadcast
//! strides (never materialized). Negative indices count from the end; indices out of range
//! make evaluation fail with an error naming the index, never read or write out of bounds.

use super::views::writable_copy;
use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::copy::gather_to_vec;
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::shape::{broadcast_strides, numel, row_major_strides};
use crate::storage::{alloc_output, Storage};

/// Element offsets in `a` of every index tuple, in row-major order of the index shape.
fn index_offsets(
    op: &'static str,
    a: &Array,
    sa: &Storage,
    indices: &[Array],
    axes: &[usize],
    index_shape: &[usize],
) -> Result<Vec<isize>> {
    let count = numel(index_shape);
    let mut offsets = vec![sa.offset as isize; count];
    for (idx, &axis) in indices.iter().zip(axes) {
        let si = idx.storage()?;
        let values: Vec<i64> = crate::dispatch_dtype!(idx.dtype(), T => {
            let strides = broadcast_strides(idx.shape(), &si.strides, index_shape);
            let view = si.view(strides, si.offset);
            gather_to_vec::<T>(&view, index_shape).into_iter().map(|v| v.to_i64()).collect()
        });
        let n = a.shape()[axis] as i64;
        let stride = sa.strides[axis];
        for (o, v) in offsets.iter_mut().zip(values) {
            let i = if v < 0 { v + n } else { v };
            if i < 0 || i >= n {
                return Err(Error::arg(op, format!("index {v} is out of bounds for axis {axis} with size {n}")));
            }
            *o += i as isize * stride;
        }
    }
    Ok(offsets)
}

/// Shape and strides (in `a`) of the dimensions that are not indexed.
fn rest(a: &Array, sa: &Storage, axes: &[usize]) -> (Vec<usize>, Vec<isize>) {
    (0..a.ndim()).filter(|d| !axes.contains(d)).map(|d| (a.shape()[d], sa.strides[d])).unzip()
}

/// Gathers slices of `a` at integer indices along `axes`.
#[derive(Debug)]
pub struct Gather {
    pub axes: Vec<usize>,
    pub index_shape: Vec<usize>,
}

impl Primitive for Gather {
    fn name(&self) -> &'static str {
        "gather"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (a, indices, out) = (&inputs[0], &inputs[1..], &outputs[0]);
        let sa = a.storage()?;
        if indices.len() == 1 && a.ndim() == 1 {
            return gather_1d(a, &sa, &indices[0], out);
        }
        let offsets = index_offsets("gather", a, &sa, indices, &self.axes, &self.index_shape)?;
        let (rshape, rstrides) = rest(a, &sa, &self.axes);
        let rsize = numel(&rshape);
        let storage = alloc_output(out.shape(), out.dtype())?;
        crate::dispatch_dtype!(a.dtype(), T => {
            let src = sa.buffer.as_ptr() as *const T;
            let dst = storage.ptr::<T>() as *mut T;
            let rest_offsets = rest_offsets(&rshape, &rstrides);
            for (i, &base) in offsets.iter().enumerate() {
                for (j, &r) in rest_offsets.iter().enumerate() {
                    // SAFETY: offsets were bounds-checked against a's shape; dst has I * rsize slots.
                    unsafe { *dst.add(i * rsize + j) = *src.offset(base + r) };
                }
            }
        });
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        // Gathered slices add back into the positions they came from (repeats accumulate).
        argnums
            .iter()
            .map(|&i| {
                if i > 0 {
                    return crate::zeros_like(&inputs[i]);
                }
                let a = &inputs[0];
                let scatter = Scatter { axes: self.axes.clone(), index_shape: self.index_shape.clone(), mode: ScatterMode::Add };
                let mut args = vec![crate::zeros_like(a)?];
                args.extend(inputs[1..].iter().cloned());
                args.push(cotangents[0].clone());
                Ok(Array::from_primitive(a.shape().to_vec(), a.dtype(), std::sync::Arc::new(scatter), args))
            })
            .collect()
    }
}

/// `out[i] = a[idx[i]]` for a 1-d `a`: one fused, parallel pass (the `take` fast path).
fn gather_1d(a: &Array, sa: &Storage, idx: &Array, out: &Array) -> Result<()> {
    use rayon::prelude::*;
    let n = a.shape()[0] as i64;
    let stride = sa.strides[0];
    let storage = alloc_output(out.shape(), out.dtype())?;
    let si = idx.storage()?;
    let count = idx.size();
    let bad = std::sync::atomic::AtomicI64::new(i64::MIN);
    let indices: Vec<i64> =
        crate::dispatch_dtype!(idx.dtype(), I => gather_to_vec::<I>(&si, idx.shape()).into_iter().map(|v| v.to_i64()).collect());
    {
        crate::dispatch_dtype!(a.dtype(), T => {
            let src = crate::backend::cpu::strided::SendConstPtr(sa.ptr::<T>());
            let dst = crate::backend::cpu::strided::SendPtr(storage.ptr::<T>() as *mut T);
            let body = |(chunk_index, chunk): (usize, &[i64])| {
                let (src, dst) = (src, dst);
                for (j, &v) in chunk.iter().enumerate() {
                    let i = if v < 0 { v + n } else { v };
                    if i < 0 || i >= n {
                        bad.store(v, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                    // SAFETY: i is in bounds; each chunk writes its own output range.
                    unsafe { *dst.0.add(chunk_index * 4096 + j) = *src.0.offset(i as isize * stride) };
                }
            };
            if count >= crate::backend::cpu::strided::PARALLEL_THRESHOLD {
                indices.par_chunks(4096).enumerate().for_each(body);
            } else {
                indices.chunks(4096).enumerate().for_each(body);
            }
        });
    }
    let v = bad.load(std::sync::atomic::Ordering::Relaxed);
    if v != i64::MIN {
        return Err(Error::arg("gather", format!("index {v} is out of bounds for axis 0 with size {n}")));
    }
    out.set_storage(storage);
    Ok(())
}

/// Offsets of every element of a strided block, row-major.
fn rest_offsets(shape: &[usize], strides: &[isize]) -> Vec<isize> {
    let n = numel(shape);
    let mut out = Vec::with_capacity(n);
    for mut i in 0..n {
        let mut off = 0isize;
        for d in (0..shape.len()).rev() {
            off += (i % shape[d]) as isize * strides[d];
            i /= shape[d];
        }
        out.push(off);
    }
    out
}

/// How scattered values combine with what is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScatterMode {
    Replace,
    Add,
    Multiply,
    Divide,
    Maximum,
    Minimum,
}

/// Writes `updates` (shape `I ++ rest`) into a copy of `a` at integer indices along `axes`.
#[derive(Debug)]
pub struct Scatter {
    pub axes: Vec<usize>,
    pub index_shape: Vec<usize>,
    pub mode: ScatterMode,
}

fn combine<T: Element>(mode: ScatterMode, old: T, new: T) -> T {
    if mode == ScatterMode::Replace {
        return new;
    }
    match T::DTYPE {
        Dtype::C64 => {
            let (o, n) = (old.to_c64(), new.to_c64());
            T::from_c64(match mode {
                ScatterMode::Add => o + n,
                ScatterMode::Multiply => o * n,
                ScatterMode::Divide => o / n,
                _ => n,
            })
        }
        d if d.is_float() => {
            let (o, n) = (old.to_f64(), new.to_f64());
            T::from_f64(match mode {
                ScatterMode::Add => o + n,
                ScatterMode::Multiply => o * n,
                ScatterMode::Divide => o / n,
                ScatterMode::Maximum => {
                    if o.is_nan() || o > n {
                        o
                    } else {
                        n
                    }
                }
                _ => {
                    if o.is_nan() || o < n {
                        o
                    } else {
                        n
                    }
                }
            })
        }
        Dtype::Bool => T::from_bool(match mode {
            ScatterMode::Add | ScatterMode::Maximum => old.to_bool() | new.to_bool(),
            _ => old.to_bool() & new.to_bool(),
        }),
        _ => {
            let (o, n) = (old.to_i64(), new.to_i64());
            T::from_i64(match mode {
                ScatterMode::Add => o.wrapping_add(n),
                ScatterMode::Multiply => o.wrapping_mul(n),
                ScatterMode::Divide => {
                    if n == 0 {
                        0
                    } else {
                        o.wrapping_div(n)
                    }
                }
                ScatterMode::Maximum => o.max(n),
                _ => o.min(n),
            })
        }
    }
}

impl Primitive for Scatter {
    fn name(&self) -> &'static str {
        "scatter"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let n = inputs.len();
        let (a, indices, updates, out) = (&inputs[0], &inputs[1..n - 1], &inputs[n - 1], &outputs[0]);
        let su = updates.storage()?;
        let base = writable_copy(a)?;
        let offsets = index_offsets("scatter", out, &base, indices, &self.axes, &self.index_shape)?;
        let (rshape, rstrides) = rest(out, &base, &self.axes);
        let mut full_shape = self.index_shape.clone();
        full_shape.extend(&rshape);
        let ustrides = broadcast_strides(updates.shape(), &su.strides, &full_shape);
        let uview = su.view(ustrides, su.offset);
        crate::dispatch_dtype!(out.dtype(), T => {
            let upd = gather_to_vec::<T>(&uview, &full_shape);
            let dst = base.ptr::<T>() as *mut T;
            let rest_offsets = rest_offsets(&rshape, &rstrides);
            let rsize = rest_offsets.len();
            for (i, &off) in offsets.iter().enumerate() {
                for (j, &r) in rest_offsets.iter().enumerate() {
                    // SAFETY: bounds-checked offsets into the uniquely owned output buffer.
                    unsafe {
                        let p = dst.offset(off + r);
                        *p = combine(self.mode, *p, upd[i * rsize + j]);
                    }
                }
            }
        });
        out.set_storage(base);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        let g = &cotangents[0];
        let n = inputs.len();
        let (x, updates, out) = (&inputs[0], &inputs[n - 1], &outputs[0]);
        // This scatter's indices with another mode, base and updates; and the gather that
        // reads at them (what each update met).
        let scatter = |mode: ScatterMode, base: &Array, values: &Array| {
            let node = Scatter { axes: self.axes.clone(), index_shape: self.index_shape.clone(), mode };
            let mut args = vec![base.clone()];
            args.extend(inputs[1..n - 1].iter().cloned());
            args.push(values.clone());
            Array::from_primitive(base.shape().to_vec(), base.dtype(), std::sync::Arc::new(node), args)
        };
        let gather = |src: &Array| {
            let read = Gather { axes: self.axes.clone(), index_shape: self.index_shape.clone() };
            let mut args = vec![src.clone()];
            args.extend(inputs[1..n - 1].iter().cloned());
            Array::from_primitive(updates.shape().to_vec(), src.dtype(), std::sync::Arc::new(read), args)
        };
        argnums
            .iter()
            .map(|&i| match (i, self.mode) {
                (0, ScatterMode::Add) => Ok(g.clone()),
                // Overwritten positions get no gradient.
                (0, ScatterMode::Replace) => Ok(scatter(ScatterMode::Replace, g, &crate::zeros_like(updates)?)),
                // As MLX: where the result is the original value (ties count for both sides).
                (0, ScatterMode::Maximum | ScatterMode::Minimum) => crate::where_(&crate::equal(out, x)?, g, 0.0),
                // The factor every position was multiplied or divided by, applied to `g`.
                (0, mode @ (ScatterMode::Multiply | ScatterMode::Divide)) => {
                    crate::multiply(g, scatter(mode, &crate::ones_like(x)?, updates))
                }
                (i, ScatterMode::Add | ScatterMode::Replace) if i == n - 1 => Ok(gather(g)),
                (i, ScatterMode::Maximum | ScatterMode::Minimum) if i == n - 1 => {
                    crate::where_(&crate::equal(gather(out), updates)?, gather(g), 0.0)
                }
                (i, ScatterMode::Multiply) if i == n - 1 => {
                    crate::multiply(gather(&crate::multiply(g, x)?), &products_of_the_others(x, updates, &scatter, &gather)?)
                }
                // out = x / Πu: d out / d u_k = -out / u_k.
                (i, ScatterMode::Divide) if i == n - 1 => crate::negative(&crate::divide(gather(&crate::multiply(g, out)?), updates)?),
                _ => crate::zeros_like(&inputs[i]),
            })
            .collect()
    }
}

/// For each update of a multiplying scatter into `x`, the product of the other updates at
/// its position, exact where updates are zero: from each position's count of zero updates
/// and product of the nonzero ones (a zero elsewhere makes it 0; a zero update itself gets
/// the product of the rest).
fn products_of_the_others(
    x: &Array,
    updates: &Array,
    scatter: &impl Fn(ScatterMode, &Array, &Array) -> Array,
    gather: &impl Fn(&Array) -> Array,
) -> Result<Array> {
    let zero = crate::equal(updates, 0.0)?;
    let nonzero = crate::where_(&zero, 1.0, updates)?;
    let zeros_there = gather(&scatter(ScatterMode::Add, &crate::zeros_like(x)?, &crate::astype(&zero, x.dtype())?));
    let product_there = gather(&scatter(ScatterMode::Multiply, &crate::ones_like(x)?, &nonzero));
    let for_nonzero = crate::where_(&crate::equal(&zeros_there, 0.0)?, &crate::divide(&product_there, &nonzero)?, 0.0)?;
    let for_zero = crate::where_(&crate::equal(&zeros_there, 1.0)?, &product_there, 0.0)?;
    crate::where_(&zero, &for_zero, &for_nonzero)
}

/// Writes consecutive elements of `values` into a copy of `a` where `mask` is true.
#[derive(Debug)]
pub struct MaskedScatter;

impl Primitive for MaskedScatter {
    fn name(&self) -> &'static str {
        "masked_scatter"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (a, mask, values, out) = (&inputs[0], &inputs[1], &inputs[2], &outputs[0]);
        let mask = mask.to_vec::<bool>()?;
        let needed = mask.iter().filter(|&&m| m).count();
        if needed > values.size() {
            return Err(Error::arg(
                "masked_scatter",
                format!("the mask selects {needed} elements but only {} values were given", values.size()),
            ));
        }
        let base = writable_copy(a)?;
        crate::dispatch_dtype!(out.dtype(), T => {
            let vals = values.to_vec::<T>()?;
            let dst = base.ptr::<T>() as *mut T;
            let mut next = 0;
            for (i, &m) in mask.iter().enumerate() {
                if m {
                    // SAFETY: i < numel of the row-major output.
                    unsafe { *dst.add(i) = vals[next] };
                    next += 1;
                }
            }
        });
        out.set_storage(base);
        Ok(())
    }
}

/// A slice of static size whose start comes from an integer array at run time.
#[derive(Debug)]
pub struct DynamicSlice {
    pub axes: Vec<usize>,
}

fn dynamic_starts(start: &Array, axes: &[usize], shape: &[usize], window: &[usize]) -> Result<Vec<usize>> {
    let starts: Vec<i64> = crate::dispatch_dtype!(start.dtype(), T => start.to_vec::<T>()?.into_iter().map(|v| v.to_i64()).collect());
    let mut out = vec![0usize; shape.len()];
    for (&s, &ax) in starts.iter().zip(axes) {
        let n = shape[ax] as i64;
        let s = if s < 0 { s + n } else { s };
        // Clamp like MLX so the window stays inside the array.
        out[ax] = s.clamp(0, (n - window[ax] as i64).max(0)) as usize;
    }
    Ok(out)
}

impl Primitive for DynamicSlice {
    fn name(&self) -> &'static str {
        "slice"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (a, start, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let s = a.storage()?;
        let starts = dynamic_starts(start, &self.axes, a.shape(), out.shape())?;
        let offset = s.offset as isize + starts.iter().zip(&s.strides).map(|(&i, &st)| i as isize * st).sum::<isize>();
        out.set_storage(s.view(s.strides.clone(), offset as usize));
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (a, start) = (&inputs[0], &inputs[1]);
        argnums
            .iter()
            .map(|&i| {
                if i == 1 {
                    return crate::zeros_like(start);
                }
                let place = DynamicSliceUpdate { axes: self.axes.clone() };
                let args = vec![crate::zeros_like(a)?, cotangents[0].clone(), start.clone()];
                Ok(Array::from_primitive(a.shape().to_vec(), a.dtype(), std::sync::Arc::new(place), args))
            })
            .collect()
    }
}

/// Writes `update` into a copy of `a` at a start given by an integer array at run time.
#[derive(Debug)]
pub struct DynamicSliceUpdate {
    pub axes: Vec<usize>,
}

impl Primitive for DynamicSliceUpdate {
    fn name(&self) -> &'static str {
        "slice_update"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (a, update, start, out) = (&inputs[0], &inputs[1], &inputs[2], &outputs[0]);
        let starts = dynamic_starts(start, &self.axes, a.shape(), update.shape())?;
        let base = writable_copy(a)?;
        let su = update.storage()?;
        let strides = row_major_strides(out.shape());
        let offset: isize = starts.iter().zip(&strides).map(|(&i, &st)| i as isize * st).sum();
        crate::dispatch_dtype!(out.dtype(), T => unsafe {
            // SAFETY: the window (clamped) lies inside the output.
            crate::backend::cpu::copy::copy_strided::<T>(&su, &su.strides, (base.ptr::<T>() as *mut T).offset(offset), &strides, update.shape());
        });
        out.set_storage(base);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (update, start, g) = (&inputs[1], &inputs[2], &cotangents[0]);
        argnums
            .iter()
            .map(|&i| match i {
                0 => {
                    // The overwritten window gets no gradient.
                    let clear = DynamicSliceUpdate { axes: self.axes.clone() };
                    let args = vec![g.clone(), crate::zeros_like(update)?, start.clone()];
                    Ok(Array::from_primitive(g.shape().to_vec(), g.dtype(), std::sync::Arc::new(clear), args))
                }
                1 => {
                    let read = DynamicSlice { axes: self.axes.clone() };
                    Ok(Array::from_primitive(update.shape().to_vec(), g.dtype(), std::sync::Arc::new(read), vec![g.clone(), start.clone()]))
                }
                _ => crate::zeros_like(start),
            })
            .collect()
    }
}
