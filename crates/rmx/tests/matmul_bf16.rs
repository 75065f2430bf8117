//! bfloat16 products against float64 products of the same rounded values, summed by plain
//! loops in this file: products of a few
//! rows (the decoding kernel, which widens weights as it reads them) and of many (AMX tiles
//! where the CPU has them, else AVX-512 BF16's `vdpbf16ps`, else float32 gemm) — weights in `nn.Linear` layout (a transposed
//! view), row-major and sliced operands, batches, a 1-d left operand, NaN and infinity. Run it
//! with `RMX_NO_AVX512=1` and `RMX_NO_AMX=1` too, on CPUs with those, to check the other
//! kernels. (NumPy goldens for both paths: `matmul_bfloat16_*` in `ops_golden`.)

use rmx::{Array, Dtype};

fn draw(shape: &[usize], seed: u64) -> Array {
    let a = rmx::random::uniform(-1.0, 1.0, shape, Dtype::F32, Some(&rmx::random::key(seed))).unwrap();
    rmx::astype(&a, Dtype::BF16).unwrap()
}

/// The float64 product of `a` and `b` (NumPy's matmul rules: 1-d operands lifted and their
/// axis dropped, batch dimensions broadcast) and that of their absolute values, computed here
/// by plain loops rather than by rmx: `(shape, values, scales)`.
fn float64_product(a: &Array, b: &Array) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
    let lift = |x: &Array, shape: Vec<usize>| if x.ndim() == 1 { rmx::reshape_to(x, &shape).unwrap() } else { x.clone() };
    let (a2, b2) = (lift(a, vec![1, a.shape()[0]]), lift(b, vec![b.shape()[0], 1]));
    let (m, k, n) = (a2.shape()[a2.ndim() - 2], a2.shape()[a2.ndim() - 1], b2.shape()[b2.ndim() - 1]);
    let batch = rmx::broadcast_shapes(&a2.shape()[..a2.ndim() - 2], &b2.shape()[..b2.ndim() - 2]).unwrap();
    // Values in row-major order of the broadcast operands (rmx lays them out; the sums are ours).
    let values = |x: &Array, rows: usize, cols: usize| {
        let full = rmx::broadcast_to(x, &[batch.as_slice(), &[rows, cols]].concat()).unwrap();
        rmx::astype(&full, Dtype::F64).unwrap().to_vec::<f64>().unwrap()
    };
    let (av, bv) = (values(&a2, m, k), values(&b2, k, n));
    let count: usize = batch.iter().product();
    let (mut want, mut scale) = (vec![0.0; count * m * n], vec![0.0; count * m * n]);
    for p in 0..count {
        for i in 0..m {
            for j in 0..n {
                for l in 0..k {
                    let (x, y) = (av[(p * m + i) * k + l], bv[(p * k + l) * n + j]);
                    want[(p * m + i) * n + j] += x * y;
                    scale[(p * m + i) * n + j] += (x * y).abs();
                }
            }
        }
    }
    let mut shape = batch;
    if a.ndim() > 1 {
        shape.push(m);
    }
    if b.ndim() > 1 {
        shape.push(n);
    }
    (shape, want, scale)
}

fn check(a: &Array, b: &Array) {
    let got = rmx::matmul(a, b).unwrap();
    assert_eq!(got.dtype(), Dtype::BF16);
    let (shape, want, scale) = float64_product(a, b);
    assert_eq!(got.shape(), shape.as_slice());
    let got = rmx::astype(&got, Dtype::F64).unwrap().to_vec::<f64>().unwrap();
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

#[test]
fn many_row_bf16_products_match_float64() {
    // Blocks of 32x32 with ragged edges, k off the tiles' 32, long k, batches.
    // Also k = 1 and odd, and a product long enough along k that the AVX-512 BF16 kernel
    // splits A into several bands and B into several runs of panels.
    for (m, k, n) in [(9usize, 5usize, 3usize), (32, 32, 32), (33, 31, 65), (100, 300, 70), (64, 2050, 40), (17, 1, 49), (100, 4101, 410)] {
        check(&draw(&[m, k], 50 + m as u64), &draw(&[k, n], 60 + n as u64));
        let w = draw(&[n, k], 70 + k as u64);
        check(&draw(&[m, k], 80 + k as u64), &rmx::transpose(&w, None).unwrap());
    }
    check(&draw(&[3, 40, 72], 90), &draw(&[72, 24], 91));
    // A transposed left operand and a column slice of the right one.
    let a = rmx::transpose(&draw(&[50, 60], 92), None).unwrap();
    let b = rmx::slice(&draw(&[50, 90], 93), &[0, 1], &[50, 90], &[1, 2]).unwrap();
    check(&a, &b);
}

#[test]
fn many_row_bf16_products_carry_nan_and_infinity() {
    let mut a = vec![0.5f32; 40 * 64];
    a[3 * 64 + 7] = f32::NAN;
    a[20 * 64 + 1] = f32::INFINITY;
    let a = rmx::astype(&Array::from_slice(&a, &[40, 64]).unwrap(), Dtype::BF16).unwrap();
    let b = rmx::astype(&rmx::ones(&[64, 33], Dtype::F32).unwrap(), Dtype::BF16).unwrap();
    let c = rmx::astype(&rmx::matmul(&a, &b).unwrap(), Dtype::F32).unwrap().to_vec::<f32>().unwrap();
    for (i, row) in c.chunks(33).enumerate() {
        for &v in row {
            match i {
                3 => assert!(v.is_nan()),
                20 => assert_eq!(v, f32::INFINITY),
                _ => assert_eq!(v, 32.0),
            }
        }
    }
}
