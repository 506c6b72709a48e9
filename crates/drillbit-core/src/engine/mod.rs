//! The one drill engine: the runbook executor shared by every target.
//!
//! A target is an adapter ([`Target`]) that carries out faults and actions and reports what it
//! observes as [`Event`]s stamped on its clock. The engine owns the timers (fault schedule,
//! trigger delay, step timeouts, retries, horizon) and asks the target for the next event
//! before the earliest timer. It never reads a clock itself, so the same code drives the
//! simulator's virtual clock and a wall clock. Everything it decides is written to a
//! [`Timeline`]; measurement reads only the timeline.

pub mod ledger;
pub mod operator;
pub mod plan;
pub mod target;
pub mod timeline;
pub mod timers;

use std::borrow::Cow;

use crate::scenario::{Action, When};

pub use ledger::Ledger;
pub use operator::{Operator, StepAnswer, Unattended, Watch};
pub use plan::{Plan, PlanFault, PlanStep};
pub use target::{ActionResult, AlarmSource, Event, HostState, Outcome, Poll, Target, TargetError, Time};
pub use timeline::{Entry, Labels, Outage, StepRecord, Timeline};
pub use timers::Timers;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Inject(usize),
    Repair(usize),
    RunbookStart,
    FailbackStart,
    Retry(usize),
    Timeout(usize, u32),
    EffectDeadline(usize),
    Settled(u64),
    Horizon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Waiting,
    Running(u32),
    Done(Outcome),
}

/// The runbook executor. Reusable across runs: buffers are kept and cleared.
#[derive(Default)]
pub struct Engine {
    timers: Timers<Timer>,
    state: Vec<StepState>,
    handled: Vec<bool>,
    /// Skipped because a dependency failed without a fallback: counts as a failure downstream.
    blocked: Vec<bool>,
    injected: Vec<bool>,
    running: usize,
    runbook_started: bool,
    runbook_skipped: bool,
    alarm_raised: bool,
    consecutive_failures: u32,
    consecutive_ok: u32,
    failback_scheduled: bool,
    failback_started: bool,
    /// Per fault: injected, its `duration` run out and repaired, its effect deadline passed.
    ever_injected: Vec<bool>,
    repaired: Vec<bool>,
    became_active: Vec<bool>,
    effect_deadline_passed: Vec<bool>,
    /// A settle window is running; its timer carries `settle_gen`.
    settling: bool,
    settle_gen: u64,
}

/// What handling a timer asks of the drive loop.
#[derive(PartialEq, Eq)]
enum Next {
    Continue,
    Horizon,
    Settled,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    fn timer(&mut self, at: Time, t: Timer) {
        self.timers.set(at, t);
    }

    /// Runs one drill to recovery, horizon or error, recording into `tl`. Injected faults are
    /// repaired before returning, whatever happens.
    pub fn run(&mut self, plan: &Plan, target: &mut dyn Target, tl: &mut Timeline) -> Result<(), TargetError> {
        tl.reset(plan);
        self.timers.clear();
        self.state.clear();
        self.state.resize(plan.steps.len(), StepState::Waiting);
        self.handled.clear();
        self.handled.resize(plan.steps.len(), false);
        self.blocked.clear();
        self.blocked.resize(plan.steps.len(), false);
        self.injected.clear();
        self.injected.resize(plan.faults.len(), false);
        self.running = 0;
        self.runbook_started = false;
        self.runbook_skipped = false;
        self.alarm_raised = false;
        self.consecutive_failures = 0;
        self.consecutive_ok = 0;
        self.failback_scheduled = false;
        self.failback_started = false;
        for v in [
            &mut self.ever_injected,
            &mut self.repaired,
            &mut self.became_active,
            &mut self.effect_deadline_passed,
        ] {
            v.clear();
            v.resize(plan.faults.len(), false);
        }
        self.settling = false;
        self.settle_gen = 0;
        tl.set_hosts(target.hosts());

        let result = self.drive(plan, target, tl);
        tl.close_hosts();
        if let Err(TargetError::Infrastructure(e)) = &result {
            tl.error.get_or_insert_with(|| e.clone());
        }
        let now = tl.end;
        // Whatever the drill ended on (recovery, horizon, error), every step gets an outcome:
        // one still running ran out of time, one never started was skipped.
        for (n, state) in self.state.iter().enumerate() {
            match *state {
                StepState::Running(attempt) => {
                    if plan.steps[n].action != Action::ProbeUntilHealthy {
                        target.cancel_action(n, now);
                    }
                    tl.push(
                        now,
                        Entry::AttemptEnded {
                            step: n,
                            attempt,
                            outcome: Outcome::TimedOut,
                            detail: Some(Cow::Borrowed("the drill ended first")),
                        },
                    );
                    tl.step_finished(n, now, Outcome::TimedOut);
                }
                StepState::Waiting => tl.step_finished(n, now, Outcome::Skipped),
                StepState::Done(_) => {}
            }
        }
        let mut repair_err = None;
        for f in 0..plan.faults.len() {
            if self.injected[f] {
                self.injected[f] = false;
                if let Err(e) = target.repair(f, now) {
                    Self::repair_failed(tl, now, f, &e);
                    repair_err.get_or_insert(e);
                }
            }
        }
        result?;
        repair_err.map_or(Ok(()), Err)
    }

    fn repair_failed(tl: &mut Timeline, t: Time, fault: usize, e: &TargetError) {
        let detail = e.to_string();
        tl.push(
            t,
            Entry::RepairFailed {
                fault,
                detail: Cow::Owned(detail.clone()),
            },
        );
        tl.error.get_or_insert(detail);
    }

    fn repair(&mut self, target: &mut dyn Target, tl: &mut Timeline, t: Time, f: usize) -> Result<(), TargetError> {
        if !self.injected[f] {
            return Ok(());
        }
        self.injected[f] = false;
        self.repaired[f] = true;
        if tl.detail {
            tracing::info!(t = %t, fault = f, "repairing fault");
        }
        target.repair(f, t).inspect_err(|e| Self::repair_failed(tl, t, f, e))
    }

    fn drive(&mut self, plan: &Plan, target: &mut dyn Target, tl: &mut Timeline) -> Result<(), TargetError> {
        for (n, f) in plan.faults.iter().enumerate() {
            self.timer(f.at, Timer::Inject(n));
        }
        if !plan.has_disruptive_fault() {
            // A planned failover: no outage to detect, the runbook starts at once.
            tl.fault(Time::ZERO, None);
            self.alarm_raised = true;
            self.timer(Time::ZERO, Timer::RunbookStart);
        }
        self.timer(plan.horizon, Timer::Horizon);
        let wants_failback = plan.failback && plan.steps.iter().any(|s| s.rollback);
        while let Some(deadline) = self.timers.next_at() {
            let mut next = Next::Continue;
            match target.poll(deadline)? {
                Poll::Event(t, ev) => {
                    tl.end = t;
                    self.on_event(plan, target, tl, t, ev)?;
                }
                Poll::Deadline => {
                    let Some((t, timer)) = self.timers.pop() else {
                        break;
                    };
                    tl.end = t;
                    next = self.on_timer(plan, target, tl, t, timer)?;
                    if next == Next::Horizon {
                        break;
                    }
                }
            }
            if plan.end_when_steps_done
                && self.running == 0
                && self.state.iter().all(|s| matches!(s, StepState::Done(_)))
            {
                break;
            }
            // The phase (failover, or failback) is over when the service is back and nothing is
            // left to happen; the drill then waits out the settle window, and a relapse (or a
            // step or fault still to come) reopens it.
            let phase_done = self.finished(plan, tl) && (!self.failback_scheduled || self.failback_started);
            if phase_done && self.failback_started && tl.failback_end.is_none() {
                tl.failback_end = Some(tl.end);
                tl.push(tl.end, Entry::FailbackFinished);
            }
            // After failback, clients must be served again too (recovery itself is the failover's).
            let phase_done = phase_done && !(self.failback_started && tl.last_probe_ok == Some(false));
            if phase_done {
                if !self.settling {
                    self.settling = true;
                    self.settle_gen += 1;
                    self.timer(tl.end.plus(plan.settle), Timer::Settled(self.settle_gen));
                }
            } else if self.settling {
                self.settling = false;
                self.settle_gen += 1;
            }
            if next == Next::Settled {
                tl.push(tl.end, Entry::Settled);
                if wants_failback && !self.failback_scheduled {
                    self.settling = false;
                    self.settle_gen += 1;
                    self.schedule_failback(plan, target, tl)?;
                } else {
                    tl.settled_at = Some(tl.end);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Nothing is left to happen in this phase: the service is back, the runbook has nothing
    /// left running (or never started because the service came back before the trigger held),
    /// every fault has been injected and, if it has a `duration`, repaired, and every
    /// disruptive fault showed its effect or ran out of time to show it.
    fn finished(&self, plan: &Plan, tl: &Timeline) -> bool {
        tl.t_recovered.is_some()
            && self.running == 0
            && (self.runbook_started || self.runbook_skipped || !self.alarm_raised)
            && plan.faults.iter().enumerate().all(|(f, pf)| {
                self.ever_injected[f]
                    && (pf.duration.is_none() || self.repaired[f] || !self.became_active[f])
                    && (!pf.kind.is_disruptive() || tl.effect_of(f).is_some() || self.effect_deadline_passed[f])
            })
    }

    /// The failover is over: the primary side is restored (every injected fault repaired) and
    /// the rollback steps start after `failback_after`.
    fn schedule_failback(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
    ) -> Result<(), TargetError> {
        self.failback_scheduled = true;
        let t = tl.end;
        tl.failback_repaired = Some(t);
        for f in 0..plan.faults.len() {
            self.repair(target, tl, t, f)?;
        }
        self.timer(t.plus(plan.failback_after), Timer::FailbackStart);
        Ok(())
    }

    fn on_timer(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
        t: Time,
        timer: Timer,
    ) -> Result<Next, TargetError> {
        match timer {
            Timer::Inject(f) => {
                self.injected[f] = true;
                self.ever_injected[f] = true;
                tl.injected(t, f);
                if plan.faults[f].kind.is_disruptive() {
                    self.timer(t.plus(plan.effect_within), Timer::EffectDeadline(f));
                }
                if tl.detail {
                    tracing::info!(t = %t, fault = %plan.faults[f].id, kind = plan.faults[f].kind.as_str(), "injecting fault");
                }
                if let Err(e) = target.inject(f, t) {
                    tl.push(
                        t,
                        Entry::InjectFailed {
                            fault: f,
                            detail: Cow::Owned(e.to_string()),
                        },
                    );
                    return Err(e);
                }
            }
            Timer::Repair(f) => self.repair(target, tl, t, f)?,
            Timer::EffectDeadline(f) => {
                self.effect_deadline_passed[f] = true;
                if tl.effect_of(f).is_none() {
                    tl.push(t, Entry::FaultNoEffect { fault: f });
                }
            }
            Timer::Settled(gen) => {
                if self.settling && gen == self.settle_gen {
                    return Ok(Next::Settled);
                }
            }
            Timer::RunbookStart => {
                if self.runbook_started || self.runbook_skipped {
                    return Ok(Next::Continue);
                }
                if tl.t_recovered.is_some() {
                    // The service recovered on its own before the trigger condition held.
                    self.runbook_skipped = true;
                    for s in (0..plan.steps.len()).filter(|&s| !plan.steps[s].rollback) {
                        self.state[s] = StepState::Done(Outcome::Skipped);
                        tl.step_finished(s, t, Outcome::Skipped);
                    }
                    tl.push(t, Entry::RunbookSkipped);
                    return Ok(Next::Continue);
                }
                self.runbook_started = true;
                tl.runbook_start = Some(t);
                tl.push(t, Entry::RunbookStarted);
                for s in 0..plan.steps.len() {
                    if !plan.steps[s].rollback && plan.steps[s].deps.is_empty() {
                        self.start(plan, target, tl, t, s, 1)?;
                    }
                }
            }
            Timer::FailbackStart => {
                self.failback_started = true;
                tl.failback_start = Some(t);
                tl.push(t, Entry::FailbackStarted);
                for s in 0..plan.steps.len() {
                    if plan.steps[s].rollback && plan.steps[s].deps.is_empty() {
                        self.start(plan, target, tl, t, s, 1)?;
                    }
                }
            }
            Timer::Retry(s) => {
                if let StepState::Running(a) = self.state[s] {
                    self.running -= 1;
                    self.start(plan, target, tl, t, s, a + 1)?;
                }
            }
            Timer::Timeout(s, attempt) => {
                if self.state[s] == StepState::Running(attempt) {
                    if plan.steps[s].action != Action::ProbeUntilHealthy {
                        target.cancel_action(s, t);
                    }
                    tl.push(
                        t,
                        Entry::AttemptEnded {
                            step: s,
                            attempt,
                            outcome: Outcome::TimedOut,
                            detail: None,
                        },
                    );
                    self.after_attempt_failure(plan, target, tl, t, s, attempt, Outcome::TimedOut)?;
                }
            }
            Timer::Horizon => {
                tl.push(t, Entry::HorizonReached);
                return Ok(Next::Horizon);
            }
        }
        Ok(Next::Continue)
    }

    /// Every injected disruptive fault that has not shown an effect yet takes this one.
    fn effect_seen(&self, plan: &Plan, tl: &mut Timeline, t: Time, how: &str) {
        for f in 0..plan.faults.len() {
            if self.injected[f] && plan.faults[f].kind.is_disruptive() && tl.effect_of(f).is_none() {
                tl.effect(t, f, Cow::Owned(how.to_string()));
            }
        }
    }

    fn on_event(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
        t: Time,
        ev: Event,
    ) -> Result<(), TargetError> {
        match ev {
            Event::FaultEffect { fault, how } => {
                if fault < plan.faults.len() && tl.effect_of(fault).is_none() {
                    tl.effect(t, fault, how);
                }
            }
            Event::Host { host, state } => {
                if let Some(before) = tl.host(t, host, state) {
                    // A host that changed role or went away: the system has not settled yet.
                    if self.settling {
                        self.settling = false;
                        self.settle_gen += 1;
                    }
                    let label = tl.hosts.get(host).cloned().unwrap_or_else(|| format!("host {host}"));
                    self.effect_seen(
                        plan,
                        tl,
                        t,
                        &format!("{label} went from {} to {}", before.as_str(), state.as_str()),
                    );
                }
            }
            Event::FaultActive { fault } => {
                self.became_active[fault] = true;
                tl.push(t, Entry::FaultActive { fault });
                if plan.faults[fault].kind.is_disruptive() && tl.t_fault.is_none() {
                    tl.fault(t, Some(fault));
                }
                if let Some(d) = plan.faults[fault].duration {
                    self.timer(t.plus(d), Timer::Repair(fault));
                }
            }
            Event::FaultRepaired { fault } => {
                tl.repaired(t, fault);
                tl.push(t, Entry::FaultRepaired { fault });
            }
            Event::Alarm { source } => self.alarm(plan, tl, t, source),
            Event::TrafficSwitched => {
                tl.push(t, Entry::TrafficSwitched);
                if tl.t_fault.is_some() && tl.t_traffic_switched.is_none() {
                    tl.t_traffic_switched = Some(t);
                }
            }
            Event::Probe { ok } => {
                if !ok {
                    self.effect_seen(plan, tl, t, "a client probe failed");
                }
                tl.probe(t, ok);
                self.consecutive_ok = if ok { self.consecutive_ok + 1 } else { 0 };
                if tl.t_fault.is_some() {
                    if ok {
                        self.consecutive_failures = 0;
                    } else {
                        self.consecutive_failures += 1;
                        if self.consecutive_failures >= plan.failure_threshold {
                            self.alarm(plan, tl, t, AlarmSource::Probes);
                        }
                    }
                }
                if ok && tl.t_recovered.is_some() && self.consecutive_ok >= plan.healthy_after {
                    self.complete_probe_steps(plan, target, tl, t)?;
                }
            }
            Event::ActionDone { step, attempt, result } => {
                if tl.detail {
                    tracing::info!(t = %t, step = %plan.steps[step].id, attempt, result = ?result, "step done");
                }
                if self.state.get(step) != Some(&StepState::Running(attempt)) {
                    return Ok(()); // a report for a cancelled attempt
                }
                match result {
                    ActionResult::Ok => {
                        tl.push(
                            t,
                            Entry::AttemptEnded {
                                step,
                                attempt,
                                outcome: Outcome::Ok,
                                detail: None,
                            },
                        );
                        self.finish(plan, target, tl, t, step, Outcome::Ok)?;
                    }
                    ActionResult::Unsupported(why) => {
                        tl.push(
                            t,
                            Entry::AttemptEnded {
                                step,
                                attempt,
                                outcome: Outcome::Unsupported,
                                detail: Some(why),
                            },
                        );
                        self.finish(plan, target, tl, t, step, Outcome::Unsupported)?;
                    }
                    ActionResult::Failed(why) => {
                        tl.push(
                            t,
                            Entry::AttemptEnded {
                                step,
                                attempt,
                                outcome: Outcome::Failed,
                                detail: Some(why),
                            },
                        );
                        self.after_attempt_failure(plan, target, tl, t, step, attempt, Outcome::Failed)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn alarm(&mut self, plan: &Plan, tl: &mut Timeline, t: Time, source: AlarmSource) {
        if tl.t_fault.is_none() || self.alarm_raised {
            return;
        }
        self.alarm_raised = true;
        tl.t_detect = Some(t);
        tl.push(t, Entry::Detected { source });
        self.timer(t.plus(plan.trigger_after), Timer::RunbookStart);
    }

    fn start(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
        t: Time,
        s: usize,
        attempt: u32,
    ) -> Result<(), TargetError> {
        self.state[s] = StepState::Running(attempt);
        self.running += 1;
        tl.step_started(s, t, attempt);
        tl.push(t, Entry::AttemptStarted { step: s, attempt });
        if let Some(to) = plan.steps[s].timeout {
            self.timer(t.plus(to), Timer::Timeout(s, attempt));
        }
        if plan.steps[s].action == Action::ProbeUntilHealthy {
            // Verified by the engine from client probes, the same way on every target.
            if tl.t_recovered.is_some() && self.consecutive_ok >= plan.healthy_after {
                self.probe_step_ok(plan, target, tl, t, s, attempt)?;
            }
            return Ok(());
        }
        if tl.detail {
            tracing::info!(t = %t, step = %plan.steps[s].id, action = plan.steps[s].action.as_str(), attempt, "starting step");
        }
        target.start_action(s, attempt, t)
    }

    fn complete_probe_steps(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
        t: Time,
    ) -> Result<(), TargetError> {
        for s in 0..plan.steps.len() {
            if let StepState::Running(attempt) = self.state[s] {
                if plan.steps[s].action == Action::ProbeUntilHealthy {
                    self.probe_step_ok(plan, target, tl, t, s, attempt)?;
                }
            }
        }
        Ok(())
    }

    /// A probe-until-healthy step's attempt succeeded: the probes say the service is healthy.
    fn probe_step_ok(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
        t: Time,
        s: usize,
        attempt: u32,
    ) -> Result<(), TargetError> {
        tl.push(
            t,
            Entry::AttemptEnded {
                step: s,
                attempt,
                outcome: Outcome::Ok,
                detail: None,
            },
        );
        self.finish(plan, target, tl, t, s, Outcome::Ok)
    }

    #[allow(clippy::too_many_arguments)]
    fn after_attempt_failure(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
        t: Time,
        s: usize,
        attempt: u32,
        outcome: Outcome,
    ) -> Result<(), TargetError> {
        if attempt < plan.steps[s].attempts {
            // Stays Running (counted) until the retry timer fires.
            self.timer(t.plus(plan.steps[s].retry_delay), Timer::Retry(s));
            Ok(())
        } else {
            self.finish(plan, target, tl, t, s, outcome)
        }
    }

    /// Marks a step done and starts or skips whatever now has all its dependencies finished.
    fn finish(
        &mut self,
        plan: &Plan,
        target: &mut dyn Target,
        tl: &mut Timeline,
        t: Time,
        s: usize,
        outcome: Outcome,
    ) -> Result<(), TargetError> {
        if matches!(self.state[s], StepState::Done(_)) {
            return Ok(());
        }
        if matches!(self.state[s], StepState::Running(_)) {
            self.running -= 1;
        }
        self.state[s] = StepState::Done(outcome);
        tl.step_finished(s, t, outcome);
        // A fallback that failed leaves the original failure unhandled again.
        if plan.steps[s].when == When::OnFailure && outcome.is_failure() {
            for &dep in &plan.steps[s].deps {
                self.handled[dep] = false;
            }
        }
        let dependents = plan.steps[s].dependents.clone();
        for d in dependents {
            if self.state[d] != StepState::Waiting {
                continue;
            }
            let mut all_done = true;
            let mut any_failed = false;
            let mut unhandled_failure = false;
            for &dep in &plan.steps[d].deps {
                match self.state[dep] {
                    StepState::Done(o) if o.is_failure() || self.blocked[dep] => {
                        any_failed = true;
                        if !self.handled[dep] {
                            unhandled_failure = true;
                        }
                    }
                    StepState::Done(_) => {}
                    _ => all_done = false,
                }
            }
            if !all_done {
                continue;
            }
            let run = match plan.steps[d].when {
                When::OnSuccess => !unhandled_failure,
                When::OnFailure => any_failed,
                When::Always => true,
            };
            if run {
                if plan.steps[d].when == When::OnFailure {
                    // A fallback that runs takes over the failure of what it depends on.
                    for &dep in &plan.steps[d].deps {
                        self.handled[dep] = true;
                    }
                }
                self.start(plan, target, tl, t, d, 1)?;
            } else {
                self.blocked[d] = unhandled_failure;
                self.finish(plan, target, tl, t, d, Outcome::Skipped)?;
            }
        }
        Ok(())
    }
}
