"""rmx-lm against llama.cpp on this CPU, same model shape and quantization, same run.

Builds a Qwen3-0.6B-shaped model with random weights (speed does not depend on the values):
a Hugging Face directory in bfloat16 for rmx-lm (quantized to q8/q4, group size 64, with
`rmx-lm convert`: 8.5 and 4.5 bits per weight) and GGUF files for llama.cpp written with
gguf-py (BF16, Q8_0, Q4_0: 16, 8.5 and 4.5 bits per weight). Then, interleaving the two
engines run by run, measures prompt processing of 512 tokens and 128 decode steps with
`rmx-lm bench` and llama-cpp-python (both on all cores), and writes
target/bench/lm_cpu.json with rows {"case", "rmx_tok_s", "llamacpp_tok_s", "speedup"}
(median of the per-run ratios) plus the decode floor from the bytes read per token.

Run: pip install llama-cpp-python gguf numpy; scripts/bench.sh lm_cpu
(RUNS=N sets the interleaved runs, KINDS=q4,q8 a subset of the three formats, RMX_FLAGS extra
rmx-lm flags such as --int8-activations, RMX_GGUF=1 has rmx-lm read the same GGUF files.)
"""
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WORK = os.environ.get("LM_BENCH_DIR", os.path.join(ROOT, "target", "bench", "lm_cpu_models"))
RMX = os.path.join(ROOT, "target", "release", "rmx-lm")
SHAPE = dict(vocab=151936, hidden=1024, layers=28, heads=16, kv_heads=8, head_dim=128, intermediate=3072)
PROMPT, DECODE = 512, 128
RUNS = int(os.environ.get("RUNS", "2"))
KINDS = os.environ.get("KINDS", "q4,q8,bf16").split(",")
# Extra rmx-lm flags (e.g. RMX_FLAGS=--int8-activations), and RMX_GGUF=1 to have rmx-lm read
# the very GGUF file llama.cpp reads instead of the MLX-format directory.
RMX_FLAGS = os.environ.get("RMX_FLAGS", "").split()
RMX_GGUF = os.environ.get("RMX_GGUF", "") == "1"
THREADS = os.cpu_count()


def tensors():
    """(name in HF layout, name in GGUF, shape) for every weight of the model."""
    s = SHAPE
    h, q, kv, d, f = s["hidden"], s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"], s["head_dim"], s["intermediate"]
    yield "model.embed_tokens.weight", "token_embd.weight", (s["vocab"], h)
    yield "model.norm.weight", "output_norm.weight", (h,)
    for i in range(s["layers"]):
        p, g = f"model.layers.{i}.", f"blk.{i}."
        yield p + "input_layernorm.weight", g + "attn_norm.weight", (h,)
        yield p + "post_attention_layernorm.weight", g + "ffn_norm.weight", (h,)
        yield p + "self_attn.q_proj.weight", g + "attn_q.weight", (q, h)
        yield p + "self_attn.k_proj.weight", g + "attn_k.weight", (kv, h)
        yield p + "self_attn.v_proj.weight", g + "attn_v.weight", (kv, h)
        yield p + "self_attn.o_proj.weight", g + "attn_output.weight", (h, q)
        yield p + "self_attn.q_norm.weight", g + "attn_q_norm.weight", (d,)
        yield p + "self_attn.k_norm.weight", g + "attn_k_norm.weight", (d,)
        yield p + "mlp.gate_proj.weight", g + "ffn_gate.weight", (f, h)
        yield p + "mlp.up_proj.weight", g + "ffn_up.weight", (f, h)
        yield p + "mlp.down_proj.weight", g + "ffn_down.weight", (h, f)


def values(shape, seed):
    rng = np.random.default_rng(seed)
    if len(shape) == 1:
        return np.ones(shape, dtype=np.float32)
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)


def bf16_bytes(a):
    bits = a.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


def write_hf(folder):
    """config.json and a bfloat16 model.safetensors (written directly: NumPy has no bf16)."""
    s = SHAPE
    os.makedirs(folder, exist_ok=True)
    config = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": s["vocab"], "hidden_size": s["hidden"],
        "intermediate_size": s["intermediate"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
        "num_key_value_heads": s["kv_heads"], "head_dim": s["head_dim"], "max_position_embeddings": 40960, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "tie_word_embeddings": True, "hidden_act": "silu", "torch_dtype": "bfloat16",
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    header, offset, items = {}, 0, list(tensors())
    for hf, _, shape in items:
        n = int(np.prod(shape)) * 2
        header[hf] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for i, (_, _, shape) in enumerate(items):
            f.write(bf16_bytes(values(shape, i)))


def write_gguf(path, kind):
    import gguf

    s = SHAPE
    w = gguf.GGUFWriter(path, "qwen3")
    w.add_context_length(40960)
    w.add_embedding_length(s["hidden"])
    w.add_block_count(s["layers"])
    w.add_feed_forward_length(s["intermediate"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_key_length(s["head_dim"])
    w.add_value_length(s["head_dim"])
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type({"bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8": gguf.LlamaFileType.MOSTLY_Q8_0, "q4": gguf.LlamaFileType.MOSTLY_Q4_0}[kind])
    # llama.cpp takes the vocabulary size from the tokenizer: a SentencePiece-style list of
    # placeholder tokens (never used: the benchmark feeds token ids).
    n = s["vocab"]
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, n)])
    w.add_token_scores([0.0] * n)
    w.add_token_types([2, 3, 3] + [1] * (n - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    qtype = {"bf16": gguf.GGMLQuantizationType.BF16, "q8": gguf.GGMLQuantizationType.Q8_0, "q4": gguf.GGMLQuantizationType.Q4_0}[kind]
    for i, (_, name, shape) in enumerate(tensors()):
        a = values(shape, i)
        if len(shape) == 1:
            w.add_tensor(name, a)
        else:
            q = gguf.quants.quantize(a, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def prepare():
    hf = os.path.join(WORK, "bf16")
    if not os.path.exists(os.path.join(hf, "model.safetensors")):
        print("writing the bf16 Hugging Face model...", flush=True)
        write_hf(hf)
    for bits in (8, 4):
        out = os.path.join(WORK, f"q{bits}")
        if not os.path.exists(out):
            subprocess.run([RMX, "convert", "--model", hf, "--mlx-path", out, "-q", "--q-bits", str(bits), "--q-group-size", "64"], check=True)
    for kind in ("bf16", "q8", "q4"):
        path = os.path.join(WORK, f"{kind}.gguf")
        if not os.path.exists(path):
            print(f"writing {kind}.gguf...", flush=True)
            write_gguf(path, kind)


def run_rmx(kind):
    out = subprocess.run(
        [RMX, *RMX_FLAGS, "bench", "--model", os.path.join(WORK, f"{kind}.gguf" if RMX_GGUF else kind), "-p", str(PROMPT), "-g", str(DECODE), "-n", "1", "--json"],
        check=True, capture_output=True, text=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["prompt_tps"], r["generation_tps"]


def run_llamacpp(kind):
    from llama_cpp import Llama

    llm = Llama(os.path.join(WORK, f"{kind}.gguf"), n_ctx=PROMPT + DECODE + 8, n_batch=PROMPT, n_ubatch=PROMPT, n_threads=THREADS, n_threads_batch=THREADS, verbose=False)
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, SHAPE["vocab"], PROMPT).tolist()
    llm.eval(prompt[:8])  # warm-up, not counted
    llm.reset()
    t = time.perf_counter()
    llm.eval(prompt)
    prefill = PROMPT / (time.perf_counter() - t)
    t = time.perf_counter()
    # Each step feeds one token (which token does not matter for the time); llama.cpp
    # computes the last position's logits as rmx-lm does.
    for i in range(DECODE):
        llm.eval([prompt[i]])
    decode = DECODE / (time.perf_counter() - t)
    del llm
    return prefill, decode


def main():
    os.makedirs(WORK, exist_ok=True)
    prepare()
    ratios, speeds = {}, {}
    for run in range(RUNS):
        for kind in KINDS:
            a = run_rmx(kind)
            b = run_llamacpp(kind)
            for i, phase in enumerate(("prefill512", "decode128")):
                case = f"{kind}_{phase}"
                ratios.setdefault(case, []).append(a[i] / b[i])
                speeds.setdefault(case, []).append((a[i], b[i]))
                print(f"run {run} {case}: rmx {a[i]:.2f} tok/s, llama.cpp {b[i]:.2f} tok/s, ratio {a[i] / b[i]:.3f}", flush=True)
    params = sum(int(np.prod(s)) for _, _, s in tensors())
    bits = {"bf16": 16, "q8": 8.5, "q4": 4.5}
    rows = []
    for case, rs in ratios.items():
        kind = case.split("_")[0]
        row = {
            "case": case,
            "rmx_tok_s": float(np.median([x for x, _ in speeds[case]])),
            "llamacpp_tok_s": float(np.median([y for _, y in speeds[case]])),
            "speedup": float(np.median(rs)),
        }
        if case.endswith("decode128"):
            # Bytes per token: every weight but the embedding rows is read (the tied head reads the table once).
            row["bytes_per_token"] = int(params * bits[kind] / 8)
        rows.append(row)
    out = os.path.join(ROOT, "target", "bench", "lm_cpu.json")
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
