//! The bundled 8x8 digits (`data/digits.npz`): a fixed shuffled split into training and
//! test sets, pixels scaled to [0, 1], and mini-batches.

use rmx::{Array, Dtype, Result};

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
