#!/usr/bin/env python3
"""Fits the float32 erf of `crates/rmx/src/backend/cpu/math.rs` (`erf_f32`) and prints its
coefficients as Rust constants.

Two pieces, both plain polynomials so the kernel needs no division and no exp:
- |x| < 1: erf(x) = x + x·P(x²), P of degree 6, minimax in relative error (the exact leading
  term keeps the rounding of P's coefficients to a tenth of the value);
- 1 ≤ |x| ≤ 4.1: erf(x) = B(|x| − MID), B of degree 15, minimax in absolute error (the values
  lie in [0.84, 1), so absolute error is what rounding to float32 sees). From 4.1 on, erf is 1.0
  in float32 (erfc(4.1) ≈ 6.7e-9, under half an ulp below 1).

Minimax by Lawson's iteratively reweighted least squares on a dense grid, against Python's
double-precision `math.erf`. Coefficients are rounded to float32 one at a time, lowest order
first, refitting the rest after each, so the rounding costs little accuracy.

Run: `python3 scripts/fit_erf.py` (needs NumPy).
"""
import math

import numpy as np

SMALL_DEGREE, BIG_DEGREE = 6, 15
LO, HI = 1.0, 4.1
MID = np.float32((LO + HI) / 2)


def lawson(basis, target, weight, fixed, iterations=80):
    """Minimax coefficients of `basis @ c ≈ target` (error scaled by `weight`), with the
    coefficients named in `fixed` (index → value) held."""
    free = [k for k in range(basis.shape[1]) if k not in fixed]
    rest = target - sum(basis[:, k] * v for k, v in fixed.items())
    w = np.full(len(target), 1.0 / len(target))
    best = None
    for _ in range(iterations):
        sw = np.sqrt(w) * weight
        c, *_ = np.linalg.lstsq(basis[:, free] * sw[:, None], rest * sw, rcond=None)
        err = np.abs(basis[:, free] @ c - rest) * weight
        if best is None or err.max() < best[0]:
            best = (err.max(), c)
        w = w * err
        w /= w.sum()
    full = dict(fixed)
    full.update(zip(free, best[1]))
    return np.array([full[k] for k in range(basis.shape[1])])


def fit_in_float32(basis, target, weight):
    """Lawson fit with coefficients rounded to float32 one by one (lowest order first)."""
    fixed = {}
    for k in range(basis.shape[1]):
        c = lawson(basis, target, weight, fixed)
        fixed[k] = float(np.float32(c[k]))
    c = np.array([fixed[k] for k in range(basis.shape[1])])
    return c, (np.abs(basis @ c - target) * weight).max()


def main():
    erf = np.vectorize(math.erf)
    x = np.linspace(1e-4, LO, 20001)
    small, small_err = fit_in_float32(np.vander(x * x, SMALL_DEGREE + 1, increasing=True), erf(x) / x - 1, x / erf(x))
    x = np.linspace(LO, HI, 40001)
    u = x - float(MID)
    big, big_err = fit_in_float32(np.vander(u, BIG_DEGREE + 1, increasing=True), erf(x), np.ones_like(x))
    print(f"// |x| < 1: max relative error of the fit {small_err:.2e}")
    print(f"const SMALL: [f32; {SMALL_DEGREE + 1}] = [{', '.join(str(np.float32(c)) for c in small)}];")
    print(f"// 1 <= |x| <= {HI}: max absolute error of the fit {big_err:.2e}")
    print(f"const MID: f32 = {str(MID)};")
    print(f"const BIG: [f32; {BIG_DEGREE + 1}] = [{', '.join(str(np.float32(c)) for c in big)}];")


if __name__ == "__main__":
    main()
