//! Decoding-sized quantized products with half-precision activations (the int16 kernel for
//! 4- and 8-bit weights) against dequantize-then-matmul in float64 on the same rounded inputs: the
//! error stays far below the activations' own bfloat16/float16 rounding.

use rmx::{Array, Dtype, QuantMode};

fn draw(shape: &[usize], seed: u64, scale: f64) -> Array {
    rmx::random::uniform(-scale, scale, shape, Dtype::F32, Some(&rmx::random::key(seed))).unwrap()
}

#[test]
fn half_precision_rows_match_the_dequantized_product() {
    for (n, k, g, bits) in [(40, 256, 64, 4), (33, 512, 32, 4), (17, 384, 128, 4), (40, 256, 64, 8), (9, 384, 128, 8), (21, 128, 32, 8)] {
        let w = draw(&[n, k], 1, 0.5);
        let (wq, scales, biases) = rmx::quantize(&w, g, bits, QuantMode::Affine).unwrap();
        let biases = biases.unwrap();
        let dense =
            rmx::astype(&rmx::dequantize(&wq, &scales, Some(&biases), g, bits, QuantMode::Affine, None).unwrap(), Dtype::F64).unwrap();
        for dtype in [Dtype::BF16, Dtype::F16] {
            // Values spanning three orders of magnitude, as activations do.
            let x = rmx::astype(&rmx::multiply(draw(&[1, k], 2, 1.0), rmx::exp(&draw(&[1, k], 3, 3.0)).unwrap()).unwrap(), dtype).unwrap();
            let got = rmx::quantized_matmul(&x, &wq, &scales, Some(&biases), true, g, bits, QuantMode::Affine).unwrap();
            assert_eq!(got.dtype(), dtype);
            let x64 = rmx::astype(&x, Dtype::F64).unwrap();
            let want = rmx::matmul(&x64, &rmx::transpose(&dense, None).unwrap()).unwrap();
            // Bound: the output's own rounding plus 2^-14 of Σ|x||w| (int16 activations).
            let magnitude = rmx::matmul(&rmx::abs(&x64).unwrap(), &rmx::transpose(&rmx::abs(&dense).unwrap(), None).unwrap()).unwrap();
            let (got, want, magnitude) = (
                rmx::astype(&got, Dtype::F64).unwrap().to_vec::<f64>().unwrap(),
                want.to_vec::<f64>().unwrap(),
                magnitude.to_vec::<f64>().unwrap(),
            );
            let eps = if dtype == Dtype::BF16 { 2f64.powi(-8) } else { 2f64.powi(-11) };
            for ((a, b), m) in got.iter().zip(&want).zip(&magnitude) {
                assert!(
                    (a - b).abs() <= eps * b.abs() + m * 2f64.powi(-14),
                    "{dtype:?} n={n} k={k} g={g} bits={bits}: {a} vs {b} (|x||w| {m})"
                );
            }
        }
    }
}
