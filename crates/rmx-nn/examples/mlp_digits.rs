//! Trains a multi-layer perceptron on the bundled 8x8 handwritten digits (1437 training,
//! 360 test images) with Adam and cross entropy, and reports test accuracy.
//!
//! Run: `cargo run --release -p rmx-nn --example mlp_digits`

#[path = "common/digits.rs"]
mod digits;

use rmx::Result;
use rmx_nn::{activations, Activation, Linear, Sequential};

pub use digits::Report;

pub fn run(epochs: usize, verbose: bool) -> Result<Report> {
    rmx::random::seed(0);
    let mut model = Sequential::new()
        .push(Linear::new(64, 128, true)?)
        .push(Activation::new(activations::relu))
        .push(Linear::new(128, 128, true)?)
        .push(Activation::new(activations::relu))
        .push(Linear::new(128, 10, true)?);
    digits::train(&mut model, |m, x| m.forward(&rmx::reshape(x, &[-1, 64])?), epochs, 2e-3, 0, verbose)
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let t = std::time::Instant::now();
    run(20, true)?.print(t.elapsed().as_secs_f64());
    Ok(())
}
