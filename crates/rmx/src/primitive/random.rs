//! `RandomBits`: counter-based random bits from threefry-2x32 keys, laid out exactly as MLX
//! lays them out, so the same key gives the same numbers as MLX on every backend.

use super::Primitive;
use crate::array::Array;
use crate::error::{Error, Result};
use crate::storage::alloc_output;

/// Threefry-2x32 with 20 rounds: the hash of a 64-bit counter under a 64-bit key.
pub fn threefry2x32(key: (u32, u32), count: (u32, u32)) -> (u32, u32) {
    const ROTATIONS: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];
    let ks = [key.0, key.1, key.0 ^ key.1 ^ 0x1BD1_1BDA];
    let mut x = [count.0.wrapping_add(ks[0]), count.1.wrapping_add(ks[1])];
    for i in 0..5 {
        for &r in &ROTATIONS[i % 2] {
            x[0] = x[0].wrapping_add(x[1]);
            x[1] = x[1].rotate_left(r) ^ x[0];
        }
        x[0] = x[0].wrapping_add(ks[(i + 1) % 3]);
        x[1] = x[1].wrapping_add(ks[(i + 2) % 3]).wrapping_add(i as u32 + 1);
    }
    (x[0], x[1])
}

/// `n` random words of one key: the first half and the second half of the words come from
/// the two lanes of consecutive counters, as in MLX.
fn key_words(key: (u32, u32), n: usize) -> Vec<u32> {
    let mut out = vec![0u32; n.max(1)];
    let half = n / 2;
    let even = n.is_multiple_of(2);
    let (mut c0, mut c1) = (0usize, half + usize::from(!even));
    while c0 + 1 < half {
        let (a, b) = threefry2x32(key, (c0 as u32, c1 as u32));
        out[c0] = a;
        out[c1] = b;
        c0 += 1;
        c1 += 1;
    }
    if c0 < half {
        let (a, b) = threefry2x32(key, (c0 as u32, c1 as u32));
        out[c0] = a;
        out[c1] = b;
        c0 += 1;
    }
    if !even {
        out[half] = threefry2x32(key, (c0 as u32, 0)).0;
    }
    out
}

/// Random bits filling the output (u8, u16 or u32) from one or more keys (`[..., 2]` u32);
/// each key fills an equal share of the output.
#[derive(Debug)]
pub struct RandomBits;

impl Primitive for RandomBits {
    fn name(&self) -> &'static str {
        "random_bits"
    }

    fn eval_cpu(&self, inputs: &[Array], outputs: &[Array]) -> Result<()> {
        let out = &outputs[0];
        let keys = inputs[0].to_vec::<u32>()?;
        let num_keys = keys.len() / 2;
        if num_keys == 0 || !out.size().is_multiple_of(num_keys) {
            return Err(Error::arg("random_bits", format!("{num_keys} keys cannot fill {} elements evenly", out.size())));
        }
        let storage = alloc_output(out.shape(), out.dtype())?;
        let bytes_per_key = out.nbytes() / num_keys;
        let dst = storage.ptr::<u8>() as *mut u8;
        for k in 0..num_keys {
            let words = key_words((keys[2 * k], keys[2 * k + 1]), bytes_per_key.div_ceil(4));
            // SAFETY: each key writes its own `bytes_per_key` slice of the fresh output.
            unsafe { std::ptr::copy_nonoverlapping(words.as_ptr() as *const u8, dst.add(k * bytes_per_key), bytes_per_key) };
        }
        out.set_storage(storage);
        Ok(())
    }
}
