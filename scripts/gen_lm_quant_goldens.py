"""Quantized checkpoints for rmx-lm's oracle tests, made by MLX itself (pip mlx, CPU).

Step 1 (here, where `mlx` is installed):
    python3 scripts/gen_lm_quant_goldens.py quantize DEQUANT_DIR
reads the tiny float32 checkpoints written by gen_lm_goldens.py and writes
- crates/rmx-lm/tests/models/llama_q4/      llama, q4 with group size 64 (MLX format:
  packed `weight`, `scales`, `biases`, `quantization` in config.json)
- crates/rmx-lm/tests/models/qwen3_moe_q4/  qwen3_moe, q4 with group size 32, experts
  stacked as `mlp.switch_mlp.*` the way mlx-lm stores them
and, under DEQUANT_DIR, the same models with the dequantized weights in Hugging Face layout.

Step 2 (where torch and transformers are installed, e.g. the GPU machine):
    python3 scripts/gen_lm_goldens.py OUT --from DEQUANT_DIR
writes `expected.safetensors` for each dequantized model (copy them into the MLX-format
folders): the quantized checkpoint must reproduce the logits of its dequantized weights.
"""
import json
import os
import shutil
import sys

import mlx.core as mx
import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..", "crates", "rmx-lm", "tests", "models")
CASES = {"llama_q4": ("llama", 64), "qwen3_moe_q4": ("qwen3_moe", 32)}
QUANTIZED = ("proj.weight", "embed_tokens.weight", "lm_head.weight")


def stack_experts(weights):
    """HF per-expert tensors → MLX's stacked `switch_mlp` tensors."""
    out, groups = {}, {}
    for k, v in weights.items():
        if ".mlp.experts." in k:
            prefix, rest = k.split(".mlp.experts.")
            e, tail = rest.split(".", 1)
            groups.setdefault(f"{prefix}.mlp.switch_mlp.{tail}", {})[int(e)] = v
        else:
            out[k] = v
    for k, experts in groups.items():
        out[k] = mx.stack([experts[i] for i in range(len(experts))])
    return out


def unstack_experts(weights):
    out = {}
    for k, v in weights.items():
        if ".mlp.switch_mlp." in k:
            prefix, tail = k.split(".mlp.switch_mlp.")
            for e in range(v.shape[0]):
                out[f"{prefix}.mlp.experts.{e}.{tail}"] = v[e]
        else:
            out[k] = v
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "quantize":
        sys.exit(__doc__)
    dequant_root = sys.argv[2]
    for name, (source, group_size) in CASES.items():
        src = os.path.join(ROOT, source)
        weights = stack_experts(mx.load(os.path.join(src, "model.safetensors")))
        packed, dequantized = {}, {}
        for k, w in weights.items():
            if k.endswith(QUANTIZED) and w.ndim >= 2 and w.shape[-1] % group_size == 0 and not k.endswith("mlp.gate.weight"):
                q, scales, biases = mx.quantize(w, group_size=group_size, bits=4)
                base = k[: -len(".weight")]
                packed[k], packed[base + ".scales"], packed[base + ".biases"] = q, scales, biases
                dequantized[k] = mx.dequantize(q, scales, biases, group_size=group_size, bits=4)
            else:
                packed[k] = w
                dequantized[k] = w
        with open(os.path.join(src, "config.json")) as f:
            config = json.load(f)
        q_config = dict(config, quantization={"group_size": group_size, "bits": 4, "mode": "affine"})
        dst = os.path.join(ROOT, name)
        os.makedirs(dst, exist_ok=True)
        mx.save_safetensors(os.path.join(dst, "model.safetensors"), packed, metadata={"format": "mlx"})
        with open(os.path.join(dst, "config.json"), "w") as f:
            json.dump(q_config, f, indent=2)
        deq = os.path.join(dequant_root, name)
        os.makedirs(deq, exist_ok=True)
        mx.save_safetensors(os.path.join(deq, "model.safetensors"), unstack_experts(dequantized), metadata={"format": "pt"})
        for f in ("config.json", "generation_config.json"):
            shutil.copy(os.path.join(src, f), os.path.join(deq, f))
        print(f"{name}: {sum(k.endswith('.scales') for k in packed)} quantized tensors -> {dst}, dequantized -> {deq}")


if __name__ == "__main__":
    main()
