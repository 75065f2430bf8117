//! Key/value caches for autoregressive decoding, one per attention layer.
//!
//! A [`KvCache`] is one of three spans:
//! - **full**: every position since the start, in a buffer that grows in steps of
//!   [`CACHE_STEP`] tokens and is written in place with `slice_update` (the old buffer is
//!   donated when nothing else holds it); trimmable, so speculative decoding can rewind it;
//! - **rotating** (`max_size`, `keep`): at most `max_size` positions, the first `keep` of the
//!   sequence plus the most recent ones, in a ring buffer that decoding overwrites in place
//!   (sliding-window layers such as Gemma 3's local ones with `keep = 0`, and `--max-kv-size`
//!   with `keep = 4`, as mlx-lm). A query at position `q` sees key `p` when `p <= q` and
//!   either `p < keep` or `q - p < max_size - keep`, in prefill and decoding alike;
//! - **off**: no cache; each call attends within its own tokens (training, scoring).
//!
//! A full cache may be **quantized** ([`KvQuantization`], mlx-lm's `--kv-bits`): once its
//! offset reaches `start` (checked before each update, as mlx-lm converts after each model
//! call) it holds keys and values as MLX affine-quantized triples (packed, scales, biases), so
//! a long context takes `bits/16` of the memory plus the scales; [`Attend::attention`] reads
//! them packed (`rmx::quantized_scaled_dot_product_attention`: rows dequantized as they are
//! read; the same arithmetic as mlx-lm's quantized attention up to float rounding).
//!
//! Each update returns the keys and values to attend over with the mask that goes with them.
//! Batched generation left-pads its prompts; [`KvCache::set_left_padding`] hides each row's
//! padding from its queries. Layout and state follow mlx-lm's `KVCache` / `RotatingKVCache`
//! so prompt caches move between the two ([`crate::prompt_cache`]).

use crate::error::{LmError, Result};
use rmx::{Array, AttentionMask};

/// Positions added to a cache's buffer at a time.
pub const CACHE_STEP: usize = 256;

/// How much of the sequence a cache keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Span {
    Full,
    /// `idx` is the ring slot the next decoded position goes to (mlx-lm's `_idx`).
    Rotating {
        max_size: usize,
        keep: usize,
        idx: usize,
    },
    Off,
}

/// How a quantized cache stores keys and values (MLX affine quantization along the head
/// dimension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvQuantization {
    /// 2, 3, 4, 5, 6 or 8.
    pub bits: u32,
    /// 32, 64 or 128; must divide the head size.
    pub group_size: usize,
    /// Positions kept unquantized before the cache converts (mlx-lm's `quantized_kv_start`).
    pub start: usize,
}

/// Packed values, scales and biases of `[B, heads, T, D]` quantized along `D`.
type Quantized = [Array; 3];

/// The cache of one attention layer.
#[derive(Clone, Debug)]
pub struct KvCache {
    span: Span,
    keys: Option<Array>,
    values: Option<Array>,
    quantization: Option<KvQuantization>,
    /// A quantized cache's storage once it has converted (then `keys`/`values` are `None`).
    quantized: Option<(Quantized, Quantized)>,
    /// Positions processed so far (the position of the next token).
    offset: usize,
    /// Rotating caches: the sequence position held in each filled slot, in slot order.
    slot_positions: Vec<usize>,
    /// Per batch row: leading positions that are padding (empty: none).
    left_padding: Vec<usize>,
    /// The length the sequence reaches at the end of the current prefill (0: unknown), for
    /// rotary embeddings that depend on it (LongRoPE).
    expected_length: usize,
}

/// What attention needs from a cache update.
pub struct Attend {
    /// The keys and values (for a quantized cache: lazily dequantized, computed only if read).
    pub keys: Array,
    pub values: Array,
    pub mask: Option<AttentionMask>,
    /// A quantized cache's packed keys and values, which [`Attend::attention`] reads directly.
    pub quantized: Option<QuantizedAttend>,
}

/// Packed keys and values (`[packed, scales, biases]` each) of a quantized cache.
pub struct QuantizedAttend {
    pub keys: [Array; 3],
    pub values: [Array; 3],
    pub group_size: usize,
    pub bits: u32,
}

impl Attend {
    /// `softmax(scale · q kᵀ + mask) v` for queries `q: [B, heads, T, D]`, reading a quantized
    /// cache in its packed form.
    pub fn attention(&self, q: &Array, scale: f64) -> Result<Array> {
        if let Some(p) = &self.quantized {
            let (k, v) = (p.keys.each_ref(), p.values.each_ref());
            return Ok(rmx::quantized_scaled_dot_product_attention(q, k, v, scale, self.mask.as_ref(), p.group_size, p.bits)?);
        }
        Ok(rmx::scaled_dot_product_attention(q, &self.keys, &self.values, scale, self.mask.as_ref(), None)?)
    }
}

impl KvCache {
    fn with_span(span: Span) -> KvCache {
        KvCache {
            span,
            keys: None,
            values: None,
            quantization: None,
            quantized: None,
            offset: 0,
            slot_positions: Vec::new(),
            left_padding: Vec::new(),
            expected_length: 0,
        }
    }

    /// An empty cache of the same kind (span and quantization), to recompute a sequence in.
    pub fn emptied(&self) -> KvCache {
        let span = match self.span {
            Span::Rotating { max_size, keep, .. } => Span::Rotating { max_size, keep, idx: 0 },
            ref other => other.clone(),
        };
        KvCache { quantization: self.quantization, ..KvCache::with_span(span) }
    }

    /// Announces that the sequence will hold `length` positions once the current prefill
    /// (possibly several forward calls) is done.
    pub fn expect_length(&mut self, length: usize) {
        self.expected_length = length;
    }

    /// The sequence length that decides a length-dependent rotary embedding for the next
    /// `new` positions: the announced length or, past it, the length after them.
    pub fn sequence_length(&self, new: usize) -> usize {
        self.expected_length.max(self.offset + new)
    }

    /// A full cache that quantizes its keys and values once `quantization.start` positions are
    /// cached.
    ///
    /// ```
    /// use rmx_lm::cache::{KvCache, KvQuantization};
    /// assert!(KvCache::quantized(KvQuantization { bits: 4, group_size: 64, start: 0 }).is_ok());
    /// assert!(KvCache::quantized(KvQuantization { bits: 7, group_size: 64, start: 0 }).is_err());
    /// ```
    pub fn quantized(quantization: KvQuantization) -> Result<KvCache> {
        let KvQuantization { bits, group_size, .. } = quantization;
        if !matches!(bits, 2 | 3 | 4 | 5 | 6 | 8) || !matches!(group_size, 32 | 64 | 128) {
            return Err(LmError::Request(format!(
                "KV cache quantization needs bits in 2, 3, 4, 5, 6, 8 and a group size of 32, 64 or 128 (got {bits} bits, group {group_size})"
            )));
        }
        Ok(KvCache { quantization: Some(quantization), ..KvCache::full() })
    }

    /// The quantization of a quantized cache.
    pub fn quantization(&self) -> Option<KvQuantization> {
        self.quantization
    }

    /// An empty cache for full attention.
    pub fn full() -> KvCache {
        KvCache::with_span(Span::Full)
    }

    /// An empty cache holding at most `max_size` positions: the first `keep` and the most
    /// recent ones.
    ///
    /// ```
    /// use rmx_lm::KvCache;
    /// assert!(KvCache::rotating(512, 4).is_ok());
    /// assert!(KvCache::rotating(4, 4).is_err()); // nothing left to rotate
    /// ```
    pub fn rotating(max_size: usize, keep: usize) -> Result<KvCache> {
        if keep >= max_size {
            return Err(LmError::Request(format!("a rotating cache of {max_size} positions cannot keep {keep} fixed ones")));
        }
        Ok(KvCache::with_span(Span::Rotating { max_size, keep, idx: 0 }))
    }

    /// An empty cache for sliding-window attention over the last `window` positions.
    pub fn window(window: usize) -> KvCache {
        KvCache::with_span(Span::Rotating { max_size: window.max(1), keep: 0, idx: 0 })
    }

    /// No cache (attention within each call's tokens).
    pub fn off() -> KvCache {
        KvCache::with_span(Span::Off)
    }

    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Positions processed so far (the position of the next token).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Hides the first `padding[b]` positions of batch row `b` from every query.
    pub fn set_left_padding(&mut self, padding: Vec<usize>) {
        self.left_padding = padding;
    }

    /// Appends `k`, `v` (`[B, heads, T, D]`) and returns what the new queries attend over.
    pub fn update(&mut self, k: &Array, v: &Array) -> Result<Attend> {
        let t = k.shape()[2];
        match self.span {
            Span::Off => {
                let mask = match self.left_padding.is_empty() {
                    true => (t > 1).then_some(AttentionMask::Causal),
                    false => self.mask(0, t, &(0..t).collect::<Vec<_>>(), true)?,
                };
                Ok(Attend { keys: k.clone(), values: v.clone(), mask, quantized: None })
            }
            Span::Full if self.quantization.is_some_and(|q| self.offset > 0 && self.offset >= q.start) => self.update_quantized(k, v),
            Span::Full => {
                let (start, end) = (self.offset, self.offset + t);
                let kb = write_at(&grow(self.keys.take(), k, start, end, usize::MAX)?, k, start)?;
                let vb = write_at(&grow(self.values.take(), v, start, end, usize::MAX)?, v, start)?;
                let out = Attend { keys: prefix(&kb, end)?, values: prefix(&vb, end)?, mask: self.full_mask(t, end)?, quantized: None };
                (self.keys, self.values, self.offset) = (Some(kb), Some(vb), end);
                Ok(out)
            }
            Span::Rotating { .. } if t == 1 => self.rotate_in(k, v),
            Span::Rotating { .. } => self.extend_rotating(k, v),
        }
    }

    fn update_quantized(&mut self, k: &Array, v: &Array) -> Result<Attend> {
        let q = self.quantization.expect("a quantized cache");
        let d = k.shape()[3];
        if !d.is_multiple_of(q.group_size) {
            return Err(LmError::Request(format!("the KV group size {} does not divide the head size {d}", q.group_size)));
        }
        let (start, end) = (self.offset, self.offset + k.shape()[2]);
        let stored = match (self.quantized.take(), self.keys.take(), self.values.take()) {
            (Some(stored), _, _) => Some(stored),
            // Converting: the positions cached so far, quantized once.
            (None, Some(kb), Some(vb)) => Some((quantize(&prefix(&kb, start)?, q)?, quantize(&prefix(&vb, start)?, q)?)),
            _ => None,
        };
        let (old_k, old_v) = stored.map_or((None, None), |(k, v)| (Some(k), Some(v)));
        let kq = store(old_k, &quantize(k, q)?, start, end)?;
        let vq = store(old_v, &quantize(v, q)?, start, end)?;
        let (kp, vp) = (prefixes(&kq, end)?, prefixes(&vq, end)?);
        // Lazy: computed only if a caller reads `keys`/`values` instead of `attention`.
        let (keys, values) = (dequantize(&kp, q, k.dtype())?, dequantize(&vp, q, v.dtype())?);
        let mask = self.full_mask(k.shape()[2], end)?;
        let packed = QuantizedAttend { keys: kp, values: vp, group_size: q.group_size, bits: q.bits };
        (self.quantized, self.offset) = (Some((kq, vq)), end);
        Ok(Attend { keys, values, mask, quantized: Some(packed) })
    }

    fn full_mask(&self, t: usize, end: usize) -> Result<Option<AttentionMask>> {
        if self.left_padding.is_empty() {
            return Ok((t > 1).then_some(AttentionMask::Causal));
        }
        self.mask(end - t, t, &(0..end).collect::<Vec<_>>(), true)
    }

    /// Decoding one position into a rotating cache: append until `max_size` slots are
    /// filled, then overwrite the oldest slot after the kept ones.
    fn rotate_in(&mut self, k: &Array, v: &Array) -> Result<Attend> {
        let Span::Rotating { max_size, keep, .. } = self.span else { unreachable!("rotating caches only") };
        if self.slot_positions.len() > max_size {
            self.retain_window()?;
        }
        let Span::Rotating { idx, .. } = &mut self.span else { unreachable!() };
        if *idx >= max_size {
            *idx = keep;
        }
        let slot = *idx;
        *idx += 1;
        let filled = self.slot_positions.len();
        let (kb, vb) = if slot == filled {
            self.slot_positions.push(self.offset);
            (grow(self.keys.take(), k, filled, filled + 1, max_size)?, grow(self.values.take(), v, filled, filled + 1, max_size)?)
        } else {
            self.slot_positions[slot] = self.offset;
            (self.keys.take().expect("filled slots"), self.values.take().expect("filled slots"))
        };
        let (kb, vb) = (write_at(&kb, k, slot)?, write_at(&vb, v, slot)?);
        self.offset += 1;
        let n = self.slot_positions.len();
        // Every retained position is visible to the newest one; only padding needs a mask.
        let mask = match self.left_padding.is_empty() {
            true => None,
            false => self.mask(self.offset - 1, 1, &self.slot_positions, false)?,
        };
        let out = Attend { keys: prefix(&kb, n)?, values: prefix(&vb, n)?, mask, quantized: None };
        (self.keys, self.values) = (Some(kb), Some(vb));
        Ok(out)
    }

    /// Several positions into a rotating cache: attend over the held positions (in order) and
    /// the new ones under the span's mask, then keep what later queries can still see.
    fn extend_rotating(&mut self, k: &Array, v: &Array) -> Result<Attend> {
        let t = k.shape()[2];
        self.sort_slots_by_position()?;
        let (all_k, all_v) = match (self.keys.take(), self.values.take()) {
            (Some(ok), Some(ov)) => {
                let n = self.slot_positions.len();
                (rmx::concatenate(&[prefix(&ok, n)?, k.clone()], 2)?, rmx::concatenate(&[prefix(&ov, n)?, v.clone()], 2)?)
            }
            _ => (k.clone(), v.clone()),
        };
        self.slot_positions.extend(self.offset..self.offset + t);
        self.offset += t;
        let mask = self.mask(self.offset - t, t, &self.slot_positions, true)?;
        (self.keys, self.values) = (Some(all_k.clone()), Some(all_v.clone()));
        self.retain_window()?;
        Ok(Attend { keys: all_k, values: all_v, mask, quantized: None })
    }

    /// Puts a rotating cache's slots in position order (slot `i` holds the `i`-th oldest).
    fn sort_slots_by_position(&mut self) -> Result<()> {
        let order = sorted_order(&self.slot_positions);
        if order.iter().enumerate().all(|(i, &s)| i == s) {
            return Ok(());
        }
        let index = Array::from_slice(&order.iter().map(|&s| s as u32).collect::<Vec<_>>(), &[order.len()])?;
        let gather = |a: Option<Array>| -> Result<Option<Array>> { a.map(|a| Ok(rmx::take(&a, &index, Some(2))?)).transpose() };
        self.keys = gather(self.keys.take())?;
        self.values = gather(self.values.take())?;
        self.slot_positions = order.iter().map(|&s| self.slot_positions[s]).collect();
        Ok(())
    }

    /// Drops the positions no later query can see (the cache must be in temporal order or
    /// hold at most `max_size` slots), leaving at most `max_size`: the kept ones and the newest.
    fn retain_window(&mut self) -> Result<()> {
        let Span::Rotating { max_size, keep, .. } = self.span else { return Ok(()) };
        self.sort_slots_by_position()?;
        let n = self.slot_positions.len();
        if n > max_size {
            let kept = self.slot_positions.iter().take_while(|&&p| p < keep).count();
            let drop = n - max_size;
            let cut = |a: Option<Array>| -> Result<Option<Array>> {
                a.map(|a| Ok(rmx::concatenate(&[range(&a, 0, kept)?, range(&a, kept + drop, n)?], 2)?)).transpose()
            };
            self.keys = cut(self.keys.take())?;
            self.values = cut(self.values.take())?;
            self.slot_positions.drain(kept..kept + drop);
        }
        let filled = self.slot_positions.len();
        if let Span::Rotating { idx, .. } = &mut self.span {
            *idx = filled;
        }
        Ok(())
    }

    /// The boolean mask `[B or 1, 1, T, K]` for queries at positions `first_query..+t` over
    /// keys at `key_positions`, or `None` when every key is visible to every query (unless
    /// `always`).
    fn mask(&self, first_query: usize, t: usize, key_positions: &[usize], always: bool) -> Result<Option<AttentionMask>> {
        let (keep, window) = match self.span {
            Span::Rotating { max_size, keep, .. } => (keep, max_size - keep),
            _ => (0, usize::MAX),
        };
        let rows = self.left_padding.len().max(1);
        let k = key_positions.len();
        let mut bits = Vec::with_capacity(rows * t * k);
        for row in 0..rows {
            let pad = self.left_padding.get(row).copied().unwrap_or(0);
            for q in first_query..first_query + t {
                // A padding query sees itself, so no softmax row is empty.
                bits.extend(key_positions.iter().map(|&p| p <= q && (p < keep || q - p < window) && (p >= pad || p == q)));
            }
        }
        if !always && bits.iter().all(|&b| b) {
            return Ok(None);
        }
        Ok(Some(AttentionMask::Array(Array::from_slice(&bits, &[rows, 1, t, k])?)))
    }

    /// Whether [`KvCache::trim`] can rewind this cache (a rotating cache only before it
    /// has dropped anything).
    pub fn is_trimmable(&self) -> bool {
        match self.span {
            Span::Full => true,
            Span::Rotating { max_size, .. } => self.offset < max_size,
            Span::Off => false,
        }
    }

    /// Forgets the last `n` positions (at most all of them); returns how many were forgotten.
    pub fn trim(&mut self, n: usize) -> Result<usize> {
        if !self.is_trimmable() {
            return Err(LmError::Request("this cache has dropped old positions and cannot be rewound".into()));
        }
        let n = n.min(self.offset);
        self.offset -= n;
        if let Span::Rotating { idx, .. } = &mut self.span {
            *idx -= n;
            self.slot_positions.truncate(*idx);
        }
        Ok(n)
    }

    /// The arrays the cache holds (to evaluate them).
    pub fn arrays(&self) -> Vec<Array> {
        let quantized = self.quantized.iter().flat_map(|(k, v)| k.iter().chain(v));
        self.keys.iter().chain(self.values.iter()).chain(quantized).cloned().collect()
    }

    /// The filled part of the key and value buffers (slot order), if any.
    pub fn filled(&self) -> Result<Option<(Array, Array)>> {
        let n = match self.span {
            Span::Rotating { .. } => self.slot_positions.len(),
            _ => self.offset,
        };
        if let (Some((k, v)), Some(q)) = (&self.quantized, self.quantization) {
            let dtype = k[1].dtype();
            return Ok(Some((dequantize(&prefixes(k, n)?, q, dtype)?, dequantize(&prefixes(v, n)?, q, dtype)?)));
        }
        match (&self.keys, &self.values) {
            (Some(k), Some(v)) if n > 0 => Ok(Some((prefix(k, n)?, prefix(v, n)?))),
            _ => Ok(None),
        }
    }

    /// A cache restored from its buffers and position (mlx-lm's state layout: the filled
    /// slots, `offset`, and for rotating caches the ring slot `idx` of the next write).
    pub fn restore(span: Span, keys: Array, values: Array, offset: usize) -> Result<KvCache> {
        let (ks, vs) = (keys.shape().to_vec(), values.shape().to_vec());
        if ks.len() != 4 || vs.len() != 4 || ks[..3] != vs[..3] {
            return Err(LmError::Request(format!("cache keys {ks:?} and values {vs:?} are not [B, heads, T, D] pairs")));
        }
        let len = ks[2];
        let mut cache = KvCache::with_span(span);
        cache.offset = offset;
        match cache.span {
            Span::Off => return Err(LmError::Request("an 'off' cache has no state to restore".into())),
            Span::Full => {
                if offset > len {
                    return Err(LmError::Request(format!("cache offset {offset} exceeds its {len} stored positions")));
                }
            }
            Span::Rotating { keep, idx, .. } => {
                let filled = len.min(offset);
                let consistent = if offset > filled { keep < filled && keep < idx && idx <= filled } else { idx <= filled };
                if !consistent {
                    return Err(LmError::Request(format!(
                        "rotating cache state (offset {offset}, idx {idx}, {len} slots) is inconsistent"
                    )));
                }
                cache.slot_positions = slot_positions(offset, keep, idx, filled);
            }
        }
        (cache.keys, cache.values) = (Some(keys), Some(values));
        Ok(cache)
    }
}

/// The position held by each of `filled` ring slots: the first `keep` hold positions
/// `0..keep`; the rest hold the most recent positions, the newest in slot `idx - 1`.
fn slot_positions(offset: usize, keep: usize, idx: usize, filled: usize) -> Vec<usize> {
    if offset <= filled {
        return (0..offset).collect();
    }
    let ring = filled - keep;
    (0..filled).map(|s| if s < keep { s } else { offset - 1 - (idx - 1 + ring - s) % ring }).collect()
}

/// Slot indices ordered by the positions they hold.
fn sorted_order(positions: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..positions.len()).collect();
    order.sort_by_key(|&s| positions[s]);
    order
}

/// The buffer, enlarged (in steps of [`CACHE_STEP`], at most to `limit`) to hold `end`
/// positions, of which the first `filled` are kept.
fn grow(buffer: Option<Array>, like: &Array, filled: usize, end: usize, limit: usize) -> Result<Array> {
    let capacity = buffer.as_ref().map_or(0, |b| b.shape()[2]);
    if let Some(b) = &buffer {
        if end <= capacity {
            return Ok(b.clone());
        }
    }
    let s = like.shape();
    let new_capacity = (end.div_ceil(CACHE_STEP) * CACHE_STEP).min(limit).max(end);
    let fresh = rmx::zeros(&[s[0], s[1], new_capacity - filled, s[3]], like.dtype())?;
    Ok(match buffer {
        Some(b) if filled > 0 => rmx::concatenate(&[prefix(&b, filled)?, fresh], 2)?,
        _ => fresh,
    })
}

fn quantize(a: &Array, q: KvQuantization) -> Result<Quantized> {
    let (packed, scales, biases) = rmx::quantize(a, q.group_size, q.bits, rmx::QuantMode::Affine)?;
    Ok([packed, scales, biases.expect("affine quantization has biases")])
}

/// `update` written at positions `start..end` of the quantized buffers (grown as needed).
fn store(buffers: Option<Quantized>, update: &Quantized, start: usize, end: usize) -> Result<Quantized> {
    let mut old = buffers.map(|b| b.map(Some)).unwrap_or_default();
    let mut part = |i: usize| -> Result<Array> { write_at(&grow(old[i].take(), &update[i], start, end, usize::MAX)?, &update[i], start) };
    Ok([part(0)?, part(1)?, part(2)?])
}

/// The first `n` positions of quantized buffers.
fn prefixes(stored: &Quantized, n: usize) -> Result<Quantized> {
    Ok([prefix(&stored[0], n)?, prefix(&stored[1], n)?, prefix(&stored[2], n)?])
}

/// Quantized `[packed, scales, biases]` as `dtype`.
fn dequantize(parts: &Quantized, q: KvQuantization, dtype: rmx::Dtype) -> Result<Array> {
    let [packed, scales, biases] = parts;
    Ok(rmx::dequantize(packed, scales, Some(biases), q.group_size, q.bits, rmx::QuantMode::Affine, Some(dtype))?)
}

fn write_at(buffer: &Array, update: &Array, at: usize) -> Result<Array> {
    let s = update.shape();
    let starts = [0, 0, at as isize, 0];
    let stops = [s[0] as isize, s[1] as isize, (at + s[2]) as isize, s[3] as isize];
    Ok(rmx::slice_update(buffer, update, &starts, &stops, &[1, 1, 1, 1])?)
}

/// Positions `start..end` of `[B, heads, T, D]`.
fn range(a: &Array, start: usize, end: usize) -> Result<Array> {
    let s = a.shape();
    Ok(rmx::slice(a, &[0, 0, start as isize, 0], &[s[0] as isize, s[1] as isize, end as isize, s[3] as isize], &[1, 1, 1, 1])?)
}

fn prefix(a: &Array, n: usize) -> Result<Array> {
    if a.shape()[2] == n {
        return Ok(a.clone());
    }
    range(a, 0, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_slots_hold_the_newest_positions_after_the_kept_ones() {
        // 8 slots, keep 4, 11 positions seen, next write to slot 5 → slot 4 holds position 10.
        assert_eq!(slot_positions(11, 4, 5, 8), vec![0, 1, 2, 3, 10, 7, 8, 9]);
        // Temporal (just-prefilled) layout: idx == filled.
        assert_eq!(slot_positions(11, 4, 8, 8), vec![0, 1, 2, 3, 7, 8, 9, 10]);
        assert_eq!(slot_positions(3, 4, 3, 3), vec![0, 1, 2]);
    }

    /// Deterministic pseudo-random `[1, heads, t, dims]` values.
    fn values(seed: usize, heads: usize, t: usize, dims: usize) -> Array {
        let v: Vec<f32> = (0..heads * t * dims).map(|i| (((i + 31 * seed) * 7919 % 1000) as f32) / 500.0 - 1.0).collect();
        Array::from_slice(&v, &[1, heads, t, dims]).unwrap()
    }

    fn attend(q: &Array, a: &Attend) -> Vec<f32> {
        rmx::scaled_dot_product_attention(q, &a.keys, &a.values, 0.5, a.mask.as_ref(), None).unwrap().to_vec::<f32>().unwrap()
    }

    #[test]
    fn rotating_cache_attends_like_the_masked_full_history() {
        let (heads, dims, max_size, keep) = (2, 4, 6, 2);
        let mut cache = KvCache::rotating(max_size, keep).unwrap();
        let mut history = KvCache::full();
        let mut offset = 0;
        for (step, t) in [3, 1, 4, 1, 1, 1, 5, 1, 1, 2, 1, 1, 1].into_iter().enumerate() {
            let (q, k, v) = (values(3 * step, heads, t, dims), values(3 * step + 1, heads, t, dims), values(3 * step + 2, heads, t, dims));
            let got = attend(&q, &cache.update(&k, &v).unwrap());
            let full = history.update(&k, &v).unwrap();
            let bits: Vec<bool> =
                (offset..offset + t).flat_map(|q| (0..offset + t).map(move |p| p <= q && (p < keep || q - p < max_size - keep))).collect();
            let mask = AttentionMask::Array(Array::from_slice(&bits, &[t, offset + t]).unwrap());
            let want = attend(&q, &Attend { mask: Some(mask), ..full });
            let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-5, "step {step} (t = {t}): error {err}");
            offset += t;
            assert!(cache.filled().unwrap().unwrap().0.shape()[2] <= max_size.max(t + max_size));
        }
        assert!(!cache.is_trimmable());
        assert!(cache.trim(1).is_err());
    }

    #[test]
    fn trimming_rewinds_full_caches() {
        let mut cache = KvCache::full();
        cache.update(&values(0, 1, 5, 2), &values(1, 1, 5, 2)).unwrap();
        assert_eq!(cache.trim(2).unwrap(), 2);
        let seen = cache.update(&values(2, 1, 1, 2), &values(3, 1, 1, 2)).unwrap();
        assert_eq!((cache.offset(), seen.keys.shape()[2]), (4, 4));
        assert_eq!(cache.trim(10).unwrap(), 4);
    }
}
