//! The transforms over a table of functions covering the primitives. Derivatives against
//! central finite differences in float64: `<vjp(c), t>` and `<c, jvp(t)>` must equal
//! `(<c, f(x + h t)> - <c, f(x - h t)>) / 2h` for random inputs `x`, cotangents `c` and
//! directions `t`. `vmap` against a loop over the mapped axis, for several in/out axes.
//! Plus second derivatives against closed forms, compositions, and the errors misuse gets.

use rmx::{Array, Axes, Dtype, Index, Result};

type Fun = Box<dyn Fn(&[Array]) -> Result<Array>>;
/// A function of several outputs.
type ManyOut = Box<dyn Fn(&[Array]) -> Result<Vec<Array>>>;

struct Case {
    name: &'static str,
    shapes: Vec<Vec<usize>>,
    /// Inputs are drawn uniformly from this range.
    range: (f64, f64),
    f: Fun,
}

fn case(name: &'static str, shapes: &[&[usize]], range: (f64, f64), f: impl Fn(&[Array]) -> Result<Array> + 'static) -> Case {
    Case { name, shapes: shapes.iter().map(|s| s.to_vec()).collect(), range, f: Box::new(f) }
}

fn draw(shape: &[usize], range: (f64, f64), seed: u64) -> Array {
    let key = rmx::random::key(seed);
    rmx::random::uniform(range.0, range.1, shape, Dtype::F64, Some(&key)).unwrap()
}

fn dot(a: &Array, b: &Array) -> f64 {
    rmx::sum(&rmx::multiply(a, b).unwrap(), Axes::All, false).unwrap().item::<f64>().unwrap()
}

fn check(c: &Case, seed: u64) -> std::result::Result<(), String> {
    let x: Vec<Array> = c.shapes.iter().enumerate().map(|(i, s)| draw(s, c.range, seed + i as u64)).collect();
    let y = (c.f)(&x).map_err(|e| format!("forward: {e}"))?;
    let cot = draw(y.shape(), (-1.0, 1.0), seed + 100);
    let (_, grads) = rmx::vjp(|a| Ok(vec![(c.f)(a)?]), &x, std::slice::from_ref(&cot)).map_err(|e| format!("vjp: {e}"))?;
    let h = 1e-6;
    for (i, xi) in x.iter().enumerate() {
        let t = draw(xi.shape(), (-1.0, 1.0), seed + 200 + i as u64);
        let shifted = |sign: f64| -> Result<f64> {
            let mut args = x.clone();
            args[i] = rmx::add(xi, &rmx::multiply(&t, sign * h)?)?;
            Ok(dot(&cot, &(c.f)(&args)?))
        };
        let numeric = (shifted(1.0).unwrap() - shifted(-1.0).unwrap()) / (2.0 * h);
        if grads[i].shape() != xi.shape() || grads[i].dtype() != xi.dtype() {
            return Err(format!(
                "input {i}: gradient {:?} {} for input {:?} {}",
                grads[i].shape(),
                grads[i].dtype(),
                xi.shape(),
                xi.dtype()
            ));
        }
        let analytic = dot(&grads[i], &t);
        if (analytic - numeric).abs() > 1e-5 * (1.0 + numeric.abs()) {
            return Err(format!("input {i}: vjp gives {analytic}, finite differences {numeric}"));
        }
    }
    Ok(())
}

fn unary_cases() -> Vec<Case> {
    macro_rules! u {
        ($($name:ident $range:expr),* $(,)?) => { vec![$(case(stringify!($name), &[&[3, 4]], $range, |a| rmx::$name(&a[0]))),*] };
    }
    u![
        abs(0.1, 2.0),
        negative(-2.0, 2.0),
        sqrt(0.2, 3.0),
        rsqrt(0.2, 3.0),
        square(-2.0, 2.0),
        reciprocal(0.3, 2.0),
        exp(-2.0, 2.0),
        expm1(-1.0, 1.0),
        log(0.2, 3.0),
        log2(0.2, 3.0),
        log10(0.2, 3.0),
        log1p(-0.5, 2.0),
        sin(-3.0, 3.0),
        cos(-3.0, 3.0),
        tan(-1.0, 1.0),
        arcsin(-0.8, 0.8),
        arccos(-0.8, 0.8),
        arctan(-3.0, 3.0),
        sinh(-2.0, 2.0),
        cosh(-2.0, 2.0),
        tanh(-2.0, 2.0),
        arcsinh(-2.0, 2.0),
        arccosh(1.2, 3.0),
        arctanh(-0.8, 0.8),
        sigmoid(-4.0, 4.0),
        erf(-2.0, 2.0),
        erfinv(-0.8, 0.8),
    ]
}

fn binary_cases() -> Vec<Case> {
    let s: &[&[usize]] = &[&[3, 1], &[4]];
    vec![
        case("add", s, (-2.0, 2.0), |a| rmx::add(&a[0], &a[1])),
        case("subtract", s, (-2.0, 2.0), |a| rmx::subtract(&a[0], &a[1])),
        case("multiply", s, (-2.0, 2.0), |a| rmx::multiply(&a[0], &a[1])),
        case("divide", s, (0.5, 2.0), |a| rmx::divide(&a[0], &a[1])),
        case("power", s, (0.5, 2.0), |a| rmx::power(&a[0], &a[1])),
        case("maximum", s, (-2.0, 2.0), |a| rmx::maximum(&a[0], &a[1])),
        case("minimum", s, (-2.0, 2.0), |a| rmx::minimum(&a[0], &a[1])),
        case("logaddexp", s, (-2.0, 2.0), |a| rmx::logaddexp(&a[0], &a[1])),
        case("arctan2", s, (0.3, 2.0), |a| rmx::arctan2(&a[0], &a[1])),
        case("remainder", s, (0.3, 0.9), |a| rmx::remainder(&rmx::multiply(&a[0], 3.0)?, &a[1])),
        case("where", &[&[3, 4], &[3, 4], &[4]], (-1.0, 1.0), |a| rmx::where_(&rmx::greater(&a[0], 0.0)?, &a[1], &a[2])),
    ]
}

fn reduction_cases() -> Vec<Case> {
    let s: &[&[usize]] = &[&[3, 4, 5]];
    vec![
        case("sum_axes", s, (-1.0, 1.0), |a| rmx::sum(&a[0], [0, 2], false)),
        case("sum_all_keepdims", s, (-1.0, 1.0), |a| rmx::sum(&a[0], Axes::All, true)),
        case("max", s, (-1.0, 1.0), |a| rmx::max(&a[0], 1, false)),
        case("min", s, (-1.0, 1.0), |a| rmx::min(&a[0], [0, 2], false)),
        case("prod", s, (0.5, 1.5), |a| rmx::prod(&a[0], [2, 0], false)),
        case("prod_with_zero", &[&[4]], (0.5, 1.5), |a| {
            let zero_first = rmx::multiply(&a[0], &Array::from_slice(&[0.0f64, 1.0, 1.0, 1.0], &[4])?)?;
            rmx::prod(&zero_first, Axes::All, false)
        }),
        case("mean", s, (-1.0, 1.0), |a| rmx::mean(&a[0], 1, false)),
        case("median_odd", s, (-1.0, 1.0), |a| rmx::median(&a[0], [0, 2], false)),
        case("median_even", s, (-1.0, 1.0), |a| rmx::median(&a[0], 1, true)),
        case("var", s, (-1.0, 1.0), |a| rmx::var(&a[0], -1, false, 1)),
        case("std", s, (-1.0, 1.0), |a| rmx::std(&a[0], 0, true, 0)),
        case("logsumexp", s, (-2.0, 2.0), |a| rmx::logsumexp(&a[0], -1, false)),
        case("softmax", s, (-2.0, 2.0), |a| rmx::softmax(&a[0], -1)),
        case("cumsum", s, (-1.0, 1.0), |a| rmx::cumsum(&a[0], Some(1), false, true)),
        case("cumsum_reverse_exclusive", s, (-1.0, 1.0), |a| rmx::cumsum(&a[0], Some(2), true, false)),
        case("cummax", s, (-1.0, 1.0), |a| rmx::cummax(&a[0], Some(1), false, true)),
        case("cummin_reverse", s, (-1.0, 1.0), |a| rmx::cummin(&a[0], Some(2), true, true)),
        case("cumprod", s, (0.5, 1.5), |a| rmx::cumprod(&a[0], Some(1), false, true)),
        case("cumprod_reverse_signed", s, (-1.5, 1.5), |a| rmx::cumprod(&a[0], Some(2), true, true)),
        case("cumprod_exclusive", s, (0.5, 1.5), |a| rmx::cumprod(&a[0], Some(1), false, false)),
        case("cumprod_exclusive_reverse", s, (-1.5, 1.5), |a| rmx::cumprod(&a[0], Some(2), true, false)),
        case("cummax_exclusive", s, (-1.0, 1.0), |a| rmx::cummax(&a[0], Some(2), false, false)),
        case("cummin_exclusive_reverse", s, (-1.0, 1.0), |a| rmx::cummin(&a[0], Some(1), true, false)),
        case("logcumsumexp", s, (-2.0, 2.0), |a| rmx::logcumsumexp(&a[0], Some(1), false, true)),
        case("logcumsumexp_reverse", s, (-2.0, 2.0), |a| rmx::logcumsumexp(&a[0], Some(2), true, true)),
    ]
}

/// Row indices with a repeat (rows 4 and 0 of five, 4 twice, then 2).
fn repeated_rows() -> Result<Array> {
    Array::from_slice(&[4i32, 0, 4, 2], &[4])
}

fn structural_cases() -> Vec<Case> {
    let scatter: &[&[usize]] = &[&[5, 3], &[4, 3]];
    vec![
        case("matmul_batch_broadcast", &[&[2, 1, 3, 4], &[5, 4, 2]], (-1.0, 1.0), |a| rmx::matmul(&a[0], &a[1])),
        case("matmul_vector", &[&[4], &[4, 3]], (-1.0, 1.0), |a| rmx::matmul(&a[0], &a[1])),
        case("addmm", &[&[3], &[2, 4], &[4, 3]], (-1.0, 1.0), |a| rmx::addmm(&a[0], &a[1], &a[2], 0.5, 2.0)),
        case("reshape_transpose", &[&[2, 3, 4]], (-1.0, 1.0), |a| rmx::transpose(&rmx::reshape(&a[0], &[6, 4])?, None)),
        case("broadcast_to", &[&[3, 1]], (-1.0, 1.0), |a| rmx::broadcast_to(&a[0], &[2, 3, 4])),
        case("slice_steps", &[&[5, 6]], (-1.0, 1.0), |a| rmx::slice(&a[0], &[4, 1], &[0, 6], &[-2, 2])),
        case("concatenate", &[&[2, 3], &[4, 3]], (-1.0, 1.0), |a| rmx::concatenate(&a[..2], 0)),
        case("slice_update", &[&[4, 5], &[2, 5]], (-1.0, 1.0), |a| rmx::slice_update(&a[0], &a[1], &[1, 0], &[3, 5], &[1, 1])),
        case("take_repeated", &[&[5, 3]], (-1.0, 1.0), |a| rmx::take(&a[0], &Array::from_slice(&[4i32, 0, 4, 2], &[4])?, Some(0))),
        case("take_along_axis", &[&[3, 4]], (-1.0, 1.0), |a| {
            rmx::take_along_axis(&a[0], &Array::from_slice(&[3u32, 0, 1, 1, 2, 2], &[3, 2])?, Some(1))
        }),
        case("scatter_add", scatter, (-1.0, 1.0), |a| rmx::at(&a[0], &[repeated_rows()?]).add(&a[1])),
        case("scatter_maximum", scatter, (-1.0, 1.0), |a| rmx::at(&a[0], &[repeated_rows()?]).maximum(&a[1])),
        case("scatter_minimum", scatter, (-1.0, 1.0), |a| rmx::at(&a[0], &[repeated_rows()?]).minimum(&a[1])),
        case("scatter_multiply", scatter, (-1.5, 1.5), |a| rmx::at(&a[0], &[repeated_rows()?]).multiply(&a[1])),
        case("scatter_divide", scatter, (0.5, 1.5), |a| rmx::at(&a[0], &[repeated_rows()?]).divide(&a[1])),
        // Updates through general indices: a strided window, and arrays mixed with slices.
        case("at_index_window_multiply", &[&[4, 5], &[2, 5]], (-1.5, 1.5), |a| {
            rmx::at_index(&a[0], &[Index::Slice(Some(3), None, -2)]).multiply(&a[1])
        }),
        case("at_index_mixed_add", &[&[4, 5], &[2, 3]], (-1.0, 1.0), |a| {
            rmx::at_index(&a[0], &[Index::Slice(Some(1), Some(4), 1), Index::Array(Array::from_slice(&[4i32, 4], &[2])?)])
                .add(&rmx::transpose(&a[1], None)?)
        }),
        case("slice_update_max", &[&[4, 5], &[2, 5]], (-1.0, 1.0), |a| rmx::slice_update_max(&a[0], &a[1], &[0, 0], &[4, 5], &[2, 1])),
        case("scatter_add_axis", &[&[3, 4], &[3, 2]], (-1.0, 1.0), |a| {
            rmx::scatter_add_axis(&a[0], &Array::from_slice(&[3u32, 3, 0, 1, 2, 0], &[3, 2])?, &a[1], 1)
        }),
        case("put_along_axis", &[&[3, 4], &[3, 1]], (-1.0, 1.0), |a| {
            rmx::put_along_axis(&a[0], &Array::from_slice(&[3u32, 0, 1], &[3, 1])?, &a[1], 1)
        }),
        case("sort_axis0", &[&[4, 3]], (-1.0, 1.0), |a| rmx::sort(&a[0], Some(0))),
        case("slice_dynamic", &[&[4, 5]], (-1.0, 1.0), |a| {
            rmx::slice_dynamic(&a[0], &Array::from_slice(&[1i32, 2], &[2])?, &[0, 1], &[2, 2])
        }),
        case("slice_update_dynamic", &[&[4, 5], &[2, 2]], (-1.0, 1.0), |a| {
            rmx::slice_update_dynamic(&a[0], &a[1], &Array::from_slice(&[2i32, 1], &[2])?, &[0, 1])
        }),
        case("concatenate_slices", &[&[3, 4]], (-1.0, 1.0), |a| {
            let left = rmx::slice(&a[0], &[0, 0], &[3, 2], &[1, 1])?;
            let right = rmx::slice(&a[0], &[0, 2], &[3, 4], &[1, 1])?;
            rmx::concatenate(&[rmx::negative(&right)?, left], 1)
        }),
        case("pad_tile", &[&[2, 3]], (-1.0, 1.0), |a| {
            rmx::tile(&rmx::pad(&a[0], &[(1, 0), (0, 2)], rmx::PadMode::Constant(0.0))?, &[2, 1])
        }),
        case("as_strided_overlapping", &[&[3, 4]], (-1.0, 1.0), |a| rmx::as_strided(&a[0], &[2, 3, 2], &[4, 1, 2], 1)),
        case("conv1d_stride_groups", &[&[2, 9, 4], &[6, 3, 2]], (-1.0, 1.0), |a| rmx::conv1d(&a[0], &a[1], 2, 1, 1, 2)),
        case("conv2d_dilation", &[&[1, 6, 5, 3], &[4, 2, 3, 3]], (-1.0, 1.0), |a| rmx::conv2d(&a[0], &a[1], 1, 1, 2, 1)),
        case("conv_transpose2d", &[&[1, 4, 4, 2], &[3, 3, 3, 2]], (-1.0, 1.0), |a| rmx::conv_transpose2d(&a[0], &a[1], 2, 1, 1, 0, 1)),
        case("rms_norm", &[&[3, 8], &[8]], (0.5, 1.5), |a| rmx::rms_norm(&a[0], Some(&a[1]), 1e-5)),
        case("layer_norm", &[&[3, 8], &[8], &[8]], (0.5, 1.5), |a| rmx::layer_norm(&a[0], Some(&a[1]), Some(&a[2]), 1e-5)),
        case("attention", &[&[1, 2, 3, 4], &[1, 2, 5, 4], &[1, 2, 5, 4]], (-1.0, 1.0), |a| {
            rmx::scaled_dot_product_attention(&a[0], &a[1], &a[2], 0.5, None, None)
        }),
    ]
}

/// `<c, J t>` from forward mode against finite differences along all inputs at once.
fn check_jvp(c: &Case, seed: u64) -> std::result::Result<(), String> {
    let x: Vec<Array> = c.shapes.iter().enumerate().map(|(i, s)| draw(s, c.range, seed + i as u64)).collect();
    let t: Vec<Array> = x.iter().enumerate().map(|(i, xi)| draw(xi.shape(), (-1.0, 1.0), seed + 300 + i as u64)).collect();
    let (y, tangent) = rmx::jvp(|a| Ok(vec![(c.f)(a)?]), &x, &t).map_err(|e| format!("jvp: {e}"))?;
    let cot = draw(y[0].shape(), (-1.0, 1.0), seed + 100);
    let h = 1e-6;
    let shifted = |sign: f64| -> Result<f64> {
        let args: Vec<Array> = x.iter().zip(&t).map(|(xi, ti)| rmx::add(xi, &rmx::multiply(ti, sign * h)?)).collect::<Result<_>>()?;
        Ok(dot(&cot, &(c.f)(&args)?))
    };
    let numeric = (shifted(1.0).unwrap() - shifted(-1.0).unwrap()) / (2.0 * h);
    let analytic = dot(&cot, &tangent[0]);
    if (analytic - numeric).abs() > 1e-5 * (1.0 + numeric.abs()) {
        return Err(format!("jvp gives {analytic}, finite differences {numeric}"));
    }
    Ok(())
}

/// `x + shift * I` (diagonally dominant for inputs in (-1, 1) and shift ≥ n).
fn shifted(x: &Array, shift: f64) -> Result<Array> {
    let n = x.shape()[x.ndim() - 1];
    rmx::add(x, &rmx::multiply(&rmx::eye(n, None, 0, Dtype::F64)?, shift)?)
}

/// The first `k` entries along `axis` (the determined part of a non-square SVD's factors).
fn first(x: &Array, axis: usize, k: usize) -> Result<Array> {
    let mut stops: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    stops[axis] = k as isize;
    rmx::slice(x, &vec![0; x.ndim()], &stops, &vec![1; x.ndim()])
}

/// What a loss may depend on when the columns of `u` and `v` are singular or eigen vectors
/// (each pair is determined up to a common sign): `u ∘ u`, `v ∘ v` and `u diag(1, 2, ..) vᵀ`.
fn sign_free(u: &Array, v: &Array) -> Result<Array> {
    let k = u.shape()[u.ndim() - 1];
    let weights = rmx::arange(1.0, k as f64 + 1.0, 1.0, Dtype::F64)?;
    let weighted = rmx::matmul(&rmx::multiply(u, &weights)?, &rmx::swapaxes(v, -1, -2)?)?;
    flat_concat(&[rmx::square(u)?, rmx::square(v)?, weighted])
}

fn flat_concat(parts: &[Array]) -> Result<Array> {
    let flat: Vec<Array> = parts.iter().map(|p| rmx::reshape(p, &[-1])).collect::<Result<_>>()?;
    rmx::concatenate(&flat, 0)
}

/// The factorizations, inverses and solves; the inputs that read one triangle are perturbed
/// on both, so their gradients must say which triangle counts.
fn linalg_cases() -> Vec<Case> {
    use rmx::linalg;
    let r = (-1.0, 1.0);
    vec![
        case("inv", &[&[2, 3, 3]], r, |a| linalg::inv(&shifted(&a[0], 3.0)?)),
        case("tri_inv_lower", &[&[3, 3]], r, |a| linalg::tri_inv(&shifted(&a[0], 3.0)?, false)),
        case("tri_inv_upper", &[&[3, 3]], r, |a| linalg::tri_inv(&shifted(&a[0], 3.0)?, true)),
        case("solve", &[&[2, 3, 3], &[2, 3, 2]], r, |a| linalg::solve(&shifted(&a[0], 3.0)?, &a[1])),
        case("solve_vector", &[&[3, 3], &[3]], r, |a| linalg::solve(&shifted(&a[0], 3.0)?, &a[1])),
        case("solve_triangular_upper", &[&[3, 3], &[3, 2]], r, |a| linalg::solve_triangular(&shifted(&a[0], 3.0)?, &a[1], true)),
        case("solve_triangular_lower", &[&[3, 3], &[3]], r, |a| linalg::solve_triangular(&shifted(&a[0], 3.0)?, &a[1], false)),
        case("cholesky_lower", &[&[2, 3, 3]], r, |a| linalg::cholesky(&shifted(&a[0], 4.0)?, false)),
        case("cholesky_upper", &[&[3, 3]], r, |a| linalg::cholesky(&shifted(&a[0], 4.0)?, true)),
        case("cholesky_inv_lower", &[&[3, 3]], r, |a| linalg::cholesky_inv(&shifted(&a[0], 3.0)?, false)),
        case("cholesky_inv_upper", &[&[3, 3]], r, |a| linalg::cholesky_inv(&shifted(&a[0], 3.0)?, true)),
        case("eigvalsh_lower", &[&[2, 3, 3]], r, |a| linalg::eigvalsh(&a[0], "L")),
        case("eigh_upper", &[&[4, 4]], r, |a| {
            let (w, v) = linalg::eigh(&a[0], "U")?;
            flat_concat(&[w, sign_free(&v, &v)?])
        }),
        case("svd_values_tall", &[&[4, 3]], r, |a| linalg::svd_values(&a[0])),
        // U and Vt dropped: the rule sees them recomputed, with zero cotangents.
        case("svd_values_of_full_svd", &[&[3, 4]], r, |a| Ok(linalg::svd(&a[0])?.1)),
        case("svd_square", &[&[3, 3]], r, |a| {
            let (u, s, vt) = linalg::svd(&a[0])?;
            flat_concat(&[sign_free(&u, &rmx::swapaxes(&vt, -1, -2)?)?, s])
        }),
        case("svd_tall", &[&[4, 2]], r, |a| {
            let (u, s, vt) = linalg::svd(&a[0])?;
            flat_concat(&[sign_free(&first(&u, 1, 2)?, &rmx::swapaxes(&vt, -1, -2)?)?, s])
        }),
        case("svd_wide", &[&[2, 2, 3]], r, |a| {
            let (u, s, vt) = linalg::svd(&a[0])?;
            flat_concat(&[sign_free(&u, &rmx::swapaxes(&first(&vt, 1, 2)?, -1, -2)?)?, s])
        }),
        case("qr_tall", &[&[4, 3]], r, |a| {
            let (q, r) = linalg::qr(&a[0])?;
            flat_concat(&[q, r])
        }),
        case("qr_wide", &[&[2, 4]], r, |a| {
            let (q, r) = linalg::qr(&a[0])?;
            flat_concat(&[q, r])
        }),
        case("lu_factor", &[&[3, 3]], r, |a| Ok(linalg::lu_factor(&a[0])?.0)),
        case("lu_factor_wide", &[&[2, 3, 5]], r, |a| Ok(linalg::lu_factor(&a[0])?.0)),
        case("lu_factor_tall", &[&[5, 3]], r, |a| Ok(linalg::lu_factor(&a[0])?.0)),
        case("det", &[&[2, 3, 3]], r, |a| linalg::det(&shifted(&a[0], 1.0)?)),
        case("slogdet", &[&[3, 3]], r, |a| Ok(linalg::slogdet(&a[0])?.1)),
        case("pinv", &[&[4, 3]], r, |a| linalg::pinv(&a[0])),
        case("norm_2", &[&[3, 4]], r, |a| linalg::norm(&a[0], Some(linalg::NormOrd::P(2.0)), None, false)),
        case("norm_nuc", &[&[3, 4]], r, |a| linalg::norm(&a[0], Some(linalg::NormOrd::Nuc), None, false)),
    ]
}

fn all_cases() -> Vec<Case> {
    [unary_cases(), binary_cases(), reduction_cases(), structural_cases(), linalg_cases()].into_iter().flatten().collect()
}

#[test]
fn jvp_matches_finite_differences() {
    let cases = all_cases();
    let failures: Vec<String> = cases.iter().filter_map(|c| check_jvp(c, 23).err().map(|e| format!("{}: {e}", c.name))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn vjp_matches_finite_differences() {
    let cases = all_cases();
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c, 11).err().map(|e| format!("{}: {e}", c.name))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    eprintln!("{} vjp cases match finite differences", cases.len());
}

/// Scatter-multiply where updates are zero: the gradient of an update is the product of
/// the original value and the other updates at its position, also when that is 0 · finite.
#[test]
fn scatter_multiply_gradient_is_exact_at_zero_updates() {
    let x = Array::from_slice(&[2.0f64, 3.0], &[2]).unwrap();
    let u = Array::from_slice(&[0.0f64, 4.0, 5.0, 0.0, 0.0, 7.0], &[6]).unwrap();
    let idx = Array::from_slice(&[0i32, 0, 0, 1, 1, 1], &[6]).unwrap();
    let loss = move |a: &[Array]| Ok(vec![rmx::sum(&rmx::at(&a[0], std::slice::from_ref(&idx)).multiply(&a[1])?, Axes::All, false)?]);
    let g = rmx::grad(loss, &[0, 1])(&[x, u]).unwrap();
    // Position 0: 2·0·4·5 (one zero); position 1: 3·0·0·7 (two zeros).
    assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![0.0, 0.0]);
    assert_eq!(g[1].to_vec::<f64>().unwrap(), vec![40.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

/// Scatter-maximum with ties: the original value and every update equal to the result get
/// the full cotangent, as in MLX 0.32.4 (`mx.grad` of `(x.at[idx].maximum(u) * w).sum()`
/// with these values gives `[1, 0, 100]` and `[1, 0, 10, 100]`).
#[test]
fn scatter_maximum_gradient_with_ties_matches_mlx() {
    let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let u = Array::from_slice(&[1.0f32, 0.5, 5.0, 3.0], &[4]).unwrap();
    let idx = Array::from_slice(&[0i32, 0, 1, 2], &[4]).unwrap();
    let w = Array::from_slice(&[1.0f32, 10.0, 100.0], &[3]).unwrap();
    let loss = move |a: &[Array]| {
        let out = rmx::at(&a[0], std::slice::from_ref(&idx)).maximum(&a[1])?;
        Ok(vec![rmx::sum(&rmx::multiply(&out, &w)?, Axes::All, false)?])
    };
    let g = rmx::grad(loss, &[0, 1])(&[x, u]).unwrap();
    assert_eq!(g[0].to_vec::<f32>().unwrap(), vec![1.0, 0.0, 100.0]);
    assert_eq!(g[1].to_vec::<f32>().unwrap(), vec![1.0, 0.0, 10.0, 100.0]);
}

/// `view` under vmap (batch on any axis; the last axis is the one rescaled) against a loop,
/// and its derivatives: none between two float types (an error, as in MLX), zero for the
/// integer side.
#[test]
fn view_batches_and_has_no_float_derivative() {
    let x = draw(&[3, 2, 4], (-1.0, 1.0), 5);
    let to_u16 = |a: &[Array]| Ok(vec![rmx::view(&rmx::astype(&a[0], Dtype::F32)?, Dtype::U16)?]);
    for axis in 0..3 {
        let mapped = rmx::vmap(to_u16, &[Some(axis)], &[Some(0)])(std::slice::from_ref(&x)).unwrap().remove(0);
        let rows: Vec<Array> = (0..x.shape()[axis])
            .map(|i| to_u16(&[rmx::take(&x, &Array::scalar(i as u32), Some(axis as isize)).unwrap()]).unwrap().remove(0))
            .collect();
        assert!(rmx::array_equal(&mapped, &rmx::stack(&rows, 0).unwrap(), false).unwrap().item::<bool>().unwrap(), "batch axis {axis}");
    }
    let as_f16 = |a: &[Array]| Ok(vec![rmx::sum(&rmx::view(&rmx::astype(&a[0], Dtype::F32)?, Dtype::F16)?, Axes::All, false)?]);
    let err = rmx::grad(as_f16, &[0])(std::slice::from_ref(&x)).unwrap_err().to_string();
    assert!(err.contains("view") && err.contains("float16"), "{err}");
    let through_ints = |a: &[Array]| {
        let bits = rmx::view(&rmx::astype(&a[0], Dtype::F32)?, Dtype::I32)?;
        Ok(vec![rmx::add(&rmx::sum(&a[0], Axes::All, false)?, &rmx::sum(&rmx::astype(&bits, Dtype::F64)?, Axes::All, false)?)?])
    };
    let g = rmx::grad(through_ints, &[0])(std::slice::from_ref(&x)).unwrap().remove(0);
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![1.0; 24]);
}

/// `depends`: the outputs are the inputs; gradients reach the inputs and not the
/// dependencies; under vmap the outputs keep their batch axes.
#[test]
fn depends_passes_gradients_to_its_inputs_only() {
    let f = |a: &[Array]| {
        let out = rmx::depends(&[rmx::multiply(&a[0], 3.0)?], &[rmx::exp(&a[1])?])?;
        Ok(vec![rmx::sum(&out[0], Axes::All, false)?])
    };
    let x = [draw(&[2, 3], (-1.0, 1.0), 1), draw(&[4], (-1.0, 1.0), 2)];
    let g = rmx::grad(f, &[0, 1])(&x).unwrap();
    assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![3.0; 6]);
    assert_eq!(g[1].to_vec::<f64>().unwrap(), vec![0.0; 4]);
    let mapped = rmx::vmap(|a| rmx::depends(&a[..1], &a[1..]), &[Some(1), None], &[Some(0)])(&x).unwrap().remove(0);
    assert!(rmx::array_equal(&mapped, &rmx::transpose(&x[0], None).unwrap(), false).unwrap().item::<bool>().unwrap());
}

#[test]
fn second_derivatives_match_closed_forms() {
    let x = Array::from_slice(&[-1.5f64, 0.3, 2.0], &[3]).unwrap();
    // d²/dx² sum(x³) = 6x
    let d1 = |a: &[Array]| rmx::grad(|b| Ok(vec![rmx::sum(&rmx::power(&b[0], 3.0)?, Axes::All, false)?]), &[0])(a);
    let d2 = rmx::grad(move |a| Ok(vec![rmx::sum(&d1(a)?[0], Axes::All, false)?]), &[0]);
    let got = d2(std::slice::from_ref(&x)).unwrap()[0].to_vec::<f64>().unwrap();
    for (g, v) in got.iter().zip([-1.5, 0.3, 2.0]) {
        assert!((g - 6.0 * v).abs() < 1e-9, "{g} vs {}", 6.0 * v);
    }
    // d²/dx² sum(sin x) = -sin x
    let d1 = |a: &[Array]| rmx::grad(|b| Ok(vec![rmx::sum(&rmx::sin(&b[0])?, Axes::All, false)?]), &[0])(a);
    let d2 = rmx::grad(move |a| Ok(vec![rmx::sum(&d1(a)?[0], Axes::All, false)?]), &[0]);
    let got = d2(std::slice::from_ref(&x)).unwrap()[0].to_vec::<f64>().unwrap();
    for (g, v) in got.iter().zip([-1.5f64, 0.3, 2.0]) {
        assert!((g + v.sin()).abs() < 1e-9);
    }
}

#[test]
fn value_and_grad_handles_argnums_aux_and_constants() {
    let w = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
    let b = Array::scalar(0.5f32);
    let data = Array::from_slice(&[3.0f32, 4.0], &[2]).unwrap();
    // loss = sum(w * data) + b, with an auxiliary output.
    let f = rmx::value_and_grad(
        |a| {
            let pred = rmx::add(&rmx::sum(&rmx::multiply(&a[0], &a[2])?, Axes::All, false)?, &a[1])?;
            Ok(vec![pred.clone(), rmx::multiply(&pred, 2.0)?])
        },
        &[0, 1],
    );
    let (values, grads) = f(&[w, b, data]).unwrap();
    assert_eq!(values[0].item::<f32>().unwrap(), 11.5);
    assert_eq!(values[1].item::<f32>().unwrap(), 23.0);
    assert_eq!(grads[0].to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
    assert_eq!(grads[1].item::<f32>().unwrap(), 1.0);
    // An input the output ignores gets zeros; evaluating inside the function is allowed.
    let g = rmx::grad(
        |a| {
            let y = rmx::sum(&rmx::square(&a[0])?, Axes::All, false)?;
            y.eval()?;
            Ok(vec![y])
        },
        &[0, 1],
    );
    let grads = g(&[Array::from_slice(&[1.0f32, -1.0], &[2]).unwrap(), Array::scalar(5.0f32)]).unwrap();
    assert_eq!(grads[0].to_vec::<f32>().unwrap(), vec![2.0, -2.0]);
    assert_eq!(grads[1].item::<f32>().unwrap(), 0.0);
}

#[test]
fn misuse_gets_clear_errors() {
    let ints = Array::from_slice(&[1i32, 2], &[2]).unwrap();
    let err = rmx::grad(|a| Ok(vec![rmx::sum(&a[0], Axes::All, false)?]), &[0])(&[ints]).unwrap_err();
    assert!(err.to_string().contains("int32"), "{err}");
    let x = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
    let err = rmx::vjp(|a| Ok(vec![rmx::square(&a[0])?]), std::slice::from_ref(&x), &[Array::scalar(1.0f32)]).unwrap_err();
    assert!(err.to_string().contains("cotangent"), "{err}");
    let err = rmx::grad(|a| Ok(vec![rmx::square(&a[0])?]), &[0])(std::slice::from_ref(&x)).unwrap_err();
    assert!(err.to_string().contains("scalar"), "{err}");
    let err = rmx::grad(|a| Ok(vec![rmx::sum(&a[0], Axes::All, false)?]), &[3])(std::slice::from_ref(&x)).unwrap_err();
    assert!(err.to_string().contains("argnum 3"), "{err}");
}

/// cumprod's gradient is exact with zeros in the input (one zero, two zeros, reversed); values
/// from MLX's `mx.grad` of `sum(cumprod(x) * [1, 2, 3, 4, 5])`.
#[test]
fn cumprod_gradients_with_zeros_match_mlx() {
    let c = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0], &[5]).unwrap();
    let cases: [([f32; 5], bool, [f32; 5]); 3] = [
        ([2.0, 0.0, 3.0, 0.0, 5.0], false, [1.0, 22.0, 0.0, 0.0, 0.0]),
        ([2.0, -1.5, 3.0, 0.5, 5.0], false, [-80.75, 109.0, -52.5, -261.0, -22.5]),
        ([2.0, 0.0, 3.0, 4.0, 5.0], true, [0.0, 240.0, 60.0, 65.0, 57.0]),
    ];
    for (xs, reverse, want) in cases {
        let c = c.clone();
        let f =
            move |a: &[Array]| Ok(vec![rmx::sum(&rmx::multiply(&rmx::cumprod(&a[0], Some(0), reverse, true)?, &c)?, Axes::All, false)?]);
        let got = rmx::grad(f, &[0])(&[Array::from_slice(&xs, &[5]).unwrap()]).unwrap().swap_remove(0).to_vec::<f32>().unwrap();
        assert_eq!(got, want, "x {xs:?} reverse {reverse}");
    }
}

/// logcumsumexp's gradient stays finite where the exponentials would overflow (x = 300) and
/// covers the exclusive scans; values from MLX's `mx.grad` of the same loss (the infinite
/// first output of an exclusive scan masked out).
#[test]
fn logcumsumexp_gradients_match_mlx() {
    let x = Array::from_slice(&[0.5f32, -1.0, 2.0, 300.0, -2.0], &[5]).unwrap();
    let c = Array::from_slice(&[1.0f32, -2.0, 3.0, 0.5, -1.5], &[5]).unwrap();
    let cases: [(bool, bool, [f32; 5]); 3] = [
        (false, true, [-0.109_277_84, -0.247_513_32, 2.356_791, -0.999_986_4, 0.0]),
        (true, false, [0.0, 0.0, 0.0, 1.999_991_2, 0.5]),
        (false, false, [0.540_368_56, 0.566_832_9, 0.392_798_54, -1.499_987_1, 0.0]),
    ];
    for (reverse, inclusive, want) in cases {
        let c = c.clone();
        let f = move |a: &[Array]| {
            let y = rmx::logcumsumexp(&a[0], Some(0), reverse, inclusive)?;
            let y = rmx::where_(&rmx::isinf(&y)?, 0.0, &y)?;
            Ok(vec![rmx::sum(&rmx::multiply(&y, &c)?, Axes::All, false)?])
        };
        let got = rmx::grad(f, &[0])(std::slice::from_ref(&x)).unwrap().swap_remove(0).to_vec::<f32>().unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "reverse {reverse} inclusive {inclusive}: {got:?} vs {want:?}");
        }
    }
}

/// cummax/cummin send each output's cotangent to the latest position holding the running
/// extreme, ties included, as MLX (its gradients for these inputs, `mx.grad`).
#[test]
fn cummax_and_cummin_gradients_with_ties_match_mlx() {
    let x = Array::from_slice(&[1.0f32, 3.0, 2.0, 3.0, 5.0, 0.5], &[6]).unwrap();
    let c = Array::from_slice(&[1.0f32, 10.0, 100.0, 1000.0, 10000.0, 100000.0], &[6]).unwrap();
    let grad_of = |max: bool| {
        let c = c.clone();
        let f = move |a: &[Array]| {
            let y = if max { rmx::cummax(&a[0], Some(0), false, true)? } else { rmx::cummin(&a[0], Some(0), false, true)? };
            Ok(vec![rmx::sum(&rmx::multiply(&y, &c)?, Axes::All, false)?])
        };
        rmx::grad(f, &[0])(std::slice::from_ref(&x)).unwrap().swap_remove(0).to_vec::<f32>().unwrap()
    };
    assert_eq!(grad_of(true), [1.0, 110.0, 0.0, 1000.0, 110000.0, 0.0]);
    assert_eq!(grad_of(false), [11111.0, 0.0, 0.0, 0.0, 0.0, 100000.0]);
}

/// Where each input's batch goes: `(input index, input rank) -> axis` (`None`: unmapped).
type AxisOf = Box<dyn Fn(usize, usize) -> Option<usize>>;

/// `vmap(f)` with the batch on `axis` of every input (or only the first, the others
/// unmapped) against stacking `f` over the batch entries.
fn check_vmap(c: &Case, seed: u64, axis_of: impl Fn(usize, usize) -> Option<usize>, out_axis: usize) -> std::result::Result<(), String> {
    let batch = 3;
    let axes: Vec<Option<usize>> = c.shapes.iter().enumerate().map(|(i, s)| axis_of(i, s.len())).collect();
    let x: Vec<Array> = c
        .shapes
        .iter()
        .zip(&axes)
        .enumerate()
        .map(|(i, (s, axis))| {
            let mut shape = s.clone();
            if let Some(a) = axis {
                shape.insert(*a, batch);
            }
            draw(&shape, c.range, seed + i as u64)
        })
        .collect();
    let mut looped = Vec::new();
    for b in 0..batch {
        let args: Vec<Array> = x
            .iter()
            .zip(&axes)
            .map(|(xi, axis)| match axis {
                Some(a) => rmx::take(xi, &Array::scalar(b as u32), Some(*a as isize)),
                None => Ok(xi.clone()),
            })
            .collect::<Result<_>>()
            .unwrap();
        looped.push((c.f)(&args).unwrap());
    }
    let out_axis = out_axis.min(looped[0].ndim());
    let mapped = rmx::vmap(|a| Ok(vec![(c.f)(a)?]), &axes, &[Some(out_axis)])(&x).map_err(|e| format!("vmap: {e}"))?;
    let want = rmx::stack(&looped, out_axis as isize).unwrap();
    if mapped[0].shape() != want.shape() {
        return Err(format!("shape {:?}, loop gives {:?}", mapped[0].shape(), want.shape()));
    }
    if !rmx::allclose(&mapped[0], &want, 1e-12, 1e-12, true).unwrap().item::<bool>().unwrap() {
        return Err("values differ from the loop".into());
    }
    Ok(())
}

#[test]
fn vmap_matches_a_loop() {
    let cases = all_cases();
    let mut failures = Vec::new();
    for c in &cases {
        let layouts: [(&str, AxisOf, usize); 3] = [
            ("all inputs on axis 0", Box::new(|_, _| Some(0)), 0),
            ("all inputs on their last axis, output on axis 1", Box::new(|_, rank| Some(rank)), 1),
            ("only input 0 mapped", Box::new(|i, _| (i == 0).then_some(0)), 0),
        ];
        for (what, axis_of, out_axis) in &layouts {
            if let Err(e) = check_vmap(c, 31, axis_of, *out_axis) {
                failures.push(format!("{} ({what}): {e}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} checks failed:\n{}", failures.len(), 3 * cases.len(), failures.join("\n"));
}

#[test]
fn vmap_and_grad_compose() {
    let x = draw(&[4, 3], (-1.0, 1.0), 5);
    let w = draw(&[3], (-1.0, 1.0), 6);
    let loss = |a: &[Array]| Ok(vec![rmx::sum(&rmx::tanh(&rmx::multiply(&a[0], &a[1])?)?, Axes::All, false)?]);
    // Per-example gradients with respect to w: vmap(grad) against a loop of grads.
    let per_example = rmx::vmap(|a| rmx::grad(loss, &[1])(a), &[Some(0), None], &[Some(0)])(&[x.clone(), w.clone()]).unwrap();
    let rows: Vec<Array> = (0..4)
        .map(|i| rmx::grad(loss, &[1])(&[rmx::take(&x, &Array::scalar(i as u32), Some(0)).unwrap(), w.clone()]).unwrap().remove(0))
        .collect();
    assert!(rmx::allclose(&per_example[0], &rmx::stack(&rows, 0).unwrap(), 1e-12, 1e-12, false).unwrap().item::<bool>().unwrap());
    // grad of a vmapped function: d/dw sum_i f(x_i, w) equals the sum of the per-example grads.
    let total = rmx::grad(
        |a| {
            let per_row = rmx::vmap(loss, &[Some(0), None], &[Some(0)])(a)?;
            Ok(vec![rmx::sum(&per_row[0], Axes::All, false)?])
        },
        &[1],
    )(&[x, w])
    .unwrap();
    assert!(rmx::allclose(&total[0], &rmx::sum(&per_example[0], 0, false).unwrap(), 1e-12, 1e-12, false).unwrap().item::<bool>().unwrap());
}

#[test]
fn vmap_misuse_gets_clear_errors() {
    let f = |a: &[Array]| Ok(vec![rmx::add(&a[0], &a[1])?]);
    let (a, b) = (draw(&[3, 2], (0.0, 1.0), 1), draw(&[4, 2], (0.0, 1.0), 2));
    let err = rmx::vmap(f, &[Some(0), Some(0)], &[Some(0)])(&[a.clone(), b]).unwrap_err();
    assert!(err.to_string().contains("inconsistent batch sizes"), "{err}");
    let err = rmx::vmap(f, &[Some(2), None], &[Some(0)])(&[a.clone(), a.clone()]).unwrap_err();
    assert!(err.to_string().contains("in_axes[0]"), "{err}");
    let err = rmx::vmap(f, &[Some(0), None], &[None])(&[a.clone(), a]).unwrap_err();
    assert!(err.to_string().contains("cannot be None"), "{err}");
}

#[test]
fn jacobians_and_hessian_match_closed_forms() {
    let x = Array::from_slice(&[0.7f64, -1.3], &[2]).unwrap();
    // f(x) = [x0 x1, sin x0, x1²]  ->  J = [[x1, x0], [cos x0, 0], [0, 2 x1]]
    let f = |a: &[Array]| -> Result<Vec<Array>> {
        let x0 = rmx::take(&a[0], &Array::scalar(0u32), Some(0))?;
        let x1 = rmx::take(&a[0], &Array::scalar(1u32), Some(0))?;
        Ok(vec![rmx::stack(&[rmx::multiply(&x0, &x1)?, rmx::sin(&x0)?, rmx::square(&x1)?], 0)?])
    };
    let want = [-1.3, 0.7, 0.7f64.cos(), 0.0, 0.0, -2.6];
    for (name, jac) in
        [("jacrev", rmx::jacrev(f, 0)(std::slice::from_ref(&x)).unwrap()), ("jacfwd", rmx::jacfwd(f, 0)(std::slice::from_ref(&x)).unwrap())]
    {
        assert_eq!(jac.shape(), &[3, 2], "{name}");
        for (g, w) in jac.to_vec::<f64>().unwrap().iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{name}: {g} vs {w}");
        }
    }
    // h(x) = sum(x³) + x0 x1  ->  H = [[6 x0, 1], [1, 6 x1]]
    let h = |a: &[Array]| -> Result<Vec<Array>> {
        let cubes = rmx::sum(&rmx::power(&a[0], 3.0)?, Axes::All, false)?;
        let x0 = rmx::take(&a[0], &Array::scalar(0u32), Some(0))?;
        let x1 = rmx::take(&a[0], &Array::scalar(1u32), Some(0))?;
        Ok(vec![rmx::add(&cubes, &rmx::multiply(&x0, &x1)?)?])
    };
    let hess = rmx::hessian(h, 0)(std::slice::from_ref(&x)).unwrap();
    assert_eq!(hess.shape(), &[2, 2]);
    for (g, w) in hess.to_vec::<f64>().unwrap().iter().zip([4.2, 1.0, 1.0, -7.8]) {
        assert!((g - w).abs() < 1e-12, "hessian {g} vs {w}");
    }
}

#[test]
fn checkpoint_and_custom_vjp_give_the_right_gradients() {
    let x = draw(&[5], (-1.0, 1.0), 9);
    let block = |a: &[Array]| -> Result<Vec<Array>> { Ok(vec![rmx::tanh(&rmx::multiply(&rmx::exp(&a[0])?, &a[0])?)?]) };
    let plain = rmx::grad(move |a| Ok(vec![rmx::sum(&block(a)?[0], Axes::All, false)?]), &[0])(std::slice::from_ref(&x)).unwrap();
    let saved = rmx::checkpoint(block);
    let checkpointed = rmx::grad(move |a| Ok(vec![rmx::sum(&saved(a)?[0], Axes::All, false)?]), &[0])(std::slice::from_ref(&x)).unwrap();
    assert!(rmx::allclose(&plain[0], &checkpointed[0], 1e-12, 1e-12, false).unwrap().item::<bool>().unwrap());
    // A custom rule is used instead of the graph's: a straight-through estimator for round.
    let ste = rmx::custom_vjp(|a| Ok(vec![rmx::round(&a[0], 0)?]), |_, cot, _| Ok(vec![cot[0].clone()]));
    let g = rmx::grad(move |a| Ok(vec![rmx::sum(&ste(a)?[0], Axes::All, false)?]), &[0])(std::slice::from_ref(&x)).unwrap();
    assert_eq!(g[0].to_vec::<f64>().unwrap(), vec![1.0; 5]);
}

/// A multi-output node whose outputs are consumed at different depths (one feeds a long
/// chain, the other the loss directly) gets every output's cotangent: the reverse pass must
/// not run its rule before the deeper consumers have reported.
#[test]
fn multi_output_rule_sees_cotangents_of_outputs_consumed_at_different_depths() {
    let pair = rmx::custom_vjp(
        |a| Ok(vec![rmx::multiply(&a[0], 2.0)?, rmx::multiply(&a[0], 3.0)?]),
        |_, cot, _| Ok(vec![rmx::add(&rmx::multiply(&cot[0], 2.0)?, &rmx::multiply(&cot[1], 3.0)?)?]),
    );
    let loss = move |a: &[Array]| {
        let outs = pair(a)?;
        let mut deep = outs[0].clone();
        for _ in 0..5 {
            deep = rmx::multiply(&deep, 1.0)?;
        }
        let total = rmx::add(&rmx::sum(&deep, rmx::Axes::All, false)?, &rmx::sum(&outs[1], rmx::Axes::All, false)?)?;
        Ok(vec![total])
    };
    let g = rmx::grad(loss, &[0])(&[Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap()]).unwrap();
    // d/da (2a through the chain + 3a) = 5; before the fix the rule ran early and saw 2.
    assert_eq!(g[0].to_vec::<f32>().unwrap(), vec![5.0, 5.0]);
}

/// The FFTs under vmap (batch on either axis of the input, the transform on the other) against
/// a loop, and the gradient of a real loss through rfft/irfft under vmap.
#[test]
fn fft_vmap_matches_a_loop() {
    use rmx::fft::{self, FftNorm};
    let key = rmx::random::key(7);
    let x = rmx::random::uniform(-1.0, 1.0, &[3, 6, 5], Dtype::F32, Some(&key)).unwrap();
    let spectrum_power = |a: &[Array]| -> Result<Vec<Array>> {
        let spec = fft::rfft(&a[0], Some(8), -1, FftNorm::Ortho)?;
        let back = fft::irfft(&rmx::multiply(&spec, &spec)?, Some(7), -1, FftNorm::Backward)?;
        let full = fft::fft2(&rmx::astype(&back, Dtype::C64)?, None, &[-2, -1], FftNorm::Backward)?;
        Ok(vec![rmx::add(&back, &rmx::abs(&rmx::sum(&full, Axes::All, false)?)?)?])
    };
    let loss = move |a: &[Array]| Ok(vec![rmx::sum(&spectrum_power(a)?[0], Axes::All, false)?]);
    for axis in [0usize, 1] {
        let fs: [(&str, ManyOut); 2] =
            [("transform", Box::new(spectrum_power)), ("gradient", Box::new(move |a: &[Array]| rmx::grad(loss, &[0])(a)))];
        for (what, f) in &fs {
            let mapped = rmx::vmap(f, &[Some(axis)], &[Some(0)])(std::slice::from_ref(&x)).unwrap().remove(0);
            let rows: Vec<Array> = (0..x.shape()[axis])
                .map(|i| f(&[rmx::take(&x, &Array::scalar(i as u32), Some(axis as isize)).unwrap()]).unwrap().remove(0))
                .collect();
            let want = rmx::stack(&rows, 0).unwrap();
            assert_eq!(mapped.shape(), want.shape(), "{what}, batch axis {axis}");
            assert!(rmx::allclose(&mapped, &want, 1e-4, 1e-4, false).unwrap().item::<bool>().unwrap(), "{what}, batch axis {axis}");
        }
    }
}

/// The Hadamard transform is linear: its vjp must be the transposed matrix, `cᵀ A` with
/// `A` read off the transform of the identity. The 20- and 28-point tables are not symmetric
/// (MLX's own vjp applies `A` instead and fails this for n = 20, 28, 40, 56). Batching
/// against a loop.
#[test]
fn hadamard_gradient_is_the_transposed_transform() {
    for n in [8usize, 12, 20, 28, 40, 56] {
        // Row i of `t` is A e_i, column i of A: `t` is Aᵀ.
        let t = rmx::hadamard_transform(&rmx::eye(n, None, 0, Dtype::F32).unwrap(), Some(0.5)).unwrap();
        let key = rmx::random::key(n as u64);
        let x = rmx::random::normal(&[3, n], Dtype::F32, 0.0, 1.0, Some(&key)).unwrap();
        let c = rmx::random::normal(&[3, n], Dtype::F32, 0.0, 1.0, Some(&rmx::random::key(n as u64 + 1))).unwrap();
        let f = |v: &[Array]| Ok(vec![rmx::hadamard_transform(&v[0], Some(0.5))?]);
        let (_, g) = rmx::vjp(f, std::slice::from_ref(&x), std::slice::from_ref(&c)).unwrap();
        // Each row of the cotangent pulls back to cᵀ A = cᵀ tᵀ.
        let want = rmx::matmul(&c, &rmx::transpose(&t, None).unwrap()).unwrap();
        assert!(rmx::allclose(&g[0], &want, 1e-5, 1e-5, false).unwrap().item::<bool>().unwrap(), "n = {n}");
        let mapped = rmx::vmap(f, &[Some(1)], &[Some(0)])(&[rmx::transpose(&x, None).unwrap()]).unwrap();
        assert!(
            rmx::allclose(&mapped[0], &f(std::slice::from_ref(&x)).unwrap()[0], 1e-6, 1e-6, false).unwrap().item::<bool>().unwrap(),
            "vmap, n = {n}"
        );
    }
}

/// A loss of `eig(a)` that does not depend on the eigenvectors' phases (which `eig` leaves
/// open): weighted real and imaginary parts of the eigenvalues, weighted `|V|²`, and the
/// product of the first two entries of each column, `V_0j conj(V_1j)`. With `vectors` false
/// only the eigenvalues count (through `eigvals`).
fn eig_loss(a: &Array, vectors: bool) -> Result<Array> {
    let n = a.shape()[a.ndim() - 1];
    let weight = |seed: u64| draw(&[n], (-1.0, 1.0), seed);
    let weighted = |x: Array, seed: u64| rmx::sum(&rmx::multiply(&rmx::astype(&x, Dtype::F64)?, weight(seed))?, Axes::All, false);
    let (w, v) = if vectors { rmx::linalg::eig(a).map(|(w, v)| (w, Some(v)))? } else { (rmx::linalg::eigvals(a)?, None) };
    let mut total = rmx::add(&weighted(rmx::real(&w)?, 1)?, &weighted(rmx::imag(&w)?, 2)?)?;
    if let Some(v) = v {
        let row = |i: u32| rmx::take(&v, &Array::scalar(i), Some(-2));
        let pair = rmx::multiply(&row(0)?, &rmx::conjugate(&row(1)?)?)?;
        let size = rmx::real(&rmx::multiply(&v, &rmx::conjugate(&v)?)?)?;
        for (part, seed) in [(size, 3), (rmx::real(&pair)?, 4), (rmx::imag(&pair)?, 5)] {
            total = rmx::add(&total, &weighted(part, seed)?)?;
        }
    }
    Ok(total)
}

/// The derivative at 0 of `f` by central differences, Richardson-extrapolated from steps `h`
/// and `h / 2` (error O(h⁴), so a step wide enough for single-precision values is accurate).
fn extrapolated_derivative(f: impl Fn(f64) -> f64, h: f64) -> f64 {
    let central = |step: f64| (f(step) - f(-step)) / (2.0 * step);
    (4.0 * central(h / 2.0) - central(h)) / 3.0
}

/// The gradient of `eig` (complex eigenpairs of random real matrices, batched) against
/// finite differences along random directions, through `grad` and `jvp`, with and without
/// the eigenvectors; and the second derivative (`jvp` of `grad`) against differences of
/// gradients. Eigenpairs are complex64, so the differences use a wide step (extrapolated)
/// and the tolerance fits single precision.
#[test]
fn eig_gradients_match_finite_differences() {
    let h = 4e-3;
    let close = |what: &str, analytic: f64, numeric: f64| {
        assert!((analytic - numeric).abs() < 1e-4 * (1.0 + numeric.abs()), "{what}: analytic {analytic}, finite differences {numeric}");
    };
    for (seed, vectors) in [(31u64, true), (32, true), (33, false)] {
        let a = draw(&[2, 4, 4], (-1.0, 1.0), seed);
        let t = draw(&[2, 4, 4], (-1.0, 1.0), seed + 50);
        let along = |s: f64| rmx::add(&a, rmx::multiply(&t, s).unwrap()).unwrap();
        let loss = move |x: &[Array]| Ok(vec![eig_loss(&x[0], vectors)?]);
        let numeric = extrapolated_derivative(|s| eig_loss(&along(s), vectors).unwrap().item::<f64>().unwrap(), h);
        let g = rmx::grad(loss, &[0])(std::slice::from_ref(&a)).unwrap().remove(0);
        assert_eq!((g.shape(), g.dtype()), (a.shape(), Dtype::F64));
        close(&format!("grad, seed {seed}"), dot(&g, &t), numeric);
        let (_, tangent) = rmx::jvp(loss, std::slice::from_ref(&a), std::slice::from_ref(&t)).unwrap();
        close(&format!("jvp, seed {seed}"), tangent[0].item::<f64>().unwrap(), numeric);
        // <u, H t> from forward mode over the gradient, against differences of gradients.
        let u = draw(&[2, 4, 4], (-1.0, 1.0), seed + 60);
        let grad_at = |x: &Array| rmx::grad(loss, &[0])(std::slice::from_ref(x)).unwrap().remove(0);
        let numeric = extrapolated_derivative(|s| dot(&grad_at(&along(s)), &u), h);
        let (_, hessian_t) = rmx::jvp(|x: &[Array]| rmx::grad(loss, &[0])(x), std::slice::from_ref(&a), std::slice::from_ref(&t)).unwrap();
        close(&format!("second derivative, seed {seed}"), dot(&hessian_t[0], &u), numeric);
    }
}
