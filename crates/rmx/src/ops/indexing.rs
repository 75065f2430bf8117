//! Indexing: take, take_along_axis, put_along_axis, general gather/scatter, masked_scatter,
//! run-time (dynamic) slices, and NumPy-style indexing with [`Index`]. Updates through
//! indices (`at`) live in `index_update.rs`.

use crate::array::Array;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::primitive::indexing::{DynamicSlice, DynamicSliceUpdate, Gather, MaskedScatter, Scatter, ScatterMode};
use crate::shape::{broadcast_many, normalize_axis};
use std::sync::Arc;

fn check_indices(op: &'static str, indices: &[Array]) -> Result<()> {
    for idx in indices {
        if !idx.dtype().is_integer() {
            return Err(Error::dtype_detail(op, idx.dtype(), "indices must be integers"));
        }
    }
    Ok(())
}

/// `out[i..., rest...] = a[idx_0[i...], idx_1[i...], ...]` along `axes`; the index arrays
/// broadcast together to `I` and the output shape is `I ++ (a's shape without axes)`.
pub fn gather(a: &Array, indices: &[Array], axes: &[isize]) -> Result<Array> {
    check_indices("gather", indices)?;
    if indices.len() != axes.len() || indices.is_empty() {
        return Err(Error::arg("gather", format!("{} index arrays for {} axes", indices.len(), axes.len())));
    }
    let ax: Vec<usize> = axes.iter().map(|&x| normalize_axis("gather", x, a.ndim())).collect::<Result<_>>()?;
    let mut sorted = ax.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::arg("gather", format!("repeated axis in {axes:?}")));
    }
    let index_shape = broadcast_many("gather", &indices.iter().map(|i| i.shape()).collect::<Vec<_>>())?;
    let mut shape = index_shape.clone();
    shape.extend((0..a.ndim()).filter(|d| !ax.contains(d)).map(|d| a.shape()[d]));
    let mut inputs = vec![a.clone()];
    inputs.extend(indices.iter().cloned());
    Ok(Array::from_primitive(shape, a.dtype(), Arc::new(Gather { axes: ax, index_shape }), inputs))
}

/// Combines `updates` (broadcast to `I ++ rest`) into a copy of `a` at the gathered positions.
/// Repeated indices accumulate for the combining modes (like `np.add.at`).
pub fn scatter(a: &Array, indices: &[Array], updates: &Array, axes: &[isize], mode: ScatterMode) -> Result<Array> {
    let probe = gather(a, indices, axes)?;
    crate::broadcast_shapes(updates.shape(), probe.shape()).ok().filter(|s| s == probe.shape()).ok_or_else(|| {
        Error::shapes_detail("scatter", &[updates.shape(), probe.shape()], "updates do not broadcast to the indexed shape")
    })?;
    let ax: Vec<usize> = axes.iter().map(|&x| normalize_axis("scatter", x, a.ndim())).collect::<Result<_>>()?;
    let index_shape = broadcast_many("scatter", &indices.iter().map(|i| i.shape()).collect::<Vec<_>>())?;
    let mut inputs = vec![a.clone()];
    inputs.extend(indices.iter().cloned());
    inputs.push(crate::astype(updates, a.dtype())?);
    Ok(Array::from_primitive(a.shape().to_vec(), a.dtype(), Arc::new(Scatter { axes: ax, index_shape, mode }), inputs))
}

/// Elements of `a` at `indices` along `axis` (of the flattened array for `None`):
/// the output shape is `a.shape[..axis] ++ indices.shape ++ a.shape[axis+1..]`.
///
/// ```
/// let a = rmx::Array::from_slice(&[10.0f32, 20.0, 30.0], &[3]).unwrap();
/// let i = rmx::Array::from_slice(&[2i32, -3, 1], &[3]).unwrap();
/// assert_eq!(rmx::take(&a, &i, Some(0)).unwrap().to_vec::<f32>().unwrap(), vec![30.0, 10.0, 20.0]);
/// ```
pub fn take(a: &Array, indices: &Array, axis: Option<isize>) -> Result<Array> {
    let (x, ax) = match axis {
        None => (crate::reshape_to(a, &[a.size()])?, 0),
        Some(ax) => (a.clone(), normalize_axis("take", ax, a.ndim())?),
    };
    let g = gather(&x, std::slice::from_ref(indices), &[ax as isize])?;
    // gather puts the index dims first; move them to where the axis was.
    let ni = indices.ndim();
    let nd = g.ndim();
    let perm: Vec<isize> = (ni..ni + ax).chain(0..ni).chain(ni + ax..nd).map(|d| d as isize).collect();
    crate::transpose(&g, Some(&perm))
}

/// Index arrays selecting, along every axis but `axis`, the position itself (aranges shaped
/// for broadcasting), with `indices` along `axis`.
fn along_axis_indices(op: &'static str, a: &Array, indices: &Array, ax: usize) -> Result<Vec<Array>> {
    if indices.ndim() != a.ndim() {
        return Err(Error::shapes_detail(op, &[a.shape(), indices.shape()], "indices must have the rank of the array"));
    }
    (0..a.ndim())
        .map(|d| {
            if d == ax {
                return Ok(indices.clone());
            }
            let mut shape = vec![1usize; a.ndim()];
            shape[d] = a.shape()[d];
            crate::reshape_to(&crate::arange(0.0, a.shape()[d] as f64, 1.0, Dtype::I32)?, &shape)
        })
        .collect()
}

/// `out[..., i, ...] = a[..., indices[..., i, ...], ...]` along `axis` (NumPy's
/// `take_along_axis`); `indices` broadcasts against `a` on the other axes.
pub fn take_along_axis(a: &Array, indices: &Array, axis: Option<isize>) -> Result<Array> {
    check_indices("take_along_axis", std::slice::from_ref(indices))?;
    let (x, ax) = match axis {
        None => (crate::reshape_to(a, &[a.size()])?, 0),
        Some(ax) => (a.clone(), normalize_axis("take_along_axis", ax, a.ndim())?),
    };
    let idx = along_axis_indices("take_along_axis", &x, indices, ax)?;
    let all: Vec<isize> = (0..x.ndim() as isize).collect();
    gather(&x, &idx, &all)
}

/// Writes `values` into a copy of `a` at `indices` along `axis` (NumPy's `put_along_axis`).
pub fn put_along_axis(a: &Array, indices: &Array, values: &Array, axis: isize) -> Result<Array> {
    scatter_along_axis("put_along_axis", a, indices, values, axis, ScatterMode::Replace)
}

/// Adds `values` into a copy of `a` at `indices` along `axis`, accumulating over repeated
/// indices (MLX's `scatter_add_axis`; `put_along_axis` that adds).
///
/// ```
/// let a = rmx::zeros(&[2, 3], rmx::Dtype::F32).unwrap();
/// let i = rmx::Array::from_slice(&[0i32, 0, 2, 1], &[2, 2]).unwrap();
/// let v = rmx::ones(&[2, 2], rmx::Dtype::F32).unwrap();
/// let r = rmx::scatter_add_axis(&a, &i, &v, 1).unwrap();
/// assert_eq!(r.to_vec::<f32>().unwrap(), vec![2.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
/// ```
pub fn scatter_add_axis(a: &Array, indices: &Array, values: &Array, axis: isize) -> Result<Array> {
    scatter_along_axis("scatter_add_axis", a, indices, values, axis, ScatterMode::Add)
}

fn scatter_along_axis(op: &'static str, a: &Array, indices: &Array, values: &Array, axis: isize, mode: ScatterMode) -> Result<Array> {
    check_indices(op, std::slice::from_ref(indices))?;
    let ax = normalize_axis(op, axis, a.ndim())?;
    let idx = along_axis_indices(op, a, indices, ax)?;
    let all: Vec<isize> = (0..a.ndim() as isize).collect();
    scatter(a, &idx, values, &all, mode)
}

/// Writes consecutive elements of `values` where `mask` (broadcast to `a`) is true.
pub fn masked_scatter(a: &Array, mask: &Array, values: &Array) -> Result<Array> {
    let mask = crate::broadcast_to(&crate::astype(mask, Dtype::Bool)?, a.shape())?;
    let values = crate::astype(values, a.dtype())?;
    Ok(Array::from_primitive(a.shape().to_vec(), a.dtype(), Arc::new(MaskedScatter), vec![a.clone(), mask, values]))
}

/// A window of static `sizes` along `axes`, starting at the run-time positions in `start`
/// (clamped so the window fits).
pub fn slice_dynamic(a: &Array, start: &Array, axes: &[isize], sizes: &[usize]) -> Result<Array> {
    check_indices("slice", std::slice::from_ref(start))?;
    let ax: Vec<usize> = axes.iter().map(|&x| normalize_axis("slice", x, a.ndim())).collect::<Result<_>>()?;
    if start.size() != ax.len() || sizes.len() != ax.len() {
        return Err(Error::arg("slice", format!("{} start values and {} sizes for {} axes", start.size(), sizes.len(), ax.len())));
    }
    let mut shape = a.shape().to_vec();
    for (&d, &s) in ax.iter().zip(sizes) {
        if s > shape[d] {
            return Err(Error::arg("slice", format!("size {s} exceeds axis {d} of size {}", shape[d])));
        }
        shape[d] = s;
    }
    Ok(Array::from_primitive(shape, a.dtype(), Arc::new(DynamicSlice { axes: ax }), vec![a.clone(), start.clone()]))
}

/// Writes `update` into a copy of `a` starting at the run-time positions in `start` along `axes`.
pub fn slice_update_dynamic(a: &Array, update: &Array, start: &Array, axes: &[isize]) -> Result<Array> {
    check_indices("slice_update", std::slice::from_ref(start))?;
    let ax: Vec<usize> = axes.iter().map(|&x| normalize_axis("slice_update", x, a.ndim())).collect::<Result<_>>()?;
    if update.ndim() != a.ndim() || update.shape().iter().zip(a.shape()).any(|(u, s)| u > s) || start.size() != ax.len() {
        return Err(Error::shapes_detail("slice_update", &[a.shape(), update.shape()], "the update must fit inside the array"));
    }
    let update = crate::astype(update, a.dtype())?;
    Ok(Array::from_primitive(
        a.shape().to_vec(),
        a.dtype(),
        Arc::new(DynamicSliceUpdate { axes: ax }),
        vec![a.clone(), update, start.clone()],
    ))
}

/// One entry of a NumPy-style index.
#[derive(Clone, Debug)]
pub enum Index {
    /// A single position (removes the axis); negative counts from the end.
    At(isize),
    /// `start:stop:step` (None for an open end).
    Slice(Option<isize>, Option<isize>, isize),
    /// `...`: as many full slices as needed.
    Ellipsis,
    /// `None`/`newaxis`: inserts a size-1 axis.
    NewAxis,
    /// Integer array (advanced) indexing.
    Array(Array),
}

/// NumPy-style indexing `a[idx...]`: basic indices give views; integer arrays gather.
/// Several array indices broadcast together; their result dims replace the indexed axes when
/// the array indices are adjacent, else they go first (NumPy's rule; with array indices
/// present, integers count as array indices and new axes as slices, as in NumPy and MLX).
///
/// ```
/// use rmx::Index;
/// let a = rmx::reshape(&rmx::arange(0.0, 12.0, 1.0, rmx::Dtype::F32).unwrap(), &[3, 4]).unwrap();
/// let r = rmx::index(&a, &[Index::At(-1), Index::Slice(None, None, 2)]).unwrap();
/// assert_eq!(r.to_vec::<f32>().unwrap(), vec![8.0, 10.0]);
/// ```
pub fn index(a: &Array, idx: &[Index]) -> Result<Array> {
    let full = expand_index(a, idx)?;
    if full.iter().any(|i| matches!(i, Index::Array(_))) && full.iter().any(|i| matches!(i, Index::At(_) | Index::NewAxis)) {
        return advanced_index(a, full);
    }
    // Basic indexing first: slices (ints become length-1 slices), remembering what to do after.
    let (starts, stops, steps) = basic_window(a, &full)?;
    let mut x = crate::slice(a, &starts, &stops, &steps)?;

    // Advanced indexing on the sliced array.
    let arrays: Vec<(usize, Array)> = full
        .iter()
        .filter(|i| !matches!(i, Index::NewAxis))
        .enumerate()
        .filter_map(|(ax, i)| if let Index::Array(arr) = i { Some((ax, arr.clone())) } else { None })
        .collect();
    let removed: Vec<usize> = full
        .iter()
        .filter(|i| !matches!(i, Index::NewAxis))
        .enumerate()
        .filter(|(_, i)| matches!(i, Index::At(_)))
        .map(|(ax, _)| ax)
        .collect();
    let mut out_index_pos = 0usize;
    if !arrays.is_empty() {
        let axes: Vec<isize> = arrays.iter().map(|(ax, _)| *ax as isize).collect();
        let idx_arrays: Vec<Array> = arrays.iter().map(|(_, a)| a.clone()).collect();
        let g = gather(&x, &idx_arrays, &axes)?;
        let adjacent = arrays.windows(2).all(|w| w[1].0 == w[0].0 + 1);
        let ni = g.ndim() + arrays.len() - x.ndim();
        let first = arrays[0].0;
        if adjacent && first > 0 {
            // Move the index dims to where the first indexed axis was.
            let nd = g.ndim();
            let perm: Vec<isize> = (ni..ni + first).chain(0..ni).chain(ni + first..nd).map(|d| d as isize).collect();
            x = crate::transpose(&g, Some(&perm))?;
            out_index_pos = first;
        } else {
            x = g;
        }
        // Which original axis each output dim came from (None for the index dims).
        let orig_axes: Vec<usize> = (0..a.ndim()).filter(|ax| !arrays.iter().any(|(i, _)| i == ax)).collect();
        // Drop the integer-indexed axes (size 1 after slicing).
        let split = out_index_pos.min(orig_axes.len());
        let mut out_axes: Vec<Option<usize>> = orig_axes[..split].iter().map(|&ax| Some(ax)).collect();
        out_axes.extend(std::iter::repeat_n(None, ni));
        out_axes.extend(orig_axes[split..].iter().map(|&ax| Some(ax)));
        let squeeze: Vec<isize> =
            out_axes.iter().enumerate().filter(|(_, o)| o.is_some_and(|ax| removed.contains(&ax))).map(|(i, _)| i as isize).collect();
        x = if squeeze.is_empty() { x } else { crate::squeeze(&x, Some(&squeeze))? };
    } else if !removed.is_empty() {
        let squeeze: Vec<isize> = removed.iter().map(|&d| d as isize).collect();
        x = crate::squeeze(&x, Some(&squeeze))?;
    }

    // New axes, at their positions among the basic indices (numbering the output).
    let mut pos = 0usize;
    let mut new_axes = Vec::new();
    for i in &full {
        match i {
            Index::NewAxis => {
                new_axes.push(pos as isize);
                pos += 1;
            }
            Index::At(_) => {}
            _ => pos += 1,
        }
    }
    if !new_axes.is_empty() {
        x = crate::expand_dims(&x, &new_axes)?;
    }
    Ok(x)
}

/// `idx` with its ellipsis expanded and full slices appended: one entry per axis of `a`,
/// plus the new axes.
pub(crate) fn expand_index(a: &Array, idx: &[Index]) -> Result<Vec<Index>> {
    let consumed = idx.iter().filter(|i| !matches!(i, Index::Ellipsis | Index::NewAxis)).count();
    if consumed > a.ndim() {
        return Err(Error::arg("index", format!("too many indices ({consumed}) for an array of rank {}", a.ndim())));
    }
    if idx.iter().filter(|i| matches!(i, Index::Ellipsis)).count() > 1 {
        return Err(Error::arg("index", "an index can only have a single ellipsis"));
    }
    let mut full: Vec<Index> = Vec::new();
    for i in idx {
        if let Index::Ellipsis = i {
            full.extend(std::iter::repeat_n(Index::Slice(None, None, 1), a.ndim() - consumed));
        } else {
            full.push(i.clone());
        }
    }
    let used = full.iter().filter(|i| !matches!(i, Index::NewAxis)).count();
    full.extend(std::iter::repeat_n(Index::Slice(None, None, 1), a.ndim() - used));
    Ok(full)
}

/// The strided window (`starts`, `stops`, `steps` per axis of `a`) that the integers and
/// slices of an expanded index select: an integer is a window of one, an array index the
/// whole axis, new axes take none.
pub(crate) fn basic_window(a: &Array, full: &[Index]) -> Result<(Vec<isize>, Vec<isize>, Vec<isize>)> {
    let (mut starts, mut stops, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    let mut axis = 0;
    for i in full {
        let n = a.shape().get(axis).copied().unwrap_or(0) as isize;
        let (start, stop, step) = match i {
            Index::At(k) => {
                let k2 = position(*k, n, axis)?;
                (k2, k2 + 1, 1)
            }
            Index::Slice(start, stop, step) => {
                if *step == 0 {
                    return Err(Error::arg("index", "slice step cannot be zero"));
                }
                let (lo, hi) = if *step > 0 { (0, n) } else { (n - 1, -n - 1) };
                (start.unwrap_or(lo), stop.unwrap_or(hi), *step)
            }
            Index::Array(_) => (0, n, 1),
            Index::NewAxis | Index::Ellipsis => continue,
        };
        starts.push(start);
        stops.push(stop);
        steps.push(step);
        axis += 1;
    }
    Ok((starts, stops, steps))
}

/// The position an integer index `k` (negative counts from the end) names on `axis` of
/// size `n`.
fn position(k: isize, n: isize, axis: usize) -> Result<isize> {
    let k2 = if k < 0 { k + n } else { k };
    if k2 < 0 || k2 >= n {
        return Err(Error::arg("index", format!("index {k} is out of bounds for axis {axis} with size {n}")));
    }
    Ok(k2)
}

/// Indexing with at least one integer array and integers or new axes (`full`: one entry
/// per axis of `a`, plus the new axes), as NumPy and MLX do it, rewritten into indices of
/// arrays and slices only: new axes become full slices over size-1 axes inserted first, and
/// integers become 0-d array indices, so they count for the adjacency rule
/// (`a[:, i, 0, j]` keeps the index dims in place; `a[0, :, i]` puts them first).
fn advanced_index(a: &Array, full: Vec<Index>) -> Result<Array> {
    let inserted: Vec<isize> = full.iter().enumerate().filter(|(_, i)| matches!(i, Index::NewAxis)).map(|(p, _)| p as isize).collect();
    let x = if inserted.is_empty() { a.clone() } else { crate::expand_dims(a, &inserted)? };
    let rewritten: Vec<Index> = full
        .into_iter()
        .enumerate()
        .map(|(axis, i)| match i {
            Index::NewAxis => Ok(Index::Slice(None, None, 1)),
            Index::At(k) => {
                let original = axis - inserted.iter().filter(|&&p| (p as usize) < axis).count();
                Ok(Index::Array(Array::scalar(position(k, x.shape()[axis] as isize, original)? as i64)))
            }
            other => Ok(other),
        })
        .collect::<Result<_>>()?;
    index(&x, &rewritten)
}
