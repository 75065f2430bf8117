//! Optimizers: a shared driver ([`Optimizer`]) that keeps the step count, the learning
//! rate schedule and per-parameter state, around an update [`Rule`] per algorithm (MLX's
//! `apply_single`). State is a flat map of arrays (`step`, `learning_rate`,
//! `<param>.<slot>`) that saves and loads with any weight format.
//!
//! A whole training step compiles (`rmx::compile` with explicit state) when the optimizer's
//! state goes through it: [`Optimizer::load_state`] inside the traced function makes the step
//! count a traced input, so bias corrections and schedules read it (see [`PerStep`]).

mod adafactor;
mod multi;
mod muon;
mod per_step;
mod rules;
pub mod schedulers;

pub use adafactor::Adafactor;
pub use multi::{ApplyGradients, MultiOptimizer};
pub use muon::Muon;
pub use per_step::PerStep;
pub use rules::{AdaDelta, Adagrad, Adam, AdamW, Adamax, Lion, RMSprop, Sgd};
pub use schedulers::LearningRate;

use crate::module::Module;
use rmx::{Array, Axes, Dtype, Error, Result};
use std::collections::BTreeMap;

/// One parameter's optimizer state: arrays by name (`m`, `v`, ...).
pub type State = BTreeMap<&'static str, Array>;

/// The state array `name`, or an error naming it (a state loaded from a file may lack it).
pub fn slot<'a>(state: &'a State, name: &str) -> Result<&'a Array> {
    state.get(name).ok_or_else(|| Error::arg("Optimizer", format!("the state has no '{name}' array")))
}

/// One algorithm's per-parameter update.
pub trait Rule: Send + Sync {
    /// Every state name the rule may keep (`["m", "v"]` for Adam).
    fn slots(&self) -> &'static [&'static str];
    /// The state of a parameter before its first update (default: zeros like it for each
    /// slot).
    fn init(&self, param: &Array) -> Result<State> {
        self.slots().iter().map(|&s| Ok((s, rmx::zeros_like(param)?))).collect()
    }
    /// Whether `apply` uses `step` (bias corrections, relative step sizes).
    fn uses_step(&self) -> bool {
        false
    }
    /// The new parameter from its gradient, updating `state` in place. `step` counts
    /// from 1; `lr` is the scheduled learning rate.
    fn apply(&self, grad: &Array, param: &Array, state: &mut State, lr: &PerStep, step: &PerStep) -> Result<Array>;
}

/// An optimizer: a [`Rule`] with its learning rate, step and state.
///
/// ```
/// use rmx_nn::{optim, Linear, Module};
/// let mut model = Linear::new(2, 1, true)?;
/// let mut opt = optim::Optimizer::new(optim::Sgd::new(0.0), 0.1);
/// let grads = model.trainable_parameters().into_iter().map(|(k, v)| (k, rmx::ones_like(&v).unwrap())).collect();
/// let before = model.bias.as_ref().unwrap().value.item::<f32>()?;
/// opt.update(&mut model, &grads)?;
/// assert!((model.bias.as_ref().unwrap().value.item::<f32>()? - (before - 0.1)).abs() < 1e-6);
/// # Ok::<(), rmx::Error>(())
/// ```
pub struct Optimizer<R: Rule> {
    pub rule: R,
    pub learning_rate: LearningRate,
    step: usize,
    /// The step count as a traced input, while a compiled step that loaded the optimizer's
    /// state is being traced.
    traced_step: Option<Array>,
    state: BTreeMap<String, State>,
}

impl<R: Rule> Optimizer<R> {
    pub fn new(rule: R, learning_rate: impl Into<LearningRate>) -> Optimizer<R> {
        Optimizer { rule, learning_rate: learning_rate.into(), step: 0, traced_step: None, state: BTreeMap::new() }
    }

    /// Steps taken so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The learning rate the next step will use.
    pub fn current_learning_rate(&self) -> f64 {
        self.learning_rate.at(self.step)
    }

    /// New values for the parameters that have gradients (same names).
    pub fn apply_gradients(
        &mut self,
        grads: &BTreeMap<String, Array>,
        params: &BTreeMap<String, Array>,
    ) -> Result<BTreeMap<String, Array>> {
        let (lr, step) = match self.traced_step.take() {
            Some(traced) => {
                let lr = self.learning_rate.at_step(&PerStep::Traced(traced.clone()))?;
                let next = rmx::add(&traced, 1.0)?;
                self.traced_step = Some(next.clone());
                (lr, PerStep::Traced(next))
            }
            None => {
                if rmx::compile::is_tracing() && (self.rule.uses_step() || !self.learning_rate.is_constant()) {
                    // A host step count would be frozen into the trace at its current value.
                    return Err(Error::arg(
                        "Optimizer",
                        "this rule or learning rate depends on the step count: pass the optimizer's state through the compiled \
                         function (load_state inside it, state() among its outputs) so the step count is traced",
                    ));
                }
                let lr = PerStep::Host(self.learning_rate.at(self.step));
                self.step += 1;
                (lr, PerStep::Host(self.step as f64))
            }
        };
        let mut out = BTreeMap::new();
        for (name, g) in grads {
            let p = params.get(name).ok_or_else(|| Error::arg("Optimizer", format!("gradient for '{name}', which is not a parameter")))?;
            if g.shape() != p.shape() {
                return Err(Error::shapes_detail(
                    "Optimizer",
                    &[p.shape(), g.shape()],
                    format!("gradient of '{name}' must have its parameter's shape"),
                ));
            }
            let state = match self.state.entry(name.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(self.rule.init(p)?),
            };
            out.insert(name.clone(), self.rule.apply(g, p, state, &lr, &step)?);
        }
        Ok(out)
    }

    /// Creates the state of every parameter in `params` that has none yet (MLX's
    /// `Optimizer.init`), so [`Optimizer::state`] lists every array a step will update — what
    /// a compiled training step passes through as explicit state.
    pub fn init(&mut self, params: &BTreeMap<String, Array>) -> Result<()> {
        for (name, p) in params {
            if !self.state.contains_key(name) {
                self.state.insert(name.clone(), self.rule.init(p)?);
            }
        }
        Ok(())
    }

    /// Applies one step to `model`'s trainable parameters.
    pub fn update(&mut self, model: &mut dyn Module, grads: &BTreeMap<String, Array>) -> Result<()> {
        ApplyGradients::update(self, model, grads)
    }

    /// The state as flat arrays: `step`, `learning_rate` and `<param>.<slot>`.
    pub fn state(&self) -> Result<BTreeMap<String, Array>> {
        let mut out = BTreeMap::new();
        match &self.traced_step {
            Some(step) => {
                out.insert("step".to_string(), rmx::astype(step, Dtype::U64)?);
                let lr = self.learning_rate.at_step(&PerStep::Traced(step.clone()))?;
                out.insert("learning_rate".to_string(), lr.array()?);
            }
            None => {
                out.insert("step".to_string(), Array::scalar(self.step as u64));
                out.insert("learning_rate".to_string(), Array::scalar(self.learning_rate.at(self.step) as f32));
            }
        }
        for (name, arrays) in &self.state {
            for (slot, a) in arrays {
                out.insert(format!("{name}.{slot}"), a.clone());
            }
        }
        Ok(out)
    }

    /// Restores a state saved by [`Optimizer::state`] (the schedule itself is code and
    /// stays as constructed). Called while `rmx::compile` traces, the step count becomes a
    /// traced input.
    pub fn load_state(&mut self, state: &BTreeMap<String, Array>) -> Result<()> {
        let step = state.get("step").ok_or_else(|| Error::arg("Optimizer::load_state", "no 'step' entry"))?;
        // Inside a traced step the count stays an array (an input of the trace).
        self.traced_step = if rmx::compile::is_tracing() { Some(rmx::astype(step, Dtype::F32)?) } else { None };
        let step = if self.traced_step.is_some() { self.step } else { rmx::astype(step, Dtype::U64)?.item::<u64>()? as usize };
        let mut restored: BTreeMap<String, State> = BTreeMap::new();
        let slots = self.rule.slots();
        for (key, a) in state {
            if key == "step" || key == "learning_rate" {
                continue;
            }
            let (name, slot) =
                key.rsplit_once('.').ok_or_else(|| Error::arg("Optimizer::load_state", format!("unexpected entry '{key}'")))?;
            let slot = slots
                .iter()
                .find(|s| **s == slot)
                .ok_or_else(|| Error::arg("Optimizer::load_state", format!("'{key}': this optimizer keeps {slots:?}")))?;
            restored.entry(name.to_string()).or_default().insert(slot, a.clone());
        }
        (self.step, self.state) = (step, restored);
        Ok(())
    }
}

/// Scales gradients so their global L2 norm is at most `max_norm`; returns the scaled
/// gradients and the norm before scaling.
pub fn clip_grad_norm(grads: &BTreeMap<String, Array>, max_norm: f64) -> Result<(BTreeMap<String, Array>, Array)> {
    let mut total = Array::scalar(0.0f32);
    for g in grads.values() {
        total = rmx::add(&total, &rmx::sum(&rmx::square(&rmx::astype(g, Dtype::F32)?)?, Axes::All, false)?)?;
    }
    let norm = rmx::sqrt(&total)?;
    let factor = rmx::minimum(&rmx::divide(max_norm, &rmx::add(&norm, 1e-6)?)?, 1.0)?;
    let clipped =
        grads.iter().map(|(k, g)| Ok((k.clone(), rmx::multiply(g, &rmx::astype(&factor, g.dtype())?)?))).collect::<Result<_>>()?;
    Ok((clipped, norm))
}
