//! Shared by rmx-nn's tests: the MLX golden file and a comparison with a tolerance.

use rmx::{Array, Dtype};
use std::collections::BTreeMap;

/// The arrays of `tests/golden/nn.safetensors` (written by `scripts/gen_nn_goldens.py`).
#[allow(dead_code)] // not every test file compares against MLX
pub fn golden() -> BTreeMap<String, Array> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/nn.safetensors");
    rmx::io::load_safetensors(path).unwrap().0
}

/// Asserts equal shapes and `|got - want| <= tol * (1 + |want|)` everywhere.
pub fn assert_close(what: &str, got: &Array, want: &Array, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let g = rmx::astype(got, Dtype::F64).unwrap().to_vec::<f64>().unwrap();
    let w = rmx::astype(want, Dtype::F64).unwrap().to_vec::<f64>().unwrap();
    let worst = g.iter().zip(&w).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max);
    assert!(worst <= tol, "{what}: worst relative error {worst:e} > {tol:e}\n got {g:?}\nwant {w:?}");
}
