//! Kernels, per device. The primitives call into these; nothing here builds graph nodes.

pub mod cpu;
