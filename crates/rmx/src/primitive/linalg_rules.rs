//! Reverse-mode rules of the `Linalg` primitive: inverses, solves, Cholesky, the symmetric
//! eigendecomposition, SVD, QR and LU (MLX has none of these; forward mode follows from them,
//! see `transforms::jvp`).
//!
//! Each rule is the exact derivative of the function as computed: factorizations that read
//! one triangle of their input (`cholesky`, `eigh`, the triangular inverse and solve) give
//! gradients on that triangle only, the off-diagonal entries counting for both halves of the
//! symmetric matrix they stand for. Rules are built from differentiable ops, so they nest
//! (second derivatives). Derivatives that do not exist at the input surface as infinities,
//! as in PyTorch: repeated eigenvalues or singular values, singular matrices. The general
//! eigendecomposition `eig` takes complex cotangents (`dL/dRe z + i dL/dIm z`, the crate's
//! convention) and assumes, as PyTorch does, a loss that does not depend on the phases of
//! the eigenvectors, which `eig` does not determine.

use super::linalg::LinalgOp;
use crate::array::Array;
use crate::error::Result;
use std::sync::Arc;

/// `xᵀ` over the last two axes.
fn t(x: &Array) -> Result<Array> {
    crate::swapaxes(x, -1, -2)
}

fn mm(a: &Array, b: &Array) -> Result<Array> {
    crate::matmul(a, b)
}

/// The triangle of `x` a kernel reads (`upper` or lower), diagonal included.
fn triangle(x: &Array, upper: bool) -> Result<Array> {
    if upper {
        crate::triu(x, 0)
    } else {
        crate::tril(x, 0)
    }
}

/// The gradient with respect to a matrix of which only one triangle is read, as the
/// symmetric matrix it stands for, from a gradient `g` valid for symmetric perturbations:
/// off-diagonal entries collect both `g_ij` and `g_ji`.
fn onto_read_triangle(g: &Array, upper: bool) -> Result<Array> {
    let both = triangle(&crate::add(g, &t(g)?)?, upper)?;
    crate::subtract(&both, &diag_embed(&crate::diagonal(g, 0, -2, -1)?)?)
}

/// Square matrices with `v` (`[..., n]`) on the diagonal.
fn diag_embed(v: &Array) -> Result<Array> {
    let n = v.shape()[v.ndim() - 1];
    crate::multiply(&crate::expand_dims(v, &[-1])?, &crate::eye(n, None, 0, v.dtype())?)
}

/// `F_ij = 1 / (w_j - w_i)` off the diagonal, 0 on it (`w`: `[..., n]`).
fn gap_reciprocals(w: &Array) -> Result<Array> {
    let n = w.shape()[w.ndim() - 1];
    let gaps = crate::subtract(&crate::expand_dims(w, &[-2])?, &crate::expand_dims(w, &[-1])?)?;
    let off = crate::logical_not(&crate::eye(n, None, 0, crate::Dtype::Bool)?)?;
    crate::where_(&off, &crate::reciprocal(&crate::where_(&off, &gaps, 1.0)?)?, 0.0)
}

/// The first `k` columns (`axis` = -1) or rows (`axis` = -2) of `x`.
fn leading(x: &Array, axis: isize, k: usize) -> Result<Array> {
    let nd = x.ndim();
    let mut stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    stops[(nd as isize + axis) as usize] = k as isize;
    crate::slice(x, &vec![0; nd], &stops, &vec![1; nd])
}

/// The outputs of `op` recomputed on `a` (for rules that need factors the forward pass did
/// not return, such as the eigenvectors behind `eigvalsh`).
fn recompute(op: LinalgOp, a: &Array) -> Vec<Array> {
    let outputs = op.outputs(a.shape(), a.dtype(), None);
    Array::multi_from_primitive(outputs, Arc::new(super::linalg::Linalg { op }), vec![a.clone()])
}

/// The cotangents of the inputs listed in `argnums`.
pub(crate) fn vjp(op: LinalgOp, inputs: &[Array], cotangents: &[Array], argnums: &[usize], outputs: &[Array]) -> Result<Vec<Array>> {
    let a = &inputs[0];
    let grads: Vec<Array> = match op {
        LinalgOp::Inv => vec![inverse_vjp(&outputs[0], &cotangents[0])?],
        LinalgOp::TriInv { upper } => vec![triangle(&inverse_vjp(&outputs[0], &cotangents[0])?, upper)?],
        LinalgOp::Solve | LinalgOp::SolveTriangular { .. } => {
            let (x, g) = (&outputs[0], &cotangents[0]);
            let (gb, ga) = match op {
                LinalgOp::SolveTriangular { upper } => {
                    let gb = crate::linalg::solve_triangular(&t(a)?, g, !upper)?;
                    let ga = triangle(&crate::negative(&mm(&gb, &t(x)?)?)?, upper)?;
                    (gb, ga)
                }
                _ => {
                    let gb = crate::linalg::solve(&t(a)?, g)?;
                    (gb.clone(), crate::negative(&mm(&gb, &t(x)?)?)?)
                }
            };
            return Ok(argnums.iter().map(|&i| if i == 0 { ga.clone() } else { gb.clone() }).collect());
        }
        LinalgOp::Cholesky { upper } => vec![cholesky_vjp(&outputs[0], &cotangents[0], upper)?],
        LinalgOp::CholeskyInv { upper } => {
            // Y = (L Lᵀ)⁻¹ (lower) or (Uᵀ U)⁻¹ (upper): W = Y Ȳ Y, then L̄ = -(W + Wᵀ) L or
            // Ū = -U (W + Wᵀ), on the triangle the kernel reads.
            let (y, g) = (&outputs[0], &cotangents[0]);
            let w = mm(&mm(y, g)?, y)?;
            let sym = crate::add(&w, &t(&w)?)?;
            let factor = triangle(a, upper)?;
            let grad = if upper { mm(&factor, &sym)? } else { mm(&sym, &factor)? };
            vec![triangle(&crate::negative(&grad)?, upper)?]
        }
        LinalgOp::Eigh { upper, vectors } => {
            let (w, gw) = (&outputs[0], &cotangents[0]);
            let v = if vectors { outputs[1].clone() } else { recompute(LinalgOp::Eigh { upper, vectors: true }, a).swap_remove(1) };
            // G = V (diag(w̄) + F ∘ (Vᵀ V̄)) Vᵀ, F_ij = 1 / (w_j - w_i).
            let mut inner = diag_embed(gw)?;
            if vectors {
                inner = crate::add(&inner, &crate::multiply(&gap_reciprocals(w)?, &mm(&t(&v)?, &cotangents[1])?)?)?;
            }
            vec![onto_read_triangle(&mm(&mm(&v, &inner)?, &t(&v)?)?, upper)?]
        }
        LinalgOp::Svd { compute_uv } => vec![svd_vjp(a, outputs, cotangents, compute_uv)?],
        LinalgOp::Qr => vec![qr_vjp(a, &outputs[0], &outputs[1], &cotangents[0], &cotangents[1])?],
        LinalgOp::LuFactor => vec![lu_vjp(a, &outputs[0], &outputs[2], &cotangents[0])?],
        LinalgOp::Eig { vectors } => vec![eig_vjp(a, outputs, cotangents, vectors)?],
    };
    Ok(argnums.iter().map(|_| grads[0].clone()).collect())
}

/// `Y = A⁻¹`: `Ā = -Yᵀ Ȳ Yᵀ`.
fn inverse_vjp(y: &Array, g: &Array) -> Result<Array> {
    let yt = t(y)?;
    crate::negative(&mm(&mm(&yt, g)?, &yt)?)
}

/// `L = chol(A)` from the lower triangle of `A` (the output is `Lᵀ` when `upper`):
/// `G = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹` with `Φ` the lower triangle, diagonal halved.
fn cholesky_vjp(factor: &Array, g: &Array, upper: bool) -> Result<Array> {
    let (l, gl) = if upper { (t(factor)?, t(g)?) } else { (factor.clone(), g.clone()) };
    let p = crate::tril(&mm(&t(&l)?, &gl)?, 0)?;
    let phi = crate::subtract(&p, &crate::multiply(&diag_embed(&crate::diagonal(&p, 0, -2, -1)?)?, 0.5)?)?;
    let l_inv = crate::linalg::tri_inv(&l, false)?;
    let grad = mm(&mm(&t(&l_inv)?, &phi)?, &l_inv)?;
    // Symmetric perturbations see only the symmetric part; the kernel reads the lower triangle.
    onto_read_triangle(&crate::multiply(&crate::add(&grad, &t(&grad)?)?, 0.5)?, false)
}

/// `A = U diag(s) Vᵀ` (Townsend's formula on the leading `k` singular vectors; the
/// completion columns of a non-square `U` or `V` are not determined by `A` and get none).
fn svd_vjp(a: &Array, outputs: &[Array], cotangents: &[Array], compute_uv: bool) -> Result<Array> {
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let k = m.min(n);
    let full = if compute_uv { outputs.to_vec() } else { recompute(LinalgOp::Svd { compute_uv: true }, a) };
    let (u, s, v) = (leading(&full[0], -1, k)?, full[1].clone(), t(&leading(&full[2], -2, k)?)?);
    let gs = if compute_uv { &cotangents[1] } else { &cotangents[0] };
    let mut inner = diag_embed(gs)?;
    let mut extra = Vec::new();
    if compute_uv {
        let gu = leading(&cotangents[0], -1, k)?;
        let gv = t(&leading(&cotangents[2], -2, k)?)?;
        let f = gap_reciprocals(&crate::square(&s)?)?;
        let s_row = crate::expand_dims(&s, &[-2])?;
        let s_col = crate::expand_dims(&s, &[-1])?;
        let ut_gu = mm(&t(&u)?, &gu)?;
        let vt_gv = mm(&t(&v)?, &gv)?;
        let j = crate::multiply(&crate::multiply(&f, &crate::subtract(&ut_gu, &t(&ut_gu)?)?)?, &s_row)?;
        let kk = crate::multiply(&s_col, &crate::multiply(&f, &crate::subtract(&vt_gv, &t(&vt_gv)?)?)?)?;
        inner = crate::add(&inner, &crate::add(&j, &kk)?)?;
        let s_inv = crate::reciprocal(&s_row)?;
        let mut terms = Vec::new();
        if m > k {
            // (I - U Uᵀ) Ū S⁻¹ Vᵀ
            let outside = crate::subtract(&gu, &mm(&u, &ut_gu)?)?;
            terms.push(mm(&crate::multiply(&outside, &s_inv)?, &t(&v)?)?);
        }
        if n > k {
            // U S⁻¹ V̄ᵀ (I - V Vᵀ)
            let outside = crate::subtract(&gv, &mm(&v, &vt_gv)?)?;
            terms.push(mm(&crate::multiply(&u, &s_inv)?, &t(&outside)?)?);
        }
        extra = terms;
    }
    let mut grad = mm(&mm(&u, &inner)?, &t(&v)?)?;
    for term in extra {
        grad = crate::add(&grad, &term)?;
    }
    Ok(grad)
}

/// `A V = V diag(w)` for a real `A`, unit-norm complex columns of `V`: with `X = Vᴴ V̄`,
/// `M = Vᴴ V` and `F_ij = 1 / (w_j - w_i)` (0 on the diagonal), the cotangent of
/// `V⁻¹ dA V` is `G = diag(w̄) + (X - M Re(diag X)) ∘ conj(F)` (the `M` term keeps the
/// columns' norms), and `Ā = Re(V⁻ᴴ G Vᴴ)`.
fn eig_vjp(a: &Array, outputs: &[Array], cotangents: &[Array], vectors: bool) -> Result<Array> {
    let w = &outputs[0];
    let v = if vectors { outputs[1].clone() } else { recompute(LinalgOp::Eig { vectors: true }, a).swap_remove(1) };
    let vh = crate::conjugate(&t(&v)?)?;
    let mut inner = diag_embed(&cotangents[0])?;
    if vectors {
        let x = mm(&vh, &cotangents[1])?;
        let norms = crate::real(&crate::diagonal(&x, 0, -2, -1)?)?;
        let kept_norms = crate::multiply(&mm(&vh, &v)?, &crate::expand_dims(&norms, &[-2])?)?;
        let coupling = crate::multiply(&gap_reciprocals(&crate::conjugate(w)?)?, &crate::subtract(&x, &kept_norms)?)?;
        inner = crate::add(&inner, &coupling)?;
    }
    // Vᴴ Ā = G Vᴴ
    crate::astype(&complex_solve_real_part(&vh, &mm(&inner, &vh)?)?, a.dtype())
}

/// `Re X` for the complex system `Z X = B`, solved in real arithmetic as
/// `[[Re Z, -Im Z], [Im Z, Re Z]] [Re X; Im X] = [Re B; Im B]`.
fn complex_solve_real_part(z: &Array, b: &Array) -> Result<Array> {
    let n = z.shape()[z.ndim() - 1];
    let (zr, zi) = (crate::real(z)?, crate::imag(z)?);
    let top = crate::concatenate(&[zr.clone(), crate::negative(&zi)?], -1)?;
    let bottom = crate::concatenate(&[zi, zr], -1)?;
    let system = crate::concatenate(&[top, bottom], -2)?;
    let rhs = crate::concatenate(&[crate::real(b)?, crate::imag(b)?], -2)?;
    leading(&crate::linalg::solve(&system, &rhs)?, -2, n)
}

/// `A = Q R` (reduced). For `m ≥ n`: `M = R R̄ᵀ - Q̄ᵀ Q`, `Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ`
/// with `copyltu` the symmetric matrix of `M`'s lower triangle. For `m < n`, `A = [X | Y]`
/// with `X = Q R₁` square and `Y = Q R₂`: `X̄` by the square rule with `Q̄ + Y R̄₂ᵀ`, `Ȳ = Q R̄₂`.
fn qr_vjp(a: &Array, q: &Array, r: &Array, gq: &Array, gr: &Array) -> Result<Array> {
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let square_rule = |q: &Array, r: &Array, gq: &Array, gr: &Array| -> Result<Array> {
        let mm_ = crate::subtract(&mm(r, &t(gr)?)?, &mm(&t(gq)?, q)?)?;
        let lower = crate::tril(&mm_, -1)?;
        let copyltu = crate::add(&crate::add(&lower, &t(&lower)?)?, &diag_embed(&crate::diagonal(&mm_, 0, -2, -1)?)?)?;
        let b = crate::add(gq, &mm(q, &copyltu)?)?;
        // B R⁻ᵀ = (R⁻¹ Bᵀ)ᵀ, R upper triangular.
        t(&crate::linalg::solve_triangular(r, &t(&b)?, true)?)
    };
    if m >= n {
        return square_rule(q, r, gq, gr);
    }
    let cols = |x: &Array, from: usize, to: usize| {
        let mut starts = vec![0isize; nd];
        let mut stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        starts[nd - 1] = from as isize;
        stops[nd - 1] = to as isize;
        crate::slice(x, &starts, &stops, &vec![1; nd])
    };
    let (r1, gr1, gr2) = (cols(r, 0, m)?, cols(gr, 0, m)?, cols(gr, m, n)?);
    let y = cols(a, m, n)?;
    let gx = square_rule(q, &r1, &crate::add(gq, &mm(&y, &t(&gr2)?)?)?, &gr1)?;
    crate::concatenate(&[gx, mm(q, &gr2)?], -1)
}

/// Packed `LU` of an `m x n` `A` with `A = P L U` (row `i` of `A` is row `perm[i]` of `L U`;
/// `L` is `m x k` unit lower, `U` is `k x n` upper, `k = min(m, n)`). The square blocks
/// `L₁`, `U₁` follow `X̄ = tril(L₁ᵀ L̄₁, -1) + triu(Ū₁ U₁ᵀ)`, `W₁ = L₁⁻ᵀ X̄ U₁⁻ᵀ`. A wide
/// `A` has columns `L₁ U₂` past them: `W₂ = L₁⁻ᵀ Ū₂` and `L̄₁` gains `-W₂ U₂ᵀ`. A tall `A` has
/// rows `L₂ U₁` below: `W₂ = L̄₂ U₁⁻ᵀ` and `Ū₁` gains `-L₂ᵀ W₂`. Then `Ā = P W`.
fn lu_vjp(a: &Array, packed: &Array, perm: &Array, g: &Array) -> Result<Array> {
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let k = m.min(n);
    let square = |x: &Array| leading(&leading(x, -2, k)?, -1, k);
    let (packed1, g1) = (square(packed)?, square(g)?);
    let l1 = crate::add(&crate::tril(&packed1, -1)?, &crate::eye(k, None, 0, a.dtype())?)?;
    let (l1t, u1) = (t(&l1)?, crate::triu(&packed1, 0)?);
    let (mut gl1, mut gu1) = (crate::tril(&g1, -1)?, crate::triu(&g1, 0)?);
    // The block past the square part along `axis` (columns of a wide A, rows of a tall one).
    let past_square = |x: &Array, axis: usize| {
        let mut starts = vec![0isize; nd];
        starts[axis] = k as isize;
        let stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        crate::slice(x, &starts, &stops, &vec![1; nd])
    };
    let mut w2 = None;
    if n > k {
        let (u2, gu2) = (past_square(packed, nd - 1)?, past_square(g, nd - 1)?);
        let w = crate::linalg::solve_triangular(&l1t, &gu2, true)?;
        gl1 = crate::subtract(&gl1, &crate::tril(&mm(&w, &t(&u2)?)?, -1)?)?;
        w2 = Some((w, -1));
    } else if m > k {
        let (l2, gl2) = (past_square(packed, nd - 2)?, past_square(g, nd - 2)?);
        // W₂ = L̄₂ U₁⁻ᵀ = (U₁⁻¹ L̄₂ᵀ)ᵀ
        let w = t(&crate::linalg::solve_triangular(&u1, &t(&gl2)?, true)?)?;
        gu1 = crate::subtract(&gu1, &crate::triu(&mm(&t(&l2)?, &w)?, 0)?)?;
        w2 = Some((w, -2));
    }
    let x = crate::add(&crate::tril(&mm(&l1t, &gl1)?, -1)?, &crate::triu(&mm(&gu1, &t(&u1)?)?, 0)?)?;
    // L₁⁻ᵀ X̄ U₁⁻ᵀ through triangular solves: L₁ᵀ Z = X̄, then W U₁ᵀ = Z (U₁ Wᵀ = Zᵀ).
    let z = crate::linalg::solve_triangular(&l1t, &x, true)?;
    let mut w = t(&crate::linalg::solve_triangular(&u1, &t(&z)?, true)?)?;
    if let Some((w2, axis)) = w2 {
        w = crate::concatenate(&[w, w2], axis)?;
    }
    let rows = crate::broadcast_to(&crate::expand_dims(perm, &[-1])?, a.shape())?;
    crate::take_along_axis(&w, &rows, Some(-2))
}
