//! Sorting kernels: a stable radix sort ([`super::radix`]) on order-preserving integer keys
//! (NaN last, as NumPy and MLX order them; 32-bit keys for types of up to four bytes), with a
//! comparison sort for short lines and complex numbers.

use super::radix::{radix_sort, Indexed};
use super::scratch::Scratch;
use crate::element::{Element, Kind, C64};
use rayon::prelude::*;
use std::mem::MaybeUninit;

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

/// Number of low bytes of the keys of `T` that can vary.
fn key_bytes<T: Element>() -> usize {
    match T::KIND {
        Kind::Float if std::mem::size_of::<T>() <= 4 => 4,
        _ => std::mem::size_of::<T>(),
    }
}

/// Lines from this length on are encoded by several threads (the radix sort decodes in parallel).
const PARALLEL_CODING_MIN: usize = 1 << 16;

/// Fills `slots` with `f(i)` for each position `i`, split across threads for long lines.
fn encode<K: Copy + Send>(slots: &mut [MaybeUninit<K>], f: impl Fn(usize) -> K + Sync + Send) -> &mut [K] {
    if slots.len() >= PARALLEL_CODING_MIN {
        slots.par_iter_mut().enumerate().for_each(|(i, slot)| {
            slot.write(f(i));
        });
    } else {
        slots.iter_mut().enumerate().for_each(|(i, slot)| {
            slot.write(f(i));
        });
    }
    // SAFETY: every slot was written above.
    unsafe { &mut *(slots as *mut [MaybeUninit<K>] as *mut [K]) }
}

/// Sorts a line of `n` elements ascending (stable, NaN last): `read(i)` gives element `i`,
/// `write(i, v)` stores the `i`-th smallest.
pub fn sort_line<T: Element>(n: usize, read: impl Fn(usize) -> T + Sync + Send, write: impl Fn(usize, T) + Sync + Send) {
    if T::DTYPE == crate::dtype::Dtype::C64 || n < RADIX_MIN {
        let mut values: Vec<T> = (0..n).map(read).collect();
        if T::DTYPE == crate::dtype::Dtype::C64 {
            values.sort_by(|a, b| complex_cmp(a.to_c64(), b.to_c64()));
        } else {
            values.sort_by_key(|&v| key(v));
        }
        values.into_iter().enumerate().for_each(|(i, v)| write(i, v));
        return;
    }
    // The key transform is invertible, so sorting bare keys and decoding them is enough
    // (NaN payloads become the canonical NaN).
    let bits = 8 * key_bytes::<T>() as u32;
    if bits <= 32 {
        let (mut keys, mut spare) = (Scratch::<u32>::new(n), Scratch::new(n));
        let keys = encode(keys.slots(), |i| key(read(i)) as u32);
        radix_sort(keys, spare.slots(), bits, |i, k| write(i, from_key(k as u64)));
    } else {
        let (mut keys, mut spare) = (Scratch::<u64>::new(n), Scratch::new(n));
        let keys = encode(keys.slots(), |i| key(read(i)));
        radix_sort(keys, spare.slots(), bits, |i, k| write(i, from_key(k)));
    }
}

/// The key argsort orders by: [`key`], with -0.0 equal to +0.0 so that the two keep their
/// order, as a stable comparison sort leaves them.
#[inline(always)]
fn argsort_key<T: Element>(v: T) -> u64 {
    if T::KIND == Kind::Float && v.to_f64() == 0.0 {
        key(T::from_f64(0.0))
    } else {
        key(v)
    }
}

/// The stable ascending order of a line of `n` elements: `read(i)` gives element `i`,
/// `write(i, j)` stores the position of the `i`-th smallest.
pub fn argsort_line<T: Element>(n: usize, read: impl Fn(usize) -> T + Sync + Send, write: impl Fn(usize, u32) + Sync + Send) {
    if T::DTYPE == crate::dtype::Dtype::C64 || n < RADIX_MIN {
        let values: Vec<T> = (0..n).map(read).collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        if T::DTYPE == crate::dtype::Dtype::C64 {
            order.sort_by(|&a, &b| complex_cmp(values[a as usize].to_c64(), values[b as usize].to_c64()));
        } else {
            order.sort_by_key(|&i| argsort_key(values[i as usize]));
        }
        order.into_iter().enumerate().for_each(|(i, j)| write(i, j));
        return;
    }
    let bits = 8 * key_bytes::<T>() as u32;
    if bits <= 32 {
        let (mut items, mut spare) = (Scratch::<Indexed<u32>>::new(n), Scratch::new(n));
        let items = encode(items.slots(), |i| Indexed { key: argsort_key(read(i)) as u32, index: i as u32 });
        radix_sort(items, spare.slots(), bits, |i, item| write(i, item.index));
    } else {
        let (mut items, mut spare) = (Scratch::<Indexed<u64>>::new(n), Scratch::new(n));
        let items = encode(items.slots(), |i| Indexed { key: argsort_key(read(i)), index: i as u32 });
        radix_sort(items, spare.slots(), bits, |i, item| write(i, item.index));
    }
}

/// Lexicographic order of complex numbers, NaN parts last.
pub fn complex_cmp(a: C64, b: C64) -> std::cmp::Ordering {
    let k = |v: f32| key(v);
    (k(a.re), k(a.im)).cmp(&(k(b.re), k(b.im)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Floats with NaNs, signed zeros, infinities and many repeats, long enough for the
    /// threaded radix path.
    fn awkward_line(n: usize) -> Vec<f32> {
        let specials = [f32::NAN, -0.0, 0.0, f32::INFINITY, f32::NEG_INFINITY, 1.5, -1.5];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 5 == 0 {
                    specials[(state % specials.len() as u64) as usize]
                } else {
                    ((state >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 100.0) as f32
                }
            })
            .collect()
    }

    #[test]
    fn long_lines_sort_like_a_stable_comparison_sort() {
        for n in [600, 100_000] {
            let line = awkward_line(n);
            let out = Mutex::new(vec![0f32; n]);
            sort_line(n, |i| line[i], |i, v| out.lock().unwrap()[i] = v);
            let mut expected = line.clone();
            expected.sort_by_key(|&v| key(v));
            let got = out.into_inner().unwrap();
            assert!(got.iter().zip(&expected).all(|(a, b)| a == b || (a.is_nan() && b.is_nan())), "sort, n = {n}");

            let order = Mutex::new(vec![0u32; n]);
            argsort_line(n, |i| line[i], |i, j| order.lock().unwrap()[i] = j);
            let mut expected: Vec<u32> = (0..n as u32).collect();
            // Stable, NaN last, -0.0 equal to +0.0: what NumPy's stable argsort gives.
            expected.sort_by(|&a, &b| {
                let (x, y) = (line[a as usize], line[b as usize]);
                x.partial_cmp(&y).unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
            });
            assert_eq!(order.into_inner().unwrap(), expected, "argsort, n = {n}");
        }
    }
}
