//! # rmx
//!
//! Lazy n-dimensional arrays with a NumPy-like API, built on the design of Apple's MLX.
//!
//! Operations build a graph; [`eval`] (or reading data with [`Array::to_vec`]) computes it.
//! Every operation is fallible and returns [`Result`], with errors that name the operation,
//! the shapes and the dtypes involved.
//!
//! ```
//! use rmx::{Array, Dtype};
//! let x = rmx::arange(0.0, 6.0, 1.0, Dtype::F32)?;
//! let x = rmx::reshape(&x, &[2, 3])?;
//! let y = rmx::sum(&rmx::exp(&x)?, 1, false)?;
//! assert_eq!(y.shape(), &[2]);
//! # Ok::<(), rmx::Error>(())
//! ```

mod address_hash;
pub mod array;
pub mod backend;
pub mod compile;
pub mod device;
pub mod distributed;
pub mod dtype;
pub mod element;
pub mod error;
pub mod eval;
pub mod io;
pub mod memory;
pub mod ops;
pub mod primitive;
pub mod shape;
pub mod storage;
mod thread_context;
pub mod transforms;

pub use array::Array;
pub use compile::{compile, compile_enabled, disable_compile, enable_compile, Compiled};
pub use device::{
    default_device, default_stream, device_count, new_stream, set_default_device, set_default_stream, synchronize, with_device,
    with_stream, Device, DeviceType, Stream,
};
pub use dtype::{
    can_cast, finfo, iinfo, isdtype, issubdtype, promote_types, result_type, Category, Dtype, DtypeOrCategory, Finfo, Iinfo, ALL_DTYPES,
};
pub use element::Element;
pub use error::{Error, Result};
pub use eval::{async_eval, eval};
pub use ops::binary::*;
pub use ops::contraction::*;
pub use ops::conv::*;
pub use ops::creation::*;
pub use ops::einsum::*;
pub use ops::fast::*;
pub use ops::fft;
pub use ops::gathered_mm::*;
pub use ops::hadamard::*;
pub use ops::index_update::*;
pub use ops::indexing::*;
pub use ops::layout::*;
pub use ops::linalg;
pub use ops::matmul::*;
pub use ops::qqmm::*;
pub use ops::quantized::*;
pub use ops::random;
pub use ops::reduce::*;
pub use ops::scalar::{IntoOperand, Operand, Scalar};
pub use ops::shape::*;
pub use ops::sort::*;
pub use ops::unary::*;
pub use ops::windows::*;
pub use primitive::indexing::ScatterMode;
pub use shape::broadcast_shapes;
pub use transforms::{
    checkpoint, custom_vjp, depends, grad, hessian, jacfwd, jacrev, jvp, stop_gradient, value_and_grad, value_and_grad_once, vjp, vmap,
};
