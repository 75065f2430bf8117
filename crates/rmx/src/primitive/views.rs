//! Layout primitives: views that share their input's buffer (reshape, transpose, broadcast,
//! slice, as_strided) and the copies that change layout or dtype (astype, contiguous,
//! concatenate).

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::copy::{astype, copy_strided, to_row_major};
use crate::error::{Error, Result};
use crate::shape::{broadcast_strides, row_major_strides};
use crate::storage::{alloc_output, Storage};
use std::sync::Arc;

/// Same elements, new shape: a view when the strides allow it, else a copy.
#[derive(Debug)]
pub struct Reshape;

impl Primitive for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let s = x.storage()?;
        let storage = match reshape_strides(x.shape(), &s.strides, out.shape()) {
            Some(strides) => s.view(strides, s.offset),
            None => {
                let copy = to_row_major(&s, x.shape(), x.dtype())?;
                copy.view(row_major_strides(out.shape()), copy.offset)
            }
        };
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![crate::reshape_to(&cotangents[0], inputs[0].shape())?])
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let mut shape = vec![x.shape()[0]];
        shape.extend(outputs[0].shape());
        super::rules::batched_front(crate::reshape_to(&x, &shape)?)
    }
}

/// Strides that view `strides` over `shape` as `new_shape` without a copy, if any exist.
pub(crate) fn reshape_strides(shape: &[usize], strides: &[isize], new_shape: &[usize]) -> Option<Vec<isize>> {
    if crate::shape::numel(shape) == 0 {
        return Some(row_major_strides(new_shape));
    }
    // Drop size-1 dims of the input; match groups of old dims to groups of new dims with equal
    // products, each old group being contiguous within itself.
    let old: Vec<(usize, isize)> = shape.iter().zip(strides).filter(|(&d, _)| d != 1).map(|(&d, &s)| (d, s)).collect();
    let mut out = vec![0isize; new_shape.len()];
    let (mut oi, mut ni) = (0usize, 0usize);
    while ni < new_shape.len() {
        if new_shape[ni] == 1 {
            out[ni] = 1;
            ni += 1;
            continue;
        }
        let (mut op, mut np) = (old.get(oi)?.0, new_shape[ni]);
        let (o_start, n_start) = (oi, ni);
        while op != np {
            if op < np {
                oi += 1;
                op *= old.get(oi)?.0;
            } else {
                ni += 1;
                np *= new_shape.get(ni)?;
            }
        }
        for k in o_start..oi {
            if old[k].1 != old[k + 1].1 * old[k + 1].0 as isize {
                return None;
            }
        }
        let mut stride = old[oi].1;
        for k in (n_start..=ni).rev() {
            out[k] = stride;
            stride *= new_shape[k] as isize;
        }
        oi += 1;
        ni += 1;
    }
    Some(out)
}

/// Permutes the axes.
#[derive(Debug)]
pub struct Transpose(pub Vec<usize>);

impl Primitive for Transpose {
    fn name(&self) -> &'static str {
        "transpose"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let s = inputs[0].storage()?;
        let strides = self.0.iter().map(|&p| s.strides[p]).collect();
        outputs[0].set_storage(s.view(strides, s.offset));
        Ok(())
    }

    fn vjp(&self, _: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let mut inverse = vec![0isize; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inverse[p] = i as isize;
        }
        Ok(vec![crate::transpose(&cotangents[0], Some(&inverse))?])
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let perm: Vec<isize> = std::iter::once(0).chain(self.0.iter().map(|&p| p as isize + 1)).collect();
        super::rules::batched_front(crate::transpose(&x, Some(&perm))?)
    }
}

/// Broadcasts to the output shape with zero strides.
#[derive(Debug)]
pub struct Broadcast;

impl Primitive for Broadcast {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let s = inputs[0].storage()?;
        let strides = broadcast_strides(inputs[0].shape(), &s.strides, outputs[0].shape());
        outputs[0].set_storage(s.view(strides, s.offset));
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![super::rules::sum_to_shape(&cotangents[0], inputs[0].shape())?])
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let (x, size) = super::rules::align_elementwise(inputs, outputs[0].ndim())?;
        let mut shape = vec![size];
        shape.extend(outputs[0].shape());
        super::rules::batched_front(crate::broadcast_to(&x[0], &shape)?)
    }
}

/// Strided slice: per axis a start index and a (possibly negative) step; the output shape
/// gives the count.
#[derive(Debug)]
pub struct Slice {
    pub starts: Vec<usize>,
    pub steps: Vec<isize>,
}

impl Primitive for Slice {
    fn name(&self) -> &'static str {
        "slice"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let s = inputs[0].storage()?;
        let out = &outputs[0];
        if out.size() == 0 {
            out.set_storage(s.view(row_major_strides(out.shape()), s.offset));
            return Ok(());
        }
        let offset = s.offset as isize + self.starts.iter().zip(&s.strides).map(|(&start, &stride)| start as isize * stride).sum::<isize>();
        let strides = s.strides.iter().zip(&self.steps).map(|(&st, &step)| st * step).collect();
        out.set_storage(s.view(strides, offset as usize));
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        // The cotangent lands in the window the slice read; zeros elsewhere.
        let x = &inputs[0];
        let update = SliceUpdate { starts: self.starts.clone(), steps: self.steps.clone() };
        Ok(vec![Array::from_primitive(x.shape().to_vec(), x.dtype(), Arc::new(update), vec![crate::zeros_like(x)?, cotangents[0].clone()])])
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let size = x.shape()[0];
        let shifted = Slice {
            starts: [0].into_iter().chain(self.starts.iter().copied()).collect(),
            steps: [1].into_iter().chain(self.steps.iter().copied()).collect(),
        };
        super::rules::batched_front(super::rules::batched_node(Arc::new(shifted), vec![x], size, &outputs[0]))
    }
}

/// A view with explicit strides and offset over the row-major elements of the input.
#[derive(Debug)]
pub struct AsStrided {
    pub strides: Vec<isize>,
    pub offset: usize,
}

impl Primitive for AsStrided {
    fn name(&self) -> &'static str {
        "as_strided"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let x = &inputs[0];
        let s = to_row_major(&x.storage()?, x.shape(), x.dtype())?;
        let out = &outputs[0];
        // Bounds: every reachable element must lie inside the input's elements.
        let (mut lo, mut hi) = (self.offset as isize, self.offset as isize);
        for (&d, &st) in out.shape().iter().zip(&self.strides) {
            if d == 0 {
                lo = 0;
                hi = 0;
                break;
            }
            let span = (d as isize - 1) * st;
            if span < 0 {
                lo += span;
            } else {
                hi += span;
            }
        }
        if out.size() > 0 && (lo < 0 || hi >= x.size() as isize) {
            return Err(Error::arg(
                "as_strided",
                format!(
                    "shape {:?} with strides {:?} and offset {} reaches outside the {} elements of the input",
                    out.shape(),
                    self.strides,
                    self.offset,
                    x.size()
                ),
            ));
        }
        out.set_storage(s.view(self.strides.clone(), s.offset + self.offset));
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        // Each output element read one element of the row-major input; overlapping reads
        // (as in im2col) add up.
        let (x, g) = (&inputs[0], &cotangents[0]);
        let nd = outputs[0].ndim();
        let mut offsets = Array::scalar(self.offset as i64);
        for (d, (&size, &stride)) in outputs[0].shape().iter().zip(&self.strides).enumerate() {
            let mut shape = vec![1; nd];
            shape[d] = size;
            let steps = crate::multiply(&crate::arange(0.0, size as f64, 1.0, crate::Dtype::I64)?, stride as i64)?;
            offsets = crate::add(&offsets, &crate::reshape_to(&steps, &shape)?)?;
        }
        let offsets = crate::reshape_to(&crate::broadcast_to(&offsets, outputs[0].shape())?, &[g.size()])?;
        let flat = crate::zeros(&[x.size()], g.dtype())?;
        let summed = crate::at(&flat, &[offsets]).add(&crate::reshape_to(g, &[g.size()])?)?;
        Ok(vec![crate::reshape_to(&summed, x.shape())?])
    }
}

/// Converts elements to the output dtype.
#[derive(Debug)]
pub struct AsType;

impl Primitive for AsType {
    fn name(&self) -> &'static str {
        "astype"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let s = x.storage()?;
        if x.dtype() == out.dtype() {
            out.set_storage(s);
            return Ok(());
        }
        let storage = alloc_output(out.shape(), out.dtype())?;
        astype(&s, x.shape(), x.dtype(), out.dtype(), &storage);
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let x = &inputs[0];
        Ok(vec![if x.dtype().is_inexact() { crate::astype(&cotangents[0], x.dtype())? } else { crate::zeros_like(x)? }])
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        Ok(Some((vec![crate::astype(&inputs[0].0, outputs[0].dtype())?], vec![inputs[0].1])))
    }

    fn fusion(&self) -> Option<crate::compile::program::FusedOp> {
        Some(crate::compile::program::FusedOp::Cast)
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        super::rules::elementwise_shapes(self.name(), inputs)
    }
}

/// A row-major copy (a no-op for data that already is).
#[derive(Debug)]
pub struct Contiguous;

impl Primitive for Contiguous {
    fn name(&self) -> &'static str {
        "contiguous"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let x = &inputs[0];
        outputs[0].set_storage(to_row_major(&x.storage()?, x.shape(), x.dtype())?);
        Ok(())
    }

    fn vjp(&self, _: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![cotangents[0].clone()])
    }

    fn vmap(&self, inputs: &[super::Batched], _: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        Ok(Some((vec![crate::contiguous(&inputs[0].0)?], vec![inputs[0].1])))
    }
}

/// Joins inputs (of the output dtype) along an axis.
#[derive(Debug)]
pub struct Concatenate(pub usize);

impl Primitive for Concatenate {
    fn name(&self) -> &'static str {
        "concatenate"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let out = &outputs[0];
        let storage = alloc_output(out.shape(), out.dtype())?;
        let out_strides = row_major_strides(out.shape());
        let mut offset = 0usize;
        for x in inputs {
            let s = x.storage()?;
            crate::dispatch_dtype!(out.dtype(), T => {
                // SAFETY: the slot of `x` along the axis lies inside the fresh output.
                unsafe {
                    let dst = (storage.ptr::<T>() as *mut T).offset(offset as isize * out_strides[self.0]);
                    copy_strided::<T>(&s, &s.strides, dst, &out_strides, x.shape());
                }
            });
            offset += x.shape()[self.0];
        }
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let g = &cotangents[0];
        let mut starts = vec![0usize; inputs.len()];
        for i in 1..inputs.len() {
            starts[i] = starts[i - 1] + inputs[i - 1].shape()[self.0];
        }
        argnums.iter().map(|&i| window(g, self.0, starts[i], inputs[i].shape()[self.0])).collect()
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        // Every input gets the batch in front (unbatched ones are broadcast along it).
        let size = inputs.iter().find_map(|(x, axis)| axis.map(|a| x.shape()[a])).unwrap_or(1);
        let parts = inputs
            .iter()
            .map(|b| match b.1 {
                Some(_) => super::rules::front(b),
                None => {
                    let mut shape = vec![size];
                    shape.extend(b.0.shape());
                    crate::broadcast_to(&crate::expand_dims(&b.0, &[0])?, &shape)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        super::rules::batched_front(super::rules::batched_node(Arc::new(Concatenate(self.0 + 1)), parts, size, &outputs[0]))
    }
}

/// Writes `update` into a strided window of a copy of `x` (static `slice_update`).
#[derive(Debug)]
pub struct SliceUpdate {
    pub starts: Vec<usize>,
    pub steps: Vec<isize>,
}

impl Primitive for SliceUpdate {
    fn name(&self) -> &'static str {
        "slice_update"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, update, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let base = writable_copy(x)?;
        let su = update.storage()?;
        let strides = row_major_strides(out.shape());
        let window: Vec<isize> = strides.iter().zip(&self.steps).map(|(&s, &step)| s * step).collect();
        let offset: isize = self.starts.iter().zip(&strides).map(|(&i, &s)| i as isize * s).sum();
        // The op broadcast `update` to the window's shape.
        crate::dispatch_dtype!(out.dtype(), T => unsafe {
            // SAFETY: the window lies inside the output (checked when the op was built).
            copy_strided::<T>(&su, &su.strides, (base.ptr::<T>() as *mut T).offset(offset), &window, update.shape());
        });
        out.set_storage(base);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (update, g) = (&inputs[1], &cotangents[0]);
        argnums
            .iter()
            .map(|&i| {
                if i == 0 {
                    // The overwritten window gets no gradient.
                    let cleared = SliceUpdate { starts: self.starts.clone(), steps: self.steps.clone() };
                    Ok(Array::from_primitive(g.shape().to_vec(), g.dtype(), Arc::new(cleared), vec![g.clone(), crate::zeros_like(update)?]))
                } else {
                    let read = Slice { starts: self.starts.clone(), steps: self.steps.clone() };
                    Ok(Array::from_primitive(update.shape().to_vec(), g.dtype(), Arc::new(read), vec![g.clone()]))
                }
            })
            .collect()
    }
}

/// A row-major buffer of `x` that a kernel may overwrite: `x`'s own buffer when nobody else
/// holds it (donation), else a fresh copy.
pub(crate) fn writable_copy(x: &Array) -> Result<Storage> {
    let s = x.storage()?;
    if s.is_row_contiguous(x.shape()) && s.offset == 0 {
        drop(s);
        if let Some(own) = x.take_storage_if_unique() {
            return Ok(own);
        }
    }
    to_row_major_copy(&x.storage()?, x.shape(), x.dtype())
}

/// Always a fresh row-major copy (for outputs that will be written).
pub(crate) fn to_row_major_copy(s: &Storage, shape: &[usize], dtype: crate::dtype::Dtype) -> Result<Storage> {
    let out = alloc_output(shape, dtype)?;
    crate::dispatch_dtype!(dtype, T => unsafe {
        // SAFETY: fresh output of the same shape.
        copy_strided::<T>(s, &s.strides, out.ptr::<T>() as *mut T, &row_major_strides(shape), shape);
    });
    Ok(out)
}

/// `len` entries of `g` along `axis` starting at `start`.
fn window(g: &Array, axis: usize, start: usize, len: usize) -> Result<Array> {
    let nd = g.ndim();
    let mut starts = vec![0isize; nd];
    let mut stops: Vec<isize> = g.shape().iter().map(|&d| d as isize).collect();
    starts[axis] = start as isize;
    stops[axis] = (start + len) as isize;
    crate::slice(g, &starts, &stops, &vec![1; nd])
}
