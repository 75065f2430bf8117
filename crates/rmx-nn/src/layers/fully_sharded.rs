//! Fully sharded data parallelism (MLX's `FullyShardedModule` / `fully_shard`): every rank
//! keeps only its rows (axis 0) of each parameter; a call gathers the whole parameters for the
//! forward pass, and the backward pass reduce-scatters the gradients (summed over ranks, then
//! divided by their number), so each rank's optimizer updates its own shard.

use crate::distributed::{shard, Segments};
use crate::module::{join, Module, Slot, SlotMut, Visit};
use rmx::distributed::{all_gather, sum_scatter, Group};
use rmx::{Array, Dtype, Error, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// `module` with its parameters sharded over `group` (named `module.<name>`, as MLX).
pub struct FullyShardedModule<M: Module> {
    module: Mutex<M>,
    group: Group,
    /// The sharded parameters' names and whole shapes, in order.
    full: Vec<(String, Vec<usize>)>,
    compute_dtype: Option<Dtype>,
}

/// Shards every parameter of `module` along axis 0 across `group` (each axis 0 must divide by
/// the group size); `compute_dtype`, if given, is the dtype the gathered parameters are cast
/// to for the forward pass (MLX's `fully_shard`).
///
/// ```
/// use rmx_nn::{fully_shard, Linear, Module};
/// let group = rmx::distributed::Group::singleton();
/// let model = fully_shard(Linear::new(4, 6, true)?, &group, None)?;
/// assert_eq!(model.parameters().keys().collect::<Vec<_>>(), ["module.bias", "module.weight"]);
/// let y = model.call(|m| m.forward(&rmx::ones(&[2, 4], rmx::Dtype::F32)?))?;
/// assert_eq!(y.shape(), &[2, 6]);
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn fully_shard<M: Module>(mut module: M, group: &Group, compute_dtype: Option<Dtype>) -> Result<FullyShardedModule<M>> {
    let n = group.size();
    let params = module.parameters();
    for (name, p) in &params {
        if p.ndim() == 0 || !p.shape()[0].is_multiple_of(n) {
            return Err(Error::arg(
                "fully_shard",
                format!("parameter '{name}' of shape {:?}: axis 0 must divide across {n} ranks", p.shape()),
            ));
        }
    }
    let full = params.iter().map(|(name, p)| (name.clone(), p.shape().to_vec())).collect();
    let shards = params.iter().map(|(name, p)| Ok((name.clone(), shard(p, 0, &Segments::Equal(1), group)?))).collect::<Result<_>>()?;
    module.update(&shards, false)?;
    Ok(FullyShardedModule { module: Mutex::new(module), group: group.clone(), full, compute_dtype })
}

impl<M: Module> FullyShardedModule<M> {
    /// Runs `f` on the module with its whole parameters gathered from every rank (and the
    /// gradients flowing back to the shards); the shards are back in place afterwards.
    pub fn call<R>(&self, f: impl FnOnce(&M) -> Result<R>) -> Result<R> {
        let mut module = self.module.lock().unwrap_or_else(|e| e.into_inner());
        let current = module.parameters();
        let shards: Vec<Array> = self.full.iter().map(|(name, _)| current[name].clone()).collect();
        let gathered = self.gather(&shards)?;
        let whole = self.full.iter().map(|(name, _)| name.clone()).zip(gathered).collect();
        module.update(&whole, false)?;
        let result = f(&module);
        let back = self.full.iter().map(|(name, _)| name.clone()).zip(shards).collect();
        module.update(&back, false)?;
        result
    }

    /// The whole parameters from the shards: one all-gather of every shard flattened side by
    /// side; the reverse rule reduce-scatters the cotangents and averages them.
    fn gather(&self, shards: &[Array]) -> Result<Vec<Array>> {
        let n = self.group.size();
        let full = self.full.clone();
        let (group, compute) = (self.group.clone(), self.compute_dtype);
        let sizes: Vec<usize> = shards.iter().map(Array::size).collect();
        let dtypes: Vec<Dtype> = shards.iter().map(Array::dtype).collect();
        let split = move |flat: &Array, rows: usize, shapes: &[Vec<usize>]| -> Result<Vec<Array>> {
            let mut at = 0;
            shapes
                .iter()
                .zip(&sizes)
                .map(|(shape, &size)| {
                    let part = rmx::slice(flat, &[0, at as isize], &[rows as isize, (at + size) as isize], &[1, 1])?;
                    at += size;
                    rmx::reshape_to(&part, shape)
                })
                .collect()
        };
        let flatten = |arrays: &[Array], rows: usize, dtype: Option<Dtype>| -> Result<Array> {
            let parts = arrays
                .iter()
                .map(|a| {
                    let a = rmx::reshape_to(a, &[rows, a.size() / rows])?;
                    dtype.map_or(Ok(a.clone()), |d| rmx::astype(&a, d))
                })
                .collect::<Result<Vec<_>>>()?;
            rmx::concatenate(&parts, 1)
        };
        let whole_shapes: Vec<Vec<usize>> = full.iter().map(|(_, s)| s.clone()).collect();
        let shard_shapes: Vec<Vec<usize>> = shards.iter().map(|s| s.shape().to_vec()).collect();
        let (split_back, g2) = (split.clone(), group.clone());
        let forward = move |s: &[Array]| -> Result<Vec<Array>> {
            let everyone = all_gather(&flatten(s, 1, compute)?, &group)?; // [n, total]
            split(&everyone, n, &whole_shapes)
        };
        let backward = move |_: &[Array], cotangents: &[Array], _: &[Array]| -> Result<Vec<Array>> {
            let parts = cotangents.iter().map(|c| rmx::reshape_to(c, &[n, c.size() / n])).collect::<Result<Vec<_>>>()?;
            let mine = rmx::divide(&sum_scatter(&rmx::concatenate(&parts, 1)?, &g2)?, n as f64)?; // [1, total]
            split_back(&mine, 1, &shard_shapes)?.iter().zip(&dtypes).map(|(g, &d)| rmx::astype(g, d)).collect()
        };
        rmx::custom_vjp(forward, backward)(shards)
    }
}

impl<M: Module> Visit for FullyShardedModule<M> {
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, Slot<'_>)) {
        f(path, Slot::Module(self));
        self.module.lock().unwrap_or_else(|e| e.into_inner()).visit(&join(path, "module"), f);
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, SlotMut<'_>)) {
        f(path, SlotMut::Module(self));
        self.module.get_mut().unwrap_or_else(|e| e.into_inner()).visit_mut(&join(path, "module"), f);
    }
}

impl<M: Module> Module for FullyShardedModule<M> {}

impl<M: Module> FullyShardedModule<M> {
    /// The whole shape of each sharded parameter, by its name in the wrapped module.
    pub fn full_shapes(&self) -> BTreeMap<String, Vec<usize>> {
        self.full.iter().cloned().collect()
    }
}
