"""PyTorch goldens for rmx-nn (run where torch is installed, e.g. the GPU machine, on CPU
in float64 then stored as float32): layers, their parameter gradients, losses and optimizer
trajectories, converted to MLX's layouts (channels-last convolutions, a single LSTM bias,
the GRU's `b`/`bhn` split). Runs on the GPU when there is one. Writes torch.safetensors (arrays `<case>.<role>`) to the
folder given as the first argument (default: crates/rmx-nn/tests/golden).

Run: python3 scripts/gen_torch_goldens.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
# On the GPU machine (gVisor) CPU autograd segfaults; float64 on the GPU is exact enough.
torch.set_default_device("cuda" if torch.cuda.is_available() else "cpu")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "crates", "rmx-nn", "tests", "golden")
arrays = {}


def put(key, t):
    # np.array keeps 0-d values 0-d (ascontiguousarray would make them 1-d).
    arrays[key] = np.array(t.detach().cpu().numpy(), dtype=np.float32, order="C")


def grads_of(case, module, x, forward, names):
    """Output, a random cotangent and the gradients of sum(out * cot) w.r.t. `names`
    (name -> (parameter tensor, function mapping torch layout to MLX layout))."""
    y = forward(x)
    cot = torch.randn_like(y)
    (y * cot).sum().backward()
    put(f"{case}.x", x)
    put(f"{case}.y", y)
    put(f"{case}.cot", cot)
    for name, (p, to_mlx) in names.items():
        put(f"{case}.param.{name}", to_mlx(p))
        put(f"{case}.grad.{name}", to_mlx(p.grad))


ident = lambda t: t
lin = torch.nn.Linear(5, 3)
grads_of("linear", lin, torch.randn(4, 5), lin, {"weight": (lin.weight, ident), "bias": (lin.bias, ident)})

# Conv2d: torch NCHW / [O, I, kh, kw] -> MLX NHWC / [O, kh, kw, I]
conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
xc = torch.randn(2, 7, 7, 4)
grads_of("conv2d", conv, xc, lambda x: conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1),
         {"weight": (conv.weight, lambda t: t.permute(0, 2, 3, 1)), "bias": (conv.bias, ident)})

ln = torch.nn.LayerNorm(6)
with torch.no_grad():
    ln.weight.normal_()
    ln.bias.normal_()
grads_of("layer_norm", ln, torch.randn(3, 6), ln, {"weight": (ln.weight, ident), "bias": (ln.bias, ident)})

# GroupNorm over channels-last input (rmx's pytorch_compatible grouping)
gn = torch.nn.GroupNorm(2, 6)
with torch.no_grad():
    gn.weight.normal_()
    gn.bias.normal_()
grads_of("group_norm", gn, torch.randn(2, 3, 4, 6), lambda x: gn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1),
         {"weight": (gn.weight, ident), "bias": (gn.bias, ident)})

bn = torch.nn.BatchNorm1d(4)
xb = torch.randn(8, 4) * 2
put("batch_norm.x", xb)
put("batch_norm.y_train", bn(xb))
put("batch_norm.running_mean", bn.running_mean)
put("batch_norm.running_var", bn.running_var)

# LSTM (gates i, f, g, o): MLX keeps one bias = b_ih + b_hh.
lstm = torch.nn.LSTM(3, 5, batch_first=True)
xl, h0 = torch.randn(2, 4, 3), torch.randn(1, 2, 5)
out, _ = lstm(xl, (h0, h0 * 0.5))
put("lstm.x", xl)
put("lstm.h0", h0[0])
put("lstm.hidden", out)
put("lstm.param.Wx", lstm.weight_ih_l0)
put("lstm.param.Wh", lstm.weight_hh_l0)
put("lstm.param.bias", lstm.bias_ih_l0 + lstm.bias_hh_l0)

# GRU (gates r, z, n): MLX's b = b_ih + [b_hr, b_hz, 0], bhn = b_hn.
gru = torch.nn.GRU(3, 5, batch_first=True)
xg = torch.randn(2, 4, 3)
out, _ = gru(xg, h0)
H = 5
b = gru.bias_ih_l0.clone()
b[: 2 * H] += gru.bias_hh_l0[: 2 * H]
put("gru.x", xg)
put("gru.h0", h0[0])
put("gru.hidden", out)
put("gru.param.Wx", gru.weight_ih_l0)
put("gru.param.Wh", gru.weight_hh_l0)
put("gru.param.b", b)
put("gru.param.bhn", gru.bias_hh_l0[2 * H:])

# Losses
logits, cls = torch.randn(4, 5), torch.tensor([0, 3, 4, 1])
p, t = torch.randn(3, 4), torch.randn(3, 4)
bt = (torch.rand(3, 4) > 0.5).double()
vars_ = t.abs() + 0.1
for k, v in {"logits": logits, "p": p, "t": t, "bt": bt, "vars": vars_}.items():
    put(f"loss.{k}", v)
arrays["loss.classes"] = cls.cpu().numpy().astype(np.int32)
put("loss.ce_smooth", F.cross_entropy(logits, cls, label_smoothing=0.1))
put("loss.bce_logits", F.binary_cross_entropy_with_logits(p, bt))
put("loss.smooth_l1", F.smooth_l1_loss(p, t, beta=0.5))
put("loss.huber", F.huber_loss(p, t, delta=0.7, reduction="none"))
put("loss.kl", F.kl_div(F.log_softmax(p, -1), F.log_softmax(t, -1), log_target=True, reduction="none").sum(-1))
put("loss.gauss_full", F.gaussian_nll_loss(p, t, vars_, full=True, reduction="sum"))
put("loss.margin", F.margin_ranking_loss(p[0], p[1], torch.sign(t[2]), margin=0.2, reduction="none"))

# Optimizers: 6 steps with gradients p * c + d on two parameters.
p0 = {"a": torch.randn(3, 2), "b": torch.randn(4)}
c = {k: torch.randn_like(v) for k, v in p0.items()}
d = {k: torch.randn_like(v) for k, v in p0.items()}
for k in p0:
    put(f"opt.{k}.p0", p0[k])
    put(f"opt.{k}.c", c[k])
    put(f"opt.{k}.d", d[k])
makers = {
    # No dampening: PyTorch skips it on the first step, MLX (rmx's authority) does not.
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.99, eps=1e-8),
    "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=1e-8),
    "adadelta": lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.9, eps=1e-6),
}
for name, make in makers.items():
    params = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
    opt = make(list(params.values()))
    for step in range(6):
        for k, v in params.items():
            v.grad = (v * c[k] + d[k]).detach()
        opt.step()
        for k, v in params.items():
            put(f"opt.{name}.{k}.{step}", v)

os.makedirs(OUT, exist_ok=True)
save_file(arrays, os.path.join(OUT, "torch.safetensors"))
print(f"torch {torch.__version__}: {len(arrays)} arrays -> {OUT}/torch.safetensors")
