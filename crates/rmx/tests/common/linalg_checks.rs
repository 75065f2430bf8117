//! Golden-runner ops for `rmx::linalg`. Factorizations that are unique only up to signs
//! (QR, eigenvectors) are brought to the canonical form the generator also uses; SVD and
//! eig are checked through what is unique about them (values, reconstruction,
//! orthogonality, residuals).

use rmx::linalg::{self, NormOrd};
use rmx::{Array, Result};
use serde_json::Value;

fn flag(args: &Value, key: &str) -> bool {
    args.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn ord(args: &Value) -> Option<NormOrd> {
    match args.get("ord") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "fro" => NormOrd::Fro,
            "nuc" => NormOrd::Nuc,
            "inf" => NormOrd::P(f64::INFINITY),
            "-inf" => NormOrd::P(f64::NEG_INFINITY),
            other => panic!("unknown ord {other}"),
        }),
        Some(v) => Some(NormOrd::P(v.as_f64().unwrap())),
    }
}

/// Leading `len` entries of `axis`.
fn head(x: &Array, axis: isize, len: usize) -> Result<Array> {
    let nd = x.ndim();
    let ax = if axis < 0 { (nd as isize + axis) as usize } else { axis as usize };
    let mut stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    stops[ax] = len as isize;
    rmx::slice(x, &vec![0; nd], &stops, &vec![1; nd])
}

fn gram(x: &Array, left: bool) -> Result<Array> {
    let t = rmx::swapaxes(x, -1, -2)?;
    if left {
        rmx::matmul(&t, x)
    } else {
        rmx::matmul(x, &t)
    }
}

/// Multiplies each column by the sign of its largest-magnitude entry.
fn canonical_columns(v: &Array) -> Result<Array> {
    let idx = rmx::argmax(&rmx::abs(v)?, Some(-2), true)?;
    let pick = rmx::take_along_axis(v, &idx, Some(-2))?;
    rmx::multiply(v, &rmx::sign(&pick)?)
}

fn sorted_parts(w: &Array) -> Result<Vec<Array>> {
    Ok(vec![rmx::sort(&rmx::real(w)?, Some(-1))?, rmx::sort(&rmx::imag(w)?, Some(-1))?])
}

pub fn run(op: &str, x: &[Array], args: &Value) -> Result<Vec<Array>> {
    let upper = flag(args, "upper");
    let uplo = args.get("uplo").and_then(Value::as_str).unwrap_or("L");
    Ok(match op {
        "linalg.inv" => vec![linalg::inv(&x[0])?],
        "linalg.tri_inv" => vec![linalg::tri_inv(&x[0], upper)?],
        "linalg.cholesky" => vec![linalg::cholesky(&x[0], upper)?],
        "linalg.cholesky_inv" => vec![linalg::cholesky_inv(&x[0], upper)?],
        "linalg.det" => vec![linalg::det(&x[0])?],
        "linalg.slogdet" => {
            let (s, l) = linalg::slogdet(&x[0])?;
            vec![s, l]
        }
        "linalg.solve" => vec![linalg::solve(&x[0], &x[1])?],
        "linalg.solve_triangular" => vec![linalg::solve_triangular(&x[0], &x[1], upper)?],
        "linalg.pinv" => vec![linalg::pinv(&x[0])?],
        "linalg.eigvalsh" => vec![linalg::eigvalsh(&x[0], uplo)?],
        "linalg.eigh_canonical" => {
            let (w, v) = linalg::eigh(&x[0], uplo)?;
            vec![w, canonical_columns(&v)?]
        }
        "linalg.eigvals_sorted" => sorted_parts(&linalg::eigvals(&x[0])?)?,
        "linalg.eig_check" => {
            let a = &x[0];
            let (w, v) = linalg::eig(a)?;
            let av = rmx::matmul(&rmx::astype(a, rmx::Dtype::C64)?, &v)?;
            let vw = rmx::multiply(&v, &rmx::expand_dims(&w, &[-2])?)?;
            let residual = rmx::max(&rmx::abs(&rmx::subtract(&av, &vw)?)?, [-2, -1], false)?;
            let norms = rmx::sqrt(&rmx::sum(&rmx::square(&rmx::abs(&v)?)?, -2, false)?)?;
            let mut out = sorted_parts(&w)?;
            out.extend([residual, norms]);
            out
        }
        "linalg.qr_canonical" => {
            let (q, r) = linalg::qr(&x[0])?;
            let s = rmx::sign(&rmx::diagonal(&r, 0, -2, -1)?)?;
            vec![rmx::multiply(&q, &rmx::expand_dims(&s, &[-2])?)?, rmx::multiply(&r, &rmx::expand_dims(&s, &[-1])?)?]
        }
        "linalg.svd_values" => vec![linalg::svd_values(&x[0])?],
        "linalg.svd_check" => {
            let (u, s, vt) = linalg::svd(&x[0])?;
            let k = s.shape()[s.ndim() - 1];
            let us = rmx::multiply(&head(&u, -1, k)?, &rmx::expand_dims(&s, &[-2])?)?;
            let recon = rmx::matmul(&us, &head(&vt, -2, k)?)?;
            vec![s, recon, gram(&u, true)?, gram(&vt, false)?]
        }
        "linalg.lu" => {
            let (p, l, u) = linalg::lu(&x[0])?;
            vec![p, l, u]
        }
        "linalg.lu_factor" => {
            let (lu, piv) = linalg::lu_factor(&x[0])?;
            vec![lu, piv]
        }
        "linalg.norm" => {
            let axes: Option<Vec<isize>> =
                args.get("axes").and_then(Value::as_array).map(|v| v.iter().map(|a| a.as_i64().unwrap() as isize).collect());
            vec![linalg::norm(&x[0], ord(args), axes.as_deref(), flag(args, "keepdims"))?]
        }
        "linalg.cross" => vec![linalg::cross(&x[0], &x[1], args["axis"].as_i64().unwrap() as isize)?],
        other => panic!("golden runner does not know op {other}"),
    })
}
