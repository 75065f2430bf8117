//! Layers: one file per family, each a plain struct with a `forward` and the
//! [`Module`](crate::Module) tree around its parameters.

pub mod activations;
pub mod containers;
pub mod conv;
pub mod distributed;
pub mod dropout;
pub mod embedding;
pub mod fully_sharded;
pub mod linear;
pub mod normalization;
pub mod pooling;
pub mod positional;
pub mod qq_linear;
pub(crate) mod quantized;
pub mod recurrent;
pub mod transformer;
pub mod upsample;
