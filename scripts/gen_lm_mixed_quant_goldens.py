"""Mixed-precision quantization goldens for `rmx-lm convert --quant-predicate`, from mlx-lm.

mlx-lm's recipes (`mixed_2_6`, `mixed_3_4`, `mixed_3_6`, `mixed_4_6`) give v_proj and down_proj
of some layers and the output head more bits. This quantizes the tiny llama checkpoint of
crates/rmx-lm/tests/models/llama (4 layers would show more of the layer rule, but its 2 layers
already split: layer 1 gets the high bits) with mlx-lm's own `quantize_model` and recipe
predicate, and writes crates/rmx-lm/tests/models/llama_<recipe>/ with `config.json` (per-layer
`quantization` entries) and `model.safetensors`, exactly as `mlx_lm.convert` saves them
(the tokenizer-free fixture cannot go through `mlx_lm.convert` itself, which loads a
tokenizer).

Run: pip install "mlx[cpu]==0.32.*" "mlx-lm==0.32.*"; python3 scripts/gen_lm_mixed_quant_goldens.py
"""
import json
from pathlib import Path

from mlx_lm.convert import mixed_quant_predicate_builder
from mlx_lm.utils import load_model, quantize_model, save_config, save_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "crates" / "rmx-lm" / "tests" / "models"
GROUP = 32

if __name__ == "__main__":
    for recipe in ["mixed_3_6", "mixed_2_6"]:
        model, config = load_model(MODELS / "llama")
        config = json.load(open(MODELS / "llama" / "config.json"))
        predicate = mixed_quant_predicate_builder(recipe, model, GROUP)
        model, config = quantize_model(model, config, GROUP, 4, quant_predicate=predicate)
        out = MODELS / f"llama_{recipe}"
        out.mkdir(exist_ok=True)
        save_model(out, model, donate_model=True)
        save_config(config, config_path=out / "config.json")
        print(out, sorted(p.name for p in out.iterdir()))
