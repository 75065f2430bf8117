"""GGUF checkpoints and tokenizer for rmx-lm's GGUF loader, written the way llama.cpp writes them.

Two steps, on two machines:

1. Here (numpy + PyPI's `gguf`, llama.cpp's own gguf-py):
       python3 scripts/gen_lm_gguf_goldens.py write
   converts the tiny Hugging Face checkpoints of crates/rmx-lm/tests/models/ (built by
   gen_lm_goldens.py) with llama.cpp's conventions (tensor names, metadata keys, the Q/K row
   permutation of `llama`, `rope_freqs` for llama3 scaling) into
   crates/rmx-lm/tests/models/gguf/<name>.gguf, in F32 and in Q8_0 / Q4_0 (gguf-py's quantizer);
   and writes the byte-level BPE tokenizer of tests/tokenizers/bytelevel_chatml as a
   vocabulary-only GGUF (`vocab.gguf`, architecture qwen2) and the SentencePiece-style one of
   tests/tokenizers/metaspace_llama2 as a llama.cpp `llama` vocabulary (`vocab_spm.gguf`:
   tokens, scores, types), each with `<name>_expected.json`: what transformers' GGUF tokenizer
   converter (`AutoTokenizer.from_pretrained(gguf_file=...)`) encodes for the tokenizer
   goldens' texts.
2. Where torch, transformers and gguf are installed (the GPU machine; gguf-py is pure Python,
   put it on PYTHONPATH):
       python3 scripts/gen_lm_gguf_goldens.py expect DIR
   loads every model GGUF with transformers' own GGUF loader (`gguf_file=`, which dequantizes
   and undoes the permutation independently of rmx) and writes DIR/<name>.safetensors with the
   prompt logits and the greedy continuation (same prompt as gen_lm_goldens.py); copy them to
   crates/rmx-lm/tests/models/gguf/expected/. transformers ignores `rope_freqs` and the LongRoPE
   factors, so the llama3 and phi3_longrope checkpoints are instead checked against the Hugging
   Face models' own goldens.
"""
import json
import math
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODELS = os.path.join(ROOT, "crates", "rmx-lm", "tests", "models")
OUT = os.path.join(MODELS, "gguf")
TOKENIZER = os.path.join(ROOT, "crates", "rmx-lm", "tests", "tokenizers", "bytelevel_chatml")
PROMPT = [1, 17, 42, 99, 3, 250, 7, 128, 64, 5, 200, 33]
GREEDY = 32

# (GGUF file, source checkpoint, llama.cpp architecture, weight type)
CASES = [
    ("llama3_f32", "llama", "llama", "F32"),
    ("mistral_f32", "mistral", "llama", "F32"),
    ("mistral_q8_0", "mistral", "llama", "Q8_0"),
    ("mistral_q4_0", "mistral", "llama", "Q4_0"),
    ("qwen2_f32", "qwen2", "qwen2", "F32"),
    ("qwen3_q4_0", "qwen3", "qwen3", "Q4_0"),
    ("qwen3_moe_q8_0", "qwen3_moe", "qwen3moe", "Q8_0"),
    ("phi3_q8_0", "phi3", "phi3", "Q8_0"),
    ("phi3_longrope_f32", "phi3_longrope", "phi3", "F32"),
]

LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "mlp.gate": "ffn_gate_inp",
    # phi3's fused projections.
    "self_attn.qkv_proj": "attn_qkv",
    "mlp.gate_up_proj": "ffn_up",
}

# Per-expert projections, stacked by llama.cpp into one [experts, out, in] tensor each.
EXPERT_NAMES = {"gate_proj": "ffn_gate_exps", "up_proj": "ffn_up_exps", "down_proj": "ffn_down_exps"}


def stack_experts(tensors):
    """`mlp.experts.E.<proj>.weight` tensors stacked over E, as llama.cpp's converter writes them."""
    out, experts = {}, {}
    for name, t in tensors.items():
        parts = name.split(".")
        if "experts" in parts:
            i = parts.index("experts")
            key = f"blk.{parts[2]}.{EXPERT_NAMES[parts[i + 2]]}.weight"
            experts.setdefault(key, {})[int(parts[i + 1])] = t
        else:
            out[name] = t
    stacked = {k: np.stack([v[e] for e in sorted(v)]) for k, v in experts.items()}
    return out, stacked


def gguf_name(hf):
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if hf in top:
        return top[hf]
    parts = hf.split(".")
    assert parts[:2] == ["model", "layers"], hf
    module, leaf = ".".join(parts[3:-1]), parts[-1]
    return f"blk.{parts[2]}.{LAYER_NAMES[module]}.{leaf}"


def permute(w, n_head, n_head_kv):
    """llama.cpp's convert_hf_to_gguf row permutation of q/k (halves pairing -> interleaved)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(cfg, head_dim):
    """llama.cpp's `rope_freqs` for llama3 scaling: per-pair divisors of the frequencies."""
    import math

    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling")
    base = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    low_wavelen, high_wavelen = old / low, old / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32), base


def finish(writer):
    """Writes a GGUFWriter's header, metadata and tensors, and closes the file."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_model(name, source, arch, wtype):
    import gguf
    from safetensors.numpy import load_file

    cfg = json.load(open(os.path.join(MODELS, source, "config.json")))
    tensors = load_file(os.path.join(MODELS, source, "model.safetensors"))
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    w = gguf.GGUFWriter(os.path.join(OUT, name + ".gguf"), arch)
    w.add_name(name)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    w.add_rope_dimension_count(int(head_dim * rope.get("partial_rotary_factor", 1.0)))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_rope_freq_base(rope.get("rope_theta", cfg.get("rope_theta", 10000.0)))
    qtype = getattr(gguf.GGMLQuantizationType, wtype)
    tensors, stacked = stack_experts(tensors)
    if stacked:
        w.add_expert_count(cfg["num_local_experts"] if "num_local_experts" in cfg else cfg["num_experts"])
        w.add_expert_used_count(cfg["num_experts_per_tok"])
        w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    for name, t in sorted(stacked.items()):
        t = t.astype(np.float32)
        w.add_tensor(name, gguf.quants.quantize(t, qtype) if wtype != "F32" else t, raw_dtype=qtype if wtype != "F32" else None)
    if rope.get("rope_type") == "llama3":
        factors, _ = llama3_rope_factors(cfg, head_dim)
        w.add_tensor("rope_freqs.weight", factors)
    if rope.get("rope_type") == "longrope":
        # As llama.cpp's Phi-3 converter: both factor lists as tensors, the original context
        # and the attention factor sqrt(1 + ln(scale) / ln(original)) as metadata.
        original = cfg["original_max_position_embeddings"]
        scale = cfg["max_position_embeddings"] / original
        w.add_rope_scaling_orig_ctx_len(original)
        w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0)
        w.add_tensor("rope_factors_long.weight", np.array(rope["long_factor"], np.float32))
        w.add_tensor("rope_factors_short.weight", np.array(rope["short_factor"], np.float32))
    for hf, t in sorted(tensors.items()):
        if arch == "llama" and hf.endswith("q_proj.weight"):
            t = permute(t, heads, heads)
        elif arch == "llama" and hf.endswith("k_proj.weight"):
            t = permute(t, heads, kv)
        t = t.astype(np.float32)
        # llama.cpp keeps the MoE router (ffn_gate_inp) in float32.
        if t.ndim == 2 and wtype != "F32" and not hf.endswith("mlp.gate.weight"):
            w.add_tensor(gguf_name(hf), gguf.quants.quantize(t, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(gguf_name(hf), t)
    finish(w)


def write_vocab():
    """The byte-level BPE of bytelevel_chatml as a vocabulary-only GGUF, and transformers' reading of it."""
    import gguf
    from transformers import AutoTokenizer

    tok = json.load(open(os.path.join(TOKENIZER, "tokenizer.json")))
    vocab = dict(tok["model"]["vocab"])
    special = {a["content"]: a["id"] for a in tok["added_tokens"]}
    vocab.update(special)
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    types = [3 if t in special else 1 for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    config = json.load(open(os.path.join(TOKENIZER, "tokenizer_config.json")))
    w = gguf.GGUFWriter(os.path.join(OUT, "vocab.gguf"), "qwen2")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(special["<|im_end|>"])
    w.add_bos_token_id(special["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.add_chat_template(config["chat_template"])
    finish(w)
    hf = AutoTokenizer.from_pretrained(OUT, gguf_file="vocab.gguf")
    texts = [e["text"] for e in json.load(open(os.path.join(TOKENIZER, "expected.json")))["encode"]]
    texts += ["<|im_start|>user\nHi there<|im_end|>\n", "  spaces\t\ttabs\r\nnewlines 1234567 ÄÖÜ café 日本語 🤖"]
    encode = [{"text": t, "ids": hf.encode(t, add_special_tokens=False), "decoded": hf.decode(hf.encode(t, add_special_tokens=False))} for t in texts]
    json.dump({"encode": encode}, open(os.path.join(OUT, "vocab_expected.json"), "w"), ensure_ascii=False, indent=1)


def write_spm_vocab():
    """The SentencePiece-style BPE of metaspace_llama2 as a llama.cpp `llama` vocabulary
    (tokens, scores, token types; no merges: readers rebuild them from the scores)."""
    import gguf
    from transformers import AutoTokenizer

    folder = os.path.join(ROOT, "crates", "rmx-lm", "tests", "tokenizers", "metaspace_llama2")
    tok = json.load(open(os.path.join(folder, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    # llama.cpp's types: 2 unknown, 3 control, 6 byte, 1 normal; SentencePiece scores fall with the id.
    types = [2 if t == "<unk>" else 3 if t in ("<s>", "</s>") else 6 if t.startswith("<0x") else 1 for t in tokens]
    scores = [0.0 if ty != 1 else -float(i) for i, ty in enumerate(types)]
    w = gguf.GGUFWriter(os.path.join(OUT, "vocab_spm.gguf"), "llama")
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(vocab["<unk>"])
    w.add_bos_token_id(vocab["<s>"])
    w.add_eos_token_id(vocab["</s>"])
    w.add_add_bos_token(True)
    finish(w)
    hf = AutoTokenizer.from_pretrained(OUT, gguf_file="vocab_spm.gguf")
    texts = [e["text"] for e in json.load(open(os.path.join(folder, "expected.json")))["encode"]]
    texts += ["  two leading spaces", "tabs\tand\nnewlines", "unseen: ÄÖÜ 日本語 🤖", "Alice said 'Off with her head!'"]
    encode = []
    for t in texts:
        ids = hf.encode(t, add_special_tokens=False)
        encode.append({"text": t, "ids": ids, "ids_special": hf.encode(t), "decoded": hf.decode(ids)})
    json.dump({"encode": encode}, open(os.path.join(OUT, "vocab_spm_expected.json"), "w"), ensure_ascii=False, indent=1)


def expect(out_dir):
    import torch
    import transformers
    from safetensors.numpy import save_file

    os.makedirs(out_dir, exist_ok=True)
    for name, source, _, _ in CASES:
        if name.startswith(("llama3", "phi3_longrope")):
            continue  # transformers' GGUF loader ignores rope_freqs and LongRoPE (module docs)
        # transformers reads no head size for qwen GGUFs (it assumes hidden / heads) nor the
        # MoE settings llama.cpp does not store: pass them from the source config.
        cfg = json.load(open(os.path.join(MODELS, source, "config.json")))
        keys = ("head_dim", "moe_intermediate_size", "norm_topk_prob", "decoder_sparse_step", "mlp_only_layers", "pad_token_id")
        extra = {k: cfg[k] for k in keys if cfg.get(k) is not None}
        # Grouped expert matmuls (MoE) have no float64 kernel: those run in float32.
        dtype = torch.float32 if "moe" in name else torch.float64
        model = transformers.AutoModelForCausalLM.from_pretrained(OUT, gguf_file=name + ".gguf", torch_dtype=dtype, **extra)
        model.eval()
        ids = torch.tensor([PROMPT])
        with torch.no_grad():
            logits = model(ids).logits[0].float().numpy()
            greedy = model.generate(ids, max_new_tokens=GREEDY, do_sample=False, eos_token_id=None, pad_token_id=0)[0, len(PROMPT):]
        save_file(
            {"tokens": np.array(PROMPT, np.int32), "logits": logits, "greedy": greedy.numpy().astype(np.int32)},
            os.path.join(out_dir, name + ".safetensors"),
        )
        print(name, logits.shape, greedy.tolist()[:8])


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"]:
        os.makedirs(OUT, exist_ok=True)
        for case in CASES:
            write_model(*case)
        write_vocab()
        write_spm_vocab()
    elif sys.argv[1:2] == ["expect"]:
        expect(sys.argv[2])
    else:
        sys.exit(__doc__)
