//! What the bfloat16 matrix-product kernels share: an operand read as lines of k values with
//! pairs of consecutive values as one 32-bit word (the unit `vdpbf16ps` and `tdpbf16ps`
//! multiply), and the rounding of their float32 sums to bfloat16.

use super::matmul::MatOperand;
use super::strided::SendPtr;

/// A matrix read as `rows` lines of `len` bfloat16 values (the lines of A are its rows, those
/// of B its columns: the values each output multiplies along k).
#[derive(Clone, Copy)]
pub struct Lines {
    pub ptr: SendPtr<u16>,
    pub rows: usize,
    pub len: usize,
    /// Elements between the starts of consecutive lines.
    pub row_stride: isize,
    /// Elements between consecutive values of one line.
    pub step: isize,
}

impl Lines {
    /// The `m` rows of a left operand `[m, k]` whose batch entry starts `offset` elements
    /// into its storage.
    pub fn rows_of(a: &MatOperand, offset: isize, m: usize, k: usize) -> Lines {
        Lines::new(a, offset, m, k, a.row_stride, a.col_stride)
    }

    /// The `n` columns of a right operand `[k, n]` whose batch entry starts `offset`
    /// elements into its storage.
    pub fn columns_of(b: &MatOperand, offset: isize, n: usize, k: usize) -> Lines {
        Lines::new(b, offset, n, k, b.col_stride, b.row_stride)
    }

    fn new(op: &MatOperand, offset: isize, rows: usize, len: usize, row_stride: isize, step: isize) -> Lines {
        Lines { ptr: SendPtr(op.storage.ptr::<u16>().wrapping_offset(offset) as *mut u16), rows, len, row_stride, step }
    }

    /// Values `2p` and `2p + 1` of line `i` as one word (the first in the low half), zero
    /// where outside the matrix.
    ///
    /// # Safety
    /// The view covers `rows × len` values through its strides.
    #[inline(always)]
    pub unsafe fn pair(&self, i: usize, p: usize) -> u32 {
        let (k0, k1) = (2 * p, 2 * p + 1);
        if i >= self.rows || k0 >= self.len {
            return 0;
        }
        let line = self.line(i);
        // SAFETY: (i, k0) and, when inside, (i, k1) are in the view.
        unsafe {
            let lo = *line.offset(k0 as isize * self.step) as u32;
            let hi = if k1 < self.len { *line.offset(k1 as isize * self.step) as u32 } else { 0 };
            lo | hi << 16
        }
    }

    /// The first value of line `i` (an address only; nothing is read).
    #[inline(always)]
    pub fn line(&self, i: usize) -> *const u16 {
        self.ptr.get().wrapping_offset(i as isize * self.row_stride)
    }
}

/// Rounds a float32 to the nearest bfloat16 (ties to even; NaN stays NaN, quieted).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        ((bits >> 16) | 0x40) as u16
    } else {
        (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16
    }
}

/// Rounds the top-left `rows × cols` of a float32 block (rows `width` apart) to bfloat16 into
/// the row-major output at `out`, whose rows are `n` apart.
///
/// # Safety
/// `out` covers `rows` rows of `cols` values `n` apart, written by this caller alone.
pub unsafe fn store_block(block: &[f32], width: usize, out: *mut u16, n: usize, (rows, cols): (usize, usize)) {
    for (i, line) in block.chunks_exact(width).take(rows).enumerate() {
        // SAFETY: forwarded from the caller.
        let dst = unsafe { std::slice::from_raw_parts_mut(out.add(i * n), cols) };
        for (d, &v) in dst.iter_mut().zip(line) {
            *d = to_bf16(v);
        }
    }
}

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
