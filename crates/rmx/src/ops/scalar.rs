//! Operands of binary ops: arrays or "weak" scalars.
//!
//! A Rust number passed to an op behaves like a Python scalar in MLX: it takes the dtype of
//! the array it meets (`int8 array + 300` is an error, `float16 array * 2.0` stays float16),
//! except that a float meeting an integer or bool array gives float32, and an int meeting a
//! bool array gives int32. Two scalars give int32 or float32.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::{Error, Result};

/// A Python-like scalar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// An array or a weak scalar.
#[derive(Clone, Debug)]
pub enum Operand {
    Array(Array),
    Scalar(Scalar),
}

/// Anything an op accepts where MLX accepts "array or scalar".
pub trait IntoOperand {
    fn into_operand(self) -> Operand;
}

impl IntoOperand for Array {
    fn into_operand(self) -> Operand {
        Operand::Array(self)
    }
}

impl IntoOperand for &Array {
    fn into_operand(self) -> Operand {
        Operand::Array(self.clone())
    }
}

impl IntoOperand for &&Array {
    fn into_operand(self) -> Operand {
        Operand::Array((*self).clone())
    }
}

impl IntoOperand for Operand {
    fn into_operand(self) -> Operand {
        self
    }
}

impl IntoOperand for bool {
    fn into_operand(self) -> Operand {
        Operand::Scalar(Scalar::Bool(self))
    }
}

macro_rules! int_operand {
    ($($t:ty),*) => {$(
        impl IntoOperand for $t {
            fn into_operand(self) -> Operand {
                Operand::Scalar(Scalar::Int(self as i64))
            }
        }
    )*};
}
int_operand!(i8, i16, i32, i64, u8, u16, u32, isize, usize);

impl IntoOperand for f32 {
    fn into_operand(self) -> Operand {
        Operand::Scalar(Scalar::Float(self as f64))
    }
}

impl IntoOperand for f64 {
    fn into_operand(self) -> Operand {
        Operand::Scalar(Scalar::Float(self))
    }
}

impl Scalar {
    /// The dtype a lone scalar gets.
    pub fn default_dtype(self) -> Dtype {
        match self {
            Scalar::Bool(_) => Dtype::Bool,
            Scalar::Int(_) => Dtype::I32,
            Scalar::Float(_) => Dtype::F32,
        }
    }

    /// The dtype this scalar takes next to an array of `dtype`.
    pub fn weak_dtype(self, dtype: Dtype) -> Dtype {
        match self {
            Scalar::Bool(_) => dtype,
            Scalar::Int(_) if dtype == Dtype::Bool => Dtype::I32,
            Scalar::Int(_) => dtype,
            Scalar::Float(_) if dtype.is_inexact() => dtype,
            Scalar::Float(_) => Dtype::F32,
        }
    }

    /// A 0-d array of `dtype` holding the scalar; an integer that does not fit errors.
    pub fn to_array(self, op: &'static str, dtype: Dtype) -> Result<Array> {
        if let (Scalar::Int(v), true) = (self, dtype.is_integer()) {
            let info = crate::dtype::iinfo(dtype)?;
            if (v as i128) < info.min || (v as i128) > info.max {
                return Err(Error::arg(op, format!("converting {v} to {dtype} would overflow")));
            }
        }
        Ok(crate::dispatch_dtype!(dtype, T => Array::scalar(match self {
            Scalar::Bool(b) => T::from_bool(b),
            Scalar::Int(i) => T::from_i64(i),
            Scalar::Float(f) => T::from_f64(f),
        })))
    }
}

/// Resolves two operands into arrays, applying the weak-scalar rules.
pub(crate) fn resolve_pair(op: &'static str, a: Operand, b: Operand) -> Result<(Array, Array)> {
    match (a, b) {
        (Operand::Array(a), Operand::Array(b)) => Ok((a, b)),
        (Operand::Array(a), Operand::Scalar(s)) => {
            let d = s.weak_dtype(a.dtype());
            let b = s.to_array(op, d)?;
            Ok((a, b))
        }
        (Operand::Scalar(s), Operand::Array(b)) => {
            let d = s.weak_dtype(b.dtype());
            let a = s.to_array(op, d)?;
            Ok((a, b))
        }
        (Operand::Scalar(x), Operand::Scalar(y)) => {
            let d = crate::dtype::promote_types(x.default_dtype(), y.default_dtype());
            Ok((x.to_array(op, d)?, y.to_array(op, d)?))
        }
    }
}

/// An operand as an array on its own (a scalar gets its default dtype).
pub(crate) fn resolve_one(op: &'static str, a: Operand) -> Result<Array> {
    match a {
        Operand::Array(a) => Ok(a),
        Operand::Scalar(s) => s.to_array(op, s.default_dtype()),
    }
}
