//! Shared test support: loading the NumPy/MLX golden files and running their cases.

#![allow(dead_code)]

pub mod golden;
