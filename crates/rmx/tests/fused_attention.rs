//! The fused attention kernel (query blocks of up to 8 positions) against the matmul
//! formulation (float64, which always takes it): values for f32, f16 and bf16, grouped
//! heads, causal masks over longer keys, strided key/value views (a KV cache's prefix), and
//! gradients through the fused node. The MLX goldens (`golden_fast`) also reach it.

use rmx::{Array, AttentionMask, Dtype};

fn draw(shape: &[usize], seed: u64) -> Array {
    rmx::random::uniform(-1.0, 1.0, shape, Dtype::F64, Some(&rmx::random::key(seed))).unwrap()
}

fn max_err(a: &Array, b: &Array) -> f64 {
    let d = rmx::abs(&rmx::subtract(rmx::astype(a, Dtype::F64).unwrap(), rmx::astype(b, Dtype::F64).unwrap()).unwrap()).unwrap();
    rmx::max(&d, None, false).unwrap().item::<f64>().unwrap()
}

#[test]
fn fused_attention_matches_the_matmul_formulation() {
    // (heads, kv heads, queries, keys, causal)
    for (nq, nkv, tq, tk, causal) in [(4, 2, 1, 37, false), (8, 2, 3, 9, true), (4, 4, 8, 8, true), (6, 3, 2, 5, false)] {
        let (q, k, v) = (draw(&[2, nq, tq, 16], 1), draw(&[2, nkv, tk + 4, 16], 2), draw(&[2, nkv, tk + 4, 16], 3));
        // Keys and values as a prefix view of a longer buffer, like a KV cache.
        let prefix = |a: &Array| rmx::slice(a, &[0, 0, 0, 0], &[2, nkv as isize, tk as isize, 16], &[1, 1, 1, 1]).unwrap();
        let (k, v) = (prefix(&k), prefix(&v));
        let mask = causal.then_some(AttentionMask::Causal);
        let want = rmx::scaled_dot_product_attention(&q, &k, &v, 0.3, mask.as_ref(), None).unwrap();
        for (dtype, tol) in [(Dtype::F32, 1e-5), (Dtype::F16, 4e-3), (Dtype::BF16, 3e-2)] {
            let cast = |a: &Array| rmx::astype(a, dtype).unwrap();
            let got = rmx::scaled_dot_product_attention(&cast(&q), &cast(&k), &cast(&v), 0.3, mask.as_ref(), None).unwrap();
            assert_eq!(got.dtype(), dtype);
            let err = max_err(&got, &want);
            assert!(err < tol, "{dtype:?} {nq}/{nkv} heads, {tq}x{tk}, causal {causal}: error {err}");
        }
    }
}

#[test]
fn gradients_flow_through_the_fused_kernel() {
    let (q, k, v) = (draw(&[1, 4, 2, 8], 4), draw(&[1, 2, 6, 8], 5), draw(&[1, 2, 6, 8], 6));
    let cot = draw(&[1, 4, 2, 8], 7);
    let grads = |dtype: Dtype| {
        let inputs: Vec<Array> = [&q, &k, &v].iter().map(|a| rmx::astype(a, dtype).unwrap()).collect();
        let c = rmx::astype(&cot, dtype).unwrap();
        let f = |a: &[Array]| Ok(vec![rmx::scaled_dot_product_attention(&a[0], &a[1], &a[2], 0.4, Some(&AttentionMask::Causal), None)?]);
        rmx::vjp(f, &inputs, &[c]).unwrap().1
    };
    let (fused, exact) = (grads(Dtype::F32), grads(Dtype::F64));
    for (i, (a, b)) in fused.iter().zip(&exact).enumerate() {
        let err = max_err(a, b);
        assert!(err < 1e-5, "gradient {i}: error {err}");
    }
}
