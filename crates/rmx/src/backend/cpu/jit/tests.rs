//! Generated segments against the interpreted formulas, bit for bit, on special and random
//! values; register exhaustion and operand reuse.

use super::*;
use crate::primitive::binary::{float_max, float_min};

/// Special values (signed zeros, infinities, NaN, subnormals, halves) then random ones.
fn values(n: usize, seed: u32) -> Vec<f32> {
    let special = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        -2.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-40,
        -1e-40,
        f32::MAX,
        f32::MIN_POSITIVE,
        3.0,
    ];
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|i| {
            if i < special.len() {
                return special[(i + seed as usize) % special.len()];
            }
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 - 0.5) * 20.0
        })
        .collect()
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn truth(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Whether `segment`'s loop body fits the registers computing `ways` vectors at a time.
fn body_fits(segment: &Segment, ways: usize) -> bool {
    let mut regs = Registers::new((0..16).rev().collect());
    let scalars = hoist_scalars(&segment.ops, &mut Asm::default(), &mut regs).expect("scalars fit");
    let reads = last_reads(&segment.ops).expect("values read after they are made");
    body(&mut Asm::default(), segment, &scalars, &reads, regs, ways).is_some()
}

/// Runs a one-operation segment over slots 0.. and compares with `reference`.
fn check(op: VecOp, arity: usize, reference: impl Fn(&[f32]) -> f32) {
    let n = 64;
    let inputs: Vec<Vec<f32>> = (0..arity).map(|k| values(n, 7 * k as u32 + 1)).collect();
    let segment =
        Segment { ops: vec![SegmentOp { op, args: (0..arity).map(Arg::Slot).collect() }], stores: vec![(0, arity)], streamed: vec![] };
    let kernel = compile(&segment).unwrap_or_else(|| panic!("{op:?} compiles"));
    let mut out = vec![0.0f32; n];
    let mut table: Vec<*const f32> = inputs.iter().map(|v| v.as_ptr()).collect();
    table.push(out.as_mut_ptr());
    // SAFETY: every slot covers n values.
    unsafe { kernel.run(&table, 4 * n) };
    for i in 0..n {
        let args: Vec<f32> = inputs.iter().map(|v| v[i]).collect();
        let want = reference(&args);
        assert!(same(out[i], want), "{op:?}{args:?}: {} want {want}", out[i]);
    }
}

#[test]
fn each_operation_matches_its_formula() {
    if !available() {
        return;
    }
    check(VecOp::Add, 2, |a| a[0] + a[1]);
    check(VecOp::Sub, 2, |a| a[0] - a[1]);
    check(VecOp::Mul, 2, |a| a[0] * a[1]);
    check(VecOp::Div, 2, |a| a[0] / a[1]);
    check(VecOp::Max, 2, |a| float_max(a[0], a[1]));
    check(VecOp::Min, 2, |a| float_min(a[0], a[1]));
    check(VecOp::Abs, 1, |a| a[0].abs());
    check(VecOp::Neg, 1, |a| -a[0]);
    check(VecOp::Sqrt, 1, |a| a[0].sqrt());
    check(VecOp::Rsqrt, 1, |a| 1.0 / a[0].sqrt());
    check(VecOp::Square, 1, |a| a[0] * a[0]);
    check(VecOp::Reciprocal, 1, |a| 1.0 / a[0]);
    check(VecOp::Floor, 1, |a| a[0].floor());
    check(VecOp::Ceil, 1, |a| a[0].ceil());
    check(VecOp::Trunc, 1, |a| a[0].trunc());
    check(VecOp::Copy, 1, |a| a[0]);
    check(VecOp::Select, 3, |a| if a[0] != 0.0 { a[1] } else { a[2] });
    check(VecOp::EQUAL, 2, |a| truth(a[0] == a[1]));
    check(VecOp::NOT_EQUAL, 2, |a| truth(a[0] != a[1]));
    check(VecOp::LESS, 2, |a| truth(a[0] < a[1]));
    check(VecOp::LESS_EQUAL, 2, |a| truth(a[0] <= a[1]));
    check(VecOp::GREATER, 2, |a| truth(a[0] > a[1]));
    check(VecOp::GREATER_EQUAL, 2, |a| truth(a[0] >= a[1]));
    check(VecOp::NonZero, 1, |a| truth(a[0] != 0.0));
    check(VecOp::IsZero, 1, |a| truth(a[0] == 0.0));
    check(VecOp::And, 2, |a| truth(a[0] != 0.0 && a[1] != 0.0));
    check(VecOp::Or, 2, |a| truth(a[0] != 0.0 || a[1] != 0.0));
}

/// A chain with scalars, reused slots and values, two stores: `y = x·w + b`,
/// `out0 = y · 0.5 · (|y| + 1)`, `out1 = max(y, 0)`; run with plain stores and with `out1`
/// streamed past the caches.
#[test]
fn chains_keep_values_in_registers() {
    if !available() {
        return;
    }
    let n = 1024;
    let (x, w, b) = (values(n, 3), values(n, 5), values(n, 9));
    let (half, one, zero) = ([0.5f32], [1.0f32], [0.0f32]);
    let v = Arg::Value;
    let op = |op, args: Vec<Arg>| SegmentOp { op, args };
    let plain = Segment {
        ops: vec![
            op(VecOp::Mul, vec![Arg::Slot(0), Arg::Slot(1)]),
            op(VecOp::Add, vec![v(0), Arg::Slot(2)]),
            op(VecOp::Mul, vec![v(1), Arg::Scalar(3)]),
            op(VecOp::Abs, vec![v(1)]),
            op(VecOp::Add, vec![v(3), Arg::Scalar(4)]),
            op(VecOp::Mul, vec![v(2), v(4)]),
            op(VecOp::Max, vec![v(1), Arg::Scalar(5)]),
        ],
        stores: vec![(5, 6), (6, 7)],
        streamed: vec![],
    };
    let streamed = Segment { streamed: vec![7], ..plain.clone() };
    // `vmovntps` (0F 2B, after VEX's or EVEX's last prefix byte) appears exactly where a slot
    // is streamed.
    let has_streaming_store = |s: &Segment| {
        let code = assemble(s).expect("fits");
        code.windows(2).any(|b| b == [0x7C, 0x2B]) || code.windows(3).any(|b| b[0] == 0x7C && [0x48, 0x28].contains(&b[1]) && b[2] == 0x2B)
    };
    assert!(!has_streaming_store(&plain) && has_streaming_store(&streamed));
    for segment in [plain, streamed] {
        assert!(body_fits(&segment, 2), "two vectors per iteration");
        let kernel = compile(&segment).expect("fits the registers");
        // Outputs on the boundaries streamed stores need.
        let (mut buffer0, mut buffer1) = (vec![0.0f32; n + 16], vec![0.0f32; n + 16]);
        let out0 = aligned(&mut buffer0, n);
        let out1 = aligned(&mut buffer1, n);
        let table = [x.as_ptr(), w.as_ptr(), b.as_ptr(), half.as_ptr(), one.as_ptr(), zero.as_ptr(), out0.as_mut_ptr(), out1.as_mut_ptr()];
        // SAFETY: vector slots cover n values, scalar ones one.
        unsafe { kernel.run(&table, 0) };
        assert!(out0.iter().chain(out1.iter()).all(|&v| v == 0.0), "nothing runs for no values");
        let check = |out0: &[f32], out1: &[f32], upto: usize| {
            for i in 0..upto {
                let y = x[i] * w[i] + b[i];
                assert!(same(out0[i], (y * 0.5) * (y.abs() + 1.0)), "{i}");
                assert!(same(out1[i], float_max(y, 0.0)), "{i}");
            }
            assert!(out0[upto..].iter().chain(&out1[upto..]).all(|&v| v == 0.0), "nothing written past {upto}");
        };
        // An odd number of 32-byte vectors: pairs (or 512-bit vectors), then a 32-byte tail.
        // SAFETY: as above.
        unsafe { kernel.run(&table, 4 * (n - 8)) };
        check(out0, out1, n - 8);
        // SAFETY: as above.
        unsafe { kernel.run(&table, 4 * n) };
        check(out0, out1, n);
    }
}

/// `n` values of `buffer` (`n + 16` long) from its first boundary for streamed stores on.
fn aligned(buffer: &mut [f32], n: usize) -> &mut [f32] {
    let skip = buffer.as_ptr().align_offset(stream_alignment());
    &mut buffer[skip..skip + n]
}

/// More live values than registers: the segment is refused, not miscompiled.
#[test]
fn too_many_live_values_do_not_compile() {
    // One more than the registers of the loops generated here.
    let k = if form() == x86::Form::Evex512 { 33 } else { 17 };
    let ops: Vec<SegmentOp> = (0..k).map(|s| SegmentOp { op: VecOp::Copy, args: vec![Arg::Slot(s)] }).collect();
    let stores = (0..k).map(|s| (s, k + s)).collect();
    let mut crowded = Segment { ops, stores, streamed: vec![] };
    // Keep every copy alive to the end.
    let args = (0..k).map(Arg::Value).collect::<Vec<_>>();
    crowded.ops.push(SegmentOp { op: VecOp::Add, args: args[..2].to_vec() });
    for s in 2..k {
        crowded.ops.push(SegmentOp { op: VecOp::Add, args: vec![Arg::Value(crowded.ops.len() - 1), args[s]] });
    }
    assert!(!fits(&crowded));
    // Operands of the wrong count are refused too.
    assert!(!fits(&Segment { ops: vec![SegmentOp { op: VecOp::Add, args: vec![Arg::Slot(0)] }], stores: vec![], streamed: vec![] }));
}

/// The scalar formula `f` against `op` in a one-operation segment over `x`, bit for bit.
fn check_values(op: VecOp, x: &[f32], f: impl Fn(f32) -> f32) {
    let n = x.len() / 8 * 8;
    let kernel = compile(&Segment { ops: vec![SegmentOp { op, args: vec![Arg::Slot(0)] }], stores: vec![(0, 1)], streamed: vec![] })
        .expect("compiles");
    let mut out = vec![0.0f32; n];
    // SAFETY: both slots cover n values.
    unsafe { kernel.run(&[x.as_ptr(), out.as_mut_ptr()], 4 * n) };
    for (&x, &got) in x.iter().zip(&out) {
        assert!(same(got, f(x)), "{op:?}({x:e}) = {got:e}, want {:e}", f(x));
    }
}

/// erf, exp and sigmoid against their scalar formulas: every 65521st bit pattern (NaNs,
/// infinities, subnormals and all exponents), a fine grid over exp's range and erf's
/// intervals, and the special values.
#[test]
fn transcendentals_match_their_formulas() {
    use crate::backend::cpu::{erf::erf_f32, math::exp_f32, math::sigmoid};
    if !available() {
        return;
    }
    let mut x: Vec<f32> = (0..65_536u32).map(|i| f32::from_bits(i.wrapping_mul(65_521))).collect();
    x.extend((0..80_000).map(|i| -110.0 + i as f32 * 0.00275));
    x.extend((0..16_384).map(|i| -4.2 + i as f32 * (8.4 / 16_384.0)));
    x.extend(values(64, 11));
    check_values(VecOp::Erf, &x, erf_f32);
    check_values(VecOp::Exp, &x, exp_f32);
    check_values(VecOp::Sigmoid, &x, sigmoid);
}

/// Every f32 through the three sequences against the scalar formulas (a few minutes in
/// release: `cargo test --release -p rmx --lib -- --ignored every_f32`).
#[test]
#[ignore = "exhaustive; run in release"]
fn transcendentals_match_their_formulas_on_every_f32() {
    use crate::backend::cpu::{erf::erf_f32, math::exp_f32, math::sigmoid};
    if !available() {
        return;
    }
    let mut x = vec![0.0f32; 1 << 16];
    for high in 0..1u32 << 16 {
        for (low, v) in x.iter_mut().enumerate() {
            *v = f32::from_bits(high << 16 | low as u32);
        }
        check_values(VecOp::Erf, &x, erf_f32);
        check_values(VecOp::Exp, &x, exp_f32);
        check_values(VecOp::Sigmoid, &x, sigmoid);
    }
}

/// Ten values live at once fit the registers one vector at a time but not two: the loop
/// runs one vector per iteration and still computes every lane.
#[test]
fn segments_of_many_values_run_one_vector_at_a_time() {
    if !available() {
        return;
    }
    let (n, k) = (72, 10);
    let inputs: Vec<Vec<f32>> = (0..k).map(|s| values(n, 13 + s as u32)).collect();
    let mut ops: Vec<SegmentOp> = (0..k).map(|s| SegmentOp { op: VecOp::Copy, args: vec![Arg::Slot(s)] }).collect();
    ops.push(SegmentOp { op: VecOp::Add, args: vec![Arg::Value(0), Arg::Value(1)] });
    for s in 2..k {
        ops.push(SegmentOp { op: VecOp::Add, args: vec![Arg::Value(ops.len() - 1), Arg::Value(s)] });
    }
    let segment = Segment { stores: vec![(ops.len() - 1, k)], ops, streamed: vec![] };
    assert!(!body_fits(&segment, 2) && body_fits(&segment, 1), "one vector per iteration only");
    let kernel = compile(&segment).expect("fits one vector at a time");
    let mut out = vec![0.0f32; n];
    let mut table: Vec<*const f32> = inputs.iter().map(|v| v.as_ptr()).collect();
    table.push(out.as_mut_ptr());
    // SAFETY: every slot covers n values.
    unsafe { kernel.run(&table, 4 * n) };
    for (i, &got) in out.iter().enumerate() {
        let want = (1..k).fold(inputs[0][i], |sum, s| sum + inputs[s][i]);
        assert!(same(got, want), "{i}: {got} want {want}");
    }
}
