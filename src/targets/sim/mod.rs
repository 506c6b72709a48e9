//! The `sim` target: a discrete-event model of the AWS resources of a scenario on a virtual
//! clock. Time jumps from one event to the next, so a 4-hour drill costs as much as its events.
//!
//! [`SimModel`] is compiled once per scenario (immutable, shared by Monte Carlo threads);
//! [`SimTarget`] is one drill's world: regions, databases, capacity, DNS and the probing client,
//! driven by the shared engine through the [`Target`] trait and seeded per run.

mod actions;
mod drill;
mod faults;
mod model;
pub mod montecarlo;

use model::Res;
pub use model::SimModel;

pub use drill::{simulate_once, simulate_once_with};

use std::borrow::Cow;
use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::catalogue::models::constants as k;
use crate::engine::Ledger;
use crate::engine::{ActionResult, AlarmSource, Event, Poll, Target, TargetError, Time, Timers};
use crate::models::sample::{unit, Sampler};
use crate::scenario::{Action, FaultType, Replication};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    FaultOn(usize),
    HcUnhealthy { gen: u64 },
    ClientSwitch { region: usize },
    ActionEnd { step: usize, attempt: u32 },
    AutoRecover { res: usize },
    ProbeTick { gen: u64, left: u32 },
}

/// Per-resource state of one drill. One struct for every kind keeps reset cheap.
#[derive(Debug, Clone, Default)]
struct St {
    writer: usize,
    writer_ok: bool,
    corrupted: bool,
    /// Region of the database's read replica, if it has one (promotion moves the writer there).
    replica_region: Option<usize>,
    lag: f64,
    pause_since: Option<Time>,
    spike: Option<f64>,
    ready: [u32; 2],
    drift: bool,
    blocked: bool,
    block_delay: Option<f64>,
}

/// One simulated drill world. Reusable: [`SimTarget::reset`] starts a new run.
pub struct SimTarget<'m> {
    model: &'m SimModel,
    rng: ChaCha8Rng,
    now: Time,
    queue: Timers<Ev>,
    outbox: VecDeque<(Time, Event)>,
    st: Vec<St>,
    region_down: Vec<bool>,
    fault_seen: bool,
    t_fault: Option<Time>,
    regional_event: bool,
    points_to: usize,
    client: usize,
    hc_failing: bool,
    hc_pass: bool,
    hc_gen: u64,
    cache_primary: usize,
    healthy: bool,
    probe_gen: u64,
    probe_phase: Time,
    pending: Vec<u32>,
    pending_fail: Vec<Option<&'static str>>,
    /// Attempts the engine gave up on (timeout). AWS carries on with the operation, so its
    /// effect still lands; only the report is dropped.
    orphans: Vec<(usize, u32, Option<&'static str>)>,
    spans: Vec<(Time, Time)>,
    span_start: Option<Time>,
    lost: Vec<(Time, Time)>,
    /// How much further back than the model's history a loss reached in this run.
    history_deficit: Time,
}

impl<'m> SimTarget<'m> {
    pub fn new(model: &'m SimModel) -> SimTarget<'m> {
        SimTarget {
            model,
            rng: ChaCha8Rng::seed_from_u64(0),
            now: Time::ZERO,
            queue: Timers::default(),
            outbox: VecDeque::new(),
            st: Vec::new(),
            region_down: Vec::new(),
            fault_seen: false,
            t_fault: None,
            regional_event: false,
            points_to: 0,
            client: 0,
            hc_failing: false,
            hc_pass: false,
            hc_gen: 0,
            cache_primary: 0,
            healthy: true,
            probe_gen: 0,
            probe_phase: Time::ZERO,
            pending: Vec::new(),
            pending_fail: Vec::new(),
            orphans: Vec::new(),
            spans: Vec::new(),
            span_start: None,
            lost: Vec::new(),
            history_deficit: Time::ZERO,
        }
    }

    /// Starts a new run: run `stream` of the seed. Streams are independent, so run i gives the
    /// same drill whichever thread runs it.
    pub fn reset(&mut self, seed: u64, stream: u64) {
        let m = self.model;
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.rng.set_stream(stream);
        self.now = Time::ZERO;
        self.queue.clear();
        self.outbox.clear();
        self.st.clear();
        for r in &m.res {
            let mut s = St {
                writer_ok: true,
                ..St::default()
            };
            match r {
                Res::Rds { region, replica, .. } => {
                    s.writer = *region;
                    s.replica_region = replica.and_then(|(rr, _)| match m.res[rr] {
                        Res::Replica { region, .. } => Some(region),
                        _ => None,
                    });
                }
                Res::Ecs { primary, dr, .. } | Res::Asg { primary, dr, .. } => s.ready = [*primary, *dr],
                _ => {}
            }
            self.st.push(s);
        }
        self.region_down.clear();
        self.region_down.resize(m.regions, false);
        self.fault_seen = false;
        self.t_fault = None;
        self.regional_event = false;
        self.points_to = 0;
        self.client = 0;
        self.hc_failing = false;
        self.hc_pass = false;
        self.hc_gen = 0;
        self.cache_primary = 0;
        self.healthy = true;
        self.probe_gen = 0;
        self.probe_phase = Time::from_secs(unit(&mut self.rng) * m.plan.probe_interval.secs());
        self.pending.clear();
        self.pending.resize(m.plan.steps.len(), 0);
        self.pending_fail.clear();
        self.pending_fail.resize(m.plan.steps.len(), None);
        self.orphans.clear();
        self.spans.clear();
        self.span_start = Some(Time::ZERO);
        self.lost.clear();
        self.history_deficit = Time::ZERO;
        // The client probes from the start, so the engine sees the service healthy before the fault.
        self.probe_gen = 1;
        self.schedule(self.probe_phase, Ev::ProbeTick { gen: 1, left: 1 });
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.queue.set(at, ev);
    }

    fn sample(&mut self, s: &Sampler) -> f64 {
        s.sample(&mut self.rng).max(0.0)
    }

    fn after(&self, secs: f64) -> Time {
        self.now.plus(Time::from_secs(secs))
    }

    fn side(region: usize) -> usize {
        usize::from(region != 0)
    }

    /// Whether a client whose DNS answer points at `r` gets a write and a read through.
    fn serving_in(&self, r: usize) -> bool {
        let m = self.model;
        if self.region_down.get(r).copied().unwrap_or(true) {
            return false;
        }
        for &c in &m.computes {
            let need = match m.res[c] {
                Res::Ecs { min_healthy, .. } | Res::Asg { min_healthy, .. } => min_healthy,
                _ => 1,
            };
            if self.st[c].ready[Self::side(r)] < need {
                return false;
            }
        }
        for &s in &m.stores {
            let st = &self.st[s];
            if st.corrupted {
                return false;
            }
            let ok = match &m.res[s] {
                Res::Dynamo { regions, .. } => regions.contains(&r),
                Res::Aurora { .. } | Res::Rds { .. } => !self.region_down[st.writer] && st.writer_ok,
                _ => true,
            };
            if !ok {
                return false;
            }
        }
        for &_c in &m.caches {
            if self.region_down[self.cache_primary] {
                return false;
            }
        }
        true
    }

    fn next_tick(&self) -> Time {
        let iv = self.model.plan.probe_interval.0.max(1);
        let ph = self.probe_phase.0;
        if self.now.0 <= ph {
            return Time(ph);
        }
        let n = (self.now.0 - ph).div_ceil(iv);
        Time(ph + n * iv)
    }

    /// After every change of the world: probes, the write workload and the health check follow.
    fn reevaluate(&mut self) {
        let serving = self.serving_in(self.client);
        if serving != self.healthy {
            self.healthy = serving;
            let t = self.now.plus(self.model.history);
            if serving {
                self.span_start = Some(t);
            } else if let Some(a) = self.span_start.take() {
                self.spans.push((a, t));
            }
            self.probe_gen += 1;
            let p = &self.model.plan;
            let left = p.healthy_after.max(p.failure_threshold);
            let tick = self.next_tick();
            self.schedule(
                tick,
                Ev::ProbeTick {
                    gen: self.probe_gen,
                    left,
                },
            );
        }
        let Some(d) = self.model.dns else { return };
        let Res::Dns {
            hc: Some((interval, threshold)),
            ..
        } = self.model.res[d]
        else {
            return;
        };
        let primary_ok = self.serving_in(0);
        if !primary_ok && !self.hc_failing {
            self.hc_failing = true;
            self.hc_gen += 1;
            // docs/models.md#route53-health-check:
            // threshold x interval + uniform(0, interval).
            let delay = (threshold as f64 * interval + unit(&mut self.rng) * interval) * self.model.hc_scale;
            let at = self.after(delay);
            self.schedule(at, Ev::HcUnhealthy { gen: self.hc_gen });
        } else if primary_ok && self.hc_failing {
            self.hc_failing = false;
            self.hc_gen += 1;
        }
    }

    fn switch_clients(&mut self, region: usize) {
        self.points_to = region;
        if self.client == region {
            return;
        }
        let ttl = match self.model.dns.map(|d| &self.model.res[d]) {
            Some(Res::Dns { ttl, .. }) => *ttl,
            _ => 0.0,
        };
        // docs/models.md#dns-client-cache: uniform(0, TTL) for ~95% of clients, a stale tail
        // (docs/models.md#dns-stale-client-tail) for the rest.
        let wait = if let Some(cache) = self.model.client_cache.clone() {
            self.sample(&cache) * self.model.ttl_scale
        } else if unit(&mut self.rng) < k::STALE_CLIENT_FRACTION {
            let tail = self.model.m.stale_tail.clone();
            self.sample(&tail) * self.model.ttl_scale
        } else {
            unit(&mut self.rng) * ttl * self.model.ttl_scale
        };
        let at = self.after(wait);
        self.schedule(at, Ev::ClientSwitch { region });
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::FaultOn(f) => self.fault_on(f),
            Ev::HcUnhealthy { gen } => {
                if gen != self.hc_gen || !self.hc_failing || self.hc_pass {
                    return;
                }
                self.outbox.push_back((
                    self.now,
                    Event::Alarm {
                        source: AlarmSource::HealthCheck,
                    },
                ));
                if let Some(Res::Dns { automatic: true, .. }) = self.model.dns.map(|d| &self.model.res[d]) {
                    // Route 53 answers with the secondary as soon as the primary is unhealthy.
                    self.switch_clients(1);
                }
            }
            Ev::ClientSwitch { region } => {
                if self.points_to == region && self.client != region {
                    self.client = region;
                    self.outbox.push_back((self.now, Event::TrafficSwitched));
                    self.reevaluate();
                }
            }
            Ev::ActionEnd { step, attempt } => {
                if let Some(i) = self.orphans.iter().position(|&(s, a, _)| s == step && a == attempt) {
                    let (_, _, fail) = self.orphans.swap_remove(i);
                    if fail.is_none() {
                        let _ = self.finish_action(step);
                        self.reevaluate();
                    }
                    return;
                }
                if self.pending[step] != attempt {
                    return;
                }
                self.pending[step] = 0;
                let result = match self.pending_fail[step].take() {
                    Some(why) => ActionResult::Failed(Cow::Borrowed(why)),
                    None => match self.finish_action(step) {
                        Ok(()) => ActionResult::Ok,
                        Err(why) => ActionResult::Failed(Cow::Borrowed(why)),
                    },
                };
                self.outbox
                    .push_back((self.now, Event::ActionDone { step, attempt, result }));
                self.reevaluate();
            }
            Ev::AutoRecover { res } => {
                match self.model.res[res] {
                    Res::Ecs { primary, .. } | Res::Asg { primary, .. } => self.st[res].ready[0] = primary,
                    _ => {
                        if !self.region_down[self.st[res].writer] {
                            self.st[res].writer_ok = true;
                        }
                    }
                }
                self.reevaluate();
            }
            Ev::ProbeTick { gen, left } => {
                if gen != self.probe_gen {
                    return;
                }
                let ok = self.serving_in(self.client);
                self.outbox.push_back((self.now, Event::Probe { ok }));
                if left > 1 {
                    let at = self.now.plus(self.model.plan.probe_interval);
                    self.schedule(at, Ev::ProbeTick { gen, left: left - 1 });
                }
            }
        }
    }
}

impl Target for SimTarget<'_> {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn inject(&mut self, fault: usize, now: Time) -> Result<(), TargetError> {
        self.now = now;
        self.schedule(now, Ev::FaultOn(fault));
        Ok(())
    }

    fn repair(&mut self, fault: usize, now: Time) -> Result<(), TargetError> {
        self.now = self.now.max(now);
        self.fault_off(fault);
        Ok(())
    }

    fn start_action(&mut self, step: usize, attempt: u32, now: Time) -> Result<(), TargetError> {
        self.now = now;
        let (secs, fail) = self.plan_action(step);
        let secs = secs * self.model.step_scale.get(step).copied().unwrap_or(1.0);
        self.pending[step] = attempt;
        self.pending_fail[step] = fail;
        let at = self.after(secs);
        self.schedule(at, Ev::ActionEnd { step, attempt });
        Ok(())
    }

    fn cancel_action(&mut self, step: usize, _now: Time) {
        if self.pending[step] != 0 {
            self.orphans
                .push((step, self.pending[step], self.pending_fail[step].take()));
        }
        self.pending[step] = 0;
    }

    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError> {
        loop {
            if let Some((t, ev)) = self.outbox.pop_front() {
                return Ok(Poll::Event(t, ev));
            }
            match self.queue.pop_due(deadline) {
                Some((t, ev)) => {
                    self.now = self.now.max(t);
                    self.handle(ev);
                }
                None => {
                    self.now = self.now.max(deadline);
                    return Ok(Poll::Deadline);
                }
            }
        }
    }

    fn ledger(&mut self, end: Time) -> Result<Ledger, TargetError> {
        let mut spans = self.spans.clone();
        let end = end.plus(self.model.history);
        if let Some(a) = self.span_start {
            spans.push((a, end.max(a)));
        }
        let d = self.history_deficit;
        if d > Time::ZERO {
            // Writes go back `d` further: every instant moves later by `d`, and the workload's
            // first span still starts at 0 (it has been writing all along).
            for (n, (a, b)) in spans.iter_mut().enumerate() {
                *a = if n == 0 && *a == Time::ZERO {
                    Time::ZERO
                } else {
                    a.plus(d)
                };
                *b = b.plus(d);
            }
        }
        let lost = self
            .lost
            .iter()
            .map(|&(until, back)| {
                let until = until.plus(d);
                (until.since(back), until)
            })
            .collect();
        Ok(Ledger::Steady {
            rate: self.model.rate,
            spans,
            lost,
            shift: self.model.history.plus(d),
        })
    }
}
