//! Property tests: type promotion against MLX's table, broadcasting and indexing against
//! straightforward reference loops on random shapes.

use proptest::prelude::*;
use rmx::{Array, Dtype};

#[test]
fn promotion_table_matches_mlx() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/promotion.json");
    let table: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for (a, row) in table.as_object().unwrap() {
        for (b, want) in row.as_object().unwrap() {
            let (da, db) = (Dtype::from_name(a).unwrap(), Dtype::from_name(b).unwrap());
            assert_eq!(rmx::promote_types(da, db).name(), want.as_str().unwrap(), "{a} + {b}");
            // The op agrees with the table.
            let x = rmx::add(rmx::zeros(&[1], da).unwrap(), rmx::zeros(&[1], db).unwrap()).unwrap();
            assert_eq!(x.dtype().name(), want.as_str().unwrap());
            checked += 1;
        }
    }
    assert_eq!(checked, 196);
}

/// A dtype or category by its MLX name (`"float16"`, `"signedinteger"`).
fn dtype_or_category(name: &str) -> rmx::DtypeOrCategory {
    use rmx::Category as C;
    let category = match name {
        "complexfloating" => C::ComplexFloating,
        "floating" => C::Floating,
        "inexact" => C::Inexact,
        "signedinteger" => C::SignedInteger,
        "unsignedinteger" => C::UnsignedInteger,
        "integer" => C::Integer,
        "number" => C::Number,
        "generic" => C::Generic,
        dtype => return Dtype::from_name(dtype).unwrap().into(),
    };
    category.into()
}

#[test]
fn dtype_predicates_match_mlx() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/dtype_utils.json");
    let tables: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for (a, row) in tables["can_cast"].as_object().unwrap() {
        for (b, want) in row.as_object().unwrap() {
            let got = rmx::can_cast(Dtype::from_name(a).unwrap(), Dtype::from_name(b).unwrap());
            assert_eq!(got, want.as_bool().unwrap(), "can_cast({a}, {b})");
            checked += 1;
        }
    }
    for (a, row) in tables["issubdtype"].as_object().unwrap() {
        for (b, want) in row.as_object().unwrap() {
            assert_eq!(rmx::issubdtype(dtype_or_category(a), dtype_or_category(b)), want.as_bool().unwrap(), "issubdtype({a}, {b})");
            checked += 1;
        }
    }
    for (kind, members) in tables["isdtype"].as_object().unwrap() {
        let members: Vec<&str> = members.as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        for d in rmx::ALL_DTYPES {
            assert_eq!(rmx::isdtype(d, &[kind]).unwrap(), members.contains(&d.name()), "isdtype({}, {kind:?})", d.name());
            checked += 1;
        }
    }
    assert_eq!(checked, 14 * 14 + 22 * 22 + 7 * 14);
}

#[test]
fn weak_scalars_follow_mlx() {
    let i8a = rmx::zeros(&[2], Dtype::I8).unwrap();
    let f16a = rmx::zeros(&[2], Dtype::F16).unwrap();
    let ba = rmx::zeros(&[2], Dtype::Bool).unwrap();
    assert_eq!(rmx::add(&i8a, 3).unwrap().dtype(), Dtype::I8);
    assert_eq!(rmx::add(&i8a, 3.0).unwrap().dtype(), Dtype::F32);
    assert_eq!(rmx::multiply(&f16a, 2.0).unwrap().dtype(), Dtype::F16);
    assert_eq!(rmx::add(&ba, 1).unwrap().dtype(), Dtype::I32);
    assert_eq!(rmx::add(&ba, true).unwrap().dtype(), Dtype::Bool);
    assert!(rmx::add(&i8a, 128).is_err());
    assert_eq!(rmx::add(2, 3.5).unwrap().dtype(), Dtype::F32);
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..4, 0..4)
}

/// Shapes that broadcast with `s`: some dims replaced by 1, some leading dims dropped.
fn compatible(s: Vec<usize>) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let n = s.len();
    (prop::collection::vec(any::<bool>(), n), 0..=n).prop_map(move |(ones, drop)| {
        let other: Vec<usize> = s.iter().zip(&ones).map(|(&d, &o)| if o { 1 } else { d }).skip(drop).collect();
        (s.clone(), other)
    })
}

fn iota(shape: &[usize], start: f32) -> Array {
    let n: usize = shape.iter().product();
    Array::from_slice(&(0..n).map(|i| start + i as f32).collect::<Vec<_>>(), shape).unwrap()
}

/// Reference broadcasting: index each input by the output coordinates.
fn reference_add(a: &[f32], sa: &[usize], b: &[f32], sb: &[usize], out: &[usize]) -> Vec<f32> {
    let n: usize = out.iter().product();
    let at = |data: &[f32], shape: &[usize], coords: &[usize]| {
        let pad = coords.len() - shape.len();
        let mut flat = 0;
        for (i, &d) in shape.iter().enumerate() {
            let c = if d == 1 { 0 } else { coords[pad + i] };
            flat = flat * d + c;
        }
        data[flat]
    };
    (0..n)
        .map(|mut i| {
            let mut coords = vec![0; out.len()];
            for d in (0..out.len()).rev() {
                coords[d] = i % out[d];
                i /= out[d];
            }
            at(a, sa, &coords) + at(b, sb, &coords)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn broadcasting_matches_reference((sa, sb) in shape_strategy().prop_flat_map(compatible), swap in any::<bool>()) {
        let (sa, sb) = if swap { (sb, sa) } else { (sa, sb) };
        let (a, b) = (iota(&sa, 0.0), iota(&sb, 100.0));
        let out = rmx::add(&a, &b).unwrap();
        let expected_shape = rmx::broadcast_shapes(&sa, &sb).unwrap();
        prop_assert_eq!(out.shape(), expected_shape.as_slice());
        let want = reference_add(&a.to_vec::<f32>().unwrap(), &sa, &b.to_vec::<f32>().unwrap(), &sb, &expected_shape);
        prop_assert_eq!(out.to_vec::<f32>().unwrap(), want);
        // The same through a transposed view of `a`.
        let at = rmx::transpose(&rmx::contiguous(&rmx::transpose(&a, None).unwrap()).unwrap(), None).unwrap();
        prop_assert_eq!(rmx::add(&at, &b).unwrap().to_vec::<f32>().unwrap(), rmx::add(&a, &b).unwrap().to_vec::<f32>().unwrap());
    }

    #[test]
    fn incompatible_shapes_error(a in 2usize..6, b in 2usize..6) {
        prop_assume!(a != b);
        prop_assert!(rmx::add(iota(&[a], 0.0), iota(&[b], 0.0)).is_err());
    }

    #[test]
    fn take_matches_reference(n in 1usize..20, idx in prop::collection::vec(-19i32..19, 0..30)) {
        let idx: Vec<i32> = idx.into_iter().filter(|&i| i >= -(n as i32) && i < n as i32).collect();
        let a = iota(&[n], 0.0);
        let i = Array::from_slice(&idx, &[idx.len()]).unwrap();
        let got = rmx::take(&a, &i, Some(0)).unwrap().to_vec::<f32>().unwrap();
        let want: Vec<f32> = idx.iter().map(|&k| if k < 0 { (k + n as i32) as f32 } else { k as f32 }).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn out_of_range_take_is_an_error_not_a_crash(n in 1usize..10, k in 10i32..100) {
        let a = iota(&[n], 0.0);
        let i = Array::from_slice(&[k], &[1]).unwrap();
        prop_assert!(rmx::take(&a, &i, Some(0)).unwrap().eval().is_err());
    }

    #[test]
    fn slicing_matches_reference(n in 1usize..12, start in -14isize..14, stop in -14isize..14, step in prop::sample::select(vec![-3isize, -2, -1, 1, 2, 3])) {
        let a = iota(&[n], 0.0);
        let got = rmx::slice(&a, &[start], &[stop], &[step]).unwrap().to_vec::<f32>().unwrap();
        // Python slice semantics.
        let n = n as isize;
        let norm = |v: isize| if v < 0 { v + n } else { v };
        let mut want = Vec::new();
        if step > 0 {
            let (mut i, end) = (norm(start).clamp(0, n), norm(stop).clamp(0, n));
            while i < end { want.push(i as f32); i += step; }
        } else {
            let (mut i, end) = (norm(start).clamp(-1, n - 1), norm(stop).clamp(-1, n - 1));
            while i > end { want.push(i as f32); i += step; }
        }
        prop_assert_eq!(got, want);
    }

    /// `index_update` writes the values at the positions `index` reads and leaves every other
    /// element alone, for random mixes of integers, slices and (repeat-free) integer arrays:
    /// the window, leading-array and flattened-scatter paths against a plain loop.
    #[test]
    fn index_update_writes_where_index_reads(
        shape in prop::collection::vec(1usize..6, 2..4),
        kinds in prop::collection::vec(0u8..3, 1..4),
        seeds in prop::collection::vec(any::<u32>(), 12),
        new_axis_at in prop::option::of(0usize..3),
    ) {
        // Array indices broadcast together: all get the same length.
        let length = 1 + seeds[11] as usize % shape.iter().min().unwrap();
        let mut idx: Vec<rmx::Index> = kinds.iter().zip(&shape).enumerate().map(|(i, (&kind, &n))| {
            let (s, t) = (seeds[3 * i] as usize, seeds[3 * i + 1] as usize);
            match kind {
                0 => rmx::Index::At((s % (2 * n)) as isize - n as isize),
                1 => {
                    let step = [-2isize, -1, 1, 2][seeds[3 * i + 2] as usize % 4];
                    let end = |v: usize| (v % (2 * n + 3)) as isize - n as isize - 1;
                    rmx::Index::Slice(Some(end(s)), Some(end(t)), step)
                }
                _ => {
                    // Distinct positions, in an order drawn from the seeds.
                    let mut order: Vec<usize> = (0..n).collect();
                    order.sort_by_key(|&p| (p * 2_654_435_761 + s) % 1_000_003);
                    let picked: Vec<i32> = order[..length].iter().map(|&p| p as i32).collect();
                    rmx::Index::Array(Array::from_slice(&picked, &[picked.len()]).unwrap())
                }
            }
        }).collect();
        if let Some(at) = new_axis_at {
            idx.insert(at.min(idx.len()), rmx::Index::NewAxis);
        }
        let a = iota(&shape, 0.0);
        let positions = rmx::index(&iota(&shape, 0.0), &idx).unwrap();
        let values = rmx::add(iota(positions.shape(), 0.0), 1000.0).unwrap();
        let got = rmx::index_update(&a, &idx, &values).unwrap().to_vec::<f32>().unwrap();
        let mut want = a.to_vec::<f32>().unwrap();
        for (p, v) in positions.to_vec::<f32>().unwrap().iter().zip(values.to_vec::<f32>().unwrap()) {
            want[*p as usize] = v;
        }
        prop_assert_eq!(got, want);
    }
}

/// Multivariate normal samples reproduce the requested mean and covariance (60,000 draws
/// with a fixed key: the estimates' standard errors are below 0.01).
#[test]
fn multivariate_normal_has_the_requested_moments() {
    let mean = Array::from_slice(&[1.0f32, -2.0, 0.5], &[3]).unwrap();
    let cov = Array::from_slice(&[2.0f32, 0.8, -0.3, 0.8, 1.0, 0.2, -0.3, 0.2, 0.5], &[3, 3]).unwrap();
    let key = rmx::random::key(7);
    let x = rmx::random::multivariate_normal(&mean, &cov, &[60_000], Some(&key)).unwrap();
    assert_eq!(x.shape(), &[60_000, 3]);
    let m = rmx::mean(&x, 0, false).unwrap();
    let centered = rmx::subtract(&x, &m).unwrap();
    let c = rmx::divide(rmx::matmul(&rmx::transpose(&centered, None).unwrap(), &centered).unwrap(), 60_000.0).unwrap();
    for (got, want) in m.to_vec::<f32>().unwrap().iter().zip(mean.to_vec::<f32>().unwrap()) {
        assert!((got - want).abs() < 0.03, "mean {got} vs {want}");
    }
    for (got, want) in c.to_vec::<f32>().unwrap().iter().zip(cov.to_vec::<f32>().unwrap()) {
        assert!((got - want).abs() < 0.05, "covariance {got} vs {want}");
    }
    let bad = Array::from_slice(&[1.0f32; 4], &[2, 2]).unwrap();
    assert!(rmx::random::multivariate_normal(&mean, &bad, &[], None).is_err());
}

/// MLX's zero-exact scheme represents `bias + q * scale`, q in 0..2^bits: values inside that
/// range come back within half a step, values outside it (the edge opposite the exact one can
/// fall outside when the scale is adjusted) come back as the nearest end of the range.
#[test]
fn dequantized_weights_are_within_half_a_step_or_clamped() {
    for bits in [2u32, 3, 4, 5, 6, 8] {
        for g in [32usize, 64, 128] {
            let w = rmx::random::normal(&[8, 256], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(bits as u64 * 1000 + g as u64))).unwrap();
            let (wq, scales, biases) = rmx::quantize(&w, g, bits, rmx::QuantMode::Affine).unwrap();
            let back = rmx::dequantize(&wq, &scales, biases.as_ref(), g, bits, rmx::QuantMode::Affine, None).unwrap();
            let (w, back) = (w.to_vec::<f32>().unwrap(), back.to_vec::<f32>().unwrap());
            let (scales, biases) = (scales.to_vec::<f32>().unwrap(), biases.unwrap().to_vec::<f32>().unwrap());
            let top = ((1u32 << bits) - 1) as f32;
            for (i, (a, b)) in w.iter().zip(&back).enumerate() {
                let (s, z) = (scales[i / g], biases[i / g]);
                let (lo, hi) = if s > 0.0 { (z, z + top * s) } else { (z + top * s, z) };
                let want = a.clamp(lo, hi);
                let tol = 0.5 * s.abs() * (1.0 + 1e-4) + 1e-6;
                assert!((want - b).abs() <= tol, "bits {bits} g {g} element {i}: {a} -> {b} (range {lo}..{hi}, step {s})");
            }
        }
    }
}

#[test]
fn quantized_matmul_gradient_is_the_dequantized_weight() {
    let w = rmx::random::normal(&[16, 64], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(7))).unwrap();
    let (wq, s, b) = rmx::quantize(&w, 32, 4, rmx::QuantMode::Affine).unwrap();
    let b = b.unwrap();
    let x = rmx::random::normal(&[3, 64], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(8))).unwrap();
    let loss = |a: &[Array]| -> rmx::Result<Vec<Array>> {
        let y = rmx::quantized_matmul(&a[0], &wq, &s, Some(&b), true, 32, 4, rmx::QuantMode::Affine)?;
        Ok(vec![rmx::sum(&y, rmx::Axes::All, false)?])
    };
    let g = rmx::grad(loss, &[0])(&[x]).unwrap().swap_remove(0);
    // d/dx sum(x W^T) = sum over rows of W, for every row of x.
    let w_hat = rmx::dequantize(&wq, &s, Some(&b), 32, 4, rmx::QuantMode::Affine, None).unwrap();
    let want = rmx::broadcast_to(&rmx::sum(&w_hat, 0, true).unwrap(), &[3, 64]).unwrap();
    for (a, e) in g.to_vec::<f32>().unwrap().iter().zip(want.to_vec::<f32>().unwrap()) {
        assert!((a - e).abs() < 1e-4, "{a} vs {e}");
    }
}

/// The floating-point modes: the gradient with respect to x is the dequantized weight (as
/// affine), and asking for the scales' gradient (uint8) is an error, as in MLX.
#[test]
fn fp_mode_quantized_matmul_differentiates_x_only() {
    let w = rmx::random::normal(&[16, 64], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(12))).unwrap();
    let x = rmx::random::normal(&[3, 64], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(13))).unwrap();
    for (mode, g, bits) in [(rmx::QuantMode::Mxfp4, 32, 4), (rmx::QuantMode::Mxfp8, 32, 8), (rmx::QuantMode::Nvfp4, 16, 4)] {
        let (wq, s, _) = rmx::quantize(&w, g, bits, mode).unwrap();
        let loss = |a: &[Array]| -> rmx::Result<Vec<Array>> {
            let y = rmx::quantized_matmul(&a[0], &wq, &a[1], None, true, g, bits, mode)?;
            Ok(vec![rmx::sum(&y, rmx::Axes::All, false)?])
        };
        let gx = rmx::grad(loss, &[0])(&[x.clone(), s.clone()]).unwrap().swap_remove(0);
        let w_hat = rmx::dequantize(&wq, &s, None, g, bits, mode, Some(Dtype::F32)).unwrap();
        let want = rmx::broadcast_to(&rmx::sum(&w_hat, 0, true).unwrap(), &[3, 64]).unwrap();
        for (a, e) in gx.to_vec::<f32>().unwrap().iter().zip(want.to_vec::<f32>().unwrap()) {
            assert!((a - e).abs() < 1e-4, "{mode:?}: {a} vs {e}");
        }
        let err = rmx::grad(loss, &[1])(&[x.clone(), s.clone()]).unwrap_err();
        assert!(err.to_string().contains("uint8"), "{mode:?}: {err}");
    }
}

/// The loss is linear in scales and biases, so central differences are exact up to rounding.
#[test]
fn quantized_matmul_gradients_of_scales_and_biases_match_finite_differences() {
    let w = rmx::random::normal(&[8, 64], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(9))).unwrap();
    let (wq, s, b) = rmx::quantize(&w, 32, 4, rmx::QuantMode::Affine).unwrap();
    let b = b.unwrap();
    let x = rmx::random::normal(&[3, 64], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(10))).unwrap();
    let c = rmx::random::normal(&[3, 8], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(11))).unwrap();
    for (label, rows) in [("matvec kernel", 3usize), ("dequantize + matmul", 20)] {
        let x = rmx::tile(&x, &[rows.div_ceil(3), 1]).unwrap();
        let x = rmx::slice(&x, &[0, 0], &[rows as isize, 64], &[1, 1]).unwrap();
        let c = rmx::slice(&rmx::tile(&c, &[rows.div_ceil(3), 1]).unwrap(), &[0, 0], &[rows as isize, 8], &[1, 1]).unwrap();
        let loss = |a: &[Array]| -> rmx::Result<Vec<Array>> {
            let y = rmx::quantized_matmul(&x, &wq, &a[0], Some(&a[1]), true, 32, 4, rmx::QuantMode::Affine)?;
            Ok(vec![rmx::sum(&rmx::multiply(&y, &c)?, rmx::Axes::All, false)?])
        };
        let grads = rmx::grad(loss, &[0, 1])(&[s.clone(), b.clone()]).unwrap();
        for (which, g) in grads.iter().enumerate() {
            let g = g.to_vec::<f32>().unwrap();
            for idx in [0usize, 5, 11, 15] {
                let bump = |h: f32| {
                    let mut p = [s.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap()];
                    p[which][idx] += h;
                    let args = [Array::from_slice(&p[0], &[8, 2]).unwrap(), Array::from_slice(&p[1], &[8, 2]).unwrap()];
                    loss(&args).unwrap()[0].item::<f32>().unwrap()
                };
                let fd = (bump(0.01) - bump(-0.01)) / 0.02;
                assert!(
                    (fd - g[idx]).abs() <= 2e-2 * (1.0 + fd.abs()),
                    "{label}: d/d{} [{idx}]: {} vs {fd}",
                    ["scales", "biases"][which],
                    g[idx]
                );
            }
        }
    }
}
