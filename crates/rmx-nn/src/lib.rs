//! rmx-nn: neural networks on rmx, shaped like `mlx.nn` and `mlx.optimizers` — module
//! trees with MLX's parameter names, layers, losses, initializers, optimizers and
//! schedules, weight files and quantization.
//!
//! ```
//! use rmx_nn::{activations, losses, optim, Activation, Linear, Module, Sequential};
//! let mut mlp = Sequential::new()
//!     .push(Linear::new(2, 16, true)?)
//!     .push(Activation::new(activations::relu))
//!     .push(Linear::new(16, 1, true)?);
//! let mut opt = optim::Optimizer::new(optim::Adam::default(), 0.05);
//! let x = rmx::random::normal(&[64, 2], rmx::Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(0)))?;
//! let y = rmx::sum(&x, -1, true)?;
//! let mut first = None;
//! for _ in 0..50 {
//!     let (loss, grads) = rmx_nn::value_and_grad(&mut mlp, |m| Ok(vec![losses::mse_loss(&m.forward(&x)?, &y, losses::Reduction::Mean)?]))?;
//!     opt.update(&mut mlp, &grads)?;
//!     first.get_or_insert(loss[0].item::<f32>()?);
//!     rmx_nn::module::eval_parameters(&mlp)?;
//! }
//! let last = losses::mse_loss(&mlp.forward(&x)?, &y, losses::Reduction::Mean)?.item::<f32>()?;
//! assert!(last < first.unwrap() / 10.0);
//! # Ok::<(), rmx::Error>(())
//! ```

pub mod init;
pub mod layers;
pub mod losses;
pub mod module;
pub mod optim;
mod utils;

pub use layers::activations::{self, Activation, PReLU};
pub use layers::containers::{Layer, Sequential};
pub use layers::conv::{Conv, ConvOptions, ConvTranspose};
pub use layers::distributed;
pub use layers::dropout::Dropout;
pub use layers::embedding::Embedding;
pub use layers::fully_sharded::{fully_shard, FullyShardedModule};
pub use layers::linear::{Bilinear, Identity, Linear};
pub use layers::normalization::{BatchNorm, GroupNorm, InstanceNorm, LayerNorm, RMSNorm};
pub use layers::pooling::{Pool, PoolKind};
pub use layers::positional::{ALiBi, RoPE, SinusoidalPositionalEncoding};
pub use layers::qq_linear::QQLinear;
pub use layers::quantized::quantize_weight;
pub use layers::recurrent::{GRU, LSTM, RNN};
pub use layers::transformer::{
    MultiHeadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
};
pub use layers::upsample::{Upsample, UpsampleMode};
pub use module::{Module, Param, QuantizeSpec, Slot, SlotMut, Visit};
pub use utils::{checkpoint, load_weights, quantize, quantize_with_inputs, save_weights, update_weights, value_and_grad};
