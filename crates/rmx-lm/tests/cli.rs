//! The `rmx-lm` binary end to end: generation on the bundled model, clear errors for bad
//! input (exit code 1, a message naming the problem, no panic), and `convert -q` producing an
//! MLX-format checkpoint that reproduces transformers' logits of the dequantized weights.

use rmx::Array;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rmx_lm(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmx-lm"));
    cmd.args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        // A command that rejects its arguments exits without reading stdin: a broken pipe
        // here is that, not a failure (its exit status and stderr are what tests check).
        if let Err(err) = input.write_all(stdin.unwrap_or("").as_bytes()) {
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "writing the child's stdin: {err}");
        }
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

#[test]
fn generate_on_the_bundled_model_streams_text_and_statistics() {
    let out = rmx_lm(&["generate", "--prompt", "Alice was beginning", "--max-tokens", "12"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Alice was beginning") && stdout.len() > "Alice was beginning".len() + 5, "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Prompt: 3 tokens") || stderr.contains("Prompt:"), "{stderr}");
    assert!(stderr.contains("Generation: 12 tokens"), "{stderr}");
    // Reading the prompt from stdin, seeded sampling is reproducible.
    let args = ["generate", "-q", "-n", "16", "--temp", "0.9", "--seed", "5"];
    let (a, b) = (rmx_lm(&args, Some("The Queen")), rmx_lm(&args, Some("The Queen")));
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert_eq!(text(&a.stdout), text(&b.stdout));
}

#[test]
fn prompt_caches_rotating_caches_and_draft_models_from_the_command_line() {
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/rmx-alice");
    let generate = |extra: &[&str], prompt: &str| {
        let mut args = vec!["generate", "-q", "-n", "20"];
        args.extend(extra);
        args.extend(["--prompt", prompt]);
        let out = rmx_lm(&args, None);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let plain = generate(&[], "Alice was beginning to get very tired");
    // Speculative decoding with the model as its own draft changes nothing under greedy sampling.
    let draft = bundled.to_str().unwrap();
    assert_eq!(generate(&["--draft-model", draft, "--num-draft-tokens", "4"], "Alice was beginning to get very tired"), plain);
    // A cached prefix plus the rest of the prompt continues like the whole prompt.
    let file = std::env::temp_dir().join(format!("rmx-lm-cli-cache-{}.safetensors", std::process::id()));
    let out = rmx_lm(&["cache-prompt", "--prompt", "Alice was beginning", "--prompt-cache-file", file.to_str().unwrap()], None);
    assert!(out.status.success() && text(&out.stderr).contains("Cached"), "{}", text(&out.stderr));
    let cached = generate(&["--prompt-cache-file", file.to_str().unwrap()], " to get very tired");
    assert_eq!(cached.trim_end(), plain.trim_end());
    std::fs::remove_file(&file).unwrap();
    // A bounded cache longer than the run is the same as an unbounded one; a small one runs.
    assert_eq!(generate(&["--max-kv-size", "256"], "Alice was beginning to get very tired"), plain);
    assert!(!generate(&["--max-kv-size", "8"], "Alice was beginning to get very tired").is_empty());
    // An 8-bit KV cache from the first token keeps this small model's greedy text; a GGUF file
    // loads through --model (its output checked against transformers in tests/models.rs).
    let kv8 = generate(&["--kv-bits", "8", "--kv-group-size", "32", "--quantized-kv-start", "0"], "Alice was beginning to get very tired");
    assert_eq!(kv8, plain);
    let gguf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models/gguf/mistral_q4_0.gguf");
    for batch in ["1", "3"] {
        let out = rmx_lm(&["bench", "--model", gguf.to_str().unwrap(), "-p", "8", "-g", "4", "-n", "1", "-b", batch, "--json"], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stats: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
        assert!(stats["generation_tps"].as_f64().unwrap() > 0.0 && stats["batch_size"] == batch.parse::<u64>().unwrap(), "{stats}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let cases: [(&[&str], Option<&str>, &str); 9] = [
        (&["generate", "-p", "hi", "--kv-bits", "4"], None, "--kv-group-size 64 does not divide the head size 32"),
        (&["generate", "-p", "hi", "--kv-bits", "7", "--kv-group-size", "32"], None, "bits in 2, 3, 4, 5, 6, 8"),
        (&["generate", "--prompt", ""], None, "empty prompt"),
        (&["generate", "-p", "hi", "--max-kv-size", "4"], None, "cannot keep 4"),
        (&["generate", "-p", "hi", "--prompt-cache-file", "/nonexistent.safetensors"], None, "nonexistent"),
        (&["generate"], Some(""), "empty prompt"),
        (&["generate", "--model", "/nonexistent/model", "-p", "hi"], None, "not a directory"),
        (&["generate", "-p", "hi", "--top-p", "0"], None, "top_p"),
        (&["chat"], Some("q\n"), "no chat template"),
    ];
    for (args, stdin, message) in cases {
        let out = rmx_lm(args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(message), "{args:?}: {}", text(&out.stderr));
    }
    // A prompt longer than the model's context (512 positions).
    let long = "Alice ".repeat(600);
    let out = rmx_lm(&["generate", "-p", &long, "-n", "1"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("more than the model's context of 512"), "{}", text(&out.stderr));
}

#[test]
fn truncated_weights_and_bad_configs_are_errors() {
    let tmp = std::env::temp_dir().join(format!("rmx-lm-bad-{}", std::process::id()));
    let src = tests_dir().join("models/llama");
    let copy = |name: &str| {
        let dir = tmp.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        dir
    };
    let truncated = copy("truncated");
    let bytes = std::fs::read(truncated.join("model.safetensors")).unwrap();
    std::fs::write(truncated.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = rmx_lm::load_model(&truncated).unwrap_err().to_string();
    assert!(err.contains("safetensors"), "{err}");
    let missing_field = copy("missing");
    let config = std::fs::read_to_string(missing_field.join("config.json")).unwrap().replace("\"hidden_size\": 64,", "");
    std::fs::write(missing_field.join("config.json"), config).unwrap();
    let err = rmx_lm::load_model(&missing_field).unwrap_err().to_string();
    assert!(err.contains("missing field `hidden_size`"), "{err}");
    let unknown = copy("unknown");
    let config =
        std::fs::read_to_string(unknown.join("config.json")).unwrap().replace("\"model_type\": \"llama\"", "\"model_type\": \"rwkv9\"");
    std::fs::write(unknown.join("config.json"), config).unwrap();
    let err = rmx_lm::load_model(&unknown).unwrap_err().to_string();
    assert!(err.contains("unsupported model_type 'rwkv9'"), "{err}");
    let wrong_shape = copy("shape");
    let config = std::fs::read_to_string(wrong_shape.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 128", "\"intermediate_size\": 96");
    std::fs::write(wrong_shape.join("config.json"), config).unwrap();
    let err = rmx_lm::load_model(&wrong_shape).unwrap_err().to_string();
    assert!(err.contains("mlp.down_proj.weight") && err.contains("shape"), "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn logits_error(dir: &Path, expected_of: &str) -> f32 {
    let (model, _) = rmx_lm::load_model(dir).unwrap();
    let (t, _) = rmx::io::load_safetensors(tests_dir().join("models").join(expected_of).join("expected.safetensors")).unwrap();
    let prompt: Vec<u32> = t["tokens"].to_vec::<i32>().unwrap().into_iter().map(|x| x as u32).collect();
    let got = model.forward(&Array::from_slice(&prompt, &[1, prompt.len()]).unwrap(), &mut model.new_cache()).unwrap();
    let (got, want) = (got.to_vec::<f32>().unwrap(), t["logits"].to_vec::<f32>().unwrap());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

#[test]
fn convert_quantizes_like_mlx() {
    let out_dir = std::env::temp_dir().join(format!("rmx-lm-convert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let src = tests_dir().join("models/llama");
    let out = rmx_lm(
        &[
            "convert",
            "--model",
            src.to_str().unwrap(),
            "--mlx-path",
            out_dir.to_str().unwrap(),
            "-q",
            "--q-bits",
            "4",
            "--q-group-size",
            "64",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // rmx's q4 packing is MLX's, so the converted model is the MLX-made llama_q4 checkpoint.
    let err = logits_error(&out_dir, "llama_q4");
    assert!(err < 1e-4, "converted q4 model: relative logits error {err:e}");
    let converted = rmx::io::load_safetensors(out_dir.join("model.safetensors")).unwrap().0;
    let mlx = rmx::io::load_safetensors(tests_dir().join("models/llama_q4/model.safetensors")).unwrap().0;
    assert_eq!(converted.keys().collect::<Vec<_>>(), mlx.keys().collect::<Vec<_>>());
    for (name, a) in &mlx {
        assert!(rmx::array_equal(a, &converted[name], false).unwrap().item::<bool>().unwrap(), "{name} differs from MLX's");
    }
    let again = rmx_lm(&["convert", "--model", src.to_str().unwrap(), "--mlx-path", out_dir.to_str().unwrap()], None);
    assert!(text(&again.stderr).contains("already exists"));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

/// `--quant-predicate` recipes against mlx-lm's own quantize_model with its recipe predicate
/// (`scripts/gen_lm_mixed_quant_goldens.py`): the same per-layer config entries and the same
/// bytes in every tensor; the converted directory loads and runs.
#[test]
fn convert_mixed_recipes_like_mlx_lm() {
    let src = tests_dir().join("models/llama");
    for recipe in ["mixed_3_6", "mixed_2_6"] {
        let out_dir = std::env::temp_dir().join(format!("rmx-lm-convert-{recipe}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out_dir);
        let args = ["convert", "--model", src.to_str().unwrap(), "--mlx-path", out_dir.to_str().unwrap(), "-q", "--q-group-size", "32"];
        let out = rmx_lm(&[&args[..], &["--quant-predicate", recipe]].concat(), None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let golden = tests_dir().join(format!("models/llama_{recipe}"));
        let config =
            |dir: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap() };
        assert_eq!(config(&out_dir)["quantization"], config(&golden)["quantization"], "{recipe}: config");
        let converted = rmx::io::load_safetensors(out_dir.join("model.safetensors")).unwrap().0;
        let mlx = rmx::io::load_safetensors(golden.join("model.safetensors")).unwrap().0;
        assert_eq!(converted.keys().collect::<Vec<_>>(), mlx.keys().collect::<Vec<_>>(), "{recipe}");
        for (name, a) in &mlx {
            assert!(
                rmx::array_equal(a, &converted[name], false).unwrap().item::<bool>().unwrap(),
                "{recipe}: {name} differs from mlx-lm's"
            );
        }
        // Both directories load (per-layer overrides) and run; 2-3 bit weights of a random
        // model stay within the float model's logit range.
        let err = logits_error(&out_dir, "llama");
        assert!(err.is_finite() && err < 1.0, "{recipe}: relative logits error {err}");
        assert_eq!(logits_error(&golden, "llama"), err);
        std::fs::remove_dir_all(&out_dir).unwrap();
    }
    let out = rmx_lm(&["convert", "--model", src.to_str().unwrap(), "--mlx-path", "/tmp/x", "-q", "--quant-predicate", "mixed_5_7"], None);
    assert!(text(&out.stderr).contains("unknown quantization recipe 'mixed_5_7'"), "{}", text(&out.stderr));
}
