//! The CPU kernel of a fused element-wise program ([`FusedProgram`]).
//!
//! The output is processed in chunks of [`CHUNK`] elements, spread over threads. For each
//! chunk the program runs step by step on small register buffers that stay in L1: an input
//! step gathers the chunk of that input (any strides, broadcasting included) converted to the
//! compute type, or, when the chunk already lies contiguous in memory in that type, lets the
//! operations read it in place; an operation step runs one tight, vectorizable loop of its
//! formula (the same formulas as the unfused kernels, compiled for AVX-512 where the CPU has
//! it; erf, and on AVX-512 exp and sigmoid, through the hand-vectorized slice kernels that the
//! unfused kernels use too, `float_unary_slice`); outputs are converted and stored — an output
//! already in the compute type is written by its operation straight into the output array (no
//! copy out of a register). No full-size intermediate is ever written. Registers are reused
//! once a value is dead, so a chain of any length needs only a few buffers. On large f32
//! arrays, runs of steps that are vector instructions (arithmetic, comparisons, selections)
//! or erf, exp and sigmoid run instead as one generated loop each (AVX2, or 512-bit AVX-512
//! code where the CPU has it) that keeps their values in vector registers
//! ([`super::fused_plan`], [`super::jit`]), bit-identical to the step-by-step passes.
//!
//! Inputs larger than the last-level cache are prefetched into L2 two chunks ahead, a share of
//! that chunk before each step: the hardware prefetchers stop at every 4 KB page, so without
//! it each chunk's first operation waited on memory (1.2-1.9x slower at 16M floats on Zen 4).
//! Smaller inputs are not prefetched: an earlier all-at-once prefetch into L1 made a 16 MB
//! subtract-exp 1.2-1.6x slower, and the L2 one still cost 6-22% on data in the L3.
//!
//! A program that ends in reductions over trailing axes runs row by row instead: short rows
//! several to a chunk, each reduced from the register; long rows chunk by chunk into
//! partial results (split across threads when there are few rows). One that reduces
//! leading axes folds each computed row into accumulators for the kept elements. Every
//! reduced value (a program may fold several) is folded from the same computed chunk.

use super::fused_plan::{self, Action, Pointer};
use super::math::Real;
use super::parallel::parallel_for_init;
use super::strided::{collapse_many, row_start, SendConstPtr, SendPtr, PARALLEL_THRESHOLD};
use crate::compile::program::{FusedOp, FusedProgram, Reduction, Step, MAX_FOLDS};
use crate::dtype::Dtype;
use crate::primitive::binary::{float_binary_formula, BinaryOp};
use crate::primitive::reduce::{run_fold, run_fold_rows, run_merge, run_start, HasAcc};
use crate::primitive::unary::{float_unary_formula, float_unary_slice, UnaryOp};
use crate::shape::is_row_major;
use crate::storage::Storage;
use half::{bf16, f16};
use std::marker::PhantomData;

/// Elements per register buffer.
pub const CHUNK: usize = 1024;

/// Elements from one register buffer to the next: a chunk plus 128 bytes (of f32), so that
/// the buffers a step reads and writes never lie a multiple of 4 KB apart.
const SLOT: usize = CHUNK + 32;

/// Steps of a program whose inputs may be read in place (a fixed table per chunk).
const DIRECT_STEPS: usize = 64;

/// Whether the kernel can have step `step` write straight into its output in place of a
/// register: an operation computed in `compute`, among the steps with a direct pointer.
pub(super) fn writes_in_place(program: &FusedProgram, step: usize, compute: Dtype) -> bool {
    let s = &program.steps[step];
    step < DIRECT_STEPS && matches!(s.step, Step::Op(..)) && s.dtype == compute
}

/// How far ahead of the chunk being computed the row-major inputs are prefetched, in chunks,
/// and from which size of a row-major input (bytes). The hardware prefetchers stop at
/// each 4 KB page, one chunk of f32. Session 24, interleaved A/B on the 16M benchmarks: the
/// chain 14.0-14.9 ms without, 13.1-13.3 with each chunk ahead requested at once, 11.7-12.7
/// with the requests spread over the chunk's steps; its leading-axis sum of squares 5.2-5.8,
/// 4.3, 2.9-3.4 ms; `x·w + b` 4.6 and 2.4 ms. One to eight chunks ahead measured alike; into L1
/// instead of L2 was slower than no prefetch. Inputs that fit the last-level cache are left
/// alone: there it cost 6-22% (a 16 MB subtract-exp and softmax, a 4 MB `x·w + b`).
const PREFETCH_CHUNKS: usize = 2;
const PREFETCH_BYTES: usize = 32 << 20;

/// Output size from which stores bypass the caches: above what the last-level cache would
/// keep for the next kernel (streaming a 16 MB softmax intermediate measured slower).
const STREAM_BYTES: usize = 32 << 20;

/// Orders this thread's streaming stores (weakly ordered) before the stores after it, such
/// as the one that hands its block of work back.
fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a store fence has no preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// Whether the table pointers where `segment` writes are aligned as its streaming kernel's
/// stores need ([`jit::stream_alignment`](super::jit::stream_alignment)).
fn streamed_aligned(segment: &fused_plan::CompiledSegment, table: &[*const f32]) -> bool {
    let alignment = super::jit::stream_alignment();
    segment.table.iter().zip(table).all(|(p, &ptr)| !matches!(p, Pointer::Target(_)) || (ptr as usize).is_multiple_of(alignment))
}

/// Asks for the `bytes` from `ptr` on to be brought into L2 (no effect off x86-64).
#[inline(always)]
fn prefetch(ptr: *const u8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in (0..bytes).step_by(64) {
        // SAFETY: a prefetch never faults, whatever the address.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(ptr.wrapping_add(line) as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, bytes);
}

/// Copies `n` f32 or f64 values to 32-byte aligned `out` with stores that bypass the
/// caches; `None` when this target has no such stores.
///
/// # Safety
/// `src` and `out` must be valid for `bytes` bytes and `out` 32-byte aligned.
#[inline(always)]
unsafe fn stream_copy(src: *const u8, out: *mut u8, bytes: usize) -> Option<()> {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    {
        use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_stream_si256};
        let mut b = 0;
        // SAFETY: forwarded from the caller.
        unsafe {
            while b + 32 <= bytes {
                _mm256_stream_si256(out.add(b) as *mut __m256i, _mm256_loadu_si256(src.add(b) as *const __m256i));
                b += 32;
            }
            std::ptr::copy_nonoverlapping(src.add(b), out.add(b), bytes - b);
        }
        Some(())
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
    {
        let _ = (src, out, bytes);
        None
    }
}

/// Runs `program` over `inputs` (each a storage with strides broadcast to `shape`), writing
/// every full-size output as a fresh row-major array of `shape` and, last, the reduction's
/// output (row-major, `shape` with the reduced axes of size 1).
pub fn run(program: &FusedProgram, inputs: &[(&Storage, &[isize])], shape: &[usize], outputs: &[Storage]) {
    if program.compute == Dtype::F64 {
        run_typed::<f64>(program, inputs, shape, outputs)
    } else {
        run_typed::<f32>(program, inputs, shape, outputs)
    }
}

/// One thread's register buffers of `F` values for a block of chunks, 64-byte aligned so the
/// vector loads and stores of the operation loops never straddle cache lines (a plain
/// `Vec<f32>` is only 16-byte aligned). When the block streamed its stores (`streams`), the
/// thread fences them as the block ends, dropping its registers: each thread must order its
/// own streaming stores before the kernel's outputs are read.
struct RegisterFile<F> {
    lines: Vec<CacheLine>,
    streams: bool,
    lane: PhantomData<F>,
}

impl<F> Drop for RegisterFile<F> {
    fn drop(&mut self) {
        if self.streams {
            fence();
        }
    }
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([u8; 64]);

impl<F: Lane> RegisterFile<F> {
    fn zeroed(values: usize, streams: bool) -> Self {
        RegisterFile { lines: vec![CacheLine([0; 64]); (values * std::mem::size_of::<F>()).div_ceil(64)], streams, lane: PhantomData }
    }

    fn values(&mut self) -> &mut [F] {
        let len = self.lines.len() * 64 / std::mem::size_of::<F>();
        // SAFETY: the lines are plain bytes, aligned beyond F, and all-zero bytes (or any
        // written value) are a valid F.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut F, len) }
    }
}

/// Which register buffer each step writes, reusing the buffers of dead values.
struct Registers {
    slot: Vec<usize>,
    count: usize,
}

/// `pinned[i]`: step `i` keeps its buffer for the whole run (an input of one value, filled once
/// per thread rather than once per chunk).
fn allocate_registers(program: &FusedProgram, pinned: &[bool]) -> Registers {
    let n = program.steps.len();
    let last_use = program.last_readers();
    let (mut slot, mut free, mut count) = (vec![0usize; n], Vec::new(), 0usize);
    for (i, s) in program.steps.iter().enumerate() {
        slot[i] = if pinned[i] { None } else { free.pop() }.unwrap_or_else(|| {
            count += 1;
            count - 1
        });
        // Operands die after the destination is chosen, so a step never overwrites its input.
        if let Step::Op(_, args) = &s.step {
            for (k, &a) in args.iter().enumerate() {
                if last_use[a] == i && !pinned[a] && !args[..k].contains(&a) {
                    free.push(slot[a]);
                }
            }
        }
    }
    Registers { slot, count }
}

/// An input as the kernel reads it: base pointer and strides over the collapsed shape (its
/// dtype is that of the program's input step).
struct Source {
    ptr: SendConstPtr<u8>,
    strides: Vec<isize>,
    /// Element `i` of the output reads element `i` of this source (row-major strides).
    linear: bool,
}

/// The offset (in elements) of the run holding output elements `start..start + len` of `src`,
/// when they lie contiguous in it: a row-major source, or a chunk within one row of a source
/// whose rows are contiguous (a broadcast row, say).
fn contiguous_run(src: &Source, shape: &[usize], start: usize, len: usize) -> Option<isize> {
    if src.linear {
        return Some(start as isize);
    }
    let (&inner, outer) = shape.split_last()?;
    if src.strides[outer.len()] != 1 || start % inner + len > inner {
        return None;
    }
    Some(row_start(outer, &src.strides, start / inner) + (start % inner) as isize)
}

fn run_typed<F: Lane>(program: &FusedProgram, inputs: &[(&Storage, &[isize])], shape: &[usize], outputs: &[Storage]) {
    let n: usize = shape.iter().product();
    if n == 0 {
        if let Some(r) = &program.reduction {
            // Empty rows reduce to the operation's identity.
            let rows: usize = if r.leading { shape[r.axes..].iter().product() } else { shape[..shape.len() - r.axes].iter().product() };
            for (fold, reduced) in r.folds.iter().zip(&outputs[outputs.len() - r.folds.len()..]) {
                // SAFETY: the reduced output holds one compute-type value per row.
                unsafe { std::slice::from_raw_parts_mut(reduced.ptr::<F>() as *mut F, rows) }.fill(run_start::<F>(fold.op));
            }
        }
        return;
    }
    let wide = wide_vectors();
    let strides: Vec<&[isize]> = inputs.iter().map(|(_, s)| *s).collect();
    let (collapsed, collapsed_strides) = collapse_many(shape, &strides);
    let sources: Vec<Source> = inputs
        .iter()
        .zip(collapsed_strides)
        .map(|((storage, _), strides)| Source {
            ptr: SendConstPtr(storage.ptr::<u8>()),
            linear: is_row_major(&collapsed, &strides),
            strides,
        })
        .collect();
    // Inputs of one value broadcast everywhere (scalar constants) are filled into their
    // registers once per thread, not once per chunk.
    let pinned: Vec<bool> =
        program.steps.iter().map(|s| matches!(s.step, Step::Input(i) if sources[i].strides.iter().all(|&st| st == 0))).collect();
    let registers = allocate_registers(program, &pinned);
    // The row-major inputs whose chunks ahead are prefetched: (base, element size, bytes asked
    // for before each step — a full chunk's bytes over the steps, in whole cache lines).
    let mut prefetched: Vec<(SendConstPtr<u8>, usize, usize)> = program
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.step {
            Step::Input(input) if !pinned[i] && sources[input].linear => {
                let size = s.dtype.size();
                Some((SendConstPtr(sources[input].ptr.0), size, (CHUNK * size).div_ceil(program.steps.len()).next_multiple_of(64)))
            }
            _ => None,
        })
        .collect();
    if prefetched.iter().all(|&(_, size, _)| n * size < PREFETCH_BYTES) {
        prefetched.clear();
    }
    let sinks: Vec<(SendPtr<u8>, Dtype)> =
        outputs.iter().zip(&program.outputs).map(|(o, &step)| (SendPtr(o.ptr::<u8>() as *mut u8), program.steps[step].dtype)).collect();
    // Outputs larger than the caches bypass them (no read-for-ownership of fresh memory).
    let stream = n * program.compute.size() >= STREAM_BYTES;
    // Runs of cheap f32 steps as generated loops, on arrays large enough to pay for it.
    let plan = if <F as crate::element::Element>::DTYPE == Dtype::F32 && n >= fused_plan::MIN_ELEMENTS {
        fused_plan::plan(program, &pinned)
    } else {
        None
    };
    // `sink_of[i]`: the output operation step `i` writes in place of a register, saving a
    // copy of every chunk: an output in the compute type that is not streamed, or one that a
    // generated loop streams itself (its stores spread among its arithmetic, where a copy
    // would stream the chunk in one burst and stall on the memory).
    let mut sink_of = vec![None; program.steps.len()];
    for (j, &step) in program.outputs.iter().enumerate() {
        let sink = if stream {
            plan.as_ref().is_some_and(|p| p.streamed_outputs.contains(&step))
        } else {
            writes_in_place(program, step, <F as crate::element::Element>::DTYPE)
        };
        if sink {
            sink_of[step].get_or_insert(j);
        }
    }
    // Computes elements `start..start + len` (at most CHUNK) into the registers and stores the
    // full-size outputs; sets `folded[k]` to where the values of fold `k` are. Inputs already
    // in the compute type whose chunk lies contiguous in memory are read where they are
    // (`direct`) rather than copied into a register, and operations of `sink_of` write
    // straight into their output. With a plan, its segments run in place of their steps.
    let body = |file: &mut RegisterFile<F>, start: usize, len: usize, folded: &mut Folded<F>| {
        let regs = file.values();
        let base = regs.as_mut_ptr();
        let mut direct = [std::ptr::null::<F>(); DIRECT_STEPS];
        // SAFETY (for `value`): registers hold `count * SLOT` values; direct pointers cover
        // `len` values of their source.
        let value = |direct: &[*const F; DIRECT_STEPS], step: usize| -> *const F {
            match direct.get(step) {
                Some(p) if !p.is_null() => *p,
                _ => base.wrapping_add(registers.slot[step] * SLOT),
            }
        };
        // Stores the full-size outputs not written in place, and points `folded` at the values
        // the folds reduce.
        let store_outputs = |direct: &[*const F; DIRECT_STEPS], folded: &mut Folded<F>| {
            for (j, (&step, (ptr, dtype))) in program.outputs.iter().zip(&sinks).enumerate() {
                if sink_of[step] != Some(j) {
                    // SAFETY: each chunk writes its own range of the output; the value covers
                    // `len`.
                    unsafe { store(std::slice::from_raw_parts(value(direct, step), len), *ptr, *dtype, start, stream) };
                }
            }
            for (slot, fold) in folded.iter_mut().zip(program.reduction.iter().flat_map(|r| &r.folds)) {
                *slot = value(direct, fold.step);
            }
        };
        let ahead = start + PREFETCH_CHUNKS * CHUNK;
        let ahead_len = if ahead < n { len.min(n - ahead) } else { 0 };
        // Step `i`'s share of the chunk ahead, so the requests trickle out between the
        // operations instead of filling the miss queues at once.
        let prefetch_share = |i: usize| {
            for &(base, size, share) in &prefetched {
                let (from, bytes) = (i * share, ahead_len * size);
                if from < bytes {
                    prefetch(base.0.wrapping_add(ahead * size + from), share.min(bytes - from));
                }
            }
        };
        // Where operation `i` writes: its output when it is a sink (read from there on), else
        // its register.
        let target = |direct: &mut [*const F; DIRECT_STEPS], i: usize| -> *mut F {
            match sink_of[i] {
                Some(j) => {
                    let p = sinks[j].0 .0.wrapping_add(start * program.steps[i].dtype.size()) as *mut F;
                    direct[i] = p;
                    p
                }
                None => base.wrapping_add(registers.slot[i] * SLOT),
            }
        };
        let mut step = |direct: &mut [*const F; DIRECT_STEPS], i: usize| {
            prefetch_share(i);
            let s = &program.steps[i];
            let dst = registers.slot[i] * SLOT;
            match &s.step {
                Step::Input(_) if pinned[i] => {}
                Step::Input(input) => {
                    let src = &sources[*input];
                    if i < DIRECT_STEPS && s.dtype == <F as crate::element::Element>::DTYPE {
                        if let Some(offset) = contiguous_run(src, &collapsed, start, len) {
                            direct[i] = (src.ptr.0 as *const F).wrapping_offset(offset);
                            return;
                        }
                    }
                    // SAFETY: the source covers `shape` through its strides.
                    unsafe { load(src, s.dtype, &collapsed, start, &mut regs[dst..dst + len]) };
                }
                Step::Op(op, args) => {
                    let target = target(direct, i);
                    // SAFETY: the destination (a register, or this chunk of a fresh output)
                    // differs from every operand register (allocate_registers) and from every
                    // input, so the shared and mutable slices do not overlap.
                    let (a, b, c, out) = unsafe {
                        let get = |k: usize| -> &[F] {
                            if k < args.len() {
                                std::slice::from_raw_parts(value(direct, args[k]), len)
                            } else {
                                &[]
                            }
                        };
                        (get(0), get(1), get(2), std::slice::from_raw_parts_mut(target, len))
                    };
                    apply_widest(wide, *op, a, b, c, out, program.steps[args[0]].dtype, s.dtype);
                    round_to(s.dtype, out);
                }
            }
        };
        let Some(plan) = &plan else {
            (0..program.steps.len()).for_each(|i| step(&mut direct, i));
            return store_outputs(&direct, folded);
        };
        for action in &plan.actions {
            let segment = match *action {
                Action::Step(i) => {
                    step(&mut direct, i);
                    continue;
                }
                Action::Segment(k) => &plan.segments[k],
            };
            if !len.is_multiple_of(8) {
                // The generated loop runs whole vectors of 8; a short last chunk is interpreted.
                segment.steps.iter().for_each(|&i| step(&mut direct, i));
                continue;
            }
            segment.steps.iter().for_each(|&i| prefetch_share(i));
            let mut table = [std::ptr::null::<f32>(); fused_plan::MAX_POINTERS];
            for (t, p) in table.iter_mut().zip(&segment.table) {
                *t = match *p {
                    // A broadcast scalar's register is read at its first value.
                    Pointer::Value(i) | Pointer::Scalar(i) => value(&direct, i),
                    Pointer::Target(i) => target(&mut direct, i),
                } as *const f32;
            }
            // Outputs larger than the caches are streamed by the loop itself, where their
            // chunk starts on a vector boundary (a reduction's rows may not).
            let kernel = match &segment.streaming {
                Some(k) if stream && streamed_aligned(segment, &table) => k,
                _ => &segment.kernel,
            };
            // SAFETY: plans exist only for f32 programs; every pointer covers `len` values of
            // this chunk (scalars one), and stores go to registers or outputs no operand of
            // the segment lies in (as for the interpreted steps); streamed ones are aligned.
            unsafe { kernel.run(&table[..segment.table.len()], 4 * len) };
        }
        store_outputs(&direct, folded)
    };
    let scratch = || {
        let mut file = RegisterFile::zeroed(registers.count * SLOT, stream);
        let regs = file.values();
        for (i, s) in program.steps.iter().enumerate() {
            if let (Step::Input(input), true) = (&s.step, pinned[i]) {
                let dst = registers.slot[i] * SLOT;
                // SAFETY: the source holds the one value every element reads.
                unsafe { load(&sources[*input], s.dtype, &collapsed, 0, &mut regs[dst..dst + CHUNK]) };
            }
        }
        file
    };
    if let Some(r) = &program.reduction {
        let reduced: Vec<SendPtr<F>> = outputs[outputs.len() - r.folds.len()..].iter().map(|o| SendPtr(o.ptr::<F>() as *mut F)).collect();
        if r.leading {
            reduce_leading(r, shape, &reduced, scratch, &body);
        } else {
            reduce_rows(r, shape, &reduced, scratch, &body);
        }
    } else {
        for_each_task(n.div_ceil(CHUNK), 8, n >= PARALLEL_THRESHOLD, scratch, |file, c| {
            body(file, c * CHUNK, CHUNK.min(n - c * CHUNK), &mut [std::ptr::null(); MAX_FOLDS]);
        });
    }
}

/// Runs `task(registers, t)` for `t` in `0..count`, over threads when `parallel` (the caller
/// working too, see `parallel_for_init`), with per-thread registers from `scratch`.
fn for_each_task<F: Lane>(
    count: usize,
    min_len: usize,
    parallel: bool,
    scratch: impl Fn() -> RegisterFile<F> + Sync + Send,
    task: impl Fn(&mut RegisterFile<F>, usize) + Sync + Send,
) {
    // A block as long as the whole range runs on the caller alone.
    parallel_for_init(count, if parallel { min_len } else { count }, scratch, task);
}

/// Where each fold's values are after a call of the program's body.
type Folded<F> = [*const F; MAX_FOLDS];

/// Computes the program row by row (a row: the elements a fold reduces into one value) and
/// writes each row's reduced values to `reduced` (one output per fold);
/// `body(registers, start, len, folded)` computes elements and says where each fold's `len`
/// values are.
fn reduce_rows<F: Lane>(
    r: &Reduction,
    shape: &[usize],
    reduced: &[SendPtr<F>],
    scratch: impl Fn() -> RegisterFile<F> + Sync + Send,
    body: &(impl Fn(&mut RegisterFile<F>, usize, usize, &mut Folded<F>) + Sync),
) {
    let n: usize = shape.iter().product();
    let row: usize = shape[shape.len() - r.axes..].iter().product();
    let rows = n / row;
    let parallel = n >= PARALLEL_THRESHOLD;
    let folds = r.folds.len();
    if row <= CHUNK {
        // Several whole rows per chunk.
        let per = CHUNK / row;
        let task = |file: &mut RegisterFile<F>, t: usize| {
            let first = t * per;
            let count = per.min(rows - first);
            let mut folded = [std::ptr::null(); MAX_FOLDS];
            body(file, first * row, count * row, &mut folded);
            for ((fold, &values), out) in r.folds.iter().zip(&folded).zip(reduced) {
                // SAFETY: `body` computed `count * row` values there.
                let values = unsafe { std::slice::from_raw_parts(values, count * row) };
                for (j, row_values) in values.chunks_exact(row).enumerate() {
                    // SAFETY: row `first + j` belongs to this task alone.
                    unsafe { *out.get().add(first + j) = run_fold(fold.op, row_values) };
                }
            }
        };
        for_each_task(rows.div_ceil(per), 1, parallel, scratch, task);
        return;
    }
    // Long rows: each split into `parts` spans (to keep every thread busy when rows are few),
    // each span folded chunk by chunk into partial values (one per fold).
    let threads = rayon::current_num_threads();
    let parts = if !parallel || rows >= 2 * threads { 1 } else { (2 * threads).div_ceil(rows).min(row.div_ceil(CHUNK)) };
    let span = row.div_ceil(parts);
    let mut partials = vec![F::zero(); rows * parts * folds];
    let partial = SendPtr(partials.as_mut_ptr());
    let task = |file: &mut RegisterFile<F>, t: usize| {
        let (i, p) = (t / parts, t % parts);
        let (from, to) = (i * row + p * span, i * row + ((p + 1) * span).min(row));
        let mut acc = [F::zero(); MAX_FOLDS];
        for (a, fold) in acc.iter_mut().zip(&r.folds) {
            *a = run_start::<F>(fold.op);
        }
        let mut folded = [std::ptr::null(); MAX_FOLDS];
        let mut start = from;
        while start < to {
            let len = CHUNK.min(to - start);
            body(file, start, len, &mut folded);
            for ((a, fold), &values) in acc.iter_mut().zip(&r.folds).zip(&folded) {
                // SAFETY: `body` computed `len` values there.
                let values = unsafe { std::slice::from_raw_parts(values, len) };
                *a = run_merge::<F>(fold.op, *a, run_fold(fold.op, values));
            }
            start += len;
        }
        // SAFETY: each task owns its partials.
        unsafe { std::slice::from_raw_parts_mut(partial.get().add(t * folds), folds) }.copy_from_slice(&acc[..folds]);
    };
    for_each_task(rows * parts, 1, parallel, scratch, task);
    for (i, row_partials) in partials.chunks(parts * folds).enumerate() {
        for (k, (fold, out)) in r.folds.iter().zip(reduced).enumerate() {
            let value = row_partials.iter().skip(k).step_by(folds).fold(run_start::<F>(fold.op), |a, &b| run_merge::<F>(fold.op, a, b));
            // SAFETY: each reduced output holds `rows` values.
            unsafe { *out.get().add(i) = value };
        }
    }
}

/// Computes the program and reduces it over its leading axes: the elements are rows of
/// `inner` (the kept axes), each folded element-wise into `inner` accumulators per fold. The
/// rows are split into parts (one set of accumulators each, merged at the end), and a task
/// walks its part's rows in memory order, [`CHUNK`] elements per call (short rows several to
/// a call), so the hardware prefetchers see one stream. With fewer parts than twice the
/// threads (few rows), the columns are split across tasks too.
fn reduce_leading<F: Lane>(
    r: &Reduction,
    shape: &[usize],
    reduced: &[SendPtr<F>],
    scratch: impl Fn() -> RegisterFile<F> + Sync + Send,
    body: &(impl Fn(&mut RegisterFile<F>, usize, usize, &mut Folded<F>) + Sync),
) {
    let n: usize = shape.iter().product();
    let inner: usize = shape[r.axes..].iter().product();
    let outer = n / inner;
    let width = inner.min(CHUNK);
    let spans = inner.div_ceil(width);
    // Whole rows per call when a row fits a chunk.
    let rows_per_call = CHUNK / width;
    let tasks_wanted = if n >= PARALLEL_THRESHOLD { 2 * rayon::current_num_threads() } else { 1 };
    let parts = tasks_wanted.min(outer.div_ceil(rows_per_call)).max(1);
    let part_rows = outer.div_ceil(parts);
    let group_spans = spans.div_ceil(tasks_wanted.div_ceil(parts).min(spans));
    // Counted from the spans each group takes, so no group starts past the row's end (asking
    // for 4 groups of 5 spans gave groups of 2 and a fourth past the end: session 28).
    let groups = spans.div_ceil(group_spans);
    // With one part the accumulators are the outputs themselves; otherwise fold `k` has
    // `parts * inner` of them from `k * parts * inner` on.
    let mut partials = if parts == 1 { Vec::new() } else { vec![F::zero(); r.folds.len() * parts * inner] };
    let acc_bases: Vec<SendPtr<F>> = if parts == 1 {
        reduced.to_vec()
    } else {
        (0..r.folds.len()).map(|k| SendPtr(partials[k * parts * inner..].as_mut_ptr())).collect()
    };
    let task = |file: &mut RegisterFile<F>, t: usize| {
        let (part, group) = (t / groups, t % groups);
        let (j0, j1) = (group * group_spans * width, ((group + 1) * group_spans * width).min(inner));
        let mut accs: Vec<&mut [F]> = r
            .folds
            .iter()
            .zip(&acc_bases)
            .map(|(fold, base)| {
                // SAFETY: each (part, group) pair owns these accumulators.
                let acc = unsafe { std::slice::from_raw_parts_mut(base.get().add(part * inner + j0), j1 - j0) };
                acc.fill(run_start::<F>(fold.op));
                acc
            })
            .collect();
        let mut folded = [std::ptr::null(); MAX_FOLDS];
        let (first, end) = (part * part_rows, ((part + 1) * part_rows).min(outer));
        let mut row = first;
        while row < end {
            let count = if width == inner { rows_per_call.min(end - row) } else { 1 };
            for from in (0..j1 - j0).step_by(width) {
                let len = width.min(j1 - j0 - from);
                body(file, row * inner + j0 + from, count * len, &mut folded);
                for ((acc, fold), &values) in accs.iter_mut().zip(&r.folds).zip(&folded) {
                    // SAFETY: `body` computed `count * len` values there (whole rows when count > 1).
                    let values = unsafe { std::slice::from_raw_parts(values, count * len) };
                    for one in values.chunks_exact(len) {
                        run_fold_rows(fold.op, &mut acc[from..from + len], &[one]);
                    }
                }
            }
            row += count;
        }
    };
    for_each_task(parts * groups, 1, tasks_wanted > 1, scratch, task);
    if parts > 1 {
        for ((fold, out), fold_partials) in r.folds.iter().zip(reduced).zip(partials.chunks_exact(parts * inner)) {
            // SAFETY: each reduced output holds `inner` values.
            let out = unsafe { std::slice::from_raw_parts_mut(out.get(), inner) };
            out.copy_from_slice(&fold_partials[..inner]);
            for part in fold_partials[inner..].chunks_exact(inner) {
                for (o, &p) in out.iter_mut().zip(part) {
                    *o = run_merge::<F>(fold.op, *o, p);
                }
            }
        }
    }
}

/// The compute type: f32 (for f32, f16, bf16 and bool values) or f64.
trait Lane: Real + HasAcc<A = Self> {
    fn from_single(v: f32) -> Self;
    fn to_single(self) -> f32;
}

impl Lane for f32 {
    #[inline(always)]
    fn from_single(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn to_single(self) -> f32 {
        self
    }
}

impl Lane for f64 {
    #[inline(always)]
    fn from_single(v: f32) -> Self {
        v as f64
    }
    #[inline(always)]
    fn to_single(self) -> f32 {
        self as f32
    }
}

#[inline(always)]
fn truth<F: Real>(b: bool) -> F {
    if b {
        F::one()
    } else {
        F::zero()
    }
}

/// Reads elements `start..start + dst.len()` (row-major over `shape`) of `src`, whose
/// elements are `dtype`.
///
/// # Safety
/// `src` must be valid for every offset its strides give over `shape`.
unsafe fn load<F: Lane>(src: &Source, dtype: Dtype, shape: &[usize], start: usize, dst: &mut [F]) {
    macro_rules! typed {
        ($t:ty, |$v:ident| $conv:expr) => {{
            let base = src.ptr.0 as *const $t;
            // SAFETY: forwarded from the caller.
            unsafe { gather(base, shape, &src.strides, start, dst, |$v: $t| $conv) }
        }};
    }
    match dtype {
        Dtype::F32 => typed!(f32, |v| F::from_single(v)),
        Dtype::F64 => typed!(f64, |v| <F as crate::element::Element>::from_f64(v)),
        Dtype::F16 => typed!(f16, |v| F::from_single(v.to_f32())),
        Dtype::BF16 => typed!(bf16, |v| F::from_single(v.to_f32())),
        Dtype::Bool => typed!(bool, |v| truth(v)),
        other => unreachable!("the fuser admits no {other} inputs"),
    }
}

/// Gathers a chunk of a strided array, one run of the innermost dimension at a time.
///
/// # Safety
/// `base` must be valid for every offset `strides` give over `shape`.
#[inline(always)]
unsafe fn gather<T: Copy, F: Copy>(base: *const T, shape: &[usize], strides: &[isize], start: usize, dst: &mut [F], conv: impl Fn(T) -> F) {
    let Some((&inner, outer)) = shape.split_last() else {
        // SAFETY: a 0-d source has one element.
        let v = conv(unsafe { *base });
        dst.fill(v);
        return;
    };
    let step = strides[outer.len()];
    let (mut row, mut col) = (start / inner, start % inner);
    let mut done = 0;
    while done < dst.len() {
        let offset = row_start(outer, strides, row) + col as isize * step;
        let m = (inner - col).min(dst.len() - done);
        let out = &mut dst[done..done + m];
        // SAFETY: offsets stay within the source by the caller's guarantee.
        unsafe {
            let p = base.offset(offset);
            match step {
                1 => {
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = conv(*p.add(j));
                    }
                }
                0 => out.fill(conv(*p)),
                _ => {
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = conv(*p.offset(j as isize * step));
                    }
                }
            }
        }
        done += m;
        row += 1;
        col = 0;
    }
}

/// Writes a register into elements `start..` of a row-major output of `dtype`, bypassing
/// the caches when `stream` is set and the output holds the compute type.
///
/// # Safety
/// The output must have room for `start + src.len()` elements.
unsafe fn store<F: Lane>(src: &[F], ptr: SendPtr<u8>, dtype: Dtype, start: usize, stream: bool) {
    let bytes = std::mem::size_of_val(src);
    let out = ptr.0.wrapping_add(start * dtype.size());
    if stream && dtype.size() == std::mem::size_of::<F>() && (out as usize).is_multiple_of(32) {
        // SAFETY: same type and size (f32 or f64 registers into an f32 or f64 output).
        if unsafe { stream_copy(src.as_ptr() as *const u8, out, bytes) }.is_some() {
            return;
        }
    }
    macro_rules! typed {
        ($t:ty, |$v:ident| $conv:expr) => {{
            // SAFETY: forwarded from the caller.
            let out = unsafe { std::slice::from_raw_parts_mut((ptr.0 as *mut $t).add(start), src.len()) };
            for (o, &$v) in out.iter_mut().zip(src) {
                *o = $conv;
            }
        }};
    }
    match dtype {
        Dtype::F32 => typed!(f32, |v| v.to_single()),
        Dtype::F64 => typed!(f64, |v| crate::element::Element::to_f64(v)),
        Dtype::F16 => typed!(f16, |v| f16::from_f32(v.to_single())),
        Dtype::BF16 => typed!(bf16, |v| bf16::from_f32(v.to_single())),
        Dtype::Bool => typed!(bool, |v| v != F::zero()),
        other => unreachable!("the fuser admits no {other} outputs"),
    }
}

/// Rounds a register to the precision of `dtype` (what storing the unfused value would do).
fn round_to<F: Lane>(dtype: Dtype, out: &mut [F]) {
    match dtype {
        Dtype::F16 => out.iter_mut().for_each(|v| *v = F::from_single(f16::from_f32(v.to_single()).to_f32())),
        Dtype::BF16 => out.iter_mut().for_each(|v| *v = F::from_single(bf16::from_f32(v.to_single()).to_f32())),
        _ => {}
    }
}

/// Whether this CPU runs the operation loops in 512-bit vectors (AVX-512 F/BW/VL/DQ, unless
/// `RMX_NO_AVX512` is set; checked once).
///
/// ```
/// let wide = rmx::backend::cpu::fused::wide_vectors();
/// assert!(!wide || std::env::var_os("RMX_NO_AVX512").is_none());
/// ```
pub fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static WIDE: OnceLock<bool> = OnceLock::new();
        *WIDE.get_or_init(|| super::avx512_bw_available() && is_x86_feature_detected!("avx512dq"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// [`apply`] compiled for AVX-512 when `wide` (see [`wide_vectors`]), else for the build's
/// target. The formulas are written for the auto-vectorizer; with 512-bit registers a chain
/// of transcendental steps runs about 1.5x faster than in AVX2's 256-bit ones.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn apply_widest<F: Lane>(wide: bool, op: FusedOp, a: &[F], b: &[F], c: &[F], out: &mut [F], from: Dtype, to: Dtype) {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is set only where the CPU has these extensions.
        unsafe { apply_avx512(op, a, b, c, out, from, to) };
        return;
    }
    let _ = wide;
    apply(op, a, b, c, out, from, to)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn apply_avx512<F: Lane>(op: FusedOp, a: &[F], b: &[F], c: &[F], out: &mut [F], from: Dtype, to: Dtype) {
    apply(op, a, b, c, out, from, to)
}

/// One operation over a chunk: `out = op(a, b, c)` (unused operands are empty), as plain
/// loops over slices that cannot alias, which the loop vectorizer handles for every formula.
/// (Until session 25 the AVX2 build computed blocks of 16 lanes in local arrays, for two
/// vectors in flight: that helped exp and sigmoid by 7-12% but left formulas with selects to
/// the SLP vectorizer, which kept them scalar: maximum 5-7x, divide 3.4x, sign 11x,
/// reciprocal and round 2.6x slower than the plain loop on Zen 3.)
#[inline(always)]
fn apply<F: Lane>(op: FusedOp, a: &[F], b: &[F], c: &[F], out: &mut [F], from: Dtype, to: Dtype) {
    match op {
        FusedOp::Unary(op) => unary(op, a, out),
        FusedOp::Binary(op) => binary(op, a, b, out),
        FusedOp::Select => {
            for (((o, &c), &x), &y) in out.iter_mut().zip(a).zip(b).zip(c) {
                *o = if c != F::zero() { x } else { y };
            }
        }
        FusedOp::Cast if to == Dtype::Bool && from != Dtype::Bool => {
            for (o, &x) in out.iter_mut().zip(a) {
                *o = truth(x != F::zero());
            }
        }
        // Other conversions change only the precision, which `round_to` applies.
        FusedOp::Cast => out.copy_from_slice(a),
    }
}

#[inline(always)]
fn unary<F: Lane>(op: UnaryOp, x: &[F], out: &mut [F]) {
    if let Some(kernel) = float_unary_slice::<F>(op) {
        // Vectorized by hand, as in the unfused kernel.
        return kernel(x, out);
    }
    macro_rules! each {
        (|$v:ident| $body:expr) => {{
            #[inline(always)]
            fn f<F: Real>($v: F) -> F {
                $body
            }
            for (o, &v) in out.iter_mut().zip(x) {
                *o = f(v);
            }
        }};
    }
    if float_unary_formula!(op, each).is_some() {
        return;
    }
    let test: fn(F) -> bool = match op {
        UnaryOp::IsNan => |v| v.is_nan(),
        UnaryOp::IsInf => |v| v.is_infinite(),
        UnaryOp::IsPosInf => |v| v == F::infinity(),
        UnaryOp::IsNegInf => |v| v == F::neg_infinity(),
        UnaryOp::IsFinite => |v| v.is_finite(),
        UnaryOp::LogicalNot => |v| v == F::zero(),
        other => unreachable!("the fuser admits no {}", other.name()),
    };
    for (o, &v) in out.iter_mut().zip(x) {
        *o = truth(test(v));
    }
}

#[inline(always)]
fn binary<F: Lane>(op: BinaryOp, a: &[F], b: &[F], out: &mut [F]) {
    macro_rules! each {
        (|$x:ident, $y:ident| $body:expr) => {{
            #[inline(always)]
            fn f<F: Real>($x: F, $y: F) -> F {
                $body
            }
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        }};
    }
    if float_binary_formula!(op, each).is_some() {
        return;
    }
    macro_rules! test {
        (|$x:ident, $y:ident| $body:expr) => {
            for ((o, &$x), &$y) in out.iter_mut().zip(a).zip(b) {
                *o = truth($body);
            }
        };
    }
    match op {
        BinaryOp::Equal => test!(|x, y| x == y),
        BinaryOp::NotEqual => test!(|x, y| x != y),
        BinaryOp::Less => test!(|x, y| x < y),
        BinaryOp::LessEqual => test!(|x, y| x <= y),
        BinaryOp::Greater => test!(|x, y| x > y),
        BinaryOp::GreaterEqual => test!(|x, y| x >= y),
        BinaryOp::LogicalAnd => test!(|x, y| x != F::zero() && y != F::zero()),
        BinaryOp::LogicalOr => test!(|x, y| x != F::zero() || y != F::zero()),
        other => unreachable!("the fuser admits no {}", other.name()),
    }
}
