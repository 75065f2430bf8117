//! Element-wise functions of two arrays (arithmetic, comparisons, logic, bit operations) and
//! the three-input `select` behind `where`.

use super::rules::{sum_to_shape, zero_cotangents};
use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::elementwise::{map2, map3};
use crate::backend::cpu::math::Real;
use crate::dtype::Dtype;
use crate::element::{Element, C64};
use crate::error::{Error, Result};
use crate::shape::broadcast_strides;
use crate::storage::{alloc_output, Storage};
use half::{bf16, f16};

/// Every two-input element-wise function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    FloorDivide,
    Remainder,
    Power,
    Maximum,
    Minimum,
    LogAddExp,
    ArcTan2,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    LogicalAnd,
    LogicalOr,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    LeftShift,
    RightShift,
}

impl BinaryOp {
    /// Lower-case name as in mlx.core.
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Subtract => "subtract",
            Multiply => "multiply",
            Divide => "divide",
            FloorDivide => "floor_divide",
            Remainder => "remainder",
            Power => "power",
            Maximum => "maximum",
            Minimum => "minimum",
            LogAddExp => "logaddexp",
            ArcTan2 => "arctan2",
            Equal => "equal",
            NotEqual => "not_equal",
            Less => "less",
            LessEqual => "less_equal",
            Greater => "greater",
            GreaterEqual => "greater_equal",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
            BitwiseAnd => "bitwise_and",
            BitwiseOr => "bitwise_or",
            BitwiseXor => "bitwise_xor",
            LeftShift => "left_shift",
            RightShift => "right_shift",
        }
    }

    /// True when the output is bool whatever the inputs are.
    pub(crate) fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Equal | NotEqual | Less | LessEqual | Greater | GreaterEqual | LogicalAnd | LogicalOr)
    }

    /// (dtype both inputs are converted to, output dtype) given the promoted input dtype.
    pub(crate) fn dtypes(self, promoted: Dtype) -> Result<(Dtype, Dtype)> {
        use BinaryOp::*;
        let op = self.name();
        match self {
            LogicalAnd | LogicalOr => Ok((Dtype::Bool, Dtype::Bool)),
            _ if self.is_comparison() => Ok((promoted, Dtype::Bool)),
            BitwiseAnd | BitwiseOr | BitwiseXor | LeftShift | RightShift if promoted.is_inexact() => {
                Err(Error::dtype_detail(op, promoted, "bitwise ops need integer or bool inputs"))
            }
            LeftShift | RightShift if promoted == Dtype::Bool => Ok((Dtype::U8, Dtype::U8)),
            Divide | LogAddExp | ArcTan2 if !promoted.is_inexact() => Ok((Dtype::F32, Dtype::F32)),
            ArcTan2 | LogAddExp | FloorDivide | Remainder | Maximum | Minimum
                if promoted.is_complex() && !matches!(self, Maximum | Minimum) =>
            {
                Err(Error::dtype_detail(op, promoted, "not defined for complex numbers"))
            }
            Subtract | Divide | FloorDivide | Remainder | Power if promoted == Dtype::Bool => {
                Err(Error::dtype_detail(op, promoted, "not defined for bool; convert with astype first"))
            }
            _ => Ok((promoted, promoted)),
        }
    }
}

/// The `Binary` primitive; inputs arrive already converted to one dtype.
#[derive(Debug)]
pub struct Binary(pub BinaryOp);

impl Primitive for Binary {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (a, b, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let shape = out.shape();
        let (sa, sb) = (a.storage()?, b.storage()?);
        let a_strides = broadcast_strides(a.shape(), &sa.strides, shape);
        let b_strides = broadcast_strides(b.shape(), &sb.strides, shape);
        let out_storage = donor(a, &sa, out).or_else(|| donor(b, &sb, out)).map_or_else(|| alloc_output(shape, out.dtype()), Ok)?;
        run(self.0, a.dtype(), (&sa, &a_strides), (&sb, &b_strides), shape, &out_storage)?;
        out.set_storage(out_storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        let (a, b, y, g) = (&inputs[0], &inputs[1], &outputs[0], &cotangents[0]);
        let both = super::rules::adjoint(g, y.dtype().is_complex(), |g| {
            let (ga, gb) = partials(self.0, a, b, y, g)?;
            Ok(vec![ga, gb])
        })?;
        argnums.iter().map(|&i| sum_to_shape(&both[i], inputs[i].shape())).collect()
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        super::rules::vmap_elementwise(std::sync::Arc::new(Binary(self.0)), inputs, outputs)
    }

    fn fusion(&self) -> Option<crate::compile::program::FusedOp> {
        Some(crate::compile::program::FusedOp::Binary(self.0))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        super::rules::elementwise_shapes(self.name(), inputs)
    }
}

/// Cotangents of `a` and `b` at the output shape for `y = op(a, b)`.
fn partials(op: BinaryOp, a: &Array, b: &Array, y: &Array, g: &Array) -> Result<(Array, Array)> {
    use crate::{
        add, divide as div, floor_divide, greater_equal, less, log, multiply as mul, negative as neg, power, sigmoid, square,
        subtract as sub, where_,
    };
    let full = |x: &Array| crate::broadcast_to(x, y.shape());
    Ok(match op {
        BinaryOp::Add => (g.clone(), g.clone()),
        BinaryOp::Subtract => (g.clone(), neg(g)?),
        BinaryOp::Multiply => (mul(g, b)?, mul(g, a)?),
        BinaryOp::Divide => (div(g, b)?, neg(&mul(g, &div(y, b)?)?)?),
        BinaryOp::Power => (mul(&mul(g, b)?, &power(a, &sub(b, 1.0)?)?)?, mul(&mul(g, y)?, &log(a)?)?),
        BinaryOp::Maximum => {
            let first = greater_equal(a, b)?;
            (where_(&first, g, 0.0)?, where_(&first, 0.0, g)?)
        }
        BinaryOp::Minimum => {
            let first = less(b, a)?;
            (where_(&first, 0.0, g)?, where_(&first, g, 0.0)?)
        }
        BinaryOp::LogAddExp => (mul(g, &sigmoid(&sub(a, b)?)?)?, mul(g, &sigmoid(&sub(b, a)?)?)?),
        BinaryOp::ArcTan2 => {
            let r2 = add(&square(a)?, &square(b)?)?;
            (mul(g, &div(b, &r2)?)?, neg(&mul(g, &div(a, &r2)?)?)?)
        }
        BinaryOp::Remainder => (g.clone(), neg(&mul(g, &floor_divide(a, b)?)?)?),
        // Integer-valued, boolean or bitwise results: no gradient flows.
        _ => (crate::zeros_like(&full(a)?)?, crate::zeros_like(&full(b)?)?),
    })
}

/// An input's buffer, when it may be overwritten with the output.
fn donor(input: &Array, storage: &Storage, out: &Array) -> Option<Storage> {
    let fits =
        input.dtype() == out.dtype() && input.shape() == out.shape() && storage.is_row_contiguous(input.shape()) && storage.offset == 0;
    if fits {
        input.take_storage_if_unique()
    } else {
        None
    }
}

type Operand<'a> = (&'a Storage, &'a [isize]);

fn apply<T: Element, O: Element>(a: Operand, b: Operand, shape: &[usize], out: &Storage, f: impl Fn(T, T) -> O + Sync) {
    map2::<T, T, O>(a.0, a.1, b.0, b.1, shape, out.ptr::<O>() as *mut O, f)
}

/// Hands `$apply!(|x, y| expr)` the formula of a float-valued binary op over `x, y: F` with
/// `F: Real`, evaluating to `Some` of what `$apply!` gives, or `None` for comparisons,
/// logical and bit ops. Shared by the unfused kernels and the fused ones of `compile`.
macro_rules! float_binary_formula {
    ($op:expr, $apply:ident) => {{
        use $crate::primitive::binary::BinaryOp as B;
        match $op {
            B::Add => Some($apply!(|x, y| x + y)),
            B::Subtract => Some($apply!(|x, y| x - y)),
            B::Multiply => Some($apply!(|x, y| x * y)),
            B::Divide => Some($apply!(|x, y| x / y)),
            B::FloorDivide => Some($apply!(|x, y| $crate::primitive::binary::float_floor_div(x, y))),
            B::Remainder => Some($apply!(|x, y| $crate::primitive::binary::float_rem(x, y))),
            B::Power => Some($apply!(|x, y| x.powf(y))),
            B::Maximum => Some($apply!(|x, y| $crate::primitive::binary::float_max(x, y))),
            B::Minimum => Some($apply!(|x, y| $crate::primitive::binary::float_min(x, y))),
            B::LogAddExp => Some($apply!(|x, y| $crate::backend::cpu::math::logaddexp(x, y))),
            B::ArcTan2 => Some($apply!(|x, y| x.atan2(y))),
            _ => None,
        }
    }};
}
pub(crate) use float_binary_formula;

macro_rules! on_floats {
    ($dtype:expr, $a:expr, $b:expr, $shape:expr, $out:expr, |$x:ident, $y:ident| $body:expr) => {{
        fn f<F: Real>($x: F, $y: F) -> F {
            $body
        }
        match $dtype {
            Dtype::F32 => apply::<f32, f32>($a, $b, $shape, $out, f::<f32>),
            Dtype::F64 => apply::<f64, f64>($a, $b, $shape, $out, f::<f64>),
            Dtype::F16 => apply::<f16, f16>($a, $b, $shape, $out, |x, y| f16::from_f32(f(x.to_f32(), y.to_f32()))),
            Dtype::BF16 => apply::<bf16, bf16>($a, $b, $shape, $out, |x, y| bf16::from_f32(f(x.to_f32(), y.to_f32()))),
            _ => unreachable!("on_floats called with a non-float dtype"),
        }
    }};
}

macro_rules! on_ints {
    ($dtype:expr, $a:expr, $b:expr, $shape:expr, $out:expr, |$x:ident, $y:ident| $body:expr) => {{
        macro_rules! go {
            ($t:ty) => {
                apply::<$t, $t>($a, $b, $shape, $out, |$x: $t, $y: $t| -> $t { $body })
            };
        }
        match $dtype {
            Dtype::U8 => go!(u8),
            Dtype::U16 => go!(u16),
            Dtype::U32 => go!(u32),
            Dtype::U64 => go!(u64),
            Dtype::I8 => go!(i8),
            Dtype::I16 => go!(i16),
            Dtype::I32 => go!(i32),
            Dtype::I64 => go!(i64),
            _ => unreachable!("on_ints called with a non-integer dtype"),
        }
    }};
}

/// Integer arithmetic that never traps: wrapping, with division by zero giving 0 (NumPy's
/// result) instead of a crash.
trait IntMath: Copy + PartialOrd {
    fn wadd(self, o: Self) -> Self;
    fn wsub(self, o: Self) -> Self;
    fn wmul(self, o: Self) -> Self;
    fn floor_div(self, o: Self) -> Self;
    fn py_rem(self, o: Self) -> Self;
    fn ipow(self, o: Self) -> Self;
    fn shl(self, o: Self) -> Self;
    fn shr(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
}

macro_rules! int_math {
    ($($t:ty),*) => {$(
        impl IntMath for $t {
            #[inline(always)] fn wadd(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)] fn wsub(self, o: Self) -> Self { self.wrapping_sub(o) }
            #[inline(always)] fn wmul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[inline(always)] fn floor_div(self, o: Self) -> Self {
                if o == 0 { return 0; }
                let q = self.wrapping_div(o);
                #[allow(unused_comparisons)]
                let adjust = (self.wrapping_rem(o) != 0) && ((self < 0) != (o < 0));
                if adjust { q.wrapping_sub(1) } else { q }
            }
            #[inline(always)] fn py_rem(self, o: Self) -> Self {
                if o == 0 { return 0; }
                let r = self.wrapping_rem(o);
                #[allow(unused_comparisons)]
                let adjust = r != 0 && ((r < 0) != (o < 0));
                if adjust { r.wrapping_add(o) } else { r }
            }
            #[inline(always)] fn ipow(self, o: Self) -> Self {
                #[allow(unused_comparisons)]
                if o < 0 { return 0; }
                let (mut base, mut exp, mut acc) = (self, o, 1 as $t);
                while exp != 0 {
                    if exp & 1 == 1 { acc = acc.wrapping_mul(base); }
                    base = base.wrapping_mul(base);
                    exp >>= 1;
                }
                acc
            }
            #[inline(always)] fn shl(self, o: Self) -> Self {
                let bits = (std::mem::size_of::<$t>() * 8) as u64;
                if (o as u64) >= bits { 0 } else { self.wrapping_shl(o as u32) }
            }
            #[inline(always)] fn shr(self, o: Self) -> Self {
                let bits = (std::mem::size_of::<$t>() * 8) as u64;
                #[allow(unused_comparisons)]
                if (o as u64) >= bits { if self < 0 { !0 } else { 0 } } else { self.wrapping_shr(o as u32) }
            }
            #[inline(always)] fn and(self, o: Self) -> Self { self & o }
            #[inline(always)] fn or(self, o: Self) -> Self { self | o }
            #[inline(always)] fn xor(self, o: Self) -> Self { self ^ o }
        }
    )*};
}
int_math!(u8, u16, u32, u64, i8, i16, i32, i64);

#[inline(always)]
pub(crate) fn float_floor_div<F: Real>(x: F, y: F) -> F {
    (x / y).floor()
}

#[inline(always)]
pub(crate) fn float_rem<F: Real>(x: F, y: F) -> F {
    let r = x % y;
    if r != F::zero() && ((r < F::zero()) != (y < F::zero())) {
        r + y
    } else {
        r
    }
}

#[inline(always)]
pub(crate) fn float_max<F: Real>(x: F, y: F) -> F {
    if x.is_nan() || x > y {
        x
    } else {
        y
    }
}

#[inline(always)]
pub(crate) fn float_min<F: Real>(x: F, y: F) -> F {
    if x.is_nan() || x < y {
        x
    } else {
        y
    }
}

fn compare<T: Element + PartialOrd>(op: BinaryOp, a: Operand, b: Operand, shape: &[usize], out: &Storage) {
    use BinaryOp::*;
    match op {
        Equal => apply::<T, bool>(a, b, shape, out, |x, y| x == y),
        NotEqual => apply::<T, bool>(a, b, shape, out, |x, y| x != y),
        Less => apply::<T, bool>(a, b, shape, out, |x, y| x < y),
        LessEqual => apply::<T, bool>(a, b, shape, out, |x, y| x <= y),
        Greater => apply::<T, bool>(a, b, shape, out, |x, y| x > y),
        _ => apply::<T, bool>(a, b, shape, out, |x, y| x >= y),
    }
}

fn compare_complex(op: BinaryOp, a: Operand, b: Operand, shape: &[usize], out: &Storage) {
    // Complex numbers order lexicographically (real part, then imaginary), as NumPy does.
    let key = |v: C64| (v.re, v.im);
    use BinaryOp::*;
    match op {
        Equal => apply::<C64, bool>(a, b, shape, out, |x, y| x == y),
        NotEqual => apply::<C64, bool>(a, b, shape, out, |x, y| x != y),
        Less => apply::<C64, bool>(a, b, shape, out, |x, y| key(x) < key(y)),
        LessEqual => apply::<C64, bool>(a, b, shape, out, |x, y| key(x) <= key(y)),
        Greater => apply::<C64, bool>(a, b, shape, out, |x, y| key(x) > key(y)),
        _ => apply::<C64, bool>(a, b, shape, out, |x, y| key(x) >= key(y)),
    }
}

fn run(op: BinaryOp, dtype: Dtype, a: Operand, b: Operand, shape: &[usize], out: &Storage) -> Result<()> {
    use BinaryOp::*;
    if op.is_comparison() {
        match (op, dtype) {
            (LogicalAnd, _) => apply::<bool, bool>(a, b, shape, out, |x, y| x & y),
            (LogicalOr, _) => apply::<bool, bool>(a, b, shape, out, |x, y| x | y),
            (_, Dtype::C64) => compare_complex(op, a, b, shape, out),
            (_, d) => compare_real(op, d, a, b, shape, out),
        }
        return Ok(());
    }
    match dtype {
        Dtype::Bool => match op {
            Add | Maximum | BitwiseOr => apply::<bool, bool>(a, b, shape, out, |x, y| x | y),
            Multiply | Minimum | BitwiseAnd => apply::<bool, bool>(a, b, shape, out, |x, y| x & y),
            BitwiseXor => apply::<bool, bool>(a, b, shape, out, |x, y| x ^ y),
            _ => return Err(Error::dtype(op.name(), dtype)),
        },
        Dtype::C64 => {
            let f: fn(C64, C64) -> C64 = match op {
                Add => |x, y| x + y,
                Subtract => |x, y| x - y,
                Multiply => |x, y| x * y,
                Divide => |x, y| x / y,
                Power => |x, y| if x == C64::new(0.0, 0.0) && y == C64::new(0.0, 0.0) { C64::new(1.0, 0.0) } else { x.powc(y) },
                Maximum => |x, y| if (x.re, x.im) > (y.re, y.im) { x } else { y },
                Minimum => |x, y| if (x.re, x.im) < (y.re, y.im) { x } else { y },
                _ => return Err(Error::dtype(op.name(), dtype)),
            };
            apply::<C64, C64>(a, b, shape, out, f);
        }
        d if d.is_float() => {
            macro_rules! on_storage {
                (|$x:ident, $y:ident| $body:expr) => {
                    on_floats!(d, a, b, shape, out, |$x, $y| $body)
                };
            }
            float_binary_formula!(op, on_storage).ok_or_else(|| Error::dtype(op.name(), dtype))?
        }
        d => match op {
            Add => on_ints!(d, a, b, shape, out, |x, y| x.wadd(y)),
            Subtract => on_ints!(d, a, b, shape, out, |x, y| x.wsub(y)),
            Multiply => on_ints!(d, a, b, shape, out, |x, y| x.wmul(y)),
            FloorDivide | Divide => on_ints!(d, a, b, shape, out, |x, y| x.floor_div(y)),
            Remainder => on_ints!(d, a, b, shape, out, |x, y| x.py_rem(y)),
            Power => on_ints!(d, a, b, shape, out, |x, y| x.ipow(y)),
            Maximum => on_ints!(d, a, b, shape, out, |x, y| if x > y { x } else { y }),
            Minimum => on_ints!(d, a, b, shape, out, |x, y| if x < y { x } else { y }),
            BitwiseAnd => on_ints!(d, a, b, shape, out, |x, y| x.and(y)),
            BitwiseOr => on_ints!(d, a, b, shape, out, |x, y| x.or(y)),
            BitwiseXor => on_ints!(d, a, b, shape, out, |x, y| x.xor(y)),
            LeftShift => on_ints!(d, a, b, shape, out, |x, y| x.shl(y)),
            RightShift => on_ints!(d, a, b, shape, out, |x, y| x.shr(y)),
            _ => return Err(Error::dtype(op.name(), dtype)),
        },
    }
    Ok(())
}

fn compare_real(op: BinaryOp, dtype: Dtype, a: Operand, b: Operand, shape: &[usize], out: &Storage) {
    match dtype {
        Dtype::I64 => compare::<i64>(op, a, b, shape, out),
        Dtype::U64 => compare::<u64>(op, a, b, shape, out),
        Dtype::F16 => compare::<f16>(op, a, b, shape, out),
        Dtype::BF16 => compare::<bf16>(op, a, b, shape, out),
        Dtype::F32 => compare::<f32>(op, a, b, shape, out),
        Dtype::F64 => compare::<f64>(op, a, b, shape, out),
        Dtype::I32 => compare::<i32>(op, a, b, shape, out),
        Dtype::U32 => compare::<u32>(op, a, b, shape, out),
        Dtype::I16 => compare::<i16>(op, a, b, shape, out),
        Dtype::U16 => compare::<u16>(op, a, b, shape, out),
        Dtype::I8 => compare::<i8>(op, a, b, shape, out),
        Dtype::U8 => compare::<u8>(op, a, b, shape, out),
        _ => compare::<bool>(op, a, b, shape, out),
    }
}

/// `divmod`: floor division and remainder from one pass, as two outputs.
#[derive(Debug)]
pub struct DivMod;

impl Primitive for DivMod {
    fn name(&self) -> &'static str {
        "divmod"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let shape = outputs[0].shape();
        let (sa, sb) = (a.storage()?, b.storage()?);
        let a_strides = broadcast_strides(a.shape(), &sa.strides, shape);
        let b_strides = broadcast_strides(b.shape(), &sb.strides, shape);
        for (out, op) in outputs.iter().zip([BinaryOp::FloorDivide, BinaryOp::Remainder]) {
            let storage = alloc_output(shape, out.dtype())?;
            run(op, a.dtype(), (&sa, &a_strides), (&sb, &b_strides), shape, &storage)?;
            out.set_storage(storage);
        }
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], _: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        zero_cotangents(inputs, argnums)
    }
}

/// The `Select` primitive: `where(cond, x, y)`.
#[derive(Debug)]
pub struct Select;

impl Primitive for Select {
    fn name(&self) -> &'static str {
        "where"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let out = &outputs[0];
        let shape = out.shape();
        let storages = inputs.iter().map(|a| a.storage()).collect::<Result<Vec<_>>>()?;
        let strides: Vec<Vec<isize>> = inputs.iter().zip(&storages).map(|(a, s)| broadcast_strides(a.shape(), &s.strides, shape)).collect();
        let out_storage = alloc_output(shape, out.dtype())?;
        crate::dispatch_dtype!(out.dtype(), T => map3::<bool, T, T, T>(
            (&storages[0], &storages[1], &storages[2]),
            [&strides[0], &strides[1], &strides[2]],
            shape,
            out_storage.ptr::<T>() as *mut T,
            |c, x, y| if c { x } else { y },
        ));
        out.set_storage(out_storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], argnums: &[usize], _: &[Array]) -> Result<Vec<Array>> {
        let (cond, g) = (&inputs[0], &cotangents[0]);
        argnums
            .iter()
            .map(|&i| match i {
                0 => crate::zeros_like(cond),
                1 => sum_to_shape(&crate::where_(cond, g, 0.0)?, inputs[1].shape()),
                _ => sum_to_shape(&crate::where_(cond, 0.0, g)?, inputs[2].shape()),
            })
            .collect()
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        super::rules::vmap_elementwise(std::sync::Arc::new(Select), inputs, outputs)
    }

    fn fusion(&self) -> Option<crate::compile::program::FusedOp> {
        Some(crate::compile::program::FusedOp::Select)
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        super::rules::elementwise_shapes(self.name(), inputs)
    }
}
