//! Working on whole models: gradients of a loss with respect to a module's trainable
//! parameters, gradient checkpointing of a module, weight files (safetensors, npz) with
//! strict checking, and quantizing the layers a predicate picks.

use crate::module::{Module, QuantizeSpec, SlotMut};
use rmx::{Array, Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The loss and its gradients with respect to `model`'s trainable parameters (a map shaped
/// like [`Module::trainable_parameters`]). `loss` may return auxiliary outputs after the
/// scalar loss; they come back undifferentiated.
///
/// ```
/// use rmx_nn::{losses, Linear, Module};
/// let mut model = Linear::new(3, 1, true)?;
/// let x = rmx::ones(&[4, 3], rmx::Dtype::F32)?;
/// let y = rmx::zeros(&[4, 1], rmx::Dtype::F32)?;
/// let (loss, grads) = rmx_nn::value_and_grad(&mut model, |m| {
///     Ok(vec![losses::mse_loss(&m.forward(&x)?, &y, losses::Reduction::Mean)?])
/// })?;
/// assert_eq!(loss[0].ndim(), 0);
/// assert_eq!(grads["weight"].shape(), &[1, 3]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn value_and_grad<M: Module + ?Sized>(
    model: &mut M,
    loss: impl FnOnce(&M) -> Result<Vec<Array>>,
) -> Result<(Vec<Array>, BTreeMap<String, Array>)> {
    let params = model.trainable_parameters();
    let (names, values): (Vec<String>, Vec<Array>) = params.into_iter().unzip();
    let result = rmx::value_and_grad_once(
        |tracers: &[Array]| {
            let assigned: BTreeMap<String, Array> = names.iter().cloned().zip(tracers.iter().cloned()).collect();
            model.update(&assigned, false)?;
            loss(model)
        },
        &values,
    );
    // Put the real parameters back whatever happened: the tracers must not outlive the call.
    model.update(&names.iter().cloned().zip(values).collect(), false)?;
    let (outputs, grads) = result?;
    Ok((outputs, names.into_iter().zip(grads).collect()))
}

/// Loads weights from a `.safetensors` or `.npz` file (by extension) into `model`. With
/// `strict`, every parameter must be present with its shape and no extra names may
/// appear; otherwise matching names are loaded and the rest ignored.
pub fn load_weights(model: &mut dyn Module, path: impl AsRef<Path>, strict: bool) -> Result<()> {
    let path = path.as_ref();
    let weights = match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => rmx::io::load_safetensors(path)?.0,
        Some("npz") => rmx::io::load_npz(path)?,
        _ => return Err(Error::arg("load_weights", format!("'{}': expected a .safetensors or .npz file", path.display()))),
    };
    update_weights(model, weights, strict)
}

/// Loads named arrays into `model` (see [`load_weights`] for `strict`).
pub fn update_weights(model: &mut dyn Module, weights: BTreeMap<String, Array>, strict: bool) -> Result<()> {
    let current = model.parameters();
    if strict {
        let extra: Vec<&String> = weights.keys().filter(|k| !current.contains_key(*k)).collect();
        let missing: Vec<&String> = current.keys().filter(|k| !weights.contains_key(*k)).collect();
        if !extra.is_empty() || !missing.is_empty() {
            return Err(Error::arg("load_weights", format!("unexpected parameters {extra:?}; missing parameters {missing:?}")));
        }
    }
    for (name, w) in &weights {
        if let Some(p) = current.get(name) {
            if p.shape() != w.shape() {
                return Err(Error::arg(
                    "load_weights",
                    format!("'{name}' has shape {:?} in the file, {:?} in the model", w.shape(), p.shape()),
                ));
            }
        }
    }
    let known = weights.into_iter().filter(|(k, _)| current.contains_key(k)).collect();
    model.update(&known, false)
}

/// Saves every parameter of `model` as `.safetensors` or `.npz` (by extension).
pub fn save_weights(model: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let params = model.parameters();
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => rmx::io::save_safetensors(path, &params, &BTreeMap::new()),
        Some("npz") => rmx::io::savez(path, &params),
        _ => Err(Error::arg("save_weights", format!("'{}': expected a .safetensors or .npz file", path.display()))),
    }
}

/// Quantizes every layer that supports it (Linear, Embedding) and that `select` accepts
/// (given its path and kind); returns the paths quantized. MLX's `nn.quantize`.
///
/// ```
/// use rmx_nn::{Linear, Module, QuantizeSpec};
/// let mut layer = Linear::new(64, 8, false)?;
/// let spec = QuantizeSpec { group_size: 64, bits: 4, mode: rmx::QuantMode::Affine };
/// assert_eq!(rmx_nn::quantize(&mut layer, spec, &|_, _| true)?, [""]);
/// assert_eq!(layer.parameters().keys().collect::<Vec<_>>(), ["biases", "scales", "weight"]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn quantize(model: &mut dyn Module, spec: QuantizeSpec, select: &dyn Fn(&str, &dyn Module) -> bool) -> Result<Vec<String>> {
    convert(model, select, &mut |m| m.quantize_self(spec))
}

/// [`quantize`] with the inputs quantized too (MLX's `nn.quantize(..., quantize_input=True)`,
/// modes nvfp4 and mxfp8): each selected `Linear` becomes MLX's `QQLinear` (packed in
/// evaluation mode, float and trainable in training mode; a biased one is an error).
///
/// ```
/// use rmx_nn::{Linear, Module, QuantizeSpec};
/// let mut layer = Linear::new(32, 4, false)?;
/// let spec = QuantizeSpec { group_size: 32, bits: 8, mode: rmx::QuantMode::Mxfp8 };
/// rmx_nn::quantize_with_inputs(&mut layer, spec, &|_, _| true)?;
/// assert_eq!(layer.parameters().keys().collect::<Vec<_>>(), ["scales", "weight"]);
/// layer.train(true); // float weight again, trained through qqmm's gradients
/// assert_eq!(layer.trainable_parameters().keys().collect::<Vec<_>>(), ["weight"]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn quantize_with_inputs(model: &mut dyn Module, spec: QuantizeSpec, select: &dyn Fn(&str, &dyn Module) -> bool) -> Result<Vec<String>> {
    convert(model, select, &mut |m| m.quantize_input_self(spec))
}

/// Applies `hook` to the modules `select` accepts; the paths of those it changed.
fn convert(
    model: &mut dyn Module,
    select: &dyn Fn(&str, &dyn Module) -> bool,
    hook: &mut dyn FnMut(&mut dyn Module) -> Result<bool>,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let mut result = Ok(());
    model.visit_mut("", &mut |path, slot| {
        if let SlotMut::Module(m) = slot {
            if result.is_ok() && select(path, &*m) {
                match hook(m) {
                    Ok(true) => done.push(path.to_string()),
                    Ok(false) => {}
                    Err(e) => result = Err(e),
                }
            }
        }
    });
    result.map(|()| done)
}

/// Gradient checkpointing for a module (MLX's `nn.utils.checkpoint`): runs
/// `forward(module, inputs)` keeping only the inputs and outputs; the backward pass
/// recomputes the forward to differentiate it, through the module's trainable parameters
/// as well as the inputs. Trades compute for activation memory in deep models.
///
/// ```
/// use rmx_nn::{Linear, Module};
/// let layer = Linear::new(3, 2, true)?;
/// let x = rmx::ones(&[4, 3], rmx::Dtype::F32)?;
/// let y = rmx_nn::checkpoint(&layer, &[x.clone()], |m, a| Ok(vec![m.forward(&a[0])?]))?;
/// assert_eq!(y[0].to_vec::<f32>()?, layer.forward(&x)?.to_vec::<f32>()?);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn checkpoint<M>(module: &M, inputs: &[Array], forward: fn(&M, &[Array]) -> Result<Vec<Array>>) -> Result<Vec<Array>>
where
    M: Module + Clone + 'static,
{
    let params = module.trainable_parameters();
    let names: Vec<String> = params.keys().cloned().collect();
    let n = names.len();
    let shared = std::sync::Arc::new(std::sync::Mutex::new(module.clone()));
    let run = move |args: &[Array]| -> Result<Vec<Array>> {
        let mut m = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
        m.update(&names.iter().cloned().zip(args[..n].iter().cloned()).collect(), false)?;
        forward(&m, &args[n..])
    };
    let args: Vec<Array> = params.into_values().chain(inputs.iter().cloned()).collect();
    rmx::checkpoint(run)(&args)
}
