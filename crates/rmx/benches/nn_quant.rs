//! Quantized matrix-vector products (the decode step of an LLM) against unquantized ones
//! and against a memcpy of the packed bytes, in the same run (interleaved, medians).
//! Rows `{"case", "ms", "gbps", "fraction_of_memcpy"}`: `gbps` counts the bytes of the weight
//! operand read once (packed words plus scales and biases for q4/q8); `fraction_of_memcpy`
//! is the memcpy's time for the same bytes over the kernel's time. Results go to
//! `target/bench/nn_quant.json` and a printed table.
//!
//! Run: `scripts/bench.sh nn_quant`.

use rmx::{Array, Dtype, QuantMode};
use std::time::Instant;

fn normal(shape: &[usize], dtype: Dtype, seed: u64) -> Array {
    let a = rmx::astype(&rmx::random::normal(shape, Dtype::F32, 0.0, 0.02, Some(&rmx::random::key(seed))).unwrap(), dtype).unwrap();
    a.eval().unwrap();
    a
}

fn ms(f: &dyn Fn()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Kernel and memcpy of `bytes`, interleaved; returns (kernel ms, memcpy ms), medians.
fn measure(kernel: &dyn Fn(), bytes: usize, rounds: usize) -> (f64, f64) {
    let source = vec![1u8; bytes];
    let mut target = vec![0u8; bytes];
    kernel();
    let (mut k, mut m) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        k.push(ms(kernel));
        let t = Instant::now();
        target.copy_from_slice(std::hint::black_box(&source));
        std::hint::black_box(&target);
        m.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (median(k), median(m))
}

fn main() {
    let mut rows = Vec::new();
    for (n, k) in [(4096usize, 4096usize), (14336, 4096)] {
        let shape = format!("{k}x{n}");
        let x = normal(&[1, k], Dtype::BF16, 1);
        let w = normal(&[n, k], Dtype::BF16, 2);
        for bits in [4u32, 8] {
            let (wq, s, b) = rmx::quantize(&w, 64, bits, QuantMode::Affine).unwrap();
            let b = b.unwrap();
            rmx::eval(&[wq.clone(), s.clone(), b.clone()]).unwrap();
            let bytes = wq.nbytes() + s.nbytes() + b.nbytes();
            let run = || rmx::quantized_matmul(&x, &wq, &s, Some(&b), true, 64, bits, QuantMode::Affine).unwrap().eval().unwrap();
            rows.push((format!("q{bits}_matvec_{shape}"), bytes, measure(&run, bytes, 21)));
        }
        for dtype in [Dtype::F32, Dtype::BF16] {
            let wd = rmx::astype(&w, dtype).unwrap();
            let xd = rmx::astype(&x, dtype).unwrap();
            rmx::eval(&[wd.clone(), xd.clone()]).unwrap();
            let wt = rmx::transpose(&wd, None).unwrap();
            let run = || rmx::matmul(&xd, &wt).unwrap().eval().unwrap();
            rows.push((format!("{dtype}_matvec_{shape}"), wd.nbytes(), measure(&run, wd.nbytes(), 11)));
        }
    }
    println!("{:<26} {:>9} {:>8} {:>10} {:>18}", "case", "ms", "gbps", "memcpy_ms", "fraction_of_memcpy");
    let mut json = Vec::new();
    for (case, bytes, (t, m)) in &rows {
        let gbps = *bytes as f64 / (t * 1e-3) / 1e9;
        let fraction = m / t;
        println!("{case:<26} {t:>9.3} {gbps:>8.2} {m:>10.3} {fraction:>18.2}");
        json.push(format!("  {{\"case\": \"{case}\", \"ms\": {t:.4}, \"gbps\": {gbps:.3}, \"fraction_of_memcpy\": {fraction:.3}}}"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nn_quant.json"), format!("[\n{}\n]\n", json.join(",\n"))).unwrap();
}
