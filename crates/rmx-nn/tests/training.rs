//! A whole training step (forward, backward, optimizer) compiled with `rmx::compile` and
//! explicit state gives the uncompiled trajectory — with the optimizer's state (moments, step
//! count) passed through too, for Adam with bias correction under a cosine schedule; a step
//! whose optimizer depends on the step count but keeps its state outside refuses to be traced
//! instead of freezing the count.

use rmx::{Array, Dtype};
use rmx_nn::{activations, losses, optim, Activation, Linear, Module, Sequential};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The same model every time: weights from explicit keys. (Not `random::seed` plus the
/// global sequence: tests run on parallel threads, and draws from the one global sequence
/// interleave between them — as in MLX and NumPy.)
fn mlp() -> Sequential {
    let mut m = Sequential::new()
        .push(Linear::new(4, 16, true).unwrap())
        .push(Activation::new(activations::gelu))
        .push(Linear::new(16, 3, true).unwrap());
    let weights: BTreeMap<String, Array> = m
        .parameters()
        .into_iter()
        .enumerate()
        .map(|(i, (name, p))| {
            (name, rmx::random::normal(p.shape(), Dtype::F32, 0.0, 0.5, Some(&rmx::random::key(100 + i as u64))).unwrap())
        })
        .collect();
    m.update(&weights, true).unwrap();
    m
}

fn data() -> (Array, Array) {
    let x = rmx::random::normal(&[32, 4], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(5))).unwrap();
    let y = rmx::random::randint(0, 3, &[32], Dtype::I32, Some(&rmx::random::key(6))).unwrap();
    (x, y)
}

fn loss(m: &Sequential, x: &Array, y: &Array) -> rmx::Result<Array> {
    losses::cross_entropy(&m.forward(x)?, y, None, -1, 0.0, losses::Reduction::Mean)
}

/// A compiled training step and its initial state.
type Step = (rmx::Compiled<Box<dyn Fn(&[Array]) -> rmx::Result<Vec<Array>> + Send + Sync>>, Vec<Array>);

/// A compiled step over (parameters..., x, y) returning (new parameters..., loss).
fn compiled_step<R: optim::Rule + 'static>(opt: optim::Optimizer<R>) -> Step {
    let model = mlp();
    let names: Vec<String> = model.trainable_parameters().into_keys().collect();
    let state: Vec<Array> = model.trainable_parameters().into_values().collect();
    let (model, opt) = (Mutex::new(model), Mutex::new(opt));
    let step = rmx::compile(Box::new(move |args: &[Array]| {
        let (params, xy) = args.split_at(names.len());
        let mut m = model.lock().unwrap();
        m.update(&names.iter().cloned().zip(params.iter().cloned()).collect(), true)?;
        let (l, grads) = rmx_nn::value_and_grad(&mut *m, |m| Ok(vec![loss(m, &xy[0], &xy[1])?]))?;
        let new = opt.lock().unwrap().apply_gradients(&grads, &m.trainable_parameters())?;
        Ok(names.iter().map(|n| new[n].clone()).chain([l[0].clone()]).collect())
    }) as Box<dyn Fn(&[Array]) -> rmx::Result<Vec<Array>> + Send + Sync>);
    (step, state)
}

/// Five eager SGD steps: the losses and final parameters.
fn eager_trajectory() -> (Vec<f32>, Vec<Array>) {
    let (x, y) = data();
    let mut model = mlp();
    let mut opt = optim::Optimizer::new(optim::Sgd::new(0.0), 0.5);
    let mut losses = Vec::new();
    for _ in 0..5 {
        let (l, grads) = rmx_nn::value_and_grad(&mut model, |m| Ok(vec![loss(m, &x, &y)?])).unwrap();
        opt.update(&mut model, &grads).unwrap();
        losses.push(l[0].item::<f32>().unwrap());
    }
    (losses, model.trainable_parameters().into_values().collect())
}

#[test]
fn compiled_training_step_matches_uncompiled_and_refuses_step_dependent_rules() {
    compiled_training_step_matches_uncompiled();
    step_dependent_optimizers_refuse_to_be_compiled();
}

fn adam() -> optim::Optimizer<optim::AdamW> {
    let rule = optim::AdamW { adam: optim::Adam { bias_correction: true, ..Default::default() }, weight_decay: 0.01 };
    optim::Optimizer::new(rule, optim::schedulers::cosine_decay(0.05, 4, 0.005))
}

/// Adam(W) with bias correction and a cosine schedule: both read the step count, which goes
/// through the compiled step with the moments (`Optimizer::init`, `load_state` inside the
/// trace, `state()` among its outputs).
#[test]
fn compiled_step_with_optimizer_state_matches_eager_adam_and_schedule() {
    let (x, y) = data();
    let mut model = mlp();
    let mut opt = adam();
    let mut eager = Vec::new();
    for _ in 0..6 {
        let (l, grads) = rmx_nn::value_and_grad(&mut model, |m| Ok(vec![loss(m, &x, &y)?])).unwrap();
        opt.update(&mut model, &grads).unwrap();
        eager.push(l[0].item::<f32>().unwrap());
    }

    let model = mlp();
    let names: Vec<String> = model.trainable_parameters().into_keys().collect();
    let mut opt = adam();
    opt.init(&model.trainable_parameters()).unwrap();
    let opt_keys: Vec<String> = opt.state().unwrap().into_keys().collect();
    let mut state: Vec<Array> = model.trainable_parameters().into_values().chain(opt.state().unwrap().into_values()).collect();
    let (n_params, keys) = (names.len(), opt_keys.clone());
    let (model, opt) = (Mutex::new(model), Mutex::new(opt));
    let step = rmx::compile(Box::new(move |args: &[Array]| {
        let (params, rest) = args.split_at(n_params);
        let (opt_state, xy) = rest.split_at(keys.len());
        let mut m = model.lock().unwrap();
        let mut o = opt.lock().unwrap();
        m.update(&names.iter().cloned().zip(params.iter().cloned()).collect(), true)?;
        o.load_state(&keys.iter().cloned().zip(opt_state.iter().cloned()).collect())?;
        let (l, grads) = rmx_nn::value_and_grad(&mut *m, |m| Ok(vec![loss(m, &xy[0], &xy[1])?]))?;
        let new = o.apply_gradients(&grads, &m.trainable_parameters())?;
        let new_state = o.state()?;
        Ok(names.iter().map(|n| new[n].clone()).chain(keys.iter().map(|k| new_state[k].clone())).chain([l[0].clone()]).collect())
    }) as Box<dyn Fn(&[Array]) -> rmx::Result<Vec<Array>> + Send + Sync>);
    let mut compiled = Vec::new();
    for _ in 0..6 {
        let out = step.call_with_state(&mut state, &[x.clone(), y.clone()]).unwrap();
        compiled.push(out[0].item::<f32>().unwrap());
    }
    assert_eq!(step.trace_count(), 1, "one trace for every step");
    let step_index = n_params + opt_keys.iter().position(|k| k == "step").unwrap();
    assert_eq!(state[step_index].item::<u64>().unwrap(), 6, "the step count advanced through the trace");
    for (a, b) in eager.iter().zip(&compiled) {
        assert!((a - b).abs() < 1e-5, "eager {eager:?} vs compiled {compiled:?}");
    }
    assert!(compiled[5] < compiled[0], "loss falls: {compiled:?}");
}

fn compiled_training_step_matches_uncompiled() {
    let (x, y) = data();
    let (eager, final_params) = eager_trajectory();
    let (step, mut state) = compiled_step(optim::Optimizer::new(optim::Sgd::new(0.0), 0.5));
    let mut compiled = Vec::new();
    for _ in 0..5 {
        let out = step.call_with_state(&mut state, &[x.clone(), y.clone()]).unwrap();
        compiled.push(out[0].item::<f32>().unwrap());
    }
    assert_eq!(step.trace_count(), 1, "one trace for every step");
    assert!(compiled[4] < compiled[0], "loss falls: {compiled:?}");
    for (a, b) in eager.iter().zip(&compiled) {
        assert!((a - b).abs() < 1e-5, "eager {eager:?} vs compiled {compiled:?}");
    }
    for (a, b) in final_params.iter().zip(&state) {
        let diff = rmx::max(&rmx::abs(&rmx::subtract(a, b).unwrap()).unwrap(), rmx::Axes::All, false).unwrap().item::<f32>().unwrap();
        assert!(diff < 1e-5, "parameters differ by {diff}");
    }
}

fn step_dependent_optimizers_refuse_to_be_compiled() {
    let (x, y) = data();
    let (step, mut state) = compiled_step(optim::Optimizer::new(optim::Adam { bias_correction: true, ..Default::default() }, 0.01));
    let err = step.call_with_state(&mut state, &[x, y]).unwrap_err().to_string();
    assert!(err.contains("step count") && err.contains("load_state"), "{err}");
}

/// A thread that keeps building and evaluating randomly initialised layers (drawing from the
/// global random sequence) until stopped.
struct NoiseThread {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl NoiseThread {
    fn start() -> NoiseThread {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let l = Linear::new(64, 64, true).unwrap();
                rmx_nn::module::eval_parameters(&l).unwrap();
            }
        });
        NoiseThread { stop, handle }
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().unwrap();
    }
}

/// Eager training on this thread gives the same losses while another thread builds and
/// evaluates layers (models initialised from explicit keys; see `mlp`).
#[test]
fn eager_results_do_not_depend_on_other_threads() {
    let alone = eager_trajectory();
    let other = NoiseThread::start();
    let mut bad = 0;
    for _ in 0..10 {
        if eager_trajectory().0 != alone.0 {
            bad += 1;
        }
    }
    other.stop();
    assert_eq!(bad, 0, "{bad} of 10 eager trajectories differed while another thread drew random numbers");
}

/// Building a keyed model gives the same weights while another thread draws from the global
/// random sequence.
#[test]
fn model_weights_do_not_depend_on_other_threads() {
    let sums = |m: &Sequential| -> Vec<f32> {
        m.parameters().values().map(|p| rmx::sum(p, rmx::Axes::All, false).unwrap().item::<f32>().unwrap()).collect()
    };
    let want = sums(&mlp());
    let other = NoiseThread::start();
    let mut bad = Vec::new();
    for _ in 0..300 {
        let m = mlp();
        let names: Vec<String> = m.parameters().into_keys().collect();
        let got = sums(&m);
        if got != want {
            bad.push((names, got));
        }
    }
    other.stop();
    assert!(bad.is_empty(), "want {want:?}; {} bad, first {:?}", bad.len(), bad.first());
}
