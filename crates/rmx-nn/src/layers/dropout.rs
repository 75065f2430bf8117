//! Dropout: zero elements (`Dropout`) or whole channels (`Dropout2d`, `Dropout3d`) with
//! probability `p` in training mode, scaling the rest by `1/(1-p)`; identity in eval mode.

use crate::module::Module;
use crate::visit;
use rmx::{Array, Error, Result};

/// Which elements share one keep/drop decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Granularity {
    Element,
    /// Channels of `[B, H, W, C]` / `[H, W, C]` inputs.
    Channel2d,
    /// Channels of `[B, D, H, W, C]` / `[D, H, W, C]` inputs.
    Channel3d,
}

/// Dropout with drop probability `p` (MLX's default 0.5).
///
/// ```
/// use rmx_nn::{Dropout, Module};
/// let mut d = Dropout::new(0.5)?;
/// d.train(false);
/// let x = rmx::ones(&[4], rmx::Dtype::F32)?;
/// assert_eq!(d.forward(&x)?.to_vec::<f32>()?, vec![1.0; 4]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    pub p: f64,
    granularity: Granularity,
    training: bool,
}
visit!(Dropout {});

impl Module for Dropout {
    fn set_training_self(&mut self, training: bool) {
        self.training = training;
    }
}

impl Dropout {
    fn with(p: f64, granularity: Granularity) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::arg("Dropout", format!("probability {p} must be in [0, 1)")));
        }
        Ok(Dropout { p, granularity, training: true })
    }

    /// Element-wise dropout.
    pub fn new(p: f64) -> Result<Dropout> {
        Dropout::with(p, Granularity::Element)
    }

    /// Drops whole channels of `[B, H, W, C]` inputs.
    pub fn new_2d(p: f64) -> Result<Dropout> {
        Dropout::with(p, Granularity::Channel2d)
    }

    /// Drops whole channels of `[B, D, H, W, C]` inputs.
    pub fn new_3d(p: f64) -> Result<Dropout> {
        Dropout::with(p, Granularity::Channel3d)
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let mut mask_shape = x.shape().to_vec();
        let spatial = match self.granularity {
            Granularity::Element => 0,
            Granularity::Channel2d => 2,
            Granularity::Channel3d => 3,
        };
        if spatial > 0 {
            let nd = mask_shape.len();
            if nd != spatial + 1 && nd != spatial + 2 {
                return Err(Error::shapes_detail(
                    "Dropout",
                    &[x.shape()],
                    format!("expects {} or {} dimensions", spatial + 1, spatial + 2),
                ));
            }
            mask_shape[nd - 1 - spatial..nd - 1].fill(1);
        }
        let keep = 1.0 - self.p;
        let mask = rmx::random::bernoulli(keep, &mask_shape, None)?;
        rmx::multiply(&rmx::where_(&mask, x, 0.0)?, 1.0 / keep)
    }
}
