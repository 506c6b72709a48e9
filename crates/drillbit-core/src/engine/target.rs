//! What the engine and a target exchange: drill time, the [`Target`] trait (faults and actions
//! in, [`Event`]s out), the results and outcomes, and the target's errors.

use std::borrow::Cow;
use std::fmt;

use super::Ledger;

/// Microseconds since the start of the drill, on the target's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(u64::MAX);
    pub fn secs(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn from_secs(s: f64) -> Time {
        Time((s * 1e6).round().max(0.0) as u64)
    }
    pub fn plus(self, d: Time) -> Time {
        Time(self.0.saturating_add(d.0))
    }
    pub fn since(self, earlier: Time) -> Time {
        Time(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.secs())
    }
}

/// How an action attempt ended, as the target reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionResult {
    Ok,
    Failed(Cow<'static, str>),
    /// The target cannot carry out this action (e.g. S3 on the local target).
    Unsupported(Cow<'static, str>),
}

/// The final outcome of a step, as the scorecard reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Failed,
    TimedOut,
    Skipped,
    Unsupported,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Skipped => "skipped",
            Outcome::Unsupported => "unsupported",
        }
    }
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::TimedOut)
    }
}

/// What monitoring raised the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmSource {
    HealthCheck,
    Probes,
}

impl AlarmSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmSource::HealthCheck => "health-check",
            AlarmSource::Probes => "probes",
        }
    }
}

/// What a watched database host answered (split brain is two writers at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostState {
    /// Out of recovery and taking writes.
    Writer,
    /// In recovery (a standby) or read-only.
    ReadOnly,
    /// Did not answer.
    Unreachable,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Writer => "writer",
            HostState::ReadOnly => "read-only",
            HostState::Unreachable => "unreachable",
        }
    }
}

/// Observations a target reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The fault is in force (for a live target: injected, or its action started).
    FaultActive { fault: usize },
    /// The first direct evidence that the fault took effect, and what it was (a process gone,
    /// an API call refused, replication stopped). Failed client probes and host changes are
    /// evidence the engine sees by itself.
    FaultEffect { fault: usize, how: Cow<'static, str> },
    /// A watched database host's state (sent at start and on every change).
    Host { host: usize, state: HostState },
    /// The fault was undone.
    FaultRepaired { fault: usize },
    /// The target's own monitoring (e.g. a Route 53 health check) declared the failure.
    Alarm { source: AlarmSource },
    /// An action attempt finished.
    ActionDone {
        step: usize,
        attempt: u32,
        result: ActionResult,
    },
    /// Client traffic now reaches the recovery side (DNS answer changed and caches expired).
    TrafficSwitched,
    /// A client probe (a write and a read through the service endpoint).
    Probe { ok: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Infrastructure(String),
    #[error("aborted: {0}")]
    Aborted(String),
}

/// What a target returns when asked for the next event before a deadline.
#[derive(Debug)]
pub enum Poll {
    Event(Time, Event),
    /// Nothing happened before the deadline; the target's clock is now at the deadline.
    Deadline,
}

/// A target adapter. The engine calls these; the adapter owns its clock.
pub trait Target {
    fn name(&self) -> &'static str;
    /// The database hosts the target watches directly (labels for [`Event::Host`]).
    fn hosts(&self) -> Vec<String> {
        Vec::new()
    }
    /// Injects a fault now; its effect is reported later as [`Event::FaultActive`].
    fn inject(&mut self, fault: usize, now: Time) -> Result<(), TargetError>;
    /// Undoes a fault. Called for every injected fault, also on error and abort.
    fn repair(&mut self, fault: usize, now: Time) -> Result<(), TargetError>;
    /// Starts an action attempt; its end is reported as [`Event::ActionDone`].
    fn start_action(&mut self, step: usize, attempt: u32, now: Time) -> Result<(), TargetError>;
    /// Abandons a running attempt (timeout). Later reports for it are ignored by the engine.
    fn cancel_action(&mut self, step: usize, now: Time);
    /// The next event at or before `deadline`, or [`Poll::Deadline`].
    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError>;
    /// After the drill: the acknowledged writes and which of them survived recovery.
    fn ledger(&mut self, end: Time) -> Result<Ledger, TargetError>;
    /// After [`Target::ledger`]: the ledgers of other data the target wrote and read back (a
    /// session store), by name; measured and judged like the database's writes.
    fn other_ledgers(&mut self) -> Vec<(String, Ledger)> {
        Vec::new()
    }
}
