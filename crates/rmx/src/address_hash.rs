//! Sets and maps keyed by addresses (graph nodes), hashed with one multiplication. std's
//! default SipHash resists keys chosen by an adversary, which addresses never are, and took 8%
//! of the time of evaluating small graphs (session 26 profile).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A set of addresses (or of keys that hash as a few integers).
pub(crate) type AddressSet<K> = HashSet<K, BuildHasherDefault<AddressHasher>>;

/// A map keyed by addresses (or by keys that hash as a few integers).
pub(crate) type AddressMap<K, V> = HashMap<K, V, BuildHasherDefault<AddressHasher>>;

/// Folds each integer written into the state by a 64x64 → 128-bit multiplication whose halves
/// are xored: every bit of the key reaches both the low bits (the bucket) and the high bits
/// (the table's tag), though aligned addresses end in zero bits.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        let m = u128::from(self.0 ^ v) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Addresses 16 bytes apart spread over the low bits (buckets) and the top 7 bits (tags).
    #[test]
    fn aligned_addresses_spread_over_buckets_and_tags() {
        let hasher = BuildHasherDefault::<AddressHasher>::default();
        let hashes: Vec<u64> = (0..4096usize).map(|i| hasher.hash_one((0x7f00_0000_0000 + 16 * i) as *const u8)).collect();
        let distinct = |f: &dyn Fn(u64) -> u64| hashes.iter().map(|&h| f(h)).collect::<AddressSet<u64>>().len();
        assert!(distinct(&|h| h & 1023) > 900, "low bits: {}", distinct(&|h| h & 1023));
        assert_eq!(distinct(&|h| h >> 57), 128);
        let set: AddressSet<*const u8> = (0..100usize).map(|i| (64 * i) as *const u8).collect();
        assert!(set.contains(&((64 * 99) as *const u8)) && !set.contains(&(65 as *const u8)));
    }
}
