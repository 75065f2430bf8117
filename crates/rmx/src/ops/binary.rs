//! Element-wise functions of two arrays (with broadcasting and weak scalars), `where`,
//! `clip`, `divmod` and the closeness predicates.

use super::scalar::{resolve_one, resolve_pair, IntoOperand};
use crate::array::Array;
use crate::dtype::{promote_types, Dtype};
use crate::error::{Error, Result};
use crate::primitive::binary::{Binary, BinaryOp, DivMod, Select};
use crate::shape::broadcast_shapes_for;
use std::sync::Arc;

/// Builds a `Binary` node: resolves scalars, promotes, broadcasts.
pub(crate) fn binary(op: BinaryOp, a: impl IntoOperand, b: impl IntoOperand) -> Result<Array> {
    let (a, b) = resolve_pair(op.name(), a.into_operand(), b.into_operand())?;
    let promoted = promote_types(a.dtype(), b.dtype());
    let (input_dtype, out_dtype) = op.dtypes(promoted)?;
    let shape = broadcast_shapes_for(op.name(), a.shape(), b.shape())?;
    let (a, b) = (crate::astype(&a, input_dtype)?, crate::astype(&b, input_dtype)?);
    Ok(Array::from_primitive(shape, out_dtype, Arc::new(Binary(op)), vec![a, b]))
}

macro_rules! binary_fns {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(a: impl IntoOperand, b: impl IntoOperand) -> Result<Array> {
            binary(BinaryOp::$op, a, b)
        }
    )*};
}

binary_fns! {
    /// `a + b` with broadcasting; scalars are weak (they take the array's dtype).
    ///
    /// ```
    /// let a = rmx::Array::from_slice(&[1i8, 2], &[2]).unwrap();
    /// assert_eq!(rmx::add(&a, 1).unwrap().dtype(), rmx::Dtype::I8);
    /// assert_eq!(rmx::add(&a, 1.5).unwrap().dtype(), rmx::Dtype::F32);
    /// assert!(rmx::add(&a, 300).is_err());
    /// ```
    add => Add,
    /// `a - b`.
    subtract => Subtract,
    /// `a * b`.
    multiply => Multiply,
    /// True division; integer inputs give float32.
    divide => Divide,
    /// Division rounded toward negative infinity (integer division by zero gives 0).
    floor_divide => FloorDivide,
    /// Remainder with the sign of the divisor (Python's `%`).
    remainder => Remainder,
    /// `a ** b`.
    power => Power,
    /// Element-wise maximum; NaN wins.
    maximum => Maximum,
    /// Element-wise minimum; NaN wins.
    minimum => Minimum,
    /// `log(e^a + e^b)` without overflow.
    logaddexp => LogAddExp,
    /// Angle of the point `(b, a)`.
    arctan2 => ArcTan2,
    /// `a == b`.
    equal => Equal,
    /// `a != b`.
    not_equal => NotEqual,
    /// `a < b`.
    less => Less,
    /// `a <= b`.
    less_equal => LessEqual,
    /// `a > b`.
    greater => Greater,
    /// `a >= b`.
    greater_equal => GreaterEqual,
    /// Logical and of the inputs as bool.
    logical_and => LogicalAnd,
    /// Logical or of the inputs as bool.
    logical_or => LogicalOr,
    /// Bitwise and (integers and bool).
    bitwise_and => BitwiseAnd,
    /// Bitwise or (integers and bool).
    bitwise_or => BitwiseOr,
    /// Bitwise xor (integers and bool).
    bitwise_xor => BitwiseXor,
    /// `a << b`.
    left_shift => LeftShift,
    /// `a >> b` (arithmetic for signed integers).
    right_shift => RightShift,
}

/// Logical xor of the inputs as bool.
pub fn logical_xor(a: impl IntoOperand, b: impl IntoOperand) -> Result<Array> {
    let (a, b) = resolve_pair("logical_xor", a.into_operand(), b.into_operand())?;
    not_equal(&crate::astype(&a, Dtype::Bool)?, &crate::astype(&b, Dtype::Bool)?)
}

/// `(floor_divide(a, b), remainder(a, b))`.
pub fn divmod(a: impl IntoOperand, b: impl IntoOperand) -> Result<(Array, Array)> {
    let (a, b) = resolve_pair("divmod", a.into_operand(), b.into_operand())?;
    let promoted = promote_types(a.dtype(), b.dtype());
    let (dtype, _) = BinaryOp::FloorDivide.dtypes(promoted)?;
    BinaryOp::Remainder.dtypes(promoted)?;
    let shape = broadcast_shapes_for("divmod", a.shape(), b.shape())?;
    let (a, b) = (crate::astype(&a, dtype)?, crate::astype(&b, dtype)?);
    let mut outs = Array::multi_from_primitive(vec![(shape.clone(), dtype), (shape, dtype)], Arc::new(DivMod), vec![a, b]);
    let r = outs.pop().expect("two outputs");
    let q = outs.pop().expect("two outputs");
    Ok((q, r))
}

/// Picks `x` where `condition` is true and `y` elsewhere, broadcasting all three.
///
/// ```
/// let c = rmx::Array::from_slice(&[true, false], &[2]).unwrap();
/// let r = rmx::where_(&c, 1.0f32, 2.0f32).unwrap();
/// assert_eq!(r.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
/// ```
pub fn where_(condition: impl IntoOperand, x: impl IntoOperand, y: impl IntoOperand) -> Result<Array> {
    let cond = crate::astype(&resolve_one("where", condition.into_operand())?, Dtype::Bool)?;
    let (x, y) = resolve_pair("where", x.into_operand(), y.into_operand())?;
    let dtype = promote_types(x.dtype(), y.dtype());
    let shape = crate::shape::broadcast_many("where", &[cond.shape(), x.shape(), y.shape()])?;
    let (x, y) = (crate::astype(&x, dtype)?, crate::astype(&y, dtype)?);
    Ok(Array::from_primitive(shape, dtype, Arc::new(Select), vec![cond, x, y]))
}

/// Limits values to `[min, max]`; either bound may be omitted.
pub fn clip(a: &Array, min: Option<impl IntoOperand>, max: Option<impl IntoOperand>) -> Result<Array> {
    if min.is_none() && max.is_none() {
        return Err(Error::arg("clip", "at least one of min and max is needed"));
    }
    let mut out = a.clone();
    if let Some(lo) = min {
        out = maximum(&out, lo)?;
    }
    if let Some(hi) = max {
        out = minimum(&out, hi)?;
    }
    Ok(out)
}

/// `|a - b| <= atol + rtol * |b|`, element-wise; `equal_nan` makes NaN equal to NaN.
pub fn isclose(a: &Array, b: &Array, rtol: f64, atol: f64, equal_nan: bool) -> Result<Array> {
    let diff = crate::abs(&subtract(a, b)?)?;
    let tol = add(&multiply(&crate::abs(b)?, rtol)?, atol)?;
    // An infinite `b` makes the tolerance infinite: there only equality counts (infinities
    // are close only to themselves, as in NumPy).
    let close = logical_and(&less_equal(&diff, &tol)?, &crate::isfinite(b)?)?;
    let close = logical_or(&close, &equal(a, b)?)?;
    if equal_nan {
        logical_or(&close, &logical_and(&crate::isnan(a)?, &crate::isnan(b)?)?)
    } else {
        Ok(close)
    }
}

/// True when every element is [`isclose`].
pub fn allclose(a: &Array, b: &Array, rtol: f64, atol: f64, equal_nan: bool) -> Result<Array> {
    crate::all(&isclose(a, b, rtol, atol, equal_nan)?, crate::Axes::All, false)
}

/// True when shapes and all elements are equal.
pub fn array_equal(a: &Array, b: &Array, equal_nan: bool) -> Result<Array> {
    if a.shape() != b.shape() {
        return crate::Scalar::Bool(false).to_array("array_equal", Dtype::Bool);
    }
    let eq = equal(a, b)?;
    let eq = if equal_nan && a.dtype().is_inexact() { logical_or(&eq, &logical_and(&crate::isnan(a)?, &crate::isnan(b)?)?)? } else { eq };
    crate::all(&eq, crate::Axes::All, false)
}
