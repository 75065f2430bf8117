"""Quantized KV cache goldens for rmx-lm, from MLX (mlx-lm is the authority for `--kv-bits`).

Loads the tiny qwen3 checkpoint of crates/rmx-lm/tests/models/qwen3 with mlx-lm and runs
mlx-lm's own greedy `generate_step` with `kv_bits` (group size 32, since the head size is 32)
and prefill chunks of 4 tokens: after every model call, each cache whose offset reached
`quantized_kv_start` becomes a QuantizedKVCache, and attention over it runs through
`quantized_scaled_dot_product_attention`. For each setting it writes
crates/rmx-lm/tests/caches/qwen3_kv<bits>_start<start>.safetensors with
- `tokens` [T] int32 (the prompt), `greedy` [N] int32 (the generated tokens),
- `logprobs` [N, vocab] float32 (the log-probabilities each token was chosen from).

Run: pip install "mlx[cpu]==0.32.*" "mlx-lm==0.32.*"; python3 scripts/gen_lm_kv_quant_goldens.py
"""
import os
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx_lm.generate import generate_step
from mlx_lm.utils import load_model
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "crates" / "rmx-lm" / "tests" / "models" / "qwen3"
OUT = ROOT / "crates" / "rmx-lm" / "tests" / "caches"
PROMPT = [1, 17, 42, 99, 3, 250, 7, 128, 64, 5, 200, 33]
STEPS = 16
GROUP = 32
PREFILL_STEP = 4  # several prefill chunks, so the cache converts part-way through the prompt


def run(model, bits, start):
    steps = generate_step(
        mx.array(PROMPT), model, max_tokens=STEPS, kv_bits=bits, kv_group_size=GROUP, quantized_kv_start=start, prefill_step_size=PREFILL_STEP
    )
    tokens, rows = [], []
    for token, logprobs in steps:
        tokens.append(int(token))
        rows.append(np.array(logprobs.astype(mx.float32)))
    return {"tokens": np.array(PROMPT, np.int32), "greedy": np.array(tokens, np.int32), "logprobs": np.stack(rows)}


if __name__ == "__main__":
    model, _ = load_model(MODEL)
    for bits, start in [(8, 0), (4, 0), (4, 16)]:
        path = OUT / f"qwen3_kv{bits}_start{start}.safetensors"
        save_file(run(model, bits, start), str(path))
        print(path.name)
