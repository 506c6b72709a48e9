//! The live adapter: one engine `Target` for the emulator and the aws targets.
//!
//! Both run the runbook through the SDK ([`Runbook`]), follow the DNS record's answer after
//! its TTL ([`Follow`]), drive one FIS experiment ([`Experiment`]), and hand the engine events
//! in the order and at the times they happened. What differs is four things:
//!
//! - the **clock** ([`Clock`]): wall time on a real account; on an emulator, wall time only
//!   while an AWS call is in flight, since nothing else changes there;
//! - the **fault driver**, the **observer** and the **ledger**: a [`Backend`] (the emulator's
//!   fault-layer rules and state reads; FIS actions, client probes and canary writes on aws).
//!
//! [`LiveTarget`] is the adapter; [`Core`] what both backends share and may act on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::{ActionResult, Event, Ledger, Operator, Poll, Target, TargetError, Time, Timers};
use crate::scenario::{Resource, Scenario};
use crate::targets::live::actions::{Done, Env, Names};
use crate::targets::live::dns::Follow;
use crate::targets::live::experiment::Experiment;
use crate::targets::live::runbook::Runbook;
use crate::targets::live::{Capabilities, Clients, Connection};

/// The longest the adapter blocks on its channel before it looks at the clock and the abort
/// flag again.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// How the adapter's time passes.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// Wall time since the drill's zero (a real account). An event carries the instant it was
    /// seen; none is given out before one given out already (`last`).
    Wall { t0: Instant, last: Time },
    /// An emulator's clock: it runs at wall speed while a call is in flight (and while the
    /// observer reads state, see [`Clock::spent`]) and skips over every other wait.
    Skip { now: Time },
}

impl Clock {
    pub fn wall() -> Clock {
        Clock::Wall {
            t0: Instant::now(),
            last: Time::ZERO,
        }
    }

    pub fn now(&self) -> Time {
        match self {
            Clock::Wall { t0, .. } => Time(t0.elapsed().as_micros() as u64),
            Clock::Skip { now } => *now,
        }
    }

    /// The drill time of an instant (on the skipping clock, now: it has no wall anchor).
    pub fn at(&self, i: Instant) -> Time {
        match self {
            Clock::Wall { t0, .. } => Time(i.saturating_duration_since(*t0).as_micros() as u64),
            Clock::Skip { now } => *now,
        }
    }

    /// The latest time given out (wall) or now (skip): no event may be stamped earlier.
    pub fn floor(&self) -> Time {
        match self {
            Clock::Wall { last, .. } => *last,
            Clock::Skip { now } => *now,
        }
    }

    /// Real time spent outside a wait (the emulator's state reads): it counts on the skipping
    /// clock; the wall clock has counted it already.
    pub fn spent(&mut self, d: Duration) {
        if let Clock::Skip { now } = self {
            *now = now.plus(Time(d.as_micros() as u64));
        }
    }

    /// Restarts the clock at zero: the drill starts now.
    pub fn restart(&mut self) {
        match self {
            Clock::Wall { t0, last } => {
                *t0 = Instant::now();
                *last = Time::ZERO;
            }
            Clock::Skip { now } => *now = Time::ZERO,
        }
    }

    /// The time an event queued at `t` is given out at: on the wall clock, never before one
    /// given out already; on the skipping clock, now.
    fn give_out(&mut self, t: Time) -> Time {
        match self {
            Clock::Wall { last, .. } => {
                let t = t.max(*last);
                *last = t;
                t
            }
            Clock::Skip { now } => *now,
        }
    }

    fn reached(&mut self, deadline: Time) {
        if let Clock::Wall { last, .. } = self {
            *last = (*last).max(deadline);
        }
    }
}

/// A timer of the adapter, or of its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tick<T> {
    /// A human or wait step's duration is over.
    StepDone(usize, u32),
    /// Clients' DNS caches expired: they follow the answer of this change.
    DnsSettled(u64),
    Own(T),
}

/// A message from a task: an action's end, or the backend's own (an observation).
#[derive(Debug)]
pub enum Msg<M> {
    Action { step: usize, attempt: u32, done: Done },
    Own(M),
}

/// What a live target's fault driver, observer and ledger do; the adapter does the rest.
pub trait Backend: Sized {
    type Timer: Ord + Copy + std::fmt::Debug;
    type Msg: Send + 'static;
    /// The target's name in the scorecard.
    const NAME: &'static str;

    fn inject(&mut self, c: &mut Core<Self>, fault: usize, now: Time) -> Result<(), TargetError>;
    fn repair(&mut self, c: &mut Core<Self>, fault: usize, now: Time) -> Result<(), TargetError>;
    /// Before each step of `poll`: look at what changed (an error ends the drill).
    fn observe(&mut self, c: &mut Core<Self>) -> Result<(), TargetError>;
    fn on_timer(&mut self, c: &mut Core<Self>, at: Time, t: Self::Timer);
    fn on_msg(&mut self, c: &mut Core<Self>, at: Time, m: Self::Msg);
    /// A runbook action ended (the world may have changed).
    fn action_done(&mut self) {}
    fn ledger(&mut self, c: &mut Core<Self>, end: Time) -> Result<Ledger, TargetError>;
}

/// What both live targets hold: the runtime, the clients, the runbook, the clock, the timers,
/// the channel from the tasks, the events not yet given out, the experiment, DNS, the notes.
pub struct Core<B: Backend> {
    pub rt: tokio::runtime::Runtime,
    pub env: Env,
    /// Observation clients: no retries, so a dropped region answers at once.
    pub observe_env: Env,
    pub runbook: Runbook,
    pub clock: Clock,
    pub timers: Timers<Tick<B::Timer>>,
    pub tx: Sender<(Instant, Msg<B::Msg>)>,
    rx: Receiver<(Instant, Msg<B::Msg>)>,
    out: VecDeque<(Time, crate::engine::Event)>,
    pub abort: Arc<AtomicBool>,
    pub operator: Arc<dyn Operator>,
    /// One experiment per region the faults act in.
    pub fis: Vec<Experiment>,
    /// The record's answer and the region clients reach.
    pub dns: Follow,
    pub notes: Vec<String>,
}

/// What a live target starts from.
pub struct Parts {
    pub rt: tokio::runtime::Runtime,
    pub env: Env,
    pub observe_env: Env,
    pub runbook: Runbook,
    pub clock: Clock,
    pub abort: Arc<AtomicBool>,
    pub operator: Arc<dyn Operator>,
    pub fis: Vec<Experiment>,
    pub notes: Vec<String>,
}

impl<B: Backend> Core<B> {
    pub fn new(p: Parts) -> Core<B> {
        let (tx, rx) = channel();
        let ttl = record(&p.env.scenario).map_or(0.0, |r| r.1);
        Core {
            rt: p.rt,
            env: p.env,
            observe_env: p.observe_env,
            runbook: p.runbook,
            clock: p.clock,
            timers: Timers::default(),
            tx,
            rx,
            out: VecDeque::new(),
            abort: p.abort,
            operator: p.operator,
            fis: p.fis,
            dns: Follow::new(ttl),
            notes: p.notes,
        }
    }

    pub fn now(&self) -> Time {
        self.clock.now()
    }

    /// Starts every experiment that has a template and has not started, one per region
    /// (`token` plus the region is the idempotency token); notes each one started. Returns
    /// each attempt's region and outcome (the experiment id, or why not).
    pub fn start_experiments(&mut self, token: &str) -> Vec<(String, Result<String, String>)> {
        let mut out = Vec::new();
        for x in &mut self.fis {
            if x.id.is_some() {
                continue;
            }
            let Some(tpl) = x.template.clone() else { continue };
            let r = x.start(&self.rt, &self.env, format!("{token}-{}", x.region));
            if let Ok(id) = &r {
                self.notes.push(format!(
                    "FIS experiment {id} started in {} from template {tpl}",
                    x.region
                ));
            }
            out.push((x.region.clone(), r));
        }
        out
    }

    /// Moves what the actions noted (`Names::notes`) into the drill's notes.
    pub fn take_action_notes(&mut self) {
        let notes = std::mem::take(&mut self.env.names().notes);
        self.notes.extend(notes);
    }

    /// Stops the experiments that still run (each once), noting each; true when one was
    /// running. One that already ended cannot be stopped, and that is no error.
    pub fn stop_experiments(&mut self) -> bool {
        let mut any = false;
        for x in &mut self.fis {
            let id = x.id.clone().unwrap_or_default();
            match x.stop(&self.rt, &self.env) {
                Ok(true) => {
                    self.notes
                        .push(format!("FIS experiment {id} ({}) stopped by drillbit", x.region));
                    any = true;
                }
                Ok(false) => {}
                Err(e) if e.contains("ResourceNotFound") || e.contains("completed") => {}
                Err(e) => self.notes.push(format!("FIS experiment {id} ({}): {e}", x.region)),
            }
        }
        any
    }

    pub fn timer(&mut self, at: Time, t: B::Timer) {
        self.timers.set(at, Tick::Own(t));
    }

    /// An event for the engine, at `at` (on the skipping clock: when it is given out).
    pub fn emit(&mut self, at: Time, ev: Event) {
        self.out.push_back((at, ev));
    }

    /// A new answer of the record: clients follow it once their cached answer expires.
    pub fn dns_answered(&mut self, at: Time, region: Option<String>) {
        if let Some((when, n)) = self.dns.answered(at, region) {
            self.timers.set(when, Tick::DnsSettled(n));
        }
    }

    /// A step's attempt ended (an action's task answered, or a timed step's duration is over).
    fn action_done(&mut self, at: Time, step: usize, attempt: u32, result: ActionResult) {
        self.runbook.finished(step);
        self.emit(at, Event::ActionDone { step, attempt, result });
    }

    /// Switches to other steps (the rollback after an abort): what is in flight, queued or
    /// timed is abandoned, since it names steps of the other plan.
    pub fn replace_steps(&mut self, steps: Vec<crate::scenario::Step>) {
        self.runbook.replace(steps);
        while self.rx.try_recv().is_ok() {}
        self.timers.clear();
        self.out.clear();
    }

    /// Waits for a message until `next` at most.
    fn wait(&mut self, next: Time) -> Result<Option<Received<B>>, TargetError> {
        let now = self.clock.now();
        let cap = Duration::from_micros(next.since(now).0).min(MAX_WAIT);
        let got = match &mut self.clock {
            Clock::Wall { .. } => self.rx.recv_timeout(cap),
            Clock::Skip { now } => {
                if !self.runbook.in_flight() {
                    // Nothing real is happening: time skips to the next timer or deadline.
                    *now = (*now).max(next);
                    return Ok(None);
                }
                // A real call is in flight: time runs at wall speed until the next timer.
                let started = Instant::now();
                let got = self.rx.recv_timeout(cap);
                *now = now.plus(Time(started.elapsed().as_micros() as u64)).min(next.max(*now));
                got
            }
        };
        match got {
            Ok((i, m)) => Ok(Some((self.clock.at(i), m))),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(TargetError::Infrastructure(
                "the action and observation tasks: channel closed".into(),
            )),
        }
    }
}

/// A message and the drill time it was seen at.
type Received<B> = (Time, Msg<<B as Backend>::Msg>);

/// The emulator or aws target: the shared [`Core`] and what its backend holds.
pub struct LiveTarget<B: Backend> {
    pub core: Core<B>,
    pub backend: B,
}

impl<B: Backend> Target for LiveTarget<B> {
    fn name(&self) -> &'static str {
        B::NAME
    }

    fn inject(&mut self, fault: usize, now: Time) -> Result<(), TargetError> {
        self.backend.inject(&mut self.core, fault, now)
    }

    fn repair(&mut self, fault: usize, now: Time) -> Result<(), TargetError> {
        self.backend.repair(&mut self.core, fault, now)
    }

    fn start_action(&mut self, step: usize, attempt: u32, now: Time) -> Result<(), TargetError> {
        let c = &mut self.core;
        let tx = c.tx.clone();
        // A human step's wait is real (the clock runs at wall speed until the answer); a
        // modelled one ends on a timer.
        if let Some(d) = c.runbook.start(&c.rt, &c.env, step, move |done| {
            let _ = tx.send((Instant::now(), Msg::Action { step, attempt, done }));
        }) {
            c.timers
                .set(now.plus(Time::from_secs(d)), Tick::StepDone(step, attempt));
        }
        Ok(())
    }

    fn cancel_action(&mut self, step: usize, _now: Time) {
        self.core.runbook.cancel(step);
    }

    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError> {
        loop {
            let c = &mut self.core;
            if c.abort.load(Ordering::SeqCst) {
                return Err(TargetError::Aborted("interrupted".into()));
            }
            self.backend.observe(c)?;
            if let Some((t, ev)) = c.out.pop_front() {
                return Ok(Poll::Event(c.clock.give_out(t), ev));
            }
            let now = c.clock.now();
            if let Some((at, tick)) = c.timers.pop_due(now.min(deadline)) {
                match tick {
                    Tick::StepDone(step, attempt) => c.action_done(at, step, attempt, ActionResult::Ok),
                    Tick::DnsSettled(n) => {
                        if c.dns.settled(n, &c.env.scenario.topology.dr_region) {
                            c.emit(at, Event::TrafficSwitched);
                        }
                    }
                    Tick::Own(t) => self.backend.on_timer(c, at, t),
                }
                continue;
            }
            if now >= deadline {
                c.clock.reached(deadline);
                return Ok(Poll::Deadline);
            }
            let next = c.timers.next_at().map_or(deadline, |t| t.min(deadline));
            match c.wait(next)? {
                Some((at, Msg::Action { step, attempt, done })) => {
                    c.action_done(at, step, attempt, done.into());
                    self.backend.action_done();
                }
                Some((at, Msg::Own(m))) => self.backend.on_msg(c, at, m),
                None => {}
            }
        }
    }

    fn ledger(&mut self, end: Time) -> Result<Ledger, TargetError> {
        self.backend.ledger(&mut self.core, end)
    }
}

/// The tokio runtime a live target's calls run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, TargetError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TargetError::Infrastructure(format!("starting the runtime: {e}")))
}

/// The runbook's clients and the observation clients (one attempt, so a dropped region
/// answers at once), sharing the names learnt.
pub fn envs(
    rt: &tokio::runtime::Runtime,
    s: &Arc<Scenario>,
    conn: &Connection,
    caps: Option<&'static Capabilities>,
    poll: Duration,
) -> (Env, Env) {
    let (p, d) = (s.topology.primary_region.clone(), s.topology.dr_region.clone());
    let env = Env {
        scenario: s.clone(),
        clients: rt.block_on(Clients::new(&p, &d, conn)),
        caps,
        names: Arc::new(Mutex::new(Names::default())),
        poll,
    };
    let observe_env = Env {
        clients: rt.block_on(Clients::for_role(&p, &d, conn, crate::targets::live::Role::Observe)),
        ..env.clone()
    };
    (env, observe_env)
}

/// The Route 53 record clients resolve, and its TTL in seconds.
pub fn record(s: &Scenario) -> Option<(String, f64)> {
    s.topology.resources.iter().find_map(|r| match r {
        Resource::Route53Record(rec) => Some((rec.id.clone(), rec.ttl.secs())),
        _ => None,
    })
}

/// The scorecard of a live drill: the engine's measurement, the target's notes and the wall
/// time it took (`what`: from which step to teardown).
pub fn scorecard(
    loaded: &crate::scenario::Loaded,
    plan: &crate::engine::Plan,
    target: &'static str,
    seed: u64,
    (tl, m): (&crate::engine::Timeline, &crate::measure::Measurement),
    mut notes: Vec<String>,
    wall: (&str, Instant),
) -> crate::scorecard::Scorecard {
    notes.push(format!(
        "wall time of the drill, {} to teardown: {:.2} s",
        wall.0,
        wall.1.elapsed().as_secs_f64()
    ));
    let cx = crate::scorecard::Context {
        loaded,
        plan,
        target,
        seed,
        models_overridden: Vec::new(),
    };
    let mut sc = crate::scorecard::build(&cx, tl, m);
    sc.notes = notes;
    sc
}
