//! Quantized matrix-vector products (the decode step of an LLM) against unquantized ones
//! and against a memcpy of the packed bytes, in the same run (interleaved, medians).
//! Rows `{"case", "ms", "gbps", "fraction_of_memcpy"}`: `gbps` counts the bytes of the weight
//! operand read once (packed words plus scales and biases for q4/q8); `fraction_of_memcpy`
//! is the memcpy's time for the same bytes over the kernel's time. The same rows for a
//! 1 GiB safetensors file: opening it, and opening plus reading every tensor (a sum of
//! each), against a memcpy of 1 GiB and against `std::fs::read` of the file. Then MLP
//! training steps against NumPy's hand-written forward/backward (`{"case", "ms",
//! "peer_ms", "speedup"}`). Results go to `target/bench/nn_quant.json` and a printed table.
//!
//! Run: `scripts/bench.sh nn_quant [filter]` (with a filter, only the rows whose case names
//! contain it).

#[path = "../../rmx/benches/common/numpy_peer.rs"]
mod numpy_peer;

use rmx::{Array, Dtype, QuantMode};
use rmx_nn::{activations, losses, optim, Activation, Linear, Sequential};
use std::collections::BTreeMap;
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

/// Writes a 1 GiB checkpoint (64 tensors of 4096x1024 f32) and times loading it.
fn safetensors_rows(rows: &mut Vec<(String, usize, (f64, f64))>) {
    let dir = std::env::temp_dir().join(format!("rmx-bench-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let tensors: BTreeMap<String, Array> =
        (0..64).map(|i| (format!("layers.{i}.weight"), normal(&[4096, 1024], Dtype::F32, 10 + i))).collect();
    rmx::io::save_safetensors(&path, &tensors, &BTreeMap::new()).unwrap();
    drop(tensors);
    let bytes = std::fs::metadata(&path).unwrap().len() as usize;
    let open = || drop(std::hint::black_box(rmx::io::load_safetensors(&path).unwrap()));
    rows.push(("safetensors_open_1GB".into(), bytes, measure(&open, bytes, 7)));
    let read_all = || {
        let (t, _) = rmx::io::load_safetensors(&path).unwrap();
        let sums: Vec<Array> = t.values().map(|a| rmx::sum(a, rmx::Axes::All, false).unwrap()).collect();
        rmx::eval(&sums).unwrap();
    };
    rows.push(("safetensors_load_1GB".into(), bytes, measure(&read_all, bytes, 7)));
    let fs_read = || drop(std::hint::black_box(std::fs::read(&path).unwrap()));
    rows.push(("fs_read_1GB".into(), bytes, measure(&fs_read, bytes, 7)));
    std::fs::remove_dir_all(&dir).ok();
}

/// One SGD step of a 784-512-512-10 ReLU MLP (batch 128) against NumPy's hand-written
/// step, interleaved; returns (rmx ms, NumPy ms), medians.
fn mlp_train_step() -> (f64, f64) {
    rmx::random::seed(0);
    let mut mlp = Sequential::new()
        .push(Linear::new(784, 512, true).unwrap())
        .push(Activation::new(activations::relu))
        .push(Linear::new(512, 512, true).unwrap())
        .push(Activation::new(activations::relu))
        .push(Linear::new(512, 10, true).unwrap());
    let mut opt = optim::Optimizer::new(optim::Sgd::new(0.0), 0.01);
    let x = normal(&[128, 784], Dtype::F32, 3);
    let y = rmx::random::randint(0, 10, &[128], Dtype::I32, Some(&rmx::random::key(4))).unwrap();
    let mut step = || {
        let (loss, grads) = rmx_nn::value_and_grad(&mut mlp, |m| {
            Ok(vec![losses::cross_entropy(&m.forward(&x)?, &y, None, -1, 0.0, losses::Reduction::Mean)?])
        })
        .unwrap();
        opt.update(&mut mlp, &grads).unwrap();
        let mut outs: Vec<Array> = rmx_nn::Module::parameters(&mlp).into_values().collect();
        outs.push(loss[0].clone());
        rmx::eval(&outs).unwrap();
    };
    let mut peer = numpy_peer::NumpyPeer::start();
    step();
    peer.run("mlp_train_step", 3);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..5 {
            step();
        }
        ours.push(t.elapsed().as_secs_f64() * 1e3 / 5.0);
        theirs.push(peer.run("mlp_train_step", 5));
    }
    println!("NumPy peer: {}", peer.info);
    (median(ours), median(theirs))
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument filters the cases.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let wanted = |case: &str| case.contains(filter.as_str());
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
            let case = format!("q{bits}_matvec_{shape}");
            if wanted(&case) {
                rows.push((case, bytes, measure(&run, bytes, 21)));
            }
        }
        for mode in [QuantMode::Mxfp4, QuantMode::Nvfp4, QuantMode::Mxfp8] {
            let (g, bits) = mode.fixed_format().unwrap();
            let (wq, s, _) = rmx::quantize(&w, g, bits, mode).unwrap();
            rmx::eval(&[wq.clone(), s.clone()]).unwrap();
            let bytes = wq.nbytes() + s.nbytes();
            let run = || rmx::quantized_matmul(&x, &wq, &s, None, true, g, bits, mode).unwrap().eval().unwrap();
            let case = format!("{}_matvec_{shape}", format!("{mode:?}").to_lowercase());
            if wanted(&case) {
                rows.push((case, bytes, measure(&run, bytes, 21)));
            }
        }
        for dtype in [Dtype::F32, Dtype::BF16] {
            let wd = rmx::astype(&w, dtype).unwrap();
            let xd = rmx::astype(&x, dtype).unwrap();
            rmx::eval(&[wd.clone(), xd.clone()]).unwrap();
            let wt = rmx::transpose(&wd, None).unwrap();
            let run = || rmx::matmul(&xd, &wt).unwrap().eval().unwrap();
            let case = format!("{dtype}_matvec_{shape}");
            if wanted(&case) {
                rows.push((case, wd.nbytes(), measure(&run, wd.nbytes(), 11)));
            }
        }
    }
    if wanted("safetensors_load_1GB") {
        safetensors_rows(&mut rows);
    }
    println!("{:<26} {:>9} {:>8} {:>10} {:>18}", "case", "ms", "gbps", "memcpy_ms", "fraction_of_memcpy");
    let mut json = Vec::new();
    for (case, bytes, (t, m)) in &rows {
        let gbps = *bytes as f64 / (t * 1e-3) / 1e9;
        let fraction = m / t;
        println!("{case:<26} {t:>9.3} {gbps:>8.2} {m:>10.3} {fraction:>18.2}");
        json.push(format!("  {{\"case\": \"{case}\", \"ms\": {t:.4}, \"gbps\": {gbps:.3}, \"fraction_of_memcpy\": {fraction:.3}}}"));
    }
    if wanted("mlp_train_step") {
        let (ours, theirs) = mlp_train_step();
        let speedup = theirs / ours;
        println!("mlp_train_step (784-512-512-10, batch 128, SGD): rmx {ours:.3} ms, NumPy {theirs:.3} ms, speedup {speedup:.2}x");
        json.push(format!("  {{\"case\": \"mlp_train_step\", \"ms\": {ours:.4}, \"peer_ms\": {theirs:.4}, \"speedup\": {speedup:.3}}}"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nn_quant.json"), format!("[\n{}\n]\n", json.join(",\n"))).unwrap();
}
