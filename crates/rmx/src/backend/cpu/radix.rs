//! A stable LSD radix sort over unsigned keys, split across threads for long inputs: each
//! pass counts the digits of every chunk, turns the counts into per-chunk write offsets
//! (bucket by bucket, chunk by chunk, so equal digits keep their order) and scatters the
//! chunks at once.

use super::strided::SendPtr;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Bits of the key sorted in one pass (2048 buckets: three passes cover a 32-bit key).
const DIGIT_BITS: u32 = 11;
const BUCKETS: usize = 1 << DIGIT_BITS;

/// Inputs from this length on are counted and scattered by several threads.
const PARALLEL_MIN: usize = 1 << 16;

/// An unsigned key a radix pass can take a digit of.
pub trait RadixKey: Copy + Ord + Send + Sync {
    /// Bits in the key.
    const BITS: u32;
    /// The digit at bit `shift`.
    fn digit(self, shift: u32) -> usize;
}

impl RadixKey for u32 {
    const BITS: u32 = 32;
    #[inline(always)]
    fn digit(self, shift: u32) -> usize {
        ((self >> shift) as usize) & (BUCKETS - 1)
    }
}

impl RadixKey for u64 {
    const BITS: u32 = 64;
    #[inline(always)]
    fn digit(self, shift: u32) -> usize {
        ((self >> shift) as usize) & (BUCKETS - 1)
    }
}

/// An item ordered by a radix key: a bare key, or a key with a payload.
pub trait Keyed: Copy + Send + Sync {
    type Key: RadixKey;
    fn key(&self) -> Self::Key;
}

impl Keyed for u32 {
    type Key = u32;
    #[inline(always)]
    fn key(&self) -> u32 {
        *self
    }
}

impl Keyed for u64 {
    type Key = u64;
    #[inline(always)]
    fn key(&self) -> u64 {
        *self
    }
}

/// A key with the position it came from (what argsort sorts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Indexed<K> {
    pub key: K,
    pub index: u32,
}

impl<K: RadixKey> Keyed for Indexed<K> {
    type Key = K;
    #[inline(always)]
    fn key(&self) -> K {
        self.key
    }
}

/// Sorts `items` stably by key, looking only at the low `bits` bits of the keys, passing
/// them back and forth between `items` and `spare` (of the same length), and hands each
/// sorted item to `emit(position, item)`, every position once (from several threads, in no
/// particular order).
///
/// Long inputs are first split by their most significant digit (threads count and scatter
/// chunks of the input), and each of those buckets, most of them small enough to stay in
/// cache, is then sorted on the remaining bits by a thread of its own and emitted while it is
/// still in cache.
pub fn radix_sort<I: Keyed>(items: &mut [I], spare: &mut [MaybeUninit<I>], bits: u32, emit: impl Fn(usize, I) + Sync) {
    assert_eq!(items.len(), spare.len(), "radix_sort: spare space of another length");
    let n = items.len();
    let bits = bits.min(I::Key::BITS);
    let emit_run = |start: usize, run: &[I]| run.iter().enumerate().for_each(|(i, &item)| emit(start + i, item));
    let emit_all = |sorted: &[I]| {
        if n >= PARALLEL_MIN {
            sorted.par_chunks(PARALLEL_MIN).enumerate().for_each(|(c, run)| emit_run(c * PARALLEL_MIN, run));
        } else {
            emit_run(0, sorted);
        }
    };
    if n < PARALLEL_MIN || bits <= DIGIT_BITS {
        return emit_all(lsd(items, spare, bits));
    }
    let top = bits - DIGIT_BITS;
    let (chunk_len, chunks) = chunking(n);
    let mut counts = vec![0u32; chunks * BUCKETS];
    count_digits(items, chunk_len, top, &mut counts);
    if one_bucket_holds_all(&counts, n) {
        return emit_all(lsd(items, spare, bits));
    }
    to_offsets(&mut counts, chunks);
    // A bucket starts where its first chunk's items go (chunk 0's offsets, row 0).
    let starts: Vec<usize> = counts[..BUCKETS].iter().map(|&o| o as usize).chain([n]).collect();
    let (first, second) = (SendPtr(items.as_mut_ptr()), SendPtr(spare.as_mut_ptr() as *mut I));
    scatter(items, chunk_len, top, &mut counts, second);
    starts.windows(2).filter(|w| w[1] > w[0]).collect::<Vec<_>>().into_par_iter().for_each(|w| {
        let (lo, len) = (w[0], w[1] - w[0]);
        // SAFETY: buckets are disjoint ranges of both buffers; the scatter filled `spare`.
        let (bucket, scratch) = unsafe {
            (
                std::slice::from_raw_parts_mut(second.get().add(lo), len),
                std::slice::from_raw_parts_mut(first.get().add(lo) as *mut MaybeUninit<I>, len),
            )
        };
        if len < SMALL_BUCKET {
            bucket.sort_by_key(|item| item.key());
            emit_run(lo, bucket);
        } else {
            emit_run(lo, lsd(bucket, scratch, top));
        }
    });
}

/// Buckets shorter than this are sorted by comparison (a radix pass costs a count per
/// bucket value, which short runs do not amortize).
const SMALL_BUCKET: usize = 256;

/// Chunk length and chunk count for splitting `n` items across threads.
fn chunking(n: usize) -> (usize, usize) {
    let threads = if n >= PARALLEL_MIN { rayon::current_num_threads().clamp(1, 16) } else { 1 };
    let chunk_len = n.div_ceil(threads).max(1);
    (chunk_len, n.div_ceil(chunk_len).max(1))
}

/// Least-significant-digit-first passes over the low `bits` bits (see [`radix_sort`]).
fn lsd<'a, I: Keyed>(items: &'a mut [I], spare: &'a mut [MaybeUninit<I>], bits: u32) -> &'a [I] {
    let n = items.len();
    let (chunk_len, chunks) = chunking(n);
    let mut counts = vec![0u32; chunks * BUCKETS];
    let (mut src, mut dst) = (items.as_mut_ptr(), spare.as_mut_ptr() as *mut I);
    for shift in (0..bits).step_by(DIGIT_BITS as usize) {
        // SAFETY: `src` holds n initialized items: `items`, or the previous pass's output.
        let from = unsafe { std::slice::from_raw_parts(src, n) };
        count_digits(from, chunk_len, shift, &mut counts);
        if one_bucket_holds_all(&counts, n) {
            continue;
        }
        to_offsets(&mut counts, chunks);
        scatter(from, chunk_len, shift, &mut counts, SendPtr(dst));
        std::mem::swap(&mut src, &mut dst);
    }
    // SAFETY: as above; both buffers are borrowed for 'a.
    unsafe { std::slice::from_raw_parts(src, n) }
}

/// Per-chunk digit counts, chunk-major (`counts[c * BUCKETS + digit]`).
fn count_digits<I: Keyed>(src: &[I], chunk_len: usize, shift: u32, counts: &mut [u32]) {
    let count = |(items, hist): (&[I], &mut [u32])| {
        hist.fill(0);
        for item in items {
            hist[item.key().digit(shift)] += 1;
        }
    };
    if counts.len() == BUCKETS {
        count((src, counts));
    } else {
        src.par_chunks(chunk_len).zip(counts.par_chunks_mut(BUCKETS)).for_each(count);
    }
}

/// Whether one digit value occurs in all `n` items (the pass would not move anything).
fn one_bucket_holds_all(counts: &[u32], n: usize) -> bool {
    (0..BUCKETS).any(|b| counts.iter().skip(b).step_by(BUCKETS).map(|&c| c as usize).sum::<usize>() == n)
}

/// Turns counts into each chunk's first write position per digit: all of digit 0 (chunk 0's,
/// then chunk 1's, ...), then all of digit 1, ...; chunk order within a digit keeps the sort
/// stable.
fn to_offsets(counts: &mut [u32], chunks: usize) {
    let mut next = 0u32;
    for b in 0..BUCKETS {
        for c in 0..chunks {
            let slot = &mut counts[c * BUCKETS + b];
            let here = *slot;
            *slot = next;
            next += here;
        }
    }
}

/// Writes every item of `src` to its chunk's next position for its digit in `out`, a buffer
/// of `src.len()` items that does not overlap `src`.
fn scatter<I: Keyed>(src: &[I], chunk_len: usize, shift: u32, offsets: &mut [u32], out: SendPtr<I>) {
    let place = |(items, next): (&[I], &mut [u32])| {
        for &item in items {
            let slot = &mut next[item.key().digit(shift)];
            // SAFETY: the offsets partition 0..n: every position is written exactly once.
            unsafe { out.get().add(*slot as usize).write(item) };
            *slot += 1;
        }
    };
    if offsets.len() == BUCKETS {
        place((src, offsets));
    } else {
        src.par_chunks(chunk_len).zip(offsets.par_chunks_mut(BUCKETS)).for_each(place);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift) for test keys.
    fn keys(n: usize, mask: u64, mut state: u64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state & mask
            })
            .collect()
    }

    /// What `radix_sort` emits, gathered in place; every position must be emitted once.
    fn sorted<I: Keyed + Default + std::fmt::Debug>(items: &mut [I], spare: &mut [MaybeUninit<I>], bits: u32) -> Vec<I> {
        let out = std::sync::Mutex::new((vec![I::default(); items.len()], vec![0u32; items.len()]));
        radix_sort(items, spare, bits, |position, item| {
            let mut out = out.lock().unwrap();
            out.0[position] = item;
            out.1[position] += 1;
        });
        let (values, seen) = out.into_inner().unwrap();
        assert!(seen.iter().all(|&s| s == 1), "every position emitted exactly once");
        values
    }

    #[test]
    fn sorts_stably_like_the_standard_library() {
        // Serial and threaded lengths, few distinct keys (long runs of equal digits), keys that
        // use only some digits (skipped passes), and 64-bit keys.
        for &(n, mask) in &[
            (0usize, u64::MAX),
            (1, u64::MAX),
            (1000, 0xff),
            (5000, u64::MAX),
            (200_000, 0x3f),
            (300_000, 0xffff_ffff),
            (100_000, u64::MAX),
        ] {
            let raw = keys(n, mask, 0x9e37_79b9_7f4a_7c15 ^ n as u64);
            let mut expected: Vec<Indexed<u64>> = raw.iter().enumerate().map(|(i, &key)| Indexed { key, index: i as u32 }).collect();
            let mut items = expected.clone();
            let mut spare = vec![MaybeUninit::uninit(); n];
            expected.sort_by_key(|item| item.key);
            assert_eq!(sorted(&mut items, &mut spare, 64), expected, "n = {n}, mask = {mask:#x}");

            let mut narrow: Vec<u32> = raw.iter().map(|&k| k as u32).collect();
            let mut expected: Vec<u32> = narrow.clone();
            expected.sort_unstable();
            let mut spare = vec![MaybeUninit::uninit(); n];
            assert_eq!(sorted(&mut narrow, &mut spare, 32), expected, "n = {n}, mask = {mask:#x} (32-bit)");
        }
    }
}
