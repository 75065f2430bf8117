//! The cost of the transforms, each against its baseline in the same run (interleaved,
//! median of pairwise ratios): per-example gradients by `vmap(grad)` against a loop of
//! `grad` calls, and `value_and_grad` of an MLP step against the forward pass alone.
//! Rows `{"case", "ms", "baseline_ms", "speedup"}` (speedup = baseline_ms / ms) go to
//! `target/bench/transforms.json` and a printed table.
//!
//! Run: `scripts/bench.sh transforms`.

use rmx::{Array, Axes, Dtype, Result};
use std::time::Instant;

fn uniform(shape: &[usize], seed: u64) -> Array {
    let key = rmx::random::key(seed);
    let x = rmx::random::uniform(-0.5, 0.5, shape, Dtype::F32, Some(&key)).unwrap();
    x.eval().unwrap();
    x
}

/// Two-layer MLP loss for one example or a batch: mean((tanh(x W1 + b1) W2 - y)²).
fn mlp_loss(a: &[Array]) -> Result<Vec<Array>> {
    let (w1, b1, w2, x, y) = (&a[0], &a[1], &a[2], &a[3], &a[4]);
    let h = rmx::tanh(&rmx::add(&rmx::matmul(x, w1)?, b1)?)?;
    let err = rmx::subtract(&rmx::matmul(&h, w2)?, y)?;
    Ok(vec![rmx::mean(&rmx::square(&err)?, Axes::All, false)?])
}

fn time_ms(f: &dyn Fn()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

/// Interleaves `run` and `baseline` `rounds` times; returns medians (ms, baseline_ms, ratio).
fn compare(run: &dyn Fn(), baseline: &dyn Fn(), rounds: usize) -> (f64, f64, f64) {
    run();
    baseline();
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let x = time_ms(run);
        let y = time_ms(baseline);
        a.push(x);
        b.push(y);
        r.push(y / x);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|p, q| p.partial_cmp(q).unwrap());
        v[v.len() / 2]
    };
    (median(&mut a), median(&mut b), median(&mut r))
}

fn main() {
    let (d_in, hidden, d_out) = (32, 64, 8);
    let params = [uniform(&[d_in, hidden], 1), uniform(&[hidden], 2), uniform(&[hidden, d_out], 3)];
    let mut rows = Vec::new();

    // Per-example gradients for 1,000 examples.
    let (xs, ys) = (uniform(&[1000, d_in], 4), uniform(&[1000, d_out], 5));
    let per_example = || {
        let g = rmx::vmap(|a| rmx::grad(mlp_loss, &[0, 1, 2])(a), &[None, None, None, Some(0), Some(0)], &[Some(0), Some(0), Some(0)]);
        let out = g(&[params[0].clone(), params[1].clone(), params[2].clone(), xs.clone(), ys.clone()]).unwrap();
        rmx::eval(&out).unwrap();
    };
    let looped = || {
        let g = rmx::grad(mlp_loss, &[0, 1, 2]);
        for i in 0..1000u32 {
            let idx = Array::scalar(i);
            let x = rmx::take(&xs, &idx, Some(0)).unwrap();
            let y = rmx::take(&ys, &idx, Some(0)).unwrap();
            let out = g(&[params[0].clone(), params[1].clone(), params[2].clone(), x, y]).unwrap();
            rmx::eval(&out).unwrap();
        }
    };
    rows.push(("vmap_grad_1000", compare(&per_example, &looped, 5)));

    // value_and_grad of a batch step against the forward pass alone.
    let (xb, yb) = (uniform(&[512, d_in], 6), uniform(&[512, d_out], 7));
    let args = [params[0].clone(), params[1].clone(), params[2].clone(), xb, yb];
    let step = || {
        let (v, g) = rmx::value_and_grad(mlp_loss, &[0, 1, 2])(&args).unwrap();
        rmx::eval(&[v, g].concat()).unwrap();
    };
    let forward = || {
        rmx::eval(&mlp_loss(&args).unwrap()).unwrap();
    };
    rows.push(("value_and_grad_mlp", compare(&step, &forward, 21)));

    println!("{:<22} {:>10} {:>12} {:>9}", "case", "ms", "baseline_ms", "speedup");
    let mut json = Vec::new();
    for (name, (ms, base, ratio)) in &rows {
        println!("{name:<22} {ms:>10.3} {base:>12.3} {ratio:>9.2}");
        json.push(format!("  {{\"case\": \"{name}\", \"ms\": {ms:.4}, \"baseline_ms\": {base:.4}, \"speedup\": {ratio:.3}}}"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("transforms.json"), format!("[\n{}\n]\n", json.join(",\n"))).unwrap();
}
