//! Shared test support: loading the NumPy/MLX golden files and running their cases.

#![allow(dead_code)]

pub mod fft_ops;
pub mod golden;
pub mod linalg_checks;
