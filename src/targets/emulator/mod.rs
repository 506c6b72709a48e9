//! The `emulator` target: the runbook through the AWS SDK against a local AWS API emulator.
//!
//! drillbit starts moto itself when no endpoint is given (`moto.rs`), puts its fault layer
//! (`crate::targets::emulator::faultlayer`) in front of whatever endpoint it drives, stands the scenario's
//! topology up in both regions (`aws::provision`), creates and starts the scenario's FIS
//! experiment, runs the drill with the shared engine, and tears everything down.
//!
//! **Faults** are made real by the fault layer: a region outage drops every call to the
//! region; a failed database answers every call on it with an error; DR drift answers calls on
//! the DR resource with "not found"; a blocked scale-out refuses the update; `--api-fault`
//! adds API errors, throttling or latency per service, region and operation. Route 53's
//! health checkers never probe in an emulator: drillbit overrides the health check's status
//! after the scenario's detection time (interval x threshold).
//!
//! **Probes** read the emulator's state through the SDK: which region the DNS record answers
//! with (as clients see it, after the TTL), and whether that region serves (reachable, its
//! database a writer, its tasks or instances running, its table active).
//!
//! **Clock.** The target's clock runs at wall speed while an AWS call is in flight, and skips
//! over waits in which nothing real happens (the fault schedule, detection, human steps, the
//! trigger delay, DNS TTLs), since an emulator's state changes only through drillbit's own
//! calls. So a runbook with a 5-minute trigger runs in seconds, API time is measured, and
//! modelled time is named as such in the scorecard's notes.

mod api_fault;
pub mod faultlayer;
mod faults;
pub mod moto;

pub use crate::targets::live::runbook::ManualPolicy;
pub use api_fault::ApiFault;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::{
    ActionResult, AlarmSource, Engine, Event, Ledger, Operator, Plan, Poll, Target, TargetError, Time, Timeline,
    Timers, Watch,
};
use crate::scenario::Resource;
use crate::targets::live::actions::{Done, Env, Names};
use crate::targets::live::dns::Follow;
use crate::targets::live::experiment::{self, Experiment};
use crate::targets::live::runbook::Runbook;
use crate::targets::live::{observe, Clients, Connection};
use faultlayer::{Effect, FaultLayer, Match};
use faults::{health_status_xml, plan_faults, FaultPlan};

pub struct EmulatorOptions {
    pub out_dir: PathBuf,
    /// An AWS-compatible endpoint to use instead of starting moto.
    pub endpoint_url: Option<String>,
    pub abort: Arc<AtomicBool>,
    pub failback: bool,
    pub seed: u64,
    pub api_faults: Vec<ApiFault>,
    /// Who is told the progress (moto install, start, provisioning) and answers game-day steps.
    pub operator: Arc<dyn Operator>,
    /// How manual steps (human decisions, notifications, approvals) are carried out.
    pub manual: ManualPolicy,
    /// The live view: the drill's timeline as it is recorded (game day).
    pub live: Option<Watch>,
    /// Leave what the drill created in an external emulator (`--keep-env`); by default it is
    /// deleted at teardown, so the next drill there starts clean.
    pub keep_env: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Probe,
    /// Route 53's checkers have seen the region fail `threshold` times.
    Detected(usize),
    /// A human or wait step's modelled duration is over.
    StepDone(usize, u32),
    /// Clients' DNS caches expired: they follow the answer of this change.
    DnsSettled(u64),
}

struct Msg {
    step: usize,
    attempt: u32,
    done: Done,
}

pub struct EmulatorTarget {
    rt: tokio::runtime::Runtime,
    moto: Option<moto::Moto>,
    layer: FaultLayer,
    /// Calls of the fault layer's log already looked at for fault effects, and the faults
    /// whose rules have acted on a call (the proof the fault took effect).
    calls_seen: usize,
    effect_seen: Vec<bool>,
    env: Env,
    /// Observation clients: no retries, so a dropped region answers at once.
    observe_env: Env,
    runbook: Runbook,
    faults: Vec<FaultPlan>,
    now: Time,
    timers: Timers<Timer>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    out: VecDeque<Event>,
    dirty: bool,
    /// Which region each region's requests reach; updated by refresh.
    serving: [bool; 2],
    /// The record's answer and the region clients reach.
    dns: Follow,
    /// The Route 53 record resource clients resolve (None: clients reach what serves).
    record: Option<String>,
    hc_passes: bool,
    failed_health: Vec<(usize, String)>,
    probe_interval: Time,
    abort: Arc<AtomicBool>,
    fis: Experiment,
    pub notes: Vec<String>,
    pub calls_path: PathBuf,
    operator: Arc<dyn Operator>,
    /// Delete what the drill created at teardown (an external emulator without --keep-env).
    clean_up: bool,
}

fn infra(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Infrastructure(format!("{what}: {e}"))
}

impl EmulatorTarget {
    pub fn start(
        loaded: &crate::scenario::Loaded,
        plan: &Plan,
        opts: &EmulatorOptions,
    ) -> Result<EmulatorTarget, TargetError> {
        let s = crate::targets::live::bound_scenario(loaded).map_err(|e| infra("bindings", e))?;
        let faults = plan_faults(&s)?;
        let say = |m: &str| opts.operator.say(m);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| infra("starting the runtime", e))?;
        std::fs::create_dir_all(&opts.out_dir).map_err(|e| infra("creating the output directory", e))?;
        let mut notes = Vec::new();
        let (moto, upstream) = match &opts.endpoint_url {
            Some(u) => (None, u.clone()),
            None => {
                moto::ensure_installed(&mut |m| say(m)).map_err(|e| infra("installing moto", e))?;
                let m =
                    moto::Moto::start(Some(&opts.out_dir.join("moto.log"))).map_err(|e| infra("starting moto", e))?;
                say(&format!(
                    "moto {} on {} (up in {:.2} s)",
                    moto::MOTO_VERSION,
                    m.url(),
                    m.started_in.as_secs_f64()
                ));
                notes.push(format!(
                    "emulator: moto {} started by drillbit on {} (up in {:.2} s)",
                    moto::MOTO_VERSION,
                    m.url(),
                    m.started_in.as_secs_f64()
                ));
                let u = m.url();
                (Some(m), u)
            }
        };
        let upstream_addr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse::<std::net::SocketAddr>()
            .or_else(|_| {
                use std::net::ToSocketAddrs;
                upstream
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or(())
            })
            .map_err(|_| infra("the endpoint", format!("`{upstream}`: expected http://HOST:PORT")))?;
        let layer = rt
            .block_on(FaultLayer::start(upstream_addr))
            .map_err(|e| infra("starting the fault layer", e))?;
        let conn = Connection {
            endpoint_url: Some(layer.url()),
            test_credentials: true,
            profile: None,
        };
        let (p, d) = (s.topology.primary_region.clone(), s.topology.dr_region.clone());
        let clients = rt.block_on(Clients::new(&p, &d, &conn));
        let observe_clients = rt.block_on(Clients::new_with_retries(&p, &d, &conn, 1));
        let names = Arc::new(Mutex::new(Names::default()));
        // The capability table: moto's when drillbit started it or the endpoint answers moto's
        // own API; none for another emulator (its "not implemented" answers still say so).
        let is_moto = opts.endpoint_url.is_none() || moto::answers_moto_api(upstream_addr);
        let caps = if is_moto {
            Some(&crate::targets::live::MOTO)
        } else {
            None
        };
        if opts.endpoint_url.is_some() {
            notes.push(format!(
                "emulator: {upstream}{}",
                if is_moto {
                    " (moto, recognised by its /moto-api/)"
                } else {
                    " (not moto: no capability table)"
                }
            ));
        }
        let env = Env {
            scenario: s.clone(),
            clients,
            caps,
            names: names.clone(),
            poll: Duration::from_millis(100),
        };
        let observe_env = Env {
            clients: observe_clients,
            ..env.clone()
        };
        let t0 = Instant::now();
        let clean_up = opts.endpoint_url.is_some() && !opts.keep_env;
        let prov = match rt.block_on(crate::targets::live::provision::provision(&env)) {
            Ok(p) => p,
            Err(e) => {
                // What was created before the failure goes again; a resource that already
                // exists is most likely an earlier drill's, kept with --keep-env.
                let mut why = e.to_string();
                if clean_up {
                    for left in rt.block_on(crate::targets::live::deprovision::deprovision(&env)) {
                        why.push_str(&format!("\n  left behind: {left}"));
                    }
                }
                if why.contains("AlreadyExists") || why.contains("already exists") {
                    why.push_str(
                        "\n  (the emulator already holds this scenario's resources, perhaps from a drill run with \
                         --keep-env: start a fresh emulator, or omit --endpoint-url to let drillbit start its own)",
                    );
                }
                return Err(infra("provisioning the topology in the emulator", why));
            }
        };
        // Bound records: the user's zone, health checks and record sets, as found.
        if let Err(e) = rt.block_on(crate::targets::live::check::discover_bound(&env)) {
            let mut why = e.to_string();
            if clean_up {
                for left in rt.block_on(crate::targets::live::deprovision::deprovision(&env)) {
                    why.push_str(&format!("\n  left behind: {left}"));
                }
            }
            return Err(infra("reading the bound records", why));
        }
        say(&format!(
            "provisioned {} resources in {} and {} ({:.2} s)",
            prov.calls.len(),
            p,
            d,
            t0.elapsed().as_secs_f64()
        ));
        notes.push(format!(
            "provisioned in {:.2} s: {}",
            t0.elapsed().as_secs_f64(),
            prov.calls.join("; ")
        ));
        for (i, f) in opts.api_faults.iter().enumerate() {
            layer.add(&format!("api-fault-{i}"), f.matches.clone(), f.effect.clone(), f.count);
        }
        // The FIS experiment: created now, started with the first fault.
        let account = names.lock().map(|n| n.account.clone()).unwrap_or_default();
        let tpl = crate::targets::fis::template(&s, &account);
        let fis = rt.block_on(experiment::create_template(&env, &tpl.json));
        match &fis {
            Ok(id) => {
                crate::targets::live::deprovision::created(
                    &env,
                    crate::targets::live::deprovision::Created::FisTemplate { id: id.clone() },
                );
                notes.push(format!("FIS experiment template {id} created"))
            }
            Err(e) => notes.push(format!("FIS experiment template not created: {e}")),
        }
        for (id, why) in &tpl.skipped {
            notes.push(format!("fault {id}: {why}"));
        }
        let record = s.topology.resources.iter().find_map(|r| match r {
            Resource::Route53Record(rec) => Some((rec.id.clone(), rec.ttl.secs())),
            _ => None,
        });
        let (tx, rx) = channel();
        let mut t = EmulatorTarget {
            rt,
            moto,
            layer,
            env,
            observe_env,
            runbook: Runbook::new(s.all_steps().cloned().collect(), opts.manual, opts.operator.clone()),
            faults,
            now: Time::ZERO,
            timers: Timers::default(),
            tx,
            rx,
            out: VecDeque::new(),
            dirty: true,
            calls_seen: 0,
            effect_seen: vec![false; s.faults.len()],
            serving: [false; 2],
            dns: Follow::new(record.as_ref().map_or(0.0, |r| r.1)),
            record: record.map(|r| r.0),
            hc_passes: false,
            failed_health: Vec::new(),
            probe_interval: plan.probe_interval,
            abort: opts.abort.clone(),
            fis: Experiment::new(fis.ok()),
            notes,
            calls_path: opts.out_dir.join("api-calls.csv"),
            operator: opts.operator.clone(),
            clean_up,
        };
        t.notes.push(
            "clock: wall time while an AWS call is in flight; modelled waits in which nothing real happens \
             (fault schedule, health-check detection, human steps at their median, trigger delay, DNS TTL) are skipped"
                .into(),
        );
        // The steady state must hold before any fault: else the drill would measure nothing.
        t.refresh();
        t.dirty = false;
        let primary = t.env.scenario.topology.primary_region.clone();
        if t.dns.client.as_deref() != Some(primary.as_str()) || !t.serving[0] {
            let env = t.observe_env.clone();
            let why =
                t.rt.block_on(observe::region_serves(&env, &primary))
                    .err()
                    .unwrap_or_else(|| format!("clients are sent to {:?}", t.dns.client));
            t.teardown();
            return Err(infra("the emulator topology does not serve before the fault", why));
        }
        t.now = Time::ZERO;
        // First probe at a seeded phase within the interval, like the other targets.
        let phase = (opts.seed % 1000) as f64 / 1000.0;
        t.timer(Time::from_secs(plan.probe_interval.secs() * phase), Timer::Probe);
        Ok(t)
    }

    /// A call that a fault's own rule refused, dropped or slowed is the proof that the fault
    /// took effect (the health check's failure is drillbit's own override, not evidence).
    fn scan_fault_effects(&mut self) {
        let calls = self.layer.calls_since(self.calls_seen);
        self.calls_seen += calls.len();
        for c in calls {
            let Some(f) = c
                .rule
                .as_deref()
                .and_then(|l| l.strip_prefix("fault-"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if self.effect_seen.get(f) == Some(&false) {
                self.effect_seen[f] = true;
                let what = if c.status == 0 {
                    "dropped".to_string()
                } else {
                    format!("answered HTTP {}", c.status)
                };
                self.out.push_back(Event::FaultEffect {
                    fault: f,
                    how: Cow::Owned(format!(
                        "the API call {}:{} in {} was {what} by the fault",
                        c.service, c.operation, c.region
                    )),
                });
            }
        }
    }

    fn timer(&mut self, at: Time, t: Timer) {
        self.timers.set(at, t);
    }

    fn region_index(&self, region: &str) -> usize {
        usize::from(region != self.env.scenario.topology.primary_region)
    }

    /// Re-reads what clients would see (real calls; their time counts).
    fn refresh(&mut self) {
        let started = Instant::now();
        let env = self.observe_env.clone();
        let (p, d) = (
            env.scenario.topology.primary_region.clone(),
            env.scenario.topology.dr_region.clone(),
        );
        let record = self.record.clone();
        let (sp, sd, answer) = self.rt.block_on(async {
            let sp = observe::region_serves(&env, &p).await;
            let sd = observe::region_serves(&env, &d).await;
            let answer = match &record {
                Some(id) => observe::dns_answer(&env, id).await.ok(),
                None => None,
            };
            (sp, sd, answer)
        });
        if std::env::var_os("DRILLBIT_DEBUG").is_some() {
            self.operator.say(&format!(
                "[{}] primary: {sp:?}; dr: {sd:?}; dns answer: {answer:?}",
                self.now
            ));
        }
        self.serving = [sp.is_ok(), sd.is_ok()];
        let answer = answer.or_else(|| {
            // No record (or Route 53 unreachable): clients reach whichever region serves.
            Some(if self.serving[0] || !self.serving[1] {
                p.clone()
            } else {
                d.clone()
            })
        });
        self.now = self.now.plus(Time(started.elapsed().as_micros() as u64));
        // Clients follow a change after their cached answer expires.
        if let Some((at, n)) = self.dns.answered(self.now, answer) {
            self.timer(at, Timer::DnsSettled(n));
        }
    }

    fn probe_ok(&self) -> bool {
        self.dns
            .client
            .as_deref()
            .is_some_and(|r| self.serving[self.region_index(r)])
    }

    fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::Probe => {
                let ok = self.probe_ok();
                self.out.push_back(Event::Probe { ok });
                let next = self.now.plus(self.probe_interval);
                self.timer(next, Timer::Probe);
            }
            Timer::Detected(fault) => {
                let region = match &self.faults[fault] {
                    FaultPlan::Rules {
                        fails_health_of: Some(r),
                        ..
                    } => r.clone(),
                    _ => return,
                };
                if self.hc_passes || !self.failed_health.iter().any(|(f, _)| *f == fault) {
                    return;
                }
                self.override_health(fault, &region);
                self.out.push_back(Event::Alarm {
                    source: AlarmSource::HealthCheck,
                });
                self.dirty = true;
            }
            Timer::StepDone(step, attempt) => {
                self.out.push_back(Event::ActionDone {
                    step,
                    attempt,
                    result: ActionResult::Ok,
                });
            }
            Timer::DnsSettled(n) => {
                if self.dns.settled(n, &self.env.scenario.topology.dr_region) {
                    self.out.push_back(Event::TrafficSwitched);
                }
            }
        }
    }

    fn override_health(&mut self, fault: usize, region: &str) {
        let label = format!("health-{fault}");
        let names = self.env.names().clone();
        for ((_, r), hc) in names.health_check.iter() {
            if r == region {
                self.layer.add(
                    &label,
                    Match {
                        service: Some("route53".into()),
                        operation: Some("GetHealthCheckStatus".into()),
                        contains: Some(hc.clone()),
                        ..Match::default()
                    },
                    Effect::Respond {
                        content_type: "text/xml".into(),
                        body: health_status_xml(region),
                    },
                    None,
                );
            }
        }
    }

    fn detection_delay(&self) -> Option<Time> {
        self.env.scenario.topology.resources.iter().find_map(|r| match r {
            Resource::Route53Record(rec) => rec
                .health_check
                .as_ref()
                .map(|hc| Time::from_secs(hc.interval.secs() * hc.failure_threshold as f64)),
            _ => None,
        })
    }

    /// Stops the FIS experiment if it still runs, writes the call log, stops moto.
    pub fn teardown(&mut self) {
        self.runbook.cancel_all();
        self.layer.clear();
        if let Err(e) = self.fis.stop(&self.rt, &self.env) {
            // A finished experiment cannot be stopped: that is fine.
            if !e.contains("ResourceNotFound") && !e.contains("completed") {
                let id = self.fis.id.as_deref().unwrap_or("?");
                self.notes.push(format!("FIS experiment {id}: {e}"));
            }
        }
        if self.clean_up {
            let n = self.env.names().created.len();
            let env = self.env.clone();
            let left = self.rt.block_on(crate::targets::live::deprovision::deprovision(&env));
            for l in &left {
                self.operator.warn(&format!("left behind in the emulator: {l}"));
            }
            self.notes.push(if left.is_empty() {
                format!("teardown: deleted the {n} resources drillbit created in the emulator")
            } else {
                format!(
                    "teardown: deleted {} of the {n} resources drillbit created in the emulator; left behind: {}",
                    n - left.len(),
                    left.join("; ")
                )
            });
        }
        let calls = self.layer.calls();
        let mut csv = String::from("service,region,operation,status,rule\n");
        for c in &calls {
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                c.service,
                c.region,
                c.operation,
                c.status,
                c.rule.as_deref().unwrap_or("")
            ));
        }
        let _ = crate::report::write_atomic(&self.calls_path, &csv);
        if let Some(mut m) = self.moto.take() {
            m.stop();
        }
    }
}

impl Drop for EmulatorTarget {
    fn drop(&mut self) {
        if let Some(mut m) = self.moto.take() {
            m.stop();
        }
    }
}

impl Target for EmulatorTarget {
    fn name(&self) -> &'static str {
        "emulator"
    }

    fn inject(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        // The FIS experiment starts with the first fault (moto records it; the fault layer
        // makes it real).
        if self.fis.id.is_none() {
            if let Some(tpl) = self.fis.template.clone() {
                let token = format!("drillbit-start-{}", std::process::id());
                match self.fis.start(&self.rt, &self.env, token) {
                    Ok(id) => self
                        .notes
                        .push(format!("FIS experiment {id} started from template {tpl}")),
                    Err(e) => {
                        self.notes.push(format!("FIS experiment not started: {e}"));
                        self.fis.template = None;
                    }
                }
            }
        }
        match self.faults[fault].clone() {
            FaultPlan::Rules { rules, fails_health_of } => {
                for (m, e) in rules {
                    self.layer.add(&format!("fault-{fault}"), m, e, None);
                }
                if let Some(region) = fails_health_of {
                    self.failed_health.push((fault, region));
                    if let Some(delay) = self.detection_delay() {
                        let at = self.now.plus(delay);
                        self.timer(at, Timer::Detected(fault));
                    }
                }
            }
            FaultPlan::HealthCheckPasses => {
                self.hc_passes = true;
                for (f, _) in self.failed_health.clone() {
                    self.layer.remove_label(&format!("health-{f}"));
                }
            }
        }
        self.dirty = true;
        self.out.push_back(Event::FaultActive { fault });
        Ok(())
    }

    fn repair(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        self.scan_fault_effects();
        match &self.faults[fault] {
            FaultPlan::Rules { .. } => {
                self.layer.remove_label(&format!("fault-{fault}"));
                self.layer.remove_label(&format!("health-{fault}"));
                self.failed_health.retain(|(f, _)| *f != fault);
            }
            FaultPlan::HealthCheckPasses => {
                self.hc_passes = false;
                for (f, region) in self.failed_health.clone() {
                    self.override_health(f, &region);
                }
            }
        }
        self.dirty = true;
        self.out.push_back(Event::FaultRepaired { fault });
        Ok(())
    }

    fn start_action(&mut self, step: usize, attempt: u32, _now: Time) -> Result<(), TargetError> {
        let tx = self.tx.clone();
        // The operator's wait is real: the clock runs at wall speed until the answer.
        if let Some(d) = self.runbook.start(&self.rt, &self.env, step, move |done| {
            let _ = tx.send(Msg { step, attempt, done });
        }) {
            self.timer(self.now.plus(Time::from_secs(d)), Timer::StepDone(step, attempt));
        }
        Ok(())
    }

    fn cancel_action(&mut self, step: usize, _now: Time) {
        self.runbook.cancel(step);
    }

    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError> {
        loop {
            if self.abort.load(Ordering::SeqCst) {
                return Err(TargetError::Aborted("interrupted".into()));
            }
            if self.dirty {
                self.dirty = false;
                self.refresh();
            }
            self.scan_fault_effects();
            if let Some(ev) = self.out.pop_front() {
                return Ok(Poll::Event(self.now, ev));
            }
            let next_timer = self.timers.next_at().unwrap_or(Time::MAX);
            let next = next_timer.min(deadline);
            if self.runbook.in_flight() {
                // A real call is in flight: time runs at wall speed until the next timer.
                let wait = Duration::from_micros(next.since(self.now).0).min(Duration::from_millis(50));
                let started = Instant::now();
                let got = self.rx.recv_timeout(wait);
                let elapsed = Time(started.elapsed().as_micros() as u64);
                self.now = self.now.plus(elapsed).min(next.max(self.now));
                match got {
                    Ok(m) => {
                        self.now = self.now.plus(Time(0));
                        self.runbook.finished(m.step);
                        self.dirty = true;
                        self.out.push_back(Event::ActionDone {
                            step: m.step,
                            attempt: m.attempt,
                            result: m.done.into(),
                        });
                        continue;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(infra("action tasks", "channel closed"));
                    }
                }
                if self.now < next {
                    continue;
                }
            } else {
                self.now = self.now.max(next);
            }
            if next_timer <= self.now {
                if let Some((_, t)) = self.timers.pop() {
                    self.on_timer(t);
                }
                continue;
            }
            if self.now >= deadline {
                return Ok(Poll::Deadline);
            }
        }
    }

    fn ledger(&mut self, _end: Time) -> Result<Ledger, TargetError> {
        Ok(Ledger::NotMeasurable(
            "nothing replicates in an emulator: data loss is not measurable on the emulator target".into(),
        ))
    }
}

/// One drill on the emulator, end to end, as a scorecard; everything started is stopped.
pub fn run(
    loaded: &crate::scenario::Loaded,
    seed: u64,
    opts: &EmulatorOptions,
) -> Result<crate::scorecard::Scorecard, TargetError> {
    let started = Instant::now();
    let mut plan = Plan::compile(&loaded.scenario);
    plan.failback = opts.failback;
    let mut target = EmulatorTarget::start(loaded, &plan, opts)?;
    let mut tl = Timeline::new(true);
    tl.watch = opts.live.clone();
    let measured = crate::drill::run_on(&mut Engine::new(), &plan, &mut target, &mut tl);
    target.teardown();
    let m = measured?;
    let mut notes = std::mem::take(&mut target.notes);
    notes.push(format!(
        "wall time of the drill, emulator start to teardown: {:.2} s",
        started.elapsed().as_secs_f64()
    ));
    let cx = crate::scorecard::Context {
        loaded,
        plan: &plan,
        target: "emulator",
        seed,
        models_overridden: Vec::new(),
    };
    let mut sc = crate::scorecard::build(&cx, &tl, &m);
    sc.notes = notes;
    Ok(sc)
}

/// `drillbit check --target emulator`: the readiness check against an emulator. With an
/// endpoint, the topology already there is discovered and checked; without one, drillbit starts
/// moto, provisions the scenario and checks what it provisioned (the check's own self-test).
pub fn check(
    loaded: &crate::scenario::Loaded,
    endpoint_url: Option<&str>,
    operator: &dyn Operator,
) -> Result<Vec<crate::targets::live::check::Item>, TargetError> {
    let s = crate::targets::live::bound_scenario(loaded)
        .map_err(|e| TargetError::Infrastructure(format!("bindings: {e}")))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| infra("starting the runtime", e))?;
    let mut started = None;
    let url = match endpoint_url {
        Some(u) => u.to_string(),
        None => {
            moto::ensure_installed(&mut |m| operator.say(m)).map_err(|e| infra("installing moto", e))?;
            let m = moto::Moto::start(None).map_err(|e| infra("starting moto", e))?;
            let u = m.url();
            started = Some(m);
            u
        }
    };
    let conn = Connection {
        endpoint_url: Some(url),
        test_credentials: true,
        profile: None,
    };
    let (p, d) = (s.topology.primary_region.clone(), s.topology.dr_region.clone());
    let env = Env {
        scenario: s.clone(),
        clients: rt.block_on(Clients::new(&p, &d, &conn)),
        caps: None,
        names: Arc::new(Mutex::new(Names::default())),
        poll: Duration::from_millis(100),
    };
    let items = rt.block_on(async {
        if started.is_some() {
            crate::targets::live::provision::provision(&env)
                .await
                .map_err(|e| infra("provisioning the topology in the emulator", e))?;
        }
        crate::targets::live::check::discover(&env)
            .await
            .map_err(|e| infra("discovering the topology", e))?;
        Ok::<_, TargetError>(crate::targets::live::check::check(&env).await)
    });
    if let Some(mut m) = started {
        m.stop();
    }
    items
}
