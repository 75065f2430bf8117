//! The Walsh-Hadamard transform along the last axis for lengths `n = m * 2^k` with
//! `m` in {1, 12, 20, 28}: `H_n = kron(H_m, H_{2^k})` with Sylvester's `H_{2^k}` (an in-place
//! butterfly, O(n log n)) and, for `m > 1`, the same order-12, -20 and -28 Hadamard matrices
//! MLX uses, so results agree with `mx.hadamard_transform`.

/// The supported odd factor of `n` (1, 12, 20 or 28) and `2^k`, if `n` has that form.
pub fn factor(n: usize) -> Option<(usize, usize)> {
    [1usize, 12, 20, 28].into_iter().find(|&m| n.is_multiple_of(m) && (n / m).is_power_of_two()).map(|m| (m, n / m))
}

pub(crate) const H12: [&str; 12] = [
    "+-++++++++++",
    "--+-+-+-+-+-",
    "+++-++----++",
    "+---+--+-++-",
    "+++++-++----",
    "+-+---+--+-+",
    "++--+++-++--",
    "+--++---+--+",
    "++----+++-++",
    "+--+-++---+-",
    "++++----+++-",
    "+-+--+-++---",
];
pub(crate) const H20: [&str; 20] = [
    "+-----++++--++--+--+",
    "-+---+-+++---+++-+--",
    "--+--++-+++---+-+-+-",
    "---+-+++-+++-----+-+",
    "----+++++--++--+--+-",
    "+----+----+-++---++-",
    "-+----+----+-++---++",
    "--+----+--+-+-++---+",
    "---+----+-++-+-++---",
    "----+----+-++-+-++--",
    "++--+-+--++----+----",
    "+++--+-+---+----+---",
    "-+++--+-+---+----+--",
    "--+++--+-+---+----+-",
    "+--+++--+-----+----+",
    "+-++-++--+-+++++----",
    "-+-+++++--+-+++-+---",
    "+-+-+-+++-++-++--+--",
    "++-+---++++++-+---+-",
    "-++-++--++++++-----+",
];
pub(crate) const H28: [&str; 28] = [
    "+--------++++--+-++-+-++--++",
    "-+--------+++++-+-++-+-++--+",
    "--+----+---+++-+-+-++++-++--",
    "---+---++---+++-+-+-+-++-++-",
    "----+--+++---+++-+-+---++-++",
    "-----+-++++----++-+-++--++-+",
    "------+-++++--+-++-+-++--++-",
    "++----++------+--++---+-++-+",
    "+++-----+------+--++-+-+-++-",
    "-+++-----+------+--++-+-+-++",
    "--+++-----+---+--+--++-+-+-+",
    "---+++-----+--++--+--++-+-+-",
    "----+++-----+--++--+--++-+-+",
    "+----++------+--++--++-++-+-",
    "+-+--+--++--+++------++----+",
    "-+-+--++-++--+-+-----+++----",
    "+-+-+--++-++----+-----+++---",
    "-+-+-+--++-++----+-----+++--",
    "--+-+-+--++-++----+-----+++-",
    "+--+-+-+--++-+-----+-----+++",
    "-+--+-+++--++-------++----++",
    "+--++--+-+--+---++++-+------",
    "-+--++--+-+--+---++++-+-----",
    "--+--+++-+-+--+---+++--+----",
    "+--+--+-+-+-+-++---++---+---",
    "++--+----+-+-++++---+----+--",
    "-++--+-+--+-+-++++--------+-",
    "--++--+-+--+-+-++++--------+",
];

fn matrix(m: usize) -> &'static [&'static str] {
    match m {
        12 => &H12,
        20 => &H20,
        28 => &H28,
        _ => &[],
    }
}

/// Transforms one row of length `m * pow2` in place (by the transposed matrix when
/// `transposed`: the 20- and 28-point tables are not symmetric), then multiplies by `scale`.
pub fn transform_row(row: &mut [f32], m: usize, pow2: usize, scale: f32, transposed: bool, scratch: &mut Vec<f32>) {
    for chunk in row.chunks_exact_mut(pow2) {
        let mut h = 1;
        while h < pow2 {
            for block in chunk.chunks_exact_mut(2 * h) {
                let (lo, hi) = block.split_at_mut(h);
                for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                    let (x, y) = (*a, *b);
                    *a = x + y;
                    *b = x - y;
                }
            }
            h *= 2;
        }
    }
    if m > 1 {
        // Row r of the table is the transform of the r-th unit vector: output block i
        // gathers input block r with the sign at (r, i) (transposed: the other way round).
        scratch.clear();
        scratch.extend_from_slice(row);
        row.fill(0.0);
        for (r, signs) in matrix(m).iter().enumerate() {
            for (i, sign) in signs.bytes().enumerate() {
                let (from, to) = if transposed { (i, r) } else { (r, i) };
                let src = &scratch[from * pow2..(from + 1) * pow2];
                let out = &mut row[to * pow2..(to + 1) * pow2];
                if sign == b'+' {
                    out.iter_mut().zip(src).for_each(|(o, s)| *o += s);
                } else {
                    out.iter_mut().zip(src).for_each(|(o, s)| *o -= s);
                }
            }
        }
    }
    row.iter_mut().for_each(|v| *v *= scale);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_matrices_are_hadamard() {
        for m in [12usize, 20, 28] {
            let h: Vec<Vec<f32>> = matrix(m).iter().map(|r| r.bytes().map(|b| if b == b'+' { 1.0 } else { -1.0 }).collect()).collect();
            for i in 0..m {
                for j in 0..m {
                    let dot: f32 = (0..m).map(|k| h[i][k] * h[j][k]).sum();
                    assert_eq!(dot, if i == j { m as f32 } else { 0.0 }, "H{m} rows {i} and {j}");
                }
            }
        }
    }
}
