//! Prompt caches on disk, in mlx-lm's `save_prompt_cache` format, so a cache written by one
//! engine loads in the other.
//!
//! The file is a safetensors file. Tensors are named `"{layer}.{field}"` after each cache's
//! state: `KVCache` holds `keys`, `values`, `offset`; `RotatingKVCache` holds `keys`, `values`,
//! `offset`, `keep`, `max_size`, `_idx` (integers as 0-d int32 tensors). The string metadata is
//! a flattened `[user_metadata, class_names, scalars]`: `"0.{key}"` for the user's entries,
//! `"1.{layer}"` for class names, and `"2.{n}.0"` / `"2.{n}.1"` naming each scalar tensor
//! (after a placeholder `"2.0"`).

use crate::cache::{KvCache, Span};
use crate::error::{LmError, Result};
use rmx::Array;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `caches` with the user `metadata` (e.g. the model and the cached token count).
///
/// ```no_run
/// # fn demo(caches: &[rmx_lm::KvCache]) -> rmx_lm::Result<()> {
/// let meta = [("model".to_string(), "Qwen3-0.6B".to_string())].into();
/// rmx_lm::save_prompt_cache("prompt.safetensors", caches, &meta)?;
/// let (restored, meta) = rmx_lm::load_prompt_cache("prompt.safetensors")?;
/// # Ok(()) }
/// ```
pub fn save_prompt_cache(path: impl AsRef<Path>, caches: &[KvCache], metadata: &BTreeMap<String, String>) -> Result<()> {
    let mut tensors = BTreeMap::new();
    let mut meta: BTreeMap<String, String> = metadata.iter().map(|(k, v)| (format!("0.{k}"), v.clone())).collect();
    meta.insert("2.0".into(), String::new());
    let mut scalars = 0;
    for (layer, cache) in caches.iter().enumerate() {
        let (keys, values) = cache.filled()?.ok_or_else(|| LmError::Request(format!("the cache of layer {layer} is empty")))?;
        tensors.insert(format!("{layer}.0"), keys);
        tensors.insert(format!("{layer}.1"), values);
        let (class, ints) = match *cache.span() {
            Span::Full => ("KVCache", vec![cache.offset()]),
            Span::Rotating { max_size, keep, idx } => ("RotatingKVCache", vec![cache.offset(), keep, max_size, idx]),
            Span::Off => return Err(LmError::Request("an 'off' cache cannot be saved".into())),
        };
        meta.insert(format!("1.{layer}"), class.into());
        for (i, value) in ints.into_iter().enumerate() {
            let name = format!("{layer}.{}", i + 2);
            let value = i32::try_from(value).map_err(|_| LmError::Request(format!("cache position {value} does not fit int32")))?;
            tensors.insert(name.clone(), Array::from_slice(&[value], &[])?);
            scalars += 1;
            meta.insert(format!("2.{scalars}.0"), name);
            meta.insert(format!("2.{scalars}.1"), "scalar".into());
        }
    }
    Ok(rmx::io::save_safetensors(path, &tensors, &meta)?)
}

/// Reads a prompt cache written by [`save_prompt_cache`] or mlx-lm: the caches (one per
/// layer) and the user metadata.
pub fn load_prompt_cache(path: impl AsRef<Path>) -> Result<(Vec<KvCache>, BTreeMap<String, String>)> {
    let path = path.as_ref();
    let bad = |why: String| LmError::file(path, why);
    let (tensors, meta) = rmx::io::load_safetensors(path)?;
    let mut classes = Vec::new();
    while let Some(class) = meta.get(&format!("1.{}", classes.len())) {
        classes.push(class.as_str());
    }
    if classes.is_empty() {
        return Err(bad("not a prompt cache: no cache classes in its metadata".into()));
    }
    let tensor = |name: String| tensors.get(&name).cloned().ok_or_else(|| bad(format!("missing tensor '{name}'")));
    let int = |name: String| -> Result<usize> {
        let t = tensor(name.clone())?;
        let v = rmx::astype(&t, rmx::Dtype::I64)?.to_vec::<i64>()?;
        match v.as_slice() {
            [x] if *x >= 0 => Ok(*x as usize),
            _ => Err(bad(format!("tensor '{name}' is not a non-negative scalar"))),
        }
    };
    let mut caches = Vec::with_capacity(classes.len());
    for (layer, class) in classes.into_iter().enumerate() {
        let field = |i: usize| format!("{layer}.{i}");
        let span = match class {
            "KVCache" => Span::Full,
            "RotatingKVCache" => {
                let (keep, max_size, idx) = (int(field(3))?, int(field(4))?, int(field(5))?);
                if keep >= max_size {
                    return Err(bad(format!("layer {layer}: keep {keep} is not below max_size {max_size}")));
                }
                Span::Rotating { max_size, keep, idx }
            }
            other => return Err(LmError::NotImplemented(format!("prompt caches of class {other}"))),
        };
        let cache =
            KvCache::restore(span, tensor(field(0))?, tensor(field(1))?, int(field(2))?).map_err(|e| bad(format!("layer {layer}: {e}")))?;
        caches.push(cache);
    }
    let user = meta.iter().filter_map(|(k, v)| k.strip_prefix("0.").map(|k| (k.to_string(), v.clone()))).collect();
    Ok((caches, user))
}

/// Caches kept between requests that share a prefix (chat turns re-send the conversation):
/// the next prompt reuses the longest common prefix of tokens and processes only the rest.
#[derive(Default)]
pub struct PrefixCache {
    caches: Vec<KvCache>,
    tokens: Vec<u32>,
}

impl PrefixCache {
    /// Caches positioned for `prompt` and the part of it still to be processed: the cached
    /// state is rewound to the common prefix (at least one token is left to process), or
    /// replaced by `fresh` when it cannot be rewound.
    pub fn prepare<'p>(&mut self, prompt: &'p [u32], fresh: impl FnOnce() -> Result<Vec<KvCache>>) -> Result<(Vec<KvCache>, &'p [u32])> {
        let common = self.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count().min(prompt.len().saturating_sub(1));
        let mut caches = std::mem::take(&mut self.caches);
        let rewind = self.tokens.len() - common;
        if caches.is_empty() || common == 0 || (rewind > 0 && !caches.iter().all(KvCache::is_trimmable)) {
            self.tokens.clear();
            return Ok((fresh()?, prompt));
        }
        for c in &mut caches {
            c.trim(rewind)?;
        }
        self.tokens.clear();
        Ok((caches, &prompt[common..]))
    }

    /// Keeps `caches`, which hold exactly `tokens`.
    pub fn store(&mut self, caches: Vec<KvCache>, tokens: Vec<u32>) {
        (self.caches, self.tokens) = (caches, tokens);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = PrefixCache::default();
    }
}
