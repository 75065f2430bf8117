"""KV-cache oracles for rmx-lm, produced by mlx-lm itself (pip `mlx[cpu]` + `mlx-lm`, here).

Uses the tiny qwen3 checkpoint of gen_lm_goldens.py (mlx-lm reproduces transformers' logits on
it; it reads only transformers 4 rope fields, so the llama/mistral fixtures written by
transformers 5 are off-limits). Writes to crates/rmx-lm/tests/caches/:
- qwen3_prefix11.safetensors      mlx-lm prompt cache (KVCache) of the first 11 prompt tokens
- qwen3_prefix11_rot8.safetensors the same with --max-kv-size 8 (RotatingKVCache, keep 4)
- expected.safetensors            greedy continuations of 32 tokens by mlx-lm:
    `from_prefix11`       last prompt token fed on top of qwen3_prefix11 (equals transformers'),
    `from_prefix11_rot8`  the same on the rotating cache (ring overwrites after the kept tokens),
    `rot16`               the whole 12-token prompt with --max-kv-size 16 (prompt fits: plain
                          causal prefill, then the ring wraps during decoding).
Run: pip install "mlx[cpu]" mlx-lm; python3 scripts/gen_lm_cache_goldens.py
"""
import os

import mlx.core as mx
import numpy as np
import safetensors.numpy as stn
from mlx_lm.generate import generate_step
from mlx_lm.models import cache as kv
from mlx_lm.utils import load_model

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "rmx-lm", "tests")
MODEL = os.path.join(ROOT, "models", "qwen3")
OUT = os.path.join(ROOT, "caches")
STEPS = 32


def greedy(model, tokens, cache):
    steps = generate_step(mx.array(tokens), model, max_tokens=STEPS, prompt_cache=cache)
    return np.array([int(t) for t, _ in steps], dtype=np.int32)


def main():
    os.makedirs(OUT, exist_ok=True)
    model, _ = load_model(__import__("pathlib").Path(MODEL))
    golden = stn.load_file(os.path.join(MODEL, "expected.safetensors"))
    prompt = golden["tokens"].astype(np.int32)
    expected = {}
    for name, max_kv in (("qwen3_prefix11", None), ("qwen3_prefix11_rot8", 8)):
        cache = kv.make_prompt_cache(model, max_kv_size=max_kv)
        # As mlx_lm.cache_prompt does: generate_step with no new tokens (all but the last
        # prompt token in one chunk, then the last one alone).
        for _ in generate_step(mx.array(prompt[:-1]), model, max_tokens=0, prompt_cache=cache):
            pass
        mx.eval([c.state for c in cache])
        kv.save_prompt_cache(os.path.join(OUT, name + ".safetensors"), cache, {"model": "qwen3", "tokens": "11"})
        key = name.replace("qwen3_", "from_")
        expected[key] = greedy(model, prompt[-1:], kv.load_prompt_cache(os.path.join(OUT, name + ".safetensors")))
    expected["rot16"] = greedy(model, prompt, kv.make_prompt_cache(model, max_kv_size=16))
    assert (expected["from_prefix11"] == golden["greedy"]).all(), "mlx-lm disagrees with transformers"
    stn.save_file(expected, os.path.join(OUT, "expected.safetensors"))
    for k, v in expected.items():
        print(k, v.tolist())


if __name__ == "__main__":
    main()
