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
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{AlarmSource, Engine, Event, Ledger, Operator, Plan, TargetError, Time, Timeline, Watch};
use crate::targets::live::adapter::{self, Backend, Clock, Core, LiveTarget, Parts};
use crate::targets::live::experiment;
use crate::targets::live::runbook::Runbook;
use crate::targets::live::{observe, Connection};
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
pub enum Timer {
    Probe,
    /// Route 53's checkers have seen the region fail `threshold` times.
    Detected(usize),
}

/// The emulator's fault driver (the fault layer's rules), observer (the emulator's state, read
/// through the SDK) and ledger (none: nothing replicates in an emulator).
pub struct Emulator {
    moto: Option<moto::Moto>,
    layer: FaultLayer,
    /// Calls of the fault layer's log already looked at for fault effects, and the faults
    /// whose rules have acted on a call (the proof the fault took effect).
    calls_seen: usize,
    effect_seen: Vec<bool>,
    faults: Vec<FaultPlan>,
    /// The state changed (a fault, an action): read it again before the next event.
    dirty: bool,
    /// Whether each region (primary, DR) serves; updated by refresh.
    serving: [bool; 2],
    /// The Route 53 record resource clients resolve (None: clients reach what serves).
    record: Option<String>,
    hc_passes: bool,
    failed_health: Vec<(usize, String)>,
    probe_interval: Time,
    calls_path: PathBuf,
    /// Delete what the drill created at teardown (an external emulator without --keep-env).
    clean_up: bool,
}

pub type EmulatorTarget = LiveTarget<Emulator>;

fn infra(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Infrastructure(format!("{what}: {e}"))
}

/// Starts moto (unless an endpoint is given), the fault layer, provisions the topology and
/// creates the FIS template: a target ready for the engine, serving before the fault.
pub fn start(
    loaded: &crate::scenario::Loaded,
    plan: &Plan,
    opts: &EmulatorOptions,
) -> Result<EmulatorTarget, TargetError> {
    let s = crate::targets::live::bound_scenario(loaded).map_err(|e| infra("bindings", e))?;
    let faults = plan_faults(&s)?;
    let say = |m: &str| opts.operator.say(m);
    let rt = adapter::runtime()?;
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| infra("creating the output directory", e))?;
    let mut notes = Vec::new();
    let (moto, upstream) = match &opts.endpoint_url {
        Some(u) => (None, u.clone()),
        None => {
            moto::ensure_installed(&mut |m| say(m)).map_err(|e| infra("installing moto", e))?;
            let m = moto::Moto::start(Some(&opts.out_dir.join("moto.log"))).map_err(|e| infra("starting moto", e))?;
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
    // The capability table: moto's when drillbit started it or the endpoint answers moto's
    // own API; none for another emulator (its "not implemented" answers still say so).
    let is_moto = opts.endpoint_url.is_none() || moto::answers_moto_api(upstream_addr);
    let (mut env, mut observe_env) = adapter::envs(&rt, &s, &conn, None, Duration::from_millis(100));
    let extended = is_moto && rt.block_on(crate::targets::live::has_moto_extension(&env.clients));
    let caps = match (is_moto, extended) {
        (true, true) => Some(&crate::targets::live::MOTO_EXTENDED),
        (true, false) => Some(&crate::targets::live::MOTO),
        (false, _) => None,
    };
    env.caps = caps;
    observe_env.caps = caps;
    if extended {
        let served: Vec<String> = s
            .all_steps()
            .filter(|st| crate::targets::live::EXTENSION_SERVES.contains(&st.action))
            .map(|st| format!("{} ({})", st.id, st.action.as_str()))
            .collect();
        if !served.is_empty() {
            let settings = if opts.endpoint_url.is_none() {
                moto::extension_settings().join(", ")
            } else {
                "the endpoint's settings".into()
            };
            notes.push(format!(
                "emulated, not measured: the durations of {} come from drillbit's moto extension ({settings}), \
                 not from AWS",
                served.join(", ")
            ));
        }
    }
    notes.push(format!(
        "emulator: {}{}",
        if opts.endpoint_url.is_some() { upstream.as_str() } else { "drillbit's moto" },
        match (is_moto, extended) {
            (true, true) => " (moto with drillbit's extension: global database failover, DynamoDB global tables, AWS Backup jobs, ElastiCache global datastores)",
            (true, false) => " (moto, recognised by its /moto-api/; without drillbit's extension)",
            (false, _) => " (not moto: no capability table)",
        }
    ));
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
    let account = env.names().account.clone();
    let tpl = crate::targets::fis::template(&s, &account);
    let fis = match experiment::create_all(&rt, &env, &tpl) {
        Ok(made) => {
            for x in &made {
                let id = x.template.clone().unwrap_or_default();
                crate::targets::live::deprovision::created(
                    &env,
                    crate::targets::live::deprovision::Created::FisTemplate {
                        region: x.region.clone(),
                        id: id.clone(),
                    },
                );
                notes.push(format!("FIS experiment template {id} created in {}", x.region));
            }
            made
        }
        Err(e) => {
            notes.push(format!("FIS experiment templates not created: {e}"));
            Vec::new()
        }
    };
    for (id, why) in &tpl.skipped {
        notes.push(format!("fault {id}: {why}"));
    }
    let mut t = LiveTarget {
        core: Core::new(Parts {
            rt,
            env,
            observe_env,
            runbook: Runbook::new(s.all_steps().cloned().collect(), opts.manual, opts.operator.clone()),
            clock: Clock::Skip { now: Time::ZERO },
            abort: opts.abort.clone(),
            operator: opts.operator.clone(),
            fis,
            notes,
        }),
        backend: Emulator {
            moto,
            layer,
            calls_seen: 0,
            effect_seen: vec![false; s.faults.len()],
            faults,
            dirty: true,
            serving: [false; 2],
            record: adapter::record(&s).map(|r| r.0),
            hc_passes: false,
            failed_health: Vec::new(),
            probe_interval: plan.probe_interval,
            calls_path: opts.out_dir.join("api-calls.csv"),
            clean_up,
        },
    };
    t.core.notes.push(
        "clock: wall time while an AWS call is in flight; modelled waits in which nothing real happens \
             (fault schedule, health-check detection, human steps at their median, trigger delay, DNS TTL) are skipped"
            .into(),
    );
    // The steady state must hold before any fault: else the drill would measure nothing.
    t.backend.refresh(&mut t.core);
    t.backend.dirty = false;
    let primary = t.core.env.scenario.topology.primary_region.clone();
    if t.core.dns.client.as_deref() != Some(primary.as_str()) || !t.backend.serving[0] {
        let env = t.core.observe_env.clone();
        let why = t
            .core
            .rt
            .block_on(observe::region_serves(&env, &primary))
            .err()
            .unwrap_or_else(|| format!("clients are sent to {:?}", t.core.dns.client));
        t.teardown();
        return Err(infra("the emulator topology does not serve before the fault", why));
    }
    t.core.clock.restart();
    t.core.timer(plan.first_probe(opts.seed), Timer::Probe);
    Ok(t)
}

impl Emulator {
    /// A call that a fault's own rule refused, dropped or slowed is the proof that the fault
    /// took effect (the health check's failure is drillbit's own override, not evidence).
    fn scan_fault_effects(&mut self, c: &mut Core<Self>) {
        let calls = self.layer.calls_since(self.calls_seen);
        self.calls_seen += calls.len();
        for call in calls {
            let Some(f) = call
                .rule
                .as_deref()
                .and_then(|l| l.strip_prefix("fault-"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if self.effect_seen.get(f) == Some(&false) {
                self.effect_seen[f] = true;
                let what = if call.status == 0 {
                    "dropped".to_string()
                } else {
                    format!("answered HTTP {}", call.status)
                };
                c.emit(
                    c.now(),
                    Event::FaultEffect {
                        fault: f,
                        how: Cow::Owned(format!(
                            "the API call {}:{} in {} was {what} by the fault",
                            call.service, call.operation, call.region
                        )),
                    },
                );
            }
        }
    }

    fn region_index(c: &Core<Self>, region: &str) -> usize {
        usize::from(region != c.env.scenario.topology.primary_region)
    }

    /// Re-reads what clients would see (real calls; their time counts).
    fn refresh(&mut self, c: &mut Core<Self>) {
        let started = Instant::now();
        let env = c.observe_env.clone();
        let (p, d) = (
            env.scenario.topology.primary_region.clone(),
            env.scenario.topology.dr_region.clone(),
        );
        let record = self.record.clone();
        let (sp, sd, answer) = c.rt.block_on(async {
            let sp = observe::region_serves(&env, &p).await;
            let sd = observe::region_serves(&env, &d).await;
            let answer = match &record {
                Some(id) => observe::dns_answer(&env, id).await.ok(),
                None => None,
            };
            (sp, sd, answer)
        });
        if std::env::var_os("DRILLBIT_DEBUG").is_some() {
            c.operator.say(&format!(
                "[{}] primary: {sp:?}; dr: {sd:?}; dns answer: {answer:?}",
                c.now()
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
        c.clock.spent(started.elapsed());
        // Clients follow a change after their cached answer expires.
        c.dns_answered(c.now(), answer);
    }

    fn probe_ok(&self, c: &Core<Self>) -> bool {
        c.dns
            .client
            .as_deref()
            .is_some_and(|r| self.serving[Self::region_index(c, r)])
    }

    fn override_health(&mut self, c: &Core<Self>, fault: usize, region: &str) {
        let label = format!("health-{fault}");
        let names = c.env.names().clone();
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

    fn detection_delay(c: &Core<Self>) -> Option<Time> {
        c.env.scenario.topology.resources.iter().find_map(|r| match r {
            crate::scenario::Resource::Route53Record(rec) => rec
                .health_check
                .as_ref()
                .map(|hc| Time::from_secs(hc.interval.secs() * hc.failure_threshold as f64)),
            _ => None,
        })
    }
}

impl EmulatorTarget {
    /// Stops the FIS experiment if it still runs, writes the call log, stops moto.
    pub fn teardown(&mut self) {
        let (c, e) = (&mut self.core, &mut self.backend);
        c.runbook.cancel_all();
        e.layer.clear();
        c.take_action_notes();
        c.stop_experiments();
        if e.clean_up {
            let n = c.env.names().created.len();
            let env = c.env.clone();
            let left = c.rt.block_on(crate::targets::live::deprovision::deprovision(&env));
            for l in &left {
                c.operator.warn(&format!("left behind in the emulator: {l}"));
            }
            c.notes.push(if left.is_empty() {
                format!("teardown: deleted the {n} resources drillbit created in the emulator")
            } else {
                format!(
                    "teardown: deleted {} of the {n} resources drillbit created in the emulator; left behind: {}",
                    n - left.len(),
                    left.join("; ")
                )
            });
        }
        let calls = e.layer.calls();
        let mut csv = String::from("service,region,operation,status,rule,client\n");
        for call in &calls {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                call.service,
                call.region,
                call.operation,
                call.status,
                call.rule.as_deref().unwrap_or(""),
                call.client
            ));
        }
        let _ = crate::report::write_atomic(&e.calls_path, &csv);
        if let Some(mut m) = e.moto.take() {
            m.stop();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut m) = self.moto.take() {
            m.stop();
        }
    }
}

impl Backend for Emulator {
    type Timer = Timer;
    type Msg = ();
    const NAME: &'static str = "emulator";

    fn inject(&mut self, c: &mut Core<Self>, fault: usize, _now: Time) -> Result<(), TargetError> {
        // The FIS experiment starts with the first fault (moto records it; the fault layer
        // makes it real).
        let token = format!("drillbit-start-{}", std::process::id());
        for (region, r) in c.start_experiments(&token) {
            if let Err(e) = r {
                c.notes.push(format!("FIS experiment not started in {region}: {e}"));
                if let Some(x) = c.fis.iter_mut().find(|x| x.region == region) {
                    x.template = None;
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
                    if let Some(delay) = Self::detection_delay(c) {
                        c.timer(c.now().plus(delay), Timer::Detected(fault));
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
        c.emit(c.now(), Event::FaultActive { fault });
        Ok(())
    }

    fn repair(&mut self, c: &mut Core<Self>, fault: usize, _now: Time) -> Result<(), TargetError> {
        self.scan_fault_effects(c);
        match &self.faults[fault] {
            FaultPlan::Rules { .. } => {
                self.layer.remove_label(&format!("fault-{fault}"));
                self.layer.remove_label(&format!("health-{fault}"));
                self.failed_health.retain(|(f, _)| *f != fault);
            }
            FaultPlan::HealthCheckPasses => {
                self.hc_passes = false;
                for (f, region) in self.failed_health.clone() {
                    self.override_health(c, f, &region);
                }
            }
        }
        self.dirty = true;
        c.emit(c.now(), Event::FaultRepaired { fault });
        Ok(())
    }

    fn observe(&mut self, c: &mut Core<Self>) -> Result<(), TargetError> {
        if self.dirty {
            self.dirty = false;
            self.refresh(c);
        }
        self.scan_fault_effects(c);
        Ok(())
    }

    fn on_timer(&mut self, c: &mut Core<Self>, _at: Time, t: Timer) {
        match t {
            Timer::Probe => {
                let ok = self.probe_ok(c);
                c.emit(c.now(), Event::Probe { ok });
                c.timer(c.now().plus(self.probe_interval), Timer::Probe);
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
                self.override_health(c, fault, &region);
                c.emit(
                    c.now(),
                    Event::Alarm {
                        source: AlarmSource::HealthCheck,
                    },
                );
                self.dirty = true;
            }
        }
    }

    fn on_msg(&mut self, _c: &mut Core<Self>, _at: Time, _m: ()) {}

    fn action_done(&mut self) {
        self.dirty = true;
    }

    fn ledger(&mut self, _c: &mut Core<Self>, _end: Time) -> Result<Ledger, TargetError> {
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
    let mut target = start(loaded, &plan, opts)?;
    let mut tl = Timeline::new(true);
    tl.watch = opts.live.clone();
    let measured = crate::drill::run_on(&mut Engine::new(), &plan, &mut target, &mut tl);
    target.teardown();
    let m = measured?;
    let notes = std::mem::take(&mut target.core.notes);
    Ok(adapter::scorecard(
        loaded,
        &plan,
        "emulator",
        seed,
        (&tl, &m),
        notes,
        ("emulator start", started),
    ))
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
    let rt = adapter::runtime()?;
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
    let (mut env, _) = adapter::envs(&rt, &s, &conn, None, Duration::from_millis(100));
    if rt.block_on(crate::targets::live::has_moto_extension(&env.clients)) {
        env.caps = Some(&crate::targets::live::MOTO_EXTENDED);
    }
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
