"""Golden data for rmx's distributed collectives and rmx-nn's sharded linear layers, from
MLX's own ring backend: this script starts itself under `mlx.launch --backend ring` with 2 and
3 local processes, and each rank writes what it computed — collectives of rank-dependent
arrays; for each sharded layer (MLX's `shard_linear`, float and 4-bit, one and three
segments) its parameter shards, its input, its output and the input's gradient; and a fully
sharded MLP (`fully_shard`): shards, output, loss and this rank's gradient shards.
Writes crates/rmx-nn/tests/golden/distributed_n{N}_r{rank}.safetensors (`<case>.<role>`).

Run: python3 scripts/gen_distributed_goldens.py   (needs `pip install "mlx[cpu]"`)
"""
import os
import subprocess
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.nn.layers.distributed import fully_shard, shard_linear
from mlx.utils import tree_flatten, tree_unflatten

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "rmx-nn", "tests", "golden")


def rank_main():
    group = mx.distributed.init(backend="ring", strict=True)
    n, r = group.size(), group.rank()
    rng = np.random.default_rng(7)  # the same draws on every rank
    arrays = {}

    def put(case, **named):
        for role, a in named.items():
            arrays[f"{case}.{role}"] = a

    # Collectives: every rank contributes its own slice of a shared random array.
    base = mx.array(rng.standard_normal((n, 3, 5)).astype(np.float32))
    x = base[r]
    put("all_sum", x=x, y=mx.distributed.all_sum(x, group=group))
    put("all_max", x=x, y=mx.distributed.all_max(x, group=group))
    put("all_min", x=x, y=mx.distributed.all_min(x, group=group))
    put("all_gather", x=x, y=mx.distributed.all_gather(x, group=group))
    xi = mx.array(rng.integers(-1000, 1000, (n, 7)).astype(np.int32))[r]
    put("all_sum_i32", x=xi, y=mx.distributed.all_sum(xi, group=group))
    xs = mx.array(rng.standard_normal((n, 2 * n, 4)).astype(np.float32))[r]
    # MLX's ring backend has no sum_scatter: its definition, the sum's rows of this rank.
    put("sum_scatter", x=xs, y=mx.distributed.all_sum(xs, group=group)[2 * r:2 * r + 2])

    # Sharded layers: one full layer (same weights everywhere), sharded by MLX.
    mx.random.seed(3)
    full = nn.Linear(384, 36, bias=True)
    xin = mx.array(rng.standard_normal((2, 384)).astype(np.float32))
    quantized = nn.QuantizedLinear.from_linear(full, group_size=64, bits=4)
    for tag, layer in [("float", full), ("q4", quantized)]:
        # Fused weights (segments) only make sense split along the output axis.
        for sharding, segments in [("all-to-sharded", 1), ("all-to-sharded", 3), ("sharded-to-all", 1)]:
            case = f"{tag}_{sharding}_s{segments}"
            sl = shard_linear(layer, sharding, segments=segments, group=group)
            local = xin if sharding == "all-to-sharded" else xin[:, r * 384 // n:(r + 1) * 384 // n]

            def loss(v):
                return (sl(v) ** 2).sum() / 2

            put(case, x=local, y=sl(local), dx=mx.grad(loss)(local),
                **{f"param_{k}": v for k, v in tree_flatten(sl.parameters())})
    # The full layers, for the rmx side to shard itself.
    put("full_float", x=xin, **dict(tree_flatten(full.parameters())))
    put("full_q4", **dict(tree_flatten(quantized.parameters())))
    # Fully sharded data parallelism: an MLP whose parameters each rank holds 1/n of, inputs
    # differing by rank; value_and_grad gives this rank's shard of the averaged gradients.
    mlp = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 12))
    mlp.update(tree_unflatten([(k, mx.array(rng.standard_normal(v.shape).astype(np.float32))) for k, v in tree_flatten(mlp.parameters())]))
    whole = dict(tree_flatten(mlp.parameters()))
    fs = fully_shard(mlp, group=group)
    xf = mx.array(rng.standard_normal((n, 5, 8)).astype(np.float32))[r]

    def fsdp_loss(model, v):
        return (model(v) ** 2).sum() / 2

    # MLX's FSDP backward reduce-scatters, which its ring backend refuses: the gradient is
    # formed from its definition instead — each rank's gradient of the whole model, averaged
    # over ranks (all_sum / n), this rank's rows of each parameter.
    plain = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 12))
    plain.update(tree_unflatten(list(whole.items())))
    loss, grads = nn.value_and_grad(plain, fsdp_loss)(plain, xf)
    shard_grads = {}
    for k, g in tree_flatten(grads):
        mean = mx.distributed.all_sum(g, group=group) / n
        rows = g.shape[0] // n
        shard_grads[f"grad_module.{k}"] = mean[r * rows:(r + 1) * rows]
    put("fsdp", x=xf, y=fs(xf), loss=loss, **{f"whole_{k}": v for k, v in whole.items()},
        **{f"shard_{k}": v for k, v in tree_flatten(fs.parameters())}, **shard_grads)
    mx.eval(arrays)
    mx.save_safetensors(os.path.join(OUT, f"distributed_n{n}_r{r}.safetensors"), arrays)


if __name__ == "__main__":
    if "MLX_RANK" in os.environ:
        rank_main()
    else:
        for n in [2, 3]:
            for stale in [f for f in os.listdir(OUT) if f.startswith(f"distributed_n{n}_")]:
                os.remove(os.path.join(OUT, stale))
            done = subprocess.run(["mlx.launch", "-n", str(n), "--backend", "ring", sys.executable, os.path.abspath(__file__)])
            files = [os.path.join(OUT, f"distributed_n{n}_r{r}.safetensors") for r in range(n)]
            if done.returncode != 0 or not all(map(os.path.exists, files)):
                sys.exit(f"{n} ranks failed")
            print(f"wrote {files}")
