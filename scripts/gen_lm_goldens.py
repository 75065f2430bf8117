"""Tiny random checkpoints of every rmx-lm architecture and their transformers outputs.

For each architecture this builds a small random model with transformers, saves it in Hugging
Face layout (config.json, generation_config.json, model.safetensors in float32), runs it in
float64 on the GPU (CPU autograd is not needed; float64 makes the oracle exact to well below
rmx's float32 error) and writes, per model, `expected.safetensors` with
- `tokens`  [T] int32: the fixed prompt,
- `logits`  [T, vocab] float32: the logits of every prompt position,
- `greedy`  [32] int32: transformers' greedy continuation of the prompt (no EOS stop).

Run where torch and transformers are installed (e.g. the GPU machine):
    python3 scripts/gen_lm_goldens.py OUT_DIR
then copy OUT_DIR/<arch>/ to crates/rmx-lm/tests/models/<arch>/. For the quantized
checkpoints see gen_lm_quant_goldens.py (`--from DIR` mode).
"""
import json
import os
import sys
import zlib

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file

OUT = sys.argv[1] if len(sys.argv) > 1 else "lm_goldens"
# `--from DIR`: instead of building random models, run every checkpoint folder under DIR
# (the dequantized models of gen_lm_quant_goldens.py) and write OUT/<folder>/expected.safetensors.
FROM = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--from" else None
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
VOCAB = 256
PROMPT = [1, 17, 42, 99, 3, 250, 7, 128, 64, 5, 200, 33]
GREEDY = 32

# Cases added after the first golden set draw their weights from a seed of their own name (the
# others from one sequence seeded with 0, in list order), so each regenerates alone (ONLY=name).
SEEDED_BY_NAME = {"phi3_longrope", "qwen3_yarn"}

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=2,
)


def cases():
    t = transformers
    yield "llama", t.LlamaConfig, t.LlamaForCausalLM, dict(
        COMMON,
        rope_theta=10000.0,
        # llama3 scaling with a short original context, so that it changes the frequencies.
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
    )
    yield "llama_tied", t.LlamaConfig, t.LlamaForCausalLM, dict(
        COMMON, tie_word_embeddings=True, rope_theta=500000.0, rope_scaling={"rope_type": "linear", "factor": 2.0}
    )
    yield "mistral", t.MistralConfig, t.MistralForCausalLM, dict(COMMON, rope_theta=1e6, sliding_window=None, head_dim=16)
    yield "qwen2", t.Qwen2Config, t.Qwen2ForCausalLM, dict(COMMON, rope_theta=1e6, tie_word_embeddings=True)
    yield "qwen3", t.Qwen3Config, t.Qwen3ForCausalLM, dict(COMMON, rope_theta=1e6, head_dim=32, tie_word_embeddings=True)
    yield "qwen3_moe", t.Qwen3MoeConfig, t.Qwen3MoeForCausalLM, dict(
        COMMON,
        rope_theta=1e6,
        head_dim=32,
        num_experts=4,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        norm_topk_prob=True,
        decoder_sparse_step=1,
        mlp_only_layers=[],
    )
    yield "phi3", t.Phi3Config, t.Phi3ForCausalLM, dict(COMMON, rope_theta=10000.0, pad_token_id=0)
    # Phi-3.5's long-context rotary embedding: short factors while the sequence fits the
    # original context (16 here, so the 12-token prompt's logits use them), long factors once
    # the greedy continuation passes it, and the attention factor sqrt(1 + ln(256/16)/ln(16)).
    yield "phi3_longrope", t.Phi3Config, t.Phi3ForCausalLM, dict(
        COMMON,
        pad_token_id=0,
        original_max_position_embeddings=16,
        rope_parameters={
            "rope_type": "longrope",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 0.5,
            "short_factor": [1.0, 1.3, 2.1, 3.7],
            "long_factor": [1.5, 4.0, 9.0, 17.0],
        },
    )
    # YaRN as Qwen3 documents it for long contexts; max_position_embeddings / original (8) differs
    # from `factor` (4) on purpose: the golden pins which one transformers uses.
    yield "qwen3_yarn", t.Qwen3Config, t.Qwen3ForCausalLM, dict(
        COMMON,
        head_dim=32,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0, "original_max_position_embeddings": 32},
    )
    yield "gemma3_text", t.Gemma3TextConfig, t.Gemma3ForCausalLM, dict(
        COMMON,
        head_dim=16,
        rope_theta=1e6,
        rope_local_base_freq=10000.0,
        query_pre_attn_scalar=16,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention"],
        hidden_activation="gelu_pytorch_tanh",
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        tie_word_embeddings=True,
        rms_norm_eps=1e-6,
        pad_token_id=0,
    )


def expected(model, folder, name):
    """Logits of PROMPT and the greedy continuation, in float64 (float32 for MoE)."""
    # Grouped expert matmuls (MoE) have no float64 kernel: those run in float32
    # without TF32.
    torch.backends.cuda.matmul.allow_tf32 = False
    m = model.to(DEVICE)
    m = m.float() if "moe" in name else m.double()
    ids = torch.tensor([PROMPT], device=DEVICE)
    with torch.no_grad():
        logits = m(ids).logits[0]
        if "longrope" in name:
            out = greedy_without_cache(m, ids)
        else:
            # No EOS: the continuation always has GREEDY tokens (min_new_tokens would
            # instead mask the EOS logit and change the argmax).
            m.generation_config.eos_token_id = None
            out = m.generate(ids, max_new_tokens=GREEDY, do_sample=False, pad_token_id=0)[0, len(PROMPT):]
    os.makedirs(folder, exist_ok=True)
    save_file(
        {
            "tokens": np.array(PROMPT, dtype=np.int32),
            "logits": logits.float().cpu().numpy(),
            "greedy": out.cpu().numpy().astype(np.int32),
        },
        os.path.join(folder, "expected.safetensors"),
    )
    return out


def greedy_without_cache(m, ids):
    """Greedy decoding that reruns the whole sequence each step.

    LongRoPE rotates every position with the long factors once the sequence is longer than
    the original context, so crossing it invalidates the cached keys. transformers 5.17's
    Phi-3 `generate` drops its cache at that step but then feeds only the last token, which
    loses the context before it; rerunning the full sequence is the definition of the model
    that its cache-dropping intends (and what rmx-lm computes by recomputing once).
    """
    seq = ids
    for _ in range(GREEDY):
        nxt = m(seq).logits[0, -1].argmax().view(1, 1)
        seq = torch.cat([seq, nxt], dim=1)
    return seq[0, len(PROMPT):]


def from_checkpoints():
    for name in sorted(os.listdir(FROM)):
        model = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(FROM, name), dtype=torch.float32).eval()
        out = expected(model, os.path.join(OUT, name), name)
        print(f"OK {name}: greedy {out.tolist()[:8]}...")


def main():
    torch.manual_seed(0)
    if FROM:
        return from_checkpoints()
    print("transformers", transformers.__version__, "torch", torch.__version__, "device", DEVICE)
    only = os.environ.get("ONLY")
    for name, config_class, model_class, kwargs in cases():
        if only and name not in only.split(","):
            continue
        if name in SEEDED_BY_NAME:
            torch.manual_seed(zlib.crc32(name.encode()))
        try:
            config = config_class(**kwargs)
            if hasattr(config, "_attn_implementation"):
                config._attn_implementation = "eager"
            model = model_class(config).float().eval()
            # Larger-than-default weights give logits that are far from ties, so greedy
            # decoding is a sharp test.
            with torch.no_grad():
                for p in model.parameters():
                    if p.ndim >= 2:
                        p.normal_(0.0, 0.08)
            folder = os.path.join(OUT, name)
            model.save_pretrained(folder, safe_serialization=True)
            out = expected(model, folder, name)
            with open(os.path.join(folder, "config.json")) as f:
                keys = sorted(json.load(f).keys())
            from safetensors import safe_open

            with safe_open(os.path.join(folder, "model.safetensors"), "np") as f:
                tensors = sorted(f.keys())
            print(f"OK {name}: greedy {out.tolist()[:8]}... config keys {len(keys)} tensors {len(tensors)}")
            print("   ", [t for t in tensors if "layers.0." in t or "layers" not in t][:24])
        except Exception as e:  # one failing architecture must not hide the others
            print(f"FAIL {name}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
