//! A minimal x86-64 assembler: the AVX instructions (VEX-encoded, 256-bit `ymm` registers)
//! and the few integer instructions that the element-wise segments of [`super`] are made of.
//!
//! Every instruction is written with the three-byte VEX prefix (`C4`), which encodes all of
//! them; memory operands are `[rax + rcx]` (the pointer of an operand plus the loop's byte
//! offset), `[rax]` (a scalar broadcast) and `[rip + disp32]` (a constant after the code).

/// A `ymm` register, 0 to 15.
pub type Ymm = u8;

/// Where a memory operand points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mem {
    /// `[rax + rcx]`.
    RaxPlusRcx,
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
}

/// An instruction of the VEX form: opcode map, implied prefix and opcode byte.
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
pub const VMOVAPS: VexOp = VexOp(Map::M0F, Prefix::None, 0x28);
/// `vcmpps` (with a predicate byte).
pub const VCMPPS: VexOp = VexOp(Map::M0F, Prefix::None, 0xC2);
/// `vroundps` (with a rounding-mode byte).
pub const VROUNDPS: VexOp = VexOp(Map::M0F3A, Prefix::P66, 0x08);
/// `vblendvps` (the mask register in the high nibble of the last byte).
pub const VBLENDVPS: VexOp = VexOp(Map::M0F3A, Prefix::P66, 0x4A);
pub const VBROADCASTSS: VexOp = VexOp(Map::M0F38, Prefix::P66, 0x18);

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
}

impl Asm {
    /// Emits `op dst, src1, rm` (`src1` is ignored by the two-operand forms, pass 0), then
    /// `imm` when given.
    pub fn vex(&mut self, op: VexOp, dst: Ymm, src1: Ymm, rm: Rm, imm: Option<u8>) {
        let VexOp(map, prefix, opcode) = op;
        let (b_bit, x_bit, modrm_rm) = match rm {
            Rm::Reg(r) => (r >> 3, 0, 0xC0 | (r & 7)),
            Rm::Mem(Mem::RaxPlusRcx) => (0, 0, 0x04),
            Rm::Mem(Mem::Rax) => (0, 0, 0x00),
            Rm::Mem(Mem::Constant(_)) => (0, 0, 0x05),
        };
        let r_bit = dst >> 3;
        self.code.push(0xC4);
        self.code.push(((r_bit ^ 1) << 7) | ((x_bit ^ 1) << 6) | ((b_bit ^ 1) << 5) | map as u8);
        // W0, vvvv inverted, L1 (256 bits), implied prefix.
        self.code.push(((!src1 & 0xF) << 3) | (1 << 2) | prefix as u8);
        self.code.push(opcode);
        self.code.push(((dst & 7) << 3) | modrm_rm);
        match rm {
            Rm::Mem(Mem::RaxPlusRcx) => self.code.push(0x08),
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

    /// `mov rax, [rdi + 8 * slot]`: the pointer of slot `slot` of the table.
    pub fn load_pointer(&mut self, slot: usize) {
        let disp = u32::try_from(8 * slot).expect("pointer table offset fits 32 bits");
        self.code.extend_from_slice(&[0x48, 0x8B, 0x87]);
        self.code.extend_from_slice(&disp.to_le_bytes());
    }

    /// `xor ecx, ecx`.
    pub fn zero_rcx(&mut self) {
        self.code.extend_from_slice(&[0x31, 0xC9]);
    }

    /// `add rcx, 32; cmp rcx, rsi; jb top`: the loop's back edge to offset `top`.
    pub fn loop_back(&mut self, top: usize) {
        self.code.extend_from_slice(&[0x48, 0x83, 0xC1, 0x20, 0x48, 0x39, 0xF1, 0x0F, 0x82]);
        let rel = top as i64 - (self.code.len() + 4) as i64;
        self.code.extend_from_slice(&i32::try_from(rel).expect("loop fits 2 GB").to_le_bytes());
    }

    /// `vzeroupper; ret`.
    pub fn ret(&mut self) {
        self.code.extend_from_slice(&[0xC5, 0xF8, 0x77, 0xC3]);
    }

    /// Appends the 32-byte constants (aligned to 32) and patches their addresses; returns
    /// the finished code.
    pub fn finish(mut self, constants: &[[u32; 8]]) -> Vec<u8> {
        while !self.code.len().is_multiple_of(32) {
            self.code.push(0xCC);
        }
        let pool = self.code.len();
        for c in constants {
            for v in c {
                self.code.extend_from_slice(&v.to_le_bytes());
            }
        }
        for (at, end, k) in std::mem::take(&mut self.fixups) {
            let rel = i32::try_from((pool + 32 * k) as i64 - end as i64).expect("constants within 2 GB");
            self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte sequences checked against an assembler's listing (GNU as, Intel syntax).
    #[test]
    fn encodes_like_an_assembler() {
        type Case<'a> = (&'a dyn Fn(&mut Asm), &'a [u8]);
        let cases: [Case; 7] = [
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
        ];
        for (emit, want) in cases {
            let mut a = Asm::default();
            emit(&mut a);
            assert_eq!(a.code, want);
        }
        let mut a = Asm::default();
        a.load_pointer(3);
        a.zero_rcx();
        assert_eq!(a.code, [0x48, 0x8B, 0x87, 24, 0, 0, 0, 0x31, 0xC9]);
    }
}
