//! Decoding-sized quantized products with half-precision activations (the integer kernels:
//! int16 activations, or int8 when asked) and float32 ones (the float kernel,
//! or the integer kernels when llama.cpp's precision is asked for) against
//! dequantize-then-matmul in float64 on the same rounded inputs: the error stays within the
//! activations' quantization step per group plus the output's own rounding.

use rmx::{Array, Dtype, QuantMode};

fn draw(shape: &[usize], seed: u64, scale: f64) -> Array {
    rmx::random::uniform(-scale, scale, shape, Dtype::F32, Some(&rmx::random::key(seed))).unwrap()
}

#[test]
fn half_precision_rows_match_the_dequantized_product() {
    for (rows, n, k, g, bits) in [
        (1, 40, 256, 64, 4),
        (3, 33, 512, 32, 4),
        (1, 17, 384, 128, 4),
        (5, 40, 256, 64, 8),
        (1, 9, 384, 128, 8),
        (16, 21, 128, 32, 8),
        (2, 24, 512, 128, 4),
        // More than 16 groups (factor vectors of 16 groups plus a partial one); rows not a
        // multiple of the AVX-512 kernels' chunk (the AVX2 kernels take them).
        (4, 7, 640, 32, 4),
        (1, 11, 1152, 64, 8),
        (1, 5, 192, 64, 4),
        (2, 6, 96, 32, 8),
    ] {
        let w = draw(&[n, k], 1, 0.5);
        let (wq, scales, biases) = rmx::quantize(&w, g, bits, QuantMode::Affine).unwrap();
        let biases = biases.unwrap();
        let dense =
            rmx::astype(&rmx::dequantize(&wq, &scales, Some(&biases), g, bits, QuantMode::Affine, None).unwrap(), Dtype::F64).unwrap();
        let cases =
            [(Dtype::BF16, false), (Dtype::F16, false), (Dtype::BF16, true), (Dtype::F16, true), (Dtype::F32, false), (Dtype::F32, true)];
        for (dtype, int8) in cases {
            // Values spanning three orders of magnitude, as activations do.
            let x = rmx::astype(&rmx::multiply(draw(&[rows, k], 2, 1.0), rmx::exp(&draw(&[rows, k], 3, 3.0)).unwrap()).unwrap(), dtype)
                .unwrap();
            rmx::set_int8_activations(int8);
            let got = rmx::quantized_matmul(&x, &wq, &scales, Some(&biases), true, g, bits, QuantMode::Affine).unwrap();
            rmx::set_int8_activations(false);
            assert_eq!(got.dtype(), dtype);
            let x64 = rmx::astype(&x, Dtype::F64).unwrap();
            let want = rmx::matmul(&x64, &rmx::transpose(&dense, None).unwrap()).unwrap();
            // Each activation is off by at most half a step of its group's scale,
            // max|x_group| / (2 · 127) for int8 activations and / (2 · 32767) for int16 ones
            // (8-bit weights take int8 only on AVX-512 VNNI; the int8 bound covers both).
            let levels = if int8 { 127.0 } else { 32767.0 };
            let group_max = rmx::max(
                &rmx::reshape(&rmx::abs(&x64).unwrap(), &[rows as isize, (k / g) as isize, g as isize]).unwrap(),
                rmx::Axes::List(vec![-1]),
                true,
            )
            .unwrap();
            let step = rmx::reshape(
                &rmx::broadcast_to(&rmx::divide(&group_max, 2.0 * levels).unwrap(), &[rows, k / g, g]).unwrap(),
                &[rows as isize, k as isize],
            )
            .unwrap();
            let magnitude = rmx::matmul(&step, &rmx::transpose(&rmx::abs(&dense).unwrap(), None).unwrap()).unwrap();
            let (got, want, magnitude) = (
                rmx::astype(&got, Dtype::F64).unwrap().to_vec::<f64>().unwrap(),
                want.to_vec::<f64>().unwrap(),
                magnitude.to_vec::<f64>().unwrap(),
            );
            let eps = match dtype {
                Dtype::BF16 => 2f64.powi(-8),
                Dtype::F16 => 2f64.powi(-11),
                _ => 2f64.powi(-20),
            };
            for ((a, b), m) in got.iter().zip(&want).zip(&magnitude) {
                assert!(
                    (a - b).abs() <= eps * b.abs() + m * 1.001,
                    "{dtype:?} int8={int8} rows={rows} n={n} k={k} g={g} bits={bits}: {a} vs {b} (bound {m})"
                );
            }
        }
    }
}
