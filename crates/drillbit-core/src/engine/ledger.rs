//! What a target reports of the data after a drill: the acknowledged writes and which of them
//! survived recovery. Measurement ([`crate::measure`]) turns it into data loss and RPO.

use std::ops::Range;

use super::Time;

/// Acknowledged writes and what survived, as a target observed them.
#[derive(Debug, Clone, PartialEq)]
pub enum Ledger {
    /// Writes acknowledged at a steady rate during spans of time (the simulator's workload).
    /// Write k of a span is acknowledged at `start + k / rate`. Writes acknowledged inside a
    /// `lost` interval (exclusive start, inclusive end) did not survive.
    /// `shift` is how long the workload ran before the drill started: span and loss times are
    /// drill times plus `shift`.
    Steady {
        rate: f64,
        spans: Vec<(Time, Time)>,
        lost: Vec<(Time, Time)>,
        shift: Time,
    },
    /// A recorded ledger (real targets): ack time of each sequence number, sorted; and the
    /// sequence ranges found missing after recovery.
    Recorded {
        acks: Vec<Time>,
        lost: Vec<Range<u64>>,
        indeterminate: u64,
    },
    /// The target cannot observe data loss (e.g. an emulator that does not replicate).
    NotMeasurable(String),
}

/// The acknowledged writes, in acknowledgement order, that did not survive, as runs of their
/// indexes (what [`Ledger::Recorded`] holds): `lost(i)` says whether write `i` is missing.
pub fn lost_runs(acked: usize, mut lost: impl FnMut(usize) -> bool) -> Vec<Range<u64>> {
    let mut runs: Vec<Range<u64>> = Vec::new();
    for i in (0..acked).filter(|&i| lost(i)) {
        let i = i as u64;
        match runs.last_mut() {
            Some(r) if r.end == i => r.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    #[test]
    fn lost_writes_are_runs_of_indexes() {
        let missing = [1, 2, 3, 5, 8, 9];
        assert_eq!(super::lost_runs(10, |i| missing.contains(&i)), vec![1..4, 5..6, 8..10]);
        assert!(super::lost_runs(3, |_| false).is_empty());
    }
}
