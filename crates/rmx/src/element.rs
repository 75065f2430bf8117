//! The Rust types behind each dtype and the conversions between them.
//!
//! [`Element`] ties a Rust type to its [`Dtype`] and supplies the value conversions `astype`
//! uses: C-style casts (integers wrap, floats truncate toward zero, `!= 0` for bool, the real
//! part for complex to real), each routed through the widest type of the source's kind so that
//! no conversion rounds twice. Out-of-range float to integer conversions, undefined in C,
//! reproduce what MLX computes on x86-64 (see [`cvt_i32`]).

use crate::dtype::Dtype;
use half::{bf16, f16};
use num_complex::Complex32;

/// complex64: two f32.
pub type C64 = Complex32;

/// The kind of a dtype, which picks the lossless path of a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Signed,
    Unsigned,
    Float,
    Complex,
}

/// A Rust type that is the storage of one dtype.
pub trait Element: Copy + Send + Sync + Default + PartialEq + std::fmt::Debug + 'static {
    const DTYPE: Dtype;
    const KIND: Kind;
    fn to_f64(self) -> f64;
    fn to_i64(self) -> i64;
    fn to_u64(self) -> u64;
    fn to_bool(self) -> bool;
    fn to_c64(self) -> C64;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
    fn from_u64(v: u64) -> Self;
    fn from_bool(v: bool) -> Self;
    fn from_c64(v: C64) -> Self;
    /// Float conversions that stay within float32 precision (f16, bf16 and f32 embed
    /// exactly in f32, so going through it rounds once, like going through f64, but fast).
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self.to_f64() as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        Self::from_f64(v as f64)
    }

    /// Converts to another element type with `astype`'s semantics.
    #[inline(always)]
    fn cast<U: Element>(self) -> U {
        match Self::KIND {
            Kind::Bool => U::from_bool(self.to_bool()),
            Kind::Signed => U::from_i64(self.to_i64()),
            Kind::Unsigned => U::from_u64(self.to_u64()),
            Kind::Float if Self::DTYPE != Dtype::F64 && U::KIND == Kind::Float && U::DTYPE != Dtype::F64 => U::from_f32(self.to_f32()),
            Kind::Float => U::from_f64(self.to_f64()),
            Kind::Complex => U::from_c64(self.to_c64()),
        }
    }
}

/// Float to integer as x86's truncating conversion does it (what MLX computes on x86-64):
/// out of range and NaN give the "integer indefinite" value `i32::MIN`.
#[inline(always)]
fn cvt_i32(v: f64) -> i32 {
    if v > -2147483649.0 && v < 2147483648.0 {
        v as i32
    } else {
        i32::MIN
    }
}

/// As [`cvt_i32`] for 64-bit results.
#[inline(always)]
fn cvt_i64(v: f64) -> i64 {
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
        v as i64
    } else {
        i64::MIN
    }
}

/// Float to unsigned 64-bit as C compilers emit it on x86-64.
#[inline(always)]
fn cvt_u64(v: f64) -> u64 {
    const TWO63: f64 = 9.223_372_036_854_776e18;
    if v >= TWO63 {
        (cvt_i64(v - TWO63) as u64).wrapping_add(1 << 63)
    } else {
        cvt_i64(v) as u64
    }
}

trait FromFloat {
    fn from_float(v: f64) -> Self;
}

macro_rules! from_float {
    ($($t:ty => $via:ident),*) => {$(
        impl FromFloat for $t {
            #[inline(always)]
            fn from_float(v: f64) -> Self {
                $via(v) as $t
            }
        }
    )*};
}
from_float!(i8 => cvt_i32, i16 => cvt_i32, i32 => cvt_i32, u8 => cvt_i32, u16 => cvt_i32, i64 => cvt_i64, u32 => cvt_i64, u64 => cvt_u64);

macro_rules! int_element {
    ($t:ty, $dtype:ident, $kind:ident) => {
        impl Element for $t {
            const DTYPE: Dtype = Dtype::$dtype;
            const KIND: Kind = Kind::$kind;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn to_u64(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn to_bool(self) -> bool {
                self != 0
            }
            #[inline(always)]
            fn to_c64(self) -> C64 {
                C64::new(self as f32, 0.0)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                <$t>::from_float(v)
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_u64(v: u64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_bool(v: bool) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_c64(v: C64) -> Self {
                <$t>::from_float(v.re as f64)
            }
        }
    };
}

int_element!(u8, U8, Unsigned);
int_element!(u16, U16, Unsigned);
int_element!(u32, U32, Unsigned);
int_element!(u64, U64, Unsigned);
int_element!(i8, I8, Signed);
int_element!(i16, I16, Signed);
int_element!(i32, I32, Signed);
int_element!(i64, I64, Signed);

macro_rules! float_element {
    ($t:ty, $dtype:ident, $to64:expr, $from64:expr, $to32:expr, $from32:expr) => {
        impl Element for $t {
            const DTYPE: Dtype = Dtype::$dtype;
            const KIND: Kind = Kind::Float;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                $to64(self)
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                $to32(self)
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                $from32(v)
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self.to_f64() as i64
            }
            #[inline(always)]
            fn to_u64(self) -> u64 {
                self.to_f64() as u64
            }
            #[inline(always)]
            fn to_bool(self) -> bool {
                self.to_f64() != 0.0
            }
            #[inline(always)]
            fn to_c64(self) -> C64 {
                C64::new(self.to_f64() as f32, 0.0)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                $from64(v)
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                $from64(v as f64)
            }
            #[inline(always)]
            fn from_u64(v: u64) -> Self {
                $from64(v as f64)
            }
            #[inline(always)]
            fn from_bool(v: bool) -> Self {
                $from64(v as u8 as f64)
            }
            #[inline(always)]
            fn from_c64(v: C64) -> Self {
                $from64(v.re as f64)
            }
        }
    };
}

float_element!(f32, F32, |x: f32| x as f64, |v: f64| v as f32, |x: f32| x, |v: f32| v);
float_element!(f64, F64, |x: f64| x, |v: f64| v, |x: f64| x as f32, |v: f32| v as f64);
float_element!(f16, F16, f64::from, f16::from_f64, f16::to_f32, f16::from_f32);
float_element!(bf16, BF16, f64::from, bf16::from_f64, bf16::to_f32, bf16::from_f32);

impl Element for bool {
    const DTYPE: Dtype = Dtype::Bool;
    const KIND: Kind = Kind::Bool;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn to_u64(self) -> u64 {
        self as u64
    }
    fn to_bool(self) -> bool {
        self
    }
    fn to_c64(self) -> C64 {
        C64::new(self as u8 as f32, 0.0)
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    fn from_u64(v: u64) -> Self {
        v != 0
    }
    fn from_bool(v: bool) -> Self {
        v
    }
    fn from_c64(v: C64) -> Self {
        v.re != 0.0 || v.im != 0.0
    }
}

impl Element for C64 {
    const DTYPE: Dtype = Dtype::C64;
    const KIND: Kind = Kind::Complex;
    fn to_f64(self) -> f64 {
        self.re as f64
    }
    fn to_i64(self) -> i64 {
        self.re as i64
    }
    fn to_u64(self) -> u64 {
        self.re as u64
    }
    fn to_bool(self) -> bool {
        self.re != 0.0 || self.im != 0.0
    }
    fn to_c64(self) -> C64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        C64::new(v as f32, 0.0)
    }
    fn from_i64(v: i64) -> Self {
        C64::new(v as f32, 0.0)
    }
    fn from_u64(v: u64) -> Self {
        C64::new(v as f32, 0.0)
    }
    fn from_bool(v: bool) -> Self {
        C64::new(v as u8 as f32, 0.0)
    }
    fn from_c64(v: C64) -> Self {
        v
    }
}

/// Runs `$body` with the type alias `$T` bound to the Rust type of `$dtype`.
///
/// Used by kernels to monomorphize over every dtype in one place.
#[macro_export]
#[doc(hidden)]
macro_rules! dispatch_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {{
        use $crate::dtype::Dtype as __D;
        match $dtype {
            __D::Bool => {
                type $T = bool;
                $body
            }
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U16 => {
                type $T = u16;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::U64 => {
                type $T = u64;
                $body
            }
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            __D::F16 => {
                type $T = half::f16;
                $body
            }
            __D::BF16 => {
                type $T = half::bf16;
                $body
            }
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
            __D::C64 => {
                type $T = $crate::element::C64;
                $body
            }
        }
    }};
}
