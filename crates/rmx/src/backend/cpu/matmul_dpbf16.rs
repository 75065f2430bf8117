//! bfloat16 matrix products with AVX-512 BF16 (`vdpbf16ps`, Zen 4 and Intel since Cooper
//! Lake): sums in float32, each output rounded to bfloat16 once (to nearest even), as the
//! float32 path does, at up to twice the float32 multiply-add rate.
//!
//! One `vdpbf16ps` multiplies 16 pairs of bfloat16 values by 16 other pairs and adds both
//! products to 16 float32 lanes (the products are exact in float32; like every user of the
//! instruction, subnormal inputs count as zero). Both operands are packed first, pairs of
//! consecutive k values as one 32-bit word: A in blocks of [`MR`] rows with the block's words
//! for one pair side by side, B in panels of [`NR`] columns likewise. The micro-kernel keeps
//! an `MR × NR` float32 block in 24 registers over the whole of k, broadcasting one A word
//! per row against three 16-column B vectors per pair. Tasks are a band of A blocks (sized to
//! stay in the core's L2 cache) against a run of B panels.

use super::bf16_lines::{store_block, Lines};
use super::matmul::MatOperand;
use super::scratch::Scratch;
use super::strided::SendPtr;
use crate::storage::Storage;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of one micro-kernel block.
const MR: usize = 8;
/// 16-lane vectors across one micro-kernel block.
const NB: usize = 3;
/// Columns of one micro-kernel block.
const NR: usize = 16 * NB;
/// Bytes of packed A one task walks for every B panel (the rest of a 1–2 MB L2 holds the
/// panel being read).
const A_BAND_BYTES: usize = 384 << 10;
/// B panels one task covers.
const PANELS_PER_TASK: usize = 8;
/// Multiply-adds below which a product runs on one thread.
const PARALLEL_MIN: usize = 1 << 21;

/// Whether this CPU runs the kernel (AVX-512 F/BW/BF16, and AVX-512 not disabled).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| super::avx512_bw_available() && is_x86_feature_detected!("avx512bf16"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Packs every batch entry's lines in groups of `width`: group `g` holds, for each pair `p`,
/// the words of lines `g·width .. g·width + width` side by side (zeros past the last line).
fn pack(lines: &[Lines], width: usize, pairs: usize, parallel: bool) -> Scratch<u32> {
    let groups = lines[0].rows.div_ceil(width);
    let per_group = pairs * width;
    let mut packed = Scratch::<u32>::new(lines.len() * groups * per_group);
    if per_group == 0 {
        return packed;
    }
    let slots = packed.slots();
    // SAFETY: a u32 slot is written whole before anything reads it (every word below).
    let words: &mut [u32] = unsafe { &mut *(slots as *mut [std::mem::MaybeUninit<u32>] as *mut [u32]) };
    let fill = |(index, group): (usize, &mut [u32])| {
        let (lines, first) = (&lines[index / groups], (index % groups) * width);
        // Pairs whose words all lie inside the matrix skip the edge checks.
        let inside = if first + width <= lines.rows { lines.len / 2 } else { 0 };
        for (p, row) in group.chunks_exact_mut(width).enumerate() {
            // SAFETY: `lines` describe views of the operands; below `inside`, every line
            // `first..first + width` has values `2p` and `2p + 1`.
            unsafe {
                if p < inside && lines.row_stride == 1 {
                    // Lines side by side (a row-major B): two contiguous runs to interleave.
                    let lo = std::slice::from_raw_parts(lines.line(first).offset(2 * p as isize * lines.step), width);
                    let hi = std::slice::from_raw_parts(lines.line(first).offset((2 * p + 1) as isize * lines.step), width);
                    row.iter_mut().zip(lo.iter().zip(hi)).for_each(|(word, (&l, &h))| *word = l as u32 | (h as u32) << 16);
                } else if p < inside && lines.step == 1 {
                    // Contiguous lines (a row-major A): each pair is one unaligned word.
                    row.iter_mut()
                        .enumerate()
                        .for_each(|(c, word)| *word = (lines.line(first + c).add(2 * p) as *const u32).read_unaligned());
                } else {
                    // Edges and other strides.
                    row.iter_mut().enumerate().for_each(|(c, word)| *word = lines.pair(first + c, p));
                }
            }
        }
    };
    if parallel {
        words.par_chunks_mut(per_group).enumerate().for_each(fill);
    } else {
        words.chunks_mut(per_group).enumerate().for_each(fill);
    }
    packed
}

/// `out[b] = a[b] @ b[b]` for bfloat16 operands; `out` is row-major `[batch, m, n]`.
///
/// # Panics
/// When the kernel is not [`available`] (the caller checks).
pub fn matmul((m, n, k): (usize, usize, usize), a: &MatOperand, b: &MatOperand, batch_offsets: &[(isize, isize)], out: &Storage) {
    assert!(available(), "the AVX-512 BF16 kernel runs only where the CPU has it");
    if m == 0 || n == 0 || batch_offsets.is_empty() {
        return;
    }
    let batch = batch_offsets.len();
    let parallel = batch * m * n * k.max(1) >= PARALLEL_MIN;
    let pairs = k.div_ceil(2);
    let a_lines: Vec<Lines> = batch_offsets.iter().map(|&(oa, _)| Lines::rows_of(a, oa, m, k)).collect();
    let b_lines: Vec<Lines> = batch_offsets.iter().map(|&(_, ob)| Lines::columns_of(b, ob, n, k)).collect();
    let mut a_packed = pack(&a_lines, MR, pairs, parallel);
    let mut b_packed = pack(&b_lines, NR, pairs, parallel);
    let (blocks, panels) = (m.div_ceil(MR), n.div_ceil(NR));
    let band = (A_BAND_BYTES / (MR * pairs.max(1) * 4)).clamp(1, blocks);
    let (bands, runs) = (blocks.div_ceil(band), panels.div_ceil(PANELS_PER_TASK));
    let (pa, pb) = (SendPtr(a_packed.slots().as_mut_ptr() as *mut u32), SendPtr(b_packed.slots().as_mut_ptr() as *mut u32));
    let po = SendPtr(out.ptr::<u16>() as *mut u16);
    // One task: one band of A blocks of one batch entry against one run of B panels.
    let task = |index: usize| {
        let (entry, rest) = (index / (bands * runs), index % (bands * runs));
        let (run, band_index) = (rest / bands, rest % bands);
        let mut tile = Tile([0.0; MR * NR]);
        for panel in run * PANELS_PER_TASK..((run + 1) * PANELS_PER_TASK).min(panels) {
            let b_panel = pb.get().wrapping_add((entry * panels + panel) * pairs * NR) as *const u32;
            for block in band_index * band..((band_index + 1) * band).min(blocks) {
                let a_block = pa.get().wrapping_add((entry * blocks + block) * pairs * MR) as *const u32;
                // SAFETY: the CPU has the extensions (asserted above); each packed group holds
                // `pairs` rows of its width.
                unsafe { kernel(a_block, b_panel, pairs, &mut tile) };
                let (i0, j0) = (block * MR, panel * NR);
                let corner = po.get().wrapping_add(entry * m * n + i0 * n + j0);
                // SAFETY: this task alone writes rows i0.. and columns j0.. of this block.
                unsafe { store_block(&tile.0, NR, corner, n, (MR.min(m - i0), NR.min(n - j0))) };
            }
        }
    };
    let tasks = batch * bands * runs;
    if parallel {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// An `MR × NR` float32 output block, aligned for the vector stores.
#[repr(C, align(64))]
struct Tile([f32; MR * NR]);

/// `tile = A_block · B_panel` over `pairs` packed pairs of k values.
///
/// # Safety
/// The CPU has AVX-512 F/BW/BF16; `a` holds `pairs · MR` words and `b` `pairs · NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn kernel(a: *const u32, b: *const u32, pairs: usize, tile: &mut Tile) {
    let mut acc = [[_mm512_setzero_ps(); NB]; MR];
    for p in 0..pairs {
        // SAFETY: pair p's words are inside both packed groups; 16 words are a valid
        // `__m512bh` (32 bfloat16 values) and a broadcast word is one pair for every lane.
        unsafe {
            let bv: [__m512bh; NB] = std::array::from_fn(|j| std::mem::transmute(_mm512_loadu_si512(b.add(p * NR + 16 * j) as *const _)));
            for (r, row) in acc.iter_mut().enumerate() {
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(p * MR + r) as i32));
                for (lanes, &bj) in row.iter_mut().zip(&bv) {
                    *lanes = _mm512_dpbf16_ps(*lanes, av, bj);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, lanes) in row.iter().enumerate() {
            // SAFETY: the tile holds MR rows of NR floats.
            unsafe { _mm512_storeu_ps(tile.0.as_mut_ptr().add(r * NR + 16 * j), *lanes) };
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(_: *const u32, _: *const u32, _: usize, _: &mut Tile) {
    unreachable!("the kernel is selected only on x86-64")
}
