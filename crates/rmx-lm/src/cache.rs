//! Key/value caches for autoregressive decoding, one per attention layer.
//!
//! [`KvCache::Full`] keeps every position in a buffer that grows in steps of
//! [`CACHE_STEP`] tokens and is written in place with `slice_update` (its old buffer is
//! donated when nothing else holds it). [`KvCache::Window`] keeps only the last `window - 1`
//! positions for sliding-window layers (Gemma 3's local layers), which is all a new query
//! can see; [`KvCache::Off`] keeps nothing (training). Each update returns the keys and values to attend over and the mask that goes
//! with them.

use crate::error::Result;
use rmx::{Array, AttentionMask, Dtype};

/// Positions added to a full cache's buffer at a time.
pub const CACHE_STEP: usize = 256;

/// The cache of one attention layer.
#[derive(Clone, Debug)]
pub enum KvCache {
    /// Every position since the start.
    Full { keys: Option<Array>, values: Option<Array>, offset: usize },
    /// The last `window - 1` positions (the sliding-window attention span minus the query).
    Window { keys: Option<Array>, values: Option<Array>, offset: usize, window: usize },
    /// No cache: each call attends within the tokens it is given, from position 0
    /// (training and scoring whole sequences).
    Off,
}

/// What attention needs from a cache update.
pub struct Attend {
    pub keys: Array,
    pub values: Array,
    pub mask: Option<AttentionMask>,
}

impl KvCache {
    /// An empty cache for full attention.
    pub fn full() -> KvCache {
        KvCache::Full { keys: None, values: None, offset: 0 }
    }

    /// An empty cache for attention over the last `window` positions.
    pub fn window(window: usize) -> KvCache {
        KvCache::Window { keys: None, values: None, offset: 0, window: window.max(1) }
    }

    /// Positions processed so far (the position of the next token).
    pub fn offset(&self) -> usize {
        match self {
            KvCache::Full { offset, .. } | KvCache::Window { offset, .. } => *offset,
            KvCache::Off => 0,
        }
    }

    /// Appends `k`, `v` (`[B, heads, T, D]`) and returns what the new queries attend over.
    pub fn update(&mut self, k: &Array, v: &Array) -> Result<Attend> {
        let t = k.shape()[2];
        match self {
            KvCache::Off => Ok(Attend { keys: k.clone(), values: v.clone(), mask: (t > 1).then_some(AttentionMask::Causal) }),
            KvCache::Full { keys, values, offset } => {
                let end = *offset + t;
                let (kb, vb) = (grow(keys.take(), k, *offset, end)?, grow(values.take(), v, *offset, end)?);
                let (kb, vb) = (write_at(&kb, k, *offset)?, write_at(&vb, v, *offset)?);
                let out = Attend { keys: prefix(&kb, end)?, values: prefix(&vb, end)?, mask: (t > 1).then_some(AttentionMask::Causal) };
                (*keys, *values, *offset) = (Some(kb), Some(vb), end);
                Ok(out)
            }
            KvCache::Window { keys, values, offset, window } => {
                let (all_k, all_v) = match (keys.take(), values.take()) {
                    (Some(ok), Some(ov)) => (rmx::concatenate(&[ok, k.clone()], 2)?, rmx::concatenate(&[ov, v.clone()], 2)?),
                    _ => (k.clone(), v.clone()),
                };
                let total = all_k.shape()[2];
                let first_position = *offset + t - total;
                let mask = if t > 1 || total > *window { Some(window_mask(*offset, t, first_position, total, *window)?) } else { None };
                let keep = total.min(*window - 1);
                (*keys, *values) = (Some(suffix(&all_k, keep)?), Some(suffix(&all_v, keep)?));
                *offset += t;
                Ok(Attend { keys: all_k, values: all_v, mask })
            }
        }
    }
}

/// The buffer, enlarged (in steps of [`CACHE_STEP`]) to hold `end` positions.
fn grow(buffer: Option<Array>, like: &Array, filled: usize, end: usize) -> Result<Array> {
    let capacity = buffer.as_ref().map_or(0, |b| b.shape()[2]);
    if let Some(b) = &buffer {
        if end <= capacity {
            return Ok(b.clone());
        }
    }
    let s = like.shape();
    let new_capacity = end.div_ceil(CACHE_STEP) * CACHE_STEP;
    let fresh = rmx::zeros(&[s[0], s[1], new_capacity - filled, s[3]], like.dtype())?;
    Ok(match buffer {
        Some(b) if filled > 0 => rmx::concatenate(&[prefix(&b, filled)?, fresh], 2)?,
        _ => fresh,
    })
}

fn write_at(buffer: &Array, update: &Array, at: usize) -> Result<Array> {
    let s = update.shape();
    let starts = [0, 0, at as isize, 0];
    let stops = [s[0] as isize, s[1] as isize, (at + s[2]) as isize, s[3] as isize];
    Ok(rmx::slice_update(buffer, update, &starts, &stops, &[1, 1, 1, 1])?)
}

fn prefix(a: &Array, n: usize) -> Result<Array> {
    let s = a.shape();
    Ok(rmx::slice(a, &[0, 0, 0, 0], &[s[0] as isize, s[1] as isize, n as isize, s[3] as isize], &[1, 1, 1, 1])?)
}

fn suffix(a: &Array, n: usize) -> Result<Array> {
    let s = a.shape();
    let start = (s[2] - n) as isize;
    Ok(rmx::slice(a, &[0, 0, start, 0], &[s[0] as isize, s[1] as isize, s[2] as isize, s[3] as isize], &[1, 1, 1, 1])?)
}

/// `[T, K]` boolean: query at `offset + i` sees key at `first + j` when it is not in the future
/// and less than `window` positions back.
fn window_mask(offset: usize, t: usize, first: usize, k: usize, window: usize) -> Result<AttentionMask> {
    let q = rmx::reshape_to(&rmx::arange(offset as f64, (offset + t) as f64, 1.0, Dtype::I32)?, &[t, 1])?;
    let kp = rmx::reshape_to(&rmx::arange(first as f64, (first + k) as f64, 1.0, Dtype::I32)?, &[1, k])?;
    let seen = rmx::less_equal(&kp, &q)?;
    let recent = rmx::less(&rmx::subtract(&q, &kp)?, window as i64)?;
    Ok(AttentionMask::Array(rmx::logical_and(&seen, &recent)?))
}

impl KvCache {
    /// The arrays the cache holds (to evaluate them).
    pub fn arrays(&self) -> Vec<Array> {
        match self {
            KvCache::Full { keys, values, .. } | KvCache::Window { keys, values, .. } => {
                keys.iter().chain(values.iter()).cloned().collect()
            }
            KvCache::Off => Vec::new(),
        }
    }
}
