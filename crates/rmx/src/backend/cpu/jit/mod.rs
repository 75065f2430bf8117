//! Generated machine code for runs of cheap element-wise steps of a fused program (x86-64
//! with AVX2, or AVX-512 where the fused kernels use it, on Unix systems).
//!
//! The fused kernel ([`super::fused`]) interprets a program one step at a time over chunks of
//! values in L1: every step is a pass that loads its operands and stores its result. For the
//! steps that are one or a few vector instructions (add, multiply, compare, select, ...) the
//! passes cost more than the arithmetic. A [`Segment`] is a run of such steps; [`compile`]
//! turns it into one loop that keeps the values in vector registers (16 `ymm` with AVX2, 32
//! `zmm` with AVX-512: [`x86::Form`]), loading each operand once and storing only what later
//! steps or outputs read. Each operation is the IEEE operation
//! the interpreted formula performs (no contraction into fused multiply-adds, the same
//! comparisons and selections), so the results are bit-identical. erf, exp and sigmoid are
//! sequences of a few dozen instructions ([`transcendental`]) that repeat their slice
//! kernels' operations, fused multiply-adds where those have them: in one loop with the
//! steps around them, with no pass over memory in between, and with independent chains (the
//! erf and the sigmoid of one value) free to overlap in the out-of-order core.
//!
//! The generated function takes a table of pointers (one per [`Arg::Slot`], [`Arg::Scalar`]
//! and store) and a byte count, a multiple of 32: it runs over `bytes / 4` f32 values.
//!
//! ```
//! use rmx::backend::cpu::jit::{compile, Arg, Segment, SegmentOp, VecOp};
//! // out = (x + y) * 2, with the 2 read from one value and broadcast.
//! let segment = Segment {
//!     ops: vec![
//!         SegmentOp { op: VecOp::Add, args: vec![Arg::Slot(0), Arg::Slot(1)] },
//!         SegmentOp { op: VecOp::Mul, args: vec![Arg::Value(0), Arg::Scalar(2)] },
//!     ],
//!     stores: vec![(1, 3)],
//!     streamed: vec![],
//! };
//! if let Some(kernel) = compile(&segment) {
//!     let (x, y, two, mut out) = ([1.0f32; 8], [2.0f32; 8], [2.0f32], [0.0f32; 8]);
//!     let table = [x.as_ptr(), y.as_ptr(), two.as_ptr(), out.as_mut_ptr() as *const f32];
//!     // SAFETY: every pointer covers 8 values (the scalar one value).
//!     unsafe { kernel.run(&table, 32) };
//!     assert_eq!(out, [6.0; 8]);
//! }
//! ```

mod memory;
mod transcendental;
pub mod x86;

use memory::ExecutableCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use x86::{predicate, Asm, Form, Mem, Rm, Ymm, K1, K2};

/// An operation a segment performs on f32 lanes, each with the semantics of the interpreted
/// formula it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VecOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `x` where `x` is NaN or `x > y`, else `y`.
    Max,
    /// `x` where `x` is NaN or `x < y`, else `y`.
    Min,
    Abs,
    Neg,
    Sqrt,
    /// `1 / sqrt(x)`, correctly rounded twice.
    Rsqrt,
    Square,
    Reciprocal,
    Floor,
    Ceil,
    Trunc,
    Copy,
    /// `where(c != 0, x, y)`.
    Select,
    /// `1.0` where the `vcmpps` predicate holds of `(x, y)`, else `0.0`.
    Compare(u8),
    /// `1.0` where `x != 0` (NaN included).
    NonZero,
    /// `1.0` where `x == 0`.
    IsZero,
    /// `1.0` where both are non-zero.
    And,
    /// `1.0` where either is non-zero.
    Or,
    /// [`erf_f32`](crate::backend::cpu::erf::erf_f32).
    Erf,
    /// [`exp_f32`](crate::backend::cpu::math::exp_f32).
    Exp,
    /// [`sigmoid`](crate::backend::cpu::math::sigmoid).
    Sigmoid,
}

impl VecOp {
    /// The comparison predicates of `==`, `!=`, `<`, `<=`, `>`, `>=` on floats.
    pub const EQUAL: VecOp = VecOp::Compare(predicate::EQ_OQ);
    pub const NOT_EQUAL: VecOp = VecOp::Compare(predicate::NEQ_UQ);
    pub const LESS: VecOp = VecOp::Compare(predicate::LT_OQ);
    pub const LESS_EQUAL: VecOp = VecOp::Compare(predicate::LE_OQ);
    pub const GREATER: VecOp = VecOp::Compare(predicate::GT_OQ);
    pub const GREATER_EQUAL: VecOp = VecOp::Compare(predicate::GE_OQ);
}

/// An operand of a segment operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arg {
    /// The values at table slot `k` (one per lane, advancing with the loop).
    Slot(usize),
    /// The one value at table slot `k`, the same in every lane.
    Scalar(usize),
    /// The result of operation `i` of the segment (an earlier one).
    Value(usize),
}

/// One operation of a segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SegmentOp {
    pub op: VecOp,
    pub args: Vec<Arg>,
}

/// A run of operations compiled into one loop; `stores` are `(operation, table slot)`: the
/// values written out. Stores to the slots in `streamed` bypass the caches (`vmovntps`, for
/// outputs larger than the caches: no read for ownership, no eviction of what the loop
/// reads); their pointers must be aligned to [`stream_alignment`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    pub ops: Vec<SegmentOp>,
    pub stores: Vec<(usize, usize)>,
    pub streamed: Vec<usize>,
}

/// The generated function: the System V calling convention, which `extern "C"` is on the
/// only systems code is generated for (x86-64 Unix).
type Entry = unsafe extern "C" fn(*const *const f32, usize);

/// A compiled segment.
pub struct Kernel {
    code: ExecutableCode,
}

impl Kernel {
    /// Runs the segment over `bytes / 4` values (none when `bytes` is 0: the generated loop
    /// tests its count at the bottom, so it is not entered then).
    ///
    /// # Safety
    /// `table` holds a pointer for every slot the segment names; `Slot` and store pointers
    /// cover `bytes` bytes (stores writable, not overlapping any operand), `Scalar` ones one
    /// f32; `bytes` is a multiple of 32.
    pub unsafe fn run(&self, table: &[*const f32], bytes: usize) {
        debug_assert!(bytes.is_multiple_of(32), "whole vectors of 8 f32");
        if bytes == 0 {
            return;
        }
        // SAFETY: the code is a function of this signature (`compile`); the caller vouches
        // for the memory it reads and writes.
        unsafe {
            let entry: Entry = std::mem::transmute::<*const u8, Entry>(self.code.entry());
            entry(table.as_ptr(), bytes)
        }
    }
}

/// Whether generated code runs here: x86-64 with AVX2 on Unix, unless `RMX_NO_JIT` is set.
///
/// ```
/// let on = rmx::backend::cpu::jit::available();
/// assert!(!on || std::env::var_os("RMX_NO_JIT").is_none());
/// ```
pub fn available() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    #[cfg(all(target_arch = "x86_64", unix))]
    return *ON.get_or_init(|| std::is_x86_feature_detected!("avx2") && std::env::var_os("RMX_NO_JIT").is_none());
    #[cfg(not(all(target_arch = "x86_64", unix)))]
    false
}

/// How generated loops are encoded here: 512-bit EVEX code where the fused kernels use
/// AVX-512 ([`wide_vectors`](crate::backend::cpu::fused::wide_vectors)), otherwise AVX2.
fn form() -> Form {
    if crate::backend::cpu::fused::wide_vectors() {
        Form::Evex512
    } else {
        Form::Vex256
    }
}

/// The alignment that the pointers of streamed slots need ([`Segment::streamed`]): a vector's
/// bytes, 64 where loops are 512-bit.
///
/// ```
/// let bytes = rmx::backend::cpu::jit::stream_alignment();
/// assert!(bytes == 32 || bytes == 64);
/// ```
pub fn stream_alignment() -> usize {
    form().vector_bytes()
}

/// After this many distinct segments no more are compiled (each holds a page of code): a
/// process that keeps making new programs falls back to interpreting them.
const MAX_KERNELS: usize = 4096;

type KernelCache = Mutex<HashMap<Segment, Option<Arc<Kernel>>>>;

fn kernel_cache() -> std::sync::MutexGuard<'static, HashMap<Segment, Option<Arc<Kernel>>>> {
    static CACHE: OnceLock<KernelCache> = OnceLock::new();
    CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// How many segments have been compiled into code in this process (to observe that
/// generated code ran).
///
/// ```
/// use rmx::backend::cpu::jit::{compile, compiled_kernels, Arg, Segment, SegmentOp, VecOp};
/// let before = compiled_kernels();
/// // A segment no other code compiles: |x| · x.
/// let ops = vec![
///     SegmentOp { op: VecOp::Abs, args: vec![Arg::Slot(0)] },
///     SegmentOp { op: VecOp::Mul, args: vec![Arg::Value(0), Arg::Slot(0)] },
/// ];
/// let compiled = compile(&Segment { ops, stores: vec![(1, 1)], streamed: vec![] }).is_some();
/// assert_eq!(compiled_kernels(), before + usize::from(compiled));
/// ```
pub fn compiled_kernels() -> usize {
    kernel_cache().values().filter(|k| k.is_some()).count()
}

/// The compiled kernel of `segment`, from a process-wide cache; `None` when generated code
/// does not run here ([`available`]), the segment needs more than the vector registers (16,
/// or 32 for 512-bit code),
/// code cannot be mapped executable, or the cache is full.
pub fn compile(segment: &Segment) -> Option<Arc<Kernel>> {
    let mut cache = kernel_cache();
    if let Some(k) = cache.get(segment) {
        return k.clone();
    }
    if !available() || cache.len() >= MAX_KERNELS {
        return None;
    }
    let kernel = assemble(segment).and_then(|code| ExecutableCode::new(&code)).map(|code| Arc::new(Kernel { code }));
    cache.insert(segment.clone(), kernel.clone());
    kernel
}

/// Whether `segment` fits the registers (what [`compile`] needs besides executable memory).
pub fn fits(segment: &Segment) -> bool {
    assemble(segment).is_some()
}

/// The vector registers not in use.
#[derive(Clone)]
struct Registers {
    free: Vec<Ymm>,
    /// The fewest that were free at any time.
    fewest: usize,
}

impl Registers {
    fn new(free: Vec<Ymm>) -> Self {
        Registers { fewest: free.len(), free }
    }
    fn take(&mut self) -> Option<Ymm> {
        let r = self.free.pop()?;
        self.fewest = self.fewest.min(self.free.len());
        Some(r)
    }
    fn give(&mut self, r: Ymm) {
        self.free.push(r);
    }
}

/// Loads every broadcast scalar `ops` read into a register before the loop: slot → register;
/// `None` when they take all registers. (Constants are memory operands of the pool, or
/// registers the loop leaves free: see [`assemble`].)
fn hoist_scalars(ops: &[SegmentOp], asm: &mut Asm, regs: &mut Registers) -> Option<HashMap<usize, Ymm>> {
    let mut scalars = HashMap::new();
    for o in ops {
        for a in &o.args {
            if let Arg::Scalar(k) = *a {
                if let std::collections::hash_map::Entry::Vacant(e) = scalars.entry(k) {
                    let r = regs.take()?;
                    asm.load_pointer(k);
                    asm.vex(x86::VBROADCASTSS, r, 0, Rm::Mem(Mem::Rax), None);
                    e.insert(r);
                }
            }
        }
    }
    Some(scalars)
}

/// The last operation reading each value (at least the value's own, for its stores) and each
/// slot within one iteration; `None` when an operation reads a value not computed before it.
fn last_reads(ops: &[SegmentOp]) -> Option<(Vec<usize>, HashMap<usize, usize>)> {
    let mut last_value: Vec<usize> = (0..ops.len()).collect();
    let mut last_slot = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        for a in &o.args {
            match *a {
                Arg::Value(v) if v < i => last_value[v] = i,
                Arg::Value(_) => return None,
                Arg::Slot(k) => {
                    last_slot.insert(k, i);
                }
                Arg::Scalar(_) => {}
            }
        }
    }
    Some((last_value, last_slot))
}

/// The machine code of `segment`, or `None` when its values do not fit the registers.
///
/// With AVX2 the loop computes two vectors per iteration where their values fit the 16
/// registers, each operation for both before the next (independent chains the core can
/// overlap), then one vector for a remaining 32 bytes; otherwise one vector per iteration.
/// With AVX-512 it computes one 512-bit vector per iteration (32 registers), then a 256-bit
/// one for a remaining 32 bytes. The constants the loop reads most are then kept in the
/// registers it leaves free (assembled again).
fn assemble(segment: &Segment) -> Option<Vec<u8>> {
    let (asm, spare) = assemble_keeping(segment, &[])?;
    let keep: Vec<[u32; 8]> = asm.constants_by_use().into_iter().take(spare).collect();
    if keep.is_empty() {
        return Some(asm.finish());
    }
    Some(assemble_keeping(segment, &keep)?.0.finish())
}

/// [`assemble`] with the constants `keep` in registers; also returns how many registers
/// stayed free throughout.
fn assemble_keeping(segment: &Segment, keep: &[[u32; 8]]) -> Option<(Asm, usize)> {
    let mut asm = Asm::default();
    asm.form = form();
    let wide = asm.form == Form::Evex512;
    let mut regs = Registers::new((0..if wide { 32 } else { 16 }).rev().collect());
    let scalars = hoist_scalars(&segment.ops, &mut asm, &mut regs)?;
    for &lanes in keep {
        asm.keep_in_register(lanes, regs.take()?);
    }
    let reads = last_reads(&segment.ops)?;
    asm.zero_rcx();
    // 64 bytes per iteration: one 512-bit vector, or two 256-bit ones where they fit.
    let ways = if wide { 1 } else { 2 };
    let spare = if wide || body(&mut Asm::default(), segment, &scalars, &reads, regs.clone(), 2).is_some() {
        // rdx = bytes - 32: 64 bytes remain while rcx < rdx.
        asm.rdx_is_rsi_minus_32();
        let to_check = asm.jump_forward(x86::Jump::Always);
        let top = asm.code.len();
        let full = body(&mut asm, segment, &scalars, &reads, regs.clone(), ways)?;
        asm.add_rcx(64);
        asm.patch_jump(to_check);
        asm.cmp_rcx(x86::Limit::Rdx);
        asm.jump_back(x86::Jump::Below, top);
        asm.cmp_rcx(x86::Limit::Rsi);
        let to_end = asm.jump_forward(x86::Jump::AboveOrEqual);
        if wide {
            asm.form = Form::Evex256;
        }
        let single = body(&mut asm, segment, &scalars, &reads, regs, 1)?;
        asm.patch_jump(to_end);
        full.min(single)
    } else {
        let top = asm.code.len();
        let single = body(&mut asm, segment, &scalars, &reads, regs, 1)?;
        asm.add_rcx(32);
        asm.cmp_rcx(x86::Limit::Rsi);
        asm.jump_back(x86::Jump::Below, top);
        single
    };
    asm.ret();
    Some((asm, spare))
}

/// Emits one iteration's work on `ways` vectors (1 or 2, the second right after the first)
/// at `[pointer + rcx]`; returns the fewest registers left free, or `None` when the
/// values do not fit `regs`.
fn body(
    asm: &mut Asm,
    segment: &Segment,
    scalars: &HashMap<usize, Ymm>,
    (last_value, last_slot): &(Vec<usize>, HashMap<usize, usize>),
    mut regs: Registers,
    ways: usize,
) -> Option<usize> {
    asm.forget_pointer();
    asm.counting = true;
    let ops = &segment.ops;
    let at = |way: usize| Rm::Mem(if way == 0 { Mem::RaxPlusRcx } else { Mem::RaxPlusRcxNext });
    let mut value_reg: Vec<[Option<Ymm>; 2]> = vec![[None; 2]; ops.len()];
    let mut slot_reg: HashMap<(usize, usize), Ymm> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        for way in 0..ways {
            let mut operands = Vec::with_capacity(o.args.len());
            for a in &o.args {
                operands.push(match *a {
                    Arg::Value(v) => value_reg[v][way]?,
                    Arg::Scalar(k) => scalars[&k],
                    Arg::Slot(k) => match slot_reg.get(&(k, way)) {
                        Some(&r) => r,
                        None => {
                            let r = regs.take()?;
                            asm.load_pointer(k);
                            asm.vex(x86::VMOVUPS_LOAD, r, 0, at(way), None);
                            slot_reg.insert((k, way), r);
                            r
                        }
                    },
                });
            }
            let dst = regs.take()?;
            emit(asm, &mut regs, o.op, dst, &operands)?;
            value_reg[i][way] = Some(dst);
            for &(_, slot) in segment.stores.iter().filter(|(v, _)| *v == i) {
                asm.load_pointer(slot);
                let store = if segment.streamed.contains(&slot) { x86::VMOVNTPS } else { x86::VMOVUPS_STORE };
                asm.vex(store, dst, 0, at(way), None);
            }
        }
        // Free what this operation read for the last time, and its own value if unread.
        let mut dead: Vec<Ymm> = Vec::new();
        for a in &o.args {
            match *a {
                Arg::Value(v) if last_value[v] == i => dead.extend(value_reg[v].iter_mut().filter_map(Option::take)),
                Arg::Slot(k) if last_slot.get(&k) == Some(&i) => dead.extend((0..ways).filter_map(|w| slot_reg.remove(&(k, w)))),
                _ => {}
            }
        }
        if last_value[i] == i {
            dead.extend(value_reg[i].iter_mut().filter_map(Option::take));
        }
        for r in dead {
            regs.give(r);
        }
    }
    asm.counting = false;
    Some(regs.fewest)
}

/// Emits `dst = op(operands)`, borrowing temporaries from `regs`.
fn emit(asm: &mut Asm, regs: &mut Registers, op: VecOp, dst: Ymm, x: &[Ymm]) -> Option<()> {
    use x86::*;
    let arity = match op {
        VecOp::Add | VecOp::Sub | VecOp::Mul | VecOp::Div | VecOp::Max | VecOp::Min | VecOp::Compare(_) | VecOp::And | VecOp::Or => 2,
        VecOp::Select => 3,
        _ => 1,
    };
    if x.len() != arity {
        return None;
    }
    if asm.form.evex() && emit_with_masks(asm, op, dst, x).is_some() {
        return Some(());
    }
    let compare_with = |asm: &mut Asm, d: Ymm, a: Ymm, b: Rm, p: u8| asm.vex(VCMPPS, d, a, b, Some(p));
    // Constants are asked for where used: `Asm::constant` counts the uses.
    let zero = |asm: &mut Asm| asm.splat(0.0);
    let one = |asm: &mut Asm| asm.splat(1.0);
    match op {
        VecOp::Add => asm.regs(VADDPS, dst, x[0], x[1]),
        VecOp::Sub => asm.regs(VSUBPS, dst, x[0], x[1]),
        VecOp::Mul => asm.regs(VMULPS, dst, x[0], x[1]),
        VecOp::Div => asm.regs(VDIVPS, dst, x[0], x[1]),
        VecOp::Square => asm.regs(VMULPS, dst, x[0], x[0]),
        VecOp::Max | VecOp::Min => {
            // mask = (x > y, or x < y) | isnan(x); dst = mask ? x : y.
            let p = if op == VecOp::Max { predicate::GT_OQ } else { predicate::LT_OQ };
            let t = regs.take()?;
            compare_with(asm, dst, x[0], Rm::Reg(x[1]), p);
            compare_with(asm, t, x[0], Rm::Reg(x[0]), predicate::UNORD_Q);
            asm.regs(VORPS, dst, dst, t);
            regs.give(t);
            asm.vex(VBLENDVPS, dst, x[1], Rm::Reg(x[0]), Some(dst << 4));
        }
        VecOp::Abs => {
            let mask = asm.constant([0x7FFF_FFFF; 8]);
            asm.vex(VANDPS, dst, x[0], mask, None);
        }
        VecOp::Neg => {
            let sign = asm.constant([0x8000_0000; 8]);
            asm.vex(VXORPS, dst, x[0], sign, None);
        }
        VecOp::Sqrt => asm.vex(VSQRTPS, dst, 0, Rm::Reg(x[0]), None),
        VecOp::Rsqrt => {
            let t = regs.take()?;
            asm.vex(VSQRTPS, t, 0, Rm::Reg(x[0]), None);
            let one = one(asm);
            asm.vex(VMOVUPS_LOAD, dst, 0, one, None);
            asm.regs(VDIVPS, dst, dst, t);
            regs.give(t);
        }
        VecOp::Reciprocal => {
            let one = one(asm);
            asm.vex(VMOVUPS_LOAD, dst, 0, one, None);
            asm.regs(VDIVPS, dst, dst, x[0]);
        }
        VecOp::Floor => asm.vex(VROUNDPS, dst, 0, Rm::Reg(x[0]), Some(0x09)),
        VecOp::Ceil => asm.vex(VROUNDPS, dst, 0, Rm::Reg(x[0]), Some(0x0A)),
        VecOp::Trunc => asm.vex(VROUNDPS, dst, 0, Rm::Reg(x[0]), Some(0x0B)),
        VecOp::Copy => asm.vex(VMOVAPS, dst, 0, Rm::Reg(x[0]), None),
        VecOp::Select => {
            let zero = zero(asm);
            compare_with(asm, dst, x[0], zero, predicate::NEQ_UQ);
            asm.vex(VBLENDVPS, dst, x[2], Rm::Reg(x[1]), Some(dst << 4));
        }
        VecOp::Compare(p) => {
            compare_with(asm, dst, x[0], Rm::Reg(x[1]), p);
            let one = one(asm);
            asm.vex(VANDPS, dst, dst, one, None);
        }
        VecOp::NonZero | VecOp::IsZero => {
            let p = if op == VecOp::NonZero { predicate::NEQ_UQ } else { predicate::EQ_OQ };
            let zero = zero(asm);
            compare_with(asm, dst, x[0], zero, p);
            let one = one(asm);
            asm.vex(VANDPS, dst, dst, one, None);
        }
        VecOp::And | VecOp::Or => {
            let t = regs.take()?;
            let zero = zero(asm);
            compare_with(asm, dst, x[0], zero, predicate::NEQ_UQ);
            compare_with(asm, t, x[1], zero, predicate::NEQ_UQ);
            asm.regs(if op == VecOp::And { VANDPS } else { VORPS }, dst, dst, t);
            regs.give(t);
            let one = one(asm);
            asm.vex(VANDPS, dst, dst, one, None);
        }
        VecOp::Erf => transcendental::erf(asm, regs, dst, x[0])?,
        VecOp::Exp => transcendental::exp(asm, regs, dst, x[0])?,
        VecOp::Sigmoid => transcendental::sigmoid(asm, regs, dst, x[0])?,
    }
    Some(())
}

/// The operations whose AVX2 sequences compare into vectors and blend by them, as EVEX
/// sequences that compare into mask registers and blend under them (the same lanes chosen);
/// `None` for the other operations, which encode alike in both forms.
fn emit_with_masks(asm: &mut Asm, op: VecOp, dst: Ymm, x: &[Ymm]) -> Option<()> {
    let one_where = |asm: &mut Asm, k: u8| {
        let one = asm.splat(1.0);
        asm.masked_move(dst, k, one);
    };
    match op {
        VecOp::Max | VecOp::Min => {
            // k = (x > y, or x < y) | isnan(x); dst = k ? x : y.
            let p = if op == VecOp::Max { predicate::GT_OQ } else { predicate::LT_OQ };
            asm.compare_to_mask(K1, x[0], Rm::Reg(x[1]), p);
            asm.compare_to_mask(K2, x[0], Rm::Reg(x[0]), predicate::UNORD_Q);
            asm.combine_masks(false, K1, K1, K2);
            asm.blend(dst, K1, x[1], Rm::Reg(x[0]));
        }
        VecOp::Select => {
            let zero = asm.splat(0.0);
            asm.compare_to_mask(K1, x[0], zero, predicate::NEQ_UQ);
            asm.blend(dst, K1, x[2], Rm::Reg(x[1]));
        }
        VecOp::Compare(p) => {
            asm.compare_to_mask(K1, x[0], Rm::Reg(x[1]), p);
            one_where(asm, K1);
        }
        VecOp::NonZero | VecOp::IsZero => {
            let p = if op == VecOp::NonZero { predicate::NEQ_UQ } else { predicate::EQ_OQ };
            let zero = asm.splat(0.0);
            asm.compare_to_mask(K1, x[0], zero, p);
            one_where(asm, K1);
        }
        VecOp::And | VecOp::Or => {
            let zero = asm.splat(0.0);
            asm.compare_to_mask(K1, x[0], zero, predicate::NEQ_UQ);
            asm.compare_to_mask(K2, x[1], zero, predicate::NEQ_UQ);
            asm.combine_masks(op == VecOp::And, K1, K1, K2);
            one_where(asm, K1);
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests;
