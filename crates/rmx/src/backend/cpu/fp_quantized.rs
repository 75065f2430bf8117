//! CPU kernels of MLX's floating-point quantization modes: `mxfp4` (E2M1 values, E8M0 scale
//! per 32), `mxfp8` (E4M3 values, E8M0 scale per 32) and `nvfp4` (E2M1 values, E4M3 scale per
//! 16, optionally times a float32 global scale). Values pack LSB-first into uint32 words as
//! in the affine mode (8 nibbles or 4 bytes per word); scales are one byte per group.
//! Rounding follows MLX 0.32 (checked byte for byte by `tests/ops_golden.rs`): E8M0 scales
//! round the exponent up, E2M1 codes take the nearest value with ties to the smaller
//! magnitude, E4M3 rounds to nearest even and saturates at 448.

use super::quantized::{pack, unpack};
use crate::ops::quantized::QuantMode;
use rayon::prelude::*;

/// The largest group of the floating-point modes (mx: 32, nvfp4: 16).
const MAX_GROUP: usize = 32;

/// The E2M1 values of codes 0..16 (bit 3 is the sign).
pub const FP4_VALUES: [f32; 16] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0];

/// nvfp4's global scale enters the group scales as `global / (448 · 6)`.
const NV_GLOBAL_RANGE: f32 = 448.0 * 6.0;

/// The E2M1 code nearest `v`; ties go to the smaller magnitude and zero is always +0 (the
/// first of MLX's candidates), NaN gives code 0.
pub fn e2m1_code(v: f32) -> u8 {
    let a = v.abs();
    // Midpoints between consecutive magnitudes: a value on a midpoint keeps the lower one.
    const MIDPOINTS: [f32; 7] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0];
    let magnitude = MIDPOINTS.iter().take_while(|&&m| a > m).count() as u8;
    // Zero (either sign) and NaN are code 0; negative values set the sign bit.
    if magnitude > 0 && v < 0.0 {
        magnitude | 8
    } else {
        magnitude
    }
}

/// `v` as an OCP E4M3 byte: round to nearest even (subnormals included), saturating at
/// ±448; NaN gives 0x7f.
pub fn e4m3_encode(v: f32) -> u8 {
    if v.is_nan() {
        return 0x7f;
    }
    let sign = if v.is_sign_negative() { 0x80u8 } else { 0 };
    let a = v.abs().min(448.0);
    // Spacing of representable values around `a`: 2^(e-3) for normals (e >= -6), 2^-9 below.
    let e = if a >= f32::MIN_POSITIVE { (a.to_bits() >> 23) as i32 - 127 } else { -127 };
    let step = 2f32.powi(e.max(-6) - 3);
    let units = (a / step).round_ties_even(); // exact: a power-of-two step
    let rounded = units * step;
    if rounded == 0.0 {
        return sign;
    }
    let (re, mantissa) = {
        let re = (rounded.to_bits() >> 23) as i32 - 127;
        if re < -6 {
            (0, (rounded / 2f32.powi(-9)) as u8) // subnormal: mantissa counts 2^-9
        } else {
            (re + 7, ((rounded / 2f32.powi(re) - 1.0) * 8.0) as u8)
        }
    };
    sign | ((re as u8) << 3) | mantissa
}

/// The value of an E4M3 byte (0x7f / 0xff are NaN).
pub fn e4m3_decode(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let (e, m) = ((b >> 3) & 0xf, b & 7);
    if e == 0xf && m == 7 {
        return f32::NAN;
    }
    let magnitude = if e == 0 { m as f32 * 2f32.powi(-9) } else { (1.0 + m as f32 / 8.0) * 2f32.powi(e as i32 - 7) };
    sign * magnitude
}

/// The E8M0 byte of a group whose largest magnitude is `absmax`: `ceil(log2(absmax / max)) +
/// 127`, wrapped to a byte as MLX's cast does for out-of-range exponents; 127 for a zero
/// group, 255 (E8M0's NaN) for a non-finite one.
fn e8m0_encode(absmax: f32, max: f32) -> u8 {
    match absmax / max {
        0.0 => 127,
        x if !x.is_finite() => 255,
        x => ((x as f64).log2().ceil() as i64 + 127) as u8,
    }
}

/// `2^(s - 127)`.
fn e8m0_decode(s: u8) -> f32 {
    2f64.powi(s as i32 - 127) as f32
}

/// Values per group, bits per value ([`QuantMode::fixed_format`]) and the largest
/// representable value of an fp mode.
fn format(mode: QuantMode) -> (usize, u32, f32) {
    let (group, bits) = mode.fixed_format().expect("the affine mode has its own kernels");
    (group, bits, if bits == 8 { 448.0 } else { 6.0 })
}

/// The multiplier of a group's decoded scale.
fn scale_value(mode: QuantMode, byte: u8, global: Option<f32>) -> f32 {
    match mode {
        QuantMode::Nvfp4 => e4m3_decode(byte) * global.map_or(1.0, |g| g / NV_GLOBAL_RANGE),
        _ => e8m0_decode(byte),
    }
}

/// Quantizes rows of float32 `w` (a whole number of groups) in `mode`: fills `wq` (`bits/32`
/// words per value) and one scale byte per group.
pub fn quantize(w: &[f32], mode: QuantMode, global: Option<f32>, wq: &mut [u32], scales: &mut [u8]) {
    let (g, bits, max) = format(mode);
    let words = g * bits as usize / 32;
    wq.par_chunks_mut(words).zip(scales.par_iter_mut()).zip(w.par_chunks(g)).with_min_len(64).for_each(|((packed, scale), group)| {
        let absmax = group.iter().fold(0f32, |m, v| m.max(v.abs()));
        *scale = match mode {
            QuantMode::Nvfp4 => e4m3_encode(absmax / max * global.map_or(1.0, |g| NV_GLOBAL_RANGE / g)),
            _ => e8m0_encode(absmax, max),
        };
        let s = scale_value(mode, *scale, global);
        let mut codes = [0u32; MAX_GROUP];
        for (code, &v) in codes.iter_mut().zip(group) {
            *code = match (bits, s == 0.0) {
                (_, true) => 0,
                (4, false) => e2m1_code(v / s) as u32,
                (_, false) => e4m3_encode(v / s) as u32,
            };
        }
        pack(&codes[..g], bits, packed);
    });
}

/// Rebuilds float32 values from packed codes and their scale bytes.
pub fn dequantize(wq: &[u32], scales: &[u8], mode: QuantMode, global: Option<f32>, out: &mut [f32]) {
    let (g, bits, _) = format(mode);
    let words = g * bits as usize / 32;
    out.par_chunks_mut(g)
        .zip(wq.par_chunks(words))
        .zip(scales.par_iter())
        .with_min_len(64)
        .for_each(|((group, packed), &byte)| decode_group(packed, scale_value(mode, byte, global), bits, group));
}

/// The values of one group (`group.len()` codes of `bits` bits in `packed`) times `scale`.
pub fn decode_group(packed: &[u32], scale: f32, bits: u32, group: &mut [f32]) {
    // The codes, unpacked as integers (exact in f32), then mapped to their values.
    unpack(packed, bits, group);
    for o in group.iter_mut() {
        let code = *o as u8;
        *o = scale * if bits == 4 { FP4_VALUES[code as usize] } else { e4m3_decode(code) };
    }
}

/// The multiplier of every scale byte of `mode` (no global scale), indexed by the byte.
pub fn scale_table(mode: QuantMode) -> &'static [f32; 256] {
    use std::sync::OnceLock;
    static E8M0: OnceLock<[f32; 256]> = OnceLock::new();
    static E4M3: OnceLock<[f32; 256]> = OnceLock::new();
    let (cell, nv) = if mode == QuantMode::Nvfp4 { (&E4M3, true) } else { (&E8M0, false) };
    cell.get_or_init(|| std::array::from_fn(|b| if nv { e4m3_decode(b as u8) } else { e8m0_decode(b as u8) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e4m3_round_trips_every_finite_byte() {
        for b in 0..=255u8 {
            let v = e4m3_decode(b);
            if v.is_nan() {
                continue;
            }
            let back = e4m3_encode(v);
            // -0 and +0 are distinct bytes of equal value.
            assert!(back == b || (v == 0.0 && back & 0x7f == 0), "byte {b:#x} value {v} came back as {back:#x}");
        }
    }

    #[test]
    fn e2m1_codes_of_the_table_values() {
        for (code, &v) in FP4_VALUES.iter().enumerate() {
            let want = if code == 8 { 0 } else { code as u8 };
            assert_eq!(e2m1_code(v), want, "value {v}");
        }
    }
}
