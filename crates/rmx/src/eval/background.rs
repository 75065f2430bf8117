//! [`crate::async_eval`]'s evaluations: handed to one background thread, in the order they
//! were asked for, while the caller goes on (typically building the next step's graph).
//!
//! [`wait`] blocks until every submitted evaluation has finished; [`crate::eval`] calls it
//! first (from user threads), so an array `async_eval` is filling is read only once it is
//! filled, and evaluations never wait on each other's nodes from inside the compute pool
//! (where a waiting thread may hold, lower on its stack, work the other one needs). An
//! evaluation that fails puts the failing node back as it was (`run_node`), so the next
//! `eval` of it, or a read of its data, runs it again and returns the error.

use crate::array::Array;
use crate::thread_context::{carry, Carried};
use std::cell::Cell;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Condvar, Mutex, OnceLock};

/// One `async_eval` call: its arrays and the caller's thread settings.
type Job = (Vec<Array>, Carried);

/// Submitted evaluations that have not finished.
struct Pending {
    count: Mutex<usize>,
    idle: Condvar,
}

static PENDING: Pending = Pending { count: Mutex::new(0), idle: Condvar::new() };

thread_local! {
    /// Set on the background thread itself.
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// The channel to the background thread, started on first use.
fn worker() -> &'static Sender<Job> {
    static SENDER: OnceLock<Sender<Job>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (sender, jobs) = channel::<Job>();
        std::thread::Builder::new()
            .name("rmx-async-eval".into())
            .spawn(move || {
                IS_WORKER.with(|w| w.set(true));
                for (outputs, carried) in jobs {
                    // A failure is kept in the graph (see the module doc); a panic must not
                    // leave `wait` waiting forever.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| carried.run(|| super::eval(&outputs))));
                    drop(outputs);
                    finished();
                }
            })
            .expect("the async_eval thread starts");
        sender
    })
}

/// Queues `outputs` for evaluation on the background thread.
pub(super) fn submit(outputs: Vec<Array>) {
    *PENDING.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    if let Err(failed) = worker().send((outputs, carry())) {
        // The thread is gone (it never exits while the channel is open): evaluate here, once
        // this request no longer counts as pending (`eval` waits for those).
        finished();
        let (outputs, carried) = failed.0;
        let _ = carried.run(|| super::eval(&outputs));
    }
}

/// Counts one submitted evaluation as finished, waking [`wait`] when none is left.
fn finished() {
    let mut count = PENDING.count.lock().unwrap_or_else(|e| e.into_inner());
    *count -= 1;
    if *count == 0 {
        PENDING.idle.notify_all();
    }
}

/// Waits until every submitted evaluation has finished; returns at once on the background
/// thread and on the compute pool's threads (their evaluations are part of one already).
pub(crate) fn wait() {
    if IS_WORKER.with(|w| w.get()) || rayon::current_thread_index().is_some() {
        return;
    }
    let mut count = PENDING.count.lock().unwrap_or_else(|e| e.into_inner());
    while *count > 0 {
        count = PENDING.idle.wait(count).unwrap_or_else(|e| e.into_inner());
    }
}
