//! Reductions: `Reduce` (sum, prod, max, min, all, any over axes) and `ArgReduce` (argmax,
//! argmin along one axis). Softmax and logsumexp are compositions of these (`ops/reduce.rs`).

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::reduce::{reduce, reduce_contig, Reducer};
use crate::dtype::Dtype;
use crate::element::{Element, C64};
use crate::error::{Error, Result};
use crate::storage::alloc_output;
use half::{bf16, f16};
use std::marker::PhantomData;

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Prod,
    Max,
    Min,
    All,
    Any,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Prod => "prod",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::All => "all",
            ReduceOp::Any => "any",
        }
    }
}

/// Arithmetic on accumulators.
pub trait Acc: Copy + Send + Sync + PartialOrd {
    fn zero() -> Self;
    fn one() -> Self;
    fn lowest() -> Self;
    fn highest() -> Self;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
}

macro_rules! int_acc {
    ($($t:ty),*) => {$(
        impl Acc for $t {
            fn zero() -> Self { 0 }
            fn one() -> Self { 1 }
            fn lowest() -> Self { <$t>::MIN }
            fn highest() -> Self { <$t>::MAX }
            #[inline(always)] fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)] fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[inline(always)] fn is_nan(self) -> bool { false }
        }
    )*};
}
int_acc!(u8, u16, u32, u64, i8, i16, i32, i64);

macro_rules! float_acc {
    ($($t:ty),*) => {$(
        impl Acc for $t {
            fn zero() -> Self { 0.0 }
            fn one() -> Self { 1.0 }
            fn lowest() -> Self { <$t>::NEG_INFINITY }
            fn highest() -> Self { <$t>::INFINITY }
            #[inline(always)] fn add(self, o: Self) -> Self { self + o }
            #[inline(always)] fn mul(self, o: Self) -> Self { self * o }
            #[inline(always)] fn is_nan(self) -> bool { self != self }
        }
    )*};
}
float_acc!(f32, f64);

impl Acc for bool {
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
    fn lowest() -> Self {
        false
    }
    fn highest() -> Self {
        true
    }
    fn add(self, o: Self) -> Self {
        self | o
    }
    fn mul(self, o: Self) -> Self {
        self & o
    }
    fn is_nan(self) -> bool {
        false
    }
}

/// Complex accumulator ordered lexicographically for max/min.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CAcc(C64);

impl PartialOrd for CAcc {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        (self.0.re, self.0.im).partial_cmp(&(o.0.re, o.0.im))
    }
}

impl Acc for CAcc {
    fn zero() -> Self {
        CAcc(C64::new(0.0, 0.0))
    }
    fn one() -> Self {
        CAcc(C64::new(1.0, 0.0))
    }
    fn lowest() -> Self {
        CAcc(C64::new(f32::NEG_INFINITY, f32::NEG_INFINITY))
    }
    fn highest() -> Self {
        CAcc(C64::new(f32::INFINITY, f32::INFINITY))
    }
    fn add(self, o: Self) -> Self {
        CAcc(self.0 + o.0)
    }
    fn mul(self, o: Self) -> Self {
        CAcc(self.0 * o.0)
    }
    fn is_nan(self) -> bool {
        self.0.re.is_nan() || self.0.im.is_nan()
    }
}

/// The accumulator type of an element type (f32 for the half types).
pub trait HasAcc: Element {
    type A: Acc;
    fn to_acc(self) -> Self::A;
    fn from_acc(a: Self::A) -> Self;
    /// The maximum (or minimum) of a contiguous run by a dedicated SIMD loop, NaN if any
    /// element is NaN; `None` where the generic lanes serve.
    fn extreme(xs: &[Self], max: bool) -> Option<Self::A> {
        let _ = (xs, max);
        None
    }
    /// Folds rows into running maxima (minima) by a dedicated SIMD loop; false where the
    /// generic lanes serve.
    fn extreme_rows(acc: &mut [Self::A], srcs: &[&[Self]], max: bool) -> bool {
        let _ = (acc, srcs, max);
        false
    }
    /// Adds the rows `srcs` into the sums `acc` by a dedicated kernel; false if none.
    fn sum_rows(acc: &mut [Self::A], srcs: &[&[Self]]) -> bool {
        let _ = (acc, srcs);
        false
    }
}

macro_rules! same_acc {
    ($($t:ty),*) => {$(
        impl HasAcc for $t {
            type A = $t;
            #[inline(always)] fn to_acc(self) -> $t { self }
            #[inline(always)] fn from_acc(a: $t) -> $t { a }
        }
    )*};
}
same_acc!(u8, u16, u32, u64, i8, i16, i32, i64, f64, bool);

impl HasAcc for f32 {
    type A = f32;
    #[inline(always)]
    fn to_acc(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_acc(a: f32) -> f32 {
        a
    }
    fn extreme(xs: &[f32], max: bool) -> Option<f32> {
        crate::backend::cpu::reduce::extreme_f32(xs, max)
    }
    fn extreme_rows(acc: &mut [f32], srcs: &[&[f32]], max: bool) -> bool {
        crate::backend::cpu::reduce::extreme_rows_f32(acc, srcs, max)
    }
    fn sum_rows(acc: &mut [f32], srcs: &[&[f32]]) -> bool {
        crate::backend::cpu::reduce::sum_rows_f32(acc, srcs)
    }
}

impl HasAcc for f16 {
    type A = f32;
    #[inline(always)]
    fn to_acc(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn from_acc(a: f32) -> Self {
        f16::from_f32(a)
    }
}

impl HasAcc for bf16 {
    type A = f32;
    #[inline(always)]
    fn to_acc(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn from_acc(a: f32) -> Self {
        bf16::from_f32(a)
    }
}

impl HasAcc for C64 {
    type A = CAcc;
    fn to_acc(self) -> CAcc {
        CAcc(self)
    }
    fn from_acc(a: CAcc) -> Self {
        a.0
    }
}

const SUM: u8 = 0;
const PROD: u8 = 1;
const MAX: u8 = 2;
const MIN: u8 = 3;

/// A reducer for one [`ReduceOp`] (a const parameter, so the inner loops see a fixed
/// operation and vectorize) over element type `T`.
pub struct OpReducer<T, const OP: u8> {
    _t: PhantomData<T>,
}

impl<T: HasAcc, const OP: u8> Reducer for OpReducer<T, OP> {
    type In = T;
    type Acc = T::A;
    type Out = T;
    #[inline(always)]
    fn init(&self) -> T::A {
        match OP {
            SUM => T::A::zero(),
            PROD => T::A::one(),
            MAX => T::A::lowest(),
            _ => T::A::highest(),
        }
    }
    #[inline(always)]
    fn step(&self, acc: T::A, x: T) -> T::A {
        self.merge(acc, x.to_acc())
    }
    #[inline(always)]
    fn merge(&self, a: T::A, x: T::A) -> T::A {
        match OP {
            SUM => a.add(x),
            PROD => a.mul(x),
            // Non-short-circuit `|` keeps these branch-free so they vectorize.
            MAX => {
                if (x > a) | x.is_nan() {
                    x
                } else {
                    a
                }
            }
            _ => {
                if (x < a) | x.is_nan() {
                    x
                } else {
                    a
                }
            }
        }
    }
    #[inline(always)]
    fn finish(&self, acc: T::A) -> T {
        T::from_acc(acc)
    }
    fn contiguous(&self, xs: &[T]) -> Option<T::A> {
        match OP {
            MAX => T::extreme(xs, true),
            MIN => T::extreme(xs, false),
            _ => None,
        }
    }
    fn fold_rows(&self, acc: &mut [T::A], srcs: &[&[T]]) -> bool {
        match OP {
            SUM => T::sum_rows(acc, srcs),
            MAX => T::extreme_rows(acc, srcs, true),
            MIN => T::extreme_rows(acc, srcs, false),
            _ => false,
        }
    }
}

/// Binds `$r` to the reducer of `$op` over `$t` (all/any are or/and: sum/prod over bool).
macro_rules! with_reducer {
    ($op:expr, $t:ty, |$r:ident| $body:expr) => {
        match $op {
            ReduceOp::Sum | ReduceOp::Any => {
                let $r = OpReducer::<$t, SUM> { _t: PhantomData };
                $body
            }
            ReduceOp::Prod | ReduceOp::All => {
                let $r = OpReducer::<$t, PROD> { _t: PhantomData };
                $body
            }
            ReduceOp::Max => {
                let $r = OpReducer::<$t, MAX> { _t: PhantomData };
                $body
            }
            ReduceOp::Min => {
                let $r = OpReducer::<$t, MIN> { _t: PhantomData };
                $body
            }
        }
    };
}

/// The value a reduction of `op` starts from (for kernels that reduce runs themselves, such
/// as the fused ones).
pub(crate) fn run_start<T: HasAcc>(op: ReduceOp) -> T::A {
    with_reducer!(op, T, |r| r.init())
}

/// A contiguous run reduced as the `Reduce` kernel reduces it (same lanes, pairwise order,
/// NaN rules and SIMD paths).
pub(crate) fn run_fold<T: HasAcc>(op: ReduceOp, xs: &[T]) -> T::A {
    with_reducer!(op, T, |r| reduce_contig(&r, xs))
}

/// Each of `rows` folded element-wise into `acc`, in order, as the `Reduce` kernel folds a
/// leading axis (same SIMD paths and NaN rules).
pub(crate) fn run_fold_rows<T: HasAcc>(op: ReduceOp, acc: &mut [T::A], rows: &[&[T]]) {
    with_reducer!(op, T, |r| {
        if !r.fold_rows(acc, rows) {
            for row in rows {
                for (a, &x) in acc.iter_mut().zip(*row) {
                    *a = r.step(*a, x);
                }
            }
        }
    })
}

/// Two partial results of `op` merged.
pub(crate) fn run_merge<T: HasAcc>(op: ReduceOp, a: T::A, b: T::A) -> T::A {
    with_reducer!(op, T, |r| r.merge(a, b))
}

/// The `Reduce` primitive. Its input already has the output dtype; `axes` are sorted and the
/// output keeps them as size-1 dimensions.
#[derive(Debug)]
pub struct Reduce {
    pub op: ReduceOp,
    pub axes: Vec<usize>,
}

impl Primitive for Reduce {
    fn name(&self) -> &'static str {
        self.op.name()
    }

    fn reduction(&self) -> Option<(ReduceOp, &[usize])> {
        Some((self.op, &self.axes))
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let s = x.storage()?;
        let storage = alloc_output(out.shape(), out.dtype())?;
        let out_ptr = storage.ptr::<u8>() as *mut u8;
        crate::dispatch_dtype!(x.dtype(), T => {
            let out_ptr = out_ptr as *mut T;
            with_reducer!(self.op, T, |r| reduce(&r, &s, x.shape(), &s.strides, &self.axes, out_ptr))
        });
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        let (x, y, g) = (&inputs[0], &outputs[0], &cotangents[0]);
        let axes: Vec<isize> = self.axes.iter().map(|&a| a as isize).collect();
        Ok(vec![match self.op {
            ReduceOp::Sum => crate::broadcast_to(g, x.shape())?,
            ReduceOp::Max | ReduceOp::Min => {
                // Ties share the gradient equally.
                let hit = crate::astype(&crate::equal(x, y)?, x.dtype())?;
                let count = crate::sum(&hit, axes, true)?;
                crate::multiply(&hit, &crate::divide(g, &count)?)?
            }
            ReduceOp::Prod => {
                let complex = x.dtype().is_complex();
                super::rules::adjoint(g, complex, |g| Ok(vec![prod_vjp(x, &self.axes, g)?]))?.swap_remove(0)
            }
            ReduceOp::All | ReduceOp::Any => crate::zeros_like(x)?,
        }])
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let shifted = Reduce { op: self.op, axes: self.axes.iter().map(|a| a + 1).collect() };
        let size = x.shape()[0];
        super::rules::batched_front(super::rules::batched_node(std::sync::Arc::new(shifted), vec![x], size, &outputs[0]))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        let mut shape = inputs[0].shape().to_vec();
        for &a in &self.axes {
            shape[a] = 1;
        }
        Some(Ok(vec![shape]))
    }
}

/// d prod / d x_i is the product of the other elements; computed with exclusive cumulative
/// products from both ends, so zeros in `x` are handled exactly.
fn prod_vjp(x: &Array, axes: &[usize], g: &Array) -> Result<Array> {
    let kept: Vec<usize> = (0..x.ndim()).filter(|d| !axes.contains(d)).collect();
    let perm: Vec<isize> = kept.iter().chain(axes).map(|&d| d as isize).collect();
    let moved = crate::transpose(x, Some(&perm))?;
    let mut flat: Vec<usize> = kept.iter().map(|&d| x.shape()[d]).collect();
    let moved_shape = moved.shape().to_vec();
    flat.push(axes.iter().map(|&d| x.shape()[d]).product());
    let lines = crate::reshape_to(&moved, &flat)?;
    let before = crate::cumprod(&lines, Some(-1), false, false)?;
    let after = crate::cumprod(&lines, Some(-1), true, false)?;
    let mut g_shape: Vec<usize> = kept.iter().map(|&d| x.shape()[d]).collect();
    g_shape.push(1);
    let grad = crate::multiply(&crate::multiply(&before, &after)?, &crate::reshape_to(g, &g_shape)?)?;
    let mut inverse = vec![0isize; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p as usize] = i as isize;
    }
    crate::transpose(&crate::reshape_to(&grad, &moved_shape)?, Some(&inverse))
}

/// argmax / argmin along one axis; uint32 indices of the first extreme (NaN counts as the
/// extreme, as in NumPy).
#[derive(Debug)]
pub struct ArgReduce {
    pub max: bool,
    pub axis: usize,
}

struct ArgReducer<T> {
    max: bool,
    _t: PhantomData<T>,
}

/// (best value, its index, elements seen so far)
type ArgAcc<A> = (A, u32, u32, bool);

impl<T: HasAcc> Reducer for ArgReducer<T> {
    type In = T;
    type Acc = ArgAcc<T::A>;
    type Out = u32;
    fn init(&self) -> Self::Acc {
        (if self.max { T::A::lowest() } else { T::A::highest() }, 0, 0, false)
    }
    fn step(&self, acc: Self::Acc, x: T) -> Self::Acc {
        let v = x.to_acc();
        let (best, idx, seen, found) = acc;
        let better = !found || (!best.is_nan() && (v.is_nan() || if self.max { v > best } else { v < best }));
        if better {
            (v, seen, seen + 1, true)
        } else {
            (best, idx, seen + 1, found)
        }
    }
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
        // Runs are only reduced sequentially (see ArgReduce::eval_cpu), so `b` continues `a`.
        let (bv, bi, bs, bf) = b;
        if !bf {
            return a;
        }
        let shifted = (bv, bi + a.2, a.2 + bs, true);
        if !a.3 {
            return shifted;
        }
        let better = !a.0.is_nan() && (bv.is_nan() || if self.max { bv > a.0 } else { bv < a.0 });
        if better {
            shifted
        } else {
            (a.0, a.1, a.2 + bs, true)
        }
    }
    fn finish(&self, acc: Self::Acc) -> u32 {
        acc.1
    }
    fn ordered(&self) -> bool {
        true
    }
}

impl Primitive for ArgReduce {
    fn name(&self) -> &'static str {
        if self.max {
            "argmax"
        } else {
            "argmin"
        }
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let s = x.storage()?;
        let storage = alloc_output(out.shape(), Dtype::U32)?;
        if x.shape()[self.axis] == 0 {
            return Err(Error::arg(self.name(), "attempt to get the index of an extreme of an empty sequence"));
        }
        crate::dispatch_dtype!(x.dtype(), T => {
            let r = ArgReducer::<T> { max: self.max, _t: PhantomData };
            reduce(&r, &s, x.shape(), &s.strides, &[self.axis], storage.ptr::<u32>() as *mut u32);
        });
        out.set_storage(storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        super::rules::zero_cotangents(inputs, argnums)
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        let x = super::rules::front(&inputs[0])?;
        let shifted = ArgReduce { max: self.max, axis: self.axis + 1 };
        let size = x.shape()[0];
        super::rules::batched_front(super::rules::batched_node(std::sync::Arc::new(shifted), vec![x], size, &outputs[0]))
    }
}
