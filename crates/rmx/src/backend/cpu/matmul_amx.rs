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
use super::bf16_lines::{store_block, Lines};
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

impl Lines {
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
            let line = self.line(i);
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
    let a_lines: Vec<Lines> = batch_offsets.iter().map(|&(oa, _)| Lines::rows_of(a, oa, m, k)).collect();
    let b_lines: Vec<Lines> = batch_offsets.iter().map(|&(_, ob)| Lines::columns_of(b, ob, n, k)).collect();
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
            let corner = po.get().wrapping_add(entry * m * n + i0 * n + j0);
            // SAFETY: this task alone writes rows i0.. and columns j0.. of this block.
            unsafe { store_block(&c.0, BLOCK, corner, n, (BLOCK.min(m - i0), BLOCK.min(n - j0))) };
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
