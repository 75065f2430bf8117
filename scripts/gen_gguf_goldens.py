"""GGUF golden files for rmx's reader, written by gguf-py (`pip install gguf`, the
llama.cpp project's Python package): metadata of every value type, unquantized tensors,
Q4_0/Q4_1/Q8_0/Q5_0/Q5_1 tensors quantized by gguf-py, and K-quant tensors (Q2_K..Q6_K)
from random blocks with sane scales. gguf-py's dequantizer gives the expected values
(written to expected.safetensors next to the file).

Run: python3 scripts/gen_gguf_goldens.py
"""
import os

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "rmx", "tests", "golden", "gguf")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(11)
path = os.path.join(OUT, "mixed.gguf")
w = gguf.GGUFWriter(path, "llama")
w.add_uint32("test.u32", 7)
w.add_int32("test.i32", -3)
w.add_float32("test.f32", 0.5)
w.add_float64("test.f64", 1.25)
w.add_bool("test.bool", True)
w.add_string("test.str", "héllo")
w.add_array("test.strings", ["a", "bc"])
w.add_array("test.ints", [1, 2, 3])
w.add_uint64("test.u64", 1 << 40)
w.add_int8("test.i8", -5)
w.add_uint16("test.u16", 65000)

expected = {}
plain = {"f32": rng.standard_normal((3, 4)).astype(np.float32), "f16": rng.standard_normal((2, 5)).astype(np.float16),
         "i32": rng.integers(-100, 100, 4).astype(np.int32), "f64": rng.standard_normal(3)}
for name, a in plain.items():
    w.add_tensor(name, a)
    expected[name] = a
for kind in [T.Q4_0, T.Q4_1, T.Q8_0, T.Q5_0, T.Q5_1]:
    data = rng.standard_normal((4, 64)).astype(np.float32)
    q = quants.quantize(data, kind)
    name = f"blk.0.{kind.name.lower()}.weight"
    w.add_tensor(name, q, raw_dtype=kind)
    expected[name] = quants.dequantize(q, kind).astype(np.float32)
for kind in [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
    block, size = gguf.GGML_QUANT_SIZES[kind]
    raw = rng.integers(0, 256, (2, size), dtype=np.uint8)
    # Put small finite f16 values where the block stores its super-scales.
    d_at = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[kind]
    for at in d_at:
        raw[:, at:at + 2] = np.frombuffer(np.float16(rng.uniform(0.01, 0.1)).tobytes() * 2, dtype=np.uint8).reshape(2, 2)
    name = f"blk.1.{kind.name.lower()}.weight"
    w.add_tensor(name, raw, raw_dtype=kind)
    expected[name] = quants.dequantize(raw, kind).astype(np.float32)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
save_file({k: np.ascontiguousarray(v) for k, v in expected.items()}, os.path.join(OUT, "expected.safetensors"))
print(f"{path}: {len(expected)} tensors; expected values in expected.safetensors")
