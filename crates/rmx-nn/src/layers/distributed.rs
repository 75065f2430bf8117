//! Tensor-parallel linear layers over an `rmx::distributed::Group` (MLX's
//! `nn.layers.distributed`): [`AllToShardedLinear`] (replicated input, output features split
//! across ranks, gradients of the input summed over the group) and [`ShardedToAllLinear`]
//! (input features split, partial products summed over the group), each from a float or a
//! quantized [`Linear`] by [`shard_linear`] — MLX's four classes in two, since a `Linear`
//! here is quantized or not. [`sum_gradients`] and [`average_gradients`] are the
//! data-parallel helpers; [`shard`] splits one parameter as MLX's `_shard` does (fused
//! weights by `segments`), [`shard_inplace`] every parameter of a module.

use crate::module::{join, Module, Param, Slot, SlotMut, Visit};
use crate::Linear;
use rmx::distributed::{all_sum, Group};
use rmx::{Array, Error, Result};
use std::collections::BTreeMap;

/// How a fused weight is made of parts that are split separately (a fused QKV weight is 3).
#[derive(Clone, Debug, PartialEq)]
pub enum Segments {
    /// That many equal parts.
    Equal(usize),
    /// Parts ending at these fractions of the axis (MLX's list of floats, e.g. `[0.5]`).
    At(Vec<f64>),
}

/// Which way a layer is sharded (MLX's `"all-to-sharded"` and `"sharded-to-all"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharding {
    AllToSharded,
    ShardedToAll,
}

/// This rank's part of `a` along `axis`: each segment split into `group.size()` equal
/// pieces, this rank's pieces concatenated (MLX's `_shard`).
pub fn shard(a: &Array, axis: isize, segments: &Segments, group: &Group) -> Result<Array> {
    let n = group.size();
    let ax = if axis < 0 { axis + a.ndim() as isize } else { axis } as usize;
    let len = a.shape()[ax];
    let bounds: Vec<usize> = match segments {
        Segments::Equal(parts) if *parts > 0 && len.is_multiple_of(*parts) => (1..*parts).map(|i| i * len / parts).collect(),
        Segments::Equal(parts) => return Err(Error::arg("shard", format!("axis of {len} does not split into {parts} equal segments"))),
        Segments::At(fractions) => fractions.iter().map(|f| (f * len as f64) as usize).collect(),
    };
    let edges: Vec<usize> = std::iter::once(0).chain(bounds).chain(std::iter::once(len)).collect();
    let mut pieces = Vec::new();
    for w in edges.windows(2) {
        let part = w[1] - w[0];
        if !part.is_multiple_of(n) {
            return Err(Error::arg("shard", format!("a segment of {part} along axis {axis} does not split across {n} ranks")));
        }
        let (start, stop) = (w[0] + group.rank() * part / n, w[0] + (group.rank() + 1) * part / n);
        let mut starts = vec![0isize; a.ndim()];
        let mut stops: Vec<isize> = a.shape().iter().map(|&d| d as isize).collect();
        (starts[ax], stops[ax]) = (start as isize, stop as isize);
        pieces.push(rmx::slice(a, &starts, &stops, &vec![1; a.ndim()])?);
    }
    rmx::contiguous(&rmx::concatenate(&pieces, ax as isize)?)
}

/// Identity forward; the backward pass sums the gradient over `group` (MLX's
/// `sum_gradients`), for inputs replicated on every rank whose uses are sharded.
pub fn sum_gradients(x: &Array, group: &Group) -> Result<Array> {
    if group.size() == 1 {
        return Ok(x.clone());
    }
    let g = group.clone();
    let f = rmx::custom_vjp(|a| Ok(vec![a[0].clone()]), move |_, cot, _| Ok(vec![all_sum(&cot[0], &g)?]));
    Ok(f(std::slice::from_ref(x))?.swap_remove(0))
}

/// Gradients averaged over `group` (data parallelism, MLX's `average_gradients`): gradients
/// of one dtype travel as one flat buffer, in one all-reduce.
pub fn average_gradients(grads: &BTreeMap<String, Array>, group: &Group) -> Result<BTreeMap<String, Array>> {
    let n = group.size();
    if n == 1 {
        return Ok(grads.clone());
    }
    let mut by_dtype: BTreeMap<String, Vec<(&String, &Array)>> = BTreeMap::new();
    for (name, g) in grads {
        by_dtype.entry(g.dtype().to_string()).or_default().push((name, g));
    }
    let mut out = BTreeMap::new();
    for members in by_dtype.values() {
        let flat: Vec<Array> = members.iter().map(|(_, g)| rmx::reshape_to(g, &[g.size()])).collect::<Result<_>>()?;
        let summed = rmx::divide(&all_sum(&rmx::concatenate(&flat, 0)?, group)?, n as f64)?;
        let mut at = 0;
        for (name, g) in members {
            let part = rmx::slice(&summed, &[at as isize], &[(at + g.size()) as isize], &[1])?;
            out.insert((*name).clone(), rmx::astype(&rmx::reshape_to(&part, g.shape())?, g.dtype())?);
            at += g.size();
        }
    }
    Ok(out)
}

/// Calls `f` on `linear`'s parameters as if they were the layer's own (no module of its own).
fn visit_parts(linear: &Linear, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
    linear.visit(path, &mut |p, slot| match slot {
        Slot::Module(_) if p == path => {}
        other => f(p, other),
    });
}

fn visit_parts_mut(linear: &mut Linear, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
    linear.visit_mut(path, &mut |p, slot| match slot {
        SlotMut::Module(_) if p == path => {}
        other => f(p, other),
    });
}

/// The axis MLX's named shardings split a parameter along (`None`: replicated):
/// all-to-sharded splits every parameter along its first axis of the last two (a bias along
/// its only one), sharded-to-all splits all but biases along the last axis.
fn sharding_axis(sharding: Sharding, name: &str, ndim: usize) -> Option<isize> {
    match (sharding, name.ends_with("bias")) {
        (Sharding::AllToSharded, true) => Some(-1),
        (Sharding::AllToSharded, false) => Some(ndim.saturating_sub(2) as isize),
        (Sharding::ShardedToAll, true) => None,
        (Sharding::ShardedToAll, false) => Some(-1),
    }
}

/// Replaces each parameter of `module` by this rank's shard, splitting along the axis and
/// segments `split(name, value)` returns (`None`: left whole). The module's code is
/// unchanged, so it must do its own communication (MLX's `shard_inplace` with a callable).
pub fn shard_inplace_with(module: &mut dyn Module, split: impl Fn(&str, &Array) -> Option<(isize, Segments)>, group: &Group) -> Result<()> {
    let mut shards = BTreeMap::new();
    for (name, value) in module.parameters() {
        if let Some((axis, segments)) = split(&name, &value) {
            shards.insert(name, shard(&value, axis, &segments, group)?);
        }
    }
    module.update(&shards, false)
}

/// [`shard_inplace_with`] by one of MLX's named shardings (MLX's `shard_inplace` with a
/// string): see [`shard_linear`] for the axes.
///
/// ```
/// use rmx_nn::{distributed::{shard_inplace, Segments, Sharding}, Linear, Module};
/// let mut linear = Linear::new(8, 6, true)?;
/// shard_inplace(&mut linear, Sharding::AllToSharded, &Segments::Equal(1), &rmx::distributed::Group::singleton())?;
/// assert_eq!(linear.weight.value.shape(), &[6, 8]); // a group of one keeps everything
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn shard_inplace(module: &mut dyn Module, sharding: Sharding, segments: &Segments, group: &Group) -> Result<()> {
    shard_inplace_with(module, |name, value| sharding_axis(sharding, name, value.ndim()).map(|axis| (axis, segments.clone())), group)
}

/// Replicated input, output features split across the group: rank `r` computes its slice of
/// the outputs with no communication forward; backward, the input's gradient is summed over
/// the group. MLX's `AllToShardedLinear` (float) and `QuantizedAllToShardedLinear`.
pub struct AllToShardedLinear {
    /// This rank's rows of the weight (and bias, scales, biases).
    pub shard: Linear,
    pub group: Group,
}

/// Input features split across the group (each rank holds its slice of `x`), partial
/// products summed over the group, then the (replicated) bias: every rank gets the whole
/// output. MLX's `ShardedToAllLinear` (float) and `QuantizedShardedToAllLinear`.
pub struct ShardedToAllLinear {
    /// This rank's columns of the weight (scales, biases), without the bias.
    pub shard: Linear,
    pub bias: Option<Param>,
    pub group: Group,
}

/// A sharded copy of `linear` (float or quantized) for this rank of `group`, which the
/// caller then uses in place of `linear` (MLX's `shard_linear`). All-to-sharded splits every
/// parameter along its first axis (output features; a bias along its only one),
/// sharded-to-all all but the bias along the last (input features); `segments` splits a
/// fused weight (QKV: 3) part by part.
///
/// ```
/// use rmx_nn::{distributed::{shard_linear, Segments, Sharding}, Linear};
/// let group = rmx::distributed::Group::singleton();
/// let linear = Linear::new(8, 6, true)?;
/// let layer = shard_linear(&linear, Sharding::AllToSharded, &Segments::Equal(3), &group)?;
/// let x = rmx::ones(&[2, 8], rmx::Dtype::F32)?;
/// assert_eq!(layer.forward(&x)?.shape(), &[2, 6]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn shard_linear(linear: &Linear, sharding: Sharding, segments: &Segments, group: &Group) -> Result<ShardedLinear> {
    let mut shard = linear.clone();
    shard_inplace(&mut shard, sharding, segments, group)?;
    Ok(match sharding {
        Sharding::AllToSharded => ShardedLinear::AllToSharded(AllToShardedLinear { shard, group: group.clone() }),
        Sharding::ShardedToAll => {
            let (bias, spec) = (shard.bias.clone(), shard.quantization());
            let shard = Linear::from_parts(shard.weight, None, shard.scales, shard.biases, spec);
            ShardedLinear::ShardedToAll(ShardedToAllLinear { shard, bias, group: group.clone() })
        }
    })
}

/// Either sharded layer, as [`shard_linear`] returns it.
pub enum ShardedLinear {
    AllToSharded(AllToShardedLinear),
    ShardedToAll(ShardedToAllLinear),
}

impl AllToShardedLinear {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        self.shard.forward(&sum_gradients(x, &self.group)?)
    }
}

impl ShardedToAllLinear {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let y = all_sum(&self.shard.forward(x)?, &self.group)?;
        match &self.bias {
            Some(b) => rmx::add(&y, &b.value),
            None => Ok(y),
        }
    }
}

impl ShardedLinear {
    pub fn forward(&self, x: &Array) -> Result<Array> {
        match self {
            ShardedLinear::AllToSharded(l) => l.forward(x),
            ShardedLinear::ShardedToAll(l) => l.forward(x),
        }
    }
}

impl Visit for AllToShardedLinear {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        f(path, Slot::Module(self));
        visit_parts(&self.shard, path, f);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        f(path, SlotMut::Module(self));
        visit_parts_mut(&mut self.shard, path, f);
    }
}

impl Visit for ShardedToAllLinear {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        f(path, Slot::Module(self));
        visit_parts(&self.shard, path, f);
        self.bias.visit(&join(path, "bias"), f);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        f(path, SlotMut::Module(self));
        visit_parts_mut(&mut self.shard, path, f);
        self.bias.visit_mut(&join(path, "bias"), f);
    }
}

impl Visit for ShardedLinear {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        match self {
            ShardedLinear::AllToSharded(l) => l.visit(path, f),
            ShardedLinear::ShardedToAll(l) => l.visit(path, f),
        }
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        match self {
            ShardedLinear::AllToSharded(l) => l.visit_mut(path, f),
            ShardedLinear::ShardedToAll(l) => l.visit_mut(path, f),
        }
    }
}

impl Module for AllToShardedLinear {}
impl Module for ShardedToAllLinear {}
impl Module for ShardedLinear {
    fn kind(&self) -> &'static str {
        match self {
            ShardedLinear::AllToSharded(_) => "AllToShardedLinear",
            ShardedLinear::ShardedToAll(_) => "ShardedToAllLinear",
        }
    }
}
