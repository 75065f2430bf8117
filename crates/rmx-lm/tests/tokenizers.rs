//! Tokenizers and chat templates against transformers (`scripts/gen_tokenizer_goldens.py`):
//! the real WordPiece tokenizer of all-MiniLM-L6-v2, a byte-level BPE with a ChatML template
//! (tools, `tojson`, loop controls, `raise_exception`) and a SentencePiece-style BPE with a
//! Llama-2 template (Python string methods). Encoding, decoding, streaming decoding and the
//! rendered templates (or the errors they raise) must match exactly.

use rmx_lm::Tokenizer;
use serde_json::Value;
use std::path::PathBuf;

fn folder(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tokenizers").join(name)
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(folder(name).join("expected.json")).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn check_encoding(name: &str) {
    let tok = Tokenizer::load(&folder(name)).unwrap();
    for case in expected(name)["encode"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let with_special = tok.encode(text, true).unwrap();
        assert_eq!(with_special, ids(&case["ids"]), "{name}: encode {text:?}");
        let plain = tok.encode(text, false).unwrap();
        assert_eq!(plain, ids(&case["ids_plain"]), "{name}: encode without special tokens {text:?}");
        assert_eq!(tok.decode(&with_special, true).unwrap(), case["decoded"].as_str().unwrap(), "{name}: decode {text:?}");
        // Streaming one id at a time gives the same text, in complete characters.
        let mut stream = tok.stream();
        let mut streamed = String::new();
        for &id in &plain {
            streamed.push_str(&stream.push(id).unwrap());
        }
        streamed.push_str(&stream.finish().unwrap());
        assert_eq!(streamed, tok.decode(&plain, true).unwrap(), "{name}: streamed decode of {text:?}");
    }
}

fn check_chat(name: &str) {
    let tok = Tokenizer::load(&folder(name)).unwrap();
    for case in expected(name)["chat"].as_array().unwrap() {
        let messages: Vec<_> = case["messages"].as_array().unwrap().iter().map(|m| m.as_object().unwrap().clone()).collect();
        let mut extra = serde_json::Map::new();
        if let Some(tools) = case.get("tools") {
            extra.insert("tools".into(), tools.clone());
        }
        let got = tok.apply_chat_template(&messages, case["add_generation_prompt"].as_bool().unwrap(), &extra);
        match (case.get("rendered"), got) {
            (Some(want), Ok(text)) => assert_eq!(text, want.as_str().unwrap(), "{name}: {messages:?}"),
            (None, Err(e)) => {
                let want = case["error"].as_str().unwrap();
                assert!(e.to_string().contains(want), "{name}: error {e} should contain {want:?}");
            }
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn minilm_wordpiece_matches_transformers() {
    check_encoding("minilm");
}

#[test]
fn byte_level_bpe_matches_transformers() {
    check_encoding("bytelevel_chatml");
}

#[test]
fn sentencepiece_style_bpe_matches_transformers() {
    check_encoding("metaspace_llama2");
}

#[test]
fn chatml_template_with_tools_and_loop_controls() {
    check_chat("bytelevel_chatml");
}

#[test]
fn llama2_template_with_python_string_methods() {
    check_chat("metaspace_llama2");
}

/// A vocabulary-only GGUF of tests/models/gguf, its tokenizer and transformers' encodings.
fn gguf_vocabulary(name: &str) -> (PathBuf, Tokenizer, Vec<Value>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models/gguf");
    let tok = rmx_lm::gguf::load_gguf_tokenizer(&dir.join(format!("{name}.gguf"))).unwrap().expect("a tokenizer");
    let want: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}_expected.json"))).unwrap()).unwrap();
    (dir, tok, want["encode"].as_array().unwrap().clone())
}

/// The byte-level BPE written as a vocabulary-only GGUF (llama.cpp's gguf-py, pre-tokenizer
/// `qwen2`), rebuilt from `tokenizer.ggml.*` and checked against transformers' own GGUF
/// tokenizer converter (`scripts/gen_lm_gguf_goldens.py`).
#[test]
fn gguf_vocabulary_matches_transformers_gguf_converter() {
    let (dir, tok, cases) = gguf_vocabulary("vocab");
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let got = tok.encode(text, false).unwrap();
        assert_eq!(got, ids(&case["ids"]), "encode {text:?}");
        assert_eq!(tok.decode(&got, false).unwrap(), case["decoded"].as_str().unwrap(), "decode {text:?}");
    }
    assert_eq!(tok.eos_token_id(), tok.token_id("<|im_end|>"));
    assert!(tok.has_chat_template());
    // A model file without tokenizer metadata has no tokenizer, and says so when one is needed.
    let model = dir.join("mistral_q4_0.gguf");
    assert!(rmx_lm::gguf::load_gguf_tokenizer(&model).unwrap().is_none());
    let err = rmx_lm::load(&model).unwrap().tokenizer().unwrap_err().to_string();
    assert!(err.contains("tokenizer.ggml"), "{err}");
}

/// The SentencePiece-style vocabulary written as llama.cpp does (`vocab_spm.gguf`: tokens,
/// scores, types, no merges) against transformers' GGUF converter: merges from scores, byte
/// fallback for unseen characters, BOS added.
#[test]
fn gguf_sentencepiece_vocabulary_matches_transformers_gguf_converter() {
    let (_, tok, cases) = gguf_vocabulary("vocab_spm");
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let plain = tok.encode(text, false).unwrap();
        assert_eq!(plain, ids(&case["ids"]), "encode {text:?}");
        assert_eq!(tok.encode(text, true).unwrap(), ids(&case["ids_special"]), "encode with BOS {text:?}");
        assert_eq!(tok.decode(&plain, false).unwrap(), case["decoded"].as_str().unwrap(), "decode {text:?}");
    }
}
