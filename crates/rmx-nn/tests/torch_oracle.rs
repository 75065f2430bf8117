//! Layers, losses and optimizers against PyTorch (`scripts/gen_torch_goldens.py`, run on
//! the GPU machine in float64, stored as float32, converted to MLX layouts): outputs and
//! parameter gradients, running statistics, recurrent states, losses and six-step
//! optimizer trajectories.

mod common;

use common::assert_close;
use rmx::{Array, Axes};
use rmx_nn::losses::{self, Reduction as R};
use rmx_nn::optim::{self, ApplyGradients, Optimizer};
use rmx_nn::*;
use std::collections::BTreeMap;

fn torch() -> BTreeMap<String, Array> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torch.safetensors");
    rmx::io::load_safetensors(path).unwrap().0
}

fn params(g: &BTreeMap<String, Array>, case: &str) -> BTreeMap<String, Array> {
    let prefix = format!("{case}.param.");
    g.iter().filter_map(|(k, v)| k.strip_prefix(&prefix).map(|n| (n.to_string(), v.clone()))).collect()
}

fn check<M: Module>(g: &BTreeMap<String, Array>, case: &str, module: &mut M, forward: impl Fn(&M, &Array) -> rmx::Result<Array>) {
    update_weights(module, params(g, case), true).unwrap();
    let x = &g[&format!("{case}.x")];
    assert_close(&format!("{case} output"), &forward(module, x).unwrap(), &g[&format!("{case}.y")], 2e-5);
    let cot = &g[&format!("{case}.cot")];
    let (_, grads) = value_and_grad(module, |m| Ok(vec![rmx::sum(&rmx::multiply(&forward(m, x)?, cot)?, Axes::All, false)?])).unwrap();
    for (name, grad) in grads {
        assert_close(&format!("{case} grad {name}"), &grad, &g[&format!("{case}.grad.{name}")], 1e-4);
    }
}

#[test]
fn layers_match_pytorch() {
    let g = torch();
    check(&g, "linear", &mut Linear::new(5, 3, true).unwrap(), |m, x| m.forward(x));
    check(&g, "conv2d", &mut Conv::new(4, 6, &[3, 3], ConvOptions::uniform(2, 2, 1, 1, 2), true).unwrap(), |m, x| m.forward(x));
    check(&g, "layer_norm", &mut LayerNorm::new(6, 1e-5, true, true).unwrap(), |m, x| m.forward(x));
    check(&g, "group_norm", &mut GroupNorm::new(2, 6, 1e-5, true, true).unwrap(), |m, x| m.forward(x));

    let mut bn = BatchNorm::new(4, 1e-5, 0.1, false, true).unwrap();
    assert_close("batch_norm train", &bn.forward(&g["batch_norm.x"]).unwrap(), &g["batch_norm.y_train"], 2e-5);
    let p = bn.parameters();
    assert_close("running_mean", &p["running_mean"], &g["batch_norm.running_mean"], 2e-5);
    assert_close("running_var", &p["running_var"], &g["batch_norm.running_var"], 2e-5);

    let mut lstm = LSTM::new(3, 5, true).unwrap();
    update_weights(&mut lstm, params(&g, "lstm"), true).unwrap();
    let h0 = &g["lstm.h0"];
    let (h, _) = lstm.forward(&g["lstm.x"], Some(h0), Some(&rmx::multiply(h0, 0.5).unwrap())).unwrap();
    assert_close("lstm", &h, &g["lstm.hidden"], 2e-5);
    let mut gru = GRU::new(3, 5, true).unwrap();
    update_weights(&mut gru, params(&g, "gru"), true).unwrap();
    assert_close("gru", &gru.forward(&g["gru.x"], Some(&g["gru.h0"])).unwrap(), &g["gru.hidden"], 2e-5);
}

#[test]
fn losses_match_pytorch() {
    let g = torch();
    let a = |k: &str| g[&format!("loss.{k}")].clone();
    let (p, t) = (a("p"), a("t"));
    let row = |x: &Array, i: isize| rmx::squeeze(&rmx::slice(x, &[i, 0], &[i + 1, 4], &[1, 1]).unwrap(), Some(&[0])).unwrap();
    let sign_t = rmx::sign(&t).unwrap();
    let log_softmax = |x: &Array| activations::log_softmax(x, -1).unwrap();
    let cases = [
        ("ce_smooth", losses::cross_entropy(&a("logits"), &a("classes"), None, -1, 0.1, R::Mean)),
        ("bce_logits", losses::binary_cross_entropy(&p, &a("bt"), None, true, R::Mean)),
        ("smooth_l1", losses::smooth_l1_loss(&p, &t, 0.5, R::Mean)),
        ("huber", losses::huber_loss(&p, &t, 0.7, R::None)),
        ("kl", losses::kl_div_loss(&log_softmax(&p), &log_softmax(&t), -1, R::None)),
        ("gauss_full", losses::gaussian_nll_loss(&p, &t, &a("vars"), true, 1e-6, R::Sum)),
        ("margin", losses::margin_ranking_loss(&row(&p, 0), &row(&p, 1), &row(&sign_t, 2), 0.2, R::None)),
    ];
    for (name, got) in cases {
        assert_close(name, &got.unwrap(), &a(name), 2e-5);
    }
}

#[test]
fn optimizers_follow_pytorch_trajectories() {
    let g = torch();
    let run = |name: &str, mut opt: Box<dyn ApplyGradients>| {
        let get = |k: &str, role: &str| g[&format!("opt.{k}.{role}")].clone();
        let mut p: BTreeMap<String, Array> = ["a", "b"].iter().map(|k| (k.to_string(), get(k, "p0"))).collect();
        for step in 0..6 {
            let grads =
                p.iter().map(|(k, v)| (k.clone(), rmx::add(rmx::multiply(v, get(k, "c")).unwrap(), get(k, "d")).unwrap())).collect();
            p = opt.apply_gradients(&grads, &p).unwrap();
            for (k, v) in &p {
                assert_close(&format!("{name} {k} step {step}"), v, &g[&format!("opt.{name}.{k}.{step}")], 2e-5);
            }
        }
    };
    let adam = optim::Adam { bias_correction: true, ..Default::default() };
    // (With dampening PyTorch's first step differs from MLX's, which rmx follows.)
    run("sgd_momentum", Box::new(Optimizer::new(optim::Sgd { momentum: 0.9, weight_decay: 0.01, ..Default::default() }, 0.1)));
    run("sgd_nesterov", Box::new(Optimizer::new(optim::Sgd { momentum: 0.9, nesterov: true, ..Default::default() }, 0.1)));
    run("adam", Box::new(Optimizer::new(adam.clone(), 0.01)));
    run("adamw", Box::new(Optimizer::new(optim::AdamW { adam, weight_decay: 0.1 }, 0.01)));
    run("rmsprop", Box::new(Optimizer::new(optim::RMSprop::default(), 0.01)));
    run("adagrad", Box::new(Optimizer::new(optim::Adagrad::default(), 0.1)));
    run("adadelta", Box::new(Optimizer::new(optim::AdaDelta::default(), 1.0)));
}
