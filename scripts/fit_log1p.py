#!/usr/bin/env python3
"""Fits the float32 `log1p` on [0, 1] of `crates/rmx/src/backend/cpu/math.rs` (`ln_1p_unit_f32`,
the `log1p(exp(lo - hi))` of logaddexp) and prints its coefficients as Rust constants.

The kernel takes `s = t` for t up to 1/2 and `s = (t - 1)/2` (exact) above, where
`log1p(t) = ln 2 + log1p(s)`, so s lies in [-1/4, 1/2]. There `log1p(s) = s + s·q(s)` with
`q(s) = a1·s + … + aD·s^D`, minimax in the relative error of the result (the exact leading term
`s` keeps the coefficients' rounding to a fraction of it), on a dense grid against Python's
double-precision `math.log1p`. Same Lawson iteration and one-at-a-time rounding to float32 as
`scripts/fit_erf.py`.

Run: `python3 scripts/fit_log1p.py [degree]` (needs NumPy).
"""
import math
import sys

import numpy as np

from fit_erf import fit_in_float32


LO, HI = -0.25, 0.5


def main():
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    log1p = np.vectorize(math.log1p)
    # Both sides of 0, skipping it (where log1p(s)/s is 1 to the last bit anyway).
    s = np.concatenate([np.linspace(LO, -1e-6, 20001), np.linspace(1e-6, HI, 40001)])
    basis = np.vander(s, degree + 1, increasing=True)[:, 1:]
    coefficients, err = fit_in_float32(basis, log1p(s) / s - 1.0, s / log1p(s))
    print(f"// degree {degree}: max relative error of the fit {err:.2e} ({err / 2**-24:.3f} of 2^-24)")
    print(f"const Q: [f32; {degree}] = [{', '.join(str(np.float32(c)) for c in coefficients)}];")


if __name__ == "__main__":
    main()
