//! Element-wise functions of one array.

use crate::array::Array;
use crate::error::Result;
use crate::primitive::unary::{Unary, UnaryOp};
use std::sync::Arc;

/// Builds a `Unary` node, converting the input first where the function needs it.
pub(crate) fn unary(op: UnaryOp, a: &Array) -> Result<Array> {
    let (input_dtype, out_dtype) = op.dtypes(a.dtype())?;
    let x = crate::astype(a, input_dtype)?;
    Ok(Array::from_primitive(a.shape().to_vec(), out_dtype, Arc::new(Unary(op)), vec![x]))
}

macro_rules! unary_fns {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(a: &Array) -> Result<Array> {
            unary(UnaryOp::$op, a)
        }
    )*};
}

unary_fns! {
    /// Absolute value (the modulus, as float32, for complex input).
    abs => Abs,
    /// `-a`; errors on bool (use [`logical_not`]).
    negative => Negative,
    /// -1, 0 or 1 by sign (`a / |a|` for complex).
    sign => Sign,
    /// Square root; integers are converted to float32 first, like every transcendental here.
    ///
    /// ```
    /// let a = rmx::Array::from_slice(&[4i32, 9], &[2]).unwrap();
    /// assert_eq!(rmx::sqrt(&a).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
    /// ```
    sqrt => Sqrt,
    /// `1 / sqrt(a)`.
    rsqrt => Rsqrt,
    /// `a * a`.
    square => Square,
    /// `1 / a`.
    reciprocal => Reciprocal,
    /// `e^a`.
    exp => Exp,
    /// `e^a - 1`, accurate near zero.
    expm1 => Expm1,
    /// Natural logarithm.
    log => Log,
    /// Base-2 logarithm.
    log2 => Log2,
    /// Base-10 logarithm.
    log10 => Log10,
    /// `log(1 + a)`, accurate near zero.
    log1p => Log1p,
    /// Sine.
    sin => Sin,
    /// Cosine.
    cos => Cos,
    /// Tangent.
    tan => Tan,
    /// Inverse sine.
    arcsin => ArcSin,
    /// Inverse cosine.
    arccos => ArcCos,
    /// Inverse tangent.
    arctan => ArcTan,
    /// Hyperbolic sine.
    sinh => Sinh,
    /// Hyperbolic cosine.
    cosh => Cosh,
    /// Hyperbolic tangent.
    tanh => Tanh,
    /// Inverse hyperbolic sine.
    arcsinh => ArcSinh,
    /// Inverse hyperbolic cosine.
    arccosh => ArcCosh,
    /// Inverse hyperbolic tangent.
    arctanh => ArcTanh,
    /// Logistic sigmoid `1 / (1 + e^-a)`.
    sigmoid => Sigmoid,
    /// Error function.
    erf => Erf,
    /// Inverse error function.
    erfinv => ErfInv,
    /// Round toward negative infinity.
    floor => Floor,
    /// Round toward positive infinity.
    ceil => Ceil,
    /// Round toward zero.
    trunc => Trunc,
    /// Complex conjugate (identity for real input).
    conj => Conj,
    /// Real part.
    real => Real,
    /// Imaginary part (zeros for real input).
    imag => Imag,
    /// Logical not (input converted to bool).
    logical_not => LogicalNot,
    /// Bitwise not of integers and bools.
    bitwise_invert => BitwiseInvert,
    /// True where NaN.
    isnan => IsNan,
    /// True where +inf or -inf.
    isinf => IsInf,
    /// True where +inf.
    isposinf => IsPosInf,
    /// True where -inf.
    isneginf => IsNegInf,
    /// True where neither inf nor NaN.
    isfinite => IsFinite,
}

/// Alias of [`conj`].
pub fn conjugate(a: &Array) -> Result<Array> {
    conj(a)
}

/// `+a`: returns the array unchanged.
pub fn positive(a: &Array) -> Result<Array> {
    Ok(a.clone())
}

/// Rounds half to even at `decimals` decimal places (negative rounds to tens, hundreds...).
///
/// ```
/// let a = rmx::Array::from_slice(&[0.5f32, 1.5, 2.5, 1.234], &[4]).unwrap();
/// assert_eq!(rmx::round(&a, 0).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 2.0, 2.0, 1.0]);
/// ```
pub fn round(a: &Array, decimals: i32) -> Result<Array> {
    if decimals == 0 || !a.dtype().is_inexact() {
        return unary(UnaryOp::Round, a);
    }
    let scale = 10f64.powi(decimals);
    crate::divide(&unary(UnaryOp::Round, &crate::multiply(a, scale)?)?, scale)
}

/// Radians to degrees.
pub fn degrees(a: &Array) -> Result<Array> {
    crate::multiply(a, 180.0 / std::f64::consts::PI)
}

/// Degrees to radians.
pub fn radians(a: &Array) -> Result<Array> {
    crate::multiply(a, std::f64::consts::PI / 180.0)
}

/// Replaces NaN with `nan`, +inf with `posinf` and -inf with `neginf` (defaults: 0 and the
/// dtype's largest and lowest finite values). Complex numbers get it on their real and
/// imaginary parts separately, as in NumPy (MLX 0.32 rejects them).
pub fn nan_to_num(a: &Array, nan: f64, posinf: Option<f64>, neginf: Option<f64>) -> Result<Array> {
    if a.dtype().is_complex() {
        let re = nan_to_num(&crate::real(a)?, nan, posinf, neginf)?;
        let im = nan_to_num(&crate::imag(a)?, nan, posinf, neginf)?;
        // re + i·im, both finite now (so no 0·inf), and differentiable.
        let i = Array::scalar(num_complex::Complex32::new(0.0, 1.0));
        return crate::add(&crate::astype(&re, a.dtype())?, &crate::multiply(&crate::astype(&im, a.dtype())?, &i)?);
    }
    if !a.dtype().is_float() {
        return Ok(a.clone());
    }
    let info = crate::dtype::finfo(a.dtype())?;
    let x = crate::where_(&isnan(a)?, nan, a)?;
    let x = crate::where_(&isposinf(&x)?, posinf.unwrap_or(info.max), &x)?;
    crate::where_(&isneginf(&x)?, neginf.unwrap_or(info.min), &x)
}
