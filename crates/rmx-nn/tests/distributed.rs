//! rmx's collectives and rmx-nn's sharded linear layers against MLX's own ring backend: 2 and
//! 3 ranks (threads here, each with its own TCP connections to the others) load what the
//! same rank computed under `mlx.launch` (`scripts/gen_distributed_goldens.py`) and compare:
//! collectives of rank-dependent arrays, and for `shard_linear` (float and 4-bit; all-to-
//! sharded with one and three segments, sharded-to-all) the shards, outputs and gradients.

mod common;

use common::assert_close as close;

use rmx::distributed::{self as dist, Group};
use rmx::{Array, Dtype};
use rmx_nn::distributed::{average_gradients, shard_linear, Segments, Sharding};
use rmx_nn::{Linear, Module, QuantizeSpec};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

fn golden(n: usize, rank: usize) -> BTreeMap<String, Array> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/distributed_n{n}_r{rank}.safetensors"));
    rmx::io::load_safetensors(&path).unwrap().0
}

/// Runs `body(group, goldens)` on `n` ranks at once, each on its own thread.
fn on_ranks(n: usize, body: impl Fn(&Group, &BTreeMap<String, Array>) + Sync) {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let addresses: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    std::thread::scope(|s| {
        let ranks: Vec<_> = listeners
            .into_iter()
            .enumerate()
            .map(|(rank, listener)| {
                let (addresses, body) = (&addresses, &body);
                s.spawn(move || {
                    let group = dist::connect(rank, listener, addresses, Duration::from_secs(20)).unwrap();
                    body(&group, &golden(n, rank));
                })
            })
            .collect();
        for r in ranks {
            r.join().expect("a rank failed");
        }
    });
}

#[test]
fn collectives_match_mlx_ring() {
    for n in [2, 3] {
        on_ranks(n, |group, g| {
            let x = |case: &str| g[&format!("{case}.x")].clone();
            let y = |case: &str| g[&format!("{case}.y")].clone();
            close("all_sum", &dist::all_sum(&x("all_sum"), group).unwrap(), &y("all_sum"), 1e-6);
            close("all_max", &dist::all_max(&x("all_max"), group).unwrap(), &y("all_max"), 0.0);
            close("all_min", &dist::all_min(&x("all_min"), group).unwrap(), &y("all_min"), 0.0);
            close("all_gather", &dist::all_gather(&x("all_gather"), group).unwrap(), &y("all_gather"), 0.0);
            let ints = dist::all_sum(&x("all_sum_i32"), group).unwrap();
            assert_eq!(ints.to_vec::<i32>().unwrap(), y("all_sum_i32").to_vec::<i32>().unwrap());
            close("sum_scatter", &dist::sum_scatter(&x("sum_scatter"), group).unwrap(), &y("sum_scatter"), 1e-6);
        });
    }
}

/// Point to point around the ring, and the errors: shapes that differ between ranks are
/// reported by both sides instead of hanging; peers outside the group are refused.
#[test]
fn send_recv_and_mismatched_ranks() {
    on_ranks(3, |group, _| {
        let (rank, n) = (group.rank(), group.size());
        let mine = rmx::full(&[4], rank as f64, Dtype::F32).unwrap();
        let (next, prev) = ((rank + 1) % n, (rank + n - 1) % n);
        // Even ranks send first; odd ranks receive first (rank 2 sends to 0, which receives last).
        let got = if rank % 2 == 0 {
            dist::send(&mine, next, group).unwrap().eval().unwrap();
            dist::recv_like(&mine, prev, group).unwrap()
        } else {
            let got = dist::recv_like(&mine, prev, group).unwrap();
            got.eval().unwrap();
            dist::send(&mine, next, group).unwrap().eval().unwrap();
            got
        };
        assert_eq!(got.to_vec::<f32>().unwrap(), vec![prev as f32; 4]);
        // Rank 1 sums a longer array than the others: everyone gets an error, nobody hangs.
        let len = if rank == 1 { 6 } else { 4 };
        let err = dist::all_sum(&rmx::ones(&[len], Dtype::F32).unwrap(), group).unwrap().eval().unwrap_err();
        assert!(matches!(err, rmx::Error::Distributed(_)), "rank {rank}: {err}");
        assert!(dist::send(&mine, rank, group).is_err() && dist::recv_like(&mine, n, group).is_err());
    });
}

fn full_linear(g: &BTreeMap<String, Array>, quantized: bool) -> Linear {
    let mut linear = Linear::from_weights(g["full_float.weight"].clone(), Some(g["full_float.bias"].clone()));
    if quantized {
        linear.quantize_self(QuantizeSpec { group_size: 64, bits: 4, mode: rmx::QuantMode::Affine }).unwrap();
        let parts: BTreeMap<String, Array> =
            ["weight", "scales", "biases", "bias"].iter().map(|k| (k.to_string(), g[&format!("full_q4.{k}")].clone())).collect();
        linear.update(&parts, true).unwrap();
    }
    linear
}

#[test]
fn sharded_linear_layers_match_mlx() {
    for n in [2, 3] {
        on_ranks(n, |group, g| {
            for (tag, quantized) in [("float", false), ("q4", true)] {
                let full = full_linear(g, quantized);
                for (sharding, name, segments) in [
                    (Sharding::AllToSharded, "all-to-sharded", 1),
                    (Sharding::AllToSharded, "all-to-sharded", 3),
                    (Sharding::ShardedToAll, "sharded-to-all", 1),
                ] {
                    let case = format!("{tag}_{name}_s{segments}");
                    let want = |role: &str| g[&format!("{case}.{role}")].clone();
                    let layer = shard_linear(&full, sharding, &Segments::Equal(segments), group).unwrap();
                    for (param, value) in layer.parameters() {
                        let expected = want(&format!("param_{param}"));
                        assert_eq!(value.to_bytes().unwrap(), expected.to_bytes().unwrap(), "rank {} {case}: {param}", group.rank());
                    }
                    let x = want("x");
                    close(&format!("{case}: y"), &layer.forward(&x).unwrap(), &want("y"), 1e-5);
                    let loss = |a: &[Array]| {
                        let y = layer.forward(&a[0])?;
                        Ok(vec![rmx::divide(&rmx::sum(&rmx::multiply(&y, &y)?, rmx::Axes::All, false)?, 2.0)?])
                    };
                    let dx = rmx::grad(loss, &[0])(&[x]).unwrap().swap_remove(0);
                    close(&format!("{case}: dx"), &dx, &want("dx"), 1e-5);
                }
            }
        });
    }
}

/// Averaged gradients are the mean over ranks of each rank's own, whatever their dtype.
#[test]
fn average_gradients_is_the_mean_over_ranks() {
    on_ranks(3, |group, _| {
        let r = group.rank() as f64;
        let grads: BTreeMap<String, Array> = [
            ("a".to_string(), rmx::full(&[2, 3], r, Dtype::F32).unwrap()),
            ("b".to_string(), rmx::full(&[5], 2.0 * r, Dtype::F32).unwrap()),
            ("c".to_string(), rmx::full(&[4], r, Dtype::BF16).unwrap()),
        ]
        .into();
        let avg = average_gradients(&grads, group).unwrap();
        assert_eq!(avg["a"].to_vec::<f32>().unwrap(), vec![1.0; 6]);
        assert_eq!(avg["b"].to_vec::<f32>().unwrap(), vec![2.0; 5]);
        assert_eq!((avg["c"].dtype(), avg["c"].shape()), (Dtype::BF16, &[4][..]));
    });
}

/// Fully sharded data parallelism on an MLP: each rank keeps 1/n of every parameter (as MLX
/// shards them), a call gathers them, and `value_and_grad` returns this rank's rows of the
/// gradient averaged over ranks (inputs differ by rank). MLX's forward pass is the oracle for
/// the output and loss; its ring backend cannot run FSDP's reduce-scatter, so the gradient
/// golden is that definition evaluated by MLX (each rank's whole gradient, all_sum / n, rows).
#[test]
fn fully_sharded_mlp_matches_mlx() {
    use rmx_nn::{activations, fully_shard, Activation, Sequential};
    for n in [2, 3] {
        on_ranks(n, |group, g| {
            let mut mlp = Sequential::new()
                .push(Linear::new(8, 6, true).unwrap())
                .push(Activation::new(activations::relu))
                .push(Linear::new(6, 12, true).unwrap());
            let whole: BTreeMap<String, Array> =
                mlp.parameters().keys().map(|k| (k.clone(), g[&format!("fsdp.whole_{k}")].clone())).collect();
            mlp.update(&whole, true).unwrap();
            let mut model = fully_shard(mlp, group, None).unwrap();
            for (name, value) in model.parameters() {
                assert_eq!(value.to_bytes().unwrap(), g[&format!("fsdp.shard_{name}")].to_bytes().unwrap(), "shard {name}");
            }
            let x = g["fsdp.x"].clone();
            close("fsdp y", &model.call(|m| m.forward(&x)).unwrap(), &g["fsdp.y"], 1e-5);
            let (loss, grads) = rmx_nn::value_and_grad(&mut model, |m| {
                let y = m.call(|inner| inner.forward(&x))?;
                Ok(vec![rmx::divide(&rmx::sum(&rmx::multiply(&y, &y)?, rmx::Axes::All, false)?, 2.0)?])
            })
            .unwrap();
            close("fsdp loss", &loss[0], &g["fsdp.loss"], 1e-5);
            assert_eq!(grads.len(), 4);
            for (name, grad) in &grads {
                close(&format!("fsdp grad {name}"), grad, &g[&format!("fsdp.grad_{name}")], 1e-5);
            }
        });
    }
}

/// `compute_dtype`: the gathered parameters are cast for the call, the shards and their
/// gradients keep their own dtype.
#[test]
fn fully_sharded_compute_dtype_casts_only_the_gathered_parameters() {
    let mut model = rmx_nn::fully_shard(Linear::new(4, 6, true).unwrap(), &Group::singleton(), Some(Dtype::BF16)).unwrap();
    let x = rmx::ones(&[2, 4], Dtype::BF16).unwrap();
    assert_eq!(model.call(|m| m.forward(&x)).unwrap().dtype(), Dtype::BF16);
    let (_, grads) = rmx_nn::value_and_grad(&mut model, |m| {
        let y = rmx::astype(&m.call(|inner| inner.forward(&x))?, Dtype::F32)?;
        Ok(vec![rmx::sum(&y, rmx::Axes::All, false)?])
    })
    .unwrap();
    assert_eq!(grads.len(), 2);
    assert!(grads.values().all(|g| g.dtype() == Dtype::F32));
    assert!(model.parameters().values().all(|p| p.dtype() == Dtype::F32));
}
