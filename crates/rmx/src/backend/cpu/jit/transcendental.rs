//! erf, exp and sigmoid as instruction sequences of a segment: the operations of
//! [`erf_f32`](crate::backend::cpu::erf::erf_f32), [`exp_f32`](crate::backend::cpu::math::exp_f32)
//! and [`sigmoid`](crate::backend::cpu::math::sigmoid) in their order with their roundings
//! (each fused multiply-add where the formula has one, and nowhere else), so the generated
//! values equal the slice kernels' bit for bit. Their constants are memory operands of the
//! pool (table rows included), so a sequence borrows at most six temporary registers. The
//! same sequences serve AVX2 and AVX-512 (see [`super::x86::Form`]): only erf's selection
//! differs, a blend by a vector mask or under a mask register.

use super::x86::*;
use super::Registers;
use crate::backend::cpu::erf::{CAP, TABLE};
use crate::backend::cpu::math::{EXP_CLAMP, EXP_LN2_HI, EXP_LN2_LO, EXP_Q, EXP_SHIFTER};

/// Registers borrowed for one sequence and given back when it ends.
struct Temps<'a> {
    regs: &'a mut Registers,
    taken: Vec<Ymm>,
}

impl<'a> Temps<'a> {
    /// `N` temporaries, or `None` (nothing kept) when fewer are free.
    fn take<const N: usize>(regs: &'a mut Registers) -> Option<(Self, [Ymm; N])> {
        let mut temps = Temps { regs, taken: Vec::with_capacity(N) };
        let mut out = [0; N];
        for r in &mut out {
            *r = temps.regs.take()?;
            temps.taken.push(*r);
        }
        Some((temps, out))
    }
}

impl Drop for Temps<'_> {
    fn drop(&mut self) {
        for &r in &self.taken {
            self.regs.give(r);
        }
    }
}

/// `op d, a, [v in every lane]`.
fn op_splat(asm: &mut Asm, op: VexOp, d: Ymm, a: Ymm, v: f32) {
    let m = asm.splat(v);
    asm.vex(op, d, a, m, None);
}

/// `d = v` in every lane.
fn load_splat(asm: &mut Asm, d: Ymm, v: f32) {
    let m = asm.splat(v);
    asm.vex(VMOVUPS_LOAD, d, 0, m, None);
}

/// `op d, a, [bits in every lane]` (the integer constants of exp).
fn op_bits(asm: &mut Asm, op: VexOp, d: Ymm, a: Ymm, bits: u32) {
    let m = asm.constant([bits; 8]);
    asm.vex(op, d, a, m, None);
}

/// `dst = erf(x)`, erf8 of [`crate::backend::cpu::erf`] operation for operation.
pub(super) fn erf(asm: &mut Asm, regs: &mut Registers, dst: Ymm, x: Ymm) -> Option<()> {
    let (_temps, [a, i, t, t2, c, d]) = Temps::take::<6>(regs)?;
    // a = min(CAP, |x|), which keeps a NaN |x| (vminps returns its second operand then).
    let abs = asm.constant([0x7FFF_FFFF; 8]);
    asm.vex(VANDPS, a, x, abs, None);
    load_splat(asm, c, CAP);
    asm.regs(VMINPS, a, c, a);
    // i = trunc(2a), the interval; t = a - (i·0.5 + 0.25).
    op_splat(asm, VMULPS, i, a, 2.0);
    asm.vex(VCVTTPS2DQ, i, 0, Rm::Reg(i), None);
    asm.vex(VCVTDQ2PS, t, 0, Rm::Reg(i), None);
    load_splat(asm, c, 0.5);
    op_splat(asm, VFMADD213PS, t, c, 0.25);
    asm.regs(VSUBPS, t, a, t);
    // The coefficient of t^k on each lane's interval.
    let coefficient = |asm: &mut Asm, r: Ymm, k: usize| {
        let row = asm.constant(TABLE[k].map(f32::to_bits));
        asm.vex(VPERMPS, r, i, row, None);
    };
    asm.regs(VMULPS, t2, t, t);
    // low = (c4·t + c3)·t² + (c2·t + c1)
    coefficient(asm, dst, 4);
    coefficient(asm, c, 3);
    asm.regs(VFMADD213PS, dst, t, c);
    coefficient(asm, c, 2);
    coefficient(asm, d, 1);
    asm.regs(VFMADD213PS, c, t, d);
    asm.regs(VFMADD213PS, dst, t2, c);
    // q = (c6·t + c5)·t⁴ + low; p = q·t + c0
    asm.regs(VMULPS, t2, t2, t2);
    coefficient(asm, c, 6);
    coefficient(asm, d, 5);
    asm.regs(VFMADD213PS, c, t, d);
    asm.regs(VFMADD213PS, c, t2, dst);
    coefficient(asm, d, 0);
    asm.regs(VFMADD213PS, c, t, d);
    // r = p·(a < 1 ? a : 1) + (a < 1 ? a : 0)
    let one = asm.splat(1.0);
    asm.vex(VMOVUPS_LOAD, t, 0, one, None);
    if asm.form.evex() {
        asm.compare_to_mask(K1, a, one, predicate::LT_OQ);
        asm.blend(t, K1, t, Rm::Reg(a));
        asm.masked_move(d, K1, Rm::Reg(a));
    } else {
        asm.vex(VCMPPS, d, a, one, Some(predicate::LT_OQ));
        asm.vex(VBLENDVPS, t, t, Rm::Reg(a), Some(d << 4));
        asm.regs(VANDPS, d, d, a);
    }
    asm.regs(VFMADD213PS, c, t, d);
    // min(1, r) (which keeps a NaN r), with the sign of x.
    asm.vex(VMOVUPS_LOAD, dst, 0, one, None);
    asm.regs(VMINPS, dst, dst, c);
    op_bits(asm, VANDPS, d, x, 0x8000_0000);
    asm.regs(VORPS, dst, dst, d);
    Some(())
}

/// `dst = exp(x)` with the temporaries `[e, s, k]`, exp_f32 of [`crate::backend::cpu::math`]
/// operation for operation (the last lines its two exponent factors; under EVEX one
/// `vscalefps`, which rounds the same product once, as the AVX-512 slice kernel does).
fn exp_with(asm: &mut Asm, [e, s, k]: [Ymm; 3], dst: Ymm, x: Ymm) {
    // e = clamp(x): max(lo, x), then min(hi, ·); both keep a NaN x.
    load_splat(asm, e, EXP_CLAMP.0);
    asm.regs(VMAXPS, e, e, x);
    load_splat(asm, s, EXP_CLAMP.1);
    asm.regs(VMINPS, e, s, e);
    // s = e·log2(e) + 1.5·2^23 (k in its low bits); k = s - 1.5·2^23; r = e - k·ln2 in two parts.
    load_splat(asm, s, EXP_SHIFTER);
    op_splat(asm, VFMADD231PS, s, e, std::f32::consts::LOG2_E);
    op_splat(asm, VSUBPS, k, s, EXP_SHIFTER);
    op_splat(asm, VFMADD231PS, e, k, -EXP_LN2_HI);
    op_splat(asm, VFMADD231PS, e, k, -EXP_LN2_LO);
    // y = (q(r)·r² + r) + 1, q by Horner from the highest coefficient.
    let [c2, c3, c4, c5, c6] = EXP_Q;
    load_splat(asm, dst, c6);
    for c in [c5, c4, c3, c2] {
        op_splat(asm, VFMADD213PS, dst, e, c);
    }
    if asm.form.evex() {
        // r² into s (its shifted sum is not needed), so k stays for the scaling.
        asm.regs(VMULPS, s, e, e);
        asm.regs(VFMADD213PS, dst, s, e);
        op_splat(asm, VADDPS, dst, dst, 1.0);
        asm.regs(VSCALEFPS, dst, dst, k);
        return;
    }
    asm.regs(VMULPS, k, e, e);
    asm.regs(VFMADD213PS, dst, k, e);
    op_splat(asm, VADDPS, dst, dst, 1.0);
    // ki = bits(s) - bits(1.5·2^23); k1 = ki >> 1; y · 2^k1 · 2^(ki - k1).
    op_bits(asm, VPSUBD, s, s, 0x4B40_0000);
    asm.vex(VPSHIFTD_IMM, SHIFT_RIGHT_ARITHMETIC, k, Rm::Reg(s), Some(1));
    asm.regs(VPSUBD, s, s, k);
    for factor in [k, s] {
        asm.vex(VPSHIFTD_IMM, SHIFT_LEFT, factor, Rm::Reg(factor), Some(23));
        op_bits(asm, VPADDD, factor, factor, 127 << 23);
        asm.regs(VMULPS, dst, dst, factor);
    }
}

/// `dst = exp(x)`.
pub(super) fn exp(asm: &mut Asm, regs: &mut Registers, dst: Ymm, x: Ymm) -> Option<()> {
    let (_temps, temps) = Temps::take::<3>(regs)?;
    exp_with(asm, temps, dst, x);
    Some(())
}

/// `dst = 1 / (1 + exp(-x))`.
pub(super) fn sigmoid(asm: &mut Asm, regs: &mut Registers, dst: Ymm, x: Ymm) -> Option<()> {
    let (_temps, [e, s, k, negated]) = Temps::take::<4>(regs)?;
    op_bits(asm, VXORPS, negated, x, 0x8000_0000);
    exp_with(asm, [e, s, k], dst, negated);
    op_splat(asm, VADDPS, dst, dst, 1.0);
    load_splat(asm, e, 1.0);
    asm.regs(VDIVPS, dst, e, dst);
    Some(())
}
