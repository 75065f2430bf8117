//! A minimal x86-64 assembler: the vector instructions and the few integer instructions that
//! the element-wise segments of [`super`] are made of, in two encodings ([`Form`]):
//!
//! - AVX2: the three-byte VEX prefix (`C4`) on 256-bit `ymm` registers 0 to 15;
//! - AVX-512: the EVEX prefix (`62`) on 512-bit `zmm` registers 0 to 31 (and on their 256-bit
//!   halves, for a loop's last 32 bytes), where comparisons write mask registers (`k1`, `k2`)
//!   and selections blend under them ([`Asm::compare_to_mask`], [`Asm::blend`],
//!   [`Asm::masked_move`]).
//!
//! Memory operands are `[rax + rcx]` (the pointer of an operand plus the loop's byte offset),
//! the next vector after it, `[rax]` (a scalar broadcast) and `[rip + disp32]` (a constant of
//! the pool after the code, interned by [`Asm::constant`]: 32 bytes, or the same 8 lanes twice
//! under EVEX).

/// A vector register: `ymm` 0 to 15 under VEX, `zmm` (or `ymm`) 0 to 31 under EVEX.
pub type Ymm = u8;

/// The mask registers the EVEX sequences use (`k0` means "no mask" in an EVEX prefix).
pub const K1: u8 = 1;
pub const K2: u8 = 2;

/// How vector instructions are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Form {
    /// VEX, 256 bits (AVX2).
    #[default]
    Vex256,
    /// EVEX, 512 bits (AVX-512F).
    Evex512,
    /// EVEX, 256 bits (AVX-512VL): the last 32 bytes of a 512-bit loop, registers 16-31 included.
    Evex256,
}

impl Form {
    /// Bytes per vector.
    pub fn vector_bytes(self) -> usize {
        match self {
            Form::Evex512 => 64,
            _ => 32,
        }
    }

    /// Whether this is an EVEX form (32 registers, masks, no `vblendvps`).
    pub fn evex(self) -> bool {
        self != Form::Vex256
    }
}

/// Where a memory operand points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mem {
    /// `[rax + rcx]`.
    RaxPlusRcx,
    /// `[rax + rcx + 32]`, the next vector (`+ 64` in [`Form::Evex512`]).
    RaxPlusRcxNext,
    /// `[rax]`.
    Rax,
    /// `[rip + disp32]` to the 32-byte constant `k` of the pool after the code.
    Constant(usize),
}

/// The opcode maps of the VEX prefix.
#[derive(Clone, Copy)]
pub enum Map {
    /// `0F`.
    M0F = 1,
    /// `0F 38`.
    M0F38 = 2,
    /// `0F 3A`.
    M0F3A = 3,
}

/// The implied legacy prefixes of the VEX prefix.
#[derive(Clone, Copy)]
pub enum Prefix {
    None = 0,
    P66 = 1,
    PF3 = 2,
}

/// An instruction of the VEX family (encoded as VEX or EVEX, [`Form`]): opcode map, implied
/// prefix and opcode byte.
#[derive(Clone, Copy)]
pub struct VexOp(pub Map, pub Prefix, pub u8);

pub const VADDPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x58);
pub const VMULPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x59);
pub const VSUBPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x5C);
pub const VDIVPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x5E);
pub const VSQRTPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x51);
pub const VANDPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x54);
pub const VORPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x56);
pub const VXORPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x57);
pub const VMOVUPS_LOAD: VexOp = VexOp(Map::M0F, Prefix::None, 0x10);
pub const VMOVUPS_STORE: VexOp = VexOp(Map::M0F, Prefix::None, 0x11);
/// `vmovntps [m], v`: a store that bypasses the caches (the address aligned to the vector's
/// bytes).
pub const VMOVNTPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x2B);
pub const VMOVAPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x28);
/// `vcmpps` (with a predicate byte).
pub const VCMPPS: VexOp = VexOp(Map::M0F, Prefix::None, 0xC2);
/// `vroundps` (with a rounding-mode byte).
pub const VROUNDPS: VexOp = VexOp(Map::M0F3A, Prefix::P66, 0x08);
/// `vblendvps` (the mask register in the high nibble of the last byte).
pub const VBLENDVPS: VexOp = VexOp(Map::M0F3A, Prefix::P66, 0x4A);
pub const VBROADCASTSS: VexOp = VexOp(Map::M0F38, Prefix::P66, 0x18);
/// `vmaxps d, a, b`: `a > b ? a : b` (so `b` when either is NaN).
pub const VMAXPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x5F);
/// `vminps d, a, b`: `a < b ? a : b` (so `b` when either is NaN).
pub const VMINPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x5D);
pub const VCVTDQ2PS: VexOp = VexOp(Map::M0F, Prefix::None, 0x5B);
pub const VCVTTPS2DQ: VexOp = VexOp(Map::M0F, Prefix::PF3, 0x5B);
pub const VPADDD: VexOp = VexOp(Map::M0F, Prefix::P66, 0xFE);
pub const VPSUBD: VexOp = VexOp(Map::M0F, Prefix::P66, 0xFA);
/// Shifts of 32-bit lanes by an immediate: the destination goes in the `src1` (vvvv) place
/// and [`SHIFT_RIGHT_ARITHMETIC`] or [`SHIFT_LEFT`] in the `dst` (ModRM.reg) place.
pub const VPSHIFTD_IMM: VexOp = VexOp(Map::M0F, Prefix::P66, 0x72);
pub const SHIFT_RIGHT_ARITHMETIC: u8 = 4;
pub const SHIFT_LEFT: u8 = 6;
/// `vpermps d, index, table`: lane `i` of `d` is lane `index[i] & 7` of `table`.
pub const VPERMPS: VexOp = VexOp(Map::M0F38, Prefix::P66, 0x16);
/// `vfmadd213ps d, a, b`: `d = d·a + b`, rounded once.
pub const VFMADD213PS: VexOp = VexOp(Map::M0F38, Prefix::P66, 0xA8);
/// `vfmadd231ps d, a, b`: `d = a·b + d`, rounded once.
pub const VFMADD231PS: VexOp = VexOp(Map::M0F38, Prefix::P66, 0xB8);
/// `vscalefps d, a, b` (EVEX only): `a · 2^floor(b)`, rounded once.
pub const VSCALEFPS: VexOp = VexOp(Map::M0F38, Prefix::P66, 0x2C);
/// `vblendmps d{k}, a, b` (EVEX only): `k ? b : a` per lane.
pub const VBLENDMPS: VexOp = VexOp(Map::M0F38, Prefix::P66, 0x65);

/// The EVEX instruction of the same operation as `op`: the bitwise `ps` operations have no
/// EVEX form without AVX-512DQ, so their doubleword forms (the same bits) stand in.
fn evex_equivalent(op: VexOp) -> VexOp {
    let VexOp(map, prefix, opcode) = op;
    match (map, prefix, opcode) {
        (Map::M0F, Prefix::None, 0x54) => VexOp(Map::M0F, Prefix::P66, 0xDB),
        (Map::M0F, Prefix::None, 0x56) => VexOp(Map::M0F, Prefix::P66, 0xEB),
        (Map::M0F, Prefix::None, 0x57) => VexOp(Map::M0F, Prefix::P66, 0xEF),
        _ => op,
    }
}

/// The `vcmpps` predicates the segments use (the same truth as Rust's comparisons of floats).
pub mod predicate {
    pub const EQ_OQ: u8 = 0x00;
    pub const LT_OQ: u8 = 0x11;
    pub const LE_OQ: u8 = 0x12;
    pub const UNORD_Q: u8 = 0x03;
    pub const NEQ_UQ: u8 = 0x04;
    pub const GE_OQ: u8 = 0x1D;
    pub const GT_OQ: u8 = 0x1E;
}

/// The registers the loop counter `rcx` is compared with.
#[derive(Clone, Copy)]
pub enum Limit {
    /// The byte count (the second argument).
    Rsi,
    /// The byte count less 32 (see [`Asm::rdx_is_rsi_minus_32`]).
    Rdx,
}

/// The jumps the loops use (32-bit displacements).
#[derive(Clone, Copy)]
pub enum Jump {
    Always,
    /// Unsigned `<` after a `cmp`.
    Below,
    /// Unsigned `>=` after a `cmp`.
    AboveOrEqual,
}

impl Jump {
    fn opcode(self) -> &'static [u8] {
        match self {
            Jump::Always => &[0xE9],
            Jump::Below => &[0x0F, 0x82],
            Jump::AboveOrEqual => &[0x0F, 0x83],
        }
    }
}

/// The second source of an instruction: a register or memory.
#[derive(Clone, Copy, Debug)]
pub enum Rm {
    Reg(Ymm),
    Mem(Mem),
}

/// Machine code being written, with the places that still need a constant's address.
#[derive(Default)]
pub struct Asm {
    pub code: Vec<u8>,
    /// (offset of a disp32, offset of the end of its instruction, constant index).
    fixups: Vec<(usize, usize, usize)>,
    /// The constant pool, each 32 bytes, placed after the code by [`Asm::finish`].
    constants: Vec<[u32; 8]>,
    /// How often each pooled constant was asked for while `counting`.
    uses: Vec<usize>,
    /// Whether [`Asm::constant`] counts what it answers (set while a loop body is emitted).
    pub counting: bool,
    /// Constants kept in registers ([`Asm::keep_in_register`]).
    kept: Vec<([u32; 8], Ymm)>,
    /// The slot whose pointer `rax` holds, if known.
    rax_slot: Option<usize>,
    /// The encoding of what is emitted now.
    pub form: Form,
    /// Whether any EVEX instruction was emitted (the pool then holds 64-byte constants).
    wide_pool: bool,
}

/// The prefix bits B and X (not yet inverted) and the ModRM byte's `mod` and `rm` fields for
/// the operand `rm`: a register's bit 3 goes in B and its bit 4 in X (EVEX; always 0 for the
/// 16 registers VEX encodes); the memory operands use `rax` and `rcx`, which need neither.
fn rm_fields(rm: Rm) -> (u8, u8, u8) {
    match rm {
        Rm::Reg(r) => ((r >> 3) & 1, r >> 4, 0xC0 | (r & 7)),
        Rm::Mem(Mem::RaxPlusRcx) => (0, 0, 0x04),
        Rm::Mem(Mem::RaxPlusRcxNext) => (0, 0, 0x44),
        Rm::Mem(Mem::Rax) => (0, 0, 0x00),
        Rm::Mem(Mem::Constant(_)) => (0, 0, 0x05),
    }
}

impl Asm {
    /// Emits `op dst, src1, rm` in the current [`Form`] (`src1` is ignored by the two-operand
    /// forms, pass 0), then `imm` when given.
    pub fn vex(&mut self, op: VexOp, dst: Ymm, src1: Ymm, rm: Rm, imm: Option<u8>) {
        if self.form.evex() {
            // Under EVEX a comparison writes a mask register and there is no `vblendvps`:
            // those go through [`Asm::compare_to_mask`] and [`Asm::blend`], never here.
            let VexOp(map, _, opcode) = op;
            assert!(
                !matches!((map, opcode), (Map::M0F, 0xC2) | (Map::M0F3A, 0x4A)),
                "vcmpps or vblendvps emitted as a vector operation in EVEX code"
            );
            self.evex(op, dst, src1, rm, imm, 0, false);
            return;
        }
        debug_assert!(dst < 16 && src1 < 16 && !matches!(rm, Rm::Reg(r) if r >= 16), "VEX encodes registers 0-15");
        let VexOp(map, prefix, opcode) = op;
        let (b_bit, x_bit, modrm_rm) = rm_fields(rm);
        let r_bit = dst >> 3;
        self.code.push(0xC4);
        self.code.push(((r_bit ^ 1) << 7) | ((x_bit ^ 1) << 6) | ((b_bit ^ 1) << 5) | map as u8);
        // W0, vvvv inverted, L1 (256 bits), implied prefix.
        self.code.push(((!src1 & 0xF) << 3) | (1 << 2) | prefix as u8);
        self.code.push(opcode);
        self.code.push(((dst & 7) << 3) | modrm_rm);
        self.memory_operand(rm, imm, 32);
    }

    /// Emits the EVEX form of `op dst {k mask}, src1, rm` (`mask` 0 for none; `zeroing`
    /// clears the lanes the mask leaves out instead of keeping them), then `imm`.
    fn evex(&mut self, op: VexOp, dst: u8, src1: u8, rm: Rm, imm: Option<u8>, mask: u8, zeroing: bool) {
        let VexOp(map, prefix, opcode) = evex_equivalent(op);
        let (b_bit, x_bit, modrm_rm) = rm_fields(rm);
        let (r_bit, r_high) = ((dst >> 3) & 1, dst >> 4);
        let length: u8 = if self.form == Form::Evex512 { 0b10 } else { 0b01 };
        self.code.push(0x62);
        self.code.push(((r_bit ^ 1) << 7) | ((x_bit ^ 1) << 6) | ((b_bit ^ 1) << 5) | ((r_high ^ 1) << 4) | map as u8);
        // W0, vvvv inverted, the fixed 1, implied prefix.
        self.code.push(((!src1 & 0xF) << 3) | (1 << 2) | prefix as u8);
        // Zeroing, vector length, no broadcast, V' inverted, the mask register.
        self.code.push((u8::from(zeroing) << 7) | (length << 5) | ((((src1 >> 4) & 1) ^ 1) << 3) | mask);
        self.code.push(opcode);
        self.code.push(((dst & 7) << 3) | modrm_rm);
        self.wide_pool = true;
        self.memory_operand(rm, imm, 1);
    }

    /// The SIB byte, displacement and immediate after a ModRM byte for `rm`; `next` is the
    /// displacement byte of the next vector (32 under VEX; 1 under EVEX, which scales an 8-bit
    /// displacement by the vector's bytes).
    fn memory_operand(&mut self, rm: Rm, imm: Option<u8>, next: u8) {
        match rm {
            Rm::Mem(Mem::RaxPlusRcx) => self.code.push(0x08),
            Rm::Mem(Mem::RaxPlusRcxNext) => self.code.extend_from_slice(&[0x08, next]),
            Rm::Mem(Mem::Constant(k)) => {
                let at = self.code.len();
                self.code.extend_from_slice(&[0; 4]);
                let end = self.code.len() + usize::from(imm.is_some());
                self.fixups.push((at, end, k));
            }
            _ => {}
        }
        if let Some(imm) = imm {
            self.code.push(imm);
        }
    }

    /// `vcmpps k, a, b, predicate` (EVEX): the lanes where the predicate holds, as mask `k`.
    pub fn compare_to_mask(&mut self, k: u8, a: Ymm, b: Rm, predicate: u8) {
        debug_assert!(self.form.evex());
        self.evex(VCMPPS, k, a, b, Some(predicate), 0, false);
    }

    /// `vblendmps d{k}, if_clear, if_set` (EVEX): `k ? if_set : if_clear` per lane.
    pub fn blend(&mut self, d: Ymm, k: u8, if_clear: Ymm, if_set: Rm) {
        debug_assert!(self.form.evex());
        self.evex(VBLENDMPS, d, if_clear, if_set, None, k, false);
    }

    /// `vmovups d{k}{z}, src` (EVEX): `k ? src : 0` per lane.
    pub fn masked_move(&mut self, d: Ymm, k: u8, src: Rm) {
        debug_assert!(self.form.evex());
        self.evex(VMOVUPS_LOAD, d, 0, src, None, k, true);
    }

    /// `korw d, a, b` (or `kandw` when `and`): a mask from two masks.
    pub fn combine_masks(&mut self, and: bool, d: u8, a: u8, b: u8) {
        self.code.extend_from_slice(&[0xC5, 0x80 | ((!a & 0xF) << 3) | (1 << 2), if and { 0x41 } else { 0x45 }, 0xC0 | (d << 3) | b]);
    }

    /// `op dst, a, b` on registers.
    pub fn regs(&mut self, op: VexOp, dst: Ymm, a: Ymm, b: Ymm) {
        self.vex(op, dst, a, Rm::Reg(b), None);
    }

    /// The memory operand of the constant `lanes` (the same 8 lanes twice in 512-bit code),
    /// added to the pool unless it is there already; the register keeping it instead, if any
    /// ([`Asm::keep_in_register`]).
    pub fn constant(&mut self, lanes: [u32; 8]) -> Rm {
        if let Some(&(_, r)) = self.kept.iter().find(|(c, _)| *c == lanes) {
            return Rm::Reg(r);
        }
        let k = match self.constants.iter().position(|c| *c == lanes) {
            Some(k) => k,
            None => {
                self.constants.push(lanes);
                self.uses.push(0);
                self.constants.len() - 1
            }
        };
        self.uses[k] += usize::from(self.counting);
        Rm::Mem(Mem::Constant(k))
    }

    /// The pooled constants asked for while counting, the most used first.
    pub fn constants_by_use(&self) -> Vec<[u32; 8]> {
        let mut used: Vec<(usize, [u32; 8])> =
            self.uses.iter().zip(&self.constants).filter(|(n, _)| **n > 0).map(|(n, c)| (*n, *c)).collect();
        used.sort_by(|a, b| b.cmp(a));
        used.into_iter().map(|(_, c)| c).collect()
    }

    /// Loads `lanes` into `r`, where [`Asm::constant`] finds it from now on.
    pub fn keep_in_register(&mut self, lanes: [u32; 8], r: Ymm) {
        let at = self.constant(lanes);
        self.vex(VMOVUPS_LOAD, r, 0, at, None);
        self.kept.push((lanes, r));
    }

    /// The memory operand of `v` in every lane.
    pub fn splat(&mut self, v: f32) -> Rm {
        self.constant([v.to_bits(); 8])
    }

    /// `mov rax, [rdi + 8 * slot]`: the pointer of slot `slot` of the table (nothing when
    /// `rax` holds it since the last [`Asm::forget_pointer`]).
    pub fn load_pointer(&mut self, slot: usize) {
        if self.rax_slot == Some(slot) {
            return;
        }
        self.rax_slot = Some(slot);
        let disp = u32::try_from(8 * slot).expect("pointer table offset fits 32 bits");
        self.code.extend_from_slice(&[0x48, 0x8B, 0x87]);
        self.code.extend_from_slice(&disp.to_le_bytes());
    }

    /// Where jumps land, `rax` may hold any pointer.
    pub fn forget_pointer(&mut self) {
        self.rax_slot = None;
    }

    /// `xor ecx, ecx`.
    pub fn zero_rcx(&mut self) {
        self.code.extend_from_slice(&[0x31, 0xC9]);
    }

    /// `add rcx, bytes` (below 128).
    pub fn add_rcx(&mut self, bytes: u8) {
        assert!(bytes < 128, "a sign-extended 8-bit immediate");
        self.code.extend_from_slice(&[0x48, 0x83, 0xC1, bytes]);
    }

    /// `lea rdx, [rsi - 32]`.
    pub fn rdx_is_rsi_minus_32(&mut self) {
        self.code.extend_from_slice(&[0x48, 0x8D, 0x56, 0xE0]);
    }

    /// `cmp rcx, limit`.
    pub fn cmp_rcx(&mut self, limit: Limit) {
        let modrm = match limit {
            Limit::Rsi => 0xF1,
            Limit::Rdx => 0xD1,
        };
        self.code.extend_from_slice(&[0x48, 0x39, modrm]);
    }

    /// A jump to a place not yet written; returns what [`Asm::patch_jump`] takes.
    pub fn jump_forward(&mut self, kind: Jump) -> usize {
        self.code.extend_from_slice(kind.opcode());
        self.code.extend_from_slice(&[0; 4]);
        self.code.len() - 4
    }

    /// Points the jump `at` (from [`Asm::jump_forward`]) here.
    pub fn patch_jump(&mut self, at: usize) {
        let rel = i32::try_from(self.code.len() - (at + 4)).expect("jump within 2 GB");
        self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
    }

    /// A jump back to offset `target`.
    pub fn jump_back(&mut self, kind: Jump, target: usize) {
        self.code.extend_from_slice(kind.opcode());
        let rel = target as i64 - (self.code.len() + 4) as i64;
        self.code.extend_from_slice(&i32::try_from(rel).expect("jump within 2 GB").to_le_bytes());
    }

    /// `vzeroupper; ret`.
    pub fn ret(&mut self) {
        self.code.extend_from_slice(&[0xC5, 0xF8, 0x77, 0xC3]);
    }

    /// Appends the constant pool (aligned to its entries' size: 32 bytes, or 64 when EVEX
    /// code reads it, each entry then its 8 lanes twice) and patches its addresses; returns the
    /// finished code.
    pub fn finish(mut self) -> Vec<u8> {
        let entry = if self.wide_pool { 64 } else { 32 };
        while !self.code.len().is_multiple_of(entry) {
            self.code.push(0xCC);
        }
        let pool = self.code.len();
        for c in std::mem::take(&mut self.constants) {
            for _ in 0..entry / 32 {
                for v in c {
                    self.code.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        for (at, end, k) in std::mem::take(&mut self.fixups) {
            let rel = i32::try_from((pool + entry * k) as i64 - end as i64).expect("constants within 2 GB");
            self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte sequences checked against an assembler's listing (GNU as, Intel syntax; where it
    /// chose the two-byte VEX prefix, its three-byte equivalent).
    #[test]
    fn encodes_like_an_assembler() {
        type Case<'a> = (&'a dyn Fn(&mut Asm), &'a [u8]);
        let cases: [Case; 18] = [
            // vaddps ymm0, ymm1, ymm2
            (&|a| a.vex(VADDPS, 0, 1, Rm::Reg(2), None), &[0xC4, 0xE1, 0x74, 0x58, 0xC2]),
            // vmulps ymm9, ymm10, ymm15
            (&|a| a.vex(VMULPS, 9, 10, Rm::Reg(15), None), &[0xC4, 0x41, 0x2C, 0x59, 0xCF]),
            // vmovups ymm3, [rax+rcx]
            (&|a| a.vex(VMOVUPS_LOAD, 3, 0, Rm::Mem(Mem::RaxPlusRcx), None), &[0xC4, 0xE1, 0x7C, 0x10, 0x1C, 0x08]),
            // vmovups [rax+rcx], ymm12
            (&|a| a.vex(VMOVUPS_STORE, 12, 0, Rm::Mem(Mem::RaxPlusRcx), None), &[0xC4, 0x61, 0x7C, 0x11, 0x24, 0x08]),
            // vbroadcastss ymm5, [rax]
            (&|a| a.vex(VBROADCASTSS, 5, 0, Rm::Mem(Mem::Rax), None), &[0xC4, 0xE2, 0x7D, 0x18, 0x28]),
            // vcmpps ymm1, ymm2, ymm3, 0x1e
            (&|a| a.vex(VCMPPS, 1, 2, Rm::Reg(3), Some(0x1E)), &[0xC4, 0xE1, 0x6C, 0xC2, 0xCB, 0x1E]),
            // vblendvps ymm0, ymm1, ymm2, ymm3
            (&|a| a.vex(VBLENDVPS, 0, 1, Rm::Reg(2), Some(3 << 4)), &[0xC4, 0xE3, 0x75, 0x4A, 0xC2, 0x30]),
            // vminps ymm4, ymm11, ymm2
            (&|a| a.vex(VMINPS, 4, 11, Rm::Reg(2), None), &[0xC4, 0xE1, 0x24, 0x5D, 0xE2]),
            // vcvttps2dq ymm8, ymm1
            (&|a| a.vex(VCVTTPS2DQ, 8, 0, Rm::Reg(1), None), &[0xC4, 0x61, 0x7E, 0x5B, 0xC1]),
            // vcvtdq2ps ymm1, ymm8
            (&|a| a.vex(VCVTDQ2PS, 1, 0, Rm::Reg(8), None), &[0xC4, 0xC1, 0x7C, 0x5B, 0xC8]),
            // vpsubd ymm3, ymm4, ymm13
            (&|a| a.vex(VPSUBD, 3, 4, Rm::Reg(13), None), &[0xC4, 0xC1, 0x5D, 0xFA, 0xDD]),
            // vpsrad ymm9, ymm3, 1
            (&|a| a.vex(VPSHIFTD_IMM, SHIFT_RIGHT_ARITHMETIC, 9, Rm::Reg(3), Some(1)), &[0xC4, 0xE1, 0x35, 0x72, 0xE3, 0x01]),
            // vpslld ymm2, ymm10, 23
            (&|a| a.vex(VPSHIFTD_IMM, SHIFT_LEFT, 2, Rm::Reg(10), Some(23)), &[0xC4, 0xC1, 0x6D, 0x72, 0xF2, 0x17]),
            // vpermps ymm5, ymm12, ymm6
            (&|a| a.vex(VPERMPS, 5, 12, Rm::Reg(6), None), &[0xC4, 0xE2, 0x1D, 0x16, 0xEE]),
            // vfmadd231ps ymm14, ymm1, ymm9
            (&|a| a.vex(VFMADD231PS, 14, 1, Rm::Reg(9), None), &[0xC4, 0x42, 0x75, 0xB8, 0xF1]),
            // vmovups ymm3, [rax+rcx+32]
            (&|a| a.vex(VMOVUPS_LOAD, 3, 0, Rm::Mem(Mem::RaxPlusRcxNext), None), &[0xC4, 0xE1, 0x7C, 0x10, 0x5C, 0x08, 0x20]),
            // vmovups [rax+rcx+32], ymm12
            (&|a| a.vex(VMOVUPS_STORE, 12, 0, Rm::Mem(Mem::RaxPlusRcxNext), None), &[0xC4, 0x61, 0x7C, 0x11, 0x64, 0x08, 0x20]),
            // vmovntps [rax+rcx], ymm9
            (&|a| a.vex(VMOVNTPS, 9, 0, Rm::Mem(Mem::RaxPlusRcx), None), &[0xC4, 0x61, 0x7C, 0x2B, 0x0C, 0x08]),
        ];
        for (emit, want) in cases {
            let mut a = Asm::default();
            emit(&mut a);
            assert_eq!(a.code, want);
        }
        let mut a = Asm::default();
        a.load_pointer(3);
        a.zero_rcx();
        a.rdx_is_rsi_minus_32();
        a.cmp_rcx(Limit::Rdx);
        a.cmp_rcx(Limit::Rsi);
        a.add_rcx(64);
        let want = [
            [0x48, 0x8B, 0x87, 24, 0, 0, 0].as_slice(),
            &[0x31, 0xC9],
            &[0x48, 0x8D, 0x56, 0xE0],
            &[0x48, 0x39, 0xD1],
            &[0x48, 0x39, 0xF1],
            &[0x48, 0x83, 0xC1, 0x40],
        ];
        assert_eq!(a.code, want.concat());
        // Jumps: forward over one byte, then back to the start.
        let mut a = Asm::default();
        let over = a.jump_forward(Jump::AboveOrEqual);
        a.code.push(0x90);
        a.patch_jump(over);
        a.jump_back(Jump::Below, 0);
        assert_eq!(a.code, [0x0F, 0x83, 1, 0, 0, 0, 0x90, 0x0F, 0x82, 0xF3, 0xFF, 0xFF, 0xFF]);
    }

    /// The EVEX forms, checked against GNU as (Intel syntax) the same way.
    #[test]
    fn encodes_evex_like_an_assembler() {
        type Case<'a> = (Form, &'a dyn Fn(&mut Asm), &'a [u8]);
        let z = Form::Evex512;
        let cases: [Case; 26] = [
            // vscalefps zmm1, zmm2, zmm3
            (z, &|a| a.vex(VSCALEFPS, 1, 2, Rm::Reg(3), None), &[0x62, 0xF2, 0x6D, 0x48, 0x2C, 0xCB]),
            // vscalefps ymm17, ymm18, ymm25
            (Form::Evex256, &|a| a.vex(VSCALEFPS, 17, 18, Rm::Reg(25), None), &[0x62, 0x82, 0x6D, 0x20, 0x2C, 0xC9]),
            // vaddps zmm0, zmm1, zmm2
            (z, &|a| a.vex(VADDPS, 0, 1, Rm::Reg(2), None), &[0x62, 0xF1, 0x74, 0x48, 0x58, 0xC2]),
            // vaddps zmm17, zmm25, zmm9
            (z, &|a| a.vex(VADDPS, 17, 25, Rm::Reg(9), None), &[0x62, 0xC1, 0x34, 0x40, 0x58, 0xC9]),
            // vmulps zmm9, zmm10, zmm31
            (z, &|a| a.vex(VMULPS, 9, 10, Rm::Reg(31), None), &[0x62, 0x11, 0x2C, 0x48, 0x59, 0xCF]),
            // vmovups zmm3, [rax+rcx]
            (z, &|a| a.vex(VMOVUPS_LOAD, 3, 0, Rm::Mem(Mem::RaxPlusRcx), None), &[0x62, 0xF1, 0x7C, 0x48, 0x10, 0x1C, 0x08]),
            // vmovups [rax+rcx], zmm20
            (z, &|a| a.vex(VMOVUPS_STORE, 20, 0, Rm::Mem(Mem::RaxPlusRcx), None), &[0x62, 0xE1, 0x7C, 0x48, 0x11, 0x24, 0x08]),
            // vmovups zmm3, [rax+rcx+64]
            (z, &|a| a.vex(VMOVUPS_LOAD, 3, 0, Rm::Mem(Mem::RaxPlusRcxNext), None), &[0x62, 0xF1, 0x7C, 0x48, 0x10, 0x5C, 0x08, 0x01]),
            // vbroadcastss zmm21, [rax]
            (z, &|a| a.vex(VBROADCASTSS, 21, 0, Rm::Mem(Mem::Rax), None), &[0x62, 0xE2, 0x7D, 0x48, 0x18, 0x28]),
            // vcmpps k1, zmm2, zmm19, 0x1e
            (z, &|a| a.compare_to_mask(K1, 2, Rm::Reg(19), 0x1E), &[0x62, 0xB1, 0x6C, 0x48, 0xC2, 0xCB, 0x1E]),
            // vblendmps zmm0{k1}, zmm1, zmm18
            (z, &|a| a.blend(0, K1, 1, Rm::Reg(18)), &[0x62, 0xB2, 0x75, 0x49, 0x65, 0xC2]),
            // vmovups zmm5{k2}{z}, zmm6
            (z, &|a| a.masked_move(5, K2, Rm::Reg(6)), &[0x62, 0xF1, 0x7C, 0xCA, 0x10, 0xEE]),
            // vcvttps2dq zmm24, zmm1
            (z, &|a| a.vex(VCVTTPS2DQ, 24, 0, Rm::Reg(1), None), &[0x62, 0x61, 0x7E, 0x48, 0x5B, 0xC1]),
            // vcvtdq2ps zmm1, zmm24
            (z, &|a| a.vex(VCVTDQ2PS, 1, 0, Rm::Reg(24), None), &[0x62, 0x91, 0x7C, 0x48, 0x5B, 0xC8]),
            // vpsubd zmm3, zmm4, zmm29
            (z, &|a| a.vex(VPSUBD, 3, 4, Rm::Reg(29), None), &[0x62, 0x91, 0x5D, 0x48, 0xFA, 0xDD]),
            // vpsrad zmm25, zmm3, 1
            (z, &|a| a.vex(VPSHIFTD_IMM, SHIFT_RIGHT_ARITHMETIC, 25, Rm::Reg(3), Some(1)), &[0x62, 0xF1, 0x35, 0x40, 0x72, 0xE3, 0x01]),
            // vpslld zmm2, zmm26, 23
            (z, &|a| a.vex(VPSHIFTD_IMM, SHIFT_LEFT, 2, Rm::Reg(26), Some(23)), &[0x62, 0x91, 0x6D, 0x48, 0x72, 0xF2, 0x17]),
            // vpermps zmm5, zmm12, zmm22
            (z, &|a| a.vex(VPERMPS, 5, 12, Rm::Reg(22), None), &[0x62, 0xB2, 0x1D, 0x48, 0x16, 0xEE]),
            // vfmadd231ps zmm30, zmm1, zmm9
            (z, &|a| a.vex(VFMADD231PS, 30, 1, Rm::Reg(9), None), &[0x62, 0x42, 0x75, 0x48, 0xB8, 0xF1]),
            // vmovntps [rax+rcx], zmm9
            (z, &|a| a.vex(VMOVNTPS, 9, 0, Rm::Mem(Mem::RaxPlusRcx), None), &[0x62, 0x71, 0x7C, 0x48, 0x2B, 0x0C, 0x08]),
            // vpandd / vpxord zmm1, zmm2, zmm3 for vandps / vxorps
            (z, &|a| a.vex(VANDPS, 1, 2, Rm::Reg(3), None), &[0x62, 0xF1, 0x6D, 0x48, 0xDB, 0xCB]),
            (z, &|a| a.vex(VXORPS, 1, 2, Rm::Reg(3), None), &[0x62, 0xF1, 0x6D, 0x48, 0xEF, 0xCB]),
            // vrndscaleps zmm1, zmm2, 9 (for vroundps)
            (z, &|a| a.vex(VROUNDPS, 1, 0, Rm::Reg(2), Some(9)), &[0x62, 0xF3, 0x7D, 0x48, 0x08, 0xCA, 0x09]),
            // vfmadd213ps ymm30, ymm1, ymm9
            (Form::Evex256, &|a| a.vex(VFMADD213PS, 30, 1, Rm::Reg(9), None), &[0x62, 0x42, 0x75, 0x28, 0xA8, 0xF1]),
            // vpaddd ymm17, ymm18, ymm19
            (Form::Evex256, &|a| a.vex(VPADDD, 17, 18, Rm::Reg(19), None), &[0x62, 0xA1, 0x6D, 0x20, 0xFE, 0xCB]),
            // korw k1, k1, k2
            (z, &|a| a.combine_masks(false, K1, K1, K2), &[0xC5, 0xF4, 0x45, 0xCA]),
        ];
        for (form, emit, want) in cases {
            let mut a = Asm { form, ..Asm::default() };
            emit(&mut a);
            assert_eq!(a.code, want);
        }
        // A vector comparison or blend by a vector mask has no EVEX form: refused, not miscoded.
        for op in [VCMPPS, VBLENDVPS] {
            let refused = std::panic::catch_unwind(|| Asm { form: z, ..Asm::default() }.vex(op, 1, 2, Rm::Reg(3), Some(0)));
            assert!(refused.is_err());
        }
        // kandw k1, k1, k2
        let mut a = Asm::default();
        a.combine_masks(true, K1, K1, K2);
        assert_eq!(a.code, [0xC5, 0xF4, 0x41, 0xCA]);
        // The pool after EVEX code: 64-byte entries, each 8 lanes twice, addressed by their start.
        let mut a = Asm { form: Form::Evex512, ..Asm::default() };
        let one = a.splat(1.0);
        let two = a.splat(2.0);
        a.vex(VMOVUPS_LOAD, 0, 0, one, None);
        a.vex(VMOVUPS_LOAD, 1, 0, two, None);
        let code = a.finish();
        assert_eq!(code.len(), 64 + 2 * 64);
        let lanes = |at: usize| -> Vec<f32> { code[at..at + 64].chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect() };
        assert_eq!((lanes(64), lanes(128)), (vec![1.0; 16], vec![2.0; 16]));
        // The second load (bytes 10..20) reaches the second entry from its end.
        assert_eq!(i32::from_le_bytes(code[16..20].try_into().unwrap()), 128 - 20);
    }
}
