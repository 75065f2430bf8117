//! File IO: `.npy`/`.npz` files written by NumPy (byte orders, Fortran order, 0-d, empty,
//! complex, stored and deflated archives) and `.safetensors` files written by the
//! safetensors package or laid out by hand (BF16, F8, C64) load with the values recorded
//! beside them; rmx's files round-trip and are written where `scripts/check_rmx_files.py`
//! checks them with NumPy and safetensors; malformed and truncated files (every prefix of
//! a valid file, random mutations) are errors, never panics.

use proptest::prelude::*;
use rmx::{Array, Dtype};

fn golden(name: &str) -> std::path::PathBuf {
    golden_in("npy", name)
}

fn golden_in(dir: &str, name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(dir).join(name)
}

fn expected_in(dir: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(golden_in(dir, "expected.json")).unwrap()).unwrap()
}

/// Checks an array's shape and values against a recorded `{"shape", "values"}` entry.
fn assert_matches(name: &str, a: &Array, want: &serde_json::Value) {
    let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    assert_eq!(a.shape(), shape.as_slice(), "{name}");
    let values: Vec<f64> = want["values"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| match v.as_array() {
            Some(pair) => pair.iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>(),
            None => vec![v.as_f64().unwrap()],
        })
        .collect();
    let got = as_f64(a);
    // serde_json's float parsing can be one ulp off Python's shortest repr.
    let same = got.len() == values.len() && got.iter().zip(&values).all(|(g, w)| (g - w).abs() <= 1e-15 * w.abs());
    assert!(same, "{name}: {got:?} vs {values:?}");
}

/// Values as f64, complex numbers as (real, imaginary) pairs.
fn as_f64(a: &Array) -> Vec<f64> {
    let f = |x: &Array| rmx::astype(x, Dtype::F64).unwrap().to_vec::<f64>().unwrap();
    if a.dtype() != Dtype::C64 {
        return f(a);
    }
    let (re, im) = (f(&rmx::real(a).unwrap()), f(&rmx::imag(a).unwrap()));
    re.into_iter().zip(im).flat_map(|(r, i)| [r, i]).collect()
}

#[test]
fn numpy_files_load_with_numpys_values() {
    let expected = expected_in("npy");
    let dtypes = [
        ("f32_c", Dtype::F32),
        ("f64_fortran", Dtype::F64),
        ("i32_big_endian", Dtype::I32),
        ("f16", Dtype::F16),
        ("bool", Dtype::Bool),
        ("u8_scalar", Dtype::U8),
        ("i64_empty", Dtype::I64),
        ("c64_big_endian", Dtype::C64),
    ];
    for (name, dtype) in dtypes {
        let a = rmx::io::load_npy(golden(&format!("{name}.npy"))).unwrap();
        assert_eq!(a.dtype(), dtype, "{name}");
        assert_matches(name, &a, &expected[name]);
        // And back: rmx's bytes parse to the same array.
        let again = rmx::io::npy_from_bytes(&rmx::io::npy_to_bytes(&a).unwrap()).unwrap();
        assert_eq!(again.to_bytes().unwrap(), a.to_bytes().unwrap(), "{name} round trip");
        // NumPy wrote the C-order little-endian files: rmx must write the very same bytes.
        if ["f32_c", "f16", "bool", "u8_scalar", "i64_empty"].contains(&name) {
            let numpy_bytes = std::fs::read(golden(&format!("{name}.npy"))).unwrap();
            assert_eq!(rmx::io::npy_to_bytes(&a).unwrap(), numpy_bytes, "{name}: bytes differ from NumPy's file");
        }
    }
}

#[test]
fn saved_files_round_trip_every_numpy_dtype() {
    let dir = std::env::temp_dir().join(format!("rmx-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = rmx::reshape(&rmx::arange(0.0, 24.0, 1.0, Dtype::F32).unwrap(), &[2, 3, 4]).unwrap();
    for dtype in rmx::dtype::ALL_DTYPES.into_iter().filter(|&d| d != Dtype::BF16) {
        // A transposed view: the file must hold the logical (row-major) order.
        let a = rmx::transpose(&rmx::astype(&base, dtype).unwrap(), None).unwrap();
        let path = dir.join(format!("{dtype}.npy"));
        rmx::io::save_npy(&path, &a).unwrap();
        let back = rmx::io::load_npy(&path).unwrap();
        assert_eq!((back.shape(), back.dtype()), (a.shape(), dtype));
        assert_eq!(back.to_bytes().unwrap(), a.to_bytes().unwrap(), "{dtype}");
    }
    let bf16 = rmx::astype(&base, Dtype::BF16).unwrap();
    assert!(rmx::io::save_npy(dir.join("bf16.npy"), &bf16).unwrap_err().to_string().contains("bfloat16"));
    let missing = rmx::io::load_npy(dir.join("missing.npy")).unwrap_err();
    assert!(matches!(missing, rmx::Error::Io { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    let bytes = std::fs::read(golden("f64_fortran.npy")).unwrap();
    for len in 0..bytes.len() {
        assert!(rmx::io::npy_from_bytes(&bytes[..len]).is_err(), "prefix of {len} bytes parsed");
    }
}

#[test]
fn numpy_npz_archives_load_stored_and_deflated() {
    let expected = expected_in("npz");
    let dtypes = [("weight", Dtype::F32), ("bias", Dtype::F16), ("ids", Dtype::I64), ("mask", Dtype::Bool), ("scalar", Dtype::F64)];
    for file in ["plain.npz", "compressed.npz"] {
        let arrays = rmx::io::load_npz(golden_in("npz", file)).unwrap();
        assert_eq!(arrays.len(), dtypes.len(), "{file}");
        for (name, dtype) in dtypes {
            assert_eq!(arrays[name].dtype(), dtype, "{file}/{name}");
            assert_matches(&format!("{file}/{name}"), &arrays[name], &expected[name]);
        }
        for compressed in [false, true] {
            let back = rmx::io::npz_from_bytes(&rmx::io::npz_to_bytes(&arrays, compressed).unwrap()).unwrap();
            for (name, a) in &arrays {
                assert_eq!(back[name].to_bytes().unwrap(), a.to_bytes().unwrap(), "{file}/{name} round trip");
            }
        }
    }
}

#[test]
fn safetensors_files_load_lazily_with_their_values() {
    let expected = expected_in("safetensors");
    let (official, metadata) = rmx::io::load_safetensors(golden_in("safetensors", "official.safetensors")).unwrap();
    assert_eq!(metadata.get("format").map(String::as_str), Some("mlx"));
    assert_eq!(official["model.layers.0.bias"].dtype(), Dtype::F16);
    assert_eq!(official["flags"].dtype(), Dtype::Bool);
    // Aligned tensors are views of the mapped file (nothing read or copied yet); booleans
    // load lazily, normalised to 0/1 when evaluated.
    assert!(official["model.layers.0.weight"].is_evaluated() && !official["flags"].is_evaluated());
    let in_memory = rmx::io::safetensors_from_bytes(std::fs::read(golden_in("safetensors", "official.safetensors")).unwrap()).unwrap().0;
    assert!(in_memory.values().all(|a| !a.is_evaluated()), "bytes in memory load lazily");
    for (name, a) in &in_memory {
        assert_eq!(a.to_bytes().unwrap(), official[name].to_bytes().unwrap(), "{name}");
    }
    for (name, a) in &official {
        assert_matches(name, a, &expected[name.as_str()]);
    }
    // A mapped tensor whose only owner is the graph is never overwritten in place (the
    // map is read-only): the op allocates, and the file's bytes stay as they were.
    let (mut again, _) = rmx::io::load_safetensors(golden_in("safetensors", "official.safetensors")).unwrap();
    let w = again.remove("model.layers.0.weight").unwrap();
    let doubled = rmx::multiply(&w, 2.0f32).unwrap();
    drop((w, again));
    let want: Vec<f32> = official["model.layers.0.weight"].to_vec::<f32>().unwrap().iter().map(|v| v * 2.0).collect();
    assert_eq!(doubled.to_vec::<f32>().unwrap(), want);
    let (handmade, _) = rmx::io::load_safetensors(golden_in("safetensors", "handmade.safetensors")).unwrap();
    assert_eq!((handmade["bf16"].dtype(), handmade["c64"].dtype(), handmade["f8"].dtype()), (Dtype::BF16, Dtype::C64, Dtype::U8));
    for (name, a) in &handmade {
        assert_matches(name, a, &expected[name.as_str()]);
    }
}

#[test]
fn saved_files_round_trip_and_are_left_for_python_to_check() {
    // scripts/check_rmx_files.py reads this folder with NumPy and safetensors.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rmx-written");
    std::fs::create_dir_all(&dir).unwrap();
    let base = rmx::reshape(&rmx::arange(-5.0, 19.0, 1.0, Dtype::F32).unwrap(), &[2, 3, 4]).unwrap();
    let mut arrays = std::collections::BTreeMap::new();
    for dtype in rmx::dtype::ALL_DTYPES {
        arrays.insert(format!("t.{dtype}"), rmx::transpose(&rmx::astype(&base, dtype).unwrap(), None).unwrap());
    }
    let metadata = [("format".to_string(), "pt".to_string())].into();
    rmx::io::save_safetensors(dir.join("all.safetensors"), &arrays, &metadata).unwrap();
    let (back, meta) = rmx::io::load_safetensors(dir.join("all.safetensors")).unwrap();
    assert_eq!(meta, metadata);
    for (name, a) in &arrays {
        assert_eq!((back[name].shape(), back[name].dtype()), (a.shape(), a.dtype()), "{name}");
        assert_eq!(back[name].to_bytes().unwrap(), a.to_bytes().unwrap(), "{name}");
    }
    arrays.retain(|_, a| a.dtype() != Dtype::BF16);
    rmx::io::savez(dir.join("plain.npz"), &arrays).unwrap();
    rmx::io::savez_compressed(dir.join("compressed.npz"), &arrays).unwrap();
    for file in ["plain.npz", "compressed.npz"] {
        let back = rmx::io::load_npz(dir.join(file)).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), arrays.keys().collect::<Vec<_>>());
        for (name, a) in &arrays {
            assert_eq!(back[name].to_bytes().unwrap(), a.to_bytes().unwrap(), "{file}/{name}");
        }
    }
    let reserved = [("__metadata__".to_string(), base.clone())].into();
    assert!(rmx::io::save_safetensors(dir.join("bad.safetensors"), &reserved, &Default::default()).is_err());
    assert!(!dir.join("bad.safetensors").exists(), "a failed save leaves no file");
}

#[test]
fn truncated_archives_and_checkpoints_are_errors() {
    for (dir, file) in [("npz", "compressed.npz"), ("npz", "plain.npz")] {
        let bytes = std::fs::read(golden_in(dir, file)).unwrap();
        for len in 0..bytes.len() {
            assert!(rmx::io::npz_from_bytes(&bytes[..len]).is_err(), "{file}: prefix of {len} bytes parsed");
        }
    }
    let bytes = std::fs::read(golden_in("safetensors", "official.safetensors")).unwrap();
    for len in 0..bytes.len() {
        assert!(rmx::io::safetensors_from_bytes(bytes[..len].to_vec()).is_err(), "prefix of {len} bytes parsed");
    }
    let err = rmx::io::load_safetensors(golden("f32_c.npy")).unwrap_err().to_string();
    assert!(err.contains("safetensors") && err.contains("f32_c.npy"), "{err}");
}

fn max_relative_error(got: &Array, want: &Array) -> f64 {
    let (g, w) = (as_f64(got), as_f64(want));
    assert_eq!(g.len(), w.len());
    g.iter().zip(&w).map(|(a, b)| (a - b).abs() / (1e-3 + b.abs())).fold(0.0, f64::max)
}

#[test]
fn gguf_files_written_by_gguf_py_load_as_mlx_does() {
    use rmx::io::GgufValue as V;
    let file = rmx::io::load_gguf(golden_in("gguf", "mixed.gguf")).unwrap();
    let (expected, _) = rmx::io::load_safetensors(golden_in("gguf", "expected.safetensors")).unwrap();
    let m = &file.metadata;
    assert_eq!(m["general.architecture"], V::Str("llama".into()));
    assert_eq!((&m["test.u32"], &m["test.i32"], &m["test.f32"], &m["test.bool"]), (&V::U32(7), &V::I32(-3), &V::F32(0.5), &V::Bool(true)));
    assert_eq!(
        (&m["test.u64"], &m["test.i8"], &m["test.u16"], &m["test.f64"]),
        (&V::U64(1 << 40), &V::I8(-5), &V::U16(65000), &V::F64(1.25))
    );
    assert_eq!(m["test.str"], V::Str("héllo".into()));
    assert_eq!(m["test.strings"], V::Array(vec![V::Str("a".into()), V::Str("bc".into())]));
    for name in ["f32", "f16", "i32", "f64"] {
        assert_eq!(file.tensors[name].dtype(), expected[name].dtype(), "{name}");
        assert_eq!(file.tensors[name].to_bytes().unwrap(), expected[name].to_bytes().unwrap(), "{name}");
    }
    // Q4_0, Q4_1 and Q8_0 become MLX affine quantization with group size 32.
    for (kind, bits) in [("q4_0", 4), ("q4_1", 4), ("q8_0", 8)] {
        let base = format!("blk.0.{kind}");
        let t = |suffix: &str| file.tensors[&format!("{base}.{suffix}")].clone();
        assert_eq!(
            (t("weight").dtype(), t("scales").dtype(), t("weight").shape()),
            (Dtype::U32, Dtype::F16, &[4, 64 * bits / 32][..]),
            "{kind}"
        );
        let w = rmx::dequantize(&t("weight"), &t("scales"), Some(&t("biases")), 32, bits as u32, rmx::QuantMode::Affine, Some(Dtype::F32))
            .unwrap();
        let err = max_relative_error(&w, &expected[&format!("{base}.weight")]);
        assert!(err < 1e-5, "{kind}: {err}");
    }
    // The others are dequantized to float16.
    for name in ["blk.0.q5_0", "blk.0.q5_1", "blk.1.q2_k", "blk.1.q3_k", "blk.1.q4_k", "blk.1.q5_k", "blk.1.q6_k"] {
        let t = &file.tensors[&format!("{name}.weight")];
        assert_eq!(t.dtype(), Dtype::F16, "{name}");
        let err = max_relative_error(t, &expected[&format!("{name}.weight")]);
        assert!(err < 1e-3, "{name}: {err}");
    }
}

#[test]
fn gguf_round_trips_and_rejects_bad_input() {
    use rmx::io::GgufValue as V;
    let base = rmx::reshape(&rmx::arange(0.0, 12.0, 1.0, Dtype::F32).unwrap(), &[3, 4]).unwrap();
    let mut tensors = std::collections::BTreeMap::new();
    for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I8, Dtype::I32, Dtype::F64] {
        tensors.insert(format!("t.{dtype}"), rmx::transpose(&rmx::astype(&base, dtype).unwrap(), None).unwrap());
    }
    let metadata = [("a".to_string(), V::Array(vec![V::U32(1), V::U32(2)])), ("b".to_string(), V::Str("x".into()))].into();
    let bytes = rmx::io::gguf_to_bytes(&tensors, &metadata).unwrap();
    let back = rmx::io::gguf_from_bytes(bytes.clone()).unwrap();
    assert_eq!(back.metadata, metadata);
    for (name, a) in &tensors {
        assert_eq!((back.tensors[name].shape(), back.tensors[name].dtype()), (a.shape(), a.dtype()), "{name}");
        assert_eq!(back.tensors[name].to_bytes().unwrap(), a.to_bytes().unwrap(), "{name}");
    }
    for len in 0..bytes.len() {
        assert!(rmx::io::gguf_from_bytes(bytes[..len].to_vec()).is_err(), "prefix of {len} bytes parsed");
    }
    let mixed = [("m".to_string(), V::Array(vec![V::U32(1), V::Str("x".into())]))].into();
    assert!(rmx::io::gguf_to_bytes(&tensors, &mixed).is_err());
    let bools = [("flags".to_string(), rmx::zeros(&[2], Dtype::Bool).unwrap())].into();
    assert!(rmx::io::gguf_to_bytes(&bools, &Default::default()).is_err());
}

proptest! {
    #[test]
    fn mutated_gguf_never_panics(pos in 0usize..4000, byte in any::<u8>()) {
        let mut bytes = std::fs::read(golden_in("gguf", "mixed.gguf")).unwrap();
        let at = pos % bytes.len();
        bytes[at] = byte;
        if let Ok(file) = rmx::io::gguf_from_bytes(bytes) {
            for a in file.tensors.values() {
                let _ = a.to_bytes();
            }
        }
    }
}

proptest! {
    #[test]
    fn mutated_archives_and_checkpoints_never_panic(pos in 0usize..2000, byte in any::<u8>(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        for (dir, file) in [("npz", "compressed.npz"), ("npz", "plain.npz"), ("safetensors", "official.safetensors"), ("safetensors", "handmade.safetensors")] {
            let mut bytes = std::fs::read(golden_in(dir, file)).unwrap();
            let at = pos % bytes.len();
            bytes[at] = byte;
            bytes.extend(&tail);
            if dir == "npz" {
                let _ = rmx::io::npz_from_bytes(&bytes);
            } else if let Ok((arrays, _)) = rmx::io::safetensors_from_bytes(bytes) {
                // A mutation that still parses must evaluate without reading out of bounds.
                for a in arrays.values() {
                    let _ = a.to_bytes();
                }
            }
        }
    }

    #[test]
    fn mutated_files_never_panic(pos in 0usize..200, byte in any::<u8>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = std::fs::read(golden("i32_big_endian.npy")).unwrap();
        let at = pos % bytes.len();
        bytes[at] = byte;
        bytes.extend(tail);
        let _ = rmx::io::npy_from_bytes(&bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = rmx::io::npy_from_bytes(&bytes);
        let _ = rmx::io::npz_from_bytes(&bytes);
        let _ = rmx::io::gguf_from_bytes(bytes.clone());
        let _ = rmx::io::safetensors_from_bytes(bytes);
    }
}
