//! Fits `y = X w + b` to noisy synthetic data with SGD and reports how close the learned
//! weights are to the true ones.
//!
//! Run: `cargo run --release -p rmx-nn --example linear_regression`

use rmx::{Dtype, Result};
use rmx_nn::{losses, optim, Linear, Module};

/// Final training loss and the largest error of a learned weight or bias.
pub struct Report {
    pub final_loss: f32,
    pub max_weight_error: f32,
}

pub fn run(steps: usize, verbose: bool) -> Result<Report> {
    let (n, d) = (512, 8);
    let key = rmx::random::key(7);
    let keys = rmx::random::split(&key, 3)?;
    let k = |i: isize| rmx::squeeze(&rmx::slice(&keys, &[i, 0], &[i + 1, 2], &[1, 1])?, Some(&[0]));
    let true_w = rmx::random::normal(&[1, d], Dtype::F32, 0.0, 1.0, Some(&k(0)?))?;
    let true_b = 0.5f32;
    let x = rmx::random::normal(&[n, d], Dtype::F32, 0.0, 1.0, Some(&k(1)?))?;
    let noise = rmx::random::normal(&[n, 1], Dtype::F32, 0.0, 0.01, Some(&k(2)?))?;
    let y = rmx::add(&rmx::add(&rmx::matmul(&x, &rmx::transpose(&true_w, None)?)?, true_b)?, &noise)?;

    rmx::random::seed(0);
    let mut model = Linear::new(d, 1, true)?;
    let mut opt = optim::Optimizer::new(optim::Sgd::new(0.0), 0.1);
    let mut final_loss = f32::NAN;
    for step in 0..steps {
        let (loss, grads) =
            rmx_nn::value_and_grad(&mut model, |m| Ok(vec![losses::mse_loss(&m.forward(&x)?, &y, losses::Reduction::Mean)?]))?;
        opt.update(&mut model, &grads)?;
        rmx_nn::module::eval_parameters(&model)?;
        final_loss = loss[0].item::<f32>()?;
        if verbose && step % 20 == 0 {
            println!("step {step:>3}  loss {final_loss:.6}");
        }
    }
    let w_err = rmx::max(&rmx::abs(&rmx::subtract(&model.weight.value, &true_w)?)?, rmx::Axes::All, false)?.item::<f32>()?;
    let b_err = (model.parameters()["bias"].to_vec::<f32>()?[0] - true_b).abs();
    Ok(Report { final_loss, max_weight_error: w_err.max(b_err) })
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let report = run(200, true)?;
    println!("final loss {:.6} (noise variance 1e-4), largest weight error {:.4}", report.final_loss, report.max_weight_error);
    Ok(())
}
