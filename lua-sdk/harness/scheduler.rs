//! The virtual clock and the run queue behind the `task` library stand-in.
//!
//! A Luau thread that waits (`task.wait`, `task.delay`) registers a wake-up time here and
//! yields; `task.defer` puts a thread on the ready queue. The driver in `lib.rs` resumes ready
//! threads in order and moves the clock forward to the next wake-up only when nothing is ready
//! (see [`crate::Harness::run_until`] for how HTTP in flight holds the clock).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};

use mlua::{Thread, Value};

/// Shortest wait, like one Roblox frame (Heartbeat at 60 Hz).
pub const FRAME: f64 = 1.0 / 60.0;

/// A thread to resume and what to resume it with.
pub struct Wakeup {
    /// The suspended thread.
    pub thread: Thread,
    /// Values `coroutine.yield` returns in it (or the arguments of a new thread's function).
    pub args: Vec<Value>,
}

/// Virtual time, the ready queue and the timers.
#[derive(Default)]
pub struct Scheduler {
    /// Virtual seconds since the harness started.
    now: f64,
    /// Ties between timers due at the same moment break in registration order.
    next_seq: u64,
    ready: VecDeque<Wakeup>,
    timers: BinaryHeap<Reverse<Due>>,
    sleeping: HashMap<u64, Wakeup>,
}

#[derive(Debug, Clone, Copy)]
struct Due {
    at: f64,
    seq: u64,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.total_cmp(&other.at).then(self.seq.cmp(&other.seq))
    }
}

impl Scheduler {
    /// Virtual seconds since the start.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Resumes `wakeup` after `seconds` (at least one frame) of virtual time.
    pub fn sleep(&mut self, seconds: f64, wakeup: Wakeup) {
        let seconds = if seconds.is_finite() {
            seconds.max(FRAME)
        } else {
            FRAME
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.timers.push(Reverse(Due {
            at: self.now + seconds,
            seq,
        }));
        self.sleeping.insert(seq, wakeup);
    }

    /// Resumes `wakeup` as soon as the threads ready before it have run.
    pub fn defer(&mut self, wakeup: Wakeup) {
        self.ready.push_back(wakeup);
    }

    /// The next ready thread, if any.
    pub fn pop_ready(&mut self) -> Option<Wakeup> {
        self.ready.pop_front()
    }

    /// When the earliest timer is due.
    pub fn next_due(&self) -> Option<f64> {
        self.timers.peek().map(|Reverse(due)| due.at)
    }

    /// Moves the clock to `at` and makes every timer due by then ready, earliest first.
    pub fn advance_to(&mut self, at: f64) {
        self.now = self.now.max(at);
        while let Some(Reverse(due)) = self.timers.peek().copied() {
            if due.at > self.now {
                break;
            }
            self.timers.pop();
            if let Some(wakeup) = self.sleeping.remove(&due.seq) {
                self.ready.push_back(wakeup);
            }
        }
    }
}
