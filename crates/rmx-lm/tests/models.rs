//! Every architecture against transformers: tiny random checkpoints written by
//! `scripts/gen_lm_goldens.py` (float32 weights, reference run in float64) with the logits of
//! a fixed prompt and transformers' greedy continuation. rmx-lm must match the logits to a
//! relative error below 1e-4 and the 32 greedy tokens exactly (the continuation runs through
//! the KV caches, including Gemma 3's sliding window, whose window is shorter than the run).

use rmx::Array;
use rmx_lm::{load_model, LanguageModel, SamplingParams, TokenSource, TokenStream};
use std::path::{Path, PathBuf};

fn model_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models").join(name)
}

fn expected(path: &Path) -> (Vec<u32>, Array, Vec<u32>) {
    let (t, _) = rmx::io::load_safetensors(path).unwrap();
    let ids = |k: &str| t[k].to_vec::<i32>().unwrap().into_iter().map(|x| x as u32).collect::<Vec<_>>();
    (ids("tokens"), t["logits"].clone(), ids("greedy"))
}

fn check(name: &str) {
    let (model, _) = load_model(&model_dir(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_model(name, model.as_ref(), &model_dir(name).join("expected.safetensors"));
}

fn check_model(name: &str, model: &dyn LanguageModel, expected_file: &Path) {
    let (prompt, want, greedy) = expected(expected_file);
    let ids = Array::from_slice(&prompt, &[1, prompt.len()]).unwrap();
    let got = model.forward(&ids, &mut model.new_cache()).unwrap();
    let got = rmx::squeeze(&got, Some(&[0])).unwrap().to_vec::<f32>().unwrap();
    let want = want.to_vec::<f32>().unwrap();
    assert_eq!(got.len(), want.len(), "{name}: logits size");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    assert!(err < 1e-4, "{name}: relative logits error {err:e}");
    let mut stream = TokenStream::new(model, &prompt, SamplingParams::default(), 5, None).unwrap();
    let continuation: Vec<u32> = (0..greedy.len()).map(|_| stream.next_token().unwrap().unwrap()).collect();
    assert_eq!(continuation, greedy, "{name}: greedy continuation");
}

/// A GGUF file written by llama.cpp's gguf-py (`scripts/gen_lm_gguf_goldens.py`), against
/// transformers' own GGUF loader (or, for llama3 rope factors, which it ignores, against the
/// Hugging Face checkpoint the file was converted from).
fn check_gguf(file: &str, expected_file: &Path) {
    let path = model_dir("gguf").join(format!("{file}.gguf"));
    let loaded = rmx_lm::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    check_model(file, loaded.model.as_ref(), expected_file);
}

fn gguf_expected(file: &str) -> PathBuf {
    model_dir("gguf").join("expected").join(format!("{file}.safetensors"))
}

#[test]
fn gguf_llama_f32_with_llama3_rope_factors() {
    check_gguf("llama3_f32", &model_dir("llama").join("expected.safetensors"));
}

#[test]
fn gguf_mistral_f32_q8_0_and_q4_0() {
    for file in ["mistral_f32", "mistral_q8_0", "mistral_q4_0"] {
        check_gguf(file, &gguf_expected(file));
    }
}

#[test]
fn gguf_qwen2_f32_with_biases_qwen3_q4_0_with_qk_norms_and_qwen3moe_q8_0() {
    for file in ["qwen2_f32", "qwen3_q4_0", "qwen3_moe_q8_0"] {
        check_gguf(file, &gguf_expected(file));
    }
    let loaded = rmx_lm::load(model_dir("gguf").join("qwen3_q4_0.gguf")).unwrap();
    let q = rmx_lm::loader::quantization_of(&loaded.config).unwrap().expect("quantized");
    assert_eq!((q.default.group_size, q.default.bits), (32, 4));
}

#[test]
fn gguf_phi3_q8_0_with_fused_projections() {
    check_gguf("phi3_q8_0", &gguf_expected("phi3_q8_0"));
}

/// llama.cpp's LongRoPE tensors and metadata, against the Hugging Face checkpoint's goldens
/// (transformers' GGUF loader ignores the factors).
#[test]
fn gguf_phi3_f32_with_longrope_factors_and_partial_rotary() {
    check_gguf("phi3_longrope_f32", &model_dir("phi3_longrope").join("expected.safetensors"));
}

#[test]
fn gguf_errors_name_the_problem() {
    let dir = std::env::temp_dir().join(format!("rmx-gguf-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::fs::read(model_dir("gguf").join("mistral_q4_0.gguf")).unwrap();
    let truncated = dir.join("truncated.gguf");
    std::fs::write(&truncated, &source[..source.len() / 2]).unwrap();
    let err = rmx_lm::load(&truncated).unwrap_err().to_string();
    assert!(err.contains("gguf") && err.contains("past the end"), "{err}");
    let meta = |arch: &str| [("general.architecture".to_string(), rmx::io::GgufValue::Str(arch.into()))].into();
    let tensors = [("token_embd.weight".to_string(), rmx::zeros(&[4, 8], rmx::Dtype::F32).unwrap())].into();
    let other = dir.join("other.gguf");
    rmx::io::save_gguf(&other, &tensors, &meta("falcon")).unwrap();
    let err = rmx_lm::load(&other).unwrap_err().to_string();
    assert!(err.contains("GGUF architecture 'falcon'"), "{err}");
    rmx::io::save_gguf(&other, &tensors, &meta("llama")).unwrap();
    let err = rmx_lm::load(&other).unwrap_err().to_string();
    assert!(err.contains("llama.embedding_length") && err.contains("missing"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
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

/// Short factors for the 12-token prompt, long ones once the continuation passes the original
/// context of 16; partial rotary embedding; attention factor sqrt(1 + ln 16 / ln 16).
#[test]
fn phi3_with_longrope_scaling() {
    check("phi3_longrope");
}

/// `factor` 4 where max/original positions is 8: transformers uses the explicit factor.
#[test]
fn qwen3_with_yarn_rope_scaling() {
    check("qwen3_yarn");
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
