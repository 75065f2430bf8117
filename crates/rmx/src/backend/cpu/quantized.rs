//! CPU kernels of MLX's affine quantization: per-group scale/bias computation, the
//! LSB-first bit packing of every bit width, dequantization, and the quantized
//! matrix-vector product that reads each packed weight once.

use half::{bf16, f16};
use rayon::prelude::*;

/// The dtypes scales and biases come in (float32, float16, bfloat16).
pub trait Scale: Copy + Send + Sync {
    /// This type's dtype (for kernels that convert whole vectors of them).
    const DTYPE: crate::dtype::Dtype;
    fn to_f32(self) -> f32;
}

impl Scale for f32 {
    const DTYPE: crate::dtype::Dtype = crate::dtype::Dtype::F32;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Scale for f16 {
    const DTYPE: crate::dtype::Dtype = crate::dtype::Dtype::F16;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

impl Scale for bf16 {
    const DTYPE: crate::dtype::Dtype = crate::dtype::Dtype::BF16;
    /// The exact widening (the upper half of an f32), which vectorizes.
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from_bits((self.to_bits() as u32) << 16)
    }
}

/// The largest group size (MLX's are 32, 64 and 128).
const MAX_GROUP: usize = 128;

/// Packs `q` (values below `2^bits`) into `out` as one little-endian LSB-first bit stream.
pub fn pack(q: &[u32], bits: u32, out: &mut [u32]) {
    let (mut acc, mut filled, mut w) = (0u64, 0u32, 0usize);
    for &v in q {
        acc |= (v as u64) << filled;
        filled += bits;
        if filled >= 32 {
            out[w] = acc as u32;
            w += 1;
            acc >>= 32;
            filled -= 32;
        }
    }
    if filled > 0 {
        out[w] = acc as u32;
    }
}

/// Unpacks `out.len()` values of `bits` bits from the start of `words`, as f32.
#[inline]
pub fn unpack(words: &[u32], bits: u32, out: &mut [f32]) {
    match bits {
        // Whole values per word: a fixed shift per lane, fully vectorized.
        2 => unpack_whole::<2, 16>(words, out),
        4 => unpack_whole::<4, 8>(words, out),
        8 => unpack_whole::<8, 4>(words, out),
        _ => {
            let mask = (1u64 << bits) - 1;
            let (mut acc, mut have, mut w) = (0u64, 0u32, 0usize);
            for o in out.iter_mut() {
                if have < bits {
                    acc |= (words[w] as u64) << have;
                    w += 1;
                    have += 32;
                }
                *o = (acc & mask) as f32;
                acc >>= bits;
                have -= bits;
            }
        }
    }
}

/// [`unpack`] for widths that divide 32: `PER = 32 / BITS` values per word, each word's
/// values unpacked as one fixed-size array (a broadcast, variable shift and mask per lane).
#[inline(always)]
fn unpack_whole<const BITS: u32, const PER: usize>(words: &[u32], out: &mut [f32]) {
    let mask = (1u32 << BITS) - 1;
    let (whole, tail) = out.as_chunks_mut::<PER>();
    for (chunk, &word) in whole.iter_mut().zip(words) {
        for (i, o) in chunk.iter_mut().enumerate() {
            // Through i32: the unsigned conversion would not vectorize.
            *o = ((word >> (i as u32 * BITS)) & mask) as i32 as f32;
        }
    }
    if let Some(&word) = words.get(whole.len()) {
        for (i, o) in tail.iter_mut().enumerate() {
            *o = ((word >> (i as u32 * BITS)) & mask) as i32 as f32;
        }
    }
}

/// Quantizes rows of `k` floats in groups of `g` (MLX's zero-exact affine scheme, computed
/// in f32 with round-half-to-even): fills `wq` (`k * bits / 32` words per row), `scales` and
/// `biases` (`k / g` per row).
pub fn quantize(w: &[f32], g: usize, bits: u32, wq: &mut [u32], scales: &mut [f32], biases: &mut [f32]) {
    let words_per_group = g * bits as usize / 32;
    let n_bins = ((1u32 << bits) - 1) as f32;
    wq.par_chunks_mut(words_per_group)
        .zip(scales.par_iter_mut().zip(biases.par_iter_mut()))
        .zip(w.par_chunks(g))
        .with_min_len(64)
        .for_each(|((packed, (scale_out, bias_out)), group)| {
            let (lo, hi) = group.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let low_edge = lo.abs() > hi.abs();
            let mut scale = ((hi - lo) / n_bins).max(1e-7);
            if !low_edge {
                scale = -scale;
            }
            let edge = if low_edge { lo } else { hi };
            let q0 = (edge / scale).round_ties_even();
            let bias = if q0 != 0.0 {
                scale = edge / q0;
                edge
            } else {
                0.0
            };
            // Groups hold at most 128 values: no allocation per group.
            let mut q = [0u32; MAX_GROUP];
            for (qi, &v) in q.iter_mut().zip(group) {
                *qi = ((v - bias) / scale).round_ties_even().clamp(0.0, n_bins) as u32;
            }
            pack(&q[..group.len()], bits, packed);
            *scale_out = scale;
            *bias_out = bias;
        });
}

/// `out[n, k] = scales[n, k/g] * q[n, k] + biases[n, k/g]` for rows of `k` values.
pub fn dequantize<S: Scale>(wq: &[u32], scales: &[S], biases: &[S], g: usize, bits: u32, out: &mut [f32]) {
    let words_per_group = g * bits as usize / 32;
    out.par_chunks_mut(g).zip(wq.par_chunks(words_per_group)).zip(scales.par_iter().zip(biases)).with_min_len(64).for_each(
        |((group, packed), (s, b))| {
            unpack(packed, bits, group);
            let (s, b) = (s.to_f32(), b.to_f32());
            for v in group.iter_mut() {
                *v = s * *v + b;
            }
        },
    );
}

/// `out[m, n] = Σ_k x[m, k] · dequant(w)[n, k]` for `m` rows of `x` (`[m, k]`) and a
/// quantized `w` of `n` rows: each packed group is unpacked once and used for every row of
/// `x`, so the weights stream through memory once (the decode case, small `m`).
#[allow(clippy::too_many_arguments)]
pub fn qmv<S: Scale>(
    x: &[f32],
    m: usize,
    wq: &[u32],
    scales: &[S],
    biases: &[S],
    n: usize,
    k: usize,
    g: usize,
    bits: u32,
    out: &mut [f32],
) {
    let groups = k / g;
    let words_per_row = k * bits as usize / 32;
    let words_per_group = g * bits as usize / 32;
    // Σ x over each group, shared by every output row (the bias term).
    let xsum: Vec<f32> = x.chunks(g).map(|c| c.iter().sum()).collect();
    // One row of x and groups of whole 8-word blocks: the lane-transposed kernel.
    let per = 32 / bits as usize;
    let lanes_fit = m == 1 && matches!(bits, 2 | 4 | 8) && words_per_group.is_multiple_of(LANES);
    let xt = if lanes_fit { transpose_lanes(x, per) } else { Vec::new() };
    by_weight_rows(out, m, n, |first, block| {
        let mut q = vec![0f32; g];
        for (r, acc) in block.chunks_mut(m).enumerate() {
            let row = first + r;
            let packed = &wq[row * words_per_row..(row + 1) * words_per_row];
            acc.fill(0.0);
            if m == 1 && matches!(bits, 2 | 4 | 8) {
                // One row of x: multiply straight from the packed words, eight words per
                // step where the groups split into whole blocks.
                let (srow, brow) = (&scales[row * groups..(row + 1) * groups], &biases[row * groups..(row + 1) * groups]);
                acc[0] = match (bits, lanes_fit) {
                    (2, true) => row_dot_lanes::<2, 16, S>(packed, &xt, srow, brow, &xsum, g),
                    (4, true) => row_dot_lanes::<4, 8, S>(packed, &xt, srow, brow, &xsum, g),
                    (_, true) => row_dot_lanes::<8, 4, S>(packed, &xt, srow, brow, &xsum, g),
                    (2, false) => row_dot_packed::<2, 16, S>(packed, x, srow, brow, &xsum, g),
                    (4, false) => row_dot_packed::<4, 8, S>(packed, x, srow, brow, &xsum, g),
                    (_, false) => row_dot_packed::<8, 4, S>(packed, x, srow, brow, &xsum, g),
                };
                continue;
            }
            for j in 0..groups {
                let words = &packed[j * words_per_group..(j + 1) * words_per_group];
                let (s, b) = (scales[row * groups + j].to_f32(), biases[row * groups + j].to_f32());
                unpack(words, bits, &mut q);
                for (mi, a) in acc.iter_mut().enumerate() {
                    let xs = &x[mi * k + j * g..mi * k + (j + 1) * g];
                    *a += s * dot(xs, &q) + b * xsum[mi * groups + j];
                }
            }
        }
    });
}

/// Weight rows per parallel task of the matrix-vector kernels.
const ROWS_PER_TASK: usize = 16;

/// Fills `out` (`[m, n]` row-major: `m` rows of x, `n` weight rows) through
/// `task(first_row, results)`, run in parallel, where `results` holds the outputs of up to
/// [`ROWS_PER_TASK`] consecutive weight rows, `m` per row (weight-row-major; one row of x
/// writes `out` directly, more go through a scratch buffer transposed at the end).
pub fn by_weight_rows(out: &mut [f32], m: usize, n: usize, task: impl Fn(usize, &mut [f32]) + Sync) {
    if m == 1 {
        out.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each(|(t, block)| task(t * ROWS_PER_TASK, block));
        return;
    }
    let mut scratch = vec![0f32; n * m];
    scratch.par_chunks_mut(ROWS_PER_TASK * m).enumerate().for_each(|(t, block)| task(t * ROWS_PER_TASK, block));
    for (mi, row) in out.chunks_exact_mut(n).enumerate() {
        for (r, o) in row.iter_mut().enumerate() {
            *o = scratch[r * m + mi];
        }
    }
}

/// `Σ_k x[k] · (s[k/g] q[k] + b[k/g])` over one packed row, given `group(words, xs)`: the
/// `N` partial sums of one group's unscaled dot product. The partial sums are scaled in
/// their lanes, so the only horizontal sum is the row's.
#[inline(always)]
fn row_dot<const N: usize, S: Scale>(
    words: &[u32],
    x: &[f32],
    scales: &[S],
    biases: &[S],
    xsum: &[f32],
    g: usize,
    words_per_group: usize,
    group: impl Fn(&[u32], &[f32]) -> [f32; N],
) -> f32 {
    let mut total = [0f32; N];
    let mut bias_term = 0f32;
    for (j, (gw, gx)) in words.chunks_exact(words_per_group).zip(x.chunks_exact(g)).enumerate() {
        let acc = group(gw, gx);
        let s = scales[j].to_f32();
        for i in 0..N {
            total[i] = s.mul_add(acc[i], total[i]);
        }
        bias_term = biases[j].to_f32().mul_add(xsum[j], bias_term);
    }
    total.iter().sum::<f32>() + bias_term
}

/// One packed row whose words hold `PER = 32 / BITS` values each, a word at a time.
#[inline]
fn row_dot_packed<const BITS: u32, const PER: usize, S: Scale>(
    words: &[u32],
    x: &[f32],
    scales: &[S],
    biases: &[S],
    xsum: &[f32],
    g: usize,
) -> f32 {
    let mask = (1u32 << BITS) - 1;
    row_dot::<PER, S>(words, x, scales, biases, xsum, g, g / PER, |gw, gx| {
        let mut acc = [0f32; PER];
        for (&word, xs) in gw.iter().zip(gx.chunks_exact(PER)) {
            for i in 0..PER {
                // Through i32: the unsigned conversion would not vectorize.
                let q = ((word >> (i as u32 * BITS)) & mask) as i32 as f32;
                acc[i] = q.mul_add(xs[i], acc[i]);
            }
        }
        acc
    })
}

/// Packed words processed side by side by [`row_dot_lanes`] (one 256-bit vector).
const LANES: usize = 8;

/// `x` reordered so that, within each block of `LANES` words (`LANES * per` values), the
/// `i`-th value of every word sits next to the others: `xt[b + i * LANES + w] =
/// x[b + w * per + i]`. Then one shift applies to all lanes at once.
fn transpose_lanes(x: &[f32], per: usize) -> Vec<f32> {
    let block = LANES * per;
    let mut xt = vec![0f32; x.len()];
    for (src, dst) in x.chunks_exact(block).zip(xt.chunks_exact_mut(block)) {
        for w in 0..LANES {
            for i in 0..per {
                dst[i * LANES + w] = src[w * per + i];
            }
        }
    }
    xt
}

/// [`row_dot_packed`] over `LANES` words at a time with `x` lane-transposed
/// ([`transpose_lanes`]): every step is one shift, mask, convert and multiply-add across
/// eight words, which the compiler maps onto single vector instructions.
#[inline]
fn row_dot_lanes<const BITS: u32, const PER: usize, S: Scale>(
    words: &[u32],
    xt: &[f32],
    scales: &[S],
    biases: &[S],
    xsum: &[f32],
    g: usize,
) -> f32 {
    let mask = (1u32 << BITS) - 1;
    row_dot::<LANES, S>(words, xt, scales, biases, xsum, g, g / PER, |gw, gx| {
        let mut acc = [0f32; LANES];
        for (block, xs) in gw.chunks_exact(LANES).zip(gx.chunks_exact(LANES * PER)) {
            let block: &[u32; LANES] = block.try_into().expect("LANES words");
            for i in 0..PER {
                let xi: &[f32; LANES] = xs[i * LANES..(i + 1) * LANES].try_into().expect("LANES values");
                for w in 0..LANES {
                    let q = ((block[w] >> (i as u32 * BITS)) & mask) as i32 as f32;
                    acc[w] = q.mul_add(xi[w], acc[w]);
                }
            }
        }
        acc
    })
}

/// Dot product with eight independent accumulators (vectorizes without reassociation).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}
