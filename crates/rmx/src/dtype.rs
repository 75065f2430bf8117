//! Dtypes, their categories, and MLX's type promotion.
//!
//! rmx has MLX's 14 dtypes. Promotion follows the JAX lattice as MLX does
//! (`float16 + bfloat16 -> float32`, `uint64 + int* -> float32`, ints with floats give the float).
//! Python-style "weak" scalars are handled in [`crate::ops::scalar`].

use std::fmt;

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
    C64,
}

/// Abstract dtype categories, as used by [`issubdtype`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    ComplexFloating,
    Floating,
    Inexact,
    SignedInteger,
    UnsignedInteger,
    Integer,
    Number,
    Generic,
}

/// Either a concrete dtype or a category; the arguments of [`issubdtype`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtypeOrCategory {
    Dtype(Dtype),
    Category(Category),
}

impl From<Dtype> for DtypeOrCategory {
    fn from(d: Dtype) -> Self {
        DtypeOrCategory::Dtype(d)
    }
}

impl From<Category> for DtypeOrCategory {
    fn from(c: Category) -> Self {
        DtypeOrCategory::Category(c)
    }
}

/// Every dtype, in MLX's enumeration order.
pub const ALL_DTYPES: [Dtype; 14] = [
    Dtype::Bool,
    Dtype::U8,
    Dtype::U16,
    Dtype::U32,
    Dtype::U64,
    Dtype::I8,
    Dtype::I16,
    Dtype::I32,
    Dtype::I64,
    Dtype::F16,
    Dtype::F32,
    Dtype::F64,
    Dtype::BF16,
    Dtype::C64,
];

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        use Dtype::*;
        match self {
            Bool | U8 | I8 => 1,
            U16 | I16 | F16 | BF16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | C64 => 8,
        }
    }

    /// The NumPy/MLX name (`float32`, `bfloat16`, `bool`...).
    pub fn name(self) -> &'static str {
        use Dtype::*;
        match self {
            Bool => "bool",
            U8 => "uint8",
            U16 => "uint16",
            U32 => "uint32",
            U64 => "uint64",
            I8 => "int8",
            I16 => "int16",
            I32 => "int32",
            I64 => "int64",
            F16 => "float16",
            BF16 => "bfloat16",
            F32 => "float32",
            F64 => "float64",
            C64 => "complex64",
        }
    }

    /// Parses a name produced by [`Dtype::name`].
    pub fn from_name(name: &str) -> Option<Dtype> {
        ALL_DTYPES.into_iter().find(|d| d.name() == name)
    }

    /// True for real floating types (f16, bf16, f32, f64).
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }

    /// True for complex64.
    pub fn is_complex(self) -> bool {
        self == Dtype::C64
    }

    /// Floating or complex.
    pub fn is_inexact(self) -> bool {
        self.is_float() || self.is_complex()
    }

    /// Signed or unsigned integers (not bool).
    pub fn is_integer(self) -> bool {
        self.is_signed_integer() || self.is_unsigned_integer()
    }

    pub fn is_signed_integer(self) -> bool {
        matches!(self, Dtype::I8 | Dtype::I16 | Dtype::I32 | Dtype::I64)
    }

    pub fn is_unsigned_integer(self) -> bool {
        matches!(self, Dtype::U8 | Dtype::U16 | Dtype::U32 | Dtype::U64)
    }

    /// The most specific category this dtype belongs to (bool is `Generic`).
    pub fn category(self) -> Category {
        if self.is_complex() {
            Category::ComplexFloating
        } else if self.is_float() {
            Category::Floating
        } else if self.is_signed_integer() {
            Category::SignedInteger
        } else if self.is_unsigned_integer() {
            Category::UnsignedInteger
        } else {
            Category::Generic
        }
    }

    fn promotion_index(self) -> usize {
        ALL_DTYPES.iter().position(|d| *d == self).unwrap_or(0)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Category {
    fn parent(self) -> Option<Category> {
        use Category::*;
        match self {
            ComplexFloating | Floating => Some(Inexact),
            SignedInteger | UnsignedInteger => Some(Integer),
            Inexact | Integer => Some(Number),
            Number => Some(Generic),
            Generic => None,
        }
    }

    fn contains(self, mut other: Category) -> bool {
        loop {
            if other == self {
                return true;
            }
            match other.parent() {
                Some(p) => other = p,
                None => return false,
            }
        }
    }
}

/// NumPy's `issubdtype`: is `a` the same as, or a member of, `b`?
///
/// ```
/// use rmx::{issubdtype, Category, Dtype};
/// assert!(issubdtype(Dtype::F16, Category::Floating));
/// assert!(issubdtype(Category::Floating, Category::Inexact));
/// assert!(!issubdtype(Dtype::I32, Category::Floating));
/// ```
pub fn issubdtype(a: impl Into<DtypeOrCategory>, b: impl Into<DtypeOrCategory>) -> bool {
    use DtypeOrCategory as D;
    match (a.into(), b.into()) {
        (D::Dtype(a), D::Dtype(b)) => a == b,
        (D::Dtype(_), D::Category(Category::Generic)) => true,
        (D::Dtype(a), D::Category(b)) => b.contains(a.category()) && a.category() != Category::Generic,
        (D::Category(_), D::Dtype(_)) => false,
        (D::Category(a), D::Category(b)) => b.contains(a),
    }
}

/// MLX's `isdtype` (the array API's): whether `dtype` is any of `kinds`, each a dtype name
/// (`"float16"`) or a kind: `"bool"`, `"signed integer"`, `"unsigned integer"`,
/// `"integral"`, `"real floating"`, `"complex floating"`, `"numeric"`.
///
/// ```
/// use rmx::{isdtype, Dtype};
/// assert!(isdtype(Dtype::BF16, &["real floating"])?);
/// assert!(isdtype(Dtype::Bool, &["integral", "bool"])?);
/// assert!(!isdtype(Dtype::C64, &["float32", "real floating"])?);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn isdtype(dtype: Dtype, kinds: &[&str]) -> crate::Result<bool> {
    let mut any = false;
    for &kind in kinds {
        any |= match kind {
            "bool" => dtype == Dtype::Bool,
            "signed integer" => dtype.is_signed_integer(),
            "unsigned integer" => dtype.is_unsigned_integer(),
            "integral" => dtype.is_integer(),
            "real floating" => dtype.is_float(),
            "complex floating" => dtype.is_complex(),
            "numeric" => dtype != Dtype::Bool,
            name => {
                dtype == Dtype::from_name(name).ok_or_else(|| crate::Error::arg("isdtype", format!("unknown data type kind {name:?}")))?
            }
        };
    }
    Ok(any)
}

/// MLX's promotion table, indexed in [`ALL_DTYPES`] order
/// (bool, u8, u16, u32, u64, i8, i16, i32, i64, f16, f32, f64, bf16, c64).
const PROMOTION: [[Dtype; 14]; 14] = {
    use Dtype::*;
    [
        [Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, F32, F64, BF16, C64],
        [U8, U8, U16, U32, U64, I16, I16, I32, I64, F16, F32, F64, BF16, C64],
        [U16, U16, U16, U32, U64, I32, I32, I32, I64, F16, F32, F64, BF16, C64],
        [U32, U32, U32, U32, U64, I64, I64, I64, I64, F16, F32, F64, BF16, C64],
        [U64, U64, U64, U64, U64, F32, F32, F32, F32, F16, F32, F64, BF16, C64],
        [I8, I16, I32, I64, F32, I8, I16, I32, I64, F16, F32, F64, BF16, C64],
        [I16, I16, I32, I64, F32, I16, I16, I32, I64, F16, F32, F64, BF16, C64],
        [I32, I32, I32, I64, F32, I32, I32, I32, I64, F16, F32, F64, BF16, C64],
        [I64, I64, I64, I64, F32, I64, I64, I64, I64, F16, F32, F64, BF16, C64],
        [F16, F16, F16, F16, F16, F16, F16, F16, F16, F16, F32, F64, F32, C64],
        [F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F64, F32, C64],
        [F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, C64],
        [BF16, BF16, BF16, BF16, BF16, BF16, BF16, BF16, BF16, F32, F32, F64, BF16, C64],
        [C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64],
    ]
};

/// The dtype two dtypes promote to (MLX's `promote_types`).
///
/// ```
/// use rmx::{promote_types, Dtype};
/// assert_eq!(promote_types(Dtype::F16, Dtype::BF16), Dtype::F32);
/// assert_eq!(promote_types(Dtype::U32, Dtype::I8), Dtype::I64);
/// ```
pub fn promote_types(a: Dtype, b: Dtype) -> Dtype {
    PROMOTION[a.promotion_index()][b.promotion_index()]
}

/// The promoted dtype of several dtypes; `None` for an empty list.
pub fn result_type(dtypes: &[Dtype]) -> Option<Dtype> {
    dtypes.iter().copied().reduce(promote_types)
}

/// MLX's `can_cast(from, to)`: whether `from` promotes to `to`, so an operation mixing the two
/// yields `to`. Looser than NumPy's "safe" rule for integers into floats (int32 → float32 is
/// allowed, as the promotion table does it) and stricter between the half types
/// (float16 → bfloat16 is not: they promote to float32).
///
/// ```
/// use rmx::{can_cast, Dtype};
/// assert!(can_cast(Dtype::I32, Dtype::F32));
/// assert!(!can_cast(Dtype::F16, Dtype::BF16));
/// assert!(!can_cast(Dtype::U64, Dtype::I64));
/// ```
pub fn can_cast(from: Dtype, to: Dtype) -> bool {
    promote_types(from, to) == to
}

/// Machine limits of a floating dtype (NumPy's `finfo`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finfo {
    pub dtype: Dtype,
    pub bits: usize,
    pub eps: f64,
    pub min: f64,
    pub max: f64,
    /// Smallest positive normal number.
    pub smallest_normal: f64,
}

/// Limits of an integer dtype (NumPy's `iinfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iinfo {
    pub dtype: Dtype,
    pub bits: usize,
    pub min: i128,
    pub max: i128,
}

/// `finfo` of a float or complex dtype (complex64 reports its float32 parts).
///
/// ```
/// let f = rmx::finfo(rmx::Dtype::BF16).unwrap();
/// assert_eq!(f.eps, 0.0078125);
/// ```
pub fn finfo(dtype: Dtype) -> crate::Result<Finfo> {
    let (bits, eps, max, smallest_normal) = match dtype {
        Dtype::F16 => (16, f64::from(half::f16::EPSILON), f64::from(half::f16::MAX), f64::from(half::f16::MIN_POSITIVE)),
        Dtype::BF16 => (16, f64::from(half::bf16::EPSILON), f64::from(half::bf16::MAX), f64::from(half::bf16::MIN_POSITIVE)),
        Dtype::F32 | Dtype::C64 => (32, f32::EPSILON as f64, f32::MAX as f64, f32::MIN_POSITIVE as f64),
        Dtype::F64 => (64, f64::EPSILON, f64::MAX, f64::MIN_POSITIVE),
        _ => return Err(crate::Error::dtype_detail("finfo", dtype, "finfo needs a floating or complex dtype")),
    };
    Ok(Finfo { dtype, bits, eps, min: -max, max, smallest_normal })
}

/// `iinfo` of an integer dtype.
///
/// ```
/// assert_eq!(rmx::iinfo(rmx::Dtype::I8).unwrap().min, -128);
/// ```
pub fn iinfo(dtype: Dtype) -> crate::Result<Iinfo> {
    if !dtype.is_integer() {
        return Err(crate::Error::dtype_detail("iinfo", dtype, "iinfo needs an integer dtype"));
    }
    let bits = dtype.size() * 8;
    let (min, max) = if dtype.is_signed_integer() { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
    Ok(Iinfo { dtype, bits, min, max })
}
