//! bfloat16 matrix products on AMX tiles ([`super::amx`]): sums in float32, each output
//! rounded to bfloat16 once (to nearest even), as the float32 path does.
//!
//! Both operands are first packed into tiles (any strides; zeros pad the edges), pairs of
//! consecutive k values as one 32-bit word: A into strips of 16 rows, one tile per 32 values
//! of k; B into strips of 16 columns with the pairs of each column down a tile row, as
//! `tdpbf16ps` reads them. The product then runs over 32×32 output blocks, two A strips
//! against two B strips, in panels of B columns sized to stay in the core's L2 cache while
//! every A strip passes them; the blocks are shared among threads.

use super::amx::{Tiles, TILE_ROWS, TILE_SIZE};
use super::matmul::MatOperand;
use super::scratch::Scratch;
use super::strided::SendPtr;
use crate::storage::Storage;
use rayon::prelude::*;

/// 32-bit words (bfloat16 pairs) in one tile: 16 rows of 16.
const TILE_WORDS: usize = TILE_SIZE / 4;
/// Values of k one tile covers.
const TILE_K: usize = 32;
/// Rows (of A) or columns (of B) of one strip.
const STRIP: usize = TILE_ROWS;
/// Side of the output block one micro-kernel call computes.
const BLOCK: usize = 2 * STRIP;
/// Bytes of packed B a panel may hold (the rest of a 2 MB L2 keeps the current A strips).
const PANEL_BYTES: usize = 1 << 20;
/// Multiply-adds below which a product runs on one thread.
const PARALLEL_MIN: usize = 1 << 21;

/// A matrix read as `rows` lines of `len` bfloat16 values (the lines of A are its rows, those
/// of B its columns: the values each output multiplies along k).
#[derive(Clone, Copy)]
struct Lines {
    ptr: SendPtr<u16>,
    rows: usize,
    len: usize,
    row_stride: isize,
    step: isize,
}

impl Lines {
    /// Values `2p` and `2p + 1` of line `i` as one word (the first in the low half), zero
    /// where outside the matrix.
    ///
    /// # Safety
    /// The view covers `rows × len` values through its strides.
    #[inline(always)]
    unsafe fn pair(&self, i: usize, p: usize) -> u32 {
        let (k0, k1) = (2 * p, 2 * p + 1);
        if i >= self.rows || k0 >= self.len {
            return 0;
        }
        let line = self.ptr.get().wrapping_offset(i as isize * self.row_stride);
        // SAFETY: (i, k0) and, when inside, (i, k1) are in the view.
        unsafe {
            let lo = *line.offset(k0 as isize * self.step) as u32;
            let hi = if k1 < self.len { *line.offset(k1 as isize * self.step) as u32 } else { 0 };
            lo | hi << 16
        }
    }

    /// Fills `tile` with the pairs of lines `16s..16s+16` and k values `32t..32t+32`: row `r`
    /// holds line `16s + r` (A's layout), or with `across` set, row `r` holds pair `r` of
    /// each of the 16 lines (B's layout).
    ///
    /// # Safety
    /// As [`Lines::pair`].
    unsafe fn pack_tile(&self, s: usize, t: usize, across: bool, tile: &mut [u32]) {
        let inside = (s + 1) * STRIP <= self.rows && (t + 1) * TILE_K <= self.len;
        for r in 0..STRIP {
            let i = s * STRIP + r;
            let line = self.ptr.get().wrapping_offset(i as isize * self.row_stride);
            for q in 0..STRIP {
                let p = t * STRIP + q;
                let word = if inside && self.step == 1 {
                    // SAFETY: the whole tile is inside the view and the line is contiguous.
                    unsafe { (line.add(2 * p) as *const u32).read_unaligned() }
                } else {
                    // SAFETY: forwarded from the caller.
                    unsafe { self.pair(i, p) }
                };
                tile[if across { q * STRIP + r } else { r * STRIP + q }] = word;
            }
        }
    }
}

/// Packs `strips` strips of `steps` tiles each for every batch entry's lines.
fn pack(lines: &[Lines], strips: usize, steps: usize, across: bool, parallel: bool) -> Scratch<u32> {
    let per_strip = steps * TILE_WORDS;
    let mut packed = Scratch::<u32>::new(lines.len() * strips * per_strip);
    let slots = packed.slots();
    // SAFETY: a u32 slot is written whole before anything reads it (every tile word below).
    let words: &mut [u32] = unsafe { &mut *(slots as *mut [std::mem::MaybeUninit<u32>] as *mut [u32]) };
    let fill = |(index, strip): (usize, &mut [u32])| {
        let (entry, s) = (index / strips, index % strips);
        for (t, tile) in strip.chunks_exact_mut(TILE_WORDS).enumerate() {
            // SAFETY: `lines` describe views of the operands.
            unsafe { lines[entry].pack_tile(s, t, across, tile) };
        }
    };
    if parallel {
        words.par_chunks_mut(per_strip).enumerate().for_each(fill);
    } else {
        words.chunks_mut(per_strip).enumerate().for_each(fill);
    }
    packed
}

/// Rounds a float32 to the nearest bfloat16 (ties to even; NaN stays NaN, quieted).
#[inline(always)]
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        ((bits >> 16) | 0x40) as u16
    } else {
        (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16
    }
}

/// `out[b] = a[b] @ b[b]` for bfloat16 operands on AMX; `out` is row-major `[batch, m, n]`.
///
/// # Panics
/// When AMX is not [`available`](super::amx::available) (the caller checks).
pub fn matmul((m, n, k): (usize, usize, usize), a: &MatOperand, b: &MatOperand, batch_offsets: &[(isize, isize)], out: &Storage) {
    assert!(super::amx::available(), "the AMX kernel runs only where AMX is available");
    if m == 0 || n == 0 {
        return;
    }
    let batch = batch_offsets.len();
    let parallel = batch * m * n * k.max(1) >= PARALLEL_MIN;
    let steps = k.div_ceil(TILE_K).max(1);
    let (row_pairs, col_pairs) = (m.div_ceil(BLOCK), n.div_ceil(BLOCK));
    let view = |op: &MatOperand, offset: isize, rows: usize, row_stride: isize, step: isize| Lines {
        ptr: SendPtr(op.storage.ptr::<u16>().wrapping_offset(offset) as *mut u16),
        rows,
        len: k,
        row_stride,
        step,
    };
    let a_lines: Vec<Lines> = batch_offsets.iter().map(|&(oa, _)| view(a, oa, m, a.row_stride, a.col_stride)).collect();
    let b_lines: Vec<Lines> = batch_offsets.iter().map(|&(_, ob)| view(b, ob, n, b.col_stride, b.row_stride)).collect();
    let mut a_packed = pack(&a_lines, 2 * row_pairs, steps, false, parallel);
    let mut b_packed = pack(&b_lines, 2 * col_pairs, steps, true, parallel);
    let strip_bytes = steps * TILE_SIZE;
    let panel_pairs = (PANEL_BYTES / (2 * strip_bytes)).clamp(1, col_pairs);
    let panels = col_pairs.div_ceil(panel_pairs);
    let (pa, pb) = (SendPtr(a_packed.slots().as_mut_ptr() as *mut u8), SendPtr(b_packed.slots().as_mut_ptr() as *mut u8));
    let po = SendPtr(out.ptr::<u16>() as *mut u16);
    // One task: one A strip pair of one batch entry against one panel of B strip pairs.
    let task = |index: usize| {
        let (entry, rest) = (index / (panels * row_pairs), index % (panels * row_pairs));
        let (panel, rp) = (rest / row_pairs, rest % row_pairs);
        let strip = |base: &SendPtr<u8>, strips: usize, s: usize| base.get().wrapping_add((entry * strips + s) * strip_bytes) as *const u8;
        let a_strips = [strip(&pa, 2 * row_pairs, 2 * rp), strip(&pa, 2 * row_pairs, 2 * rp + 1)];
        let mut c = Block([0.0; BLOCK * BLOCK]);
        // SAFETY: AMX is available (asserted above).
        let tiles = unsafe { Tiles::configure() };
        for cp in panel * panel_pairs..((panel + 1) * panel_pairs).min(col_pairs) {
            let b_strips = [strip(&pb, 2 * col_pairs, 2 * cp), strip(&pb, 2 * col_pairs, 2 * cp + 1)];
            // SAFETY: each strip holds `steps` packed tiles; `c` holds a 32×32 block.
            unsafe { tiles.product_32x32(a_strips, b_strips, steps, c.0.as_mut_ptr()) };
            let (i0, j0) = (rp * BLOCK, cp * BLOCK);
            let (rows, cols) = (BLOCK.min(m - i0), BLOCK.min(n - j0));
            for (i, line) in c.0.chunks_exact(BLOCK).take(rows).enumerate() {
                // SAFETY: this task alone writes rows i0.. and columns j0.. of this block.
                let dst = unsafe { std::slice::from_raw_parts_mut(po.get().add(entry * m * n + (i0 + i) * n + j0), cols) };
                for (d, &v) in dst.iter_mut().zip(line) {
                    *d = to_bf16(v);
                }
            }
        }
    };
    let tasks = batch * panels * row_pairs;
    if parallel {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// A 32×32 float32 output block, aligned for the tile stores.
#[repr(C, align(64))]
struct Block([f32; BLOCK * BLOCK]);

#[cfg(test)]
mod tests {
    use super::to_bf16;
    use half::bf16;

    #[test]
    fn rounding_matches_half() {
        // Halfway cases (to the even neighbour, down then up), overflow to infinity, subnormals.
        let ties = [f32::from_bits(0x3F80_8000), f32::from_bits(0x3F81_8000), f32::from_bits(0x7F7F_FFFF)];
        let values = [0.0f32, -0.0, 1.0, 3.4e38, f32::INFINITY, -f32::INFINITY, 1e-40, f32::NAN, -7.123_456].into_iter().chain(ties);
        for v in values.chain((0..10_000).map(|i| (i as f32 * 0.7371).sin() * 1e3)) {
            let want = bf16::from_f32(v).to_bits();
            assert_eq!(to_bf16(v), want, "{v}");
        }
    }
}
