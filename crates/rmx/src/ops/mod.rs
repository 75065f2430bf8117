//! The public operations, grouped like mlx.core. Each validates its arguments, infers the
//! output shape and dtype, and returns a lazy array; nothing is computed until eval.

pub mod binary;
pub mod creation;
pub mod matmul;
pub mod reduce;
pub mod scalar;
pub mod shape;
pub mod unary;
