//! Optimizers behind one interface ([`ApplyGradients`]) and [`MultiOptimizer`], which
//! routes each parameter to the first optimizer whose filter accepts its name and value
//! (the last optimizer takes the rest), as MLX's `MultiOptimizer`.

use super::{Optimizer, Rule};
use crate::module::Module;
use rmx::{Array, Error, Result};
use std::collections::BTreeMap;

/// What every optimizer does, object-safe so different ones can be mixed.
pub trait ApplyGradients {
    /// New values for the parameters that have gradients.
    fn apply_gradients(&mut self, grads: &BTreeMap<String, Array>, params: &BTreeMap<String, Array>) -> Result<BTreeMap<String, Array>>;
    /// The state as flat named arrays.
    fn state(&self) -> Result<BTreeMap<String, Array>>;
    /// Restores a state saved by [`ApplyGradients::state`].
    fn load_state(&mut self, state: &BTreeMap<String, Array>) -> Result<()>;

    /// Applies one step to `model`'s trainable parameters.
    fn update(&mut self, model: &mut dyn Module, grads: &BTreeMap<String, Array>) -> Result<()> {
        let new = self.apply_gradients(grads, &model.trainable_parameters())?;
        model.update(&new, false)
    }
}

impl<R: Rule> ApplyGradients for Optimizer<R> {
    fn apply_gradients(&mut self, grads: &BTreeMap<String, Array>, params: &BTreeMap<String, Array>) -> Result<BTreeMap<String, Array>> {
        Optimizer::apply_gradients(self, grads, params)
    }
    fn state(&self) -> Result<BTreeMap<String, Array>> {
        Optimizer::state(self)
    }
    fn load_state(&mut self, state: &BTreeMap<String, Array>) -> Result<()> {
        Optimizer::load_state(self, state)
    }
}

/// A parameter filter: its dotted name and value.
pub type Filter = Box<dyn Fn(&str, &Array) -> bool + Send + Sync>;

/// Several optimizers, each for the parameters its filter picks.
///
/// ```
/// use rmx_nn::optim::{self, ApplyGradients, MultiOptimizer, Optimizer};
/// let mut opt = MultiOptimizer::new(
///     vec![Box::new(Optimizer::new(optim::Sgd::new(0.0), 1.0)), Box::new(Optimizer::new(optim::Sgd::new(0.0), 0.0))],
///     vec![Box::new(|name: &str, _: &rmx::Array| name.ends_with("bias"))],
/// )?;
/// let one = || rmx::ones(&[1], rmx::Dtype::F32).unwrap();
/// let params = [("bias".to_string(), one()), ("weight".to_string(), one())].into();
/// let new = opt.apply_gradients(&params, &params)?;
/// assert_eq!((new["bias"].item::<f32>()?, new["weight"].item::<f32>()?), (0.0, 1.0));
/// # Ok::<(), rmx::Error>(())
/// ```
pub struct MultiOptimizer {
    optimizers: Vec<Box<dyn ApplyGradients>>,
    filters: Vec<Filter>,
}

impl MultiOptimizer {
    /// `filters` has one entry fewer than `optimizers`: the last optimizer is the fallback.
    pub fn new(optimizers: Vec<Box<dyn ApplyGradients>>, filters: Vec<Filter>) -> Result<MultiOptimizer> {
        if optimizers.is_empty() || filters.len() + 1 != optimizers.len() {
            return Err(Error::arg(
                "MultiOptimizer",
                format!("{} filters for {} optimizers; need one fewer", filters.len(), optimizers.len()),
            ));
        }
        Ok(MultiOptimizer { optimizers, filters })
    }

    fn route(&self, name: &str, value: &Array) -> usize {
        self.filters.iter().position(|f| f(name, value)).unwrap_or(self.filters.len())
    }
}

impl ApplyGradients for MultiOptimizer {
    fn apply_gradients(&mut self, grads: &BTreeMap<String, Array>, params: &BTreeMap<String, Array>) -> Result<BTreeMap<String, Array>> {
        let mut parts = vec![BTreeMap::new(); self.optimizers.len()];
        for (name, g) in grads {
            parts[self.route(name, g)].insert(name.clone(), g.clone());
        }
        let mut out = BTreeMap::new();
        for (opt, part) in self.optimizers.iter_mut().zip(parts) {
            if !part.is_empty() {
                out.extend(opt.apply_gradients(&part, params)?);
            }
        }
        Ok(out)
    }

    /// Each optimizer's state under `states.<i>.`.
    fn state(&self) -> Result<BTreeMap<String, Array>> {
        let mut out = BTreeMap::new();
        for (i, opt) in self.optimizers.iter().enumerate() {
            out.extend(opt.state()?.into_iter().map(|(k, v)| (format!("states.{i}.{k}"), v)));
        }
        Ok(out)
    }

    fn load_state(&mut self, state: &BTreeMap<String, Array>) -> Result<()> {
        for (i, opt) in self.optimizers.iter_mut().enumerate() {
            let prefix = format!("states.{i}.");
            let part: BTreeMap<String, Array> =
                state.iter().filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v.clone()))).collect();
            opt.load_state(&part)?;
        }
        Ok(())
    }
}
