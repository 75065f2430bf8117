//! Every op family against NumPy/MLX golden files (see `scripts/gen_goldens.py`).

mod common;

use common::golden::check_family;

#[test]
fn unary_matches_numpy() {
    check_family("unary");
}

#[test]
fn binary_matches_numpy() {
    check_family("binary");
}

#[test]
fn reductions_match_numpy() {
    check_family("reduce");
}

#[test]
fn matmul_matches_numpy() {
    check_family("matmul");
}

#[test]
fn shape_ops_match_numpy() {
    check_family("shape");
}

#[test]
fn creation_matches_mlx() {
    check_family("creation");
}
