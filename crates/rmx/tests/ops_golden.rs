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

#[test]
fn scans_and_sorting_match_mlx() {
    check_family("scan_sort");
}

#[test]
fn indexing_matches_numpy() {
    check_family("indexing");
}

#[test]
fn empty_and_scalar_inputs_match_mlx() {
    check_family("edges");
}

#[test]
fn layout_ops_match_numpy() {
    check_family("layout");
}

#[test]
fn random_matches_mlx_bit_for_bit() {
    check_family("random");
}

#[test]
fn fast_ops_match_mlx() {
    check_family("fast");
}

#[test]
fn convolutions_match_mlx() {
    check_family("conv");
}

#[test]
fn linalg_matches_numpy() {
    check_family("linalg");
}

#[test]
fn fft_matches_numpy() {
    check_family("fft");
}

/// Derivatives of the FFTs and of ops on complex numbers against MLX's `vjp`/`jvp` (MLX's
/// adjoint convention for complex cotangents).
#[test]
fn complex_and_fft_derivatives_match_mlx() {
    check_family("grad");
}

#[test]
fn quantization_matches_mlx_byte_for_byte() {
    check_family("quant");
}

#[test]
fn fp_quantization_modes_match_mlx_byte_for_byte() {
    check_family("quant_fp");
}
