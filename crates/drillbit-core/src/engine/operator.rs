//! The people at a drill: what the library asks of them and tells them while it runs.
//!
//! The library never reads or writes the terminal. A target that needs a person (a game-day
//! step carried out by hand, the typed confirmation of a live drill) or has progress to tell
//! (an emulator being installed, what teardown left behind) goes through an [`Operator`],
//! which the CLI implements on the terminal. The live view is a [`Watch`] on the drill's
//! [`Timeline`](super::Timeline): it sees each entry as it is recorded, in the same words
//! the reports use.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{Entry, Labels, Time};

/// How a person answered a manual runbook step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAnswer {
    Done,
    Failed(String),
}

/// The people running a drill, as the library reaches them.
pub trait Operator: Send + Sync {
    /// A progress message (installing or starting an emulator, provisioning); `--quiet`
    /// silences it.
    fn say(&self, msg: &str);
    /// Something the person must know whatever the verbosity (what teardown left behind, why a
    /// live drill was aborted).
    fn warn(&self, msg: &str);
    /// Game day: the person carries out manual step `step` (`what` says what to do); blocks
    /// until they answer.
    fn manual_step(&self, step: &str, what: &str) -> StepAnswer;
    /// A live drill starts only when the person types `expect`. `summary` is what the drill
    /// will do, one line each. `abort` set (Ctrl-C) cancels. True when confirmed.
    fn confirm(&self, summary: &[String], expect: &str, abort: &AtomicBool) -> bool;
}

/// No one there: says nothing, fails manual steps, confirms nothing (library callers and
/// tests that need no person).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unattended;

impl Operator for Unattended {
    fn say(&self, _msg: &str) {}
    fn warn(&self, _msg: &str) {}
    fn manual_step(&self, _step: &str, _what: &str) -> StepAnswer {
        StepAnswer::Failed("no operator to carry out the step".into())
    }
    fn confirm(&self, _summary: &[String], _expect: &str, _abort: &AtomicBool) -> bool {
        false
    }
}

/// A subscriber to a timeline's entries as they are recorded: the instant, the entry, and
/// the names it refers to by index (the plan's steps and faults, the watched hosts). Client
/// probes are given only when their outcome changes.
#[derive(Clone)]
pub struct Watch(Arc<WatchFn>);

type WatchFn = dyn Fn(Time, &Entry, &Labels, &[String]) + Send + Sync;

impl Watch {
    pub fn new(f: impl Fn(Time, &Entry, &Labels, &[String]) + Send + Sync + 'static) -> Watch {
        Watch(Arc::new(f))
    }

    pub fn see(&self, t: Time, e: &Entry, labels: &Labels, hosts: &[String]) {
        (self.0)(t, e, labels, hosts)
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Watch")
    }
}
