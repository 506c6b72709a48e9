//! The timeline of one drill: every decision of the engine and every observation of the
//! target, on the target's clock. It also keeps the few instants measurement needs
//! (t_fault, t_detect, t_recovered, step spans) so that a Monte Carlo run can switch the full
//! event log off and still be measured by the same code.

use std::borrow::Cow;

use super::{AlarmSource, Outcome, Plan, Time};

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    FaultInjected {
        fault: usize,
    },
    FaultActive {
        fault: usize,
    },
    FaultRepaired {
        fault: usize,
    },
    Detected {
        source: AlarmSource,
    },
    RunbookStarted,
    RunbookSkipped,
    AttemptStarted {
        step: usize,
        attempt: u32,
    },
    AttemptEnded {
        step: usize,
        attempt: u32,
        outcome: Outcome,
        detail: Option<Cow<'static, str>>,
    },
    TrafficSwitched,
    Probe {
        ok: bool,
    },
    Recovered,
    FailbackStarted,
    FailbackFinished,
    HorizonReached,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    pub start: Option<Time>,
    pub end: Option<Time>,
    pub outcome: Option<Outcome>,
    pub attempts: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Keep every entry (single drills) or only the instants (Monte Carlo).
    pub detail: bool,
    pub entries: Vec<(Time, Entry)>,
    pub t_fault: Option<Time>,
    /// The disruptive fault whose effect is t_fault (None for a planned failover).
    pub fault: Option<usize>,
    pub t_detect: Option<Time>,
    pub runbook_start: Option<Time>,
    pub t_traffic_switched: Option<Time>,
    pub t_first_failed_probe: Option<Time>,
    pub t_recovered: Option<Time>,
    pub steps: Vec<StepRecord>,
    pub probes_ok: u64,
    pub probes_failed: u64,
    /// Failback: when the rollback steps started and when the last one finished.
    pub failback_start: Option<Time>,
    pub failback_end: Option<Time>,
    /// Failed probes from the start of failback on: client-visible disruption of the failback.
    pub failback_failed_probes: u64,
    /// The last instant the engine processed.
    pub end: Time,
    healthy_after: u32,
    run_start: Option<Time>,
    run_len: u32,
}

impl Timeline {
    pub fn new(detail: bool) -> Timeline {
        Timeline {
            detail,
            ..Timeline::default()
        }
    }

    pub fn reset(&mut self, plan: &Plan) {
        let detail = self.detail;
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        let mut steps = std::mem::take(&mut self.steps);
        steps.clear();
        steps.resize(plan.steps.len(), StepRecord::default());
        *self = Timeline {
            detail,
            entries,
            steps,
            healthy_after: plan.healthy_after,
            ..Timeline::default()
        };
    }

    #[inline]
    pub fn push(&mut self, t: Time, e: Entry) {
        if self.detail {
            self.entries.push((t, e));
        }
    }

    pub fn fault(&mut self, t: Time, fault: Option<usize>) {
        self.t_fault = Some(t);
        self.fault = fault;
        // Probes before the fault do not count towards recovery.
        self.run_start = None;
        self.run_len = 0;
    }

    /// Records a client probe; t_recovered is the start of the first run of K consecutive good
    /// probes after t_fault.
    pub fn probe(&mut self, t: Time, ok: bool) {
        self.push(t, Entry::Probe { ok });
        if ok {
            self.probes_ok += 1;
        } else {
            self.probes_failed += 1;
            if self.failback_start.is_some_and(|f| t >= f) {
                self.failback_failed_probes += 1;
            }
        }
        let Some(t_fault) = self.t_fault else { return };
        if t < t_fault {
            return;
        }
        if !ok {
            self.t_first_failed_probe.get_or_insert(t);
            self.run_start = None;
            self.run_len = 0;
            return;
        }
        if self.t_recovered.is_some() {
            return;
        }
        let start = *self.run_start.get_or_insert(t);
        self.run_len += 1;
        if self.run_len >= self.healthy_after {
            self.t_recovered = Some(start);
            self.push(t, Entry::Recovered);
        }
    }

    pub fn step_started(&mut self, s: usize, t: Time, attempt: u32) {
        if let Some(r) = self.steps.get_mut(s) {
            r.start.get_or_insert(t);
            r.attempts = attempt;
        }
    }

    pub fn step_finished(&mut self, s: usize, t: Time, outcome: Outcome) {
        if let Some(r) = self.steps.get_mut(s) {
            r.end = Some(t);
            r.outcome = Some(outcome);
        }
    }
}
