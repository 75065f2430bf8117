//! Optimizers and schedules against MLX (`scripts/gen_nn_goldens.py`): six steps on two
//! parameters with gradients `p * c + d` for every optimizer (and non-default options),
//! learning-rate schedules at steps 0..11, state save/load, gradient clipping.

mod common;

use common::{assert_close, golden};
use rmx::Array;
use rmx_nn::optim::{self, schedulers, ApplyGradients, MultiOptimizer, Optimizer};
use std::collections::BTreeMap;

fn trajectory(g: &BTreeMap<String, Array>, name: &str, mut opt: impl ApplyGradients) {
    let get = |k: &str, role: &str| g[&format!("opt.{k}.{role}")].clone();
    let mut params: BTreeMap<String, Array> = ["a", "b"].iter().map(|k| (k.to_string(), get(k, "p0"))).collect();
    for step in 0..6 {
        let grads =
            params.iter().map(|(k, p)| (k.clone(), rmx::add(rmx::multiply(p, get(k, "c")).unwrap(), get(k, "d")).unwrap())).collect();
        params = opt.apply_gradients(&grads, &params).unwrap();
        for (k, p) in &params {
            assert_close(&format!("{name} {k} step {step}"), p, &g[&format!("opt.{name}.{k}.{step}")], 2e-5);
        }
    }
}

#[test]
fn optimizers_follow_mlx_trajectories() {
    let g = golden();
    trajectory(&g, "sgd", Optimizer::new(optim::Sgd::new(0.0), 0.1));
    trajectory(&g, "sgd_momentum", Optimizer::new(optim::Sgd { momentum: 0.9, weight_decay: 0.01, dampening: 0.1, nesterov: false }, 0.1));
    trajectory(&g, "sgd_nesterov", Optimizer::new(optim::Sgd { momentum: 0.9, nesterov: true, ..Default::default() }, 0.1));
    trajectory(&g, "rmsprop", Optimizer::new(optim::RMSprop::default(), 0.01));
    trajectory(&g, "adagrad", Optimizer::new(optim::Adagrad::default(), 0.1));
    trajectory(&g, "adadelta", Optimizer::new(optim::AdaDelta::default(), 1.0));
    trajectory(&g, "adam", Optimizer::new(optim::Adam::default(), 0.01));
    trajectory(&g, "adam_bc", Optimizer::new(optim::Adam { bias_correction: true, ..Default::default() }, 0.01));
    trajectory(&g, "adamw", Optimizer::new(optim::AdamW { weight_decay: 0.1, ..Default::default() }, 0.01));
    trajectory(&g, "adamax", Optimizer::new(optim::Adamax::default(), 0.01));
    trajectory(&g, "lion", Optimizer::new(optim::Lion { weight_decay: 0.1, ..Default::default() }, 0.01));
    trajectory(&g, "sgd_cosine", Optimizer::new(optim::Sgd::new(0.0), schedulers::cosine_decay(0.1, 4, 0.01)));
    trajectory(&g, "adafactor", Optimizer::new(optim::Adafactor::default(), 0.0));
    let adafactor = optim::Adafactor { relative_step: false, beta_1: Some(0.9), weight_decay: 0.1, ..Default::default() };
    trajectory(&g, "adafactor_b1", Optimizer::new(adafactor, 0.01));
    trajectory(&g, "muon", Optimizer::new(optim::Muon::default(), 0.02));
    let multi = MultiOptimizer::new(
        vec![Box::new(Optimizer::new(optim::Sgd::new(0.0), 0.1)), Box::new(Optimizer::new(optim::Adam::default(), 0.01))],
        vec![Box::new(|name: &str, _: &Array| name == "b")],
    )
    .unwrap();
    trajectory(&g, "multi", multi);
}

#[test]
fn schedules_match_mlx() {
    let g = golden();
    let join =
        schedulers::join_schedules(vec![schedulers::linear_schedule(0.0, 0.1, 4), schedulers::cosine_decay(0.1, 5, 0.0)], vec![4]).unwrap();
    let cases = [
        ("exponential", schedulers::exponential_decay(0.1, 0.9)),
        ("step", schedulers::step_decay(0.1, 0.5, 3)),
        ("cosine", schedulers::cosine_decay(0.1, 8, 0.01)),
        ("linear", schedulers::linear_schedule(0.0, 0.1, 5)),
        ("join", join),
    ];
    for (name, lr) in cases {
        let got = Array::from_vec((0..12).map(|s| lr.at(s) as f32).collect());
        assert_close(name, &got, &g[&format!("sched.{name}")], 1e-6);
        // The traced form (rmx ops on a step-count array, what a compiled step uses) too.
        let steps = Array::from_vec((0..12).map(|s| s as f32).collect());
        let traced = match lr.at_step(&optim::PerStep::Traced(steps)).unwrap() {
            optim::PerStep::Traced(a) => rmx::broadcast_to(&a, &[12]).unwrap(),
            optim::PerStep::Host(_) => panic!("{name}: a traced step gave a host rate"),
        };
        assert_close(&format!("{name} (traced)"), &traced, &g[&format!("sched.{name}")], 1e-6);
    }
    assert!(schedulers::join_schedules(vec![], vec![]).is_err());
    let custom = optim::LearningRate::schedule(|s| 1.0 / (1 + s) as f64);
    assert!(custom.at_step(&optim::PerStep::Traced(Array::scalar(1.0f32))).is_err(), "host-only schedules cannot be traced");
}

#[test]
fn optimizer_state_saves_and_resumes_the_same_trajectory() {
    let g = golden();
    let p0: BTreeMap<String, Array> = ["a", "b"].iter().map(|k| (k.to_string(), g[&format!("opt.{k}.p0")].clone())).collect();
    let grads =
        |p: &BTreeMap<String, Array>| -> BTreeMap<String, Array> { p.iter().map(|(k, v)| (k.clone(), rmx::sin(v).unwrap())).collect() };
    let make = || Optimizer::new(optim::Adam { bias_correction: true, ..Default::default() }, 0.01);
    let mut straight = make();
    let mut p = p0.clone();
    for _ in 0..4 {
        p = straight.apply_gradients(&grads(&p), &p).unwrap();
    }
    let mut first = make();
    let mut q = p0;
    for _ in 0..2 {
        q = first.apply_gradients(&grads(&q), &q).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("rmx-nn-opt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.safetensors");
    rmx::io::save_safetensors(&path, &first.state().unwrap(), &BTreeMap::new()).unwrap();
    let mut resumed = make();
    resumed.load_state(&rmx::io::load_safetensors(&path).unwrap().0).unwrap();
    assert_eq!(resumed.step(), 2);
    for _ in 0..2 {
        q = resumed.apply_gradients(&grads(&q), &q).unwrap();
    }
    for (k, v) in &p {
        assert_close(&format!("resumed {k}"), &q[k], v, 0.0);
    }
    let mut sgd = Optimizer::new(optim::Sgd::new(0.9), 0.1);
    assert!(sgd.load_state(&first.state().unwrap()).unwrap_err().to_string().contains("keeps"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn clip_grad_norm_scales_to_the_limit() {
    let grads: BTreeMap<String, Array> = [
        ("a".to_string(), Array::from_slice(&[3.0f32, 0.0], &[2]).unwrap()),
        ("b".to_string(), Array::from_slice(&[4.0f32], &[1]).unwrap()),
    ]
    .into();
    let (clipped, norm) = optim::clip_grad_norm(&grads, 1.0).unwrap();
    assert!((norm.item::<f32>().unwrap() - 5.0).abs() < 1e-6);
    assert_close("a", &clipped["a"], &Array::from_slice(&[0.6f32, 0.0], &[2]).unwrap(), 1e-6);
    let (same, _) = optim::clip_grad_norm(&grads, 10.0).unwrap();
    assert_close("unclipped", &same["b"], &grads["b"], 0.0);
}
