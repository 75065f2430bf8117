//! bfloat16 products of a few rows (the decoding kernel, which widens weights as it reads
//! them) against float64 products of the same rounded values: weights in `nn.Linear` layout
//! (a transposed view), a row-major right operand, batches, and a 1-d left operand. Run it
//! with `RMX_NO_AVX512=1` too, on AVX-512 BF16 CPUs, to check the AVX2 kernel.

use rmx::{Array, Dtype};

fn draw(shape: &[usize], seed: u64) -> Array {
    let a = rmx::random::uniform(-1.0, 1.0, shape, Dtype::F32, Some(&rmx::random::key(seed))).unwrap();
    rmx::astype(&a, Dtype::BF16).unwrap()
}

fn check(a: &Array, b: &Array) {
    let got = rmx::matmul(a, b).unwrap();
    assert_eq!(got.dtype(), Dtype::BF16);
    let f64 = |x: &Array| rmx::astype(x, Dtype::F64).unwrap();
    let want = rmx::matmul(&f64(a), &f64(b)).unwrap();
    let scale = rmx::matmul(&rmx::abs(&f64(a)).unwrap(), &rmx::abs(&f64(b)).unwrap()).unwrap();
    assert_eq!(got.shape(), want.shape());
    let (got, want, scale) = (f64(&got).to_vec::<f64>().unwrap(), want.to_vec::<f64>().unwrap(), scale.to_vec::<f64>().unwrap());
    for ((g, w), s) in got.iter().zip(&want).zip(&scale) {
        // The output's rounding (2^-8 relative) plus float32 accumulation.
        assert!((g - w).abs() <= w.abs() * 2f64.powi(-8) + s * 1e-6, "{g} vs {w}");
    }
}

#[test]
fn few_row_bf16_products_match_float64() {
    for m in [1usize, 3, 8, 9] {
        let x = draw(&[m, 67], m as u64);
        let w = draw(&[45, 67], 10 + m as u64);
        check(&x, &rmx::transpose(&w, None).unwrap());
        check(&x, &draw(&[67, 45], 20 + m as u64));
    }
    // Long rows: full 32-wide steps plus a masked tail; column counts off the kernel's 4.
    for (m, k, n) in [(1usize, 1030usize, 45usize), (2, 1024, 64), (1, 31, 3), (5, 333, 6)] {
        let w = draw(&[n, k], 40 + k as u64);
        check(&draw(&[m, k], 41 + k as u64), &rmx::transpose(&w, None).unwrap());
    }
    check(&draw(&[2, 3, 40], 30), &rmx::transpose(&draw(&[2, 17, 40], 31), Some(&[0, 2, 1])).unwrap());
    check(&draw(&[40], 32), &draw(&[40, 5], 33));
}
