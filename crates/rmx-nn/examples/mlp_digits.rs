//! Trains a multi-layer perceptron on the bundled 8x8 handwritten digits (1437 training,
//! 360 test images) with Adam and cross entropy, and reports test accuracy.
//!
//! Run: `cargo run --release -p rmx-nn --example mlp_digits`

#[path = "common/digits.rs"]
mod digits;

use rmx::Result;
use rmx_nn::{activations, losses, optim, Activation, Linear, Sequential};

/// Test accuracy and final training loss.
pub struct Report {
    pub test_accuracy: f64,
    pub final_loss: f32,
}

pub fn run(epochs: usize, verbose: bool) -> Result<Report> {
    rmx::random::seed(0);
    let (train, test) = digits::load(0.2)?;
    let mut model = Sequential::new()
        .push(Linear::new(64, 128, true)?)
        .push(Activation::new(activations::relu))
        .push(Linear::new(128, 128, true)?)
        .push(Activation::new(activations::relu))
        .push(Linear::new(128, 10, true)?);
    let mut opt = optim::Optimizer::new(optim::Adam::default(), 2e-3);
    let flat = |x: &rmx::Array| rmx::reshape(x, &[-1, 64]);
    let batch = 64;
    let mut final_loss = f32::NAN;
    for epoch in 0..epochs {
        let order = rmx::random::permutation(train.len(), Some(&rmx::random::key(epoch as u64)))?;
        for start in (0..train.len()).step_by(batch) {
            let end = (start + batch).min(train.len());
            let idx = rmx::slice(&order, &[start as isize], &[end as isize], &[1])?;
            let (x, y) = train.batch(&idx)?;
            let (loss, grads) = rmx_nn::value_and_grad(&mut model, |m| {
                Ok(vec![losses::cross_entropy(&m.forward(&flat(&x)?)?, &y, None, -1, 0.0, losses::Reduction::Mean)?])
            })?;
            opt.update(&mut model, &grads)?;
            rmx_nn::module::eval_parameters(&model)?;
            final_loss = loss[0].item::<f32>()?;
        }
        if verbose {
            let acc = test.accuracy(|x| model.forward(&flat(x)?))?;
            println!("epoch {:>2}  loss {final_loss:.4}  test accuracy {:.1}%", epoch + 1, acc * 100.0);
        }
    }
    let test_accuracy = test.accuracy(|x| model.forward(&flat(x)?))?;
    Ok(Report { test_accuracy, final_loss })
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let t = std::time::Instant::now();
    let report = run(20, true)?;
    println!(
        "test accuracy {:.2}%, final batch loss {:.4} ({:.1} s)",
        report.test_accuracy * 100.0,
        report.final_loss,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
