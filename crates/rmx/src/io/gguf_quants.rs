//! GGML block formats: conversion of Q4_0/Q4_1/Q8_0 blocks to MLX affine quantization
//! (group 32, MLX's sequential nibble packing), and dequantization of the others
//! (Q5_0, Q5_1, Q2_K–Q6_K) to float32. Layouts follow ggml's `block_*` structs; the test
//! oracle is gguf-py's dequantizer.

use half::f16;

/// Elements per block and bytes per block of a GGML quantized type id.
pub(crate) fn block_layout(kind: u32) -> Option<(usize, usize)> {
    Some(match kind {
        2 => (32, 18),   // Q4_0
        3 => (32, 20),   // Q4_1
        6 => (32, 22),   // Q5_0
        7 => (32, 24),   // Q5_1
        8 => (32, 34),   // Q8_0
        10 => (256, 84), // Q2_K
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210), // Q6_K
        _ => return None,
    })
}

fn half(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// MLX affine form of Q4_0/Q4_1/Q8_0 blocks: packed u32 words, f16 scales and biases (one
/// per 32 elements). `q = code` with `w = scale * q + bias`.
pub(crate) fn to_affine(kind: u32, data: &[u8]) -> (Vec<u32>, Vec<f16>, Vec<f16>) {
    let (_, size) = block_layout(kind).expect("an affine-convertible type");
    let blocks = data.len() / size;
    let bits = if kind == 8 { 8 } else { 4 };
    let mut words = vec![0u32; blocks * 32 * bits / 32];
    let (mut scales, mut biases) = (Vec::with_capacity(blocks), Vec::with_capacity(blocks));
    let per_word = 32 / bits;
    for (b, block) in data.chunks_exact(size).enumerate() {
        let d = half(block, 0);
        let codes: [u8; 32] = match kind {
            2 | 3 => {
                let qs = &block[if kind == 2 { 2 } else { 4 }..];
                // GGML stores element j in the low nibble of byte j and j+16 in its high nibble.
                std::array::from_fn(|i| if i < 16 { qs[i] & 0xF } else { qs[i - 16] >> 4 })
            }
            _ => std::array::from_fn(|i| block[2 + i] ^ 0x80),
        };
        let (scale, bias) = match kind {
            2 => (d, -8.0 * d),
            3 => (d, half(block, 2)),
            _ => (d, -128.0 * d),
        };
        scales.push(f16::from_f32(scale));
        biases.push(f16::from_f32(bias));
        for (i, &c) in codes.iter().enumerate() {
            let e = b * 32 + i;
            words[e / per_word] |= (c as u32) << (bits * (e % per_word));
        }
    }
    (words, scales, biases)
}

/// The 6-bit scale and min `j` of a Q4_K/Q5_K block's 12 packed bytes.
fn scale_min_k4(j: usize, q: &[u8]) -> (f32, f32) {
    if j < 4 {
        ((q[j] & 63) as f32, (q[j + 4] & 63) as f32)
    } else {
        (((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)) as f32, ((q[j + 4] >> 4) | ((q[j] >> 6) << 4)) as f32)
    }
}

/// Dequantizes whole blocks of `kind` (Q5_0, Q5_1 or Q2_K–Q6_K; Q4_0, Q4_1 and Q8_0 go
/// through [`to_affine`] instead) to float32.
pub(crate) fn dequantize(kind: u32, data: &[u8]) -> Vec<f32> {
    debug_assert!(matches!(kind, 6 | 7 | 10..=14), "type {kind} is not dequantized here");
    let (n, size) = block_layout(kind).expect("a quantized type");
    let mut out = Vec::with_capacity(data.len() / size * n);
    for b in data.chunks_exact(size) {
        match kind {
            6 | 7 => {
                let d = half(b, 0);
                let (m, at) = if kind == 7 { (half(b, 2), 4) } else { (0.0, 2) };
                let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
                let qs = &b[at + 4..];
                let mut y = [0f32; 32];
                for j in 0..16 {
                    let h0 = ((qh >> j) << 4) & 0x10;
                    let h1 = (qh >> (j + 12)) & 0x10;
                    let (x0, x1) = ((qs[j] as u32 & 0xF) | h0, (qs[j] as u32 >> 4) | h1);
                    if kind == 6 {
                        (y[j], y[j + 16]) = ((x0 as f32 - 16.0) * d, (x1 as f32 - 16.0) * d);
                    } else {
                        (y[j], y[j + 16]) = (x0 as f32 * d + m, x1 as f32 * d + m);
                    }
                }
                out.extend(y);
            }
            10 => {
                let (scales, qs) = (&b[..16], &b[16..80]);
                let (d, dmin) = (half(b, 80), half(b, 82));
                let mut is = 0;
                for n in 0..2 {
                    let q = &qs[n * 32..];
                    for shift in [0, 2, 4, 6] {
                        for half_block in 0..2 {
                            let sc = scales[is];
                            is += 1;
                            let (dl, ml) = (d * (sc & 0xF) as f32, dmin * (sc >> 4) as f32);
                            for l in 0..16 {
                                out.push(dl * ((q[l + 16 * half_block] >> shift) & 3) as f32 - ml);
                            }
                        }
                    }
                }
            }
            11 => {
                let (hm, qs, packed) = (&b[..32], &b[32..96], &b[96..108]);
                let d = half(b, 108);
                let aux: [u32; 3] = std::array::from_fn(|i| u32::from_le_bytes(packed[4 * i..4 * i + 4].try_into().expect("4 bytes")));
                let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
                let tmp = aux[2];
                let words = [
                    (aux[0] & k2) | ((tmp & k1) << 4),
                    (aux[1] & k2) | (((tmp >> 2) & k1) << 4),
                    ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4),
                    ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4),
                ];
                let scales: Vec<i8> = words.iter().flat_map(|w| w.to_le_bytes()).map(|v| v as i8).collect();
                let (mut is, mut m) = (0, 1u8);
                for n in 0..2 {
                    let q = &qs[n * 32..];
                    for shift in [0, 2, 4, 6] {
                        for half_block in 0..2 {
                            let dl = d * (scales[is] as f32 - 32.0);
                            is += 1;
                            for l in 0..16 {
                                let k = l + 16 * half_block;
                                let low = ((q[k] >> shift) & 3) as i32;
                                let high = if hm[k] & m != 0 { 0 } else { 4 };
                                out.push(dl * (low - high) as f32);
                            }
                        }
                        m <<= 1;
                    }
                }
            }
            12 | 13 => {
                let (d, dmin) = (half(b, 0), half(b, 2));
                let scales = &b[4..16];
                let (qh, ql) = if kind == 13 { (&b[16..48], &b[48..176]) } else { (&b[0..0], &b[16..144]) };
                for j in 0..4 {
                    let q = &ql[j * 32..j * 32 + 32];
                    for (half_block, shift) in [(0usize, 0u8), (1, 4)] {
                        let (sc, mn) = scale_min_k4(2 * j + half_block, scales);
                        let bit = 1u8 << (2 * j + half_block);
                        for l in 0..32 {
                            let high = if kind == 13 && qh[l] & bit != 0 { 16.0 } else { 0.0 };
                            out.push(d * sc * (((q[l] >> shift) & 0xF) as f32 + high) - dmin * mn);
                        }
                    }
                }
            }
            _ => {
                // Q6_K
                let (ql, qh, sc) = (&b[..128], &b[128..192], &b[192..208]);
                let d = half(b, 208);
                let mut y = [0f32; 256];
                for n in 0..2 {
                    let (ql, qh, sc, y) = (&ql[64 * n..], &qh[32 * n..], &sc[8 * n..], &mut y[128 * n..]);
                    for l in 0..32 {
                        let is = l / 16;
                        let q = |lo: u8, hi_shift: u32| ((lo as i32) | ((((qh[l] as u32) >> hi_shift) & 3) << 4) as i32) - 32;
                        y[l] = d * sc[is] as i8 as f32 * q(ql[l] & 0xF, 0) as f32;
                        y[l + 32] = d * sc[is + 2] as i8 as f32 * q(ql[l + 32] & 0xF, 2) as f32;
                        y[l + 64] = d * sc[is + 4] as i8 as f32 * q(ql[l] >> 4, 4) as f32;
                        y[l + 96] = d * sc[is + 6] as i8 as f32 * q(ql[l + 32] >> 4, 6) as f32;
                    }
                }
                out.extend(y);
            }
        }
    }
    out
}
