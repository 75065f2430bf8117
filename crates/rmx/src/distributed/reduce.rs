//! Element-wise reductions over raw byte buffers for the collectives: sum, max and min in
//! each numeric dtype (half floats through float32, as one rounding per addition).

use crate::dtype::Dtype;
use crate::error::{Error, Result};
use half::{bf16, f16};

/// The reduction of an all-reduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

/// How to combine two buffers of one dtype: `apply(acc, other)` folds `other` into `acc`.
pub(crate) struct Reducer {
    /// Bytes per element (chunks split on element boundaries).
    pub elem: usize,
    pub apply: fn(&mut [u8], &[u8]),
}

/// Element types a collective reduces.
trait Combine: Copy {
    fn sum(self, other: Self) -> Self;
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
}

macro_rules! combine_int {
    ($($t:ty),*) => {$(
        impl Combine for $t {
            fn sum(self, o: Self) -> Self { self.wrapping_add(o) }
            fn max(self, o: Self) -> Self { Ord::max(self, o) }
            fn min(self, o: Self) -> Self { Ord::min(self, o) }
        }
    )*};
}
combine_int!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! combine_float {
    ($($t:ty),*) => {$(
        impl Combine for $t {
            fn sum(self, o: Self) -> Self { self + o }
            // NaN wins, as in MLX's maximum and minimum.
            fn max(self, o: Self) -> Self { if self.is_nan() || self > o { self } else { o } }
            fn min(self, o: Self) -> Self { if self.is_nan() || self < o { self } else { o } }
        }
    )*};
}
combine_float!(f32, f64);

macro_rules! combine_half {
    ($($t:ty),*) => {$(
        impl Combine for $t {
            fn sum(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() + o.to_f32()) }
            fn max(self, o: Self) -> Self { <$t>::from_f32(Combine::max(self.to_f32(), o.to_f32())) }
            fn min(self, o: Self) -> Self { <$t>::from_f32(Combine::min(self.to_f32(), o.to_f32())) }
        }
    )*};
}
combine_half!(f16, bf16);

/// Folds `other` into `acc` element by element (the buffers need not be aligned for `T`).
fn fold<T: Combine, const OP: u8>(acc: &mut [u8], other: &[u8]) {
    let size = std::mem::size_of::<T>();
    for (a, o) in acc.chunks_exact_mut(size).zip(other.chunks_exact(size)) {
        // SAFETY: both chunks hold exactly one `T` (plain old data), read and written unaligned.
        unsafe {
            let (x, y) = ((a.as_ptr() as *const T).read_unaligned(), (o.as_ptr() as *const T).read_unaligned());
            let r = match OP {
                0 => x.sum(y),
                1 => Combine::max(x, y),
                _ => Combine::min(x, y),
            };
            (a.as_mut_ptr() as *mut T).write_unaligned(r);
        }
    }
}

fn for_type<T: Combine>(op: ReduceOp) -> Reducer {
    let apply = match op {
        ReduceOp::Sum => fold::<T, 0>,
        ReduceOp::Max => fold::<T, 1>,
        ReduceOp::Min => fold::<T, 2>,
    };
    Reducer { elem: std::mem::size_of::<T>(), apply }
}

/// The reducer of `op` over `dtype`, or an error naming the collective.
pub(crate) fn reducer(op_name: &'static str, dtype: Dtype, op: ReduceOp) -> Result<Reducer> {
    Ok(match dtype {
        Dtype::I8 => for_type::<i8>(op),
        Dtype::I16 => for_type::<i16>(op),
        Dtype::I32 => for_type::<i32>(op),
        Dtype::I64 => for_type::<i64>(op),
        Dtype::U8 => for_type::<u8>(op),
        Dtype::U16 => for_type::<u16>(op),
        Dtype::U32 => for_type::<u32>(op),
        Dtype::U64 => for_type::<u64>(op),
        Dtype::F16 => for_type::<f16>(op),
        Dtype::BF16 => for_type::<bf16>(op),
        Dtype::F32 => for_type::<f32>(op),
        Dtype::F64 => for_type::<f64>(op),
        other => return Err(Error::dtype_detail(op_name, other, "collectives reduce integer and floating-point arrays")),
    })
}

/// Checks that `op` reduces `dtype`.
pub(crate) fn check(op_name: &'static str, dtype: Dtype, op: ReduceOp) -> Result<()> {
    reducer(op_name, dtype, op).map(|_| ())
}
