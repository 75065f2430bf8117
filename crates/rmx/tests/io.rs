//! File IO: `.npy` files written by NumPy (byte orders, Fortran order, 0-d, empty, complex)
//! load with the values NumPy recorded; rmx's files round-trip; malformed and truncated
//! files (every prefix of a valid file, random mutations) are errors, never panics.

use proptest::prelude::*;
use rmx::{Array, Dtype};

fn golden(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/npy").join(name)
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
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden("expected.json")).unwrap()).unwrap();
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
        let want = &expected[name];
        let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!((a.shape(), a.dtype()), (shape.as_slice(), dtype), "{name}");
        let values: Vec<f64> = want["values"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|v| match v.as_array() {
                Some(pair) => pair.iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>(),
                None => vec![v.as_f64().unwrap()],
            })
            .collect();
        // serde_json's float parsing can be one ulp off Python's shortest repr.
        let same = |got: &[f64]| got.len() == values.len() && got.iter().zip(&values).all(|(g, w)| (g - w).abs() <= 1e-15 * w.abs());
        assert!(same(&as_f64(&a)), "{name}: {:?} vs {values:?}", as_f64(&a));
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

proptest! {
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
    }
}
