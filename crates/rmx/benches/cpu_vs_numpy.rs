//! rmx against NumPy on this CPU, in the same run.
//!
//! A Python peer process (`scripts/numpy_peer.py`) runs the NumPy version of each case. For
//! every case the two alternate (rmx, NumPy, rmx, NumPy, ...) so that both see the same
//! machine state; the reported speedup is the median of the pairwise ratios
//! `numpy_ms / rmx_ms`. After each NumPy turn the harness pauses 150 ms so OpenBLAS's
//! spinning worker threads are idle before rmx runs; each side's turn starts with 40 ms of
//! untimed runs so that both are timed on cores that are already busy. Each rmx run builds the graph and evaluates it, so graph overhead is
//! included. Results go to `target/bench/cpu_vs_numpy.json` and a printed table.
//!
//! MLX (when the peer's Python has `mlx`) is a third column: in the first [`MLX_REPS`]
//! rounds the peer also runs the MLX version after NumPy's turn, and `vs_mlx` is the median
//! of `mlx_ms / rmx_ms` over those rounds. MLX's CPU backend is slow on x86 (seconds for a
//! 2048 matmul), so its slow cases run once per round. `RMX_BENCH_MLX=0` leaves it out.
//!
//! Run: `scripts/bench.sh cpu [filter]`.

#[path = "common/numpy_peer.rs"]
mod numpy_peer;

use numpy_peer::NumpyPeer;
use rmx::{Array, Dtype};
use std::time::Instant;

struct Case {
    name: &'static str,
    iters: usize,
    run: Box<dyn Fn() -> Array>,
}

fn randn(shape: &[usize]) -> Array {
    // A cheap deterministic pseudo-normal fill, evaluated once up front.
    let n: usize = shape.iter().product();
    let mut state = 0x2545F4914F6CDD1Du64;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.4
        })
        .collect();
    Array::from_slice(&data, shape).unwrap()
}

fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();
    for n in [256usize, 1024, 2048, 4096] {
        let (a, b) = (randn(&[n, n]), randn(&[n, n]));
        let iters = if n <= 256 {
            50
        } else if n <= 1024 {
            5
        } else {
            1
        };
        v.push(Case { name: leak(format!("matmul_f32_{n}")), iters, run: Box::new(move || rmx::matmul(&a, &b).unwrap()) });
    }
    for n in [1024usize, 2048] {
        let a = rmx::astype(&randn(&[n, n]), Dtype::BF16).unwrap();
        let b = rmx::astype(&randn(&[n, n]), Dtype::BF16).unwrap();
        rmx::eval(&[a.clone(), b.clone()]).unwrap();
        v.push(Case {
            name: leak(format!("matmul_bf16_{n}")),
            iters: if n <= 1024 { 5 } else { 1 },
            run: Box::new(move || rmx::matmul(&a, &b).unwrap()),
        });
    }
    {
        let (a, b) = (randn(&[64, 128, 128]), randn(&[64, 128, 128]));
        v.push(Case { name: "matmul_batched_64x128", iters: 10, run: Box::new(move || rmx::matmul(&a, &b).unwrap()) });
    }
    for (label, n, iters) in [("1M", 1usize << 20, 50), ("16M", 1 << 24, 3)] {
        let (a, b) = (randn(&[n]), randn(&[n]));
        let (a2, b2) = (a.clone(), b.clone());
        v.push(Case { name: leak(format!("add_{label}")), iters, run: Box::new(move || rmx::add(&a, &b).unwrap()) });
        v.push(Case { name: leak(format!("mul_{label}")), iters, run: Box::new(move || rmx::multiply(&a2, &b2).unwrap()) });
    }
    {
        let (a, b) = (randn(&[4096, 4096]), randn(&[4096]));
        v.push(Case { name: "add_broadcast_4096x4096", iters: 3, run: Box::new(move || rmx::add(&a, &b).unwrap()) });
    }
    {
        let x = randn(&[1 << 24]);
        let (x0, x1, x2) = (x.clone(), x.clone(), x.clone());
        v.push(Case { name: "exp_16M", iters: 3, run: Box::new(move || rmx::exp(&x0).unwrap()) });
        v.push(Case { name: "tanh_16M", iters: 3, run: Box::new(move || rmx::tanh(&x1).unwrap()) });
        v.push(Case { name: "sigmoid_16M", iters: 3, run: Box::new(move || rmx::sigmoid(&x2).unwrap()) });
        let y = randn(&[1 << 24]);
        v.push(Case { name: "logaddexp_16M", iters: 3, run: Box::new(move || rmx::logaddexp(&x, &y).unwrap()) });
    }
    {
        let x = randn(&[4096, 4096]);
        for axis in [0isize, 1] {
            let (xs, xm) = (x.clone(), x.clone());
            v.push(Case {
                name: leak(format!("sum_axis{axis}_4096")),
                iters: 3,
                run: Box::new(move || rmx::sum(&xs, axis, false).unwrap()),
            });
            v.push(Case {
                name: leak(format!("max_axis{axis}_4096")),
                iters: 3,
                run: Box::new(move || rmx::max(&xm, axis, false).unwrap()),
            });
        }
        let xt = x.clone();
        v.push(Case {
            name: "transpose_copy_4096",
            iters: 3,
            run: Box::new(move || rmx::contiguous(&rmx::transpose(&xt, None).unwrap()).unwrap()),
        });
    }
    {
        let x = randn(&[1024, 4096]);
        v.push(Case { name: "softmax_1024x4096", iters: 3, run: Box::new(move || rmx::softmax(&x, -1).unwrap()) });
    }
    {
        let x = randn(&[1 << 20]);
        let x2 = x.clone();
        v.push(Case { name: "sort_1M", iters: 3, run: Box::new(move || rmx::sort(&x, Some(0)).unwrap()) });
        v.push(Case { name: "argsort_1M", iters: 3, run: Box::new(move || rmx::argsort(&x2, Some(0)).unwrap()) });
    }
    {
        let x = randn(&[4096, 4096]);
        v.push(Case { name: "cumsum_4096x4096_axis1", iters: 3, run: Box::new(move || rmx::cumsum(&x, Some(1), false, true).unwrap()) });
    }
    {
        let x = randn(&[1 << 24]);
        let idx: Vec<i32> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 8) as i32).collect();
        let idx = Array::from_slice(&idx, &[1 << 20]).unwrap();
        v.push(Case { name: "take_1M_of_16M", iters: 5, run: Box::new(move || rmx::take(&x, &idx, Some(0)).unwrap()) });
    }
    {
        let (x, w) = (randn(&[8, 56, 56, 64]), randn(&[64, 3, 3, 64]));
        v.push(Case { name: "conv2d_8x64x56x56_k3", iters: 2, run: Box::new(move || rmx::conv2d(&x, &w, 1, 1, 1, 1).unwrap()) });
    }
    {
        let one = Array::scalar(1.0f32);
        let a = Array::from_slice(&[1.0f32], &[1]).unwrap();
        v.push(Case { name: "overhead_10000_ops", iters: 3, run: Box::new(move || add_chain(&a, &one, 10_000)) });
    }
    {
        // Many small graphs, each evaluated (a loop over tiny arrays, as in reinforcement
        // learning or per-parameter optimizer updates): 1000 evaluations of 10 adds on 16 floats.
        let a = Array::from_slice(&[1.0f32; 16], &[16]).unwrap();
        v.push(Case {
            name: "overhead_small_graphs",
            iters: 3,
            run: Box::new(move || {
                let mut y = a.clone();
                for _ in 0..1000 {
                    y = add_chain(&y, &a, 10);
                    rmx::eval(&[y.clone()]).unwrap();
                }
                y
            }),
        });
    }
    v
}

/// `start + addend + addend + ...` (`count` adds), unevaluated: graph-building overhead.
fn add_chain(start: &Array, addend: &Array, count: usize) -> Array {
    (0..count).fold(start.clone(), |y, _| rmx::add(&y, addend).unwrap())
}

/// Untimed work before each side's timed runs, in milliseconds.
const WARM_UP_MS: f64 = 40.0;

/// Rounds that time MLX too.
const MLX_REPS: usize = 3;

/// An MLX run longer than this is timed once per round rather than `iters` times.
const MLX_SLOW_MS: f64 = 200.0;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let reps: usize = std::env::var("RMX_BENCH_REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut peer = NumpyPeer::start();
    println!("peer: {}", peer.info);
    println!("rmx threads: {}", rayon::current_num_threads());

    let mut rows = Vec::new();
    let with_mlx = peer.has_mlx();
    println!("{:<28} {:>10} {:>10} {:>8} {:>10} {:>8}", "case", "rmx_ms", "numpy_ms", "speedup", "mlx_ms", "vs_mlx");
    for case in cases() {
        if filter.as_ref().is_some_and(|f| !case.name.contains(f.as_str())) {
            continue;
        }
        (case.run)().eval().unwrap();
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let mut numpy_last_ms = peer.run(case.name, 1);
        let mlx_case = format!("mlx:{}", case.name);
        let mut mlx_last_ms = if with_mlx { peer.run(&mlx_case, 1) } else { 0.0 };
        let (mut mlx_times, mut mlx_ratios) = (Vec::new(), Vec::new());
        for rep in 0..reps {
            // Each side's turn starts with WARM_UP_MS of untimed runs. After the pause the cores
            // idle at a low clock with other tenants' data in their caches (measured: a 4096x4096
            // sum took 10 ms on the first run after 150 ms of sleep, 4 ms on the next two, 1.5 ms
            // back to back); without a warm-up NumPy's turn always started on cores rmx had just
            // warmed.
            let warm = Instant::now();
            while warm.elapsed().as_secs_f64() * 1e3 < WARM_UP_MS {
                (case.run)().eval().unwrap();
            }
            let t0 = Instant::now();
            for _ in 0..case.iters {
                (case.run)().eval().unwrap();
            }
            let rmx_ms = t0.elapsed().as_secs_f64() * 1e3 / case.iters as f64;
            peer.run(case.name, (WARM_UP_MS / numpy_last_ms).ceil().max(1.0) as usize);
            let numpy_ms = peer.run(case.name, case.iters);
            numpy_last_ms = numpy_ms;
            if with_mlx && rep < MLX_REPS {
                let warm_up = (WARM_UP_MS / mlx_last_ms).floor() as usize;
                if warm_up > 0 {
                    peer.run(&mlx_case, warm_up);
                }
                mlx_last_ms = peer.run(&mlx_case, if mlx_last_ms > MLX_SLOW_MS { 1 } else { case.iters });
                mlx_times.push(mlx_last_ms);
                mlx_ratios.push(mlx_last_ms / rmx_ms);
            }
            // OpenBLAS worker threads busy-wait for about 2^28 cycles after a call; let them
            // go idle so they do not steal the cores from the next rmx turn.
            std::thread::sleep(std::time::Duration::from_millis(150));
            ours.push(rmx_ms);
            theirs.push(numpy_ms);
            ratios.push(numpy_ms / rmx_ms);
        }
        let (r, n, s) = (median(&mut ours), median(&mut theirs), median(&mut ratios));
        let mut row = format!("{{\"case\": \"{}\", \"rmx_ms\": {r:.4}, \"numpy_ms\": {n:.4}, \"speedup\": {s:.3}", case.name);
        if with_mlx {
            let (m, vs) = (median(&mut mlx_times), median(&mut mlx_ratios));
            println!("{:<28} {:>10.3} {:>10.3} {:>7.2}x {:>10.3} {:>7.2}x", case.name, r, n, s, m, vs);
            row += &format!(", \"mlx_ms\": {m:.4}, \"vs_mlx\": {vs:.3}");
        } else {
            println!("{:<28} {:>10.3} {:>10.3} {:>7.2}x", case.name, r, n, s);
        }
        if case.name.starts_with("overhead") {
            row += &format!(", \"us_per_op\": {:.3}", r * 1e3 / 10_000.0);
        }
        row.push('}');
        rows.push(row);
    }
    drop(peer);
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir).unwrap();
    let path = out_dir.join("cpu_vs_numpy.json");
    std::fs::write(&path, format!("[\n  {}\n]\n", rows.join(",\n  "))).unwrap();
    println!("wrote {}", path.display());
}
