#!/usr/bin/env python3
"""Fits the float32 erf of `crates/rmx/src/backend/cpu/erf.rs` and prints its coefficient table
as a Rust constant.

|x| is cut into eight intervals of width 1/2 on [0, 4) (from 3.92 on, erf is 1.0 in float32:
erfc(3.92) is under half an ulp below 1). On interval i, with t = |x| - (i/2 + 1/4) in
[-1/4, 1/4], a polynomial P_i of degree 6 in t gives
- for i < 2 (|x| < 1): erf(x) = |x| + |x|·P_i(t), minimax in relative error (the exact leading
  term keeps the rounding of P_i to a fraction of the value near 0);
- for i >= 2: erf(x) = P_i(t), minimax in relative error too (the values lie in [0.84, 1]).
Row k of the table holds the eight intervals' coefficients of t^k, so a vector kernel picks a
lane's coefficient with one permute.

Minimax by Lawson's iteratively reweighted least squares on a dense grid, against Python's
double-precision `math.erf`. Coefficients are rounded to float32 one at a time, lowest order
first, refitting the rest after each, so the rounding costs little accuracy.

Run: `python3 scripts/fit_erf.py` (needs NumPy).
"""
import math

import numpy as np

DEGREE, INTERVALS, WIDTH = 6, 8, 0.5
# Intervals below this bound use the relative form |x| + |x|·P(t).
RELATIVE_BELOW = 1.0


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
    rows, worst = [], 0.0
    for i in range(INTERVALS):
        lo, hi = i * WIDTH, (i + 1) * WIDTH
        a = np.linspace(max(lo, 1e-6), hi, 20001)
        basis = np.vander(a - (lo + WIDTH / 2), DEGREE + 1, increasing=True)
        if hi <= RELATIVE_BELOW:
            c, err = fit_in_float32(basis, erf(a) / a - 1.0, a / erf(a))
        else:
            c, err = fit_in_float32(basis, erf(a), 1.0 / erf(a))
        rows.append(c)
        worst = max(worst, err)
    print(f"// max relative error of the fits {worst:.2e} ({worst / 2**-24:.3f} of 2^-24)")
    print(f"const TABLE: [[f32; {INTERVALS}]; {DEGREE + 1}] = [")
    for k in range(DEGREE + 1):
        print("    [" + ", ".join(str(np.float32(r[k])) for r in rows) + "],")
    print("];")


if __name__ == "__main__":
    main()
