//! The main job until rmx-lm exists: a tour of rmx doing real work, offline.
//!
//! Fits a small linear model by gradient descent with autodiff gradients and checks it
//! against the normal equations solved by `linalg::solve`, convolves signals through the
//! FFT, runs a
//! two-head grouped-query attention block with RoPE and a causal mask (fast ops), convolves
//! an image (conv2d), sorts and indexes (argsort, take), and samples reproducibly from
//! threefry keys. Every result is checked, so the program fails loudly if anything is wrong.
//!
//! Run: `cargo run --release --example demo`

use rmx::{Dtype, Result};

fn main() -> Result<()> {
    let key = rmx::random::key(0);
    let keys = rmx::random::split(&key, 4)?;
    let k = |i: isize| rmx::index(&keys, &[rmx::Index::At(i)]);

    // 1. Least squares two ways: gradient descent with gradients from `value_and_grad`
    //    (autodiff), and the normal equations solved by `linalg::solve`; both must agree.
    let (n, d) = (512usize, 8usize);
    let x = rmx::random::normal(&[n, d], Dtype::F32, 0.0, 1.0, Some(&k(0)?))?;
    let w_true = rmx::arange(1.0, (d + 1) as f64, 1.0, Dtype::F32)?;
    let noise = rmx::random::normal(&[n], Dtype::F32, 0.0, 0.01, Some(&k(1)?))?;
    let y = rmx::add(&rmx::matmul(&x, &w_true)?, &noise)?;
    let loss = rmx::value_and_grad(
        |a| {
            let residual = rmx::subtract(&rmx::matmul(&a[1], &a[0])?, &a[2])?;
            Ok(vec![rmx::divide(&rmx::sum(&rmx::square(&residual)?, rmx::Axes::All, false)?, 2.0 * n as f64)?])
        },
        &[0],
    );
    let mut w = rmx::zeros(&[d], Dtype::F32)?;
    for _ in 0..200 {
        let (_, grads) = loss(&[w.clone(), x.clone(), y.clone()])?;
        w = rmx::subtract(&w, &rmx::multiply(&grads[0], 0.5)?)?;
        w.eval()?;
    }
    let xt = rmx::transpose(&x, None)?;
    let w_exact = rmx::linalg::solve(&rmx::matmul(&xt, &x)?, &rmx::matmul(&xt, &y)?)?;
    let err = rmx::max(&rmx::abs(&rmx::subtract(&w, &w_true)?)?, rmx::Axes::All, false)?.item::<f32>()?;
    let gap = rmx::max(&rmx::abs(&rmx::subtract(&w, &w_exact)?)?, rmx::Axes::All, false)?.item::<f32>()?;
    println!("least squares: max |w - w_true| = {err:.2e}, grad descent vs linalg.solve = {gap:.2e}");
    assert!(err < 1e-2 && gap < 1e-3);

    // 1b. The convolution theorem: circular convolution via rfft/irfft equals the direct sum.
    let (sig, ker) =
        (rmx::random::normal(&[64], Dtype::F32, 0.0, 1.0, Some(&k(0)?))?, rmx::random::normal(&[64], Dtype::F32, 0.0, 1.0, Some(&k(1)?))?);
    let norm = rmx::fft::FftNorm::Backward;
    let spectral = rmx::fft::irfft(
        &rmx::multiply(&rmx::fft::rfft(&sig, None, -1, norm)?, &rmx::fft::rfft(&ker, None, -1, norm)?)?,
        Some(64),
        -1,
        norm,
    )?;
    let (sv, kv, cv) = (sig.to_vec::<f32>()?, ker.to_vec::<f32>()?, spectral.to_vec::<f32>()?);
    let direct: Vec<f32> = (0..64).map(|i| (0..64).map(|j| sv[j] * kv[(64 + i - j) % 64]).sum()).collect();
    let fft_err = direct.iter().zip(&cv).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("fft: circular convolution via rfft vs direct, max error {fft_err:.1e}");
    assert!(fft_err < 1e-3);

    // 2. Attention: [batch 1, 4 query heads, 2 kv heads, 6 tokens, 16 dims], RoPE + causal.
    let q = rmx::random::normal(&[1, 4, 6, 16], Dtype::F32, 0.0, 1.0, Some(&k(2)?))?;
    let kv = rmx::random::normal(&[1, 2, 6, 16], Dtype::F32, 0.0, 1.0, Some(&k(3)?))?;
    let q = rmx::rope(&q, 16, false, Some(10000.0), 1.0, 0, None)?;
    let kr = rmx::rope(&kv, 16, false, Some(10000.0), 1.0, 0, None)?;
    let out = rmx::scaled_dot_product_attention(&q, &kr, &kv, 0.25, Some(&rmx::AttentionMask::Causal), None)?;
    // The first token can only attend to itself: its output is that token's value.
    let first = rmx::index(&out, &[rmx::Index::At(0), rmx::Index::At(0), rmx::Index::At(0)])?;
    let v0 = rmx::index(&kv, &[rmx::Index::At(0), rmx::Index::At(0), rmx::Index::At(0)])?;
    let diff = rmx::max(&rmx::abs(&rmx::subtract(&first, &v0)?)?, rmx::Axes::All, false)?.item::<f32>()?;
    println!("attention: output {:?}, causal first-token check {diff:.1e}", out.shape());
    assert!(diff < 1e-5);

    // 3. A 3x3 box blur of a gradient image by conv2d: interior pixels keep their value.
    let img = rmx::reshape(&rmx::arange(0.0, 64.0, 1.0, Dtype::F32)?, &[1, 8, 8, 1])?;
    let kernel = rmx::full(&[1, 3, 3, 1], 1.0 / 9.0, Dtype::F32)?;
    let blurred = rmx::conv2d(&img, &kernel, 1, 1, 1, 1)?;
    let centre = rmx::index(&blurred, &[rmx::Index::At(0), rmx::Index::At(3), rmx::Index::At(3), rmx::Index::At(0)])?.item::<f32>()?;
    println!("conv2d: blurred centre pixel = {centre}");
    assert!((centre - 27.0).abs() < 1e-4);

    // 4. Sorting and gathering: argsort then take gives the sorted values.
    let v = rmx::random::uniform(0.0, 1.0, &[10], Dtype::F32, Some(&key))?;
    let order = rmx::argsort(&v, Some(0))?;
    let sorted = rmx::take(&v, &order, Some(0))?.to_vec::<f32>()?;
    assert!(sorted.windows(2).all(|p| p[0] <= p[1]));
    println!("argsort + take: {:?}", &sorted[..4]);

    println!("memory: active {} bytes, peak {} bytes", rmx::memory::active_memory(), rmx::memory::peak_memory());
    println!("demo ok");
    Ok(())
}
