//! Runs an evaluation on a thread of the compute pool, carrying the caller's per-thread
//! settings along.
//!
//! Kernels split their work with rayon. Called from outside the pool, every parallel kernel
//! would hand its work to the pool and put the caller to sleep until it is done: two thread
//! wake-ups per kernel, tens of microseconds each, which add up over the hundreds of small
//! kernels of one decode step. Evaluating the whole graph on a pool thread pays that once;
//! the kernels' parallel parts then go to the pool's other threads directly, which keep
//! polling for work until the evaluation ends.

use crate::device::{Device, Stream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The per-thread settings evaluation depends on: whether transforms keep graphs attached,
/// whether `compile` is tracing, and the default device and streams.
struct ThreadContext {
    retain_depth: usize,
    tracing_depth: usize,
    device: Device,
    streams: Vec<Stream>,
}

impl ThreadContext {
    fn capture() -> ThreadContext {
        let (device, streams) = crate::device::thread_defaults();
        ThreadContext {
            retain_depth: crate::transforms::retain_depth(),
            tracing_depth: crate::compile::trace::tracing_depth(),
            device,
            streams,
        }
    }

    /// Installs these settings on the current thread; returns the ones it replaced.
    fn install(self) -> ThreadContext {
        let previous = ThreadContext::capture();
        crate::transforms::set_retain_depth(self.retain_depth);
        crate::compile::trace::set_tracing_depth(self.tracing_depth);
        crate::device::set_thread_defaults(self.device, self.streams);
        previous
    }
}

/// The calling thread's settings, to run work on another thread as if it ran here.
pub(crate) struct Carried(ThreadContext);

/// Captures the calling thread's settings.
pub(crate) fn carry() -> Carried {
    Carried(ThreadContext::capture())
}

impl Carried {
    /// Runs `work` on the current thread with the carried settings, then restores its own.
    pub(crate) fn run<R>(self, work: impl FnOnce() -> R) -> R {
        let _restore = Restore(Some(self.0.install()));
        work()
    }
}

/// Puts a thread's own settings back when dropped (also when the work panics).
struct Restore(Option<ThreadContext>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            previous.install();
        }
    }
}

/// Runs `work` on a thread of the rayon pool with the caller's settings (directly when the
/// caller is already one), and returns its result. While it runs, the pool's other threads
/// stay awake and take the kernels' parallel parts as soon as they appear (see
/// [`help_until`]).
pub(crate) fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return work();
    }
    let carried = carry();
    let done = AtomicBool::new(false);
    rayon::scope(|scope| {
        let evaluating = rayon::current_thread_index();
        let done = &done;
        scope.spawn_broadcast(move |_, thread| {
            if Some(thread.index()) != evaluating {
                help_until(done);
            }
        });
        let _finished = SetOnDrop(done);
        carried.run(work)
    })
}

/// Sets the flag when dropped, also when the work panics, so the helpers return.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs pending pool jobs until `done`, spinning briefly between them. A sleeping thread
/// takes a futex wake-up (tens of microseconds on a virtual machine) before it can help
/// with a kernel; a decode step runs hundreds of kernels of about a hundred microseconds.
///
/// Gives up after [`MAX_IDLE`] without a job: a worker can pick this broadcast job up while it
/// waits inside a part of one of the evaluation's own kernels that it stole (rayon runs
/// pending jobs while a join waits). Waiting there for the evaluation to end would wait on
/// itself — the kernel cannot finish until this returns — and deadlock (seen once in a few
/// thousand evaluations of a compiled softmax).
fn help_until(done: &AtomicBool) {
    let mut idle = 0u32;
    let mut idle_since = None;
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle = 0;
            idle_since = None;
        } else if idle < SPINS_BEFORE_YIELD {
            idle += 1;
            std::hint::spin_loop();
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() < MAX_IDLE {
            std::thread::yield_now();
        } else {
            return;
        }
    }
}

/// How long a helper waits for a job before it goes back to the pool's own sleeping: longer
/// than the serial stretches between the parallel parts of one evaluation's kernels.
const MAX_IDLE: Duration = Duration::from_millis(1);

/// Empty polls after which a helper yields its core to the OS between polls.
pub(crate) const SPINS_BEFORE_YIELD: u32 = 1 << 12;
