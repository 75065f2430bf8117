#!/usr/bin/env python3
"""The NumPy side of the benchmarks (`cpu_vs_numpy`, `transforms`, `nn_quant`).

Reads one case name per line on stdin, runs that case `iters` times, and prints the mean
milliseconds per run. The Rust benchmark alternates between its own run and this peer (A B A
B ...) so both see the same machine state. The first line printed describes the BLAS in use
and the MLX version (null when `mlx` is not installed).

A case named `mlx:<case>` runs the MLX version of `<case>` (the CPU benchmark's cases and the
transforms benchmark's compiled chain, layer norm, softmax and per-example gradients, with
`mx.compile` / `mx.vmap` / `mx.grad`), evaluated with `mx.eval`: MLX is the framework rmx
follows, so it is a peer column, though its CPU backend is slow on x86 and NumPy stays the
bar to beat.
"""
import json
import sys
import time

import numpy as np

RNG = np.random.default_rng(0)
CACHE = {}


def f32(*shape):
    return RNG.standard_normal(shape, dtype=np.float32)


def mlp_train_step():
    """One SGD step of a 784-512-512-10 ReLU MLP on a batch of 128 with softmax cross
    entropy, forward and backward written by hand (what rmx does with value_and_grad)."""
    sizes = [784, 512, 512, 10]
    ws = [f32(o, i) * np.float32(1 / np.sqrt(i)) for i, o in zip(sizes, sizes[1:])]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]
    x = f32(128, 784)
    y = RNG.integers(0, 10, 128)
    lr = np.float32(0.01)

    def step():
        hs, pre = [x], []
        for i, (w, b) in enumerate(zip(ws, bs)):
            z = hs[-1] @ w.T + b
            pre.append(z)
            hs.append(np.maximum(z, 0) if i < len(ws) - 1 else z)
        logits = hs[-1]
        e = np.exp(logits - logits.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        loss = -np.log(p[np.arange(128), y]).mean()
        g = p
        g[np.arange(128), y] -= 1
        g /= 128
        for i in reversed(range(len(ws))):
            if i < len(ws) - 1:
                g = g * (pre[i] > 0)
            gw, gb = g.T @ hs[i], g.sum(0)
            g = g @ ws[i]
            ws[i] -= lr * gw
            bs[i] -= lr * gb
        return loss
    return step


def setup(case):
    name, _, size = case.rpartition("_")
    if case.startswith("matmul_f32_") or case.startswith("matmul_bf16_"):
        n = int(size)
        a, b = f32(n, n), f32(n, n)
        return lambda: a @ b
    if case == "matmul_batched_64x128":
        a, b = f32(64, 128, 128), f32(64, 128, 128)
        return lambda: a @ b
    if case == "add_broadcast_4096x4096":
        a, b = f32(4096, 4096), f32(4096)
        return lambda: a + b
    if case.startswith(("add_", "mul_")):
        n = {"1M": 1 << 20, "16M": 1 << 24}[size]
        a, b = f32(n), f32(n)
        return (lambda: a + b) if case.startswith("add") else (lambda: a * b)
    if case == "logaddexp_16M":
        x, y = f32(1 << 24), f32(1 << 24)
        return lambda: np.logaddexp(x, y)
    if case == "overhead_small_graphs":
        a = np.ones(16, dtype=np.float32)

        def small_graphs():
            y = a
            for _ in range(1000):
                for _ in range(10):
                    y = y + a
            return y
        return small_graphs
    if case in ("exp_16M", "tanh_16M", "sigmoid_16M"):
        x = f32(1 << 24)
        return {"exp_16M": lambda: np.exp(x), "tanh_16M": lambda: np.tanh(x),
                "sigmoid_16M": lambda: 1.0 / (1.0 + np.exp(-x))}[case]
    if case.startswith(("sum_axis", "max_axis")):
        x = f32(4096, 4096)
        axis = int(case[len("sum_axis")])
        return (lambda: x.sum(axis)) if case.startswith("sum") else (lambda: x.max(axis))
    if case == "softmax_1024x4096":
        x = f32(1024, 4096)

        def softmax():
            e = np.exp(x - x.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)
        return softmax
    if case == "mlp_train_step":
        return mlp_train_step()
    if case == "layer_norm_4096x1024":
        x, w, b = f32(4096, 1024), f32(1024), f32(1024)

        def layer_norm():
            c = x - x.mean(-1, keepdims=True)
            var = (c * c).mean(-1, keepdims=True)
            return c / np.sqrt(var + np.float32(1e-5)) * w + b
        return layer_norm
    if case == "transpose_copy_4096":
        x = f32(4096, 4096)
        return lambda: np.ascontiguousarray(x.T)
    if case == "sort_1M":
        x = f32(1 << 20)
        return lambda: np.sort(x)
    if case == "argsort_1M":
        x = f32(1 << 20)
        return lambda: np.argsort(x)
    if case == "cumsum_4096x4096_axis1":
        x = f32(4096, 4096)
        return lambda: np.cumsum(x, axis=1)
    if case == "take_1M_of_16M":
        x = f32(1 << 24)
        idx = RNG.integers(0, 1 << 24, 1 << 20).astype(np.int32)
        return lambda: np.take(x, idx)
    if case == "conv2d_8x64x56x56_k3":
        x, w = f32(8, 56, 56, 64), f32(64, 3, 3, 64)

        def conv():
            # NHWC im2col convolution, the common NumPy formulation.
            p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
            cols = np.lib.stride_tricks.sliding_window_view(p, (3, 3), axis=(1, 2))  # n,h,w,c,kh,kw
            return np.einsum("nhwckl,oklc->nhwo", cols, w, optimize=True)
        return conv
    if case == "overhead_10000_ops":
        x = np.float32(1.0)
        a = np.array([1.0], dtype=np.float32)

        def chain():
            y = a
            for _ in range(10000):
                y = y + x
            return y
        return chain
    raise SystemExit(f"unknown case {case}")


def setup_mlx(case):
    """The MLX version of a `cpu_vs_numpy` case: a function that builds and evaluates it."""
    import mlx.core as mx

    def arr(*shape):
        return mx.array(f32(*shape))

    def evaluated(build):
        return lambda: mx.eval(build())
    name, _, size = case.rpartition("_")
    if case.startswith(("matmul_f32_", "matmul_bf16_")):
        n = int(size)
        a, b = arr(n, n), arr(n, n)
        if "bf16" in case:
            a, b = a.astype(mx.bfloat16), b.astype(mx.bfloat16)
        return evaluated(lambda: a @ b)
    if case == "matmul_batched_64x128":
        a, b = arr(64, 128, 128), arr(64, 128, 128)
        return evaluated(lambda: a @ b)
    if case == "add_broadcast_4096x4096":
        a, b = arr(4096, 4096), arr(4096)
        return evaluated(lambda: a + b)
    if case.startswith(("add_", "mul_")):
        n = {"1M": 1 << 20, "16M": 1 << 24}[size]
        a, b = arr(n), arr(n)
        return evaluated((lambda: a + b) if case.startswith("add") else (lambda: a * b))
    if case == "logaddexp_16M":
        x, y = arr(1 << 24), arr(1 << 24)
        return evaluated(lambda: mx.logaddexp(x, y))
    if case == "overhead_small_graphs":
        a = mx.ones(16)

        def small_graphs():
            y = a
            for _ in range(1000):
                for _ in range(10):
                    y = y + a
                mx.eval(y)
            return y
        return evaluated(small_graphs)
    if case in ("exp_16M", "tanh_16M", "sigmoid_16M"):
        x = arr(1 << 24)
        return evaluated({"exp_16M": lambda: mx.exp(x), "tanh_16M": lambda: mx.tanh(x),
                          "sigmoid_16M": lambda: mx.sigmoid(x)}[case])
    if case.startswith(("sum_axis", "max_axis")):
        x = arr(4096, 4096)
        axis = int(case[len("sum_axis")])
        return evaluated((lambda: x.sum(axis)) if case.startswith("sum") else (lambda: x.max(axis)))
    if case == "softmax_1024x4096":
        x = arr(1024, 4096)
        return evaluated(lambda: mx.softmax(x, axis=-1))
    if case == "transpose_copy_4096":
        x = arr(4096, 4096)
        return evaluated(lambda: mx.contiguous(x.T))
    if case in ("sort_1M", "argsort_1M"):
        x = arr(1 << 20)
        return evaluated((lambda: mx.sort(x)) if case == "sort_1M" else (lambda: mx.argsort(x)))
    if case == "cumsum_4096x4096_axis1":
        x = arr(4096, 4096)
        return evaluated(lambda: mx.cumsum(x, axis=1))
    if case == "take_1M_of_16M":
        x = arr(1 << 24)
        idx = mx.array(RNG.integers(0, 1 << 24, 1 << 20).astype(np.int32))
        return evaluated(lambda: mx.take(x, idx))
    if case == "conv2d_8x64x56x56_k3":
        x, w = arr(8, 56, 56, 64), arr(64, 3, 3, 64)
        return evaluated(lambda: mx.conv2d(x, w, padding=1))
    if case == "overhead_10000_ops":
        a, one = mx.array([1.0]), mx.array(1.0)

        def chain():
            y = a
            for _ in range(10000):
                y = y + one
            return y
        return evaluated(chain)
    transforms = setup_mlx_transforms(case, mx)
    if transforms is not None:
        return evaluated(transforms)
    raise SystemExit(f"unknown MLX case {case}")


def setup_mlx_transforms(case, mx):
    """The MLX versions of the transforms benchmark's cases (a function returning what to
    evaluate), or None. Inputs are uniform in [-0.5, 0.5) as on the rmx side."""
    def uniform(*shape):
        return mx.array(RNG.uniform(-0.5, 0.5, shape).astype(np.float32))

    def gelu(x):
        return x * 0.5 * (1 + mx.erf(x * np.float32(2 ** -0.5)))
    if case == "compile_chain8_16M":
        x, w, b = uniform(4096, 4096), uniform(4096), uniform(4096)

        def chain8(x, w, b):
            y = x * w + b
            return gelu(y) * mx.sigmoid(y)
        compiled = mx.compile(chain8)
        return lambda: compiled(x, w, b)
    if case == "compile_layer_norm_4096x1024":
        x, w, b = uniform(4096, 1024), uniform(1024), uniform(1024)
        compiled = mx.compile(lambda x, w, b: mx.fast.layer_norm(x, w, b, 1e-5))
        return lambda: compiled(x, w, b)
    if case == "compile_softmax_1024x4096":
        x = uniform(1024, 4096)
        compiled = mx.compile(lambda x: mx.softmax(x, axis=-1))
        return lambda: compiled(x)
    if case == "vmap_grad_1000":
        (d_in, hidden, d_out) = (32, 64, 8)
        params = [uniform(d_in, hidden), uniform(hidden), uniform(hidden, d_out)]
        xs, ys = uniform(1000, d_in), uniform(1000, d_out)

        def loss(w1, b1, w2, x, y):
            err = mx.tanh(x @ w1 + b1) @ w2 - y
            return mx.mean(err * err)
        per_example = mx.vmap(mx.grad(loss, argnums=[0, 1, 2]), in_axes=(None, None, None, 0, 0))
        return lambda: per_example(*params, xs, ys)
    return None


def mlx_version():
    try:
        import mlx.core as mx
        return mx.__version__
    except Exception:  # MLX is an optional peer
        return None


def main():
    try:
        from threadpoolctl import threadpool_info
        info = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")} for d in threadpool_info()]
    except Exception as e:  # threadpoolctl is optional
        info = [f"threadpoolctl unavailable: {e}"]
    print(json.dumps({"numpy": np.__version__, "blas": info, "mlx": mlx_version()}), flush=True)
    for line in sys.stdin:
        case, iters = line.split()
        if case not in CACHE:
            CACHE[case] = setup_mlx(case[len("mlx:"):]) if case.startswith("mlx:") else setup(case)
            CACHE[case]()
        fn = CACHE[case]
        t0 = time.perf_counter()
        for _ in range(int(iters)):
            fn()
        print((time.perf_counter() - t0) * 1e3 / int(iters), flush=True)


if __name__ == "__main__":
    main()
