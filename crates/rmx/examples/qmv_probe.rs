//! Scratch probe (not committed): quantized matvec at Qwen3-0.6B shapes vs memcpy.
use rmx::{Array, Dtype, QuantMode};
use std::time::Instant;
fn normal(shape: &[usize], dtype: Dtype, seed: u64) -> Array {
    let a = rmx::astype(&rmx::random::normal(shape, Dtype::F32, 0.0, 0.02, Some(&rmx::random::key(seed))).unwrap(), dtype).unwrap();
    a.eval().unwrap();
    a
}
fn median(mut v: Vec<f64>) -> f64 { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); v[v.len() / 2] }
fn main() {
    let shapes = [(16usize, 64usize), (2048, 1024), (1024, 1024), (1024, 2048), (3072, 1024), (1024, 3072), (151936, 1024)];
    let reps: usize = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    for bits in [4u32, 8] {
        if std::env::var("BITS").map(|b| b != bits.to_string()).unwrap_or(false) { continue; }
        let (mut tk, mut tm, mut tb) = (0.0, 0.0, 0usize);
        for (n, k) in shapes {
            if std::env::var("ONLY").map(|o| o != format!("{n}x{k}")).unwrap_or(false) { continue; }
            let rows: usize = std::env::var("ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1); let x = normal(&[rows, k], Dtype::BF16, 1);
            let w = normal(&[n, k], Dtype::BF16, 2);
            let (wq, s, b) = rmx::quantize(&w, 64, bits, QuantMode::Affine).unwrap();
            let b = b.unwrap();
            rmx::eval(&[wq.clone(), s.clone(), b.clone()]).unwrap();
            let bytes = wq.nbytes() + s.nbytes() + b.nbytes();
            let run = || rmx::quantized_matmul(&x, &wq, &s, Some(&b), true, 64, bits, QuantMode::Affine).unwrap().eval().unwrap();
            let src = vec![1u8; bytes]; let mut dst = vec![0u8; bytes];
            run();
            let (mut a, mut m) = (vec![], vec![]);
            for _ in 0..reps {
                let t = Instant::now(); run(); a.push(t.elapsed().as_secs_f64() * 1e6);
                let t = Instant::now(); dst.copy_from_slice(std::hint::black_box(&src)); std::hint::black_box(&dst); m.push(t.elapsed().as_secs_f64() * 1e6);
            }
            let (a, m) = (median(a), median(m));
            println!("q{bits} {n}x{k}: {a:8.1} us  {:.2} GB/s  memcpy {m:8.1} us ({:.2} GB/s)", bytes as f64 / a / 1e3, bytes as f64 / m / 1e3);
            let count = match (n, k) { (151936, _) => 1, (1024, 1024) => 56, _ => 28 };
            tk += a * count as f64; tm += m * count as f64; tb += bytes * count;
        }
        println!("q{bits} per-token model matvecs: {:.1} ms ({:.2} GB/s), memcpy {:.1} ms -> {:.1} tok/s bound", tk / 1e3, tb as f64 / tk / 1e3, tm / 1e3, 1e6 / tk);
    }
}
