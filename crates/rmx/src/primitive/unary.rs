//! Element-wise functions of one array: the `Unary` primitive and its CPU dispatch.

use super::Primitive;
use crate::array::Array;
use crate::backend::cpu::elementwise::{map1, map1_slices};
use crate::backend::cpu::math::{self, SliceKernel};
use crate::dtype::Dtype;
use crate::element::{Element, C64};
use crate::error::{Error, Result};
use crate::storage::{alloc_output, Storage};
use half::{bf16, f16};

/// Every one-input element-wise function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Abs,
    Negative,
    Sign,
    Sqrt,
    Rsqrt,
    Square,
    Reciprocal,
    Exp,
    Expm1,
    Log,
    Log2,
    Log10,
    Log1p,
    Sin,
    Cos,
    Tan,
    ArcSin,
    ArcCos,
    ArcTan,
    Sinh,
    Cosh,
    Tanh,
    ArcSinh,
    ArcCosh,
    ArcTanh,
    Sigmoid,
    Erf,
    ErfInv,
    Floor,
    Ceil,
    Trunc,
    Round,
    Conj,
    Real,
    Imag,
    LogicalNot,
    BitwiseInvert,
    IsNan,
    IsInf,
    IsPosInf,
    IsNegInf,
    IsFinite,
}

impl UnaryOp {
    /// Lower-case name as in mlx.core.
    pub fn name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Abs => "abs",
            Negative => "negative",
            Sign => "sign",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Square => "square",
            Reciprocal => "reciprocal",
            Exp => "exp",
            Expm1 => "expm1",
            Log => "log",
            Log2 => "log2",
            Log10 => "log10",
            Log1p => "log1p",
            Sin => "sin",
            Cos => "cos",
            Tan => "tan",
            ArcSin => "arcsin",
            ArcCos => "arccos",
            ArcTan => "arctan",
            Sinh => "sinh",
            Cosh => "cosh",
            Tanh => "tanh",
            ArcSinh => "arcsinh",
            ArcCosh => "arccosh",
            ArcTanh => "arctanh",
            Sigmoid => "sigmoid",
            Erf => "erf",
            ErfInv => "erfinv",
            Floor => "floor",
            Ceil => "ceil",
            Trunc => "trunc",
            Round => "round",
            Conj => "conj",
            Real => "real",
            Imag => "imag",
            LogicalNot => "logical_not",
            BitwiseInvert => "bitwise_invert",
            IsNan => "isnan",
            IsInf => "isinf",
            IsPosInf => "isposinf",
            IsNegInf => "isneginf",
            IsFinite => "isfinite",
        }
    }

    /// True for functions whose integer inputs are first converted to float32.
    fn needs_float(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Sqrt | Rsqrt
                | Reciprocal
                | Exp
                | Expm1
                | Log
                | Log2
                | Log10
                | Log1p
                | Sin
                | Cos
                | Tan
                | ArcSin
                | ArcCos
                | ArcTan
                | Sinh
                | Cosh
                | Tanh
                | ArcSinh
                | ArcCosh
                | ArcTanh
                | Sigmoid
                | Erf
                | ErfInv
        )
    }

    /// The dtype the input is converted to before the kernel runs, and the output dtype;
    /// or an error when the function is undefined for `dtype`.
    pub(crate) fn dtypes(self, dtype: Dtype) -> Result<(Dtype, Dtype)> {
        use UnaryOp::*;
        let op = self.name();
        let reject = |why: &str| Err(Error::dtype_detail(op, dtype, why.to_string()));
        match self {
            IsNan | IsInf | IsPosInf | IsNegInf | IsFinite => Ok((dtype, Dtype::Bool)),
            LogicalNot => Ok((Dtype::Bool, Dtype::Bool)),
            BitwiseInvert if dtype.is_inexact() => reject("bitwise ops need integer or bool inputs"),
            BitwiseInvert => Ok((dtype, dtype)),
            Real | Imag if dtype.is_complex() => Ok((dtype, Dtype::F32)),
            Real | Imag => Ok((dtype, dtype)),
            Abs if dtype.is_complex() => Ok((dtype, Dtype::F32)),
            Negative if dtype == Dtype::Bool => reject("use logical_not to negate a bool array"),
            Floor | Ceil | Trunc | Round if dtype.is_complex() => reject("not defined for complex numbers"),
            Erf | ErfInv | Sigmoid | Expm1 if dtype.is_complex() => reject("not implemented for complex numbers"),
            _ if self.needs_float() && !dtype.is_inexact() => Ok((Dtype::F32, Dtype::F32)),
            _ => Ok((dtype, dtype)),
        }
    }
}

/// The `Unary` primitive.
#[derive(Debug)]
pub struct Unary(pub UnaryOp);

impl Primitive for Unary {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let x = &inputs[0];
        let out = &outputs[0];
        let shape = x.shape();
        let storage = x.storage()?;
        let donor = (x.dtype() == out.dtype() && storage.is_row_contiguous(shape)).then(|| x.take_storage_if_unique()).flatten();
        let out_storage = match donor {
            Some(s) if s.buffer_len() >= out.nbytes() => s,
            _ => alloc_output(shape, out.dtype())?,
        };
        run(self.0, x.dtype(), out.dtype(), &storage, shape, &out_storage)?;
        out.set_storage(out_storage);
        Ok(())
    }

    fn vjp(&self, inputs: &[Array], cotangents: &[Array], _: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
        let (x, y, g) = (&inputs[0], &outputs[0], &cotangents[0]);
        if x.dtype().is_complex() {
            return Ok(vec![complex_derivative(self.0, x, y, g)?]);
        }
        Ok(vec![derivative(self.0, x, y, g)?])
    }

    fn vmap(&self, inputs: &[super::Batched], outputs: &[Array]) -> Result<Option<super::BatchedOutputs>> {
        super::rules::vmap_elementwise(std::sync::Arc::new(Unary(self.0)), inputs, outputs)
    }

    fn fusion(&self) -> Option<crate::compile::program::FusedOp> {
        Some(crate::compile::program::FusedOp::Unary(self.0))
    }

    fn output_shapes(&self, inputs: &[Array]) -> Option<Result<Vec<Vec<usize>>>> {
        super::rules::elementwise_shapes(self.name(), inputs)
    }
}

/// The cotangent of complex `x` for `y = op(x)` under MLX's adjoint convention: the
/// non-holomorphic ops by their own rules, the holomorphic ones as `g * conj(f'(x))`.
fn complex_derivative(op: UnaryOp, x: &Array, y: &Array, g: &Array) -> Result<Array> {
    let as_complex = |a: &Array| crate::astype(a, Dtype::C64);
    match op {
        // |z| grows along z / |z| (zero at the origin, as MLX's sign).
        UnaryOp::Abs => {
            let zero = crate::equal(y, 0.0)?;
            let direction = crate::where_(&zero, 0.0, &crate::divide(x, y)?)?;
            crate::multiply(&as_complex(g)?, &direction)
        }
        UnaryOp::Real => as_complex(g),
        UnaryOp::Imag => crate::multiply(&as_complex(g)?, Array::scalar(C64::new(0.0, 1.0))),
        UnaryOp::Conj => crate::conj(g),
        _ => crate::conj(&derivative(op, x, y, &crate::conj(g)?)?),
    }
}

/// The cotangent of `x` for `y = op(x)` and output cotangent `g`.
fn derivative(op: UnaryOp, x: &Array, y: &Array, g: &Array) -> Result<Array> {
    use crate::{add, cos, cosh, divide as div, exp, multiply as mul, negative as neg, rsqrt, sign, sin, sinh, square, subtract as sub};
    use std::f64::consts::{LN_10, LN_2, PI};
    Ok(match op {
        UnaryOp::Abs => mul(g, &sign(x)?)?,
        UnaryOp::Negative => neg(g)?,
        UnaryOp::Sqrt => div(g, &mul(y, 2.0)?)?,
        UnaryOp::Rsqrt => mul(&mul(g, -0.5)?, &div(y, x)?)?,
        UnaryOp::Square => mul(g, &mul(x, 2.0)?)?,
        UnaryOp::Reciprocal => neg(&mul(g, &square(y)?)?)?,
        UnaryOp::Exp => mul(g, y)?,
        UnaryOp::Expm1 => mul(g, &add(y, 1.0)?)?,
        UnaryOp::Log => div(g, x)?,
        UnaryOp::Log2 => div(g, &mul(x, LN_2)?)?,
        UnaryOp::Log10 => div(g, &mul(x, LN_10)?)?,
        UnaryOp::Log1p => div(g, &add(x, 1.0)?)?,
        UnaryOp::Sin => mul(g, &cos(x)?)?,
        UnaryOp::Cos => neg(&mul(g, &sin(x)?)?)?,
        UnaryOp::Tan => mul(g, &add(&square(y)?, 1.0)?)?,
        UnaryOp::ArcSin => mul(g, &rsqrt(&sub(1.0, &square(x)?)?)?)?,
        UnaryOp::ArcCos => neg(&mul(g, &rsqrt(&sub(1.0, &square(x)?)?)?)?)?,
        UnaryOp::ArcTan => div(g, &add(&square(x)?, 1.0)?)?,
        UnaryOp::Sinh => mul(g, &cosh(x)?)?,
        UnaryOp::Cosh => mul(g, &sinh(x)?)?,
        UnaryOp::Tanh => mul(g, &sub(1.0, &square(y)?)?)?,
        UnaryOp::ArcSinh => mul(g, &rsqrt(&add(&square(x)?, 1.0)?)?)?,
        // 1 / (sqrt(x - 1) sqrt(x + 1)): the branch of arccosh for complex x too.
        UnaryOp::ArcCosh => div(g, &mul(&crate::sqrt(&sub(x, 1.0)?)?, &crate::sqrt(&add(x, 1.0)?)?)?)?,
        UnaryOp::ArcTanh => div(g, &sub(1.0, &square(x)?)?)?,
        UnaryOp::Sigmoid => mul(g, &mul(y, &sub(1.0, y)?)?)?,
        UnaryOp::Erf => mul(g, &mul(&exp(&neg(&square(x)?)?)?, 2.0 / PI.sqrt())?)?,
        UnaryOp::ErfInv => mul(g, &mul(&exp(&square(y)?)?, PI.sqrt() / 2.0)?)?,
        UnaryOp::Conj => crate::conj(g)?,
        // Of a real input: the identity and zero.
        UnaryOp::Real => g.clone(),
        UnaryOp::Imag => crate::zeros_like(x)?,
        // Piecewise constant, or boolean/integer results: no gradient flows.
        UnaryOp::Sign
        | UnaryOp::Floor
        | UnaryOp::Ceil
        | UnaryOp::Trunc
        | UnaryOp::Round
        | UnaryOp::LogicalNot
        | UnaryOp::BitwiseInvert
        | UnaryOp::IsNan
        | UnaryOp::IsInf
        | UnaryOp::IsPosInf
        | UnaryOp::IsNegInf
        | UnaryOp::IsFinite => crate::zeros_like(x)?,
    })
}

/// Hands `$apply!(|v| expr)` the formula of a float-valued unary op over `v: F` with
/// `F: Real` (f32 or f64; f16/bf16 compute in f32), evaluating to `Some` of what `$apply!`
/// gives, or `None` for ops without one (predicates, logical and bit ops). The unfused
/// kernels and the fused ones of `compile` share these formulas, so they agree bit for bit.
macro_rules! float_unary_formula {
    ($op:expr, $apply:ident) => {{
        use $crate::primitive::unary::UnaryOp as U;
        match $op {
            U::Abs => Some($apply!(|v| v.abs())),
            U::Negative => Some($apply!(|v| -v)),
            U::Sign => Some($apply!(|v| $crate::backend::cpu::math::sign(v))),
            U::Sqrt => Some($apply!(|v| v.sqrt())),
            U::Rsqrt => Some($apply!(|v| F::one() / v.sqrt())),
            U::Square => Some($apply!(|v| v * v)),
            U::Reciprocal => Some($apply!(|v| F::one() / v)),
            U::Exp => Some($apply!(|v| v.fast_exp())),
            U::Expm1 => Some($apply!(|v| v.exp_m1())),
            U::Log => Some($apply!(|v| v.ln())),
            U::Log2 => Some($apply!(|v| v.log2())),
            U::Log10 => Some($apply!(|v| v.log10())),
            U::Log1p => Some($apply!(|v| v.ln_1p())),
            U::Sin => Some($apply!(|v| v.sin())),
            U::Cos => Some($apply!(|v| v.cos())),
            U::Tan => Some($apply!(|v| v.tan())),
            U::ArcSin => Some($apply!(|v| v.asin())),
            U::ArcCos => Some($apply!(|v| v.acos())),
            U::ArcTan => Some($apply!(|v| v.atan())),
            U::Sinh => Some($apply!(|v| v.sinh())),
            U::Cosh => Some($apply!(|v| v.cosh())),
            U::Tanh => Some($apply!(|v| $crate::backend::cpu::math::tanh(v))),
            U::ArcSinh => Some($apply!(|v| v.asinh())),
            U::ArcCosh => Some($apply!(|v| v.acosh())),
            U::ArcTanh => Some($apply!(|v| v.atanh())),
            U::Sigmoid => Some($apply!(|v| $crate::backend::cpu::math::sigmoid(v))),
            U::Erf => Some($apply!(|v| v.erf())),
            U::ErfInv => Some($apply!(|v| v.erfinv())),
            U::Floor => Some($apply!(|v| v.floor())),
            U::Ceil => Some($apply!(|v| v.ceil())),
            U::Trunc => Some($apply!(|v| v.trunc())),
            U::Round => Some($apply!(|v| $crate::backend::cpu::math::round_half_even(v))),
            U::Conj | U::Real => Some($apply!(|v| v)),
            U::Imag => Some($apply!(|_v| F::zero())),
            _ => None,
        }
    }};
}
pub(crate) use float_unary_formula;

macro_rules! on_floats {
    ($dtype:expr, $x:expr, $shape:expr, $out:expr, |$v:ident| $body:expr) => {{
        fn apply<F: math::Real>($v: F) -> F {
            $body
        }
        let (x, shape, out): (&Storage, &[usize], &Storage) = ($x, $shape, $out);
        match $dtype {
            Dtype::F32 => map1::<f32, f32>(x, &x.strides, shape, out.ptr::<f32>() as *mut f32, apply::<f32>),
            Dtype::F64 => map1::<f64, f64>(x, &x.strides, shape, out.ptr::<f64>() as *mut f64, apply::<f64>),
            Dtype::F16 => map1::<f16, f16>(x, &x.strides, shape, out.ptr::<f16>() as *mut f16, |v| f16::from_f32(apply(v.to_f32()))),
            Dtype::BF16 => map1::<bf16, bf16>(x, &x.strides, shape, out.ptr::<bf16>() as *mut bf16, |v| bf16::from_f32(apply(v.to_f32()))),
            _ => unreachable!("on_floats called with a non-float dtype"),
        }
    }};
}

macro_rules! on_ints {
    ($dtype:expr, $x:expr, $shape:expr, $out:expr, |$v:ident| $body:expr) => {{
        let (x, shape, out): (&Storage, &[usize], &Storage) = ($x, $shape, $out);
        macro_rules! go {
            ($t:ty) => {
                map1::<$t, $t>(x, &x.strides, shape, out.ptr::<$t>() as *mut $t, |$v: $t| $body)
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

fn to_bool<T: Element>(x: &Storage, shape: &[usize], out: &Storage, f: impl Fn(T) -> bool + Sync) {
    map1::<T, bool>(x, &x.strides, shape, out.ptr::<bool>() as *mut bool, f)
}

fn float_predicate(op: UnaryOp, dtype: Dtype, x: &Storage, shape: &[usize], out: &Storage) {
    fn test(op: UnaryOp, v: f64) -> bool {
        match op {
            UnaryOp::IsNan => v.is_nan(),
            UnaryOp::IsInf => v.is_infinite(),
            UnaryOp::IsPosInf => v == f64::INFINITY,
            UnaryOp::IsNegInf => v == f64::NEG_INFINITY,
            _ => v.is_finite(),
        }
    }
    match dtype {
        Dtype::C64 => to_bool::<C64>(x, shape, out, |v| match op {
            UnaryOp::IsNan => v.re.is_nan() || v.im.is_nan(),
            UnaryOp::IsInf => v.re.is_infinite() || v.im.is_infinite(),
            UnaryOp::IsFinite => v.re.is_finite() && v.im.is_finite(),
            _ => test(op, v.re as f64),
        }),
        d if d.is_float() => crate::dispatch_dtype!(d, T => to_bool::<T>(x, shape, out, |v| test(op, v.to_f64()))),
        // Integers and bool are always finite and never NaN.
        d => crate::dispatch_dtype!(d, T => to_bool::<T>(x, shape, out, |_v| op == UnaryOp::IsFinite)),
    }
}

fn run(op: UnaryOp, dtype: Dtype, out_dtype: Dtype, x: &Storage, shape: &[usize], out: &Storage) -> Result<()> {
    use UnaryOp::*;
    match op {
        IsNan | IsInf | IsPosInf | IsNegInf | IsFinite => {
            float_predicate(op, dtype, x, shape, out);
            return Ok(());
        }
        LogicalNot => {
            map1::<bool, bool>(x, &x.strides, shape, out.ptr::<bool>() as *mut bool, |v| !v);
            return Ok(());
        }
        _ => {}
    }
    if dtype.is_complex() {
        return run_complex(op, out_dtype, x, shape, out);
    }
    if dtype == Dtype::Bool {
        return match op {
            Abs | Square | Floor | Ceil | Trunc | Round | Conj | Real | Sign => {
                map1::<bool, bool>(x, &x.strides, shape, out.ptr::<bool>() as *mut bool, |v| v);
                Ok(())
            }
            BitwiseInvert => {
                map1::<bool, bool>(x, &x.strides, shape, out.ptr::<bool>() as *mut bool, |v| !v);
                Ok(())
            }
            Imag => {
                map1::<bool, bool>(x, &x.strides, shape, out.ptr::<bool>() as *mut bool, |_| false);
                Ok(())
            }
            _ => Err(Error::dtype(op.name(), dtype)),
        };
    }
    if dtype.is_integer() {
        let signed = dtype.is_signed_integer();
        match op {
            Abs if signed => {
                on_ints!(dtype, x, shape, out, |v| if v.to_i64() < 0 { Element::from_i64(v.to_i64().wrapping_neg()) } else { v })
            }
            Negative => on_ints!(dtype, x, shape, out, |v| Element::from_u64(v.to_u64().wrapping_neg())),
            Sign if signed => on_ints!(dtype, x, shape, out, |v| Element::from_i64(v.to_i64().signum())),
            Sign => on_ints!(dtype, x, shape, out, |v| Element::from_u64((v.to_u64() != 0) as u64)),
            Square => on_ints!(dtype, x, shape, out, |v| Element::from_u64(v.to_u64().wrapping_mul(v.to_u64()))),
            BitwiseInvert => on_ints!(dtype, x, shape, out, |v| Element::from_u64(!v.to_u64())),
            Imag => on_ints!(dtype, x, shape, out, |_v| Element::from_u64(0)),
            Abs | Floor | Ceil | Trunc | Round | Conj | Real => on_ints!(dtype, x, shape, out, |v| v),
            _ => return Err(Error::dtype(op.name(), dtype)),
        }
        return Ok(());
    }
    if dtype != Dtype::F64 {
        if let Some(kernel) = float_unary_slice::<f32>(op) {
            in_single_slices(dtype, x, shape, out, kernel);
            return Ok(());
        }
    }
    macro_rules! on_storage {
        (|$v:ident| $body:expr) => {
            on_floats!(dtype, x, shape, out, |$v| $body)
        };
    }
    float_unary_formula!(op, on_storage).ok_or_else(|| Error::dtype(op.name(), dtype))
}

/// The slice kernel of a float unary op that has one: erf always (its f32 form is
/// vectorized by hand, the scalar one does not vectorize), exp and sigmoid where their f32
/// forms are (see [`crate::backend::cpu::exp`]); `None` for the rest, whose formulas
/// (`float_unary_formula`) loops run directly. The unfused and fused kernels both ask here, so
/// they agree bit for bit.
pub(crate) fn float_unary_slice<F: math::Real>(op: UnaryOp) -> Option<SliceKernel<F>> {
    match op {
        UnaryOp::Erf => Some(F::erf_slice),
        UnaryOp::Exp => F::vector_exp_slice(),
        UnaryOp::Sigmoid => F::vector_sigmoid_slice(),
        _ => None,
    }
}

/// An f32 slice kernel over f32, f16 or bf16 values (f16 and bf16 computed in f32, as every
/// float formula is).
fn in_single_slices(dtype: Dtype, x: &Storage, shape: &[usize], out: &Storage, kernel: SliceKernel<f32>) {
    /// `kernel` over halves: converted to f32 in blocks, and back.
    fn in_single<H: Copy>(x: &[H], out: &mut [H], kernel: SliceKernel<f32>, to: fn(H) -> f32, from: fn(f32) -> H) {
        let (mut xs, mut ys) = ([0.0f32; 64], [0.0f32; 64]);
        for (x, out) in x.chunks(64).zip(out.chunks_mut(64)) {
            for (v, &h) in xs.iter_mut().zip(x) {
                *v = to(h);
            }
            kernel(&xs[..x.len()], &mut ys[..x.len()]);
            for (o, &v) in out.iter_mut().zip(&ys) {
                *o = from(v);
            }
        }
    }
    let s = &x.strides;
    match dtype {
        Dtype::F32 => map1_slices::<f32, f32>(x, s, shape, out.ptr::<f32>() as *mut f32, kernel),
        Dtype::F16 => {
            map1_slices::<f16, f16>(x, s, shape, out.ptr::<f16>() as *mut f16, |x, o| in_single(x, o, kernel, f16::to_f32, f16::from_f32))
        }
        Dtype::BF16 => map1_slices::<bf16, bf16>(x, s, shape, out.ptr::<bf16>() as *mut bf16, |x, o| {
            in_single(x, o, kernel, bf16::to_f32, bf16::from_f32)
        }),
        _ => unreachable!("in_single_slices called with {dtype:?}"),
    }
}

fn run_complex(op: UnaryOp, out_dtype: Dtype, x: &Storage, shape: &[usize], out: &Storage) -> Result<()> {
    use UnaryOp::*;
    let s = &x.strides;
    if out_dtype == Dtype::F32 {
        let po = out.ptr::<f32>() as *mut f32;
        match op {
            Abs => map1::<C64, f32>(x, s, shape, po, |v| v.norm()),
            Real => map1::<C64, f32>(x, s, shape, po, |v| v.re),
            Imag => map1::<C64, f32>(x, s, shape, po, |v| v.im),
            _ => return Err(Error::dtype(op.name(), Dtype::C64)),
        }
        return Ok(());
    }
    let po = out.ptr::<C64>() as *mut C64;
    let f: fn(C64) -> C64 = match op {
        Negative => |v| -v,
        Sign => |v| if v.norm() == 0.0 { C64::new(0.0, 0.0) } else { v / v.norm() },
        Sqrt => |v| v.sqrt(),
        Rsqrt => |v| C64::new(1.0, 0.0) / v.sqrt(),
        Square => |v| v * v,
        Reciprocal => |v| C64::new(1.0, 0.0) / v,
        Exp => |v| v.exp(),
        Log => |v| v.ln(),
        Log2 => |v| v.ln() / std::f32::consts::LN_2,
        Log10 => |v| v.ln() / std::f32::consts::LN_10,
        // ln|1 + z| = ½ log1p(x(2 + x) + y²) keeps the digits of small z.
        Log1p => |v| C64::new(0.5 * (v.re * (2.0 + v.re) + v.im * v.im).ln_1p(), v.im.atan2(1.0 + v.re)),
        Sin => |v| v.sin(),
        Cos => |v| v.cos(),
        Tan => |v| v.tan(),
        ArcSin => |v| v.asin(),
        ArcCos => |v| v.acos(),
        ArcTan => |v| v.atan(),
        Sinh => |v| v.sinh(),
        Cosh => |v| v.cosh(),
        Tanh => |v| v.tanh(),
        ArcSinh => |v| v.asinh(),
        ArcCosh => |v| v.acosh(),
        ArcTanh => |v| v.atanh(),
        Conj => |v| v.conj(),
        _ => return Err(Error::dtype(op.name(), Dtype::C64)),
    };
    map1::<C64, C64>(x, s, shape, po, f);
    Ok(())
}
