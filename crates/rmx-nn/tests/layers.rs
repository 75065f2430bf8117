//! Layers against MLX (`scripts/gen_nn_goldens.py`): outputs for fixed weights and inputs,
//! and the gradients of `sum(out * cot)` with respect to every parameter; the module tree's
//! names, freezing, modes, dtype changes, weight files and quantization.

mod common;

use common::{assert_close, golden};
use rmx::{Array, Axes, Dtype};
use rmx_nn::*;
use std::collections::BTreeMap;

const TOL: f64 = 2e-5;

/// Loads `case.param.*` into the module (strictly), checks the output and the gradients.
fn check_layer<M: Module>(g: &BTreeMap<String, Array>, case: &str, module: &mut M, forward: impl Fn(&M, &Array) -> rmx::Result<Array>) {
    let prefix = format!("{case}.param.");
    let weights: BTreeMap<String, Array> =
        g.iter().filter_map(|(k, v)| k.strip_prefix(&prefix).map(|n| (n.to_string(), v.clone()))).collect();
    update_weights(module, weights, true).unwrap();
    let x = &g[&format!("{case}.x")];
    assert_close(&format!("{case} output"), &forward(module, x).unwrap(), &g[&format!("{case}.y")], TOL);
    let cot = &g[&format!("{case}.cot")];
    let (_, grads) = value_and_grad(module, |m| Ok(vec![rmx::sum(&rmx::multiply(&forward(m, x)?, cot)?, Axes::All, false)?])).unwrap();
    let grad_prefix = format!("{case}.grad.");
    let expected: Vec<(&str, &Array)> = g.iter().filter_map(|(k, v)| k.strip_prefix(&grad_prefix).map(|n| (n, v))).collect();
    assert_eq!(grads.len(), expected.len(), "{case}: gradient names {:?}", grads.keys());
    for (name, want) in expected {
        assert_close(&format!("{case} grad {name}"), &grads[name], want, 1e-4);
    }
}

#[test]
fn linear_layers_match_mlx() {
    let g = golden();
    check_layer(&g, "linear", &mut Linear::new(5, 3, true).unwrap(), |m, x| m.forward(x));
    check_layer(&g, "linear_nobias", &mut Linear::new(5, 3, false).unwrap(), |m, x| m.forward(x));
    let x2 = g["bilinear.x2"].clone();
    check_layer(&g, "bilinear", &mut Bilinear::new(3, 4, 2, true).unwrap(), move |m, x| m.forward(x, &x2));
    let emb = Embedding::from_weight(g["embedding.param_weight"].clone());
    assert_close("embedding", &emb.forward(&g["embedding.ids"]).unwrap(), &g["embedding.y"], 0.0);
    assert_close("embedding as_linear", &emb.as_linear(&g["embedding.h"]).unwrap(), &g["embedding.as_linear"], TOL);
    check_layer(&g, "prelu", &mut PReLU::new(1, 0.25).unwrap(), |m, x| m.forward(x));
}

#[test]
fn normalization_layers_match_mlx() {
    let g = golden();
    check_layer(&g, "rms_norm", &mut RMSNorm::new(6, 1e-5).unwrap(), |m, x| m.forward(x));
    check_layer(&g, "layer_norm", &mut LayerNorm::new(6, 1e-5, true, true).unwrap(), |m, x| m.forward(x));
    check_layer(&g, "group_norm", &mut GroupNorm::new(2, 6, 1e-5, true, false).unwrap(), |m, x| m.forward(x));
    check_layer(&g, "group_norm_pt", &mut GroupNorm::new(2, 6, 1e-5, true, true).unwrap(), |m, x| m.forward(x));
    check_layer(&g, "instance_norm", &mut InstanceNorm::new(6, 1e-5, true).unwrap(), |m, x| m.forward(x));

    let mut bn = BatchNorm::new(4, 1e-5, 0.1, true, true).unwrap();
    let weights = [("weight", "batch_norm.weight"), ("bias", "batch_norm.bias")].map(|(k, v)| (k.to_string(), g[v].clone())).into();
    update_weights(&mut bn, weights, false).unwrap();
    let x = &g["batch_norm.x"];
    assert_close("batch_norm train", &bn.forward(x).unwrap(), &g["batch_norm.y_train"], TOL);
    let params = bn.parameters();
    assert_close("running_mean", &params["running_mean"], &g["batch_norm.running_mean"], TOL);
    assert_close("running_var", &params["running_var"], &g["batch_norm.running_var"], TOL);
    bn.train(false);
    assert_close("batch_norm eval", &bn.forward(x).unwrap(), &g["batch_norm.y_eval"], TOL);
    assert_eq!(bn.trainable_parameters().keys().collect::<Vec<_>>(), ["bias", "weight"], "running stats are state");
    bn.unfreeze();
    assert_eq!(bn.trainable_parameters().len(), 2, "unfreeze leaves state frozen");
}

#[test]
fn convolutions_and_positional_encodings_match_mlx() {
    let g = golden();
    check_layer(&g, "conv1d", &mut Conv::new(3, 4, &[3], ConvOptions::uniform(1, 2, 1, 1, 1), true).unwrap(), |m, x| m.forward(x));
    check_layer(&g, "conv2d", &mut Conv::new(4, 6, &[3, 3], ConvOptions::uniform(2, 1, 1, 1, 2), true).unwrap(), |m, x| m.forward(x));
    check_layer(
        &g,
        "conv_transpose2d",
        &mut ConvTranspose::new(3, 2, &[3, 3], ConvOptions::uniform(2, 2, 1, 1, 1), vec![0, 0], true).unwrap(),
        |m, x| m.forward(x),
    );
    assert_close("rope", &RoPE::new(8, false, 10000.0, 1.0).forward(&g["rope.x"], 3).unwrap(), &g["rope.y"], TOL);
    assert_close(
        "rope traditional",
        &RoPE::new(6, true, 500.0, 1.0).forward(&g["rope_traditional.x"], 0).unwrap(),
        &g["rope_traditional.y"],
        TOL,
    );
    assert_close("sinusoidal", &SinusoidalPositionalEncoding::new(8).forward(&g["sinusoidal.positions"]).unwrap(), &g["sinusoidal.y"], TOL);
}

#[test]
fn pooling_matches_mlx() {
    let g = golden();
    let cases = [
        ("max_pool2d", Pool::new(PoolKind::Max, &[2, 2], Some(&[2, 2]), &[1, 1]).unwrap()),
        ("avg_pool1d", Pool::new(PoolKind::Avg, &[3], Some(&[2]), &[1]).unwrap()),
        ("max_pool3d", Pool::new(PoolKind::Max, &[2, 2, 2], Some(&[1, 1, 1]), &[0, 0, 0]).unwrap()),
    ];
    for (name, pool) in cases {
        assert_close(name, &pool.forward(&g[&format!("{name}.x")]).unwrap(), &g[&format!("{name}.y")], TOL);
    }
    assert!(Pool::new(PoolKind::Max, &[2, 2], None, &[0]).is_err());
    let small = rmx::zeros(&[1, 1, 1, 1], Dtype::F32).unwrap();
    assert!(Pool::new(PoolKind::Max, &[2, 2], None, &[0, 0]).unwrap().forward(&small).is_err());
}

#[test]
fn attention_and_transformer_layers_match_mlx() {
    let g = golden();
    let causal = |case: &str| rmx::AttentionMask::Array(g[&format!("{case}.mask")].clone());
    let (keys, mask) = (g["mha.keys"].clone(), causal("mha"));
    check_layer(&g, "mha", &mut MultiHeadAttention::new(8, 2, false).unwrap(), move |m, x| m.forward(x, &keys, &keys, Some(&mask)));
    let mask = causal("encoder_layer");
    check_layer(
        &g,
        "encoder_layer",
        &mut TransformerEncoderLayer::new(8, 2, Some(16), 0.0, activations::relu, true).unwrap(),
        move |m, x| m.forward(x, Some(&mask)),
    );
    let (memory, mask) = (g["decoder.memory"].clone(), causal("decoder"));
    check_layer(&g, "decoder", &mut TransformerDecoder::new(2, 8, 2, Some(16), 0.0, activations::relu, false).unwrap(), move |m, x| {
        m.forward(x, &memory, Some(&mask), None)
    });
    let built = MultiHeadAttention::create_additive_causal_mask(5, Dtype::F32).unwrap();
    assert_close("causal mask", &built, &g["mha.mask"], 0.0);
}

#[test]
fn recurrent_layers_match_mlx() {
    let g = golden();
    let h0 = g["rnn.h0"].clone();
    check_layer(&g, "rnn", &mut RNN::new(3, 5, true).unwrap(), move |m, x| m.forward(x, Some(&h0)));
    check_layer(&g, "gru", &mut GRU::new(3, 5, true).unwrap(), |m, x| m.forward(x, None));
    let mut lstm = LSTM::new(3, 5, true).unwrap();
    let weights = g.iter().filter_map(|(k, v)| k.strip_prefix("lstm.param.").map(|n| (n.to_string(), v.clone()))).collect();
    update_weights(&mut lstm, weights, true).unwrap();
    let h0 = &g["lstm.h0"];
    let (h, c) = lstm.forward(&g["lstm.x"], Some(h0), Some(&rmx::multiply(h0, 0.5).unwrap())).unwrap();
    assert_close("lstm hidden", &h, &g["lstm.hidden"], TOL);
    assert_close("lstm cell", &c, &g["lstm.cell"], TOL);
}

#[test]
fn upsampling_and_alibi_match_mlx() {
    let g = golden();
    let x = &g["upsample.x"];
    use UpsampleMode::*;
    let cases = [
        ("nearest_2", vec![2.0, 2.0], Nearest, false, false),
        ("nearest_1_5", vec![1.5, 2.5], Nearest, false, false),
        ("linear", vec![2.0, 2.0], Linear, false, false),
        ("linear_align", vec![1.5, 2.0], Linear, true, false),
        ("cubic", vec![2.0, 2.0], Cubic, false, false),
        ("cubic_align", vec![2.0, 2.0], Cubic, true, false),
        ("linear_aa_down", vec![0.5, 0.5], Linear, false, true),
        ("cubic_aa", vec![0.75, 1.5], Cubic, false, true),
    ];
    for (name, scale, mode, align, aa) in cases {
        let up = Upsample::new(scale, mode, align, aa).unwrap();
        assert_close(name, &up.forward(x).unwrap(), &g[&format!("upsample.{name}")], 1e-5);
    }
    assert!(Upsample::new(vec![2.0], Linear, true, true).is_err());
    assert!(Upsample::new(vec![2.0], Linear, false, false).unwrap().forward(x).is_err());
    assert_close("alibi", &ALiBi.forward(&g["alibi.scores"], 2, None).unwrap(), &g["alibi.y"], TOL);
}

#[test]
fn activations_match_mlx() {
    let g = golden();
    let x = &g["act.x"];
    type Unary = fn(&Array) -> rmx::Result<Array>;
    let unary: [(&str, Unary); 22] = [
        ("relu", activations::relu),
        ("relu2", activations::relu2),
        ("relu6", activations::relu6),
        ("leaky_relu", |x| activations::leaky_relu(x, 0.01)),
        ("elu", |x| activations::elu(x, 1.0)),
        ("celu", |x| activations::celu(x, 1.3)),
        ("selu", activations::selu),
        ("sigmoid", activations::sigmoid),
        ("log_sigmoid", activations::log_sigmoid),
        ("softplus", activations::softplus),
        ("softsign", activations::softsign),
        ("softshrink", |x| activations::softshrink(x, 0.5)),
        ("hard_shrink", |x| activations::hard_shrink(x, 0.5)),
        ("hard_tanh", |x| activations::hard_tanh(x, -1.0, 1.0)),
        ("silu", activations::silu),
        ("mish", activations::mish),
        ("hardswish", activations::hardswish),
        ("gelu", activations::gelu),
        ("gelu_approx", activations::gelu_approx),
        ("gelu_fast_approx", activations::gelu_fast_approx),
        ("step", |x| activations::step(x, 0.0)),
        ("tanh", activations::tanh),
    ];
    for (name, f) in unary {
        assert_close(name, &f(x).unwrap(), &g[&format!("act.{name}")], TOL);
    }
    let x2 = &g["act.x2"];
    assert_close("glu", &activations::glu(x2, -1).unwrap(), &g["act.glu"], TOL);
    assert_close("softmax", &activations::softmax(x2, -1).unwrap(), &g["act.softmax"], TOL);
    assert_close("softmin", &activations::softmin(x2, -1).unwrap(), &g["act.softmin"], TOL);
    assert_close("log_softmax", &activations::log_softmax(x2, -1).unwrap(), &g["act.log_softmax"], TOL);
}

#[test]
fn quantized_linear_matches_mlx_bytes_and_output() {
    let g = golden();
    let mut layer = Linear::from_weights(g["quantized_linear.weight_f32"].clone(), Some(g["quantized_linear.bias"].clone()));
    let spec = QuantizeSpec { group_size: 64, bits: 4, mode: rmx::QuantMode::Affine };
    assert_eq!(quantize(&mut layer, spec, &|_, m| m.kind() == "Linear").unwrap(), [""]);
    let p = layer.parameters();
    assert_eq!(p["weight"].to_bytes().unwrap(), g["quantized_linear.qweight"].to_bytes().unwrap(), "packed weights");
    assert_close("scales", &p["scales"], &g["quantized_linear.scales"], 0.0);
    assert_close("biases", &p["biases"], &g["quantized_linear.biases"], 0.0);
    assert_close("output", &layer.forward(&g["quantized_linear.x"]).unwrap(), &g["quantized_linear.y"], 1e-4);
    assert!(layer.trainable_parameters().is_empty(), "quantized layers are frozen, as in MLX");
}

/// MLX's `QuantizedLinear` in the floating-point modes: uint8 scales, no biases.
#[test]
fn quantized_linear_fp_modes_match_mlx() {
    let g = golden();
    for (mode, group_size, bits) in [("mxfp4", 32, 4), ("mxfp8", 32, 8), ("nvfp4", 16, 4)] {
        let case = |role: &str| g[&format!("quantized_linear_{mode}.{role}")].clone();
        let mut layer = Linear::from_weights(case("weight_f32"), Some(case("bias")));
        let mode_enum = match mode {
            "mxfp4" => rmx::QuantMode::Mxfp4,
            "mxfp8" => rmx::QuantMode::Mxfp8,
            _ => rmx::QuantMode::Nvfp4,
        };
        quantize(&mut layer, QuantizeSpec { group_size, bits, mode: mode_enum }, &|_, _| true).unwrap();
        let p = layer.parameters();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["bias", "scales", "weight"], "{mode}");
        assert_eq!(p["weight"].to_bytes().unwrap(), case("qweight").to_bytes().unwrap(), "{mode}: packed weights");
        assert_eq!(p["scales"].to_bytes().unwrap(), case("scales").to_bytes().unwrap(), "{mode}: scales");
        assert_close(mode, &layer.forward(&case("x")).unwrap(), &case("y"), 1e-4);
    }
}

/// MLX's `QQLinear` (input quantized too) in evaluation mode; back in training mode the
/// weight is float again.
#[test]
fn qq_linear_matches_mlx() {
    let g = golden();
    for (mode, spec) in [
        ("nvfp4", QuantizeSpec { group_size: 16, bits: 4, mode: rmx::QuantMode::Nvfp4 }),
        ("mxfp8", QuantizeSpec { group_size: 32, bits: 8, mode: rmx::QuantMode::Mxfp8 }),
    ] {
        let case = |role: &str| g[&format!("qq_linear_{mode}.{role}")].clone();
        let mut layer = rmx_nn::QQLinear::from_linear(&Linear::from_weights(case("weight_f32"), None), spec).unwrap();
        layer.train(false);
        let p = layer.parameters();
        assert_eq!(p["weight"].to_bytes().unwrap(), case("qweight").to_bytes().unwrap(), "{mode}: packed weights");
        assert_eq!(p["scales"].to_bytes().unwrap(), case("scales").to_bytes().unwrap(), "{mode}: scales");
        assert!(layer.trainable_parameters().is_empty(), "{mode}: a packed weight is not trained");
        assert_close(mode, &layer.forward(&case("x")).unwrap(), &case("y"), 1e-4);
        layer.train(true);
        assert_eq!(layer.parameters().keys().collect::<Vec<_>>(), ["weight"], "{mode}: float weight in training mode");
        assert_eq!(layer.weight.value.dtype(), rmx::Dtype::F32);
        // The same through `quantize_with_inputs` (MLX's `quantize_input=True`) inside a model.
        let mut model = Sequential::new().push(Linear::from_weights(case("weight_f32"), None));
        assert_eq!(rmx_nn::quantize_with_inputs(&mut model, spec, &|_, _| true).unwrap(), ["layers.0"]);
        let p = model.parameters();
        assert_eq!(p["layers.0.weight"].to_bytes().unwrap(), case("qweight").to_bytes().unwrap(), "{mode}: swapped, packed");
        assert_eq!(p["layers.0.scales"].to_bytes().unwrap(), case("scales").to_bytes().unwrap(), "{mode}: swapped, scales");
        assert_close(mode, &model.forward(&case("x")).unwrap(), &case("y"), 1e-4);
        model.train(true);
        assert_eq!(model.trainable_parameters().keys().collect::<Vec<_>>(), ["layers.0.weight"], "{mode}: swapped, training");
        let (_, grads) = value_and_grad(&mut model, |m| Ok(vec![rmx::sum(&m.forward(&case("x"))?, Axes::All, false)?])).unwrap();
        assert_eq!(grads["layers.0.weight"].shape(), case("weight_f32").shape());
    }
    let mut biased_model = Sequential::new().push(Linear::new(64, 8, true).unwrap());
    assert!(
        rmx_nn::quantize_with_inputs(&mut biased_model, rmx_nn::QQLinear::nvfp4(), &|_, _| true).is_err(),
        "no bias with quantized inputs, as MLX"
    );
    let biased = Linear::from_weights(rmx::ones(&[8, 64], rmx::Dtype::F32).unwrap(), Some(rmx::zeros(&[8], rmx::Dtype::F32).unwrap()));
    assert!(rmx_nn::QQLinear::from_linear(&biased, rmx_nn::QQLinear::nvfp4()).is_err(), "QQLinear has no bias, as in MLX");
}

/// In training mode a `QQLinear` learns through `qqmm`'s gradients (MLX's reverse rule, whose
/// values `rmx`'s quant_fp goldens check): fitting a linear map brings the loss down eightfold,
/// near what the teacher's own weights reach through the quantized product, and the packed
/// (evaluation) layer keeps the fit.
#[test]
fn qq_linear_trains_through_quantized_products() {
    let key = |k| Some(rmx::random::key(k));
    let teacher = rmx::random::normal(&[8, 32], Dtype::F32, 0.0, 0.3, key(1).as_ref()).unwrap();
    let x = rmx::random::normal(&[64, 32], Dtype::F32, 0.0, 1.0, key(2).as_ref()).unwrap();
    let y = rmx::matmul(&x, &rmx::transpose(&teacher, None).unwrap()).unwrap();
    for spec in [QQLinear::nvfp4(), QuantizeSpec { group_size: 32, bits: 8, mode: rmx::QuantMode::Mxfp8 }] {
        let weight = rmx::random::normal(&[8, 32], Dtype::F32, 0.0, 0.1, key(3).as_ref()).unwrap();
        let mut layer = QQLinear::from_linear(&Linear::from_weights(weight, None), spec).unwrap();
        let mut opt = optim::Optimizer::new(optim::Adam::default(), 0.02);
        let loss_of = |l: &QQLinear| losses::mse_loss(&l.forward(&x)?, &y, losses::Reduction::Mean);
        let mut losses_seen = Vec::new();
        for _ in 0..80 {
            let (loss, grads) = value_and_grad(&mut layer, |l| Ok(vec![loss_of(l)?])).unwrap();
            losses_seen.push(loss[0].item::<f32>().unwrap());
            opt.update(&mut layer, &grads).unwrap();
        }
        // The floor: the teacher's own weights through the quantized product.
        let floor = loss_of(&QQLinear::from_linear(&Linear::from_weights(teacher.clone(), None), spec).unwrap()).unwrap();
        let floor = floor.item::<f32>().unwrap();
        let (first, last) = (losses_seen[0], *losses_seen.last().unwrap());
        // nvfp4 gradients are 4-bit products rounded to nearest (MLX's rule): the fit stalls
        // about 5x above the floor (exact gradients reach it), mxfp8 within 2x.
        let reach = if spec.mode == rmx::QuantMode::Nvfp4 { 6.0 } else { 3.0 };
        assert!(last < first / 8.0 && last < reach * floor, "{:?}: loss {first} -> {last} (floor {floor})", spec.mode);
        layer.train(false);
        let packed = loss_of(&layer).unwrap().item::<f32>().unwrap();
        assert!(packed < reach * floor, "{:?}: packed loss {packed} (trained {last}, floor {floor})", spec.mode);
    }
}

#[test]
fn quantized_embedding_matches_mlx() {
    let g = golden();
    let mut emb = Embedding::from_weight(g["quantized_embedding.weight_f32"].clone());
    let spec = QuantizeSpec { group_size: 32, bits: 8, mode: rmx::QuantMode::Affine };
    assert_eq!(quantize(&mut emb, spec, &|_, _| true).unwrap(), [""]);
    let p = emb.parameters();
    assert_eq!(p["weight"].to_bytes().unwrap(), g["quantized_embedding.qweight"].to_bytes().unwrap(), "packed table");
    assert_close("scales", &p["scales"], &g["quantized_embedding.scales"], 0.0);
    assert_close("lookup", &emb.forward(&g["quantized_embedding.ids"]).unwrap(), &g["quantized_embedding.y"], 1e-6);
    assert_close("as_linear", &emb.as_linear(&g["quantized_embedding.h"]).unwrap(), &g["quantized_embedding.as_linear"], 1e-4);
}

struct Block {
    norm: RMSNorm,
    proj: Linear,
    dropout: Dropout,
}
visit!(Block { norm, proj, dropout });
impl Module for Block {}

struct Model {
    embed: Embedding,
    layers: Vec<Block>,
    head: Option<Linear>,
}
visit!(Model { embed, layers, head });
impl Module for Model {}

fn model() -> Model {
    let block =
        || Block { norm: RMSNorm::new(8, 1e-5).unwrap(), proj: Linear::new(8, 8, true).unwrap(), dropout: Dropout::new(0.1).unwrap() };
    Model { embed: Embedding::new(16, 8).unwrap(), layers: vec![block(), block()], head: Some(Linear::new(8, 16, false).unwrap()) }
}

#[test]
fn module_tree_names_freezing_modes_and_dtypes() {
    let mut m = model();
    let names: Vec<String> = m.parameters().into_keys().collect();
    assert_eq!(
        names,
        [
            "embed.weight",
            "head.weight",
            "layers.0.norm.weight",
            "layers.0.proj.bias",
            "layers.0.proj.weight",
            "layers.1.norm.weight",
            "layers.1.proj.bias",
            "layers.1.proj.weight"
        ]
    );
    assert_eq!(m.num_parameters(), 16 * 8 + 8 * 16 + 2 * (8 + 8 + 64));
    m.freeze_where(&|n| n.starts_with("layers.0."));
    assert_eq!(m.trainable_parameters().len(), 5);
    m.unfreeze();
    assert_eq!(m.trainable_parameters().len(), 8);
    let kinds: Vec<(String, &str)> = m.named_modules();
    assert!(kinds.contains(&("layers.1.dropout".to_string(), "Dropout")), "{kinds:?}");
    // Eval mode turns dropout into the identity.
    m.train(false);
    let x = rmx::ones(&[2, 8], Dtype::F32).unwrap();
    assert_eq!(m.layers[0].dropout.forward(&x).unwrap().to_vec::<f32>().unwrap(), vec![1.0; 16]);
    m.set_dtype(Dtype::BF16, &|n| !n.contains("norm")).unwrap();
    let p = m.parameters();
    assert_eq!((p["embed.weight"].dtype(), p["layers.0.norm.weight"].dtype()), (Dtype::BF16, Dtype::F32));
    // Strict update refuses unknown names and wrong shapes, and changes nothing then.
    let bad: BTreeMap<String, Array> = [("nope".to_string(), x.clone())].into();
    assert!(m.update(&bad, true).is_err());
    let wrong: BTreeMap<String, Array> = [("head.weight".to_string(), x)].into();
    assert!(m.update(&wrong, true).unwrap_err().to_string().contains("head.weight"));
}

#[test]
fn weights_save_and_load_in_both_formats_strict_and_not() {
    let dir = std::env::temp_dir().join(format!("rmx-nn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = model();
    for file in ["w.safetensors", "w.npz"] {
        let path = dir.join(file);
        save_weights(&a, &path).unwrap();
        let mut b = model();
        load_weights(&mut b, &path, true).unwrap();
        for (name, v) in a.parameters() {
            assert_eq!(b.parameters()[&name].to_bytes().unwrap(), v.to_bytes().unwrap(), "{file}: {name}");
        }
    }
    // A model without the head: strict loading names the extra parameter; non-strict loads the rest.
    let mut headless = model();
    headless.head = None;
    let err = load_weights(&mut headless, dir.join("w.safetensors"), true).unwrap_err().to_string();
    assert!(err.contains("head.weight"), "{err}");
    load_weights(&mut headless, dir.join("w.safetensors"), false).unwrap();
    assert_eq!(headless.parameters()["embed.weight"].to_bytes().unwrap(), a.parameters()["embed.weight"].to_bytes().unwrap());
    // A shape mismatch is an error even when not strict.
    let mut other = model();
    other.embed = Embedding::new(17, 8).unwrap();
    assert!(load_weights(&mut other, dir.join("w.npz"), false).unwrap_err().to_string().contains("embed.weight"));
    assert!(load_weights(&mut other, dir.join("w.bin"), false).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
