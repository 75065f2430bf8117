//! `compile`: compiled and uncompiled functions agree on random inputs for a corpus of
//! functions (gelu, layer norm, softmax, attention, an MLP training step, f16/bf16/f64 and
//! broadcast/strided inputs); traces are reused for new values and redone for new shapes;
//! shapeless traces serve every size; fusion is observable (the 9-op chain of the benchmark is
//! one kernel); every fusable formula matches its own kernel bit for bit; inputs past the last-level cache (the kernel's prefetching path) compute the
//! same values; simplification merges constants and common subexpressions; compiled functions
//! compose with grad and vmap; misuse gets clear errors; the global switch works.

use rmx::{Array, Axes, Dtype, Result};
use std::sync::RwLock;

/// Tests that depend on compile being enabled hold this for reading; the switch test holds
/// it for writing.
static SWITCH: RwLock<()> = RwLock::new(());

fn draw(shape: &[usize], dtype: Dtype, seed: u64) -> Array {
    rmx::random::normal(shape, dtype, 0.0, 1.0, Some(&rmx::random::key(seed))).unwrap()
}

fn values(a: &Array) -> Vec<f64> {
    rmx::astype(a, Dtype::F64).unwrap().to_vec::<f64>().unwrap()
}

fn assert_close(name: &str, got: &Array, want: &Array, rtol: f64) {
    assert_eq!(got.shape(), want.shape(), "{name}: shape");
    assert_eq!(got.dtype(), want.dtype(), "{name}: dtype");
    for (i, (g, w)) in values(got).iter().zip(values(want)).enumerate() {
        let ok = (g - w).abs() <= rtol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan());
        assert!(ok, "{name}: element {i}: compiled {g} vs uncompiled {w}");
    }
}

type Fun = fn(&[Array]) -> Result<Vec<Array>>;

/// The next state of a xorshift64 generator (deterministic test data without a crate).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn gelu(a: &[Array]) -> Result<Vec<Array>> {
    let x = &a[0];
    let inner = rmx::erf(&rmx::multiply(x, std::f64::consts::FRAC_1_SQRT_2)?)?;
    Ok(vec![rmx::multiply(&rmx::multiply(x, 0.5)?, &rmx::add(&inner, 1.0)?)?])
}

/// gelu(x * w + b) * sigmoid(x * w + b): the benchmark's element-wise chain (`chain8` in the
/// issue's naming; it is 9 ops: multiply, add, gelu's five, sigmoid, multiply).
fn chain8(a: &[Array]) -> Result<Vec<Array>> {
    let y = rmx::add(&rmx::multiply(&a[0], &a[1])?, &a[2])?;
    let g = gelu(std::slice::from_ref(&y))?.swap_remove(0);
    Ok(vec![rmx::multiply(&g, &rmx::sigmoid(&y)?)?])
}

fn layer_norm(a: &[Array]) -> Result<Vec<Array>> {
    Ok(vec![rmx::layer_norm(&a[0], Some(&a[1]), Some(&a[2]), 1e-5)?])
}

fn softmax(a: &[Array]) -> Result<Vec<Array>> {
    Ok(vec![rmx::softmax(&a[0], -1)?])
}

fn attention(a: &[Array]) -> Result<Vec<Array>> {
    Ok(vec![rmx::scaled_dot_product_attention(&a[0], &a[1], &a[2], 0.125, Some(&rmx::AttentionMask::Causal), None)?])
}

fn mlp_loss(p: &[Array]) -> Result<Vec<Array>> {
    let (w1, b1, w2, x, y) = (&p[0], &p[1], &p[2], &p[3], &p[4]);
    let h = rmx::tanh(&rmx::add(&rmx::matmul(x, w1)?, b1)?)?;
    let err = rmx::subtract(&rmx::matmul(&h, w2)?, y)?;
    Ok(vec![rmx::mean(&rmx::square(&err)?, Axes::All, false)?])
}

/// One SGD step: the state is (w1, b1, w2), the inputs (x, y); returns the new state and the loss.
/// Returned values that later steps read again, one returned twice, one in half precision.
fn reused_outputs(a: &[Array]) -> Result<Vec<Array>> {
    let y = rmx::multiply(&a[0], 2.0)?;
    let z = rmx::add(&rmx::exp(&y)?, &y)?;
    let h = rmx::astype(&rmx::tanh(&z)?, Dtype::F16)?;
    Ok(vec![y.clone(), z, y, h])
}

fn sgd_step(a: &[Array]) -> Result<Vec<Array>> {
    let (loss, grads) = rmx::value_and_grad(mlp_loss, &[0, 1, 2])(a)?;
    let mut out: Vec<Array> = a[..3].iter().zip(&grads).map(|(p, g)| rmx::subtract(p, &rmx::multiply(g, 0.1)?)).collect::<Result<_>>()?;
    out.push(loss[0].clone());
    Ok(out)
}

#[test]
fn compiled_matches_uncompiled_on_a_corpus() {
    let _on = SWITCH.read().unwrap();
    let f32_ = Dtype::F32;
    let corpus: Vec<(&str, Fun, Vec<Array>, f64)> = vec![
        ("gelu", gelu, vec![draw(&[37, 129], f32_, 1)], 0.0),
        ("chain8", chain8, vec![draw(&[1000, 70], f32_, 2), draw(&[70], f32_, 3), draw(&[1000, 1], f32_, 4)], 0.0),
        ("chain8 f64", chain8, vec![draw(&[300], Dtype::F64, 5), draw(&[300], Dtype::F64, 6), draw(&[], Dtype::F64, 7)], 0.0),
        ("chain8 f16", chain8, vec![draw(&[513], Dtype::F16, 8), draw(&[513], Dtype::F16, 9), draw(&[513], Dtype::F16, 10)], 0.0),
        ("chain8 bf16", chain8, vec![draw(&[513], Dtype::BF16, 11), draw(&[1], Dtype::BF16, 12), draw(&[513], Dtype::BF16, 13)], 0.0),
        (
            "chain8 strided",
            chain8,
            vec![rmx::transpose(&draw(&[64, 33], f32_, 14), None).unwrap(), draw(&[64], f32_, 15), draw(&[33, 1], f32_, 16)],
            0.0,
        ),
        // Rows longer than the kernel's 1024-element chunks: broadcast rows are read in place
        // where a chunk stays within one row, copied where it crosses into the next.
        ("chain8 long rows", chain8, vec![draw(&[3, 2500], f32_, 30), draw(&[2500], f32_, 31), draw(&[3, 1], f32_, 32)], 0.0),
        (
            "chain8 f64 long rows",
            chain8,
            vec![draw(&[2, 3000], Dtype::F64, 33), draw(&[3000], Dtype::F64, 34), draw(&[], Dtype::F64, 35)],
            0.0,
        ),
        ("reused outputs", reused_outputs, vec![draw(&[5, 3000], f32_, 36)], 0.0),
        ("layer_norm", layer_norm, vec![draw(&[16, 96], f32_, 17), draw(&[96], f32_, 18), draw(&[96], f32_, 19)], 1e-6),
        ("softmax", softmax, vec![draw(&[8, 3, 50], f32_, 20)], 1e-6),
        (
            "attention",
            attention,
            vec![draw(&[2, 4, 9, 16], f32_, 21), draw(&[2, 2, 9, 16], f32_, 22), draw(&[2, 2, 9, 16], f32_, 23)],
            1e-6,
        ),
        (
            "sgd step",
            sgd_step,
            vec![
                draw(&[4, 8], f32_, 24),
                draw(&[8], f32_, 25),
                draw(&[8, 1], f32_, 26),
                draw(&[32, 4], f32_, 27),
                draw(&[32, 1], f32_, 28),
            ],
            1e-6,
        ),
    ];
    for (name, f, inputs, rtol) in corpus {
        let compiled = rmx::compile(f);
        let want = f(&inputs).unwrap();
        for round in 0..2 {
            let got = compiled.call(&inputs).unwrap();
            assert_eq!(got.len(), want.len(), "{name}");
            for (g, w) in got.iter().zip(&want) {
                assert_close(&format!("{name} (call {round})"), g, w, rtol);
            }
        }
        assert_eq!(compiled.trace_count(), 1, "{name}");
    }
}

#[test]
fn an_elementwise_chain_is_one_kernel() {
    let _on = SWITCH.read().unwrap();
    let compiled = rmx::compile(chain8);
    let inputs = [draw(&[100], Dtype::F32, 1), draw(&[100], Dtype::F32, 2), draw(&[100], Dtype::F32, 3)];
    assert_eq!(compiled.kernels(&inputs).unwrap(), vec!["fused[9]"]);
    let softmax_kernels = rmx::compile(softmax).kernels(&[draw(&[4, 10], Dtype::F32, 4)]).unwrap();
    assert!(softmax_kernels.iter().any(|k| k.starts_with("fused[")), "{softmax_kernels:?}");
}

/// Every float formula the fuser admits, inside a fused kernel, computes exactly the values of
/// its own kernel: NaN, infinities, signed zeros, subnormals and ordinary values, on a length
/// that leaves a remainder after any vector width and spans two chunks.
#[test]
fn every_fused_formula_matches_its_own_kernel() {
    let _on = SWITCH.read().unwrap();
    let specials =
        [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-40, -1e-40, 0.5, -0.5, 2.5, -2.5, 1.0, -1.0, 100.0, -100.0, 0.3];
    let n = 64 * 1024 + 37;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut draw_value = |k: usize| {
        xorshift(&mut rng);
        if k.is_multiple_of(3) {
            specials[(rng % specials.len() as u64) as usize]
        } else {
            ((rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 8.0
        }
    };
    let a: Vec<f32> = (0..n).map(&mut draw_value).collect();
    let b: Vec<f32> = (0..n).map(&mut draw_value).collect();
    let inputs = [Array::from_slice(&a, &[n]).unwrap(), Array::from_slice(&b, &[n]).unwrap(), rmx::full(&[n], 1.0, Dtype::F32).unwrap()];
    type Unary = fn(&Array) -> Result<Array>;
    type Binary = fn(&Array, &Array) -> Result<Array>;
    let unary: [(&str, Unary); 29] = [
        ("abs", rmx::abs),
        ("negative", rmx::negative),
        ("sign", rmx::sign),
        ("sqrt", rmx::sqrt),
        ("rsqrt", rmx::rsqrt),
        ("square", rmx::square),
        ("reciprocal", rmx::reciprocal),
        ("exp", rmx::exp),
        ("expm1", rmx::expm1),
        ("log", rmx::log),
        ("log2", rmx::log2),
        ("log10", rmx::log10),
        ("log1p", rmx::log1p),
        ("sin", rmx::sin),
        ("cos", rmx::cos),
        ("tan", rmx::tan),
        ("arcsin", rmx::arcsin),
        ("arccos", rmx::arccos),
        ("arctan", rmx::arctan),
        ("sinh", rmx::sinh),
        ("cosh", rmx::cosh),
        ("tanh", rmx::tanh),
        ("arcsinh", rmx::arcsinh),
        ("arctanh", rmx::arctanh),
        ("sigmoid", rmx::sigmoid),
        ("erf", rmx::erf),
        ("floor", rmx::floor),
        ("ceil", rmx::ceil),
        ("trunc", rmx::trunc),
    ];
    let binary: [(&str, Binary); 11] = [
        ("add", |x, y| rmx::add(x, y)),
        ("subtract", |x, y| rmx::subtract(x, y)),
        ("multiply", |x, y| rmx::multiply(x, y)),
        ("divide", |x, y| rmx::divide(x, y)),
        ("floor_divide", |x, y| rmx::floor_divide(x, y)),
        ("remainder", |x, y| rmx::remainder(x, y)),
        ("power", |x, y| rmx::power(x, y)),
        ("maximum", |x, y| rmx::maximum(x, y)),
        ("minimum", |x, y| rmx::minimum(x, y)),
        ("logaddexp", |x, y| rmx::logaddexp(x, y)),
        ("arctan2", |x, y| rmx::arctan2(x, y)),
    ];
    let bits =
        |x: &Array| -> Vec<u32> { x.to_vec::<f32>().unwrap().iter().map(|v| if v.is_nan() { u32::MAX } else { v.to_bits() }).collect() };
    let check = |name: &str, f: &dyn Fn(&[Array]) -> Result<Vec<Array>>| {
        let compiled = rmx::compile(f);
        // The op and a multiply by ones: one fused kernel of two steps.
        assert_eq!(compiled.kernels(&inputs).unwrap(), vec!["fused[2]"], "{name}");
        let (got, want) = (compiled.call(&inputs).unwrap().remove(0), f(&inputs).unwrap().remove(0));
        for (i, (g, w)) in bits(&got).iter().zip(bits(&want)).enumerate() {
            assert_eq!(*g, w, "{name}: element {i} of inputs ({}, {})", a[i], b[i]);
        }
    };
    for (name, op) in unary {
        check(name, &|x: &[Array]| Ok(vec![rmx::multiply(&op(&x[0])?, &x[2])?]));
    }
    for (name, op) in binary {
        check(name, &|x: &[Array]| Ok(vec![rmx::multiply(&op(&x[0], &x[1])?, &x[2])?]));
    }
}

/// Inputs and outputs past the last-level cache (32 MB and more) take the fused kernel's
/// prefetching and streaming paths: an element-wise chain with broadcast operands (its output
/// streamed by generated code, bit for bit the uncompiled values), chains ending in a
/// leading-axis and a trailing-axis sum, and a chain returned both doubled and summed over
/// its odd-length rows (chunks of the rows start off the vector boundaries streaming stores
/// need), on an element count that is no multiple of the chunk size.
#[test]
fn inputs_past_the_cache_compute_the_same_values() {
    let _on = SWITCH.read().unwrap();
    let (rows, cols) = (4097, 2049);
    let inputs = [draw(&[rows, cols], Dtype::F32, 21), draw(&[cols], Dtype::F32, 22), draw(&[cols], Dtype::F32, 23)];
    let sums = |a: &[Array]| -> Result<Vec<Array>> {
        let y = chain8(a)?.remove(0);
        Ok(vec![rmx::sum(&y, 0, false)?, rmx::sum(&rmx::square(&y)?, 1, false)?])
    };
    let doubled_and_summed = |a: &[Array]| -> Result<Vec<Array>> {
        let y = chain8(a)?.remove(0);
        Ok(vec![rmx::multiply(&y, 2.0)?, rmx::sum(&y, 1, false)?])
    };
    let kernels = rmx::compile(doubled_and_summed).kernels(&inputs).unwrap();
    assert_eq!(kernels.iter().filter(|k| k.starts_with("fused")).count(), 1, "one kernel writes and sums: {kernels:?}");
    let cases = [("chain8", chain8 as Fun, 0.0), ("sums", sums, 1e-4), ("doubled_and_summed", doubled_and_summed, 1e-4)];
    for (name, f, rtol) in cases {
        let (got, want) = (rmx::compile(f).call(&inputs).unwrap(), f(&inputs).unwrap());
        for (g, w) in got.iter().zip(&want) {
            assert_close(name, g, w, rtol);
        }
    }
    // The streamed chain against the formula in f64 with libm's erf and exp (every 997th
    // element, the last chunk's included): an oracle outside rmx's kernels.
    let compiled = rmx::compile(chain8).call(&inputs).unwrap().remove(0);
    let (got, x, w, b) = (values(&compiled), values(&inputs[0]), values(&inputs[1]), values(&inputs[2]));
    for i in (0..rows * cols).step_by(997).chain([rows * cols - 1]) {
        let y = x[i] * w[i % cols] + b[i % cols];
        let want = y / 2.0 * (1.0 + libm::erf(y / std::f64::consts::SQRT_2)) / (1.0 + libm::exp(-y));
        assert!((got[i] - want).abs() <= 1e-5 * (1.0 + want.abs()), "element {i}: {} vs {want}", got[i]);
    }
}

/// A reduction over trailing or leading axes ends the kernel of the chain it reduces: short
/// rows, long rows (split across threads), several axes, a full reduction, empty rows, NaN,
/// f64, and a chain whose value is also returned (the kernel writes it and reduces it).
#[test]
fn reductions_end_fused_kernels() {
    let _on = SWITCH.read().unwrap();
    type Reduce = fn(&Array, rmx::Axes, bool) -> Result<Array>;
    let ops: [(&str, Reduce); 4] = [
        ("sum", |x, a, k| rmx::sum(x, a, k)),
        ("max", |x, a, k| rmx::max(x, a, k)),
        ("min", |x, a, k| rmx::min(x, a, k)),
        ("prod", |x, a, k| rmx::prod(x, a, k)),
    ];
    let cases: [(&[usize], &[isize]); 14] = [
        (&[37, 129], &[-1]),
        (&[3, 5000], &[-1]),
        (&[4, 70000], &[-1]),
        (&[600, 200], &[-1]),
        (&[4, 30, 50], &[-2, -1]),
        (&[2000], &[0]),
        (&[3, 0], &[-1]),
        // Leading axes: short rows several per call, tiny rows split over threads, rows
        // longer than a chunk, two axes, few column spans split over threads, empty.
        (&[129, 37], &[0]),
        (&[70000, 3], &[0]),
        (&[3, 5000], &[0]),
        (&[30, 4, 50], &[0, 1]),
        (&[600, 2000], &[0]),
        (&[40, 7, 300], &[0]),
        (&[0, 3], &[0]),
    ];
    for (name, op) in ops {
        for (shape, axes) in cases {
            if shape.contains(&0) && (name == "max" || name == "min") {
                continue; // an error, as in NumPy
            }
            for dtype in [Dtype::F32, Dtype::F64] {
                let x = draw(shape, dtype, 1);
                let axes = axes.to_vec();
                let f = move |a: &[Array]| -> Result<Vec<Array>> {
                    // Values near 1 keep long products finite.
                    let y = rmx::add(&rmx::multiply(&rmx::tanh(&a[0])?, 0.01)?, 1.0)?;
                    Ok(vec![op(&y, Axes::from(axes.clone()), true)?])
                };
                let compiled = rmx::compile(f.clone());
                let kernels = compiled.kernels(std::slice::from_ref(&x)).unwrap();
                assert_eq!(kernels, vec!["fused[4]"], "{name} {shape:?} {dtype}");
                let label = format!("{name} {shape:?} {dtype}");
                assert_close(&label, &compiled.call(std::slice::from_ref(&x)).unwrap()[0], &f(std::slice::from_ref(&x)).unwrap()[0], 1e-5);
            }
        }
    }
    // NaN propagates through a fused max as through the unfused one.
    let with_nan =
        rmx::where_(rmx::greater(draw(&[8, 300], Dtype::F32, 2), 1.5).unwrap(), f32::NAN, draw(&[8, 300], Dtype::F32, 3)).unwrap();
    let max_exp = |a: &[Array]| Ok(vec![rmx::max(&rmx::exp(&a[0])?, -1, true)?]);
    let got = rmx::compile(max_exp).call(std::slice::from_ref(&with_nan)).unwrap().remove(0);
    let want = max_exp(std::slice::from_ref(&with_nan)).unwrap().remove(0);
    assert_eq!(values(&got).iter().map(|v| v.is_nan()).collect::<Vec<_>>(), values(&want).iter().map(|v| v.is_nan()).collect::<Vec<_>>());
    // The chain's value is returned too: one kernel with two outputs. Short rows (several per
    // chunk) and long rows (several chunks per row), reduced over the last or the first axis.
    for axis in [-1, 0] {
        let both = move |a: &[Array]| {
            let e = rmx::exp(&rmx::multiply(&a[0], 0.5)?)?;
            Ok(vec![rmx::sum(&e, axis, true)?, e])
        };
        for shape in [[33, 257], [3, 2500]] {
            let x = draw(&shape, Dtype::F32, 4);
            let compiled = rmx::compile(both);
            assert_eq!(compiled.kernels(std::slice::from_ref(&x)).unwrap(), vec!["fused[3]"]);
            let (got, want) = (compiled.call(std::slice::from_ref(&x)).unwrap(), both(std::slice::from_ref(&x)).unwrap());
            assert_close(&format!("sum of a returned chain {shape:?} axis {axis}"), &got[0], &want[0], 1e-5);
            assert_close(&format!("the returned chain {shape:?} axis {axis}"), &got[1], &want[1], 0.0);
        }
    }
    // Gradients and batching of a compiled reduction go through the unfused graph.
    let sum_sq = |a: &[Array]| Ok(vec![rmx::sum(&rmx::square(&rmx::sin(&a[0])?)?, Axes::All, false)?]);
    let x = draw(&[5, 40], Dtype::F32, 5);
    let compiled = rmx::compile(sum_sq);
    let g = rmx::grad(|a| compiled.call(a), &[0])(std::slice::from_ref(&x)).unwrap().remove(0);
    let want = rmx::grad(sum_sq, &[0])(std::slice::from_ref(&x)).unwrap().remove(0);
    assert_close("grad of a compiled reduction", &g, &want, 1e-5);
    let per_row = rmx::vmap(|a| compiled.call(a), &[Some(0)], &[Some(0)])(std::slice::from_ref(&x)).unwrap().remove(0);
    assert_close(
        "vmap of a compiled reduction",
        &per_row,
        &rmx::sum(&rmx::square(&rmx::sin(&x).unwrap()).unwrap(), -1, false).unwrap(),
        1e-5,
    );
    // A reduction over the leading axis, batched: the batch axis is not reduced.
    let column_sums = |a: &[Array]| Ok(vec![rmx::sum(&rmx::exp(&a[0])?, 0, false)?]);
    let compiled = rmx::compile(column_sums);
    let batch = draw(&[3, 5, 40], Dtype::F32, 6);
    let per_entry = rmx::vmap(|a| compiled.call(a), &[Some(0)], &[Some(0)])(std::slice::from_ref(&batch)).unwrap().remove(0);
    assert_close("vmap of a compiled leading reduction", &per_entry, &rmx::sum(&rmx::exp(&batch).unwrap(), 1, false).unwrap(), 1e-5);
}

/// A value several consumers read: siblings join one kernel, values read after the kernel
/// leave it as extra outputs, and a value a non-element-wise op reads before the kernel
/// stays outside it (no cycle).
#[test]
fn values_with_several_readers_fuse() {
    let _on = SWITCH.read().unwrap();
    let x = draw(&[37, 300], Dtype::F32, 11);
    let v = draw(&[300, 5], Dtype::F32, 12);
    let cases: Vec<(&str, Fun, Vec<&str>)> = vec![
        // exp(x) read by two sibling outputs.
        (
            "siblings",
            |a| {
                let e = rmx::exp(&a[0])?;
                Ok(vec![rmx::multiply(&e, 2.0)?, rmx::add(&e, 1.0)?])
            },
            vec!["fused[3]"],
        ),
        // y read by the chain and, after it, by a matmul: y leaves the kernel as a second output.
        (
            "read after",
            |a| {
                let y = rmx::add(&rmx::multiply(&a[0], 0.5)?, 1.0)?;
                let out = rmx::tanh(&rmx::square(&y)?)?;
                Ok(vec![out, rmx::matmul(&y, &a[1])?])
            },
            vec!["fused[4]", "matmul"],
        ),
        // y read by a matmul whose result the chain needs: y cannot join the later kernel.
        (
            "read before",
            |a| {
                let y = rmx::exp(&rmx::multiply(&a[0], 0.5)?)?;
                let m = rmx::matmul(&y, &a[1])?;
                let s = rmx::sum(&m, -1, true)?;
                Ok(vec![rmx::add(&rmx::square(&y)?, &s)?])
            },
            vec!["fused[2]", "matmul", "sum", "fused[2]"],
        ),
        // gelu's backward pass reuses its input many times: one kernel for the element-wise part.
        ("gelu grad", |a| rmx::grad(|p: &[Array]| Ok(vec![rmx::sum(&gelu(p)?[0], Axes::All, false)?]), &[0])(&a[..1]), vec!["fused[14]"]),
    ];
    for (name, f, want_kernels) in cases {
        let compiled = rmx::compile(f);
        let inputs = [x.clone(), v.clone()];
        assert_eq!(compiled.kernels(&inputs).unwrap(), want_kernels, "{name}");
        let (got, want) = (compiled.call(&inputs).unwrap(), f(&inputs).unwrap());
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_close(&format!("{name} output {i}"), g, w, 1e-5);
        }
    }
}

/// Reductions over the same axes of values one kernel computes are folds of that kernel:
/// the gradients of x·w + b (sums over the batch for w and b), several statistics of one
/// row, sums and maxima together; short rows, long rows split over threads, leading axes
/// with few and many rows, empty inputs; equal to uncompiled.
/// Leading-axis reductions split over the columns on many threads: with 16 threads, rows of
/// 70000 (69 spans of 1024) asked for 32 column groups of 3 spans, the last 9 past the row's
/// end (a crash on 16-core machines before session 28). Checked against sums and minima taken in
/// f64 from the data (of |x|, so the reductions end a fused kernel).
#[test]
fn leading_reductions_split_over_many_threads() {
    let _on = SWITCH.read().unwrap();
    let stats = |a: &[Array]| {
        let y = rmx::abs(&a[0])?;
        Ok(vec![rmx::sum(&y, 0, false)?, rmx::min(&y, 0, false)?])
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(16).build().unwrap();
    pool.install(|| {
        for rows in [1usize, 7] {
            let x = draw(&[rows, 70000], Dtype::F32, 36);
            let data = values(&x);
            let compiled = rmx::compile(stats);
            assert!(compiled.kernels(std::slice::from_ref(&x)).unwrap()[0].starts_with("fused"));
            let got = compiled.call(std::slice::from_ref(&x)).unwrap();
            let (sums, mins) = (values(&got[0]), values(&got[1]));
            for j in 0..70000 {
                let column: Vec<f64> = (0..rows).map(|i| data[i * 70000 + j].abs()).collect();
                let want = column.iter().sum::<f64>();
                assert!((sums[j] - want).abs() <= 1e-5 * (1.0 + want.abs()), "{rows} rows, column {j}: sum {} vs {want}", sums[j]);
                assert_eq!(mins[j], column.iter().cloned().fold(f64::INFINITY, f64::min), "{rows} rows, column {j}: min");
            }
        }
    });
}

#[test]
fn several_reductions_share_one_kernel() {
    let _on = SWITCH.read().unwrap();
    let affine_grad: Fun = |a| {
        let loss = |p: &[Array]| Ok(vec![rmx::sum(&gelu(&[rmx::add(&rmx::multiply(&p[0], &p[1])?, &p[2])?])?[0], Axes::All, false)?]);
        rmx::grad(loss, &[0, 1, 2])(a)
    };
    let row_stats: Fun = |a| {
        let y = rmx::multiply(&a[0], &a[1])?;
        let e = rmx::exp(&y)?;
        Ok(vec![rmx::sum(&rmx::square(&y)?, -1, true)?, rmx::max(&y, -1, true)?, rmx::sum(&e, -1, true)?])
    };
    let column_stats: Fun = |a| {
        let y = rmx::add(&rmx::multiply(&a[0], &a[1])?, &a[2])?;
        Ok(vec![rmx::sum(&y, 0, false)?, rmx::min(&y, 0, false)?, rmx::tanh(&y)?])
    };
    let cases: [(&str, Fun, Vec<&str>, &[usize]); 3] = [
        ("x·w + b gradients", affine_grad, vec!["fused[20]", "reshape", "reshape"], &[4, 17, 129, 70000]),
        ("row statistics", row_stats, vec!["fused[6]"], &[1, 300, 5000, 70000]),
        ("column statistics", column_stats, vec!["fused[5]", "reshape", "reshape"], &[1, 3, 300, 5000]),
    ];
    for (name, f, want_kernels, widths) in cases {
        for &width in widths {
            for rows in [1usize, 7, 600, 70000].into_iter().filter(|r| r * width <= 1 << 21) {
                let inputs = [draw(&[rows, width], Dtype::F32, 31), draw(&[width], Dtype::F32, 32), draw(&[width], Dtype::F32, 33)];
                let compiled = rmx::compile(f);
                let label = format!("{name} {rows}x{width}");
                assert_eq!(compiled.kernels(&inputs).unwrap(), want_kernels, "{label}");
                let (got, want) = (compiled.call(&inputs).unwrap(), f(&inputs).unwrap());
                assert_eq!(got.len(), want.len(), "{label}");
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_close(&format!("{label} output {i}"), g, w, 1e-4);
                }
            }
        }
    }
    // Empty rows: the sums are 0 (max and min of nothing are errors, as in NumPy).
    let sums = |a: &[Array]| Ok(vec![rmx::sum(&a[0], 0, false)?, rmx::sum(&rmx::exp(&a[0])?, 0, false)?]);
    let empty = draw(&[0, 3], Dtype::F32, 34);
    let got = rmx::compile(sums).call(std::slice::from_ref(&empty)).unwrap();
    assert_eq!((values(&got[0]), values(&got[1])), (vec![0.0; 3], vec![0.0; 3]));
    // Different axes do not share a kernel: one reduction is absorbed, the other stays.
    let mixed = |a: &[Array]| {
        let e = rmx::exp(&a[0])?;
        Ok(vec![rmx::sum(&e, 0, false)?, rmx::sum(&e, 1, false)?])
    };
    let x = draw(&[50, 60], Dtype::F32, 35);
    let compiled = rmx::compile(mixed);
    assert_eq!(compiled.kernels(std::slice::from_ref(&x)).unwrap().iter().filter(|k| k.starts_with("fused")).count(), 1);
    for (g, w) in compiled.call(std::slice::from_ref(&x)).unwrap().iter().zip(mixed(std::slice::from_ref(&x)).unwrap()) {
        assert_close("sums over different axes", g, &w, 1e-5);
    }
}

/// One step of a random program: which op, applied to which earlier values.
#[derive(Clone, Copy, Debug)]
enum RandomStep {
    Unary(usize, usize),
    Binary(usize, usize, usize),
    /// A sum (op 0) or max (op 1) over the last (axis 1) or first axis, added back.
    Fold(usize, usize, usize),
    Matmul(usize),
    Cumsum(usize),
}

impl RandomStep {
    fn apply(self, values: &[Array], m: &Array) -> Result<Array> {
        Ok(match self {
            RandomStep::Unary(op, a) => {
                let x = &values[a];
                match op {
                    0 => rmx::tanh(x)?,
                    1 => rmx::negative(x)?,
                    2 => rmx::sin(x)?,
                    _ => rmx::multiply(x, 0.5)?,
                }
            }
            RandomStep::Binary(op, a, b) => match op {
                0 => rmx::add(&values[a], &values[b])?,
                1 => rmx::multiply(&values[a], &values[b])?,
                _ => rmx::maximum(&values[a], &values[b])?,
            },
            RandomStep::Fold(op, axis, a) => rmx::add(&reduce(op, &values[a], axis)?, &values[a])?,
            RandomStep::Matmul(a) => rmx::matmul(&values[a], m)?,
            RandomStep::Cumsum(a) => rmx::cumsum(&values[a], Some(0), false, true)?,
        })
    }
}

/// A sum (op 0) or max of `x` over its last (axis 1) or first axis, kept.
fn reduce(op: usize, x: &Array, axis: usize) -> Result<Array> {
    let axis = if axis == 1 { -1 } else { 0 };
    if op == 0 {
        rmx::sum(x, axis, true)
    } else {
        rmx::max(x, axis, true)
    }
}

/// Random graphs of element-wise ops mixed with reductions, matmuls and scans, values read
/// by several consumers, returned and reduced at random: compiled equals uncompiled,
/// whatever fusion groups it forms (it must never close a cycle).
#[test]
fn random_graphs_compile_to_the_same_values() {
    let _on = SWITCH.read().unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |bound: usize| (xorshift(&mut state) % bound as u64) as usize;
    let inputs = [draw(&[6, 7], Dtype::F32, 21), draw(&[6, 7], Dtype::F32, 22), rmx::multiply(draw(&[7, 7], Dtype::F32, 23), 0.3).unwrap()];
    let mut fused_programs = 0;
    for program in 0..300 {
        let mut steps = Vec::new();
        for i in 0..12 {
            let (count, kind) = (i + 2, next(10));
            steps.push(match kind {
                0..=3 => RandomStep::Unary(next(4), next(count)),
                4..=7 => RandomStep::Binary(next(3), next(count), next(count)),
                8 => [RandomStep::Fold(next(2), next(2), next(count)), RandomStep::Cumsum(next(count))][next(2)],
                _ => RandomStep::Matmul(next(count)),
            });
        }
        let returned: Vec<usize> = (2..14).filter(|_| next(4) == 0).chain([13]).collect();
        // Reductions returned as they are: siblings that may share one kernel.
        let reduced: Vec<(usize, usize, usize)> = (0..next(4)).map(|_| (next(2), next(2), 2 + next(12))).collect();
        let f = move |a: &[Array]| {
            let mut values = a[..2].to_vec();
            for step in &steps {
                let v = step.apply(&values, &a[2])?;
                values.push(v);
            }
            let mut out: Vec<Array> = returned.iter().map(|&i| values[i].clone()).collect();
            for &(op, axis, i) in &reduced {
                out.push(reduce(op, &values[i], axis)?);
            }
            Ok(out)
        };
        let compiled = rmx::compile(f.clone());
        fused_programs += usize::from(compiled.kernels(&inputs).unwrap().iter().any(|k| k.starts_with("fused")));
        let (got, want) = (compiled.call(&inputs).unwrap(), f(&inputs).unwrap());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_close(&format!("program {program} output {i}"), g, w, 1e-5);
        }
    }
    assert!(fused_programs > 200, "only {fused_programs} of 300 programs fused anything");
}

/// Random programs of the steps that run as generated code on large f32 arrays (arithmetic,
/// maximum and minimum, comparisons, logical operations, selections, casts, erf, exp and
/// sigmoid, broadcast rows and scalars), mixed with steps that stay interpreted (tanh, f16
/// rounding), several outputs:
/// compiled equals uncompiled bit for bit (NaN as NaN), including the last chunk, whose
/// length is no multiple of 8.
#[test]
fn generated_segments_match_the_interpreter_bit_for_bit() {
    let _on = SWITCH.read().unwrap();
    let (rows, cols) = (67, 1031);
    // Every fifth value a special: zeros of both signs, infinities, NaN, exact halves.
    let specials = [0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.5, -2.5, 1.0];
    let mut data = draw(&[rows, cols], Dtype::F32, 41).to_vec::<f32>().unwrap();
    for (i, v) in data.iter_mut().enumerate().filter(|(i, _)| i % 5 == 0) {
        *v = specials[(i / 5) % specials.len()];
    }
    let x = Array::from_slice(&data, &[rows, cols]).unwrap();
    let inputs = [x, draw(&[cols], Dtype::F32, 43), draw(&[rows, cols], Dtype::F32, 44)];
    let bits = |x: &Array| -> Vec<u32> {
        let x = rmx::astype(x, Dtype::F32).unwrap();
        x.to_vec::<f32>().unwrap().iter().map(|v| if v.is_nan() { u32::MAX } else { v.to_bits() }).collect()
    };
    let kernels_before = rmx::backend::cpu::jit::compiled_kernels();
    let mut state = 0x51_7cc1_b727_220au64;
    let mut next = move |bound: usize| (xorshift(&mut state) % bound as u64) as usize;
    for program in 0..60 {
        let steps: Vec<(usize, usize, usize, usize)> = (0..14).map(|i| (next(22), next(i + 3), next(i + 3), next(i + 3))).collect();
        let returned: Vec<usize> = (3..17).filter(|_| next(3) == 0).chain([16]).collect();
        let f = move |a: &[Array]| -> Result<Vec<Array>> {
            let mut v = a.to_vec();
            for &(op, i, j, k) in &steps {
                let (p, q, r) = (&v[i], &v[j], &v[k]);
                let value = match op {
                    0 => rmx::add(p, q)?,
                    1 => rmx::subtract(p, q)?,
                    2 => rmx::multiply(p, 0.75)?,
                    3 => rmx::divide(p, q)?,
                    4 => rmx::maximum(p, q)?,
                    5 => rmx::minimum(p, 0.0)?,
                    6 => rmx::abs(p)?,
                    7 => rmx::negative(p)?,
                    8 => rmx::sqrt(p)?,
                    9 => rmx::square(p)?,
                    10 => rmx::floor(&rmx::multiply(p, 3.0)?)?,
                    11 => rmx::where_(&rmx::greater(p, q)?, q, r)?,
                    12 => rmx::astype(&rmx::less_equal(p, q)?, Dtype::F32)?,
                    13 => rmx::astype(
                        &rmx::logical_and(&rmx::not_equal(p, 0.5)?, &rmx::logical_or(&rmx::equal(q, r)?, &rmx::greater_equal(r, 0.0)?)?)?,
                        Dtype::F32,
                    )?,
                    14 => rmx::reciprocal(&rmx::add(p, 2.0)?)?,
                    15 => rmx::exp(p)?,
                    16 => rmx::tanh(p)?,
                    17 => rmx::astype(&rmx::astype(p, Dtype::F16)?, Dtype::F32)?,
                    18 => rmx::where_(&rmx::logical_not(&rmx::astype(p, Dtype::Bool)?)?, 1.5, q)?,
                    19 => rmx::erf(p)?,
                    20 => rmx::sigmoid(p)?,
                    _ => rmx::rsqrt(&rmx::add(&rmx::ceil(p)?, &rmx::trunc(q)?)?)?,
                };
                v.push(value);
            }
            Ok(returned.iter().map(|&i| v[i].clone()).collect())
        };
        let compiled = rmx::compile(f.clone());
        let (got, want) = (compiled.call(&inputs).unwrap(), f(&inputs).unwrap());
        for (o, (g, w)) in got.iter().zip(&want).enumerate() {
            let (g, w) = (bits(g), bits(w));
            if let Some(e) = (0..g.len()).find(|&e| g[e] != w[e]) {
                panic!("program {program} output {o} element {e}: {:#x} vs uncompiled {:#x}", g[e], w[e]);
            }
        }
    }
    if rmx::backend::cpu::jit::available() {
        assert!(rmx::backend::cpu::jit::compiled_kernels() > kernels_before, "no segment ran as generated code");
    }
}

#[test]
fn retraces_on_new_shapes_and_dtypes_not_new_values() {
    let _on = SWITCH.read().unwrap();
    let compiled = rmx::compile(gelu);
    compiled.call(&[draw(&[5], Dtype::F32, 1)]).unwrap();
    compiled.call(&[draw(&[5], Dtype::F32, 2)]).unwrap();
    assert_eq!(compiled.trace_count(), 1);
    compiled.call(&[draw(&[6], Dtype::F32, 3)]).unwrap();
    assert_eq!(compiled.trace_count(), 2);
    compiled.call(&[draw(&[6], Dtype::F64, 4)]).unwrap();
    assert_eq!(compiled.trace_count(), 3);
    compiled.call(&[draw(&[5], Dtype::F32, 5)]).unwrap();
    assert_eq!(compiled.trace_count(), 3);
}

#[test]
fn shapeless_reuses_one_trace_across_sizes() {
    let _on = SWITCH.read().unwrap();
    let compiled = rmx::compile(chain8).shapeless();
    for (i, n) in [3usize, 17, 1000].into_iter().enumerate() {
        let inputs = [draw(&[2, n], Dtype::F32, i as u64), draw(&[1, n], Dtype::F32, 10 + i as u64), draw(&[2, 1], Dtype::F32, 20)];
        let got = compiled.call(&inputs).unwrap();
        assert_close("shapeless chain8", &got[0], &chain8(&inputs).unwrap()[0], 0.0);
    }
    assert_eq!(compiled.trace_count(), 1);
    // Reductions infer their shapes too; a reshape depends on the traced shape and says so.
    let reduce = rmx::compile(|a: &[Array]| Ok(vec![rmx::sum(&rmx::exp(&a[0])?, 1, true)?])).shapeless();
    reduce.call(&[draw(&[2, 3], Dtype::F32, 1)]).unwrap();
    let got = reduce.call(&[draw(&[4, 7], Dtype::F32, 2)]).unwrap();
    assert_eq!(got[0].shape(), &[4, 1]);
    let reshape = rmx::compile(|a: &[Array]| Ok(vec![rmx::reshape(&a[0], &[-1])?])).shapeless();
    reshape.call(&[draw(&[2, 3], Dtype::F32, 1)]).unwrap();
    let err = reshape.call(&[draw(&[4, 3], Dtype::F32, 2)]).unwrap_err().to_string();
    assert!(err.contains("reshape") && err.contains("shapeless"), "{err}");
}

#[test]
fn simplification_merges_constants_and_common_subexpressions() {
    let _on = SWITCH.read().unwrap();
    // exp(x) twice and two separate 2.0 constants: one exp, one multiply... all fused.
    let f = rmx::compile(|a: &[Array]| {
        let (e1, e2) = (rmx::exp(&a[0])?, rmx::exp(&a[0])?);
        let same = rmx::reshape_to(&rmx::add(&rmx::multiply(&e1, 2.0)?, &rmx::multiply(&e2, 2.0)?)?, a[0].shape())?;
        Ok(vec![same])
    });
    let x = draw(&[10], Dtype::F32, 1);
    assert_eq!(f.kernels(std::slice::from_ref(&x)).unwrap(), vec!["fused[3]"]);
    let want = rmx::multiply(rmx::exp(&x).unwrap(), 4.0).unwrap();
    assert_close("cse", &f.call(&[x]).unwrap()[0], &want, 1e-7);
}

#[test]
fn compiled_functions_compose_with_transforms() {
    let _on = SWITCH.read().unwrap();
    let inputs = [draw(&[6, 5], Dtype::F64, 1), draw(&[5], Dtype::F64, 2), draw(&[6, 1], Dtype::F64, 3)];
    let loss = |f: &dyn Fn(&[Array]) -> Result<Vec<Array>>, a: &[Array]| -> Result<Vec<Array>> {
        Ok(vec![rmx::sum(&f(a)?[0], Axes::All, false)?])
    };
    let compiled = rmx::compile(chain8);
    // grad of a compiled function.
    let want = rmx::grad(|a| loss(&chain8, a), &[0, 1, 2])(&inputs).unwrap();
    let got = rmx::grad(|a| loss(&|b| compiled.call(b), a), &[0, 1, 2])(&inputs).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_close("grad(compile(f))", g, w, 1e-12);
    }
    // compile of a grad: the backward pass is fused too.
    let compiled_grad = rmx::compile(|a: &[Array]| rmx::grad(|b| loss(&chain8, b), &[0, 1, 2])(a));
    for (g, w) in compiled_grad.call(&inputs).unwrap().iter().zip(&want) {
        assert_close("compile(grad(f))", g, w, 1e-12);
    }
    assert!(compiled_grad.kernels(&inputs).unwrap().iter().any(|k| k.starts_with("fused[")));
    // vmap of a compiled function against a loop.
    let xs = draw(&[4, 6, 5], Dtype::F64, 4);
    let mapped =
        rmx::vmap(|a| compiled.call(a), &[Some(0), None, None], &[Some(0)])(&[xs.clone(), inputs[1].clone(), inputs[2].clone()]).unwrap();
    for i in 0..4 {
        let xi = rmx::take(&xs, &Array::scalar(i), Some(0)).unwrap();
        let want = chain8(&[xi, inputs[1].clone(), inputs[2].clone()]).unwrap();
        let got = rmx::take(&mapped[0], &Array::scalar(i), Some(0)).unwrap();
        assert_close("vmap(compile(f))", &got, &want[0], 1e-12);
    }
}

#[test]
fn a_training_step_compiles_with_its_state() {
    let _on = SWITCH.read().unwrap();
    let init = || vec![draw(&[4, 8], Dtype::F32, 1), draw(&[8], Dtype::F32, 2), draw(&[8, 1], Dtype::F32, 3)];
    let (x, y) = (draw(&[64, 4], Dtype::F32, 4), draw(&[64, 1], Dtype::F32, 5));
    let step = rmx::compile(sgd_step);
    let (mut compiled_state, mut plain_state) = (init(), init());
    let mut losses = Vec::new();
    for _ in 0..20 {
        let loss = step.call_with_state(&mut compiled_state, &[x.clone(), y.clone()]).unwrap().swap_remove(0);
        let mut all: Vec<Array> = plain_state.iter().cloned().chain([x.clone(), y.clone()]).collect();
        all = sgd_step(&all).unwrap();
        let plain_loss = all.pop().unwrap();
        plain_state = all;
        assert_close("compiled step loss", &loss, &plain_loss, 1e-5);
        rmx::eval(&compiled_state).unwrap();
        losses.push(loss.item::<f32>().unwrap());
    }
    assert_eq!(step.trace_count(), 1);
    assert!(losses[19] < 0.8 * losses[0], "the compiled step trains: {losses:?}");
    // A step that changes a state array's shape is refused.
    let bad = rmx::compile(|a: &[Array]| Ok(vec![rmx::sum(&a[0], Axes::All, false)?]));
    let err = bad.call_with_state(&mut [draw(&[3], Dtype::F32, 1)], &[]).unwrap_err().to_string();
    assert!(err.contains("state 0"), "{err}");
}

#[test]
fn misuse_gets_clear_errors() {
    let _on = SWITCH.read().unwrap();
    let x = draw(&[4], Dtype::F32, 1);
    // Reading an input's value while tracing.
    let peek = rmx::compile(|a: &[Array]| {
        a[0].eval()?;
        Ok(vec![a[0].clone()])
    });
    let err = peek.call(std::slice::from_ref(&x)).unwrap_err().to_string();
    assert!(err.contains("compile tracer"), "{err}");
    // A tracer escaping the trace.
    let escaped = std::sync::Mutex::new(None);
    let leak = rmx::compile(|a: &[Array]| {
        let y = rmx::exp(&a[0])?;
        *escaped.lock().unwrap() = Some(y.clone());
        Ok(vec![y])
    });
    leak.call(std::slice::from_ref(&x)).unwrap();
    let leaked = escaped.lock().unwrap().take().unwrap();
    let err = leaked.eval().unwrap_err().to_string();
    assert!(err.contains("outside"), "{err}");
    // Random numbers without a key would be frozen into the trace.
    let noisy = rmx::compile(|a: &[Array]| Ok(vec![rmx::add(&a[0], &rmx::random::normal(&[4], Dtype::F32, 0.0, 1.0, None)?)?]));
    let err = noisy.call(std::slice::from_ref(&x)).unwrap_err().to_string();
    assert!(err.contains("key"), "{err}");
    // With a key as an input, each call draws what the key says.
    let keyed = rmx::compile(|a: &[Array]| Ok(vec![rmx::random::normal(&[4], Dtype::F32, 0.0, 1.0, Some(&a[0]))?]));
    let (k1, k2) = (rmx::random::key(1), rmx::random::key(2));
    let (a, b) = (keyed.call(std::slice::from_ref(&k1)).unwrap(), keyed.call(&[k2]).unwrap());
    assert_ne!(a[0].to_vec::<f32>().unwrap(), b[0].to_vec::<f32>().unwrap());
    assert_eq!(a[0].to_vec::<f32>().unwrap(), rmx::random::normal(&[4], Dtype::F32, 0.0, 1.0, Some(&k1)).unwrap().to_vec::<f32>().unwrap());
}

#[test]
fn the_switch_disables_compilation() {
    let _off = SWITCH.write().unwrap();
    rmx::disable_compile();
    let compiled = rmx::compile(gelu);
    let x = draw(&[8], Dtype::F32, 1);
    let got = compiled.call(std::slice::from_ref(&x)).unwrap();
    assert_eq!(compiled.trace_count(), 0);
    assert!(!rmx::compile_enabled());
    rmx::enable_compile();
    assert_close("switch", &got[0], &gelu(std::slice::from_ref(&x)).unwrap()[0], 0.0);
    compiled.call(&[x]).unwrap();
    assert_eq!(compiled.trace_count(), 1);
}
