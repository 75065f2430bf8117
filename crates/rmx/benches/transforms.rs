//! The cost of the transforms, each against its baseline in the same run (interleaved,
//! median of pairwise ratios): `compile` of an element-wise chain on 16M floats against the
//! uncompiled chain, against a memcpy of the same bytes (split over the threads, as the
//! kernels are) and against the same chain written by hand as one loop (itself timed against
//! the memcpy); an arithmetic-light chain of 8 ops (hardswish) against uncompiled and the
//! memcpy; a compiled backward pass (gelu's)
//! against the uncompiled one; compiled layer norm and softmax against uncompiled and against NumPy (the peer process of `scripts/numpy_peer.py`);
//! per-example gradients by `vmap(grad)` against a loop of `grad` calls; and
//! `value_and_grad` of an MLP step against the forward pass alone. When the peer has MLX,
//! the compiled chain, layer norm, softmax and `vmap(grad)` are also timed against MLX's own
//! (`mx.compile`, `mx.fast.layer_norm`, `mx.vmap(mx.grad)`) in `*_vs_mlx` rows.
//! Rows `{"case", "ms", "baseline_ms", "speedup"}` (speedup = baseline_ms / ms) go to
//! `target/bench/transforms.json` and a printed table.
//!
//! The 16M-float rows start every timed call from a clean cache ([`CacheScrub`]);
//! `compile_chain8_16M_no_scrub` repeats the first of them without it.
//!
//! Run: `scripts/bench.sh transforms`.

#[path = "common/handwritten_chain.rs"]
mod handwritten_chain;
#[path = "common/numpy_peer.rs"]
mod numpy_peer;

use numpy_peer::NumpyPeer;
use rmx::{Array, Axes, Dtype, Result};
use std::cell::RefCell;
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
    compare_after(&|| {}, run, baseline, rounds)
}

/// [`compare`] with `settle` called (untimed) before every timed call.
fn compare_after(settle: &dyn Fn(), run: &dyn Fn(), baseline: &dyn Fn(), rounds: usize) -> (f64, f64, f64) {
    run();
    baseline();
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        settle();
        let x = time_ms(run);
        settle();
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

/// Reads a clean buffer far larger than any last-level cache, so that the lines an earlier
/// call left dirty are written back now, untimed, and not during the next timed call.
///
/// A 16M-float pass leaves up to a cache's worth of dirty lines behind when it writes with
/// regular stores (the uncompiled chain's eight intermediates do; the fused kernel streams
/// its output past the cache). Interleaved without this, the write-back of the uncompiled
/// chain's last output is billed to the compiled call that follows it (session 24 measured
/// 19-21 ms against 14 ms after a scrub or after itself). With it, every timed call starts
/// from a clean cache and each side is spared only the write-back of its own last dirty
/// lines, which favours the baseline when that is the side writing through the cache.
struct CacheScrub(Vec<u64>);

impl CacheScrub {
    /// Four times the last-level cache the system reports (`/sys/.../cache/index3/size`), at
    /// least 256 MB.
    fn new() -> CacheScrub {
        let l3 = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size")
            .ok()
            .and_then(|s| s.trim().strip_suffix('K').and_then(|kb| kb.parse::<usize>().ok()))
            .map_or(0, |kb| kb << 10);
        CacheScrub(vec![1; (4 * l3).max(256 << 20) / 8])
    }

    /// Touches one word in every cache line.
    fn run(&self) {
        let lines = std::hint::black_box(&self.0).iter().step_by(8);
        std::hint::black_box(lines.fold(0, |acc, v| acc ^ v));
    }
}

/// `n` copies of `value` in memory advised as huge pages, as rmx's own large buffers are (so
/// the memcpy baseline streams under the same TLB conditions as the kernel it is compared to).
fn huge_page_vec(n: usize, value: f32) -> Vec<f32> {
    let mut v = Vec::<f32>::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        let start = (v.as_ptr() as usize).next_multiple_of(4096);
        let end = (v.as_ptr() as usize + n * 4) & !4095;
        // SAFETY: advice on pages inside this allocation; contents unchanged.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
    v.resize(n, value);
    v
}

/// `target.copy_from_slice(source)` split over the compute threads in 1 MB blocks, as the
/// fused kernel splits its work: one read-and-write pass at the speed all cores get.
fn parallel_copy(source: &[f32], target: &mut [f32]) {
    const BLOCK: usize = 1 << 18;
    assert_eq!(source.len(), target.len());
    let target_ptr = target.as_mut_ptr() as usize;
    rmx::backend::cpu::parallel::parallel_for(source.len().div_ceil(BLOCK), 1, |i| {
        let range = i * BLOCK..((i + 1) * BLOCK).min(source.len());
        // SAFETY: blocks are disjoint ranges of `target`, which outlives the call.
        let out = unsafe { std::slice::from_raw_parts_mut((target_ptr as *mut f32).add(range.start), range.len()) };
        out.copy_from_slice(&source[range]);
    });
}

/// gelu with erf, `x/2 · (1 + erf(x/√2))`: 5 element-wise ops.
fn gelu(x: &Array) -> Result<Array> {
    let inner = rmx::erf(&rmx::multiply(x, std::f64::consts::FRAC_1_SQRT_2)?)?;
    rmx::multiply(&rmx::multiply(x, 0.5)?, &rmx::add(&inner, 1.0)?)
}

/// `x·w + b` from the inputs `[x, w, b]`: the start of every chain here (2 element-wise ops).
fn affine(a: &[Array]) -> Result<Array> {
    rmx::add(&rmx::multiply(&a[0], &a[1])?, &a[2])
}

/// gelu(x * w + b) * sigmoid(x * w + b): 9 element-wise ops.
fn chain8(a: &[Array]) -> Result<Vec<Array>> {
    let y = affine(a)?;
    Ok(vec![rmx::multiply(&gelu(&y)?, &rmx::sigmoid(&y)?)?])
}

/// hardswish(x·w + b) · w, `y · min(max(y + 3, 0), 6) / 6` (MobileNet's activation): 8
/// element-wise ops as cheap as the data allow. Written as one loop they run at 0.85 of a
/// memcpy on 16M floats (session 26); what the fused kernel loses against that is its pass
/// per op over its chunk buffers.
fn light_chain8(a: &[Array]) -> Result<Vec<Array>> {
    let y = affine(a)?;
    let gate = rmx::minimum(&rmx::maximum(&rmx::add(&y, 3.0)?, 0.0)?, 6.0)?;
    Ok(vec![rmx::multiply(&rmx::divide(&rmx::multiply(&y, &gate)?, 6.0)?, &a[1])?])
}

/// The gradients of sum(gelu(x·w + b)) with respect to x, w and b (gelu with erf): the
/// backward pass reads x·w + b, erf and gelu's derivative from several places.
fn gelu_grad(a: &[Array]) -> Result<Vec<Array>> {
    let gelu_sum = |p: &[Array]| Ok(vec![rmx::sum(&gelu(&affine(p)?)?, rmx::Axes::All, false)?]);
    rmx::grad(gelu_sum, &[0, 1, 2])(a)
}

/// Per-feature sums of squares over a batch (as batch statistics need): a chain ending in a
/// reduction over the leading axis.
fn batch_sum_of_squares(a: &[Array]) -> Result<Vec<Array>> {
    let y = affine(a)?;
    Ok(vec![rmx::sum(&rmx::square(&y)?, 0, false)?])
}

fn layer_norm(a: &[Array]) -> Result<Vec<Array>> {
    Ok(vec![rmx::layer_norm(&a[0], Some(&a[1]), Some(&a[2]), 1e-5)?])
}

fn softmax(a: &[Array]) -> Result<Vec<Array>> {
    Ok(vec![rmx::softmax(&a[0], -1)?])
}

type Row = (&'static str, (f64, f64, f64));

/// The names of a compiled case's rows: against uncompiled, NumPy and MLX.
type RowNames = [&'static str; 3];

/// Compiled against uncompiled, against NumPy's `peer_case`, and (when the peer has MLX)
/// against MLX's compiled version, `mlx:compile_<peer_case>`.
fn compiled_cases(
    [name, vs_numpy, vs_mlx_name]: RowNames,
    f: fn(&[Array]) -> Result<Vec<Array>>,
    inputs: &[Array],
    peer: &RefCell<NumpyPeer>,
    peer_case: &str,
) -> Vec<Row> {
    let compiled = rmx::compile(f);
    let run_compiled = || rmx::eval(&compiled.call(inputs).unwrap()).unwrap();
    let run_plain = || rmx::eval(&f(inputs).unwrap()).unwrap();
    let run_numpy = || {
        peer.borrow_mut().run(peer_case, 1);
    };
    let mut rows = vec![(name, compare(&run_compiled, &run_plain, 11)), (vs_numpy, compare(&run_compiled, &run_numpy, 11))];
    rows.extend(vs_mlx(vs_mlx_name, &run_compiled, peer, &format!("mlx:compile_{peer_case}")));
    rows
}

/// `run` against the peer's MLX case `mlx_case` (5 rounds: MLX is slow on x86), when the peer
/// has MLX.
fn vs_mlx(name: &'static str, run: &dyn Fn(), peer: &RefCell<NumpyPeer>, mlx_case: &str) -> Option<Row> {
    if !peer.borrow().has_mlx() {
        return None;
    }
    let run_mlx = || {
        peer.borrow_mut().run(mlx_case, 1);
    };
    Some((name, compare(run, &run_mlx, 5)))
}

fn main() {
    let (d_in, hidden, d_out) = (32, 64, 8);
    let params = [uniform(&[d_in, hidden], 1), uniform(&[hidden], 2), uniform(&[hidden, d_out], 3)];
    let mut rows: Vec<Row> = Vec::new();
    let peer = RefCell::new(NumpyPeer::start());
    println!("peer: {}", peer.borrow().info);

    // An element-wise chain on 16M floats: compiled vs uncompiled, and vs one memcpy pass.
    // `RMX_BENCH_CHAIN_ROWS` (default 4096 rows of 4096) sizes the data of the rows up to
    // `compile_gelu_grad_xwb_16M`, for machines whose last-level cache holds 64 MB; their names
    // then say `<n>M` instead of 16M (or end in it) and the MLX row is left out (its case is 16M).
    let chain_rows = std::env::var("RMX_BENCH_CHAIN_ROWS").map_or(4096, |v| v.parse().expect("RMX_BENCH_CHAIN_ROWS: a row count"));
    let n = chain_rows * 4096;
    let sized = |name: &'static str| -> &'static str {
        if n == 1 << 24 {
            name
        } else {
            let size = format!("{}M", n >> 20);
            String::leak(if name.contains("16M") { name.replace("16M", &size) } else { format!("{name}_{size}") })
        }
    };
    let chain_inputs = [uniform(&[chain_rows, 4096], 8), uniform(&[4096], 9), uniform(&[4096], 10)];
    let compiled_chain = rmx::compile(chain8);
    assert_eq!(compiled_chain.kernels(&chain_inputs).unwrap(), vec!["fused[9]"]);
    let run_compiled = || rmx::eval(&compiled_chain.call(&chain_inputs).unwrap()).unwrap();
    let run_plain = || rmx::eval(&chain8(&chain_inputs).unwrap()).unwrap();
    let scrub = CacheScrub::new();
    let settle = || scrub.run();
    rows.push((sized("compile_chain8_16M"), compare_after(&settle, &run_compiled, &run_plain, 11)));
    // The same without the scrub: the compiled call pays for the uncompiled one's write-back.
    rows.push((sized("compile_chain8_16M_no_scrub"), compare(&run_compiled, &run_plain, 11)));
    if n == 1 << 24 {
        rows.extend(vs_mlx("compile_chain8_16M_vs_mlx", &run_compiled, &peer, "mlx:compile_chain8_16M"));
    }
    let source = huge_page_vec(n, 1.0);
    let target = RefCell::new(huge_page_vec(n, 0.0));
    let memcpy = || parallel_copy(std::hint::black_box(&source), &mut target.borrow_mut());
    rows.push((sized("compile_chain8_vs_memcpy"), compare_after(&settle, &run_compiled, &memcpy, 11)));
    // The memcpy baseline is split over the threads like the kernels it is compared to; this
    // row times it against one thread's memcpy (the baseline before session 24).
    let single_memcpy = || target.borrow_mut().copy_from_slice(std::hint::black_box(&source));
    rows.push((sized("memcpy_threads_vs_one"), compare_after(&settle, &memcpy, &single_memcpy, 11)));
    // The same chain as one hand-written loop: the ceiling for code keeping these formulas. Its
    // output starts on a cache line, as rmx's buffers do, so it can stream its stores.
    let (x, w, b) =
        (chain_inputs[0].to_vec::<f32>().unwrap(), chain_inputs[1].to_vec::<f32>().unwrap(), chain_inputs[2].to_vec::<f32>().unwrap());
    let mut written = huge_page_vec(n + 16, 0.0);
    let line_offset = (written.as_ptr() as usize).next_multiple_of(64) - written.as_ptr() as usize;
    let written = RefCell::new(&mut written[line_offset / 4..line_offset / 4 + n]);
    let handwritten = || handwritten_chain::run(&x, &w, &b, &mut written.borrow_mut());
    handwritten();
    let compiled_values = compiled_chain.call(&chain_inputs).unwrap()[0].to_vec::<f32>().unwrap();
    assert!(
        compiled_values.iter().zip(written.borrow().iter()).all(|(p, q)| (p - q).abs() <= 1e-6),
        "the hand-written chain computes the compiled one"
    );
    rows.push((sized("compile_chain8_vs_handwritten"), compare_after(&settle, &run_compiled, &handwritten, 11)));
    rows.push((sized("handwritten_chain8_vs_memcpy"), compare_after(&settle, &handwritten, &memcpy, 11)));

    // An arithmetic-light chain of 8 ops on the same data: how close fusion gets to the
    // memcpy when the formulas cost little (the gelu chain above is bound by its erf and exp).
    let compiled_light = rmx::compile(light_chain8);
    assert_eq!(compiled_light.kernels(&chain_inputs).unwrap(), vec!["fused[8]"]);
    let run_compiled = || rmx::eval(&compiled_light.call(&chain_inputs).unwrap()).unwrap();
    let run_plain = || rmx::eval(&light_chain8(&chain_inputs).unwrap()).unwrap();
    rows.push((sized("compile_light_chain8_16M"), compare_after(&settle, &run_compiled, &run_plain, 11)));
    rows.push((sized("compile_light_chain8_vs_memcpy"), compare_after(&settle, &run_compiled, &memcpy, 11)));

    // The same data reduced over its leading axis: one kernel against four passes.
    let compiled_stats = rmx::compile(batch_sum_of_squares);
    assert_eq!(compiled_stats.kernels(&chain_inputs).unwrap(), vec!["fused[4]", "reshape"]);
    let run_compiled = || rmx::eval(&compiled_stats.call(&chain_inputs).unwrap()).unwrap();
    let run_plain = || rmx::eval(&batch_sum_of_squares(&chain_inputs).unwrap()).unwrap();
    rows.push((sized("compile_sum_sq_axis0_16M"), compare_after(&settle, &run_compiled, &run_plain, 11)));

    // The backward pass of gelu(x·w + b): values read by several consumers, one fused kernel
    // (and the two sums over the batch of w's and b's gradients).
    let compiled_grad = rmx::compile(gelu_grad);
    assert_eq!(compiled_grad.kernels(&chain_inputs).unwrap().iter().filter(|k| k.starts_with("fused")).count(), 1);
    let run_compiled = || rmx::eval(&compiled_grad.call(&chain_inputs).unwrap()).unwrap();
    let run_plain = || rmx::eval(&gelu_grad(&chain_inputs).unwrap()).unwrap();
    rows.push((sized("compile_gelu_grad_xwb_16M"), compare_after(&settle, &run_compiled, &run_plain, 11)));

    let ln = [uniform(&[4096, 1024], 11), uniform(&[1024], 12), uniform(&[1024], 13)];
    let names = ["layer_norm_4096x1024_compiled", "layer_norm_4096x1024_vs_numpy", "layer_norm_4096x1024_vs_mlx"];
    rows.extend(compiled_cases(names, layer_norm, &ln, &peer, "layer_norm_4096x1024"));
    let sm = [uniform(&[1024, 4096], 14)];
    let names = ["softmax_1024x4096_compiled", "softmax_1024x4096_vs_numpy", "softmax_1024x4096_vs_mlx"];
    rows.extend(compiled_cases(names, softmax, &sm, &peer, "softmax_1024x4096"));

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
    rows.push(("vmap_grad_1000", compare(&per_example, &looped, 11)));
    rows.extend(vs_mlx("vmap_grad_1000_vs_mlx", &per_example, &peer, "mlx:vmap_grad_1000"));

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

    println!("{:<30} {:>10} {:>12} {:>9}", "case", "ms", "baseline_ms", "speedup");
    let mut json = Vec::new();
    for (name, (ms, base, ratio)) in &rows {
        println!("{name:<30} {ms:>10.3} {base:>12.3} {ratio:>9.2}");
        json.push(format!("  {{\"case\": \"{name}\", \"ms\": {ms:.4}, \"baseline_ms\": {base:.4}, \"speedup\": {ratio:.3}}}"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("transforms.json"), format!("[\n{}\n]\n", json.join(",\n"))).unwrap();
}
