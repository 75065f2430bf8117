//! The fused rope and rms_norm kernels (float32 and half precision) against their composed
//! formulations (float64 inputs always take them): values over strided inputs (a transposed
//! projection), traditional and half-split pairs, partial rotation, custom frequencies,
//! weights; gradients and batching through the fused nodes. The MLX goldens
//! (`golden_fast`) also reach the kernels.

use rmx::{Array, Dtype};

fn draw(shape: &[usize], seed: u64) -> Array {
    rmx::random::uniform(-1.0, 1.0, shape, Dtype::F64, Some(&rmx::random::key(seed))).unwrap()
}

fn max_err(a: &Array, b: &Array) -> f64 {
    let d = rmx::abs(&rmx::subtract(rmx::astype(a, Dtype::F64).unwrap(), rmx::astype(b, Dtype::F64).unwrap()).unwrap()).unwrap();
    rmx::max(&d, None, false).unwrap().item::<f64>().unwrap()
}

/// `[B, T, H, D]` seen as `[B, H, T, D]`, as attention layers hand queries to rope.
fn transposed(seed: u64, t: usize, d: usize) -> Array {
    rmx::transpose(&draw(&[2, t, 3, d], seed), Some(&[0, 2, 1, 3])).unwrap()
}

#[test]
fn fused_rope_matches_the_composed_op() {
    let freqs = rmx::astype(&rmx::arange(1.0, 9.0, 1.0, Dtype::F64).unwrap(), Dtype::F32).unwrap();
    // (T, D, dims, traditional, base or freqs, scale, offset)
    for (t, d, dims, traditional, with_freqs, scale, offset) in [
        (5, 16, 16, false, false, 1.0, 0),
        (1, 16, 16, false, false, 1.0, 37),
        (4, 16, 12, true, false, 0.5, 3),
        (3, 20, 16, false, true, 1.0, 9),
        (2, 16, 16, true, true, 2.0, 1000),
    ] {
        let x = transposed(t as u64, t, d);
        let (base, f) = if with_freqs { (None, Some(&freqs)) } else { (Some(10000.0), None) };
        let want = rmx::rope(&x, dims, traditional, base, scale, offset, f).unwrap();
        for (dtype, tol) in [(Dtype::F32, 2e-6), (Dtype::F16, 2e-3), (Dtype::BF16, 1.6e-2)] {
            let got = rmx::rope(&rmx::astype(&x, dtype).unwrap(), dims, traditional, base, scale, offset, f).unwrap();
            assert_eq!((got.dtype(), got.shape()), (dtype, x.shape()));
            let err = max_err(&got, &want);
            assert!(err < tol, "{dtype:?} t={t} d={d} dims={dims} traditional={traditional} freqs={with_freqs}: error {err}");
        }
    }
}

#[test]
fn fused_rms_norm_matches_the_composed_op() {
    let x = transposed(11, 4, 24);
    let w = draw(&[24], 12);
    for weight in [None, Some(&w)] {
        let want = rmx::rms_norm(&x, weight, 1e-5).unwrap();
        for (dtype, tol) in [(Dtype::F32, 2e-6), (Dtype::F16, 4e-3), (Dtype::BF16, 3e-2)] {
            let cast = |a: &Array| rmx::astype(a, dtype).unwrap();
            let got = rmx::rms_norm(&cast(&x), weight.map(cast).as_ref(), 1e-5).unwrap();
            assert_eq!(got.dtype(), dtype);
            let err = max_err(&got, &want);
            assert!(err < tol, "{dtype:?} weight {}: error {err}", weight.is_some());
        }
    }
}

#[test]
fn gradients_and_batching_go_through_the_fused_kernels() {
    let x = transposed(21, 3, 8);
    let w = draw(&[8], 22);
    let cot = draw(&[2, 3, 3, 8], 23);
    let f = |p: &[Array]| -> rmx::Result<Vec<Array>> {
        let y = rmx::rope(&rmx::rms_norm(&p[0], Some(&p[1]), 1e-6)?, 8, false, Some(10000.0), 1.0, 2, None)?;
        Ok(vec![y])
    };
    let (_, want) = rmx::vjp(f, &[x.clone(), w.clone()], std::slice::from_ref(&cot)).unwrap();
    let f32 = |a: &Array| rmx::astype(a, Dtype::F32).unwrap();
    let (_, got) = rmx::vjp(f, &[f32(&x), f32(&w)], &[f32(&cot)]).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.dtype(), Dtype::F32);
        assert!(max_err(g, w) < 1e-5, "gradient error {}", max_err(g, w));
    }
    // vmap over the leading axis equals the op on the whole batch.
    let batched = rmx::vmap(|p: &[Array]| f(&[p[0].clone(), p[1].clone()]), &[Some(0), None], &[Some(0)]);
    let got = batched(&[f32(&x), f32(&w)]).unwrap();
    let whole = f(&[f32(&x), f32(&w)]).unwrap();
    assert!(max_err(&got[0], &whole[0]) < 1e-6);
}
