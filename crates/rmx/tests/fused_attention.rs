//! The fused attention kernel (query blocks of up to 8 positions) against the matmul
//! formulation (float64, which always takes it): values for f32, f16 and bf16, grouped
//! heads, causal masks over longer keys, strided key/value views (a KV cache's prefix), and
//! gradients through the fused node. The MLX goldens (`golden_fast`) also reach it. The
//! quantized variant (packed keys and values) against attention over the dequantized ones.

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

#[test]
fn quantized_attention_matches_attention_over_dequantized_keys_and_values() {
    use rmx::QuantMode;
    // (bits, group, heads, kv heads, queries, keys, causal)
    for (bits, group, nq, nkv, tq, tk, causal) in [
        (8, 32, 4, 2, 1, 37, false),
        (4, 64, 8, 2, 3, 9, true),
        (3, 32, 4, 4, 1, 5, false),
        (6, 32, 6, 3, 2, 7, true),
        (2, 64, 2, 1, 12, 12, true),
    ] {
        let d = 64;
        let (q, k, v) = (draw(&[2, nq, tq, d], 11), draw(&[2, nkv, tk + 3, d], 12), draw(&[2, nkv, tk + 3, d], 13));
        let mask = causal.then_some(AttentionMask::Causal);
        for (dtype, scale_dtype, tol) in [(Dtype::F32, Dtype::F32, 1e-5), (Dtype::BF16, Dtype::BF16, 3e-2), (Dtype::F16, Dtype::F32, 4e-3)]
        {
            let pack = |a: &Array| {
                let (p, s, b) = rmx::quantize(&rmx::astype(a, scale_dtype).unwrap(), group, bits, QuantMode::Affine).unwrap();
                // A prefix view of a longer buffer along the positions, like a quantized KV cache.
                let prefix = |x: &Array| {
                    let w = x.shape()[3] as isize;
                    rmx::slice(x, &[0, 0, 0, 0], &[2, nkv as isize, tk as isize, w], &[1, 1, 1, 1]).unwrap()
                };
                [prefix(&p), prefix(&s), prefix(&b.unwrap())]
            };
            let (kp, vp) = (pack(&k), pack(&v));
            let deq =
                |p: &[Array; 3]| rmx::dequantize(&p[0], &p[1], Some(&p[2]), group, bits, QuantMode::Affine, Some(Dtype::F64)).unwrap();
            let want = rmx::scaled_dot_product_attention(&q, &deq(&kp), &deq(&vp), 0.2, mask.as_ref(), None).unwrap();
            let qd = rmx::astype(&q, dtype).unwrap();
            let got =
                rmx::quantized_scaled_dot_product_attention(&qd, kp.each_ref(), vp.each_ref(), 0.2, mask.as_ref(), group, bits).unwrap();
            assert_eq!(got.dtype(), dtype);
            let err = max_err(&got, &want);
            assert!(err < tol, "{bits} bits g{group} {dtype:?} {nq}/{nkv} heads {tq}x{tk} causal {causal}: error {err}");
        }
    }
    // Shapes that do not describe quantized keys are an error naming the op.
    let q = draw(&[1, 2, 1, 64], 1);
    let (p, s, b) = rmx::quantize(&rmx::astype(&draw(&[1, 1, 4, 64], 2), Dtype::F32).unwrap(), 32, 4, QuantMode::Affine).unwrap();
    let b = b.unwrap();
    let err = rmx::quantized_scaled_dot_product_attention(&q, [&p, &s, &b], [&p, &s, &b], 1.0, None, 32, 8).unwrap_err();
    assert!(err.to_string().contains("quantized_scaled_dot_product_attention"), "{err}");
}
