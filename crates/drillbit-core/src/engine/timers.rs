//! A timer queue on a drill's clock: the earliest first, and timers set for the same instant
//! in the order they were set (so every target and the engine break ties the same way, and
//! a seeded drill replays exactly).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Time;

#[derive(Debug, Clone)]
pub struct Timers<T: Ord> {
    heap: BinaryHeap<Reverse<(Time, u64, T)>>,
    seq: u64,
}

impl<T: Ord> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T: Ord> Timers<T> {
    #[inline]
    pub fn set(&mut self, at: Time, t: T) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, t)));
    }

    /// When the earliest timer is due.
    #[inline]
    pub fn next_at(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(Time, T)> {
        self.heap.pop().map(|Reverse((at, _, t))| (at, t))
    }

    /// The earliest timer, if it is due at or before `now`.
    #[inline]
    pub fn pop_due(&mut self, now: Time) -> Option<(Time, T)> {
        if self.next_at()? <= now {
            self.pop()
        } else {
            None
        }
    }

    pub fn clear(&mut self) {
        self.heap.clear();
        self.seq = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
