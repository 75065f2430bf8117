//! Every architecture against transformers: tiny random checkpoints written by
//! `scripts/gen_lm_goldens.py` (float32 weights, reference run in float64) with the logits of
//! a fixed prompt and transformers' greedy continuation. rmx-lm must match the logits to a
//! relative error below 1e-4 and the 32 greedy tokens exactly (the continuation runs through
//! the KV caches, including Gemma 3's sliding window, whose window is shorter than the run).

use rmx::Array;
use rmx_lm::{load_model, SamplingParams, TokenSource, TokenStream};
use std::path::PathBuf;

fn model_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models").join(name)
}

fn expected(name: &str) -> (Vec<u32>, Array, Vec<u32>) {
    let (t, _) = rmx::io::load_safetensors(model_dir(name).join("expected.safetensors")).unwrap();
    let ids = |k: &str| t[k].to_vec::<i32>().unwrap().into_iter().map(|x| x as u32).collect::<Vec<_>>();
    (ids("tokens"), t["logits"].clone(), ids("greedy"))
}

fn check(name: &str) {
    let (model, _) = load_model(&model_dir(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (prompt, want, greedy) = expected(name);
    let ids = Array::from_slice(&prompt, &[1, prompt.len()]).unwrap();
    let got = model.forward(&ids, &mut model.new_cache()).unwrap();
    let got = rmx::squeeze(&got, Some(&[0])).unwrap().to_vec::<f32>().unwrap();
    let want = want.to_vec::<f32>().unwrap();
    assert_eq!(got.len(), want.len(), "{name}: logits size");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    assert!(err < 1e-4, "{name}: relative logits error {err:e}");
    let mut stream = TokenStream::new(model.as_ref(), &prompt, SamplingParams::default(), 5, None).unwrap();
    let continuation: Vec<u32> = (0..greedy.len()).map(|_| stream.next_token().unwrap().unwrap()).collect();
    assert_eq!(continuation, greedy, "{name}: greedy continuation");
}

#[test]
fn llama_with_llama3_rope_scaling() {
    check("llama");
}

#[test]
fn llama_tied_with_linear_rope_scaling() {
    check("llama_tied");
}

#[test]
fn mistral() {
    check("mistral");
}

#[test]
fn qwen2() {
    check("qwen2");
}

#[test]
fn qwen3() {
    check("qwen3");
}

#[test]
fn qwen3_moe() {
    check("qwen3_moe");
}

#[test]
fn phi3() {
    check("phi3");
}

#[test]
fn gemma3_text_with_sliding_window() {
    check("gemma3_text");
}

#[test]
fn llama_q4_g64_mlx_checkpoint() {
    check("llama_q4");
}

#[test]
fn qwen3_moe_q4_g32_mlx_checkpoint_through_gather_qmm() {
    check("qwen3_moe_q4");
}
