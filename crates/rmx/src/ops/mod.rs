//! The public operations, grouped like mlx.core. Each validates its arguments, infers the
//! output shape and dtype, and returns a lazy array; nothing is computed until eval.

pub mod binary;
pub mod contraction;
pub mod conv;
pub mod creation;
pub mod einsum;
pub mod fast;
pub mod fft;
pub mod gathered_mm;
pub mod hadamard;
pub mod index_update;
pub mod indexing;
pub mod layout;
pub mod linalg;
pub mod matmul;
pub mod qqmm;
pub mod quantized;
pub mod random;
pub mod reduce;
pub mod scalar;
pub mod shape;
pub mod sort;
pub mod unary;
pub mod windows;
