"""Golden data for rmx-nn from MLX (`pip install "mlx[cpu]"`), the authority for mlx.nn's
semantics: layer outputs and parameter gradients for fixed weights and inputs, the 14
losses, optimizer trajectories and learning-rate schedules. Writes
crates/rmx-nn/tests/golden/nn.safetensors (arrays named `<case>.<role>`); the tests know
each case's arguments.

Run: python3 scripts/gen_nn_goldens.py
"""
import os

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "rmx-nn", "tests", "golden")
rng = np.random.default_rng(42)
# Layer initializers draw from MLX's generator: seeded too, so the file regenerates identically.
mx.random.seed(42)
arrays = {}


def rnd(*shape, scale=1.0):
    return mx.array((rng.standard_normal(shape) * scale).astype(np.float32))


def put(case, **named):
    for role, a in named.items():
        arrays[f"{case}.{role}"] = a


def layer_case(case, module, x, extra_inputs=()):
    """Output for x, and gradients of sum(out * cot) w.r.t. every trainable parameter."""
    module.eval() if hasattr(module, "eval") else None
    y = module(x, *extra_inputs)
    cot = rnd(*y.shape)

    def loss(m):
        return (m(x, *extra_inputs) * cot).sum()

    _, grads = nn.value_and_grad(module, loss)(module)
    put(case, x=x, y=y, cot=cot)
    for name, p in tree_flatten(module.parameters()):
        arrays[f"{case}.param.{name}"] = p
    for name, g in tree_flatten(grads):
        arrays[f"{case}.grad.{name}"] = g


# Layers
layer_case("linear", nn.Linear(5, 3), rnd(4, 5))
layer_case("linear_nobias", nn.Linear(5, 3, bias=False), rnd(2, 4, 5))
bil = nn.Bilinear(3, 4, 2)
x2 = rnd(5, 4)
put("bilinear", x2=x2)
layer_case("bilinear", bil, rnd(5, 3), (x2,))
emb = nn.Embedding(10, 4)
ids = mx.array(np.array([[1, 7, 7], [0, 9, 3]], dtype=np.int32))
put("embedding", ids=ids, y=emb(ids), h=rnd(2, 4), param_weight=emb.weight)
arrays["embedding.as_linear"] = emb.as_linear(arrays["embedding.h"])
layer_case("rms_norm", nn.RMSNorm(6, eps=1e-5), rnd(3, 6))
ln = nn.LayerNorm(6, eps=1e-5)
ln.weight = rnd(6)
ln.bias = rnd(6)
layer_case("layer_norm", ln, rnd(3, 6))
gn = nn.GroupNorm(2, 6)
gn.weight, gn.bias = rnd(6), rnd(6)
layer_case("group_norm", gn, rnd(2, 3, 4, 6))
gnp = nn.GroupNorm(2, 6, pytorch_compatible=True)
gnp.weight, gnp.bias = rnd(6), rnd(6)
layer_case("group_norm_pt", gnp, rnd(2, 3, 4, 6))
inorm = nn.InstanceNorm(6, affine=True)
inorm.weight, inorm.bias = rnd(6), rnd(6)
layer_case("instance_norm", inorm, rnd(2, 3, 4, 6))
bn = nn.BatchNorm(4)
bn.weight, bn.bias = rnd(4), rnd(4)
bx = rnd(8, 4, scale=2.0)
bn.train()
put("batch_norm", x=bx, y_train=bn(bx))
put("batch_norm", running_mean=bn.running_mean, running_var=bn.running_var)
bn.eval()
put("batch_norm", y_eval=bn(bx), weight=bn.weight, bias=bn.bias)
layer_case("conv1d", nn.Conv1d(3, 4, 3, stride=2, padding=1), rnd(2, 9, 3))
layer_case("conv2d", nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2), rnd(2, 5, 5, 4))
layer_case("conv_transpose2d", nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), rnd(1, 4, 4, 3))
rope = nn.RoPE(8, traditional=False, base=10000)
rx = rnd(1, 2, 5, 8)
put("rope", x=rx, y=rope(rx, offset=3))
rtr = nn.RoPE(6, traditional=True, base=500)
put("rope_traditional", x=rx, y=rtr(rx, offset=0))
sin = nn.SinusoidalPositionalEncoding(8)
pos = mx.arange(5)
put("sinusoidal", positions=pos, y=sin(pos))
prelu = nn.PReLU(1, init=0.25)
layer_case("prelu", prelu, rnd(3, 4))

# Pooling
put("max_pool2d", x=rnd(2, 5, 6, 3))
arrays["max_pool2d.y"] = nn.MaxPool2d(kernel_size=2, stride=2, padding=1)(arrays["max_pool2d.x"])
put("avg_pool1d", x=rnd(2, 7, 3))
arrays["avg_pool1d.y"] = nn.AvgPool1d(kernel_size=3, stride=2, padding=1)(arrays["avg_pool1d.x"])
put("max_pool3d", x=rnd(1, 4, 4, 4, 2))
arrays["max_pool3d.y"] = nn.MaxPool3d(kernel_size=2, stride=1)(arrays["max_pool3d.x"])

# Attention and transformer layers (additive causal masks)
mask5 = nn.MultiHeadAttention.create_additive_causal_mask(5)
kv = rnd(2, 5, 8)
put("mha", keys=kv, mask=mask5)
layer_case("mha", nn.MultiHeadAttention(8, 2), rnd(2, 5, 8), (kv, kv, mask5))
put("encoder_layer", mask=mask5)
layer_case("encoder_layer", nn.TransformerEncoderLayer(8, 2, mlp_dims=16), rnd(2, 5, 8), (mask5,))
memory = rnd(2, 4, 8)
put("decoder", memory=memory, mask=mask5)
layer_case("decoder", nn.TransformerDecoder(2, 8, 2, mlp_dims=16, norm_first=False), rnd(2, 5, 8), (memory, mask5, None))

# Recurrent layers (hidden state given for the RNN and LSTM, absent for the GRU)
h0 = rnd(2, 5)
put("rnn", h0=h0)
layer_case("rnn", nn.RNN(3, 5), rnd(2, 4, 3), (h0,))
layer_case("gru", nn.GRU(3, 5), rnd(2, 4, 3))
lstm = nn.LSTM(3, 5)
lx = rnd(2, 4, 3)
lh, lc = lstm(lx, hidden=h0, cell=h0 * 0.5)
put("lstm", x=lx, h0=h0, hidden=lh, cell=lc)
for name, p in tree_flatten(lstm.parameters()):
    arrays[f"lstm.param.{name}"] = p

# Upsampling
ux = rnd(1, 3, 4, 2)
put("upsample", x=ux)
ups = {
    "nearest_2": nn.Upsample(2.0, "nearest"), "nearest_1_5": nn.Upsample((1.5, 2.5), "nearest"),
    "linear": nn.Upsample(2.0, "linear"), "linear_align": nn.Upsample((1.5, 2.0), "linear", align_corners=True),
    "cubic": nn.Upsample(2.0, "cubic"), "cubic_align": nn.Upsample(2.0, "cubic", align_corners=True),
    "linear_aa_down": nn.Upsample(0.5, "linear", antialias=True), "cubic_aa": nn.Upsample((0.75, 1.5), "cubic", antialias=True),
}
for name, up in ups.items():
    arrays[f"upsample.{name}"] = up(ux)

# ALiBi
scores = rnd(1, 4, 3, 5)
put("alibi", scores=scores, y=nn.ALiBi()(scores, offset=2))

# Quantized linear: weights and output.
ql_base = nn.Linear(128, 16)
ql = nn.QuantizedLinear.from_linear(ql_base, group_size=64, bits=4)
qx = rnd(3, 128)
put("quantized_linear", x=qx, weight_f32=ql_base.weight, bias=ql_base.bias, y=ql(qx),
    qweight=ql.weight, scales=ql.scales, biases=ql.biases)

# Quantized embedding (MLX's QuantizedEmbedding): packed table, lookup and tied head.
qe_base = nn.Embedding(10, 64)
qe = nn.QuantizedEmbedding.from_embedding(qe_base, group_size=32, bits=8)
qids = mx.array(np.array([[3, 9], [0, 3]], dtype=np.int32))
qh = rnd(2, 64)
put("quantized_embedding", weight_f32=qe_base.weight, ids=qids, h=qh, y=qe(qids), as_linear=qe.as_linear(qh),
    qweight=qe.weight, scales=qe.scales, biases=qe.biases)

# Activations
ax = mx.array(np.linspace(-4, 4, 33).astype(np.float32))
acts = {
    "relu": nn.relu, "relu2": nn.relu2, "relu6": nn.relu6, "leaky_relu": lambda x: nn.leaky_relu(x, 0.01),
    "elu": lambda x: nn.elu(x, 1.0), "celu": lambda x: nn.celu(x, 1.3), "selu": nn.selu, "sigmoid": nn.sigmoid,
    "log_sigmoid": nn.log_sigmoid, "softplus": nn.softplus, "softsign": nn.softsign,
    "softshrink": lambda x: nn.softshrink(x, 0.5), "hard_shrink": lambda x: nn.hard_shrink(x, 0.5),
    "hard_tanh": lambda x: nn.hard_tanh(x, -1.0, 1.0), "silu": nn.silu, "mish": nn.mish, "hardswish": nn.hardswish,
    "gelu": nn.gelu, "gelu_approx": nn.gelu_approx, "gelu_fast_approx": nn.gelu_fast_approx,
    "step": lambda x: nn.step(x, 0.0), "tanh": nn.tanh,
}
arrays["act.x"] = ax
for name, f in acts.items():
    arrays[f"act.{name}"] = f(ax)
am = rnd(3, 8)
arrays["act.x2"] = am
arrays["act.glu"] = nn.glu(am, -1)
arrays["act.softmax"] = nn.softmax(am, -1)
arrays["act.softmin"] = nn.softmin(am, -1)
arrays["act.log_softmax"] = nn.log_softmax(am, -1)

# Losses
L = nn.losses
logits = rnd(4, 5)
cls = mx.array(np.array([0, 3, 4, 1], dtype=np.int32))
probs = mx.softmax(rnd(4, 5), axis=-1)
w = mx.abs(rnd(4))
put("loss", logits=logits, classes=cls, probs=probs, weights=w)
put("loss", ce_none=L.cross_entropy(logits, cls), ce_mean_smooth=L.cross_entropy(logits, cls, label_smoothing=0.1, reduction="mean"),
    ce_probs_sum=L.cross_entropy(logits, probs, reduction="sum"), ce_weighted=L.cross_entropy(logits, cls, weights=w, reduction="mean"))
p = rnd(3, 4)
t = rnd(3, 4)
bt = mx.array((rng.random((3, 4)) > 0.5).astype(np.float32))
sig = mx.sigmoid(p)
put("loss", p=p, t=t, bt=bt)
put("loss", bce_logits=L.binary_cross_entropy(p, bt), bce_probs_sum=L.binary_cross_entropy(sig, bt, with_logits=False, reduction="sum"),
    l1=L.l1_loss(p, t), mse_sum=L.mse_loss(p, t, reduction="sum"), nll=L.nll_loss(nn.log_softmax(logits), cls),
    gauss=L.gaussian_nll_loss(p, t, mx.abs(t) + 0.1), gauss_full=L.gaussian_nll_loss(p, t, mx.abs(t) + 0.1, full=True, reduction="sum"),
    kl=L.kl_div_loss(nn.log_softmax(p), nn.log_softmax(t)), smooth_l1=L.smooth_l1_loss(p, t, beta=0.5),
    hinge=L.hinge_loss(p, mx.sign(t)), huber=L.huber_loss(p, t, delta=0.7), log_cosh=L.log_cosh_loss(p, t),
    cosine=L.cosine_similarity_loss(p, t), margin=L.margin_ranking_loss(p[0], p[1], mx.sign(t[2]), margin=0.2))
neg = rnd(3, 4)
put("loss", neg=neg, triplet=L.triplet_loss(p, t, neg, margin=0.5, reduction="mean"))

# Optimizers: 6 steps on two parameters with gradients g = p * c + d.
p0 = {"a": rnd(3, 2), "b": rnd(4)}
c = {"a": rnd(3, 2), "b": rnd(4)}
d = {"a": rnd(3, 2), "b": rnd(4)}
for k in p0:
    put(f"opt.{k}", p0=p0[k], c=c[k], d=d[k])
opts = {
    "sgd": lambda: optim.SGD(0.1),
    "sgd_momentum": lambda: optim.SGD(0.1, momentum=0.9, weight_decay=0.01, dampening=0.1),
    "sgd_nesterov": lambda: optim.SGD(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optim.RMSprop(0.01),
    "adagrad": lambda: optim.Adagrad(0.1),
    "adadelta": lambda: optim.AdaDelta(1.0),
    "adam": lambda: optim.Adam(0.01),
    "adam_bc": lambda: optim.Adam(0.01, bias_correction=True),
    "adamw": lambda: optim.AdamW(0.01, weight_decay=0.1),
    "adamax": lambda: optim.Adamax(0.01),
    "lion": lambda: optim.Lion(0.01, weight_decay=0.1),
    "sgd_cosine": lambda: optim.SGD(optim.cosine_decay(0.1, 4, 0.01)),
    "adafactor": lambda: optim.Adafactor(),
    "adafactor_b1": lambda: optim.Adafactor(learning_rate=0.01, relative_step=False, beta_1=0.9, weight_decay=0.1),
    "muon": lambda: optim.Muon(0.02),
    "multi": lambda: optim.MultiOptimizer([optim.SGD(0.1), optim.Adam(0.01)], [lambda name, w: name == "b"]),
}
for name, make in opts.items():
    o = make()
    params = dict(p0)
    for step in range(6):
        grads = {k: params[k] * c[k] + d[k] for k in params}
        params = o.apply_gradients(grads, params)
        mx.eval(params)
        for k in params:
            arrays[f"opt.{name}.{k}.{step}"] = params[k]

# Schedules at steps 0..11
steps = list(range(12))
sched = {
    "exponential": optim.exponential_decay(0.1, 0.9),
    "step": optim.step_decay(0.1, 0.5, 3),
    "cosine": optim.cosine_decay(0.1, 8, 0.01),
    "linear": optim.linear_schedule(0.0, 0.1, 5),
    "join": optim.join_schedules([optim.linear_schedule(0.0, 0.1, 4), optim.cosine_decay(0.1, 5)], [4]),
}
for name, s in sched.items():
    arrays[f"sched.{name}"] = mx.array([float(s(mx.array(i))) for i in steps], dtype=mx.float32)

# Quantized linear in the floating-point modes (added last, so the earlier cases keep their
# random draws): packed weights, uint8 scales, no biases.
for mode in ["mxfp4", "mxfp8", "nvfp4"]:
    fp_base = nn.Linear(64, 8)
    fp = nn.QuantizedLinear.from_linear(fp_base, mode=mode)
    fx = rnd(2, 64)
    put(f"quantized_linear_{mode}", x=fx, weight_f32=fp_base.weight, bias=fp_base.bias, y=fp(fx), qweight=fp.weight, scales=fp.scales)

# QQLinear (input quantized too) in evaluation mode: packed weight and one row of x (MLX's
# CPU qqmm takes one row).
for mode in ["nvfp4", "mxfp8"]:
    qq_base = nn.Linear(64, 8, bias=False)
    qq = nn.QQLinear.from_linear(qq_base, mode=mode)
    qq.eval()
    qqx = rnd(1, 64)
    put(f"qq_linear_{mode}", x=qqx, weight_f32=qq_base.weight, y=qq(qqx), qweight=qq.weight, scales=qq.scales)

os.makedirs(OUT, exist_ok=True)
mx.save_safetensors(os.path.join(OUT, "nn.safetensors"), {k: mx.array(v) for k, v in arrays.items()})
print(f"{OUT}/nn.safetensors: {len(arrays)} arrays")
