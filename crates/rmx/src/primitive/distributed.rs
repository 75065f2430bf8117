//! The communication primitives of `rmx::distributed`: `AllReduce`, `AllGather`,
//! `ReduceScatter`, `Send` and `Recv`. Evaluating one talks to the other ranks of its group.
//! Inputs arrive row-contiguous. None is merged by `compile` (each call communicates), and
//! graphs holding one evaluate on the calling thread.

use super::Primitive;
use crate::array::Array;
use crate::distributed::reduce::reducer;
use crate::distributed::{Group, ReduceOp};
use crate::error::{Error, Result};
use crate::storage::alloc_output;

/// `x` reduced element-wise over the group.
#[derive(Debug)]
pub struct AllReduce {
    pub group: Group,
    pub op: ReduceOp,
}

/// Every rank's `x` concatenated along axis 0.
#[derive(Debug)]
pub struct AllGather {
    pub group: Group,
}

/// The group's sum of `x`, this rank's part of axis 0.
#[derive(Debug)]
pub struct ReduceScatter {
    pub group: Group,
}

/// Sends `x` to rank `dst`; the output is `x`.
#[derive(Debug)]
pub struct Send {
    pub group: Group,
    pub dst: usize,
}

/// An array from rank `src` (no inputs).
#[derive(Debug)]
pub struct Recv {
    pub group: Group,
    pub src: usize,
}

/// Calls `f` with the bytes of a row-contiguous input, in place.
fn with_bytes<R>(a: &Array, f: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
    let storage = a.storage()?;
    crate::dispatch_dtype!(a.dtype(), T => {
        // SAFETY: inputs arrive row-contiguous with `a.size()` elements of plain old data.
        let values = unsafe { storage.as_slice::<T>(a.size()) };
        f(unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values)) })
    })
}

/// Allocates `out`, lets `fill` write its bytes, and sets its storage.
fn produce(out: &Array, fill: impl FnOnce(&mut [u8]) -> Result<()>) -> Result<()> {
    let storage = alloc_output(out.shape(), out.dtype())?;
    let len = out.size() * out.dtype().size();
    // SAFETY: a fresh row-major allocation of `len` bytes, not yet shared.
    let bytes = unsafe { std::slice::from_raw_parts_mut(storage.ptr::<u8>() as *mut u8, len) };
    fill(bytes)?;
    out.set_storage(storage);
    Ok(())
}

impl Primitive for AllReduce {
    fn name(&self) -> &'static str {
        match self.op {
            ReduceOp::Sum => "all_sum",
            ReduceOp::Max => "all_max",
            ReduceOp::Min => "all_min",
        }
    }

    fn communicates(&self) -> bool {
        true
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let reduce = reducer(self.name(), inputs[0].dtype(), self.op)?;
        with_bytes(&inputs[0], |local| {
            produce(&outputs[0], |out| {
                out.copy_from_slice(local);
                self.group.comm.all_reduce(out, &reduce)
            })
        })
    }

    /// MLX's rule: the cotangent passes through (each rank differentiates its own copy of
    /// the sum; `sum_gradients`-style helpers add the all-reduce where a model needs it).
    fn vjp(&self, _: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        match self.op {
            ReduceOp::Sum => Ok(vec![cotangents[0].clone()]),
            _ => Err(Error::NotImplemented(format!("vjp of {}", self.name()))),
        }
    }
}

impl Primitive for AllGather {
    fn name(&self) -> &'static str {
        "all_gather"
    }

    fn communicates(&self) -> bool {
        true
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        with_bytes(&inputs[0], |local| produce(&outputs[0], |out| self.group.comm.all_gather(local, out)))
    }

    /// This rank's rows of the cotangent.
    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let rows = inputs[0].shape()[0];
        let start = self.group.rank() * rows;
        let axes_start: Vec<isize> = std::iter::once(start as isize).chain(std::iter::repeat_n(0, inputs[0].ndim() - 1)).collect();
        let mut stop: Vec<isize> = cotangents[0].shape().iter().map(|&d| d as isize).collect();
        stop[0] = (start + rows) as isize;
        let steps = vec![1; stop.len()];
        Ok(vec![crate::slice(&cotangents[0], &axes_start, &stop, &steps)?])
    }
}

impl Primitive for ReduceScatter {
    fn name(&self) -> &'static str {
        "sum_scatter"
    }

    fn communicates(&self) -> bool {
        true
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let reduce = reducer(self.name(), inputs[0].dtype(), ReduceOp::Sum)?;
        // The reduction works in place, on a copy of the input.
        let mut data = with_bytes(&inputs[0], |local| Ok(local.to_vec()))?;
        produce(&outputs[0], |out| self.group.comm.reduce_scatter(&mut data, &reduce, out))
    }

    /// Every rank's cotangent gathered back into the input's rows.
    fn vjp(&self, _: &[Array], cotangents: &[Array], _: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        Ok(vec![crate::distributed::all_gather(&cotangents[0], &self.group)?])
    }
}

impl Primitive for Send {
    fn name(&self) -> &'static str {
        "send"
    }

    fn communicates(&self) -> bool {
        true
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        with_bytes(&inputs[0], |local| self.group.comm.send(local, self.dst))?;
        // The output is the input: share its buffer.
        outputs[0].set_storage(inputs[0].storage()?);
        Ok(())
    }
}

impl Primitive for Recv {
    fn name(&self) -> &'static str {
        "recv"
    }

    fn communicates(&self) -> bool {
        true
    }

    fn eval_cpu(&self, _: &[Array], outputs: &[Array]) -> Result<()> {
        produce(&outputs[0], |out| self.group.comm.recv(out, self.src))
    }
}
