"""Reads the files rmx's IO test writes (target/tmp/rmx-written, from
`cargo test -p rmx --test io`) with NumPy and the safetensors package and checks their
values: the other half of the round trip (files written by rmx, read by the reference)."""
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "tmp", "rmx-written")
base = np.arange(-5, 19, dtype=np.float32).reshape(2, 3, 4).transpose()
checked = 0
with safe_open(os.path.join(root, "all.safetensors"), "np") as f:
    assert f.metadata() == {"format": "pt"}, f.metadata()
st_keys = [k for k in safe_open(os.path.join(root, "all.safetensors"), "np").keys()]
numpy_names = {"bool": np.bool_, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
               "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "float16": np.float16,
               "float32": np.float32, "float64": np.float64, "complex64": np.complex64}
tensors = load_file(os.path.join(root, "all.safetensors")) if "t.bfloat16" not in st_keys else None
if tensors is None:
    # NumPy has no bfloat16: read the others one by one.
    with safe_open(os.path.join(root, "all.safetensors"), "np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys() if k != "t.bfloat16"}
for name, a in tensors.items():
    want = base.astype(numpy_names[name[2:]])
    assert a.dtype == want.dtype and np.array_equal(a, want), name
    checked += 1
for file in ["plain.npz", "compressed.npz"]:
    with np.load(os.path.join(root, file)) as z:
        for name in z.files:
            want = base.astype(numpy_names[name[2:]])
            assert z[name].dtype == want.dtype and np.array_equal(z[name], want), (file, name)
            checked += 1
print(f"{root}: {checked} arrays written by rmx read back by NumPy/safetensors with the right values")
