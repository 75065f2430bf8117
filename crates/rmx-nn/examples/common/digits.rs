//! The bundled 8x8 digits (`data/digits.npz`): a fixed shuffled split into training and
//! test sets, pixels scaled to [0, 1], mini-batches, and the training loop the digit
//! examples share.

use rmx::{Array, Dtype, Result};
use rmx_nn::{losses, optim, Module};

/// Test accuracy and final training loss.
pub struct Report {
    pub test_accuracy: f64,
    pub final_loss: f32,
}

impl Report {
    /// Prints the report of a run that took `seconds`.
    pub fn print(&self, seconds: f64) {
        println!("test accuracy {:.2}%, final batch loss {:.4} ({seconds:.1} s)", self.test_accuracy * 100.0, self.final_loss);
    }
}

/// Trains `model` (images `[B, 8, 8, 1]` → 10 logits through `forward`) with Adam at `lr`
/// and cross entropy on shuffled mini-batches of 64 (epoch `e` shuffled with key
/// `shuffle_seed + e`), then measures test accuracy on the held-out 20%.
pub fn train<M: Module>(
    model: &mut M,
    forward: impl Fn(&M, &Array) -> Result<Array>,
    epochs: usize,
    lr: f64,
    shuffle_seed: u64,
    verbose: bool,
) -> Result<Report> {
    let (train, test) = load(0.2)?;
    let mut opt = optim::Optimizer::new(optim::Adam::default(), lr);
    let batch = 64;
    let mut final_loss = f32::NAN;
    for epoch in 0..epochs {
        let order = rmx::random::permutation(train.len(), Some(&rmx::random::key(shuffle_seed + epoch as u64)))?;
        for start in (0..train.len()).step_by(batch) {
            let end = (start + batch).min(train.len());
            let (x, y) = train.batch(&rmx::slice(&order, &[start as isize], &[end as isize], &[1])?)?;
            let (loss, grads) = rmx_nn::value_and_grad(model, |m| {
                Ok(vec![losses::cross_entropy(&forward(m, &x)?, &y, None, -1, 0.0, losses::Reduction::Mean)?])
            })?;
            opt.update(model, &grads)?;
            rmx_nn::module::eval_parameters(model)?;
            final_loss = loss[0].item::<f32>()?;
        }
        if verbose {
            let acc = test.accuracy(|x| forward(model, x))?;
            println!("epoch {:>2}  loss {final_loss:.4}  test accuracy {:.1}%", epoch + 1, acc * 100.0);
        }
    }
    Ok(Report { test_accuracy: test.accuracy(|x| forward(model, x))?, final_loss })
}

/// Images `[N, 8, 8, 1]` (f32, 0..1) and labels `[N]` (i32).
pub struct Split {
    pub images: Array,
    pub labels: Array,
}

/// (train, test): the last `test_fraction` of a seeded permutation is the test set.
pub fn load(test_fraction: f64) -> Result<(Split, Split)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits.npz");
    let arrays = rmx::io::load_npz(path)?;
    let n = arrays["labels"].size();
    let order = rmx::random::permutation(n, Some(&rmx::random::key(1234)))?;
    let images = rmx::divide(&rmx::astype(&rmx::reshape(&arrays["images"], &[n as isize, 8, 8, 1])?, Dtype::F32)?, 16.0)?;
    let labels = rmx::astype(&arrays["labels"], Dtype::I32)?;
    let (images, labels) = (rmx::take(&images, &order, Some(0))?, rmx::take(&labels, &order, Some(0))?);
    let n_test = (n as f64 * test_fraction).round() as isize;
    let cut = n as isize - n_test;
    let part = |a: &Array, lo: isize, hi: isize| -> Result<Array> {
        let mut starts = vec![0; a.ndim()];
        let mut stops: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
        (starts[0], stops[0]) = (lo, hi);
        rmx::contiguous(&rmx::slice(a, &starts, &stops, &vec![1; a.ndim()])?)
    };
    let train = Split { images: part(&images, 0, cut)?, labels: part(&labels, 0, cut)? };
    let test = Split { images: part(&images, cut, n as isize)?, labels: part(&labels, cut, n as isize)? };
    Ok((train, test))
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.size()
    }

    /// The examples at `indices` (an i32/u32 array).
    pub fn batch(&self, indices: &Array) -> Result<(Array, Array)> {
        Ok((rmx::take(&self.images, indices, Some(0))?, rmx::take(&self.labels, indices, Some(0))?))
    }

    /// Fraction of examples whose arg-max prediction equals the label.
    pub fn accuracy(&self, predict: impl Fn(&Array) -> Result<Array>) -> Result<f64> {
        let logits = predict(&self.images)?;
        let hits = rmx::sum(
            &rmx::equal(&rmx::argmax(&logits, Some(-1), false)?, &rmx::astype(&self.labels, Dtype::U32)?)?,
            rmx::Axes::All,
            false,
        )?;
        Ok(rmx::astype(&hits, Dtype::F64)?.item::<f64>()? / self.len() as f64)
    }
}
