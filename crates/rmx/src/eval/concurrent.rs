//! Evaluation of a graph whose ops sit on several streams: each stream's nodes run in graph
//! order on a thread of their own, so work on different streams overlaps; a node whose input
//! comes from another stream waits until that input is filled. The first failure stops every
//! stream and is returned.

use super::run_node;
use crate::array::Array;
use crate::device::Stream;
use crate::error::{Error, Result};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Runs the nodes (in graph order, each with its stream), one thread per stream.
pub(super) fn run(tape: Vec<(Array, Stream)>) -> Result<()> {
    let mut lanes: Vec<(Stream, Vec<Array>)> = Vec::new();
    for (node, stream) in tape {
        match lanes.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, nodes)) => nodes.push(node),
            None => lanes.push((stream, vec![node])),
        }
    }
    let progress = Progress::default();
    std::thread::scope(|scope| {
        let threads: Vec<_> = lanes
            .into_iter()
            .map(|(_, nodes)| {
                let (progress, carried) = (&progress, crate::thread_context::carry());
                scope.spawn(move || carried.run(|| run_lane(nodes, progress)))
            })
            .collect();
        // Every lane is joined; the error returned is the one that stopped the others.
        let mut first = None;
        for thread in threads {
            match thread.join() {
                Ok(Ok(())) | Ok(Err(Stop::Halted)) => {}
                Ok(Err(Stop::Failed(err))) => first = first.or(Some(err)),
                Err(_) => first = first.or(Some(Error::Eval("a stream's evaluation panicked".into()))),
            }
        }
        first.map_or(Ok(()), Err)
    })
}

/// Why a lane stopped early.
enum Stop {
    /// One of its ops failed.
    Failed(Error),
    /// Another lane failed first, and an input this lane needs will not come.
    Halted,
}

/// One stream's nodes, in order.
fn run_lane(nodes: Vec<Array>, progress: &Progress) -> std::result::Result<(), Stop> {
    for node in nodes {
        let inputs = node.node.lock().inputs.clone();
        for input in &inputs {
            if !progress.wait_until_filled(input) {
                return Err(Stop::Halted);
            }
        }
        drop(inputs);
        let result = run_node(node);
        progress.finished(result.is_err());
        result.map_err(Stop::Failed)?;
    }
    Ok(())
}

/// What the lanes tell each other: a node finished, or one failed.
#[derive(Default)]
struct Progress {
    failed: Mutex<bool>,
    changed: Condvar,
}

impl Progress {
    /// Wakes the lanes waiting for inputs.
    fn finished(&self, failed: bool) {
        let mut flag = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        *flag |= failed;
        self.changed.notify_all();
    }

    /// Waits until `input` holds data (true), or until a lane has failed (false).
    fn wait_until_filled(&self, input: &Array) -> bool {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if input.node.lock().storage.is_some() {
                return true;
            }
            if *failed {
                return false;
            }
            // The timeout covers inputs another `eval` call fills, which does not signal here.
            failed = self.changed.wait_timeout(failed, POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// How often a waiting lane looks at an input that no lane of this evaluation computes.
const POLL: Duration = Duration::from_millis(1);
