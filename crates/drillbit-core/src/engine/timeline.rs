//! The timeline of one drill: every decision of the engine and every observation of the
//! target, on the target's clock. It also keeps the few instants measurement needs
//! (t_fault, t_detect, t_recovered, step spans) so that a Monte Carlo run can switch the full
//! event log off and still be measured by the same code.

use std::borrow::Cow;

use super::{AlarmSource, HostState, Outcome, Plan, Time, Watch};

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
    /// The first evidence that a fault took effect.
    FaultEffect {
        fault: usize,
        how: Cow<'static, str>,
    },
    /// A disruptive fault showed no effect within the scenario's bound.
    FaultNoEffect {
        fault: usize,
    },
    InjectFailed {
        fault: usize,
        detail: Cow<'static, str>,
    },
    RepairFailed {
        fault: usize,
        detail: Cow<'static, str>,
    },
    Host {
        host: usize,
        state: HostState,
    },
    /// Client probes failed again after the service had recovered.
    Relapse,
    /// The settle window passed with nothing left to happen.
    Settled,
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
    /// A run of `count` client probes with the same outcome, from the entry's time to `last`
    /// (a drill's memory and output grow with its events, not with its probe rate).
    Probes {
        ok: bool,
        count: u64,
        last: Time,
    },
    Recovered,
    FailbackStarted,
    FailbackFinished,
    HorizonReached,
}

/// The names of a plan's steps and faults, by index (what entries refer to).
#[derive(Debug, Clone, Default)]
pub struct Labels {
    pub steps: Vec<String>,
    pub faults: Vec<String>,
}

impl Labels {
    pub fn of(plan: &Plan) -> Labels {
        Labels {
            steps: plan.steps.iter().map(|s| s.id.clone()).collect(),
            faults: plan.faults.iter().map(|f| f.id.clone()).collect(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    pub start: Option<Time>,
    pub end: Option<Time>,
    pub outcome: Option<Outcome>,
    pub attempts: u32,
}

/// A span of client-visible failure after t_fault: from a failed probe to the start of the
/// next run of K good probes (open when the drill ended first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub start: Time,
    pub end: Option<Time>,
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
    /// Failback: when the faults were repaired for it (the failover is over from then on),
    /// when the rollback steps started and when the last one finished.
    pub failback_repaired: Option<Time>,
    pub failback_start: Option<Time>,
    pub failback_end: Option<Time>,
    /// Failed probes from the start of failback on: client-visible disruption of the failback.
    pub failback_failed_probes: u64,
    /// The last instant the engine processed.
    pub end: Time,
    /// Per fault: when it was injected, when it was repaired, and the first evidence of its
    /// effect (when, and what was seen).
    pub fault_injected: Vec<Option<Time>>,
    pub fault_repaired: Vec<Option<Time>>,
    pub fault_effect: Vec<Option<(Time, Cow<'static, str>)>>,
    /// Client-visible outages after t_fault; more than one is a relapse.
    pub outages: Vec<Outage>,
    /// The first recovery, when a relapse moved t_recovered later.
    pub t_first_recovered: Option<Time>,
    /// The watched database hosts, their last state, and the spans with two writers or more.
    pub hosts: Vec<String>,
    pub host_state: Vec<Option<HostState>>,
    host_log: Vec<(Time, usize, HostState)>,
    pub split_brain: Vec<Outage>,
    /// When the settle window passed (None: the drill ended otherwise).
    pub settled_at: Option<Time>,
    /// The infrastructure failure that ended the drill early (a fault or repair command).
    pub error: Option<String>,
    /// Whether the last client probe succeeded (None before the first).
    pub last_probe_ok: Option<bool>,
    /// The live view: sees each entry as it is recorded (with the labels of the plan).
    pub watch: Option<Watch>,
    watch_labels: Labels,
    healthy_after: u32,
    failure_threshold: u32,
    relapse_start: Option<Time>,
    relapse_len: u32,
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
        let watch = self.watch.take();
        let watch_labels = if watch.is_some() {
            Labels::of(plan)
        } else {
            Labels::default()
        };
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        let mut steps = std::mem::take(&mut self.steps);
        steps.clear();
        steps.resize(plan.steps.len(), StepRecord::default());
        let n = plan.faults.len();
        *self = Timeline {
            detail,
            entries,
            steps,
            healthy_after: plan.healthy_after,
            failure_threshold: plan.failure_threshold,
            fault_injected: vec![None; n],
            fault_repaired: vec![None; n],
            fault_effect: vec![None; n],
            watch,
            watch_labels,
            ..Timeline::default()
        };
    }

    fn tell(&self, t: Time, e: &Entry) {
        if let Some(w) = &self.watch {
            w.see(t, e, &self.watch_labels, &self.hosts);
        }
    }

    pub fn set_hosts(&mut self, hosts: Vec<String>) {
        self.host_state = vec![None; hosts.len()];
        self.hosts = hosts;
    }

    pub fn injected(&mut self, t: Time, fault: usize) {
        if let Some(slot) = self.fault_injected.get_mut(fault) {
            slot.get_or_insert(t);
        }
        self.push(t, Entry::FaultInjected { fault });
    }

    pub fn repaired(&mut self, t: Time, fault: usize) {
        if let Some(slot) = self.fault_repaired.get_mut(fault) {
            *slot = Some(t);
        }
    }

    pub fn effect_of(&self, fault: usize) -> Option<Time> {
        self.fault_effect.get(fault).and_then(|e| e.as_ref().map(|(t, _)| *t))
    }

    /// Records the first evidence of a fault's effect (later evidence is ignored).
    pub fn effect(&mut self, t: Time, fault: usize, how: Cow<'static, str>) {
        let Some(slot) = self.fault_effect.get_mut(fault) else {
            return;
        };
        if slot.is_none() {
            *slot = Some((t, how.clone()));
            self.push(t, Entry::FaultEffect { fault, how });
        }
    }

    /// Records a watched host's state; returns the state before when it changed. Targets stamp
    /// each state when it was last known (an answer's arrival; for a host that stopped
    /// answering, when the unanswered query was sent), so reports can arrive out of order: the
    /// split-brain spans are computed from the stamps once the drill ended
    /// ([`Timeline::close_hosts`]).
    pub fn host(&mut self, t: Time, host: usize, state: HostState) -> Option<HostState> {
        let slot = self.host_state.get_mut(host)?;
        let before = slot.replace(state);
        if before == Some(state) {
            return None;
        }
        self.push(t, Entry::Host { host, state });
        self.host_log.push((t, host, state));
        before
    }

    /// Spans with two writable hosts or more, from the stamped host states.
    pub fn close_hosts(&mut self) {
        let mut log = self.host_log.clone();
        log.sort_by_key(|&(t, h, _)| (t, h));
        let mut state = vec![None; self.hosts.len()];
        self.split_brain.clear();
        for (t, h, st) in log {
            if let Some(slot) = state.get_mut(h) {
                *slot = Some(st);
            }
            let writers = state.iter().filter(|s| **s == Some(HostState::Writer)).count();
            let open = self.split_brain.last().is_some_and(|s| s.end.is_none());
            if writers >= 2 && !open {
                self.split_brain.push(Outage { start: t, end: None });
            } else if writers < 2 && open {
                if let Some(s) = self.split_brain.last_mut() {
                    s.end = Some(t);
                }
            }
        }
        // A span shorter than nothing (a report that arrived late closed it at once) is none.
        self.split_brain.retain(|s| s.end.is_none_or(|e| e > s.start));
    }

    #[inline]
    pub fn push(&mut self, t: Time, e: Entry) {
        if self.watch.is_some() {
            self.tell(t, &e);
        }
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

    /// Records a client probe. t_recovered is the start of the run of K consecutive good probes
    /// that ended the last outage after t_fault. After recovery (before failback), as many failed
    /// probes in a row as the alarm threshold are a relapse: the service is unrecovered again
    /// from the first of them until the next such run.
    pub fn probe(&mut self, t: Time, ok: bool) {
        if self.detail {
            match self.entries.last_mut() {
                Some((_, Entry::Probes { ok: was, count, last })) if *was == ok => {
                    *count += 1;
                    *last = t;
                }
                _ => self.entries.push((t, Entry::Probes { ok, count: 1, last: t })),
            }
        }
        if self.watch.is_some() && self.last_probe_ok != Some(ok) {
            self.tell(t, &Entry::Probes { ok, count: 1, last: t });
        }
        self.last_probe_ok = Some(ok);
        let in_failback = self.failback_repaired.or(self.failback_start).is_some_and(|f| t >= f);
        if ok {
            self.probes_ok += 1;
        } else {
            self.probes_failed += 1;
            if in_failback {
                self.failback_failed_probes += 1;
            }
        }
        let Some(t_fault) = self.t_fault else { return };
        if t < t_fault || in_failback {
            return;
        }
        if !ok {
            self.t_first_failed_probe.get_or_insert(t);
            self.run_start = None;
            self.run_len = 0;
            if self.t_recovered.is_some() {
                // After recovery, a blip shorter than the alarm threshold is counted but is not
                // an outage; that many failures in a row are a relapse, from the first of them.
                let first = *self.relapse_start.get_or_insert(t);
                self.relapse_len += 1;
                if self.relapse_len < self.failure_threshold {
                    return;
                }
                self.t_recovered = None;
                self.push(t, Entry::Relapse);
                self.outages.push(Outage {
                    start: first,
                    end: None,
                });
                return;
            }
            if self.outages.last().is_none_or(|o| o.end.is_some()) {
                self.outages.push(Outage { start: t, end: None });
            }
            return;
        }
        self.relapse_start = None;
        self.relapse_len = 0;
        if self.t_recovered.is_some() {
            return;
        }
        let start = *self.run_start.get_or_insert(t);
        self.run_len += 1;
        if self.run_len >= self.healthy_after {
            self.t_recovered = Some(start);
            self.t_first_recovered.get_or_insert(start);
            if let Some(o) = self.outages.last_mut().filter(|o| o.end.is_none()) {
                o.end = Some(start);
            }
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

/// An entry in words, as the reports and the live view give it.
pub fn describe(labels: &Labels, hosts: &[String], e: &Entry) -> String {
    let step = |s: &usize| labels.steps.get(*s).map_or("?", String::as_str);
    let fault = |f: &usize| labels.faults.get(*f).map_or("?", String::as_str);
    match e {
        Entry::FaultInjected { fault: f } => format!("fault {} injected", fault(f)),
        Entry::FaultActive { fault: f } => format!("fault {} active", fault(f)),
        Entry::FaultRepaired { fault: f } => format!("fault {} repaired", fault(f)),
        Entry::FaultEffect { fault: f, how } => format!("fault {} took effect: {how}", fault(f)),
        Entry::FaultNoEffect { fault: f } => format!("fault {} showed no effect in time", fault(f)),
        Entry::InjectFailed { fault: f, detail } => format!("fault {} could not be injected: {detail}", fault(f)),
        Entry::RepairFailed { fault: f, detail } => format!("fault {} could not be repaired: {detail}", fault(f)),
        Entry::Host { host, state } => format!(
            "host {} is {}",
            hosts.get(*host).map_or("?", String::as_str),
            state.as_str()
        ),
        Entry::Relapse => "relapse: probes fail again after recovery".into(),
        Entry::Settled => "settled: nothing changed for the settle window".into(),
        Entry::Detected { source } => format!("failure detected by {}", source.as_str()),
        Entry::RunbookStarted => "runbook started".into(),
        Entry::RunbookSkipped => "runbook skipped: service recovered before the trigger".into(),
        Entry::AttemptStarted { step: s, attempt } => format!("step {} started (attempt {attempt})", step(s)),
        Entry::AttemptEnded {
            step: s,
            attempt,
            outcome,
            detail,
        } => match detail {
            Some(d) => format!("step {} {} (attempt {attempt}): {d}", step(s), outcome.as_str()),
            None => format!("step {} {} (attempt {attempt})", step(s), outcome.as_str()),
        },
        Entry::TrafficSwitched => "client traffic reached the recovery side".into(),
        Entry::Probes { ok, count: 1, .. } => format!("probe {}", if *ok { "ok" } else { "failed" }),
        Entry::Probes { ok, count, .. } => format!("{count} probes {}", if *ok { "ok" } else { "failed" }),
        Entry::Recovered => "recovered: K consecutive good probes".into(),
        Entry::FailbackStarted => "failback started: primary side restored, rollback steps running".into(),
        Entry::FailbackFinished => "failback finished".into(),
        Entry::HorizonReached => "drill horizon reached".into(),
    }
}
