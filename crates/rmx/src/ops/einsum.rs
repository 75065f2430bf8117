//! `einsum` and `einsum_path`: Einstein summation with NumPy's subscript grammar (explicit
//! and implicit output, `...` broadcasting, repeated labels for diagonals) and a contraction
//! order chosen to minimise the FLOP count (exhaustive search up to five operands, greedy
//! beyond). Contractions of floating-point operands run as batched matmuls; other dtypes use
//! multiply-and-sum.

use crate::array::Array;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

const OP: &str = "einsum";

/// Labels of the dimensions covered by `...`, outside the letters users write.
fn ellipsis_label(i: usize) -> char {
    char::from_u32(0xE000 + i as u32).expect("private-use code point")
}

/// A contraction order: (total cost, widest step in labels, pairs).
type Path = (u128, usize, Vec<(usize, usize)>);

struct Spec {
    inputs: Vec<Vec<char>>,
    output: Vec<char>,
    sizes: BTreeMap<char, usize>,
}

fn parse_term(term: &str, ndim: Option<usize>, ellipsis_dims: usize) -> Result<Vec<char>> {
    let (explicit, has_ellipsis) = (term.replace("...", ""), term.contains("..."));
    if let Some(c) = explicit.chars().find(|c| !c.is_ascii_alphabetic()) {
        return Err(Error::arg(OP, format!("invalid subscript character {c:?} in {term:?}")));
    }
    let count = explicit.chars().count();
    let covered = match ndim {
        Some(nd) if has_ellipsis => {
            nd.checked_sub(count).ok_or_else(|| Error::arg(OP, format!("{term:?} has more labels than dimensions")))?
        }
        Some(nd) if nd != count => return Err(Error::arg(OP, format!("{term:?} has {count} labels for an operand of rank {nd}"))),
        _ if has_ellipsis => ellipsis_dims,
        _ => 0,
    };
    let before = term.find("...").map_or(term.len(), |p| p);
    let mut labels: Vec<char> = term[..before].chars().collect();
    labels.extend((ellipsis_dims - covered..ellipsis_dims).map(ellipsis_label));
    if has_ellipsis {
        labels.extend(term[before + 3..].chars());
    }
    Ok(labels)
}

fn parse(subscripts: &str, operands: &[Array]) -> Result<Spec> {
    let subscripts: String = subscripts.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match subscripts.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (subscripts.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != operands.len() {
        return Err(Error::arg(OP, format!("{} subscript terms for {} operands", terms.len(), operands.len())));
    }
    let ellipsis_dims = terms
        .iter()
        .zip(operands)
        .filter(|(t, _)| t.contains("..."))
        .map(|(t, x)| x.ndim().saturating_sub(t.replace("...", "").len()))
        .max()
        .unwrap_or(0);
    let inputs: Vec<Vec<char>> =
        terms.iter().zip(operands).map(|(t, x)| parse_term(t, Some(x.ndim()), ellipsis_dims)).collect::<Result<_>>()?;
    let mut sizes = BTreeMap::new();
    for (labels, x) in inputs.iter().zip(operands) {
        for (&l, &d) in labels.iter().zip(x.shape()) {
            let size = sizes.entry(l).or_insert(d);
            if *size != d && *size != 1 && d != 1 {
                return Err(Error::shapes_detail(
                    OP,
                    &operands.iter().map(|o| o.shape()).collect::<Vec<_>>(),
                    format!("label {l:?} has sizes {size} and {d}"),
                ));
            }
            *size = (*size).max(d);
        }
    }
    let output = match rhs {
        Some(r) => {
            let out = parse_term(r, None, ellipsis_dims)?;
            for l in &out {
                if !sizes.contains_key(l) {
                    return Err(Error::arg(OP, format!("output label {l:?} does not appear in the inputs")));
                }
                if out.iter().filter(|&&m| m == *l).count() > 1 {
                    return Err(Error::arg(OP, format!("output label {l:?} repeated")));
                }
            }
            out
        }
        None => {
            let mut once: Vec<char> =
                sizes.keys().copied().filter(|l| inputs.iter().flatten().filter(|&&m| m == *l).count() == 1).collect();
            once.retain(|l| l.is_ascii_alphabetic());
            let mut out: Vec<char> = (0..ellipsis_dims).map(ellipsis_label).collect();
            out.extend(once);
            out
        }
    };
    Ok(Spec { inputs, output, sizes })
}

/// The cost of contracting terms with these labels together (opt_einsum's convention:
/// the product of the label sizes times the number of multiply/add operations per element).
fn flops(labels: &BTreeSet<char>, keep: &BTreeSet<char>, terms: usize, sizes: &BTreeMap<char, usize>) -> u128 {
    let size: u128 = labels.iter().map(|l| sizes[l] as u128).product();
    let inner = labels.iter().any(|l| !keep.contains(l));
    size * (terms.saturating_sub(1).max(1) as u128 + inner as u128)
}

/// Labels needed after contracting `picked` terms: the output's and the other terms'.
fn kept(terms: &[Vec<char>], picked: &[usize], output: &[char]) -> BTreeSet<char> {
    let mut keep: BTreeSet<char> = output.iter().copied().collect();
    for (i, t) in terms.iter().enumerate() {
        if !picked.contains(&i) {
            keep.extend(t.iter().copied());
        }
    }
    keep
}

/// One pairwise step: (cost, labels of the result, labels involved).
fn step(terms: &[Vec<char>], i: usize, j: usize, output: &[char], sizes: &BTreeMap<char, usize>) -> (u128, Vec<char>, usize) {
    let keep = kept(terms, &[i, j], output);
    let union: BTreeSet<char> = terms[i].iter().chain(&terms[j]).copied().collect();
    let result: Vec<char> = union.iter().copied().filter(|l| keep.contains(l)).collect();
    (flops(&union, &keep, 2, sizes), result, union.len())
}

fn after(terms: &[Vec<char>], i: usize, j: usize, result: Vec<char>) -> Vec<Vec<char>> {
    let mut next: Vec<Vec<char>> = terms.iter().enumerate().filter(|&(k, _)| k != i && k != j).map(|(_, t)| t.clone()).collect();
    next.push(result);
    next
}

/// The cheapest order by exhaustive search: (total cost, widest step, path).
fn best_path(terms: &[Vec<char>], output: &[char], sizes: &BTreeMap<char, usize>) -> Path {
    if terms.len() < 2 {
        return (0, 0, Vec::new());
    }
    let mut best: Option<Path> = None;
    for i in 0..terms.len() {
        for j in i + 1..terms.len() {
            let (cost, result, width) = step(terms, i, j, output, sizes);
            let (rest, rest_width, mut path) = best_path(&after(terms, i, j, result), output, sizes);
            path.insert(0, (i, j));
            let total = cost + rest;
            if best.as_ref().is_none_or(|b| total < b.0) {
                best = Some((total, width.max(rest_width), path));
            }
        }
    }
    best.expect("at least one pair")
}

/// Greedy order for many operands: always the cheapest next pair.
fn greedy_path(terms: &[Vec<char>], output: &[char], sizes: &BTreeMap<char, usize>) -> Path {
    let (mut terms, mut total, mut widest, mut path) = (terms.to_vec(), 0u128, 0usize, Vec::new());
    while terms.len() > 1 {
        let mut choice: Option<(u128, usize, usize, Vec<char>, usize)> = None;
        for i in 0..terms.len() {
            for j in i + 1..terms.len() {
                let (cost, result, width) = step(&terms, i, j, output, sizes);
                if choice.as_ref().is_none_or(|c| cost < c.0) {
                    choice = Some((cost, i, j, result, width));
                }
            }
        }
        let (cost, i, j, result, width) = choice.expect("at least one pair");
        total += cost;
        widest = widest.max(width);
        path.push((i, j));
        terms = after(&terms, i, j, result);
    }
    (total, widest, path)
}

fn plan(spec: &Spec) -> Path {
    if spec.inputs.len() <= 5 {
        best_path(&spec.inputs, &spec.output, &spec.sizes)
    } else {
        greedy_path(&spec.inputs, &spec.output, &spec.sizes)
    }
}

/// The contraction order einsum would use, as pairs of positions in the shrinking operand
/// list (the result of each step goes to the end), and a report of its cost.
///
/// ```
/// let a = rmx::ones(&[2, 30], rmx::Dtype::F32)?;
/// let b = rmx::ones(&[30, 40], rmx::Dtype::F32)?;
/// let c = rmx::ones(&[40, 5], rmx::Dtype::F32)?;
/// let (path, report) = rmx::einsum_path("ij,jk,kl->il", &[a, b, c])?;
/// // (a @ b) first: 4,800 + 800 FLOPs, against 12,600 for a @ (b @ c) and 36,000 naively.
/// assert_eq!(path, vec![(0, 1), (0, 1)]);
/// assert!(report.contains("Optimized FLOP count:  5600") && report.contains("Naive FLOP count:  36000"));
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn einsum_path(subscripts: &str, operands: &[Array]) -> Result<(Vec<(usize, usize)>, String)> {
    let spec = parse(subscripts, operands)?;
    let (cost, widest, path) = plan(&spec);
    let all: BTreeSet<char> = spec.sizes.keys().copied().collect();
    let keep: BTreeSet<char> = spec.output.iter().copied().collect();
    let naive = flops(&all, &keep, spec.inputs.len(), &spec.sizes);
    let report = format!(
        "  Complete contraction:  {subscripts}\n         Naive scaling:  {}\n     Optimized scaling:  {}\n      Naive FLOP count:  {naive}\n  Optimized FLOP count:  {}\n",
        all.len(),
        if path.is_empty() { all.len() } else { widest },
        if path.is_empty() { naive } else { cost },
    );
    Ok((path, report))
}

/// Transposes `x` (labelled `labels`) into `order`, inserting size-1 axes for labels it lacks.
fn align(x: &Array, labels: &[char], order: &[char]) -> Result<Array> {
    let present: Vec<isize> = order.iter().filter_map(|l| labels.iter().position(|m| m == l)).map(|p| p as isize).collect();
    let moved = crate::transpose(x, Some(&present))?;
    let mut shape = Vec::with_capacity(order.len());
    let mut dims = moved.shape().iter();
    for l in order {
        shape.push(if labels.contains(l) { *dims.next().expect("one dim per present label") } else { 1 });
    }
    crate::reshape_to(&moved, &shape)
}

/// Sums away labels of a term that are not in `keep`.
fn reduce_unkept(x: Array, labels: Vec<char>, keep: &BTreeSet<char>) -> Result<(Array, Vec<char>)> {
    let drop: Vec<isize> = labels.iter().enumerate().filter(|(_, l)| !keep.contains(l)).map(|(i, _)| i as isize).collect();
    if drop.is_empty() {
        return Ok((x, labels));
    }
    let remaining = labels.into_iter().filter(|l| keep.contains(l)).collect();
    Ok((crate::sum(&x, drop, false)?, remaining))
}

/// Takes diagonals for labels repeated within one term.
fn diagonals(mut x: Array, mut labels: Vec<char>) -> Result<(Array, Vec<char>)> {
    while let Some((p, q)) = (0..labels.len()).find_map(|p| labels[p + 1..].iter().position(|&l| l == labels[p]).map(|d| (p, p + 1 + d))) {
        let l = labels[p];
        x = crate::diagonal(&x, 0, p as isize, q as isize)?;
        labels.remove(q);
        labels.remove(p);
        labels.push(l);
    }
    Ok((x, labels))
}

fn contract(
    x: (Array, Vec<char>),
    y: (Array, Vec<char>),
    keep: &BTreeSet<char>,
    sizes: &BTreeMap<char, usize>,
) -> Result<(Array, Vec<char>)> {
    let (x, lx) = x;
    let (y, ly) = y;
    let batch: Vec<char> = lx.iter().copied().filter(|l| ly.contains(l) && keep.contains(l)).collect();
    let inner: Vec<char> = lx.iter().copied().filter(|l| ly.contains(l) && !keep.contains(l)).collect();
    let free_x: Vec<char> = lx.iter().copied().filter(|l| !ly.contains(l)).collect();
    let free_y: Vec<char> = ly.iter().copied().filter(|l| !lx.contains(l)).collect();
    let labels: Vec<char> = batch.iter().chain(&free_x).chain(&free_y).copied().collect();
    let size = |ls: &[char]| -> usize { ls.iter().map(|l| sizes[l]).product() };
    if !crate::promote_types(x.dtype(), y.dtype()).is_inexact() {
        let order: Vec<char> = labels.iter().chain(&inner).copied().collect();
        let product = crate::multiply(&align(&x, &lx, &order)?, &align(&y, &ly, &order)?)?;
        let axes: Vec<isize> = (labels.len()..order.len()).map(|a| a as isize).collect();
        return Ok((if axes.is_empty() { product } else { crate::sum(&product, axes, false)? }, labels));
    }
    let full = |ls: &[char]| -> Vec<usize> { ls.iter().map(|l| sizes[l]).collect() };
    let order_x: Vec<char> = batch.iter().chain(&free_x).chain(&inner).copied().collect();
    let order_y: Vec<char> = batch.iter().chain(&inner).chain(&free_y).copied().collect();
    // Shared labels broadcast to their full size; free labels keep their own.
    let target = |order: &[char], own: &Array, own_labels: &[char], free: &[char]| -> Vec<usize> {
        order
            .iter()
            .map(|l| if free.contains(l) { own.shape()[own_labels.iter().position(|m| m == l).expect("label")] } else { sizes[l] })
            .collect()
    };
    let xa = crate::broadcast_to(&align(&x, &lx, &order_x)?, &target(&order_x, &x, &lx, &free_x))?;
    let ya = crate::broadcast_to(&align(&y, &ly, &order_y)?, &target(&order_y, &y, &ly, &free_y))?;
    let fx: usize = xa.shape()[batch.len()..batch.len() + free_x.len()].iter().product();
    let fy: usize = ya.shape()[batch.len() + inner.len()..].iter().product();
    let (b, k) = (size(&batch), size(&inner));
    let out = crate::matmul(&crate::reshape_to(&xa, &[b, fx, k])?, &crate::reshape_to(&ya, &[b, k, fy])?)?;
    let mut shape = full(&batch);
    shape.extend(&xa.shape()[batch.len()..batch.len() + free_x.len()]);
    shape.extend(&ya.shape()[batch.len() + inner.len()..]);
    Ok((crate::reshape_to(&out, &shape)?, labels))
}

/// Einstein summation over `operands` as described by `subscripts` (NumPy's grammar).
///
/// ```
/// let a = rmx::Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let trace = rmx::einsum("ii->", &[a.clone()])?;
/// assert_eq!(trace.item::<f32>()?, 5.0);
/// let at = rmx::einsum("ij->ji", &[a])?;
/// assert_eq!(at.to_vec::<f32>()?, vec![1.0, 3.0, 2.0, 4.0]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn einsum(subscripts: &str, operands: &[Array]) -> Result<Array> {
    let spec = parse(subscripts, operands)?;
    let (_, _, path) = plan(&spec);
    let mut terms: Vec<(Array, Vec<char>)> =
        operands.iter().zip(&spec.inputs).map(|(x, l)| diagonals(x.clone(), l.clone())).collect::<Result<_>>()?;
    // Sum early over labels that only one term carries and the output drops.
    let labels_now: Vec<Vec<char>> = terms.iter().map(|t| t.1.clone()).collect();
    terms = terms
        .into_iter()
        .enumerate()
        .map(|(i, (x, l))| reduce_unkept(x, l, &kept(&labels_now, &[i], &spec.output)))
        .collect::<Result<_>>()?;
    for (i, j) in path {
        let labels_now: Vec<Vec<char>> = terms.iter().map(|t| t.1.clone()).collect();
        let keep = kept(&labels_now, &[i, j], &spec.output);
        let y = terms.remove(j);
        let x = terms.remove(i);
        terms.push(contract(x, y, &keep, &spec.sizes)?);
    }
    let (x, labels) = terms.pop().expect("einsum has at least one operand");
    let keep: BTreeSet<char> = spec.output.iter().copied().collect();
    let (x, labels) = reduce_unkept(x, labels, &keep)?;
    let out = align(&x, &labels, &spec.output)?;
    let shape: Vec<usize> = spec.output.iter().map(|l| spec.sizes[l]).collect();
    crate::broadcast_to(&out, &shape)
}
