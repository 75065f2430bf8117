//! Splitting a kernel's work over threads without waiting on thread wake-ups.
//!
//! Inside the compute pool (an evaluation running there, see `thread_context`) rayon splits
//! the work as usual: the pool's other threads are awake and polling. Called from outside
//! the pool (a one-op graph evaluated on the caller's thread, the common eager case), rayon
//! would hand all the work to pool threads and put the caller to sleep: every kernel then
//! pays two thread wake-ups, tens of microseconds each on a virtual machine, and a 1M-element
//! add measured anywhere between 0.1 and 0.18 ms. Here the caller works too: helpers are
//! asked for, blocks of the work are claimed from a shared counter by whoever is running,
//! and the caller waits only for blocks already being computed. A helper that wakes late
//! finds nothing left and returns without touching the work.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `task(i)` for every `i` in `0..count`, over the threads of the pool, in blocks of at
/// least `min_len` consecutive indices.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let total = AtomicUsize::new(0);
/// rmx::backend::cpu::parallel::parallel_for(1000, 64, |i| {
///     total.fetch_add(i, Ordering::Relaxed);
/// });
/// assert_eq!(total.into_inner(), 999 * 1000 / 2);
/// ```
pub fn parallel_for(count: usize, min_len: usize, task: impl Fn(usize) + Sync + Send) {
    parallel_for_init(count, min_len, || (), |_, i| task(i));
}

/// As [`parallel_for`], with per-thread state: `task(state, i)`, where `state` comes from
/// `init` (called once per block of work, so at most a few times per thread). With
/// `count <= min_len` everything runs on the calling thread with one `init`.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let total = AtomicUsize::new(0);
/// rmx::backend::cpu::parallel::parallel_for_init(1000, 64, || vec![0usize; 16], |scratch, i| {
///     scratch[i % 16] = i;
///     total.fetch_add(scratch[i % 16], Ordering::Relaxed);
/// });
/// assert_eq!(total.into_inner(), 999 * 1000 / 2);
/// ```
pub fn parallel_for_init<S>(count: usize, min_len: usize, init: impl Fn() -> S + Sync + Send, task: impl Fn(&mut S, usize) + Sync + Send) {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let min_len = min_len.max(1);
    if count <= min_len || threads == 1 {
        let mut state = init();
        (0..count).for_each(|i| task(&mut state, i));
    } else if rayon::current_thread_index().is_some() {
        (0..count).into_par_iter().with_min_len(min_len).for_each_init(&init, &task);
    } else {
        // Many blocks per thread: claiming one is an atomic add, and on a busy machine a thread
        // that is descheduled mid-block leaves the others idle for at most one small block (4
        // blocks per thread measured the compiled 16M chain 2.35-2.41x its uncompiled form, 32
        // per thread 2.90-3.15x).
        let blocks = count.div_ceil(min_len).min(32 * threads);
        let block = count.div_ceil(blocks);
        let run_block = |b: usize| {
            let mut state = init();
            (b * block..((b + 1) * block).min(count)).for_each(|i| task(&mut state, i));
        };
        with_helpers(count.div_ceil(block), threads - 1, &run_block);
    }
}

/// The claim counter and the work, shared with helpers that may start after the call ended.
struct Shared {
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
    blocks: usize,
    /// Valid while `done < blocks` (the caller waits for that before returning); only
    /// dereferenced after claiming a block below `blocks`.
    work: *const (dyn Fn(usize) + Sync),
}

// SAFETY: `work` is a `Sync` closure, dereferenced only while the caller keeps it alive.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// Claims and runs blocks until none is left.
    fn drain(&self) {
        loop {
            let b = self.next.fetch_add(1, Ordering::Relaxed);
            if b >= self.blocks {
                return;
            }
            // SAFETY: block `b` is claimed and not done, so the caller still waits and the
            // closure is alive.
            let work = unsafe { &*self.work };
            if catch_unwind(AssertUnwindSafe(|| work(b))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Runs `work(b)` for `b` in `0..blocks` on this thread and up to `helpers` pool threads.
fn with_helpers(blocks: usize, helpers: usize, work: &(dyn Fn(usize) + Sync)) {
    // SAFETY (lifetime extension): see `Shared::work`; this function returns only once every
    // claimed block is done, and blocks past `blocks` are never run.
    let work: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(work) };
    let shared = Arc::new(Shared { next: AtomicUsize::new(0), done: AtomicUsize::new(0), panicked: AtomicBool::new(false), blocks, work });
    for _ in 0..helpers.min(blocks - 1) {
        let shared = Arc::clone(&shared);
        rayon::spawn(move || shared.drain());
    }
    shared.drain();
    let mut spins = 0u32;
    while shared.done.load(Ordering::Acquire) < blocks {
        spins += 1;
        if spins < crate::thread_context::SPINS_BEFORE_YIELD {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    if shared.panicked.load(Ordering::Relaxed) {
        resume_unwind(Box::new("a parallel kernel task panicked"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_runs_once_from_inside_and_outside_the_pool() {
        for count in [0usize, 1, 7, 1000, 100_003] {
            for min_len in [1usize, 64, 5000] {
                let hits: Vec<AtomicUsize> = (0..count).map(|_| AtomicUsize::new(0)).collect();
                parallel_for(count, min_len, |i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                rayon::scope(|_| {
                    parallel_for(count, min_len, |i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    })
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 2), "count {count}, min_len {min_len}");
            }
        }
    }

    #[test]
    fn the_caller_returns_after_every_block_is_done() {
        // The caller waits (up to a second) until a helper has started, then runs its tasks
        // at once while the helper's are slow: the helper is surely inside a block when the
        // caller runs out of them.
        let hits: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
        let helper_started = AtomicBool::new(false);
        parallel_for(64, 1, |i| {
            if rayon::current_thread_index().is_some() {
                helper_started.store(true, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let since = std::time::Instant::now();
            while !helper_started.load(Ordering::Relaxed) && since.elapsed().as_secs() < 1 {
                std::thread::yield_now();
            }
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_panicking_task_panics_the_caller_after_the_others_finish() {
        let finished = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            parallel_for(10_000, 100, |i| {
                if i == 5_000 {
                    panic!("task {i}");
                }
                finished.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(result.is_err());
        // Every other block ran, and nothing runs after the call returned.
        let at_return = finished.load(Ordering::Relaxed);
        assert!(at_return >= 5_000, "{at_return}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(finished.load(Ordering::Relaxed), at_return);
    }
}
