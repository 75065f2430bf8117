//! `Sequential`: layers applied in order, named `layers.0`, `layers.1`, ... as in MLX.

use crate::module::{Module, Slot, SlotMut, Visit};
use crate::visit;
use rmx::{Array, Result};

/// A module with one input and one output, so it can sit in a [`Sequential`].
pub trait Layer: Module {
    fn forward(&self, x: &Array) -> Result<Array>;
}

macro_rules! layer {
    ($($ty:ty),*) => {$(
        impl Layer for $ty {
            fn forward(&self, x: &Array) -> Result<Array> {
                <$ty>::forward(self, x)
            }
        }
    )*};
}

use crate::layers::{activations, conv, dropout, embedding, linear, normalization, pooling};
layer!(
    linear::Identity,
    linear::Linear,
    activations::Activation,
    activations::PReLU,
    dropout::Dropout,
    embedding::Embedding,
    normalization::RMSNorm,
    normalization::LayerNorm,
    normalization::GroupNorm,
    normalization::InstanceNorm,
    conv::Conv,
    conv::ConvTranspose,
    pooling::Pool
);

impl Visit for Box<dyn Layer> {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        (**self).visit(path, f);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        (**self).visit_mut(path, f);
    }
}

/// Applies its layers in order.
///
/// ```
/// use rmx_nn::{activations, Activation, Linear, Module, Sequential};
/// let mlp = Sequential::new()
///     .push(Linear::new(4, 8, true)?)
///     .push(Activation::new(activations::relu))
///     .push(Linear::new(8, 2, true)?);
/// assert!(mlp.parameters().contains_key("layers.2.weight"));
/// assert_eq!(mlp.forward(&rmx::ones(&[3, 4], rmx::Dtype::F32)?)?.shape(), &[3, 2]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Layer>>,
}
visit!(Sequential { layers });
impl Module for Sequential {}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a layer.
    pub fn push(mut self, layer: impl Layer + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        self.layers.iter().try_fold(x.clone(), |h, layer| layer.forward(&h))
    }
}

impl Layer for Sequential {
    fn forward(&self, x: &Array) -> Result<Array> {
        Sequential::forward(self, x)
    }
}
