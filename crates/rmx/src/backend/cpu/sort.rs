//! Sorting kernels: a stable LSD radix sort on order-preserving integer keys (NaN last, as
//! NumPy and MLX order them), with a comparison sort for short lines and complex numbers.

use crate::element::{Element, Kind, C64};

/// Lines shorter than this use a comparison sort.
const RADIX_MIN: usize = 512;

/// An order-preserving unsigned key of a real element (NaN maps above +inf). Keys of a
/// type of `n` bytes use only their low `n` bytes (floats of up to 4 bytes use f32 keys).
#[inline(always)]
pub fn key<T: Element>(v: T) -> u64 {
    let bits = 8 * std::mem::size_of::<T>() as u32;
    match T::KIND {
        Kind::Bool | Kind::Unsigned => v.to_u64(),
        Kind::Signed => (v.to_i64() as u64).wrapping_add(1 << (bits - 1)) & (u64::MAX >> (64 - bits)),
        Kind::Float | Kind::Complex if bits <= 32 || T::KIND == Kind::Complex => {
            let f = v.to_f64() as f32;
            if f.is_nan() {
                return u32::MAX as u64;
            }
            let b = f.to_bits();
            (if b >> 31 == 1 { !b } else { b | (1 << 31) }) as u64
        }
        Kind::Float | Kind::Complex => {
            let f = v.to_f64();
            if f.is_nan() {
                return u64::MAX;
            }
            let b = f.to_bits();
            if b >> 63 == 1 {
                !b
            } else {
                b | (1 << 63)
            }
        }
    }
}

/// The element whose [`key`] is `k` (NaN keys give a NaN).
#[inline(always)]
fn from_key<T: Element>(k: u64) -> T {
    let bits = 8 * std::mem::size_of::<T>() as u32;
    match T::KIND {
        Kind::Bool | Kind::Unsigned => T::from_u64(k),
        Kind::Signed => T::from_i64(k.wrapping_sub(1 << (bits - 1)) as i64),
        Kind::Float | Kind::Complex if bits <= 32 => {
            let k = k as u32;
            if k == u32::MAX {
                return T::from_f64(f64::NAN);
            }
            let b = if k >> 31 == 1 { k & !(1 << 31) } else { !k };
            T::from_f64(f32::from_bits(b) as f64)
        }
        Kind::Float | Kind::Complex => {
            if k == u64::MAX {
                return T::from_f64(f64::NAN);
            }
            let b = if k >> 63 == 1 { k & !(1 << 63) } else { !k };
            T::from_f64(f64::from_bits(b))
        }
    }
}

/// Stable LSD radix sort of bare keys.
fn radix_sort_keys(keys: &mut Vec<u64>, bytes: usize) {
    let n = keys.len();
    let mut tmp = vec![0u64; n];
    for byte in 0..bytes {
        let shift = byte * 8;
        let mut counts = [0usize; 256];
        for &k in keys.iter() {
            counts[((k >> shift) & 0xff) as usize] += 1;
        }
        if counts.contains(&n) {
            continue;
        }
        let mut offsets = [0usize; 256];
        let mut sum = 0;
        for (o, &c) in offsets.iter_mut().zip(&counts) {
            *o = sum;
            sum += c;
        }
        for &k in keys.iter() {
            let b = ((k >> shift) & 0xff) as usize;
            tmp[offsets[b]] = k;
            offsets[b] += 1;
        }
        std::mem::swap(keys, &mut tmp);
    }
}

/// Number of low bytes of the keys of `T` that can vary.
fn key_bytes<T: Element>() -> usize {
    match T::KIND {
        Kind::Float if std::mem::size_of::<T>() <= 4 => 4,
        _ => std::mem::size_of::<T>(),
    }
}

/// Stable sort of `(key, payload)` pairs by key.
fn radix_sort<P: Copy + Default>(items: &mut Vec<(u64, P)>, bytes: usize) {
    let n = items.len();
    let mut tmp: Vec<(u64, P)> = vec![(0, P::default()); n];
    for byte in 0..bytes {
        let shift = byte * 8;
        let mut counts = [0usize; 256];
        for &(k, _) in items.iter() {
            counts[((k >> shift) & 0xff) as usize] += 1;
        }
        if counts.contains(&n) {
            continue; // every key has the same byte here
        }
        let mut offsets = [0usize; 256];
        let mut sum = 0;
        for (o, &c) in offsets.iter_mut().zip(&counts) {
            *o = sum;
            sum += c;
        }
        for &item in items.iter() {
            let b = ((item.0 >> shift) & 0xff) as usize;
            tmp[offsets[b]] = item;
            offsets[b] += 1;
        }
        std::mem::swap(items, &mut tmp);
    }
}

/// Sorts `line` ascending in place (stable, NaN last).
pub fn sort_line<T: Element>(line: &mut [T]) {
    if T::DTYPE == crate::dtype::Dtype::C64 {
        line.sort_by(|a, b| complex_cmp(a.to_c64(), b.to_c64()));
        return;
    }
    if line.len() < RADIX_MIN {
        line.sort_by_key(|&v| key(v));
        return;
    }
    // The key transform is invertible, so sorting bare keys and decoding them is enough
    // (NaN payloads become the canonical NaN).
    let mut keys: Vec<u64> = line.iter().map(|&v| key(v)).collect();
    radix_sort_keys(&mut keys, key_bytes::<T>());
    for (dst, k) in line.iter_mut().zip(keys) {
        *dst = from_key(k);
    }
}

/// The stable ascending order of `line` as indices.
pub fn argsort_line<T: Element>(line: &[T]) -> Vec<u32> {
    if T::DTYPE == crate::dtype::Dtype::C64 {
        let mut idx: Vec<u32> = (0..line.len() as u32).collect();
        idx.sort_by(|&a, &b| complex_cmp(line[a as usize].to_c64(), line[b as usize].to_c64()));
        return idx;
    }
    if line.len() < RADIX_MIN {
        let mut idx: Vec<u32> = (0..line.len() as u32).collect();
        idx.sort_by_key(|&i| key(line[i as usize]));
        return idx;
    }
    let mut items: Vec<(u64, u32)> = line.iter().enumerate().map(|(i, &v)| (key(v), i as u32)).collect();
    radix_sort(&mut items, key_bytes::<T>());
    items.into_iter().map(|(_, i)| i).collect()
}

/// Lexicographic order of complex numbers, NaN parts last.
pub fn complex_cmp(a: C64, b: C64) -> std::cmp::Ordering {
    let k = |v: f32| key(v);
    (k(a.re), k(a.im)).cmp(&(k(b.re), k(b.im)))
}
