#!/usr/bin/env python3
"""Writes the golden files the rmx op tests compare against.

NumPy computes the values; MLX (pip install "mlx[cpu]") decides result dtypes and the
semantics where it differs from NumPy (integer sum widths, argmax's uint32, ...). Each
family goes to crates/rmx/tests/golden/<family>.safetensors: tensors `<case>/in<i>` and
`<case>/out<i>`, and a `cases` metadata entry (JSON) saying which op each case runs, with
which arguments, input layouts and tolerances.

Input layouts make the kernels see non-contiguous data: "T" stores the transpose of the
logical input (the test transposes it back, giving a strided view), "step2" stores twice the
last axis (the test takes every second element), "bcast" stores one row that the test
broadcasts to the logical shape.

A case marked "error" (no outputs) is an input MLX refuses: the test expects rmx to return an
error for it too.

Run: python3 scripts/gen_goldens.py   (deterministic; needs numpy and mlx)
"""
import json
import os
import struct
import sys
import warnings
import zlib

import mlx.core as mx
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "rmx", "tests", "golden")
RNG = np.random.default_rng(20261125)

ST_DTYPE = {
    "bool": "BOOL", "uint8": "U8", "uint16": "U16", "uint32": "U32", "uint64": "U64",
    "int8": "I8", "int16": "I16", "int32": "I32", "int64": "I64", "float16": "F16",
    "bfloat16": "BF16", "float32": "F32", "float64": "F64", "complex64": "C64",
}
FLOATS = ["float32", "float64", "float16", "bfloat16"]
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-14), "float16": (2e-3, 1e-3),
       "bfloat16": (1.6e-2, 1e-2), "complex64": (1e-5, 1e-6)}


def mx_dtype(name):
    return getattr(mx, "bool_" if name == "bool" else name)


def dtype_name(d):
    return str(d).split(".")[-1]


class Tensor:
    """A NumPy array tagged with an rmx dtype name (bf16 stored as float32 values)."""

    def __init__(self, values, dtype):
        self.dtype = dtype
        if dtype == "bfloat16":
            self.values = to_bf16(np.asarray(values, dtype=np.float32))
        else:
            self.values = np.asarray(values).astype(dtype)

    def raw(self):
        if self.dtype == "bfloat16":
            bits = np.ascontiguousarray(self.values, dtype=np.float32).view(np.uint32) >> 16
            return bits.astype("<u2").tobytes()
        return np.ascontiguousarray(self.values).astype(self.values.dtype.newbyteorder("<")).tobytes()

    def mlx(self):
        if self.values.size == 0:
            # MLX 0.32.4 sometimes hangs evaluating a reduction of an empty array made from
            # NumPy data; an empty array has no values to copy anyway.
            return mx.zeros(self.values.shape, dtype=mx_dtype(self.dtype))
        if self.dtype == "bfloat16":
            return mx.array(self.values.astype(np.float32)).astype(mx.bfloat16)
        # Pass the dtype: MLX would otherwise turn float64 data into float32.
        return mx.array(self.values, dtype=mx_dtype(self.dtype))


def to_bf16(x):
    """Rounds float32 values to bfloat16 (nearest even), kept as float32."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    out = rounded.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), np.float32("nan"), out)


def from_mlx(a):
    name = dtype_name(a.dtype)
    if name == "bfloat16":
        return Tensor(np.array(a.astype(mx.float32)), name)
    return Tensor(np.array(a), name)


class Family:
    def __init__(self, name):
        # Each family draws from its own seeded stream, so a family's file is the same
        # whether it is generated alone or with the others.
        global RNG
        RNG = np.random.default_rng([20261125, zlib.crc32(name.encode())])
        self.name, self.cases, self.tensors = name, [], {}

    def add(self, case, op, inputs, outputs, args=None, layouts=None, tol=None):
        assert case not in {c["name"] for c in self.cases}, case
        stored_inputs = []
        for i, t in enumerate(inputs):
            layout = (layouts or {}).get(i)
            v = t.values
            if layout == "T":
                v = np.ascontiguousarray(v.T)
            elif layout == "step2":
                w = np.zeros(v.shape[:-1] + (2 * v.shape[-1],), v.dtype)
                w[..., ::2] = v
                v = w
            elif layout == "bcast":
                v = np.ascontiguousarray(v[:1])
            stored = Tensor.__new__(Tensor)
            stored.values, stored.dtype = v, t.dtype
            stored_inputs.append(stored)
            self.tensors[f"{case}/in{i}"] = stored
        for i, t in enumerate(outputs):
            self.tensors[f"{case}/out{i}"] = t
        dt = outputs[0].dtype if outputs else "float32"
        rtol, atol = tol or TOL.get(dt, (0.0, 0.0))
        self.cases.append({
            "name": case, "op": op, "args": args or {}, "inputs": len(inputs), "outputs": len(outputs),
            "layouts": {str(k): v for k, v in (layouts or {}).items()},
            "shapes": [list(t.values.shape) for t in inputs], "rtol": rtol, "atol": atol,
        })

    def add_error(self, case, op, inputs, args=None):
        """A case MLX refuses: rmx must return an error too."""
        self.add(case, op, inputs, [], args=args)
        self.cases[-1]["error"] = True

    def write(self):
        header, blobs, offset = {}, [], 0
        for key, t in self.tensors.items():
            raw = t.raw()
            header[key] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.values.shape), "data_offsets": [offset, offset + len(raw)]}
            blobs.append(raw)
            offset += len(raw)
        header["__metadata__"] = {"cases": json.dumps(self.cases)}
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        path = os.path.join(OUT, f"{self.name}.safetensors")
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
        print(f"{path}: {len(self.cases)} cases, {os.path.getsize(path)} bytes")


def rand(shape, dtype, lo=-3.0, hi=3.0):
    if dtype == "bool":
        return Tensor(RNG.random(shape) > 0.5, dtype)
    if dtype in INTS:
        info = np.iinfo(dtype)
        lo_i, hi_i = max(int(lo), int(info.min)), min(int(hi), int(info.max))
        return Tensor(RNG.integers(lo_i, hi_i + 1, size=shape), dtype)
    if dtype == "complex64":
        return Tensor(RNG.uniform(lo, hi, shape) + 1j * RNG.uniform(lo, hi, shape), dtype)
    return Tensor(RNG.uniform(lo, hi, shape), dtype)


def expect(values, dtype):
    """NumPy values cast to the dtype MLX produces."""
    return Tensor(np.asarray(values), dtype)


def np_of(t):
    """Input values for the NumPy reference: float64 for floats so the reference is exact."""
    if t.dtype in FLOATS:
        return t.values.astype(np.float64)
    return t.values


# ---------------------------------------------------------------------------------------
# unary

UNARY = {
    # name: (numpy fn, domain (lo, hi), mlx fn)
    "abs": (np.abs, (-3, 3)), "negative": (np.negative, (-3, 3)), "sign": (np.sign, (-3, 3)),
    "sqrt": (np.sqrt, (0, 9)), "rsqrt": (lambda x: 1 / np.sqrt(x), (0.1, 9)), "square": (np.square, (-3, 3)),
    "reciprocal": (np.reciprocal, (0.5, 3)), "exp": (np.exp, (-10, 10)), "expm1": (np.expm1, (-2, 2)),
    "log": (np.log, (0.01, 10)), "log2": (np.log2, (0.01, 10)), "log10": (np.log10, (0.01, 10)),
    "log1p": (np.log1p, (-0.9, 3)), "sin": (np.sin, (-6, 6)), "cos": (np.cos, (-6, 6)), "tan": (np.tan, (-1.4, 1.4)),
    "arcsin": (np.arcsin, (-0.99, 0.99)), "arccos": (np.arccos, (-0.99, 0.99)), "arctan": (np.arctan, (-5, 5)),
    "sinh": (np.sinh, (-4, 4)), "cosh": (np.cosh, (-4, 4)), "tanh": (np.tanh, (-5, 5)),
    "arcsinh": (np.arcsinh, (-5, 5)), "arccosh": (np.arccosh, (1.01, 6)), "arctanh": (np.arctanh, (-0.95, 0.95)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-12, 12)), "erf": (None, (-3, 3)), "erfinv": (None, (-0.99, 0.99)),
    "floor": (np.floor, (-5, 5)), "ceil": (np.ceil, (-5, 5)), "round": (np.round, (-5, 5)),
    "isnan": (np.isnan, (-3, 3)), "isinf": (np.isinf, (-3, 3)), "isfinite": (np.isfinite, (-3, 3)),
    "isposinf": (np.isposinf, (-3, 3)), "isneginf": (np.isneginf, (-3, 3)),
    "logical_not": (np.logical_not, (-1, 1)), "degrees": (np.degrees, (-3, 3)), "radians": (np.radians, (-180, 180)),
}


def special(name, x):
    import math
    if name == "erf":
        return np.vectorize(math.erf)(x)
    # erfinv by bisection-free Newton from MLX's float32 result, refined in float64.
    y = np.array(mx.erfinv(mx.array(x.astype(np.float32))), dtype=np.float64)
    for _ in range(3):
        y = y - (np.vectorize(math.erf)(y) - x) / (2 / np.sqrt(np.pi) * np.exp(-y * y))
    return y


def gen_unary():
    fam = Family("unary")
    for name, (fn, (lo, hi)) in UNARY.items():
        for dt in FLOATS:
            x = rand((5, 7), dt, lo, hi)
            xv = np_of(x)
            if name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "sign", "abs", "floor", "ceil", "round", "logical_not"):
                xv = xv.copy()
                flat = xv.reshape(-1)
                flat[:4] = [np.nan, np.inf, -np.inf, 0.0] if name != "round" else [0.5, 1.5, 2.5, -0.5]
                x = Tensor(xv, dt)
                xv = np_of(x)
            ref = special(name, xv) if fn is None else fn(xv)
            out_dt = dtype_name(getattr(mx, name)(x.mlx()).dtype)
            layouts = {0: "T"} if dt == "float32" else ({0: "step2"} if dt == "float64" else None)
            fam.add(f"{name}_{dt}", name, [x], [expect(ref, out_dt)], layouts=layouts)
        # Integer inputs: exact ops keep the dtype, transcendental ones go to float32.
        for dt in ["int32", "uint8", "int8"]:
            if name in ("sqrt", "rsqrt", "log", "log2", "log10", "arccosh"):
                x = rand((4, 3), dt, 1, 9)
            elif name in ("arcsin", "arccos", "arctanh", "erfinv", "log1p"):
                x = rand((4, 3), dt, 0, 0)
            elif name == "reciprocal":
                x = rand((4, 3), dt, 1, 5)
            else:
                x = rand((4, 3), dt, 0 if dt.startswith("u") else -5, 5)
            if name == "negative" and dt.startswith("u"):
                continue
            xv = x.values.astype(np.float64)
            ref = special(name, xv) if fn is None else fn(x.values if name in ("abs", "negative", "sign", "square", "floor", "ceil", "round") else xv)
            try:
                out_dt = dtype_name(getattr(mx, name)(x.mlx()).dtype)
            except Exception:
                continue
            fam.add(f"{name}_{dt}", name, [x], [expect(ref, out_dt)])
    # complex
    for name, fn in [("abs", np.abs), ("negative", np.negative), ("sqrt", np.sqrt), ("exp", np.exp), ("log", np.log),
                     ("sin", np.sin), ("cos", np.cos), ("tanh", np.tanh), ("square", np.square), ("conj", np.conj),
                     ("real", np.real), ("imag", np.imag)]:
        x = rand((3, 4), "complex64", -2, 2)
        out_dt = dtype_name(getattr(mx, name)(x.mlx()).dtype)
        fam.add(f"{name}_complex64", name, [x], [expect(fn(x.values.astype(np.complex128)), out_dt)])
    # bitwise_invert on ints and bool
    for dt in ["int8", "uint16", "int32", "uint64", "bool"]:
        x = rand((6,), dt, 0, 100)
        fam.add(f"bitwise_invert_{dt}", "bitwise_invert", [x], [expect(np.invert(x.values), dt)])
    # rounding with decimals
    x = rand((8,), "float32", -100, 100)
    fam.add("round_decimals2_float32", "round", [x], [expect(np.round(x.values.astype(np.float64), 2), "float32")], args={"decimals": 2}, tol=(1e-5, 1e-4))
    # empty and 0-d
    fam.add("exp_empty", "exp", [rand((0, 3), "float32")], [expect(np.zeros((0, 3)), "float32")])
    x = rand((), "float32")
    fam.add("exp_scalar", "exp", [x], [expect(np.exp(np_of(x)), "float32")])
    # complex, the rest of MLX's complex unary ops (kept after the older cases so their inputs stay)
    for name, fn in [("log1p", np.log1p), ("arccosh", np.arccosh), ("arcsinh", np.arcsinh), ("arctanh", np.arctanh),
                     ("arcsin", np.arcsin), ("arccos", np.arccos), ("arctan", np.arctan), ("log2", np.log2),
                     ("log10", np.log10), ("sign", np.sign), ("rsqrt", lambda v: 1 / np.sqrt(v)), ("tan", np.tan),
                     ("sinh", np.sinh), ("cosh", np.cosh), ("reciprocal", np.reciprocal)]:
        x = rand((3, 4), "complex64", -2, 2)
        fam.add(f"{name}_complex64", name, [x], [expect(fn(x.values.astype(np.complex128)), "complex64")])
    # nan_to_num: MLX for its float dtypes (their largest finite values), NumPy for float64
    # and complex64 (MLX 0.32 rejects both; NumPy treats the two parts of a complex separately)
    special_values = [np.nan, np.inf, -np.inf, 1.5, -2.0, 0.0]
    for dt in ["float32", "float16", "bfloat16", "float64"]:
        x = Tensor(np.array(special_values * 2).reshape(2, 6), dt)
        for args in [{}, {"nan": 1.0, "posinf": 2.0, "neginf": -3.0}]:
            ref = expect(np.nan_to_num(x.values, **args), dt) if dt == "float64" else from_mlx(mx.nan_to_num(x.mlx(), **args))
            tag = "default" if not args else "custom"
            fam.add(f"nan_to_num_{tag}_{dt}", "nan_to_num", [x], [ref], args=args, tol=(0, 0))
    z = Tensor(np.array([complex(a, b) for a in special_values for b in special_values[:4]]).reshape(4, 6), "complex64")
    for args in [{}, {"nan": 1.0, "posinf": 2.0, "neginf": -3.0}]:
        tag = "default" if not args else "custom"
        fam.add(f"nan_to_num_{tag}_complex64", "nan_to_num", [z], [expect(np.nan_to_num(z.values, **args), "complex64")], args=args, tol=(0, 0))
    ints = rand((5,), "int32")
    fam.add("nan_to_num_int32", "nan_to_num", [ints], [expect(ints.values, "int32")], tol=(0, 0))
    # trunc (after the older cases so their inputs stay)
    for dt in FLOATS:
        xv = np_of(rand((5, 7), dt, -5, 5)).copy()
        xv.reshape(-1)[:5] = [np.nan, np.inf, -np.inf, -0.5, 0.5]
        x = Tensor(xv, dt)
        fam.add(f"trunc_{dt}", "trunc", [x], [expect(np.trunc(np_of(x)), dtype_name(mx.trunc(x.mlx()).dtype))], layouts={0: "T"} if dt == "float32" else None)
    for dt in ["int32", "uint8"]:
        x = rand((4, 3), dt, 0 if dt == "uint8" else -5, 5)
        fam.add(f"trunc_{dt}", "trunc", [x], [expect(x.values, dtype_name(mx.trunc(x.mlx()).dtype))])
    fam.write()


# ---------------------------------------------------------------------------------------
# binary

BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "power": np.power, "maximum": np.maximum,
    "minimum": np.minimum, "logaddexp": np.logaddexp, "arctan2": np.arctan2, "equal": np.equal,
    "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal, "greater": np.greater,
    "greater_equal": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
}
BITWISE = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
           "left_shift": np.left_shift, "right_shift": np.right_shift}


def gen_binary():
    fam = Family("binary")
    shapes = [((4, 5), (4, 5)), ((3, 1, 5), (4, 1)), ((6,), ())]
    for name, fn in BINARY.items():
        for dt in FLOATS + ["int32", "int8", "uint8", "int64"]:
            for si, (sa, sb) in enumerate(shapes):
                lo, hi = (-4, 4)
                a, b = rand(sa, dt, lo, hi), rand(sb, dt, lo, hi)
                if name in ("divide", "floor_divide", "remainder") and dt in INTS:
                    b = Tensor(np.where(b.values == 0, 3, b.values), dt)
                if name == "power":
                    a = rand(sa, dt, 0 if dt in INTS else 0.1, 4)
                    b = rand(sb, dt, 0, 3)
                if name in ("divide", "floor_divide", "remainder") and dt in FLOATS:
                    b = Tensor(np.where(np.abs(b.values) < 0.25, 1.5, b.values), dt)
                try:
                    out_dt = dtype_name(getattr(mx, name)(a.mlx(), b.mlx()).dtype)
                except Exception:
                    continue
                av, bv = np_of(a), np_of(b)
                if dt in INTS and name not in ("divide", "logaddexp", "arctan2"):
                    av, bv = a.values, b.values
                elif dt in INTS:
                    av, bv = a.values.astype(np.float64), b.values.astype(np.float64)
                with np.errstate(all="ignore"):
                    ref = fn(av, bv)
                tol = None
                if dt in FLOATS and name in ("floor_divide", "remainder"):
                    # a floor at a rounding boundary may differ by one step in low precision
                    if dt in ("float16", "bfloat16"):
                        continue
                layouts = {0: "T"} if (si == 0 and dt == "float32") else ({1: "step2"} if si == 0 and dt == "float64" else None)
                fam.add(f"{name}_{dt}_{si}", name, [a, b], [expect(ref, out_dt)], layouts=layouts, tol=tol)
    for name, fn in BITWISE.items():
        for dt in ["int8", "uint8", "int32", "uint32", "int64", "bool"]:
            if dt == "bool" and "shift" in name:
                continue
            a, b = rand((4, 5), dt, 0, 60), rand((5,), dt, 0, 7 if "shift" in name else 60)
            out_dt = dtype_name(getattr(mx, name)(a.mlx(), b.mlx()).dtype)
            fam.add(f"{name}_{dt}", name, [a, b], [expect(fn(a.values, b.values), out_dt)])
    # NaN handling of maximum/minimum
    a = Tensor([np.nan, 1.0, 2.0, -np.inf], "float32")
    b = Tensor([1.0, np.nan, 3.0, 0.0], "float32")
    for name in ("maximum", "minimum"):
        fam.add(f"{name}_nan", name, [a, b], [expect(BINARY[name](a.values, b.values), "float32")])
    # integer division semantics: signs and Python-style remainder
    a = Tensor([7, -7, 7, -7, 0], "int32")
    b = Tensor([2, 2, -2, -2, 3], "int32")
    fam.add("floor_divide_signs", "floor_divide", [a, b], [expect(np.floor_divide(a.values, b.values), "int32")])
    fam.add("remainder_signs", "remainder", [a, b], [expect(np.remainder(a.values, b.values), "int32")])
    # mixed dtypes follow the promotion table
    for da, db in [("int8", "uint8"), ("float16", "bfloat16"), ("int32", "float16"), ("uint32", "int8"), ("bool", "int16"), ("uint64", "int32")]:
        a, b = rand((3,), da, 0, 5), rand((3,), db, 0, 5)
        out_dt = dtype_name(mx.add(a.mlx(), b.mlx()).dtype)
        fam.add(f"add_{da}_{db}", "add", [a, b], [expect(np_of(a).astype(np.float64) + np_of(b).astype(np.float64), out_dt)])
    # where
    for dt in ["float32", "int32", "bfloat16"]:
        c, x, y = rand((3, 4), "bool"), rand((3, 4), dt), rand((4,), dt)
        fam.add(f"where_{dt}", "where", [c, x, y], [expect(np.where(c.values, np_of(x), np_of(y)), dt)])
    # the composite comparisons, clip and divmod (MLX decides dtypes and edge semantics)
    a = Tensor([7, -7, 7, -7, 0, 9], "int32")
    b = Tensor([2, 2, -2, -2, 3, 4], "int32")
    q, r = mx.divmod(a.mlx(), b.mlx())
    fam.add("divmod_int32", "divmod", [a, b], [from_mlx(q), from_mlx(r)], tol=(0, 0))
    a, b = rand((3, 4), "float32", -5, 5), rand((4,), "float32", 0.5, 3)
    q, r = mx.divmod(a.mlx(), b.mlx())
    fam.add("divmod_float32", "divmod", [a, b], [from_mlx(q), from_mlx(r)], layouts={0: "T"})
    for dt in ["bool", "float32", "int32"]:
        a, b = rand((3, 4), dt, -1, 1), rand((4,), dt, -1, 1)
        fam.add(f"logical_xor_{dt}", "logical_xor", [a, b], [expect(np.logical_xor(a.values, b.values), "bool")])
    near = Tensor([1.0, np.nan, np.inf, -np.inf, 1e-9, 100.0, 0.0, 2.0], "float32")
    other = Tensor([1.00001, np.nan, np.inf, np.inf, 0.0, 100.01, -0.0, 2.5], "float32")
    for equal_nan in [False, True]:
        for rtol, atol in [(1e-5, 1e-8), (1e-3, 0.0)]:
            m = mx.isclose(near.mlx(), other.mlx(), rtol=rtol, atol=atol, equal_nan=equal_nan)
            assert np.array_equal(np.array(m), np.isclose(near.values, other.values, rtol=rtol, atol=atol, equal_nan=equal_nan))
            tag = f"{int(equal_nan)}_{rtol:g}"
            args = {"rtol": rtol, "atol": atol, "equal_nan": equal_nan}
            fam.add(f"isclose_{tag}", "isclose", [near, other], [from_mlx(m)], args=args)
            fam.add(f"allclose_{tag}", "allclose", [near, other], [from_mlx(mx.allclose(near.mlx(), other.mlx(), rtol=rtol, atol=atol, equal_nan=equal_nan))], args=args)
    x = rand((3, 4), "float32")
    for tag, (a, b, equal_nan) in {
        "same": (x, Tensor(x.values.copy(), "float32"), False),
        "dtypes": (Tensor([1, 2, 3], "int32"), Tensor([1.0, 2.0, 3.0], "float32"), False),
        "shapes": (Tensor([1, 2, 3], "int32"), Tensor([[1, 2, 3]], "int32"), False),
        "nan": (Tensor([1.0, np.nan], "float32"), Tensor([1.0, np.nan], "float32"), False),
        "nan_equal": (Tensor([1.0, np.nan], "float32"), Tensor([1.0, np.nan], "float32"), True),
        "differ": (Tensor([1.0, 2.0], "float32"), Tensor([1.0, 2.5], "float32"), False),
    }.items():
        m = mx.array_equal(a.mlx(), b.mlx(), equal_nan=equal_nan)
        assert bool(m) == np.array_equal(a.values, b.values, equal_nan=equal_nan)
        fam.add(f"array_equal_{tag}", "array_equal", [a, b], [from_mlx(m)], args={"equal_nan": equal_nan})
    for dt in ["float32", "int32", "bfloat16"]:
        x = rand((4, 5), dt, -6, 6)
        for tag, lo, hi in [("both", -2, 3), ("min", -1, None), ("max", None, 2)]:
            m = mx.clip(x.mlx(), lo, hi)
            fam.add(f"clip_{dt}_{tag}", "clip", [x], [from_mlx(m)], args={"min": lo, "max": hi}, tol=(0, 0))
    x, lo, hi = rand((3, 4), "float32"), rand((4,), "float32", -2, 0), rand((3, 1), "float32", 0, 2)
    fam.add("clip_arrays", "clip", [x, lo, hi], [from_mlx(mx.clip(x.mlx(), lo.mlx(), hi.mlx()))], layouts={0: "T"}, tol=(0, 0))
    fam.write()


# ---------------------------------------------------------------------------------------
# reductions

def gen_reduce():
    fam = Family("reduce")
    reds = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean,
            "all": np.all, "any": np.any}
    for name, fn in reds.items():
        for dt in FLOATS + ["int32", "int8", "uint8", "bool"]:
            for axes in [None, (0,), (1,), (-1,), (0, 2)]:
                x = rand((4, 5, 6), dt, -2, 2) if name != "prod" else rand((4, 5, 6), dt, 0.5, 1.5)
                if name == "prod" and dt in INTS:
                    x = rand((4, 5, 6), dt, 1, 1)
                if dt == "bool" and name in ("prod", "max", "min"):
                    continue
                m = getattr(mx, name)(x.mlx(), axis=list(axes) if axes else None)
                out_dt = dtype_name(m.dtype)
                ref = fn(np_of(x), axis=axes)
                tag = "all" if axes is None else "_".join(str(a) for a in axes)
                tol = (2e-2, 2e-2) if dt == "bfloat16" else None
                layouts = {0: "T"} if dt == "float32" and axes == (1,) else None
                fam.add(f"{name}_{dt}_{tag}", name, [x], [expect(ref, out_dt)], args={"axes": list(axes) if axes else None}, layouts=layouts, tol=tol)
        x = rand((3, 4), "float32")
        fam.add(f"{name}_keepdims", name, [x], [expect(fn(np_of(x), axis=1, keepdims=True), dtype_name(getattr(mx, name)(x.mlx(), axis=1).dtype))], args={"axes": [1], "keepdims": True})
    for name in ("argmax", "argmin"):
        for dt in ["float32", "int32", "float16", "uint8"]:
            for axis in [None, 0, 1]:
                x = rand((5, 6), dt, -10, 10)
                ref = getattr(np, name)(x.values, axis=axis)
                fam.add(f"{name}_{dt}_{axis}", name, [x], [expect(ref, "uint32")], args={"axis": axis})
        x = Tensor([1.0, np.nan, 3.0, np.nan], "float32")
        fam.add(f"{name}_nan", name, [x], [expect(getattr(np, name)(x.values), "uint32")], args={"axis": 0})
    for name in ("var", "std"):
        for dt in ["float32", "float64"]:
            for ddof in [0, 1]:
                x = rand((6, 7), dt)
                ref = getattr(np, name)(np_of(x), axis=1, ddof=ddof)
                fam.add(f"{name}_{dt}_ddof{ddof}", name, [x], [expect(ref, dt)], args={"axes": [1], "ddof": ddof})
    for dt in ["float32", "float16"]:
        x = rand((4, 9), dt, -5, 5)
        xv = np_of(x)
        ref = np.log(np.sum(np.exp(xv - xv.max(1, keepdims=True)), 1)) + xv.max(1)
        fam.add(f"logsumexp_{dt}", "logsumexp", [x], [expect(ref, dt)], args={"axes": [1]})
        e = np.exp(xv - xv.max(-1, keepdims=True))
        fam.add(f"softmax_{dt}", "softmax", [x], [expect(e / e.sum(-1, keepdims=True), dt)], args={"axes": [-1]})
    x = Tensor([-np.inf, -np.inf], "float32")
    fam.add("logsumexp_all_neg_inf", "logsumexp", [x], [expect(np.float32(-np.inf), "float32")], args={"axes": None})
    x = rand((4, 5), "int32", -1, 1)
    fam.add("count_nonzero", "count_nonzero", [x], [expect(np.count_nonzero(x.values, axis=0), dtype_name(mx.count_nonzero(x.mlx(), axis=0).dtype))], args={"axes": [0]})
    x = rand((0, 4), "float32")
    fam.add("sum_empty", "sum", [x], [expect(np.zeros(4), "float32")], args={"axes": [0]})
    fam.add("prod_empty", "prod", [x], [expect(np.ones(4), "float32")], args={"axes": [0]})
    # a long contiguous sum: pairwise accuracy
    x = rand((100000,), "float32", 0, 1)
    fam.add("sum_long_float32", "sum", [x], [expect(np.sum(np_of(x)), "float32")], args={"axes": None}, tol=(1e-6, 0))
    # Sums over leading axes with rows wide enough for the SIMD row kernel's 32-column blocks
    # (the (4, 5, 6) cases above only reach its tail), row counts not a multiple of its sweeps.
    for shape, axes in [((37, 70), (0,)), ((5, 9, 40), (0, 1))]:
        x = rand(shape, "float32")
        tag = "x".join(map(str, shape))
        fam.add(f"sum_float32_leading_{tag}", "sum", [x], [expect(np.sum(np_of(x), axis=axes), "float32")], args={"axes": list(axes)})
    # median: MLX (dtypes: integers give float32, floats keep theirs), checked against NumPy
    def median_case(case, x, axes, keepdims=False, layouts=None):
        m = mx.median(x.mlx(), axis=axes, keepdims=keepdims)
        ref = np.median(np_of(x).astype(np.float64), axis=None if axes is None else tuple(axes), keepdims=keepdims)
        assert np.allclose(np.array(m, dtype=np.float64), ref, equal_nan=True, rtol=1e-2), case
        fam.add(case, "median", [x], [from_mlx(m)], args={"axes": axes, "keepdims": keepdims}, layouts=layouts)
    median_case("median_even_float32", rand((4, 6), "float32"), [1])
    median_case("median_odd_float32_T", rand((5, 6), "float32"), [0], layouts={0: "T"})
    median_case("median_two_axes_keepdims", rand((3, 4, 5), "float32"), [0, 2], keepdims=True)
    median_case("median_all_int32", rand((3, 5), "int32", -50, 50), None)
    median_case("median_float16", rand((6, 4), "float16", -5, 5), [-1])
    nan_rows = rand((3, 4), "float32").values.copy()
    nan_rows[1, 2] = np.nan
    median_case("median_nan", Tensor(nan_rows, "float32"), [1])
    fam.write()


# ---------------------------------------------------------------------------------------
# matmul

def gen_matmul():
    fam = Family("matmul")
    for dt in ["float32", "float64", "float16", "bfloat16", "complex64"]:
        for (sa, sb) in [((5, 7), (7, 3)), ((2, 4, 6), (6, 5)), ((3, 1, 2, 5), (4, 5, 2)), ((7,), (7, 4)), ((3, 7), (7,)), ((7,), (7,))]:
            a, b = rand(sa, dt, -1, 1), rand(sb, dt, -1, 1)
            ref = np.matmul(np_of(a), np_of(b))
            tol = {"float16": (5e-3, 5e-3), "bfloat16": (3e-2, 3e-2)}.get(dt)
            tag = "x".join(map(str, sa)) + "_" + "x".join(map(str, sb))
            fam.add(f"matmul_{dt}_{tag}", "matmul", [a, b], [expect(ref, dt)], tol=tol)
    # transposed storage: logical (5, 6) stored as (6, 5)
    a, b = rand((5, 6), "float32"), rand((6, 4), "float32")
    fam.add("matmul_T_layout_float32", "matmul", [a, b], [expect(np_of(a) @ np_of(b), "float32")], layouts={0: "T"})
    c, a, b = rand((4,), "float32"), rand((3, 5), "float32"), rand((5, 4), "float32")
    fam.add("addmm_float32", "addmm", [c, a, b], [expect(0.5 * (np_of(a) @ np_of(b)) + 2.0 * np_of(c), "float32")], args={"alpha": 0.5, "beta": 2.0})
    a, b = rand((64, 100), "float32"), rand((100, 80), "float32")
    fam.add("matmul_float32_64x100x80", "matmul", [a, b], [expect(np_of(a) @ np_of(b), "float32")], tol=(1e-4, 1e-5))
    a, b = rand((3, 5, 1), "float32"), rand((1, 4), "float32")
    fam.add("matmul_k1_outer_batched", "matmul", [a, b], [expect(np_of(a) @ np_of(b), "float32")], tol=(1e-6, 1e-7))
    gen_matmul_family(fam)
    # bfloat16 products of more rows than the decoding kernel takes (AMX tiles where the CPU
    # has them): edges off the 32x32 blocks, odd k, a batch, transposed storage, a long k.
    for (sa, sb, layouts) in [((40, 70), (70, 50), None), ((2, 33, 64), (64, 48), None),
                              ((37, 45), (45, 29), {0: "T", 1: "T"}), ((20, 1000), (1000, 17), None)]:
        a, b = rand(sa, "bfloat16", -1, 1), rand(sb, "bfloat16", -1, 1)
        tag = "x".join(map(str, sa)) + "_" + "x".join(map(str, sb)) + ("_T" if layouts else "")
        fam.add(f"matmul_bfloat16_rows_{tag}", "matmul", [a, b], [expect(np.matmul(np_of(a), np_of(b)), "bfloat16")], layouts=layouts)
    fam.write()


def gen_matmul_family(fam):
    """inner, outer, tensordot, vecdot, kron, einsum and MLX's matmul variants."""
    t = (1e-4, 1e-5)
    a, b = rand((3, 4), "float32"), rand((5, 4), "float32")
    fam.add("inner_2d", "inner", [a, b], [expect(np.inner(np_of(a), np_of(b)), "float32")], tol=t)
    ai, bi = rand((3, 2), "int32", -5, 5), rand((4,), "int32", -5, 5)
    fam.add("outer_int", "outer", [ai, bi], [expect(np.outer(ai.values, bi.values), "int32")])
    a, b = rand((2, 3, 4), "float32"), rand((3, 4, 5), "float32")
    fam.add("tensordot_2", "tensordot", [a, b], [expect(np.tensordot(np_of(a), np_of(b), 2), "float32")], args={"count": 2}, tol=t)
    fam.add("tensordot_pairs", "tensordot", [a, b], [expect(np.tensordot(np_of(a), np_of(b), ([1], [0])), "float32")], args={"a_axes": [1], "b_axes": [0]}, tol=t)
    a, b = rand((3, 4), "float32"), rand((4,), "float32")
    fam.add("vecdot_bcast", "vecdot", [a, b], [expect((np_of(a) * np_of(b)).sum(-1), "float32")], args={"axis": -1}, tol=t)
    a, b = rand((2, 3), "int32", -4, 4), rand((2, 2), "int32", -4, 4)
    fam.add("kron_int", "kron", [a, b], [expect(np.kron(a.values, b.values), "int32")])
    a, b = rand((3,), "float32"), rand((2, 2, 2), "float32")
    fam.add("kron_ranks", "kron", [a, b], [expect(np.kron(np_of(a), np_of(b)), "float32")], tol=t)
    ein = [
        ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk,kl->il", [(2, 6), (6, 7), (7, 3)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("ii->i", [(4, 4)]), ("ii", [(4, 4)]), ("ij->", [(3, 4)]), ("ij->ji", [(3, 4)]), ("i,i", [(5,), (5,)]), ("i,j->ij", [(3,), (4,)]),
        ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]), ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]), ("ijk,jil->kl", [(3, 4, 5), (4, 3, 2)]),
        ("ab,cd,bc->ad", [(2, 3), (4, 5), (3, 4)]), ("iij,jk", [(3, 3, 4), (4, 2)]), ("ba", [(3, 2)]),
    ]
    for i, (sub, shapes) in enumerate(ein):
        ops = [rand(s_, "float32") for s_ in shapes]
        fam.add(f"einsum_{i}", "einsum", ops, [expect(np.einsum(sub, *[np_of(o) for o in ops]), "float32")], args={"subscripts": sub}, tol=t)
    ops = [rand((3, 4), "int32", -5, 5), rand((4, 2), "int32", -5, 5)]
    fam.add("einsum_int", "einsum", ops, [expect(np.einsum("ij,jk->ik", *[o.values for o in ops]), "int32")], args={"subscripts": "ij,jk->ik"})
    a, b = rand((3, 2, 4), "float32"), rand((5, 4, 6), "float32")
    li, ri = Tensor([0, 2, 1, 1], "uint32"), Tensor([[4, 0, 3, 3]], "int32")
    fam.add("gather_mm", "gather_mm", [a, b, li, ri], [from_mlx(mx.gather_mm(a.mlx(), b.mlx(), li.mlx(), ri.mlx()))], tol=t)
    fam.add("gather_mm_rhs_only", "gather_mm", [Tensor(a.values[0], "float32"), b, ri], [from_mlx(mx.gather_mm(mx.array(a.values[0]), b.mlx(), None, ri.mlx()))], args={"rhs_only": True}, tol=t)
    a, b = rand((2, 8), "float32"), rand((8, 3), "float32")
    seg = Tensor([[0, 3], [3, 8], [2, 2]], "int32")
    fam.add("segmented_mm", "segmented_mm", [a, b, seg], [from_mlx(mx.segmented_mm(a.mlx(), b.mlx(), seg.mlx()))], tol=t)
    a, b = rand((70, 40), "float32"), rand((40, 100), "float32")
    ml, mr, mo = Tensor(RNG.random((3, 2)) > 0.3, "bool"), Tensor(RNG.random((2, 4)) > 0.3, "bool"), Tensor(RNG.random((3, 4)) > 0.3, "bool")
    ref = mx.block_masked_mm(a.mlx(), b.mlx(), 32, mo.mlx(), ml.mlx(), mr.mlx())
    fam.add("block_masked_mm_bool", "block_masked_mm", [a, b, mo, ml, mr], [from_mlx(ref)], args={"block_size": 32}, tol=t)
    for n in [8, 12, 40, 28 * 4]:
        x = rand((3, n), "float32")
        fam.add(f"hadamard_{n}", "hadamard_transform", [x], [from_mlx(mx.hadamard_transform(x.mlx()))], tol=t)
    x = rand((2, 16), "float16")
    fam.add("hadamard_f16_scale", "hadamard_transform", [x], [from_mlx(mx.hadamard_transform(x.mlx(), scale=0.5))], args={"scale": 0.5}, tol=(2e-3, 2e-3))
    # einsum_path: the cheapest contraction order, as NumPy's exhaustive "optimal" search finds
    # it (pairs of operand positions; each result goes to the end). MLX searches greedily and
    # may pick a costlier order (docs/decisions.md).
    for sub, shapes in [("ij,jk,kl->il", [(2, 30), (30, 40), (40, 3)]), ("ab,bc,cd,de->ae", [(50, 2), (2, 60), (60, 3), (3, 70)]), ("ij,ij->i", [(4, 5), (4, 5)]), ("ab,cd,bc->ad", [(8, 9), (10, 11), (9, 10)])]:
        ops = [rand(s, "float32") for s in shapes]
        path = np.einsum_path(sub, *[o.values for o in ops], optimize="optimal")[0][1:]
        fam.add(f"einsum_path_{len(ops)}_{sub.split('->')[1]}", "einsum_path", ops, [Tensor(np.array(path, dtype=np.int64).reshape(-1, 2), "int64")], args={"subscripts": sub}, tol=(0, 0))


# ---------------------------------------------------------------------------------------
# shape ops and creation

def gen_shape():
    fam = Family("shape")
    x = rand((2, 3, 4), "float32")
    v = x.values
    fam.add("reshape", "reshape", [x], [Tensor(v.reshape(4, -1), "float32")], args={"shape": [4, -1]})
    fam.add("reshape_T", "reshape", [x], [Tensor(v.reshape(4, 6), "float32")], args={"shape": [4, 6]}, layouts={0: "T"})
    fam.add("transpose", "transpose", [x], [Tensor(v.transpose(1, 0, 2), "float32")], args={"axes": [1, 0, 2]})
    fam.add("transpose_default", "transpose", [x], [Tensor(v.T, "float32")])
    fam.add("swapaxes", "swapaxes", [x], [Tensor(np.swapaxes(v, 0, 2), "float32")], args={"axis1": 0, "axis2": 2})
    fam.add("moveaxis", "moveaxis", [x], [Tensor(np.moveaxis(v, 0, -1), "float32")], args={"source": 0, "destination": -1})
    fam.add("squeeze", "squeeze", [Tensor(v[:, :1], "float32")], [Tensor(np.squeeze(v[:, :1]), "float32")])
    fam.add("expand_dims", "expand_dims", [x], [Tensor(np.expand_dims(v, (0, 3)), "float32")], args={"axes": [0, 3]})
    fam.add("flatten", "flatten", [x], [Tensor(v.reshape(2, 12), "float32")], args={"start": 1, "end": -1})
    fam.add("broadcast_to", "broadcast_to", [Tensor(v[:, :1], "float32")], [Tensor(np.broadcast_to(v[:, :1], (5, 2, 3, 4)), "float32")], args={"shape": [5, 2, 3, 4]})
    fam.add("slice", "slice", [x], [Tensor(v[1:, ::2, -1:0:-2], "float32")], args={"starts": [1, 0, -1], "stops": [2, 3, 0], "steps": [1, 2, -2]})
    fam.add("slice_T", "slice", [x], [Tensor(v[:, 1:3], "float32")], args={"starts": [0, 1], "stops": [2, 3], "steps": [1, 1]}, layouts={0: "T"})
    u = rand((2, 2, 2), "float32")
    w = v.copy()
    w[:, 1:3, ::2] = u.values
    fam.add("slice_update", "slice_update", [x, u], [Tensor(w, "float32")], args={"starts": [0, 1, 0], "stops": [2, 3, 4], "steps": [1, 1, 2]})
    y = rand((2, 5, 4), "int32")
    fam.add("concatenate", "concatenate", [x, y], [Tensor(np.concatenate([v, y.values.astype(np.float32)], 1), "float32")], args={"axis": 1})
    z = rand((2, 3, 4), "float32")
    fam.add("stack", "stack", [x, z], [Tensor(np.stack([v, z.values], 1), "float32")], args={"axis": 1})
    fam.add("split", "split", [x], [Tensor(p, "float32") for p in np.split(v, 2, axis=2)], args={"sections": 2, "axis": 2})
    fam.add("as_strided", "as_strided", [x], [Tensor(np.lib.stride_tricks.as_strided(v.reshape(-1), (3, 4), (16, 8)), "float32")], args={"shape": [3, 4], "strides": [4, 2], "offset": 0})
    # astype across dtypes
    src = Tensor([-3.7, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 100.25, 255.0, 1e4], "float32")
    for dt in ["int8", "int32", "uint8", "uint32", "int64", "float16", "bfloat16", "float64", "bool", "complex64"]:
        m = src.mlx().astype(mx_dtype(dt))
        fam.add(f"astype_float32_{dt}", "astype", [src], [from_mlx(m)], args={"dtype": dt}, tol=(0, 0))
    for sd in ["int32", "uint8", "int64", "bool", "float16"]:
        s = rand((7,), sd, 0, 100)
        for dt in ["float32", "int8", "uint16", "bool"]:
            m = s.mlx().astype(mx_dtype(dt))
            fam.add(f"astype_{sd}_{dt}", "astype", [s], [from_mlx(m)], args={"dtype": dt}, tol=(0, 0))
    # view: the same bytes as another dtype, the last axis rescaled (MLX copies a strided
    # input to row-major first; NumPy would refuse it)
    b = rand((3, 4), "float32")
    for dt in ["uint8", "int16", "uint32", "float16", "bfloat16", "int64", "complex64"]:
        layouts = {0: "T"} if dt in ("int16", "int64") else None
        fam.add(f"view_float32_{dt}", "view", [b], [from_mlx(mx.view(b.mlx(), mx_dtype(dt)))], args={"dtype": dt}, layouts=layouts, tol=(0, 0))
    bytes8 = rand((2, 8), "int8", 0, 100)
    for dt in ["float16", "int32", "uint64", "bool"]:
        src = bytes8 if dt != "bool" else rand((2, 8), "int8", 0, 1)
        fam.add(f"view_int8_{dt}", "view", [src], [from_mlx(mx.view(src.mlx(), mx_dtype(dt)))], args={"dtype": dt}, tol=(0, 0))
    flags = rand((2, 4), "bool")
    fam.add("view_bool_uint8", "view", [flags], [from_mlx(mx.view(flags.mlx(), mx.uint8))], args={"dtype": "uint8"}, tol=(0, 0))
    d = rand((3,), "float64")
    fam.add("view_float64_uint32", "view", [d], [from_mlx(mx.view(d.mlx(), mx.uint32))], args={"dtype": "uint32"}, tol=(0, 0))
    s0 = rand((), "float32")
    fam.add("view_scalar_int32", "view", [s0], [from_mlx(mx.view(s0.mlx(), mx.int32))], args={"dtype": "int32"}, tol=(0, 0))
    fam.add("view_empty", "view", [rand((2, 0), "float32")], [from_mlx(mx.view(mx.zeros((2, 0)), mx.uint8))], args={"dtype": "uint8"}, tol=(0, 0))
    # the remaining shape functions of mlx.core
    x = rand((2, 12, 3), "float32")
    v = x.values
    fam.add("unflatten", "unflatten", [x], [Tensor(v.reshape(2, 3, 4, 3), "float32")], args={"axis": 1, "shape": [3, -1]})
    fam.add("permute_dims", "permute_dims", [x], [Tensor(v.transpose(2, 0, 1), "float32")], args={"axes": [2, 0, 1]}, layouts={0: "T"})
    a, b, c = rand((3, 1), "int32"), rand((4,), "float32"), rand((), "float16")
    fam.add("broadcast_arrays", "broadcast_arrays", [a, b, c], [Tensor(o, t.dtype) for o, t in zip(np.broadcast_arrays(a.values, b.values, c.values), (a, b, c))], tol=(0, 0))
    for k in [1, 2, 3]:
        for src in [rand((), "float32"), rand((5,), "int32"), rand((2, 3), "float32"), rand((2, 3, 4), "float32")]:
            m = getattr(mx, f"atleast_{k}d")(src.mlx())
            assert m.shape == getattr(np, f"atleast_{k}d")(src.values).shape
            fam.add(f"atleast_{k}d_{src.values.ndim}", f"atleast_{k}d", [src], [from_mlx(m)], tol=(0, 0))
    for axis in [0, 1, -1]:
        fam.add(f"unstack_{axis}", "unstack", [x], [Tensor(p, "float32") for p in np.moveaxis(v, axis, 0)], args={"axis": axis}, tol=(0, 0))
    fam.write()


def gen_creation():
    fam = Family("creation")
    cases = [
        ("arange_f32", {"start": 0.0, "stop": 1.0, "step": 0.1, "dtype": "float32"}, mx.arange(0.0, 1.0, 0.1, dtype=mx.float32)),
        ("arange_i32", {"start": -5.0, "stop": 17.0, "step": 3.0, "dtype": "int32"}, mx.arange(-5, 17, 3, dtype=mx.int32)),
        ("arange_neg_step", {"start": 5.0, "stop": -5.0, "step": -1.5, "dtype": "float32"}, mx.arange(5.0, -5.0, -1.5)),
        ("linspace", {"start": -1.0, "stop": 2.0, "num": 7, "dtype": "float32"}, mx.linspace(-1.0, 2.0, 7)),
        ("eye", {"n": 4, "m": 5, "k": 1, "dtype": "float32"}, mx.eye(4, 5, 1)),
        ("tri", {"n": 4, "m": 3, "k": -1, "dtype": "int32"}, mx.tri(4, 3, -1, dtype=mx.int32)),
        ("full", {"shape": [2, 3], "value": 2.5, "dtype": "float16"}, mx.full((2, 3), 2.5, dtype=mx.float16)),
        ("zeros", {"shape": [3], "dtype": "int8"}, mx.zeros((3,), dtype=mx.int8)),
        ("ones", {"shape": [2, 2], "dtype": "bfloat16"}, mx.ones((2, 2), dtype=mx.bfloat16)),
        ("identity", {"n": 3, "dtype": "float64"}, mx.identity(3, dtype=mx.float64)),
    ]
    for name, args, m in cases:
        fam.add(name, name.split("_")[0] if name.startswith("arange") else name, [], [from_mlx(m)], args=args, tol=(1e-6, 1e-6))
    x = rand((4, 5), "float32")
    fam.add("tril", "tril", [x], [Tensor(np.tril(x.values, 1), "float32")], args={"k": 1})
    fam.add("triu", "triu", [x], [Tensor(np.triu(x.values, -1), "float32")], args={"k": -1})
    # windows, from NumPy's float64 values (MLX computes them in float32)
    for name in ["hanning", "hamming", "blackman", "bartlett"]:
        for m in [0, 1, 2, 5, 12]:
            fam.add(f"{name}_{m}", name, [], [expect(getattr(np, name)(m), "float32")], args={"m": m}, tol=(1e-6, 1e-6))
    for dt in ["float32", "int32", "bfloat16", "bool"]:
        x = rand((2, 3), dt)
        fam.add(f"zeros_like_{dt}", "zeros_like", [x], [from_mlx(mx.zeros_like(x.mlx()))], tol=(0, 0))
        fam.add(f"ones_like_{dt}", "ones_like", [x], [from_mlx(mx.ones_like(x.mlx()))], tol=(0, 0))
        fam.add(f"full_like_{dt}", "full_like", [x], [from_mlx(mx.full_like(x.mlx(), 2.5))], args={"value": 2.5}, tol=(0, 0))
    fam.write()


# ---------------------------------------------------------------------------------------
# scans and sorting

def gen_scan_sort():
    fam = Family("scan_sort")
    scans = {"cumsum": np.cumsum, "cumprod": np.cumprod, "cummax": np.maximum.accumulate, "cummin": np.minimum.accumulate}
    for name, fn in scans.items():
        for dt in ["float32", "float64", "int32", "float16", "bool"]:
            if dt == "bool" and name in ("cummax", "cummin"):
                continue
            for axis in [0, 1]:
                for reverse in [False, True]:
                    for inclusive in [True, False]:
                        x = rand((4, 6), dt, 0.5 if name == "cumprod" else -3, 1.5 if name == "cumprod" else 3)
                        m = getattr(mx, name)(x.mlx(), axis=axis, reverse=reverse, inclusive=inclusive)
                        tol = (2e-3, 2e-3) if dt == "float16" else None
                        fam.add(f"{name}_{dt}_{axis}_{int(reverse)}_{int(inclusive)}", name, [x], [from_mlx(m)],
                                args={"axis": axis, "reverse": reverse, "inclusive": inclusive}, tol=tol,
                                layouts={0: "T"} if dt == "float32" and axis == 0 else None)
    x = rand((3, 5), "float32")
    fam.add("logcumsumexp", "logcumsumexp", [x], [from_mlx(mx.logcumsumexp(x.mlx(), axis=1))], args={"axis": 1, "reverse": False, "inclusive": True})
    x = rand((12,), "int32", -9, 9)
    fam.add("cumsum_flat", "cumsum", [Tensor(x.values.reshape(3, 4), "int32")], [Tensor(np.cumsum(x.values), "int32")], args={"axis": None, "reverse": False, "inclusive": True})
    for dt in ["float32", "int32", "uint8", "float16", "float64", "int64", "bfloat16"]:
        for shape, axis in [((5, 7), -1), ((5, 7), 0), ((3000,), 0)]:
            x = rand(shape, dt, -50, 50)
            if dt == "float32":
                v = x.values.copy().reshape(-1)
                v[:3] = [np.nan, -np.inf, np.inf]
                x = Tensor(v.reshape(shape), dt)
            tag = f"{dt}_{len(shape)}d_{axis}"
            fam.add(f"sort_{tag}", "sort", [x], [from_mlx(mx.sort(x.mlx(), axis=axis))], args={"axis": axis}, tol=(0, 0))
            fam.add(f"argsort_{tag}", "argsort", [x], [from_mlx(mx.argsort(x.mlx(), axis=axis))], args={"axis": axis})
    x = rand((6, 8), "float32")
    fam.add("sort_T", "sort", [x], [Tensor(np.sort(x.values, axis=0), "float32")], args={"axis": 0}, layouts={0: "T"}, tol=(0, 0))
    x = rand((4, 9), "int32", 0, 100)
    fam.add("topk", "topk", [x], [from_mlx(mx.topk(x.mlx(), 3, axis=-1))], args={"k": 3, "axis": -1})
    seq = Tensor(np.sort(RNG.integers(0, 20, 10)).astype(np.float32), "float32")
    vals = rand((3, 4), "float32", -2, 22)
    vals = Tensor(np.round(vals.values), "float32")
    for side in ["left", "right"]:
        fam.add(f"searchsorted_{side}", "searchsorted", [seq, vals], [from_mlx(mx.searchsorted(seq.mlx(), vals.mlx(), side=side))], args={"right": side == "right"})
    x = rand((4, 5, 3), "float32")
    fam.add("diff", "diff", [x], [Tensor(np.diff(x.values, n=2, axis=1), "float32")], args={"n": 2, "axis": 1})
    # partition/argpartition: any order either side of kth is valid, so the test compares a
    # canonical form (kth value, each side sorted) computed the same way on both sides
    for dt, shape, kth, axis in [("float32", (5, 9), 3, -1), ("int32", (7, 4), -2, 0), ("float64", (11,), 0, 0), ("float32", (2, 3, 6), 5, 2)]:
        x = Tensor(RNG.permutation(np.prod(shape)).reshape(shape) - 20, dt)
        part = np.partition(x.values, kth, axis=axis)
        arg = np.argpartition(x.values, kth, axis=axis)
        k = kth % shape[axis]
        def canon(p):
            left, mid, right = np.split(p, [k, k + 1], axis=axis)
            return [np.sort(left, axis=axis), mid, np.sort(right, axis=axis)]
        tag = f"{dt}_{len(shape)}d_{kth}"
        fam.add(f"partition_{tag}", "partition", [x], [Tensor(o, dt) for o in canon(part)], args={"kth": kth, "axis": axis}, tol=(0, 0))
        picked = np.take_along_axis(x.values, arg, axis=axis)
        fam.add(f"argpartition_{tag}", "argpartition", [x], [Tensor(o, dt) for o in canon(picked)], args={"kth": kth, "axis": axis}, tol=(0, 0))
    fam.write()


# ---------------------------------------------------------------------------------------
# indexing

def gen_indexing():
    fam = Family("indexing")
    for dt in ["float32", "int32", "bfloat16", "bool"]:
        a = rand((5, 6), dt, -9, 9)
        idx = Tensor(RNG.integers(-5, 5, (3, 2)), "int32")
        for axis in [0, 1, None]:
            ref = np.take(a.values, idx.values, axis=axis)
            fam.add(f"take_{dt}_{axis}", "take", [a, idx], [Tensor(ref, dt)], args={"axis": axis}, tol=(0, 0))
        ia = Tensor(RNG.integers(0, 5, (2, 6)), "uint32")
        fam.add(f"take_along_axis_{dt}", "take_along_axis", [a, ia], [Tensor(np.take_along_axis(a.values, ia.values.astype(np.int64), 0), dt)], args={"axis": 0}, tol=(0, 0))
    a = rand((4, 5), "float32")
    idx = Tensor(RNG.integers(0, 5, (4, 2)), "int32")
    vals = rand((4, 2), "float32")
    ref = a.values.copy()
    np.put_along_axis(ref, idx.values.astype(np.int64), vals.values, 1)
    # NumPy writes duplicates in order (last wins), as rmx does.
    fam.add("put_along_axis", "put_along_axis", [a, idx, vals], [Tensor(ref, "float32")], args={"axis": 1}, tol=(0, 0))
    modes = {"add": np.add.at, "multiply": np.multiply.at, "maximum": np.maximum.at, "minimum": np.minimum.at}
    for mode, fn in modes.items():
        for dt in ["float32", "int32"]:
            a = rand((6, 3), dt, 1, 5)
            idx = Tensor(np.array([0, 2, 2, 5, 0]), "int32")
            upd = rand((5, 3), dt, 1, 5)
            ref = a.values.copy()
            fn(ref, idx.values, upd.values)
            fam.add(f"at_{mode}_{dt}", f"at_{mode}", [a, idx, upd], [Tensor(ref, dt)])
    a = rand((6, 3), "float32", 1, 5)
    idx = Tensor(np.array([1, 4]), "int32")
    upd = rand((2, 3), "float32")
    ref = a.values.copy()
    ref[idx.values] -= upd.values
    fam.add("at_subtract", "at_subtract", [a, idx, upd], [Tensor(ref, "float32")])
    ref = a.values.copy()
    ref[idx.values] = upd.values
    fam.add("at_set", "at_set", [a, idx, upd], [Tensor(ref, "float32")])
    # two index arrays (advanced indexing on leading axes)
    a = rand((4, 5, 3), "float32")
    i0, i1 = Tensor(np.array([[0, 3], [1, 1]]), "int32"), Tensor(np.array([4, 0]), "int32")
    fam.add("gather_2d", "gather", [a, i0, i1], [Tensor(a.values[i0.values, i1.values], "float32")], args={"axes": [0, 1]}, tol=(0, 0))
    a = rand((3, 4), "float32")
    mask = rand((3, 4), "bool")
    vals = rand((12,), "float32")
    ref = a.values.copy()
    ref[mask.values] = vals.values[: mask.values.sum()]
    fam.add("masked_scatter", "masked_scatter", [a, mask, vals], [Tensor(ref, "float32")], tol=(0, 0))
    a = rand((5, 6), "float32")
    start = Tensor(np.array([2, 1]), "int32")
    fam.add("slice_dynamic", "slice_dynamic", [a, start], [Tensor(a.values[2:4, 1:4], "float32")], args={"axes": [0, 1], "sizes": [2, 3]}, tol=(0, 0))
    upd = rand((2, 3), "float32")
    ref = a.values.copy()
    ref[2:4, 1:4] = upd.values
    fam.add("slice_update_dynamic", "slice_update_dynamic", [a, upd, start], [Tensor(ref, "float32")], args={"axes": [0, 1]}, tol=(0, 0))
    # NumPy-style index expressions
    a = rand((4, 5, 6), "float32")
    v = a.values
    ia = Tensor(np.array([3, 0, 1]), "int32")
    fam.add("index_basic", "index", [a], [Tensor(v[1, ::-2, 2:5], "float32")], args={"expr": [["at", 1], ["slice", None, None, -2], ["slice", 2, 5, 1]]}, tol=(0, 0))
    fam.add("index_newaxis_ellipsis", "index", [a], [Tensor(v[None, ..., -1], "float32")], args={"expr": [["new"], ["ellipsis"], ["at", -1]]}, tol=(0, 0))
    fam.add("index_array_middle", "index", [a, ia], [Tensor(v[:, ia.values, 1:3], "float32")], args={"expr": [["slice", None, None, 1], ["array", 1], ["slice", 1, 3, 1]]}, tol=(0, 0))
    ib = Tensor(np.array([[1, 2]]), "int32")
    ia2 = Tensor(np.array([3, 0]), "int32")
    fam.add("index_two_arrays_apart", "index", [a, ia2, ib], [Tensor(v[ia2.values, :, ib.values], "float32")],
            args={"expr": [["array", 1], ["slice", None, None, 1], ["array", 2]]}, tol=(0, 0))
    # With array indices present, integers count as array indices and new axes as slices
    # (NumPy's and MLX's rule): an integer between arrays keeps them adjacent, an integer
    # before a slice separates.
    w = rand((3, 4, 5, 6), "float32")
    fam.add("index_int_between_arrays", "index", [w, ia2, ib], [Tensor(w.values[:, ia2.values, 0, ib.values], "float32")],
            args={"expr": [["slice", None, None, 1], ["array", 1], ["at", 0], ["array", 2]]}, tol=(0, 0))
    fam.add("index_int_then_array_apart", "index", [a, ia], [Tensor(v[-1, :, ia.values], "float32")],
            args={"expr": [["at", -1], ["slice", None, None, 1], ["array", 1]]}, tol=(0, 0))
    fam.add("index_newaxis_between_arrays", "index", [a, ia2, ib], [Tensor(v[ia2.values, None, ib.values], "float32")],
            args={"expr": [["array", 1], ["new"], ["array", 2]]}, tol=(0, 0))
    fam.add("index_newaxis_ellipsis_array", "index", [a, ia], [Tensor(v[None, ..., ia.values, None], "float32")],
            args={"expr": [["new"], ["ellipsis"], ["array", 1], ["new"]]}, tol=(0, 0))
    gen_index_updates(fam)
    fam.write()


def index_tuple(expr, inputs, lib):
    """The Python index an "expr" stands for, with array entries taken from `inputs`."""
    def entry(e):
        if e[0] == "at":
            return e[1]
        if e[0] == "slice":
            return slice(e[1], e[2], e[3])
        if e[0] == "new":
            return None
        if e[0] == "ellipsis":
            return Ellipsis
        t = inputs[e[1]]
        return t.values if lib == "np" else t.mlx()
    return tuple(entry(e) for e in expr)


def gen_index_updates(fam):
    """`a[idx] = v` and `a.at[idx].<mode>(v)` for every kind of index: NumPy's ufunc.at is
    the reference (repeated indices accumulate), and MLX 0.32 must agree with it."""
    ufuncs = {"add": np.add.at, "subtract": np.subtract.at, "multiply": np.multiply.at, "divide": np.divide.at,
              "maximum": np.maximum.at, "minimum": np.minimum.at}
    ia, ia2, ib = Tensor(np.array([0, 0, 2]), "int32"), Tensor(np.array([3, 0]), "int32"), Tensor(np.array([[1, 2]]), "int32")
    cases = [
        # name, mode, dtype, shape of a, index expression, arrays, shape of the values
        ("window_add", "add", "float32", (4, 5, 6), [["slice", 1, 3, 1], ["slice", None, None, 2]], [], (1, 6)),
        ("window_int_subtract", "subtract", "float32", (4, 5, 6), [["ellipsis"], ["at", 2]], [], (5,)),
        ("window_new_reverse_set", "set", "float32", (4, 5, 6), [["new"], ["at", -1], ["slice", None, None, -2]], [], (1, 3, 6)),
        ("window_divide", "divide", "float32", (4, 5), [["slice", 1, None, 2]], [], (5,)),
        ("window_maximum_bf16", "maximum", "bfloat16", (4, 5), [["slice", None, None, 1], ["slice", 4, 0, -2]], [], (4, 2)),
        ("window_add_int32", "add", "int32", (4, 5), [["at", 0], ["slice", 1, 4, 1]], [], ()),
        ("array_then_slice_add", "add", "float32", (4, 5, 6), [["array", 2], ["slice", 1, 3, 1]], [ia], (3, 2, 6)),
        ("array_then_slice_add_int32", "add", "int32", (4, 5, 6), [["array", 2], ["slice", 1, 3, 1]], [ia], (2, 6)),
        ("arrays_apart_multiply", "multiply", "float32", (4, 5, 6), [["array", 2], ["slice", None, None, 1], ["array", 3]], [ia2, ib], (1, 2, 5)),
        ("int_between_arrays_maximum", "maximum", "float32", (3, 4, 5, 6), [["slice", None, None, 1], ["array", 2], ["at", 0], ["array", 3]], [ia2, ib], (3, 1, 2)),
        ("newaxis_array_minimum", "minimum", "float32", (4, 5, 6), [["new"], ["ellipsis"], ["array", 2]], [ia2], (1, 4, 5, 2)),
        ("leading_array_set", "set", "float32", (4, 5, 6), [["array", 2]], [ia2], (2, 5, 6)),
        ("leading_array_divide", "divide", "float32", (4, 5), [["array", 2]], [ia], (5,)),
    ]
    for name, mode, dt, shape, expr, arrays, vshape in cases:
        lo = 1 if mode in ("multiply", "divide") else -3
        a, v = rand(shape, dt, lo, 4), rand(vshape, dt, lo, 4)
        inputs = [a, v] + arrays
        ref = np_of(a).copy()
        vals = np_of(v)
        if mode == "set":
            ref[index_tuple(expr, inputs, "np")] = vals
        else:
            ufuncs[mode](ref, index_tuple(expr, inputs, "np"), vals)
        with_mlx = a.mlx()
        if mode == "set":
            with_mlx[index_tuple(expr, inputs, "mx")] = v.mlx()
        else:
            with_mlx = getattr(with_mlx.at[index_tuple(expr, inputs, "mx")], mode)(v.mlx())
        got = np.array(with_mlx.astype(mx.float32), dtype=np.float64)
        assert np.allclose(got, Tensor(ref, dt).values, rtol=1e-2 if dt == "bfloat16" else 1e-6), name
        fam.add(f"update_{name}", "index_update", inputs, [Tensor(ref, dt)], args={"expr": expr, "mode": mode})
    # The window updates MLX's C++ API has (slice_update_add/prod/max/min): NumPy on the window.
    a = rand((5, 6), "float32")
    for op, fn in [("add", np.add), ("prod", np.multiply), ("max", np.maximum), ("min", np.minimum)]:
        u = rand((2, 6), "float32")
        ref = np_of(a).copy()
        ref[3:0:-2, :] = fn(ref[3:0:-2, :], np_of(u))
        fam.add(f"slice_update_{op}", f"slice_update_{op}", [a, u], [Tensor(ref, "float32")],
                args={"starts": [3, 0], "stops": [0, 6], "steps": [-2, 1]})
    # scatter_add_axis: put_along_axis that adds (repeated indices accumulate).
    a = rand((3, 5), "float32")
    idx = Tensor(np.array([[0, 0, 4], [2, 1, 2], [3, 3, 3]]), "int32")
    v = rand((3, 3), "float32")
    ref = np_of(a).copy()
    np.add.at(ref, (np.arange(3)[:, None], idx.values), np_of(v))
    fam.add("scatter_add_axis", "scatter_add_axis", [a, idx, v], [Tensor(ref, "float32")], args={"axis": 1})


# ---------------------------------------------------------------------------------------
# layout ops

def gen_edges():
    """Empty and 0-d inputs across the op families. MLX decides each result (or refuses the
    input, and then rmx must return an error); NumPy agrees wherever it defines the case."""
    fam = Family("edges")
    inputs = {"0": (0,), "2x0": (2, 0), "0x3": (0, 3), "scalar": ()}

    overruled = []

    def case(name, op, xs, mlx_fn, args=None, np_fn=None, np_dtype="float32"):
        """`np_fn`: NumPy's answer where it defines one; it overrules MLX 0.32.4 where MLX
        refuses an input whose result is simply empty, or contradicts its own 1-d answer on
        a many-axis empty input (products and `all` of nothing; docs/decisions.md)."""
        want = None
        if np_fn is not None:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    want = np.asarray(np_fn(*[x.values for x in xs]))
                except ValueError:
                    pass
        try:
            outs = mlx_fn(*[x.mlx() for x in xs])
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            mx.eval(outs)
        except (ValueError, RuntimeError, IndexError):
            if want is None or want.size > 0:
                fam.add_error(name, op, xs, args)
                return
            overruled.append(name)
            fam.add(name, op, xs, [expect(want, np_dtype)], args=args)
            return
        got = [from_mlx(o) for o in outs]
        if want is not None and not np.allclose(got[0].values.astype(np.float64), want.astype(np.float64), equal_nan=True):
            overruled.append(name)
            got = [expect(want, got[0].dtype)]
        fam.add(name, op, xs, got, args=args, tol=(1e-6, 1e-6))

    unary = {"exp": mx.exp, "negative": mx.negative, "sign": mx.sign, "floor": mx.floor, "sigmoid": mx.sigmoid, "erf": mx.erf, "isnan": mx.isnan}
    reductions = ["sum", "prod", "max", "min", "mean", "all", "any", "logsumexp"]
    for tag, shape in inputs.items():
        x = rand(shape, "float32")
        for name, fn in unary.items():
            case(f"{name}_{tag}", name, [x], fn)
        case(f"bitwise_invert_{tag}", "bitwise_invert", [rand(shape, "int32")], mx.bitwise_invert)
        case(f"add_scalar_{tag}", "add", [x, rand((), "float32")], mx.add)
        case(f"maximum_self_{tag}", "maximum", [x, x], mx.maximum)
        for axes in [None] + [[a] for a in range(len(shape))] + ([[-1, 0]] if len(shape) == 2 else []):
            atag = "all" if axes is None else "_".join(map(str, axes))
            np_axes = None if axes is None else tuple(axes)
            for name in reductions:
                np_fn = (lambda v: np.log(np.sum(np.exp(v), axis=np_axes))) if name == "logsumexp" else (lambda v, n=name: getattr(np, n)(v, axis=np_axes))
                case(f"{name}_{tag}_{atag}", name, [x], lambda a, n=name: getattr(mx, n)(a, axis=axes), args={"axes": axes}, np_fn=np_fn)
            case(f"var_{tag}_{atag}", "var", [x], lambda a: mx.var(a, axis=axes), args={"axes": axes, "ddof": 0}, np_fn=lambda v: np.var(v, axis=np_axes))
            case(f"count_nonzero_{tag}_{atag}", "count_nonzero", [x], lambda a: mx.count_nonzero(a, axis=axes), args={"axes": axes}, np_fn=lambda v: np.count_nonzero(v, axis=np_axes))
            case(f"median_{tag}_{atag}", "median", [x], lambda a: mx.median(a, axis=axes), args={"axes": axes})
        for axis in [None] + list(range(len(shape))):
            for name in ["argmax", "argmin"]:
                case(f"{name}_{tag}_{axis}", name, [x], lambda a, n=name: getattr(mx, n)(a, axis=axis), args={"axis": axis}, np_fn=lambda v, n=name: getattr(np, n)(v, axis=axis), np_dtype="uint32")
            for name in ["cumsum", "cumprod", "cummax", "logcumsumexp"]:
                case(f"{name}_{tag}_{axis}", name, [x], lambda a, n=name: getattr(mx, n)(a, axis=axis), args={"axis": axis, "reverse": False, "inclusive": True})
        for axis in range(len(shape)):
            case(f"softmax_{tag}_{axis}", "softmax", [x], lambda a: mx.softmax(a, axis=axis), args={"axes": [axis]})
            case(f"sort_{tag}_{axis}", "sort", [x], lambda a: mx.sort(a, axis=axis), args={"axis": axis})
            case(f"argsort_{tag}_{axis}", "argsort", [x], lambda a: mx.argsort(a, axis=axis), args={"axis": axis})
            case(f"flip_{tag}_{axis}", "flip", [x], lambda a: mx.flip(a, axis=axis), args={"axes": [axis]})
            case(f"roll_{tag}_{axis}", "roll", [x], lambda a: mx.roll(a, 2, axis=axis), args={"shift": 2, "axis": axis})
            case(f"repeat_{tag}_{axis}", "repeat", [x], lambda a: mx.repeat(a, 2, axis=axis), args={"repeats": 2, "axis": axis})
            case(f"take_empty_{tag}_{axis}", "take", [x, Tensor(np.zeros((0,), np.int32), "int32")], lambda a, i: mx.take(a, i, axis=axis), args={"axis": axis})
        case(f"transpose_{tag}", "transpose", [x], lambda a: mx.transpose(a))
        case(f"reshape_{tag}", "reshape", [x], lambda a: mx.reshape(a, (-1,)), args={"shape": [-1]})
        case(f"tile_{tag}", "tile", [x], lambda a: mx.tile(a, [2] * max(len(shape), 1)), args={"reps": [2] * max(len(shape), 1)})
        widths = [(1, 2)] * len(shape)
        case(f"pad_{tag}", "pad", [x], lambda a: mx.pad(a, widths, constant_values=1.5), args={"widths": widths, "mode": "constant", "value": 1.5})
        case(f"concatenate_self_{tag}", "concatenate", [x, x], lambda a, b: mx.concatenate([a, b], axis=0), args={"axis": 0})
        case(f"stack_{tag}", "stack", [x, x], lambda a, b: mx.stack([a, b], axis=0), args={"axis": 0})
        case(f"where_{tag}", "where", [rand(shape, "bool"), x, rand((), "float32")], mx.where)
    # products with an empty side: the result has zeros for an empty contraction
    for sa, sb in [((2, 0), (0, 3)), ((0, 3), (3, 4)), ((2, 3), (3, 0)), ((5, 0, 2), (2, 3))]:
        a, b = rand(sa, "float32"), rand(sb, "float32")
        case(f"matmul_{'x'.join(map(str, sa))}_{'x'.join(map(str, sb))}", "matmul", [a, b], mx.matmul)
    print("NumPy overrules MLX in:", ", ".join(overruled))
    fam.write()


def gen_layout():
    fam = Family("layout")
    a = rand((3, 4), "int32", -9, 9)
    v = a.values
    fam.add("flip_0", "flip", [a], [Tensor(np.flip(v, 0), "int32")], args={"axes": [0]})
    fam.add("flip_all", "flip", [a], [Tensor(np.flip(v), "int32")], args={"axes": None})
    fam.add("roll_1", "roll", [a], [Tensor(np.roll(v, -3, 1), "int32")], args={"shift": -3, "axis": 1})
    fam.add("roll_flat", "roll", [a], [Tensor(np.roll(v, 5), "int32")], args={"shift": 5, "axis": None})
    fam.add("tile", "tile", [a], [Tensor(np.tile(v, (2, 1, 3)), "int32")], args={"reps": [2, 1, 3]})
    fam.add("repeat_1", "repeat", [a], [Tensor(np.repeat(v, 3, 1), "int32")], args={"repeats": 3, "axis": 1})
    fam.add("repeat_flat", "repeat", [a], [Tensor(np.repeat(v, 2), "int32")], args={"repeats": 2, "axis": None})
    f = rand((3, 4), "float32")
    for mode in ["constant", "edge", "reflect", "symmetric"]:
        widths = [(2, 1), (3, 3)]
        ref = np.pad(f.values, widths, mode=mode, **({"constant_values": 1.5} if mode == "constant" else {}))
        fam.add(f"pad_{mode}", "pad", [f], [Tensor(ref, "float32")], args={"widths": widths, "mode": mode, "value": 1.5}, tol=(0, 0))
    fam.add("pad_reflect_T", "pad", [f], [Tensor(np.pad(f.values, [(1, 2), (2, 0)], mode="reflect"), "float32")], args={"widths": [(1, 2), (2, 0)], "mode": "reflect", "value": 0}, layouts={0: "T"}, tol=(0, 0))
    m = rand((4, 5), "float32")
    for k in [0, 1, -2]:
        fam.add(f"diagonal_{k}", "diagonal", [m], [Tensor(np.diagonal(m.values, k), "float32")], args={"offset": k, "axis1": 0, "axis2": 1}, tol=(0, 0))
        fam.add(f"diag_1d_{k}", "diag", [Tensor(m.values[0], "float32")], [Tensor(np.diag(m.values[0], k), "float32")], args={"k": k}, tol=(0, 0))
    t = rand((2, 4, 4), "float32")
    fam.add("trace", "trace", [t], [Tensor(np.trace(t.values, 1, 1, 2), "float32")], args={"offset": 1, "axis1": 1, "axis2": 2})
    x, y = rand((3,), "float32"), rand((4,), "float32")
    for xy in [True, False]:
        outs = np.meshgrid(x.values, y.values, indexing="xy" if xy else "ij")
        fam.add(f"meshgrid_{'xy' if xy else 'ij'}", "meshgrid", [x, y], [Tensor(o, "float32") for o in outs], args={"xy": xy}, tol=(0, 0))
    fam.write()


# ---------------------------------------------------------------------------------------
# random (MLX is the reference: same keys, same numbers)

def gen_random():
    fam = Family("random")
    for seed in [0, 42, 2**40 + 7]:
        k = mx.random.key(seed)
        kt = from_mlx(k)
        fam.add(f"key_{seed}", "key", [], [kt], args={"seed": seed})
        fam.add(f"split_{seed}", "random_split", [kt], [from_mlx(mx.random.split(k, 3))], args={"num": 3})
        for shape in [(5,), (3, 7), (1,), (2, 2)]:
            tag = f"{seed}_{'x'.join(map(str, shape))}"
            fam.add(f"uniform_{tag}", "uniform", [kt], [from_mlx(mx.random.uniform(-2.0, 3.0, shape, key=k))], args={"low": -2.0, "high": 3.0, "shape": list(shape), "dtype": "float32"}, tol=(1e-6, 1e-6))
            fam.add(f"normal_{tag}", "normal", [kt], [from_mlx(mx.random.normal(shape, key=k))], args={"shape": list(shape), "dtype": "float32"}, tol=(1e-5, 1e-5))
            fam.add(f"randint_{tag}", "randint", [kt], [from_mlx(mx.random.randint(-5, 100, shape, key=k))], args={"low": -5, "high": 100, "shape": list(shape), "dtype": "int32"})
        for dt in ["float16", "bfloat16"]:
            fam.add(f"uniform_{dt}_{seed}", "uniform", [kt], [from_mlx(mx.random.uniform(0.0, 1.0, (6,), dtype=mx_dtype(dt), key=k))], args={"low": 0.0, "high": 1.0, "shape": [6], "dtype": dt})
        fam.add(f"bernoulli_{seed}", "bernoulli", [kt], [from_mlx(mx.random.bernoulli(0.3, (10,), key=k))], args={"p": 0.3, "shape": [10]})
        fam.add(f"gumbel_{seed}", "gumbel", [kt], [from_mlx(mx.random.gumbel((6,), key=k))], args={"shape": [6], "dtype": "float32"}, tol=(1e-5, 1e-5))
        fam.add(f"permutation_{seed}", "permutation", [kt], [from_mlx(mx.random.permutation(9, key=k))], args={"n": 9})
        fam.add(f"truncated_normal_{seed}", "truncated_normal", [kt], [from_mlx(mx.random.truncated_normal(-1.0, 2.0, (6,), key=k))], args={"lower": -1.0, "upper": 2.0, "shape": [6], "dtype": "float32"}, tol=(1e-5, 1e-5))
        fam.add(f"laplace_{seed}", "laplace", [kt], [from_mlx(mx.random.laplace((6,), key=k))], args={"shape": [6], "dtype": "float32"}, tol=(1e-5, 1e-5))
        logits = rand((3, 5), "float32")
        fam.add(f"categorical_{seed}", "categorical", [logits, kt], [from_mlx(mx.random.categorical(logits.mlx(), key=k))], args={"axis": -1})
    fam.write()


# ---------------------------------------------------------------------------------------
# fast ops (MLX's mx.fast is the reference)

def gen_fast():
    fam = Family("fast")
    for dt in ["float32", "float16", "bfloat16"]:
        tol = TOL[dt]
        x, w, b = rand((2, 3, 16), dt), rand((16,), dt), rand((16,), dt)
        fam.add(f"rms_norm_{dt}", "rms_norm", [x, w], [from_mlx(mx.fast.rms_norm(x.mlx(), w.mlx(), 1e-5))], args={"eps": 1e-5}, tol=tol)
        fam.add(f"layer_norm_{dt}", "layer_norm", [x, w, b], [from_mlx(mx.fast.layer_norm(x.mlx(), w.mlx(), b.mlx(), 1e-5))], args={"eps": 1e-5}, tol=tol)
        for trad in [False, True]:
            for dims in [16, 8]:
                x = rand((2, 2, 5, 16), dt)
                m = mx.fast.rope(x.mlx(), dims, traditional=trad, base=10000.0, scale=0.5, offset=3)
                fam.add(f"rope_{dt}_{int(trad)}_{dims}", "rope", [x], [from_mlx(m)], args={"dims": dims, "traditional": trad, "base": 10000.0, "scale": 0.5, "offset": 3}, tol=(tol[0] * 4, tol[1] * 4))
    x = rand((1, 2, 4, 8), "float32")
    freqs = Tensor(np.exp(RNG.uniform(0, 5, 4)), "float32")
    fam.add("rope_freqs", "rope", [x, freqs], [from_mlx(mx.fast.rope(x.mlx(), 8, traditional=False, base=None, scale=1.0, offset=0, freqs=freqs.mlx()))], args={"dims": 8, "traditional": False, "base": None, "scale": 1.0, "offset": 0})
    for dt in ["float32", "float16"]:
        for (nq, nkv, tq, tk) in [(4, 4, 5, 5), (8, 2, 3, 7), (4, 1, 1, 9)]:
            q, k, v = rand((2, nq, tq, 16), dt, -1, 1), rand((2, nkv, tk, 16), dt, -1, 1), rand((2, nkv, tk, 16), dt, -1, 1)
            tag = f"{dt}_{nq}_{nkv}_{tq}_{tk}"
            tol = (1e-4, 1e-5) if dt == "float32" else (5e-3, 5e-3)
            fam.add(f"sdpa_{tag}", "sdpa", [q, k, v], [from_mlx(mx.fast.scaled_dot_product_attention(q.mlx(), k.mlx(), v.mlx(), scale=0.25))], args={"scale": 0.25}, tol=tol)
            fam.add(f"sdpa_causal_{tag}", "sdpa", [q, k, v], [from_mlx(mx.fast.scaled_dot_product_attention(q.mlx(), k.mlx(), v.mlx(), scale=0.25, mask="causal"))], args={"scale": 0.25, "mask": "causal"}, tol=tol)
            bm = rand((tq, tk), "bool")
            bm = Tensor(np.logical_or(bm.values, np.eye(tq, tk, dtype=bool)), "bool")
            fam.add(f"sdpa_bool_{tag}", "sdpa", [q, k, v, bm], [from_mlx(mx.fast.scaled_dot_product_attention(q.mlx(), k.mlx(), v.mlx(), scale=0.25, mask=bm.mlx()))], args={"scale": 0.25, "mask": "array"}, tol=tol)
            am = rand((1, nq, tq, tk), dt, -2, 0)
            fam.add(f"sdpa_additive_{tag}", "sdpa", [q, k, v, am], [from_mlx(mx.fast.scaled_dot_product_attention(q.mlx(), k.mlx(), v.mlx(), scale=0.25, mask=am.mlx()))], args={"scale": 0.25, "mask": "array"}, tol=tol)
            sinks = rand((nq,), "float32", -1, 1)
            fam.add(f"sdpa_sinks_{tag}", "sdpa", [q, k, v, sinks], [from_mlx(mx.fast.scaled_dot_product_attention(q.mlx(), k.mlx(), v.mlx(), scale=0.25, sinks=sinks.mlx().astype(mx_dtype(dt))))], args={"scale": 0.25, "sinks": True}, tol=tol)
    fam.write()


# ---------------------------------------------------------------------------------------
# convolutions (MLX layout: channels last)

def gen_conv():
    fam = Family("conv")
    cases = [
        ("conv1d", (2, 9, 4), (6, 3, 4), dict(stride=2, padding=1, dilation=1, groups=1)),
        ("conv1d", (1, 10, 4), (4, 3, 2), dict(stride=1, padding=2, dilation=2, groups=2)),
        ("conv2d", (2, 7, 6, 3), (5, 3, 3, 3), dict(stride=1, padding=1, dilation=1, groups=1)),
        ("conv2d", (1, 9, 8, 4), (6, 3, 2, 2), dict(stride=2, padding=0, dilation=1, groups=2)),
        ("conv2d", (1, 9, 9, 2), (3, 3, 3, 2), dict(stride=1, padding=2, dilation=2, groups=1)),
        ("conv3d", (1, 5, 6, 4, 2), (3, 2, 3, 2, 2), dict(stride=1, padding=1, dilation=1, groups=1)),
    ]
    for i, (name, xs, ws, kw) in enumerate(cases):
        x, w = rand(xs, "float32", -1, 1), rand(ws, "float32", -1, 1)
        m = getattr(mx, name)(x.mlx(), w.mlx(), **kw)
        fam.add(f"{name}_{i}", name, [x, w], [from_mlx(m)], args=kw, tol=(1e-4, 1e-5))
    tcases = [
        ("conv_transpose1d", (2, 5, 3), (4, 3, 3), dict(stride=2, padding=1, dilation=1, output_padding=1, groups=1)),
        ("conv_transpose2d", (1, 4, 5, 2), (3, 3, 3, 2), dict(stride=2, padding=0, dilation=1, output_padding=0, groups=1)),
        ("conv_transpose2d", (1, 4, 4, 4), (4, 2, 2, 2), dict(stride=1, padding=1, dilation=2, output_padding=0, groups=2)),
        ("conv_transpose3d", (1, 3, 3, 3, 2), (2, 2, 2, 2, 2), dict(stride=2, padding=0, dilation=1, output_padding=0, groups=1)),
    ]
    for i, (name, xs, ws, kw) in enumerate(tcases):
        x, w = rand(xs, "float32", -1, 1), rand(ws, "float32", -1, 1)
        m = getattr(mx, name)(x.mlx(), w.mlx(), **kw)
        fam.add(f"{name}_{i}", name, [x, w], [from_mlx(m)], args=kw, tol=(1e-4, 1e-5))
    a, v = rand((9,), "float32"), rand((4,), "float32")
    for mode in ["full", "same", "valid"]:
        fam.add(f"convolve_{mode}", "convolve", [a, v], [Tensor(np.convolve(a.values, v.values, mode), "float32")], args={"mode": mode}, tol=(1e-5, 1e-5))
    # conv_general: asymmetric padding, input dilation and a flipped kernel (MLX is the oracle)
    gcases = [
        ((1, 7, 3), (4, 3, 3), dict(stride=[2], padding=([1], [2]), kernel_dilation=[1], input_dilation=[2], groups=1, flip=True)),
        ((2, 6, 5, 4), (6, 2, 3, 2), dict(stride=[1, 2], padding=([0, 2], [1, 0]), kernel_dilation=[2, 1], input_dilation=[1, 1], groups=2, flip=False)),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(stride=[1, 1], padding=([2, 1], [2, 1]), kernel_dilation=[1, 1], input_dilation=[2, 3], groups=1, flip=True)),
    ]
    for i, (xs, ws, kw) in enumerate(gcases):
        x, w = rand(xs, "float32", -1, 1), rand(ws, "float32", -1, 1)
        m = mx.conv_general(x.mlx(), w.mlx(), **kw)
        args = dict(kw, padding_lo=kw["padding"][0], padding_hi=kw["padding"][1])
        del args["padding"]
        fam.add(f"conv_general_{i}", "conv_general", [x, w], [from_mlx(m)], args=args, tol=(1e-4, 1e-5))
    fam.write()

# ---------------------------------------------------------------------------------------
# linalg: NumPy values; MLX layouts (lu pivots and permutations, full SVD factors, complex
# eig). Decompositions that are unique only up to signs are compared in a canonical form
# that the test computes the same way on the rmx side ("linalg.*" ops of the runner).

def well_conditioned(shape, dtype):
    a = RNG.uniform(-1, 1, shape)
    n = shape[-1]
    return Tensor(a + n * np.eye(n), dtype)


def spd(shape, dtype):
    b = RNG.uniform(-1, 1, shape)
    n = shape[-1]
    return Tensor(b @ np.swapaxes(b, -1, -2) + n * np.eye(n), dtype)


def canonical_qr(q, r):
    s = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    return q * s[..., None, :], r * s[..., :, None]


def canonical_columns(v):
    idx = np.argmax(np.abs(v), axis=-2)[..., None, :]
    return v * np.sign(np.take_along_axis(v, idx, axis=-2))


def gen_linalg():
    fam = Family("linalg")
    tol = {"float32": (2e-4, 2e-5), "float64": (1e-10, 1e-12)}
    for dt in ["float32", "float64"]:
        t = tol[dt]
        for shape in [(4, 4), (2, 3, 3)]:
            tag = f"{dt}_{'x'.join(map(str, shape))}"
            a = well_conditioned(shape, dt)
            fam.add(f"inv_{tag}", "linalg.inv", [a], [expect(np.linalg.inv(np_of(a)), dt)], tol=t)
            lo = Tensor(np.tril(a.values), dt)
            up = Tensor(np.triu(a.values), dt)
            fam.add(f"tri_inv_lower_{tag}", "linalg.tri_inv", [a], [expect(np.linalg.inv(np_of(lo)), dt)], args={"upper": False}, tol=t)
            fam.add(f"tri_inv_upper_{tag}", "linalg.tri_inv", [a], [expect(np.linalg.inv(np_of(up)), dt)], args={"upper": True}, tol=t)
            p = spd(shape, dt)
            l = np.linalg.cholesky(np_of(p))
            fam.add(f"cholesky_lower_{tag}", "linalg.cholesky", [p], [expect(l, dt)], args={"upper": False}, tol=t)
            fam.add(f"cholesky_upper_{tag}", "linalg.cholesky", [p], [expect(np.swapaxes(l, -1, -2), dt)], args={"upper": True}, tol=t)
            fam.add(f"cholesky_inv_lower_{tag}", "linalg.cholesky_inv", [expect(l, dt)], [expect(np.linalg.inv(np_of(p)), dt)], args={"upper": False}, tol=t)
            fam.add(f"cholesky_inv_upper_{tag}", "linalg.cholesky_inv", [expect(np.swapaxes(l, -1, -2), dt)], [expect(np.linalg.inv(np_of(p)), dt)], args={"upper": True}, tol=t)
            fam.add(f"det_{tag}", "linalg.det", [a], [expect(np.linalg.det(np_of(a)), dt)], tol=t)
            sign, logdet = np.linalg.slogdet(np_of(a))
            fam.add(f"slogdet_{tag}", "linalg.slogdet", [a], [expect(sign, dt), expect(logdet, dt)], tol=t)
            b = rand(shape[:-1], dt, -1, 1)
            bm = rand(shape[:-1] + (2,), dt, -1, 1)
            fam.add(f"solve_matrix_{tag}", "linalg.solve", [a, bm], [expect(np.linalg.solve(np_of(a), np_of(bm)), dt)], tol=t)
            fam.add(f"solve_triangular_lower_{tag}", "linalg.solve_triangular", [lo, bm], [expect(np.linalg.solve(np_of(lo), np_of(bm)), dt)], args={"upper": False}, tol=t)
            fam.add(f"solve_triangular_upper_{tag}", "linalg.solve_triangular", [up, bm], [expect(np.linalg.solve(np_of(up), np_of(bm)), dt)], args={"upper": True}, tol=t)
            # symmetric eigen: only the named triangle is read
            s = Tensor(RNG.uniform(-1, 1, shape), dt)
            for uplo in ["L", "U"]:
                w, v = np.linalg.eigh(np_of(s), UPLO=uplo)
                fam.add(f"eigh_{uplo}_{tag}", "linalg.eigh_canonical", [s], [expect(w, dt), expect(canonical_columns(v), dt)], args={"uplo": uplo}, tol=t)
                fam.add(f"eigvalsh_{uplo}_{tag}", "linalg.eigvalsh", [s], [expect(w, dt)], args={"uplo": uplo}, tol=t)
            g = Tensor(RNG.uniform(-1, 1, shape), dt)
            w = np.linalg.eigvals(np_of(g))
            ctol = (1e-4, 1e-4)
            eye = np.broadcast_to(np.ones(shape[-1]), w.shape)
            fam.add(f"eig_{tag}", "linalg.eig_check", [g], [expect(np.sort(w.real), "float32"), expect(np.sort(w.imag), "float32"), expect(np.zeros(shape[:-2]), "float32"), expect(eye, "float32")], tol=ctol)
            fam.add(f"eigvals_{tag}", "linalg.eigvals_sorted", [g], [expect(np.sort(w.real), "float32"), expect(np.sort(w.imag), "float32")], tol=ctol)
        b = rand((4,), dt, -1, 1)
        a = well_conditioned((4, 4), dt)
        fam.add(f"solve_vector_{dt}", "linalg.solve", [a, b], [expect(np.linalg.solve(np_of(a), np_of(b)), dt)], tol=t)
        a3 = well_conditioned((2, 3, 3), dt)
        bm = rand((3, 2), dt, -1, 1)
        fam.add(f"solve_broadcast_{dt}", "linalg.solve", [a3, bm], [expect(np.linalg.solve(np_of(a3), np_of(bm)), dt)], tol=t)
        for shape in [(5, 3), (3, 5), (4, 4), (2, 4, 3)]:
            tag = f"{dt}_{'x'.join(map(str, shape))}"
            a = rand(shape, dt, -1, 1)
            q, r = canonical_qr(*np.linalg.qr(np_of(a)))
            fam.add(f"qr_{tag}", "linalg.qr_canonical", [a], [expect(q, dt), expect(r, dt)], tol=t)
            sv = np.linalg.svd(np_of(a), compute_uv=False)
            m, n = shape[-2:]
            fam.add(f"svd_{tag}", "linalg.svd_check", [a], [expect(sv, dt), a, expect(np.broadcast_to(np.eye(m), shape[:-2] + (m, m)), dt), expect(np.broadcast_to(np.eye(n), shape[:-2] + (n, n)), dt)], tol=t)
            fam.add(f"svd_values_{tag}", "linalg.svd_values", [a], [expect(sv, dt)], tol=t)
            fam.add(f"pinv_{tag}", "linalg.pinv", [a], [expect(np.linalg.pinv(np_of(a)), dt)], tol=t)
            # LU layout is MLX's: pivots, permutation indices, L and U shapes.
            p_, l_, u_ = mx.linalg.lu(a.mlx(), stream=mx.cpu)
            lu_, piv_ = mx.linalg.lu_factor(a.mlx(), stream=mx.cpu)
            fam.add(f"lu_{tag}", "linalg.lu", [a], [from_mlx(p_), from_mlx(l_), from_mlx(u_)], tol=t)
            fam.add(f"lu_factor_{tag}", "linalg.lu_factor", [a], [from_mlx(lu_), from_mlx(piv_)], tol=t)
        # transposed storage
        a = well_conditioned((5, 5), dt)
        fam.add(f"inv_T_layout_{dt}", "linalg.inv", [a], [expect(np.linalg.inv(np_of(a)), dt)], layouts={0: "T"}, tol=tol[dt])
    sing = Tensor([[1.0, 2.0], [2.0, 4.0]], "float32")
    fam.add("det_singular", "linalg.det", [sing], [expect(0.0, "float32")])
    fam.add("slogdet_singular", "linalg.slogdet", [sing], [expect(0.0, "float32"), expect(-np.inf, "float32")])
    fam.add("det_empty", "linalg.det", [Tensor(np.zeros((0, 0)), "float32")], [expect(1.0, "float32")])
    # norms: NumPy values, MLX result dtypes
    v = rand((7,), "float32")
    m = rand((3, 4), "float32")
    mi = rand((3, 4), "int32", -5, 5)
    for ord_ in [None, "inf", "-inf", 0, 1, 2, 3, 0.5]:
        o = {"inf": np.inf, "-inf": -np.inf}.get(ord_, ord_)
        fam.add(f"norm_vec_{ord_}", "linalg.norm", [v], [expect(np.linalg.norm(np_of(v), o), "float32")], args={"ord": ord_}, tol=(1e-5, 1e-6))
        fam.add(f"norm_axis1_{ord_}", "linalg.norm", [m], [expect(np.linalg.norm(np_of(m), o, axis=1), "float32")], args={"ord": ord_, "axes": [1]}, tol=(1e-5, 1e-6))
    for ord_ in [None, "fro", "nuc", "inf", "-inf", 1, -1, 2, -2]:
        o = {"inf": np.inf, "-inf": -np.inf}.get(ord_, ord_)
        fam.add(f"norm_mat_{ord_}", "linalg.norm", [m], [expect(np.linalg.norm(np_of(m), o), "float32")], args={"ord": ord_}, tol=(1e-5, 1e-6))
        fam.add(f"norm_mat_T_keep_{ord_}", "linalg.norm", [m], [expect(np.linalg.norm(np_of(m), o, axis=(1, 0), keepdims=True), "float32")], args={"ord": ord_, "axes": [1, 0], "keepdims": True}, tol=(1e-5, 1e-6))
    fam.add("norm_int_flat", "linalg.norm", [mi], [from_mlx(mx.linalg.norm(mi.mlx()))], args={"ord": None}, tol=(1e-6, 1e-6))
    x3 = rand((2, 3, 4), "float32")
    for ord_ in [2, "nuc", 1]:
        fam.add(f"norm_3d_axes20_{ord_}", "linalg.norm", [x3], [expect(np.linalg.norm(np_of(x3), ord_, axis=(2, 0)), "float32")], args={"ord": ord_, "axes": [2, 0]}, tol=(1e-5, 1e-6))
    a, b = rand((4, 3), "float32"), rand((3,), "float32")
    fam.add("cross_broadcast", "linalg.cross", [a, b], [expect(np.cross(np_of(a), np_of(b)), "float32")], args={"axis": -1}, tol=(1e-5, 1e-6))
    a, b = rand((3, 5), "float32"), rand((3, 5), "float32")
    fam.add("cross_axis0", "linalg.cross", [a, b], [expect(np.cross(np_of(a), np_of(b), axis=0), "float32")], args={"axis": 0}, tol=(1e-5, 1e-6))
    a, b = rand((2,), "float32"), rand((3,), "float32")
    fam.add("cross_2d_3d", "linalg.cross", [a, b], [from_mlx(mx.linalg.cross(a.mlx(), b.mlx()))], args={"axis": -1}, tol=(1e-5, 1e-6))
    fam.write()

# ---------------------------------------------------------------------------------------
# fft: NumPy values (computed in float64), MLX dtypes (complex64, float32 for the inverse
# real transforms).

def gen_fft():
    fam = Family("fft")
    tol = (1e-4, 1e-4)
    def add(case, op, x, ref, out_dtype, args, layouts=None):
        fam.add(case, f"fft.{op}", [x], [expect(ref, out_dtype)], args=args, layouts=layouts, tol=tol)
    for dt in ["float32", "complex64", "int32"]:
        for shape in [(8,), (7,), (13,), (3, 6)]:
            x = rand(shape, dt, -1, 1) if dt != "int32" else rand(shape, dt, -4, 4)
            tag = f"{dt}_{'x'.join(map(str, shape))}"
            for op in ["fft", "ifft"]:
                add(f"{op}_{tag}", op, x, getattr(np.fft, op)(np_of(x)), "complex64", {"axis": -1})
            if dt != "complex64":
                add(f"rfft_{tag}", "rfft", x, np.fft.rfft(np_of(x)), "complex64", {"axis": -1})
    x = rand((3, 6), "complex64", -1, 1)
    add("fft_axis0", "fft", x, np.fft.fft(x.values, axis=0), "complex64", {"axis": 0})
    add("fft_T_layout", "fft", x, np.fft.fft(x.values, axis=0), "complex64", {"axis": 0}, layouts={0: "T"})
    for n in [4, 10]:
        add(f"fft_n{n}", "fft", x, np.fft.fft(x.values, n=n), "complex64", {"n": n, "axis": -1})
        add(f"ifft_n{n}", "ifft", x, np.fft.ifft(x.values, n=n), "complex64", {"n": n, "axis": -1})
    for norm in ["ortho", "forward"]:
        add(f"fft_{norm}", "fft", x, np.fft.fft(x.values, norm=norm), "complex64", {"axis": -1, "norm": norm})
        add(f"ifft_{norm}", "ifft", x, np.fft.ifft(x.values, norm=norm), "complex64", {"axis": -1, "norm": norm})
    r = rand((4, 8), "float32", -1, 1)
    spec = rand((4, 5), "complex64", -1, 1)
    for n in [None, 8, 9, 6]:
        args = {"axis": -1} if n is None else {"n": n, "axis": -1}
        add(f"irfft_n{n}", "irfft", spec, np.fft.irfft(spec.values, n=n), "float32", args)
        add(f"rfft_n{n}", "rfft", r, np.fft.rfft(np_of(r), n=n), "complex64", args)
    add("irfft_axis0", "irfft", spec, np.fft.irfft(spec.values, axis=0), "float32", {"axis": 0})
    add("rfft_ortho", "rfft", r, np.fft.rfft(np_of(r), norm="ortho"), "complex64", {"axis": -1, "norm": "ortho"})
    x3 = rand((3, 4, 6), "complex64", -1, 1)
    r3 = rand((3, 4, 6), "float32", -1, 1)
    h3 = rand((3, 4, 4), "complex64", -1, 1)
    for s_ in [None, [5, 4]]:
        args = {"axes": [-2, -1]} if s_ is None else {"s": s_, "axes": [-2, -1]}
        t = "" if s_ is None else "_s"
        add(f"fft2{t}", "fft2", x3, np.fft.fft2(x3.values, s=s_), "complex64", args)
        add(f"ifft2{t}", "ifft2", x3, np.fft.ifft2(x3.values, s=s_), "complex64", args)
        add(f"rfft2{t}", "rfft2", r3, np.fft.rfft2(np_of(r3), s=s_), "complex64", args)
        add(f"irfft2{t}", "irfft2", h3, np.fft.irfft2(h3.values, s=s_), "float32", args)
    for axes in [None, [0, 2], [2, 0]]:
        args = {} if axes is None else {"axes": axes}
        t = "all" if axes is None else "".join(map(str, axes))
        add(f"fftn_{t}", "fftn", x3, np.fft.fftn(x3.values, axes=axes), "complex64", args)
        add(f"ifftn_{t}", "ifftn", x3, np.fft.ifftn(x3.values, axes=axes), "complex64", args)
        add(f"rfftn_{t}", "rfftn", r3, np.fft.rfftn(np_of(r3), axes=axes), "complex64", args)
        add(f"irfftn_{t}", "irfftn", h3, np.fft.irfftn(h3.values, axes=axes), "float32", args)
    add("fftn_s", "fftn", x3, np.fft.fftn(x3.values, s=[2, 5, 7], axes=[0, 1, 2]), "complex64", {"s": [2, 5, 7], "axes": [0, 1, 2]})
    add("irfftn_s", "irfftn", h3, np.fft.irfftn(h3.values, s=[3, 4, 7], axes=[0, 1, 2]), "float32", {"s": [3, 4, 7], "axes": [0, 1, 2]})
    for n, d in [(5, 0.5), (6, 1.0), (1, 1.0)]:
        fam.add(f"fftfreq_{n}", "fft.fftfreq", [], [from_mlx(mx.fft.fftfreq(n, d))], args={"n": n, "d": d}, tol=(1e-6, 1e-7))
        fam.add(f"rfftfreq_{n}", "fft.rfftfreq", [], [from_mlx(mx.fft.rfftfreq(n, d))], args={"n": n, "d": d}, tol=(1e-6, 1e-7))
    for shape, axes in [((5,), None), ((4, 5), None), ((4, 5), [1]), ((4, 5), [0])]:
        x = rand(shape, "int32", -9, 9)
        t = "x".join(map(str, shape)) + ("" if axes is None else f"_ax{axes[0]}")
        fam.add(f"fftshift_{t}", "fft.fftshift", [x], [expect(np.fft.fftshift(x.values, axes=axes), "int32")], args={} if axes is None else {"axes": axes})
        fam.add(f"ifftshift_{t}", "fft.ifftshift", [x], [expect(np.fft.ifftshift(x.values, axes=axes), "int32")], args={} if axes is None else {"axes": axes})
    fam.write()


# ---------------------------------------------------------------------------------------
# gradients where MLX's convention is the oracle: complex inputs and the FFTs

def gen_grad():
    """Reverse and forward derivatives from MLX's `mx.vjp` / `mx.jvp`: the FFT family and ops
    on complex numbers. MLX's cotangents are adjoints (conjugate-linear): for a holomorphic f
    the vjp is c * conj(f'(z)); for a real-valued function of z it is dL/dRe z + i dL/dIm z.
    A case `vjp:<op>` has the primals then one cotangent per output as inputs and the
    primals' cotangents as outputs; `jvp:<op>` has the primals then their tangents as inputs
    and the outputs' tangents as outputs (`primals` in the arguments says how many)."""
    fam = Family("grad")
    tol = (2e-4, 2e-4)

    def like(a):
        name = dtype_name(a.dtype)
        return rand(a.shape, name, -1, 1)

    def add(case, op, fn, primals, args=None, vjp_ref=None, linear=False):
        """vjp_ref(primal values, cotangent values) replaces MLX's vjp where MLX is wrong;
        `linear` takes the jvp of a linear op as the op applied to the tangents."""
        xs = [p.mlx() for p in primals]
        try:
            outs = fn(*xs)
        except Exception as e:  # MLX has no such op for these dtypes: nothing to compare
            print(f"  skip {case}: {e}")
            return
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        cots = [like(o) for o in outs]
        wrap = lambda *a: fn(*a) if isinstance(fn(*a), (list, tuple)) else [fn(*a)]
        _, grads = mx.vjp(wrap, xs, [c.mlx() for c in cots])
        grads = [from_mlx(g) for g in grads]
        if vjp_ref is not None:
            fixed = vjp_ref([p.values.astype(np.complex128) for p in primals], [c.values.astype(np.complex128) for c in cots])
            for g, want in zip(grads, fixed):
                if not np.allclose(g.values, want, rtol=1e-4, atol=1e-4):
                    print(f"  {case}: MLX's vjp differs from the adjoint, max |diff| {np.max(np.abs(g.values - want)):.3g}")
            grads = [expect(w, g.dtype) for g, w in zip(grads, fixed)]
        a = dict(args or {}, primals=len(primals))
        fam.add(f"vjp_{case}", f"vjp:{op}", primals + cots, grads, args=a, tol=tol)
        tans = [like(x) for x in xs]
        try:
            if linear:
                pushed = wrap(*[t.mlx() for t in tans])
                _, theirs = mx.jvp(wrap, xs, [t.mlx() for t in tans])
                if theirs[0].shape != pushed[0].shape:
                    print(f"  {case}: MLX's jvp has shape {theirs[0].shape}, the output {pushed[0].shape}")
            else:
                _, pushed = mx.jvp(wrap, xs, [t.mlx() for t in tans])
        except Exception as e:  # MLX has no forward rule (cumprod): the vjp case stands alone
            print(f"  no jvp for {case}: {e}")
            return
        fam.add(f"jvp_{case}", f"jvp:{op}", primals + tans, [from_mlx(t) for t in pushed], args=a, tol=tol)

    z = lambda *shape: rand(shape, "complex64", -1, 1)
    r = lambda *shape: rand(shape, "float32", -1, 1)
    for name in ["abs", "negative", "square", "sqrt", "reciprocal", "exp", "log", "sin", "cos", "tan", "sinh",
                 "cosh", "tanh", "rsqrt", "conj", "real", "imag", "sigmoid", "log1p", "expm1", "log2", "log10",
                 "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"]:
        add(name, name, getattr(mx, name if name != "conj" else "conjugate"), [z(2, 3)])
    for name in ["add", "subtract", "multiply", "divide"]:
        add(name, name, getattr(mx, name), [z(2, 3), z(3)])
        add(f"{name}_real_rhs", name, getattr(mx, name), [z(2, 3), r(2, 3)])
    def power_ref(p, c):
        (a, b), (g,) = p, c
        return [g * np.conj(b * a ** (b - 1)), g * np.conj(a ** b * np.log(a))]
    add("power", "power", mx.power, [z(4), z(4)], vjp_ref=power_ref)
    add("matmul", "matmul", mx.matmul, [z(2, 3), z(3, 4)])
    add("matmul_real_lhs", "matmul", mx.matmul, [r(2, 3), z(3, 4)])
    add("sum", "sum", lambda x: mx.sum(x, axis=1), [z(2, 3)], {"axes": [1]})
    add("mean", "mean", lambda x: mx.mean(x, axis=0), [z(2, 3)], {"axes": [0]})
    add("prod", "prod", lambda x: mx.prod(x, axis=1), [z(2, 3)], {"axes": [1]})
    def cumprod_ref(axis, reverse, inclusive):
        def ref(p, c):
            x, g = np.moveaxis(p[0], axis, -1), np.moveaxis(c[0], axis, -1)
            if reverse:
                x, g = x[..., ::-1], g[..., ::-1]
            n, out = x.shape[-1], np.zeros_like(x)
            for i in range(n):  # output i is the product of x[..k] for k in `terms`
                terms = range(i + 1) if inclusive else range(i)
                for j in terms:
                    others = np.prod(x[..., [k for k in terms if k != j]], axis=-1)
                    out[..., j] += g[..., i] * np.conj(others)
            if reverse:
                out = out[..., ::-1]
            return [np.moveaxis(out, -1, axis)]
        return ref
    add("cumprod", "cumprod", lambda x: mx.cumprod(x, axis=1), [z(2, 4)], {"axis": 1, "reverse": False, "inclusive": True},
        vjp_ref=cumprod_ref(1, False, True))
    add("cumprod_reverse_exclusive", "cumprod", lambda x: mx.cumprod(x, axis=0, reverse=True, inclusive=False), [z(3, 2)],
        {"axis": 0, "reverse": True, "inclusive": False}, vjp_ref=cumprod_ref(0, True, False))
    add("astype_to_complex", "astype", lambda x: x.astype(mx.complex64), [r(2, 3)], {"dtype": "complex64"})
    add("astype_to_real", "astype", lambda x: x.astype(mx.float32), [z(2, 3)], {"dtype": "float32"})

    fft = mx.fft
    for shape in [(8,), (2, 7)]:
        t = "x".join(map(str, shape))
        add(f"fft_{t}", "fft.fft", lambda x: fft.fft(x), [z(*shape)], {"axis": -1}, linear=True)
        add(f"ifft_{t}", "fft.ifft", lambda x: fft.ifft(x), [z(*shape)], {"axis": -1}, linear=True)
        add(f"fft_real_{t}", "fft.fft", lambda x: fft.fft(x), [r(*shape)], {"axis": -1}, linear=True)
        add(f"rfft_{t}", "fft.rfft", lambda x: fft.rfft(x), [r(*shape)], {"axis": -1}, linear=True)
    for n in [6, 10]:
        add(f"fft_n{n}", "fft.fft", lambda x, n=n: fft.fft(x, n=n), [z(3, 8)], {"n": n, "axis": -1}, linear=True)
        add(f"rfft_n{n}", "fft.rfft", lambda x, n=n: fft.rfft(x, n=n), [r(3, 8)], {"n": n, "axis": -1}, linear=True)
    for n in [None, 8, 9, 5]:
        args = {"axis": -1} if n is None else {"n": n, "axis": -1}
        add(f"irfft_n{n}", "fft.irfft", lambda x, n=n: fft.irfft(x, n=n), [z(3, 5)], args, linear=True)
    add("fft_axis0", "fft.fft", lambda x: fft.fft(x, axis=0), [z(4, 3)], {"axis": 0}, linear=True)
    add("irfft_axis0", "fft.irfft", lambda x: fft.irfft(x, axis=0), [z(4, 3)], {"axis": 0}, linear=True)
    for norm in ["ortho", "forward"]:
        add(f"fft_{norm}", "fft.fft", lambda x, norm=norm: fft.fft(x, norm=norm), [z(6)], {"axis": -1, "norm": norm}, linear=True)
        add(f"rfft_{norm}", "fft.rfft", lambda x, norm=norm: fft.rfft(x, norm=norm), [r(6)], {"axis": -1, "norm": norm}, linear=True)
        add(f"irfft_{norm}", "fft.irfft", lambda x, norm=norm: fft.irfft(x, norm=norm), [z(4)], {"axis": -1, "norm": norm}, linear=True)
    add("fft2", "fft.fft2", lambda x: fft.fft2(x), [z(2, 4, 3)], {"axes": [-2, -1]}, linear=True)
    add("ifft2_s", "fft.ifft2", lambda x: fft.ifft2(x, s=[3, 4]), [z(2, 4, 3)], {"s": [3, 4], "axes": [-2, -1]}, linear=True)
    add("rfft2", "fft.rfft2", lambda x: fft.rfft2(x), [r(2, 4, 6)], {"axes": [-2, -1]}, linear=True)
    add("irfft2", "fft.irfft2", lambda x: fft.irfft2(x), [z(2, 4, 4)], {"axes": [-2, -1]}, linear=True)
    add("rfftn", "fft.rfftn", lambda x: fft.rfftn(x), [r(3, 4, 5)], {}, linear=True)
    add("irfftn_s", "fft.irfftn", lambda x: fft.irfftn(x, s=[3, 4, 7], axes=[0, 1, 2]), [z(3, 4, 4)], {"s": [3, 4, 7], "axes": [0, 1, 2]}, linear=True)
    fam.write()


# ---------------------------------------------------------------------------------------
# quantization (MLX's affine format, byte for byte)

def gen_quant():
    fam = Family("quant")
    for dt in ["float32", "float16", "bfloat16"]:
        for bits in [2, 3, 4, 5, 6, 8]:
            for g in [32, 64, 128]:
                w = rand((2, 3, 256), dt, -1, 1) if bits == 4 and g == 64 else rand((6, 256), dt, -1, 1)
                wq, s, b = mx.quantize(w.mlx(), group_size=g, bits=bits)
                tag = f"{dt}_b{bits}_g{g}"
                args = {"group_size": g, "bits": bits}
                # Packed words and scales/biases must be identical (tolerance 0).
                fam.add(f"quantize_{tag}", "quantize", [w], [from_mlx(wq), from_mlx(s), from_mlx(b)], args=args, tol=(0, 0))
                fam.add(f"dequantize_{tag}", "dequantize", [from_mlx(wq), from_mlx(s), from_mlx(b)],
                        [from_mlx(mx.dequantize(wq, s, b, group_size=g, bits=bits))], args=args, tol=TOL[dt])
                if w.values.ndim == 2:
                    for m in ([1, 5, 20] if dt == "float32" else [1, 5]):
                        x = rand((m, 256), dt, -1, 1)
                        if dt == "float32":
                            y, tol = from_mlx(mx.quantized_matmul(x.mlx(), wq, s, b, transpose=True, group_size=g, bits=bits)), (1e-5, 1e-5)
                        else:
                            # MLX accumulates half-precision products in half precision; the
                            # reference is the exact product with the dequantized weights.
                            w_hat = np.array(mx.dequantize(wq, s.astype(mx.float32), b.astype(mx.float32), group_size=g, bits=bits), dtype=np.float64)
                            y, tol = Tensor(np_of(x) @ w_hat.T, dt), TOL[dt]
                        fam.add(f"qmm_{tag}_m{m}", "quantized_matmul", [x, from_mlx(wq), from_mlx(s), from_mlx(b)], [y], args={**args, "transpose": True}, tol=tol)
    # Not transposed (w is [K, N]) and batched x.
    w = rand((64, 128), "float32", -1, 1)
    wq, s, b = mx.quantize(w.mlx(), group_size=32, bits=4)
    x = rand((2, 3, 64), "float32", -1, 1)
    y = mx.quantized_matmul(x.mlx(), wq, s, b, transpose=False, group_size=32, bits=4)
    fam.add("qmm_not_transposed", "quantized_matmul", [x, from_mlx(wq), from_mlx(s), from_mlx(b)], [from_mlx(y)], args={"group_size": 32, "bits": 4, "transpose": False}, tol=(1e-5, 1e-5))
    x = rand((2, 3, 128), "float32", -1, 1)
    y = mx.quantized_matmul(x.mlx(), wq, s, b, transpose=True, group_size=32, bits=4)
    # Mixture of experts: 4 experts [4, 16, 64], tokens routed by rhs (and lhs) indices.
    we = rand((4, 16, 64), "float32", -1, 1)
    wq_e, s_e, b_e = mx.quantize(we.mlx(), group_size=32, bits=4)
    xe = rand((3, 1, 64), "float32", -1, 1)
    rhs = Tensor(np.array([[2, 0], [1, 3], [2, 2]], dtype=np.uint32), "uint32")
    lhs = Tensor(np.array([[0, 0], [1, 1], [2, 2]], dtype=np.uint32), "uint32")
    ye = mx.gather_qmm(xe.mlx(), wq_e, s_e, b_e, lhs_indices=lhs.mlx(), rhs_indices=rhs.mlx(), transpose=True, group_size=32, bits=4)
    fam.add("gather_qmm", "gather_qmm", [xe, from_mlx(wq_e), from_mlx(s_e), from_mlx(b_e), lhs, rhs], [from_mlx(ye)], args={"group_size": 32, "bits": 4, "transpose": True}, tol=(1e-5, 1e-5))
    xr = rand((4, 2, 64), "float32", -1, 1)
    ye = mx.gather_qmm(xr.mlx(), wq_e, s_e, b_e, transpose=True, group_size=32, bits=4)
    fam.add("gather_qmm_no_indices", "gather_qmm", [xr, from_mlx(wq_e), from_mlx(s_e), from_mlx(b_e)], [from_mlx(ye)], args={"group_size": 32, "bits": 4, "transpose": True}, tol=(1e-5, 1e-5))
    fam.add("qmm_batched_x", "quantized_matmul", [x, from_mlx(wq), from_mlx(s), from_mlx(b)], [from_mlx(y)], args={"group_size": 32, "bits": 4, "transpose": True}, tol=(1e-5, 1e-5))
    fam.write()


def gen_quant_fp():
    """MLX's floating-point modes (mxfp4, mxfp8, nvfp4), byte for byte: rows at several
    magnitudes (so the scales span many exponents), a zero group, values on the E2M1 / E4M3
    rounding midpoints, and nvfp4 with a global scale."""
    fam = Family("quant_fp")
    fp4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], np.float32)
    for mode, g in [("mxfp4", 32), ("mxfp8", 32), ("nvfp4", 16)]:
        bits = 8 if mode == "mxfp8" else 4
        args = {"group_size": g, "bits": bits, "mode": mode}
        for dt in ["float32", "float16", "bfloat16"]:
            v = RNG.uniform(-1, 1, (6, 256)).astype(np.float32)
            v *= np.array([1e-3, 0.07, 1.0, 5.5, 300.0, 1.0], np.float32)[:, None]
            v[5, :g] = 0.0  # a zero group
            # E2M1 midpoints (ties) scaled into the group's range: the first value fixes the
            # scale at exactly 2^0 for the fp4 modes.
            mids = np.concatenate([[6.0], (fp4[1:] + fp4[:-1]) / 2, -(fp4[1:] + fp4[:-1]) / 2]).astype(np.float32)
            v[5, g:g + len(mids)] = mids
            w = Tensor(v, dt)
            wq, sc = mx.quantize(w.mlx(), group_size=g, bits=bits, mode=mode)[:2]
            tag = f"{mode}_{dt}"
            fam.add(f"quantize_{tag}", "quantize", [w], [from_mlx(wq), from_mlx(sc)], args=args, tol=(0, 0))
            fam.add(f"dequantize_{tag}", "dequantize", [from_mlx(wq), from_mlx(sc)],
                    [from_mlx(mx.dequantize(wq, sc, group_size=g, bits=bits, mode=mode))], args=args, tol=(0, 0))
            if dt == "float32":
                for m in [1, 5]:
                    x = rand((m, 256), dt, -1, 1)
                    y = mx.quantized_matmul(x.mlx(), wq, sc, transpose=True, group_size=g, bits=bits, mode=mode)
                    fam.add(f"qmm_{tag}_m{m}", "quantized_matmul", [x, from_mlx(wq), from_mlx(sc)], [from_mlx(y)],
                            args={**args, "transpose": True}, tol=(1e-5, 1e-5))
    w = rand((4, 64), "float32", -3, 3)
    for gs in [3.7, 0.01, 1000.0]:
        gsa = mx.array(np.float32(gs))
        wq, sc = mx.quantize(w.mlx(), mode="nvfp4", global_scale=gsa)[:2]
        gst = Tensor(np.array(gs, np.float32), "float32")
        args = {"group_size": 16, "bits": 4, "mode": "nvfp4", "global_scale": True}
        fam.add(f"quantize_nvfp4_global{gs}", "quantize", [w, gst], [from_mlx(wq), from_mlx(sc)], args=args, tol=(0, 0))
        fam.add(f"dequantize_nvfp4_global{gs}", "dequantize", [from_mlx(wq), from_mlx(sc), gst],
                [from_mlx(mx.dequantize(wq, sc, mode="nvfp4", global_scale=gsa))], args=args, tol=(0, 0))
    # Mixture of experts in mxfp4.
    we = rand((4, 16, 64), "float32", -1, 1)
    wq_e, s_e = mx.quantize(we.mlx(), mode="mxfp4")[:2]
    xe = rand((3, 1, 64), "float32", -1, 1)
    rhs = Tensor(np.array([[2, 0], [1, 3], [2, 2]], dtype=np.uint32), "uint32")
    lhs = Tensor(np.array([[0, 0], [1, 1], [2, 2]], dtype=np.uint32), "uint32")
    ye = mx.gather_qmm(xe.mlx(), wq_e, s_e, lhs_indices=lhs.mlx(), rhs_indices=rhs.mlx(), transpose=True, mode="mxfp4")
    fam.add("gather_qmm_mxfp4", "gather_qmm", [xe, from_mlx(wq_e), from_mlx(s_e), lhs, rhs], [from_mlx(ye)],
            args={"group_size": 32, "bits": 4, "mode": "mxfp4", "transpose": True}, tol=(1e-5, 1e-5))
    # Both operands quantized (qqmm); MLX's CPU kernel takes one row of x and a packed w.
    for mode, g, bits in [("nvfp4", 16, 4), ("mxfp8", 32, 8)]:
        w = rand((8, 64), "float32", -2, 2)
        wq, sc = mx.quantize(w.mlx(), mode=mode)[:2]
        for dt in ["float32", "bfloat16"]:
            x = rand((1, 64), dt, -3, 3)
            if dt == "float32":
                y, tol = from_mlx(mx.qqmm(x.mlx(), wq, scales=sc, mode=mode)), (1e-5, 1e-5)
            else:
                # MLX accumulates bfloat16 products in bfloat16 (5% off here); the reference
                # is the exact product of MLX's quantized operands.
                dq = lambda q, s: np.array(mx.dequantize(q, s, mode=mode, dtype=mx.float32), dtype=np.float64)
                xq, xs = mx.quantize(x.mlx(), mode=mode)[:2]
                y, tol = Tensor(dq(xq, xs) @ dq(wq, sc).T, dt), TOL[dt]
            fam.add(f"qqmm_{mode}_{dt}", "qqmm", [x, from_mlx(wq), from_mlx(sc)], [y],
                    args={"group_size": g, "bits": bits, "mode": mode}, tol=tol)
    # Gradients of qqmm as MLX defines them (its vjp, read from the graph mx.grad builds):
    # dx = qqmm(c, w.T) and dw = qqmm(c.T, x.T), quantizing along the new contraction axis, the
    # cotangent taking max|c| as its global scale when the forward pass had global scales.
    # MLX's CPU qqmm only multiplies one row, so the products are formed here from MLX's own
    # quantize/dequantize. The last case has contraction lengths that are not whole groups
    # (MLX refuses them): rmx pads with zeros, and so does this reference.
    for mode, shape_x, n, globals in [("nvfp4", (2, 16, 64), 32, False), ("mxfp8", (32, 64), 32, False),
                                      ("nvfp4", (16, 32), 16, True), ("nvfp4", (2, 3, 48), 8, False)]:
        g, bits = (16, 4) if mode == "nvfp4" else (32, 8)
        x, w = rand(shape_x, "float32", -2, 2), rand((n, shape_x[-1]), "float32", -1, 1)
        c = rand(shape_x[:-1] + (n,), "float32", -1, 1)
        gx, gw = (Tensor(np.array(v, np.float32), "float32") for v in (3.5, 1.5))

        def round_trip(a, gs):
            a = np.pad(a, [(0, 0), (0, -a.shape[1] % g)])
            kw = {"global_scale": mx.array(np.float32(gs))} if gs is not None else {}
            q, s = mx.quantize(mx.array(a.astype(np.float32)), mode=mode, **kw)[:2]
            return np.array(mx.dequantize(q, s, mode=mode, dtype=mx.float32, **kw), np.float64)

        def product(a, b, ga, gb):
            return round_trip(a, ga) @ round_trip(b, gb).T

        x2, c2 = np_of(x).reshape(-1, shape_x[-1]), np_of(c).reshape(-1, n)
        g_x, g_w, g_c = (3.5, 1.5, np.abs(c2).max()) if globals else (None, None, None)
        y = product(x2, np_of(w), g_x, g_w).reshape(np_of(c).shape)
        dx = product(c2, np_of(w).T, g_c, g_w).reshape(np_of(x).shape)
        dw = product(c2.T, x2.T, g_c, g_x)
        ins = [x, w, c] + ([gx, gw] if globals else [])
        args = {"group_size": g, "bits": bits, "mode": mode, **({"global_scale": True} if globals else {})}
        fam.add(f"qqmm_vjp_{mode}_{'x'.join(map(str, shape_x))}{'_global' if globals else ''}", "qqmm_vjp", ins,
                [Tensor(y, "float32"), Tensor(dx, "float32"), Tensor(dw, "float32")], args=args, tol=(1e-5, 1e-5))
    fam.write()


def gen_npy():
    """.npy files as NumPy writes them (byte orders, Fortran order, 0-d, empty), with their
    values as JSON, for the IO tests."""
    out = os.path.join(OUT, "npy")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    cases = {
        "f32_c": rng.standard_normal((3, 4)).astype("<f4"),
        "f64_fortran": np.asfortranarray(rng.standard_normal((3, 5))),
        "i32_big_endian": rng.integers(-1000, 1000, (2, 3, 2)).astype(">i4"),
        "f16": rng.standard_normal(7).astype("<f2"),
        "bool": rng.random((2, 3)) > 0.5,
        "u8_scalar": np.array(200, dtype=np.uint8),
        "i64_empty": np.zeros((0, 3), dtype="<i8"),
        "c64_big_endian": (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(">c8"),
    }
    expected = {}
    for name, a in cases.items():
        np.save(os.path.join(out, f"{name}.npy"), a)
        flat = np.ascontiguousarray(a).reshape(-1)
        values = [[float(v.real), float(v.imag)] for v in flat] if a.dtype.kind == "c" else [float(v) for v in flat]
        expected[name] = {"shape": list(a.shape), "values": values}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"{out}: {len(cases)} files")


def expected_values(a):
    flat = np.ascontiguousarray(a).reshape(-1)
    if a.dtype.kind == "c":
        return [[float(v.real), float(v.imag)] for v in flat]
    return [float(v) for v in flat]


def gen_npz():
    """.npz archives as NumPy writes them (savez: stored entries with zip64 extras;
    savez_compressed: deflated), with their values as JSON."""
    out = os.path.join(OUT, "npz")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(8)
    arrays = {
        "weight": rng.standard_normal((4, 3)).astype(np.float32),
        "bias": rng.standard_normal(3).astype(np.float16),
        "ids": rng.integers(0, 50, (2, 5)).astype(np.int64),
        "mask": rng.random(6) > 0.5,
        "scalar": np.array(3.5),
    }
    np.savez(os.path.join(out, "plain.npz"), **arrays)
    np.savez_compressed(os.path.join(out, "compressed.npz"), **arrays)
    expected = {k: {"shape": list(a.shape), "dtype": str(a.dtype), "values": expected_values(a)} for k, a in arrays.items()}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"{out}: 2 archives of {len(arrays)} arrays")


def gen_safetensors_files():
    """.safetensors files: one written by the safetensors package (with metadata), one laid
    out by hand with the dtypes NumPy lacks (BF16, F8_E4M3 and C64)."""
    from safetensors.numpy import save_file
    out = os.path.join(OUT, "safetensors")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(9)
    arrays = {
        "model.layers.0.weight": rng.standard_normal((3, 4)).astype(np.float32),
        "model.layers.0.bias": rng.standard_normal(4).astype(np.float16),
        "f64": rng.standard_normal((2, 2)),
        "ids": rng.integers(-9, 9, 5).astype(np.int64),
        "u8": rng.integers(0, 255, (2, 3)).astype(np.uint8),
        "flags": rng.random(4) > 0.5,
        "empty": np.zeros((0, 2), dtype=np.float32),
        "scalar": np.array(1.25, dtype=np.float32),
    }
    save_file(arrays, os.path.join(out, "official.safetensors"), metadata={"format": "mlx", "note": "golden"})
    expected = {k: {"shape": list(a.shape), "values": expected_values(a)} for k, a in arrays.items()}
    # Hand-made: BF16 (upper halves of f32), F8_E4M3 (raw bytes, loads as u8), C64.
    bf16_src = rng.standard_normal(6).astype(np.float32)
    bf16_bits = (bf16_src.view(np.uint32) >> 16).astype(np.uint16)
    f8 = np.array([0x38, 0x40, 0xB8, 0x00, 0x7E], dtype=np.uint8)
    c64 = (rng.standard_normal(2) + 1j * rng.standard_normal(2)).astype(np.complex64)
    parts = [("bf16", "BF16", [2, 3], bf16_bits.tobytes()), ("c64", "C64", [2], c64.tobytes()), ("f8", "F8_E4M3", [5], f8.tobytes())]
    header, data, offset = {}, b"", 0
    for name, code, shape, raw in parts:
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out, "handmade.safetensors"), "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)
    expected["bf16"] = {"shape": [2, 3], "values": [float(v) for v in (bf16_bits.astype(np.uint32) << 16).view(np.float32)]}
    expected["c64"] = {"shape": [2], "values": expected_values(c64)}
    expected["f8"] = {"shape": [5], "values": [float(v) for v in f8]}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"{out}: 2 files")


def gen_promotion():
    """MLX's 14x14 promotion table, as JSON next to the goldens."""
    names = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "bfloat16", "complex64"]
    table = {a: {b: dtype_name((mx.zeros((1,), dtype=mx_dtype(a)) + mx.zeros((1,), dtype=mx_dtype(b))).dtype) for b in names} for a in names}
    path = os.path.join(OUT, "promotion.json")
    with open(path, "w") as f:
        json.dump(table, f, indent=1)
    print(f"{path}: {len(names)}x{len(names)}")
    # the dtype predicates: can_cast, issubdtype over dtypes and categories, isdtype kinds
    md = lambda n: mx_dtype(n) if n in names else getattr(mx, n)
    cats = ["complexfloating", "floating", "inexact", "signedinteger", "unsignedinteger", "integer", "number", "generic"]
    kinds = ["bool", "signed integer", "unsigned integer", "integral", "real floating", "complex floating", "numeric"]
    utils = {
        "can_cast": {a: {b: mx.can_cast(md(a), md(b)) for b in names} for a in names},
        "issubdtype": {a: {b: mx.issubdtype(md(a), md(b)) for b in names + cats} for a in names + cats},
        "isdtype": {k: [n for n in names if mx.isdtype(md(n), k)] for k in kinds},
    }
    path = os.path.join(OUT, "dtype_utils.json")
    with open(path, "w") as f:
        json.dump(utils, f, indent=1)
    print(f"{path}: can_cast, issubdtype, isdtype")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    which = sys.argv[1:] or ["unary", "binary", "reduce", "matmul", "shape", "creation", "scan_sort", "indexing", "layout", "edges", "random", "fast", "conv", "linalg", "fft", "grad", "quant", "quant_fp", "npy", "npz", "safetensors_files", "promotion"]
    for w in which:
        globals()[f"gen_{w}"]()
