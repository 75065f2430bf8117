//! Trains a small convolutional network (two 3x3 convolutions with max pooling, then a
//! linear classifier) on the bundled 8x8 digits and reports test accuracy.
//!
//! Run: `cargo run --release -p rmx-nn --example cnn_digits`

#[path = "common/digits.rs"]
mod digits;

use rmx::Result;
use rmx_nn::{activations, Activation, Conv, ConvOptions, Linear, Module, Pool, PoolKind, Sequential};

pub use digits::Report;

struct Cnn {
    features: Sequential,
    classifier: Linear,
}
rmx_nn::visit!(Cnn { features, classifier });
impl Module for Cnn {}

impl Cnn {
    /// 8x8x1 → conv 16 → pool → 4x4x16 → conv 32 → pool → 2x2x32 → 10 classes.
    fn new() -> Result<Cnn> {
        let conv = |cin, cout| Conv::new(cin, cout, &[3, 3], ConvOptions::uniform(2, 1, 1, 1, 1), true);
        let features = Sequential::new()
            .push(conv(1, 16)?)
            .push(Activation::new(activations::relu))
            .push(Pool::new(PoolKind::Max, &[2, 2], None, &[0, 0])?)
            .push(conv(16, 32)?)
            .push(Activation::new(activations::relu))
            .push(Pool::new(PoolKind::Max, &[2, 2], None, &[0, 0])?);
        Ok(Cnn { features, classifier: Linear::new(2 * 2 * 32, 10, true)? })
    }

    fn forward(&self, x: &rmx::Array) -> Result<rmx::Array> {
        let h = self.features.forward(x)?;
        self.classifier.forward(&rmx::reshape(&h, &[h.shape()[0] as isize, -1])?)
    }
}

pub fn run(epochs: usize, verbose: bool) -> Result<Report> {
    rmx::random::seed(0);
    let mut net = Cnn::new()?;
    digits::train(&mut net, Cnn::forward, epochs, 3e-3, 100, verbose)
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let t = std::time::Instant::now();
    run(15, true)?.print(t.elapsed().as_secs_f64());
    Ok(())
}
