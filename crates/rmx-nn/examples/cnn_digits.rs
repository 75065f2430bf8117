//! Trains a small convolutional network (two 3x3 convolutions with max pooling, then a
//! linear classifier) on the bundled 8x8 digits and reports test accuracy.
//!
//! Run: `cargo run --release -p rmx-nn --example cnn_digits`

#[path = "common/digits.rs"]
mod digits;

use rmx::Result;
use rmx_nn::{activations, losses, optim, Activation, Conv, ConvOptions, Linear, Module, Pool, PoolKind, Sequential};

/// Test accuracy and final training loss.
pub struct Report {
    pub test_accuracy: f64,
    pub final_loss: f32,
}

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
    let (train, test) = digits::load(0.2)?;
    let mut net = Cnn::new()?;
    let mut opt = optim::Optimizer::new(optim::Adam::default(), 3e-3);
    let batch = 64;
    let mut final_loss = f32::NAN;
    for epoch in 0..epochs {
        let order = rmx::random::permutation(train.len(), Some(&rmx::random::key(100 + epoch as u64)))?;
        for start in (0..train.len()).step_by(batch) {
            let end = (start + batch).min(train.len());
            let (x, y) = train.batch(&rmx::slice(&order, &[start as isize], &[end as isize], &[1])?)?;
            let (loss, grads) = rmx_nn::value_and_grad(&mut net, |m| {
                Ok(vec![losses::cross_entropy(&m.forward(&x)?, &y, None, -1, 0.0, losses::Reduction::Mean)?])
            })?;
            opt.update(&mut net, &grads)?;
            rmx_nn::module::eval_parameters(&net)?;
            final_loss = loss[0].item::<f32>()?;
        }
        if verbose {
            println!("epoch {:>2}  loss {final_loss:.4}  test accuracy {:.1}%", epoch + 1, test.accuracy(|x| net.forward(x))? * 100.0);
        }
    }
    Ok(Report { test_accuracy: test.accuracy(|x| net.forward(x))?, final_loss })
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let t = std::time::Instant::now();
    let report = run(15, true)?;
    println!(
        "test accuracy {:.2}%, final batch loss {:.4} ({:.1} s)",
        report.test_accuracy * 100.0,
        report.final_loss,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
