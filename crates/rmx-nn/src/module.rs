//! The module tree: parameters and submodules reachable by dotted names identical to MLX's
//! (`layers.3.self_attn.q_proj.weight`), and everything that works on the whole tree —
//! listing, updating, freezing, train/eval mode, dtype changes.
//!
//! A module is a plain struct. [`visit!`](crate::visit) names the fields that hold
//! parameters ([`Param`]), submodules, `Option`s and `Vec`s of them; an (often empty)
//! `impl Module` adds the hooks a layer needs (mode changes, quantization).

use rmx::{Array, Dtype, Error, Result};
use std::collections::BTreeMap;

/// A learnable array, or a piece of state saved with the weights (running statistics)
/// that gradients never touch.
#[derive(Clone, Debug)]
pub struct Param {
    /// The current value.
    pub value: Array,
    frozen: bool,
    state: bool,
}

impl Param {
    /// A trainable parameter.
    pub fn new(value: Array) -> Param {
        Param { value, frozen: false, state: false }
    }

    /// State that is saved and loaded like a parameter but never trained (BatchNorm's
    /// running mean): it stays frozen through `unfreeze`.
    pub fn state(value: Array) -> Param {
        Param { value, frozen: true, state: true }
    }

    /// Whether gradients are taken for it.
    pub fn is_trainable(&self) -> bool {
        !self.frozen
    }
}

/// What a visit reaches, read-only.
pub enum Slot<'a> {
    Param(&'a Param),
    Module(&'a dyn Module),
}

/// What a visit reaches, mutably.
pub enum SlotMut<'a> {
    Param(&'a mut Param),
    Module(&'a mut dyn Module),
}

/// Walks a value's parameters and modules, each with its dotted path.
pub trait Visit {
    /// Calls `f` on every module (before its contents) and parameter under `path`.
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>));
    /// Like [`Visit::visit`] with mutable access.
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>));
}

/// `prefix.name`, or `name` at the root.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Visit for Param {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        f(path, Slot::Param(self));
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        f(path, SlotMut::Param(self));
    }
}

impl<T: Visit> Visit for Option<T> {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        if let Some(v) = self {
            v.visit(path, f);
        }
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        if let Some(v) = self {
            v.visit_mut(path, f);
        }
    }
}

impl<T: Visit> Visit for Vec<T> {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        for (i, v) in self.iter().enumerate() {
            v.visit(&join(path, &i.to_string()), f);
        }
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        for (i, v) in self.iter_mut().enumerate() {
            v.visit_mut(&join(path, &i.to_string()), f);
        }
    }
}

impl Visit for Box<dyn Module> {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        (**self).visit(path, f);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        (**self).visit_mut(path, f);
    }
}

/// Implements [`Visit`] for a module struct from the fields that hold its parameters and
/// submodules; the field names become the path components.
///
/// ```
/// use rmx_nn::{visit, Module, Param};
/// struct Affine { weight: Param, bias: Option<Param> }
/// visit!(Affine { weight, bias });
/// impl Module for Affine {}
///
/// let m = Affine { weight: Param::new(rmx::ones(&[2], rmx::Dtype::F32)?), bias: None };
/// assert_eq!(m.parameters().keys().collect::<Vec<_>>(), ["weight"]);
/// # Ok::<(), rmx::Error>(())
/// ```
#[macro_export]
macro_rules! visit {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl $crate::Visit for $ty {
            fn visit(&self, path: &str, f: &mut dyn FnMut(&str, $crate::Slot<'_>)) {
                f(path, $crate::Slot::Module(self));
                $( $crate::Visit::visit(&self.$field, &$crate::module::join(path, stringify!($field)), f); )*
            }
            fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, $crate::SlotMut<'_>)) {
                f(path, $crate::SlotMut::Module(self));
                $( $crate::Visit::visit_mut(&mut self.$field, &$crate::module::join(path, stringify!($field)), f); )*
            }
        }
    };
}

/// Quantization settings handed to [`Module::quantize_self`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantizeSpec {
    pub group_size: usize,
    pub bits: u32,
    pub mode: rmx::QuantMode,
}

/// A node of the model tree. The provided methods act on the whole subtree; the hooks
/// (`set_training_self`, `quantize_self`) let a layer react.
pub trait Module: Visit + Send + Sync {
    /// The layer's type name, for predicates and messages.
    fn kind(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }

    /// Hook: the layer's own reaction to train/eval mode (Dropout, BatchNorm).
    fn set_training_self(&mut self, training: bool) {
        let _ = training;
    }

    /// Hook: replace this layer's weights by their quantized form. Returns `false` for
    /// layers that cannot be quantized (the default).
    fn quantize_self(&mut self, spec: QuantizeSpec) -> Result<bool> {
        let _ = spec;
        Ok(false)
    }

    /// Hook: quantize the input as well as the weights (MLX's `quantize_input=True`, which
    /// makes a `QQLinear`). Returns `false` for layers that cannot (the default).
    fn quantize_input_self(&mut self, spec: QuantizeSpec) -> Result<bool> {
        let _ = spec;
        Ok(false)
    }

    /// Every parameter (trainable or not) by dotted name.
    fn parameters(&self) -> BTreeMap<String, Array> {
        let mut out = BTreeMap::new();
        self.visit("", &mut |path, slot| {
            if let Slot::Param(p) = slot {
                out.insert(path.to_string(), p.value.clone());
            }
        });
        out
    }

    /// The parameters gradients are taken for.
    fn trainable_parameters(&self) -> BTreeMap<String, Array> {
        let mut out = BTreeMap::new();
        self.visit("", &mut |path, slot| {
            if let Slot::Param(p) = slot {
                if p.is_trainable() {
                    out.insert(path.to_string(), p.value.clone());
                }
            }
        });
        out
    }

    /// The number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.parameters().values().map(Array::size).sum()
    }

    /// Every module of the tree with its path (the root is `""`).
    fn named_modules(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        self.visit("", &mut |path, slot| {
            if let Slot::Module(m) = slot {
                out.push((path.to_string(), m.kind()));
            }
        });
        out
    }

    /// Replaces parameter values by name. With `strict`, a name that is not a parameter,
    /// or a value of another shape, is an error and nothing is changed.
    fn update(&mut self, values: &BTreeMap<String, Array>, strict: bool) -> Result<()> {
        if strict {
            let current = self.parameters();
            for (name, v) in values {
                let p =
                    current.get(name).ok_or_else(|| Error::arg("Module::update", format!("'{name}' is not a parameter of this module")))?;
                if p.shape() != v.shape() {
                    return Err(Error::arg("Module::update", format!("'{name}' has shape {:?}, the new value {:?}", p.shape(), v.shape())));
                }
            }
        }
        self.visit_mut("", &mut |path, slot| {
            if let SlotMut::Param(p) = slot {
                if let Some(v) = values.get(path) {
                    p.value = v.clone();
                }
            }
        });
        Ok(())
    }

    /// Freezes the parameters whose dotted name `select` accepts (no gradients for them).
    fn freeze_where(&mut self, select: &dyn Fn(&str) -> bool) {
        self.visit_mut("", &mut |path, slot| {
            if let SlotMut::Param(p) = slot {
                if select(path) {
                    p.frozen = true;
                }
            }
        });
    }

    /// Unfreezes the parameters whose dotted name `select` accepts (state stays frozen).
    fn unfreeze_where(&mut self, select: &dyn Fn(&str) -> bool) {
        self.visit_mut("", &mut |path, slot| {
            if let SlotMut::Param(p) = slot {
                if select(path) && !p.state {
                    p.frozen = false;
                }
            }
        });
    }

    /// Freezes every parameter.
    fn freeze(&mut self) {
        self.freeze_where(&|_| true);
    }

    /// Unfreezes every parameter (state such as running statistics stays frozen).
    fn unfreeze(&mut self) {
        self.unfreeze_where(&|_| true);
    }

    /// Sets training (`true`) or evaluation mode on every layer.
    fn train(&mut self, training: bool) {
        self.visit_mut("", &mut |_, slot| {
            if let SlotMut::Module(m) = slot {
                m.set_training_self(training);
            }
        });
    }

    /// Casts the floating-point parameters that `select` accepts (by name) to `dtype`.
    fn set_dtype(&mut self, dtype: Dtype, select: &dyn Fn(&str) -> bool) -> Result<()> {
        let mut result = Ok(());
        self.visit_mut("", &mut |path, slot| {
            if let SlotMut::Param(p) = slot {
                if result.is_ok() && p.value.dtype().is_float() && select(path) {
                    match rmx::astype(&p.value, dtype) {
                        Ok(v) => p.value = v,
                        Err(e) => result = Err(e),
                    }
                }
            }
        });
        result
    }
}

/// Evaluates every parameter of a module (materializes lazily loaded or updated weights).
pub fn eval_parameters(module: &dyn Module) -> Result<()> {
    let params: Vec<Array> = module.parameters().into_values().collect();
    rmx::eval(&params)
}
