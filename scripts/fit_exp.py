#!/usr/bin/env python3
"""Fits the polynomial of the float32 exp in `crates/rmx/src/backend/cpu/math.rs` and prints it
as Rust.

After the range reduction x = k·ln 2 + r, |r| <= ln(2)/2, exp computes
e^r = 1 + r + r²·q(r) with q of degree 4 (coefficients c2..c6, evaluated by Horner's scheme;
`r + r²·q` in one fused multiply-add, then `+ 1`). q is minimax in the relative error of e^r,
by Lawson's iteratively reweighted least squares on a dense Chebyshev grid, against NumPy's
double-precision expm1. With the coefficients rounded to float32 the fit's own error is 0.064
of 2^-24; the rest of exp_f32's 1.01 ulp (measured over every f32 by the ignored test
`exp_f32_every_input`) is rounding: of r, of `r + r²·q` and of the final `+ 1`.

Run: `python3 scripts/fit_exp.py` (needs NumPy).
"""
import numpy as np

DEGREE = 5  # coefficients of q: c2..c6
HALF_LN2 = np.log(2) / 2 * 1.0001


def fit():
    r = np.cos(np.linspace(0, np.pi, 4001)) * HALF_LN2
    r = r[np.abs(r) > 1e-6]
    target = (np.expm1(r) - r) / r**2
    # The error of q counts in e^r's relative error with weight r²/e^r.
    scale = r**2 / np.exp(r)
    basis = np.stack([r**k for k in range(DEGREE)], axis=1)
    weight = np.ones_like(r)
    for _ in range(80):
        w = weight * scale
        c, *_ = np.linalg.lstsq(basis * w[:, None], target * w, rcond=None)
        err = np.abs((basis @ c - target) * scale)
        weight = weight * np.sqrt(err / err.max()) + 1e-30
        weight /= weight.sum()
    c32 = c.astype(np.float32)
    err = (basis @ c32.astype(np.float64) - target) * scale
    return c32, np.abs(err).max() / 2.0**-24


def main():
    c32, err = fit()
    print(f"// max relative error of the fit with float32 coefficients: {err:.3f} of 2^-24")
    print("const Q: [f32; %d] = [%s];  // c2..c6" % (len(c32), ", ".join(repr(float(v)) for v in c32)))


if __name__ == "__main__":
    main()
