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

pub mod faultlayer;
pub mod moto;

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::Ledger;
use crate::engine::{
    ActionResult, AlarmSource, Engine, Event, Operator, Plan, Poll, StepAnswer, Target, TargetError, Time, Timeline,
    Watch,
};
use crate::scenario::{Action, Resource, Scenario, Step};
use crate::targets::emulator::faultlayer::{Effect, FaultLayer, Match};
use crate::targets::live::actions::{self, Done, Env, Names};
use crate::targets::live::{observe, Clients, Connection};

/// An API fault from the command line: `service=rds,operation=PromoteReadReplica,
/// error=Throttling,count=2` (also `region=`, `status=`, `latency=500ms`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFault {
    pub matches: Match,
    pub effect: Effect,
    pub count: Option<u32>,
}

impl std::str::FromStr for ApiFault {
    type Err = String;
    fn from_str(s: &str) -> Result<ApiFault, String> {
        let mut m = Match::default();
        let (mut error, mut status, mut latency, mut count) = (None, None, None, None);
        for kv in s.split(',').map(str::trim).filter(|kv| !kv.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("`{kv}`: expected key=value"))?;
            let v = v.trim().to_string();
            match k.trim() {
                "service" => m.service = Some(v),
                "region" => m.region = Some(v),
                "operation" => m.operation = Some(v),
                "resource" => m.contains = Some(v),
                "error" => error = Some(v),
                "status" => status = Some(v.parse::<u16>().map_err(|_| format!("status `{v}`: expected an HTTP status"))?),
                "latency" => {
                    let d = crate::scenario::duration::parse_duration(&v).map_err(|e| format!("latency `{v}`: {e}"))?;
                    latency = Some(Duration::from_micros(d.0));
                }
                "count" => count = Some(v.parse::<u32>().map_err(|_| format!("count `{v}`: expected a number"))?),
                other => {
                    return Err(format!(
                        "unknown key `{other}` (expected service, region, operation, resource, error, status, latency, count)"
                    ))
                }
            }
        }
        if m.service.is_none() && m.region.is_none() {
            return Err("an API fault needs at least `service=` or `region=`".into());
        }
        let effect = match (error, latency) {
            (Some(code), None) => {
                let status = status.unwrap_or(if code.contains("Unavailable") { 503 } else { 400 });
                Effect::Error {
                    status,
                    message: format!("injected by drillbit: {code}"),
                    code,
                }
            }
            (None, Some(d)) => Effect::Latency(d),
            (None, None) => Effect::Drop,
            (Some(_), Some(_)) => return Err("give `error=` or `latency=`, not both".into()),
        };
        Ok(ApiFault {
            matches: m,
            effect,
            count,
        })
    }
}

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

/// How a manual runbook step is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualPolicy {
    /// The step's duration from the scenario (its median), on the modelled clock.
    Scenario,
    /// Approved at once (`--auto-approve`).
    AutoApprove,
    /// The operator carries the step out and says so; the wait is measured (`--game-day`).
    Prompt,
}

/// How each scenario fault is carried out here.
#[derive(Debug, Clone)]
enum FaultPlan {
    /// Rules for the fault layer, and the region whose health checks fail (after detection).
    Rules {
        rules: Vec<(Match, Effect)>,
        fails_health_of: Option<String>,
    },
    HealthCheckPasses,
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
    steps: Vec<Step>,
    faults: Vec<FaultPlan>,
    now: Time,
    timers: BinaryHeap<Reverse<(Time, u64, Timer)>>,
    seq: u64,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    running: HashMap<usize, tokio::task::JoinHandle<()>>,
    out: VecDeque<Event>,
    dirty: bool,
    /// Which region each region's requests reach; updated by refresh.
    serving: [bool; 2],
    answer: Option<String>,
    client_region: Option<String>,
    dns_changes: u64,
    traffic_switched: bool,
    record: Option<(String, f64)>,
    hc_passes: bool,
    failed_health: Vec<(usize, String)>,
    probe_interval: Time,
    abort: Arc<AtomicBool>,
    fis: Option<(String, String)>,
    pub notes: Vec<String>,
    pub calls_path: PathBuf,
    manual: ManualPolicy,
    operator: Arc<dyn Operator>,
    /// Delete what the drill created at teardown (an external emulator without --keep-env).
    clean_up: bool,
}

fn infra(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Infrastructure(format!("{what}: {e}"))
}

fn health_status_xml(region: &str) -> String {
    let now = crate::timestamp::format_utc(crate::timestamp::now());
    format!(
        "<?xml version=\"1.0\"?>\n<GetHealthCheckStatusResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><HealthCheckObservations><HealthCheckObservation><Region>{region}</Region><IPAddress>192.0.2.10</IPAddress><StatusReport><Status>Failure: Connection timed out. The endpoint or the internet connection is down (drillbit fault)</Status><CheckedTime>{now}</CheckedTime></StatusReport></HealthCheckObservation></HealthCheckObservations></GetHealthCheckStatusResponse>"
    )
}

fn plan_faults(s: &Scenario) -> Result<Vec<FaultPlan>, TargetError> {
    let (p, d) = (&s.topology.primary_region, &s.topology.dr_region);
    let mut out = Vec::new();
    for f in &s.faults {
        let res = f.resource.as_deref().and_then(|r| s.resource(r));
        let err = |status: u16, code: &str, msg: String| Effect::Error {
            status,
            code: code.into(),
            message: msg,
        };
        let on = |region: &str, service: &str, contains: &str| Match {
            region: Some(region.to_string()),
            service: Some(service.to_string()),
            operation: None,
            contains: Some(contains.to_string()),
            except_services: Vec::new(),
        };
        let unsupported = |why: &str| {
            TargetError::Infrastructure(format!(
                "fault `{}` ({}) is unsupported on the emulator target: {why}",
                f.id,
                f.kind.as_str()
            ))
        };
        use crate::scenario::FaultType as F;
        let plan = match (f.kind, res) {
            (F::RegionOutage, _) => {
                let region = f.region.clone().unwrap_or(p.clone());
                FaultPlan::Rules {
                    // Route 53 is global: its DNS answers and health checks go on, and its API
                    // stays up (in AWS its control plane lives in us-east-1; drillbit models the
                    // data-plane failover AWS recommends, not a control-plane outage).
                    rules: vec![(
                        Match {
                            region: Some(region.clone()),
                            except_services: vec!["route53".into()],
                            ..Match::default()
                        },
                        Effect::Drop,
                    )],
                    fails_health_of: Some(region),
                }
            }
            (F::DbPrimaryFailure, Some(Resource::RdsInstance(db))) => FaultPlan::Rules {
                rules: vec![(
                    on(p, "rds", &db.instance),
                    err(
                        400,
                        "InvalidDBInstanceState",
                        format!("{} has failed (drillbit fault)", db.instance),
                    ),
                )],
                fails_health_of: Some(p.clone()),
            },
            (F::DbPrimaryFailure, Some(Resource::AuroraGlobal(a))) => FaultPlan::Rules {
                rules: vec![(
                    on(p, "rds", &a.primary_cluster),
                    err(
                        400,
                        "InvalidDBClusterStateFault",
                        format!("{} has failed (drillbit fault)", a.primary_cluster),
                    ),
                )],
                fails_health_of: Some(p.clone()),
            },
            (F::HealthCheckPassing, _) => FaultPlan::HealthCheckPasses,
            (F::DrDrift, Some(r)) => {
                let (service, id, status, code) = match r {
                    Resource::RdsReadReplica(rr) => ("rds", rr.instance.clone(), 404, "DBInstanceNotFound"),
                    Resource::RdsInstance(db) => ("rds", db.instance.clone(), 404, "DBInstanceNotFound"),
                    Resource::EcsService(e) => ("ecs", e.dr.service.clone(), 400, "ServiceNotFoundException"),
                    Resource::AutoScalingGroup(g) => ("autoscaling", g.dr.name.clone(), 400, "ValidationError"),
                    Resource::DynamodbGlobalTable(t) => ("dynamodb", t.table.clone(), 400, "ResourceNotFoundException"),
                    Resource::AuroraGlobal(a) => ("rds", a.secondary_cluster.clone(), 404, "DBClusterNotFoundFault"),
                    other => return Err(unsupported(&format!("no DR drift for a {}", other.kind()))),
                };
                FaultPlan::Rules {
                    rules: vec![(
                        on(d, service, &id),
                        err(
                            status,
                            code,
                            format!("{id} not found in {d} (drillbit fault: DR drift)"),
                        ),
                    )],
                    fails_health_of: None,
                }
            }
            (F::ScaleOutBlocked, Some(r)) => {
                let (service, op, id, code) = match r {
                    Resource::EcsService(e) => (
                        "ecs",
                        "UpdateService",
                        e.dr.service.clone(),
                        "CapacityUnavailableException",
                    ),
                    Resource::AutoScalingGroup(g) => (
                        "autoscaling",
                        "UpdateAutoScalingGroup",
                        g.dr.name.clone(),
                        "InsufficientInstanceCapacity",
                    ),
                    other => return Err(unsupported(&format!("no scale-out for a {}", other.kind()))),
                };
                let m = Match {
                    operation: Some(op.into()),
                    ..on(d, service, &id)
                };
                let effect = match &f.delay {
                    Some(delay) => Effect::Latency(Duration::from_secs_f64(delay.median_secs())),
                    None => err(400, code, format!("no capacity to scale {id} in {d} (drillbit fault)")),
                };
                FaultPlan::Rules {
                    rules: vec![(m, effect)],
                    fails_health_of: None,
                }
            }
            (kind, _) => {
                return Err(unsupported(match kind {
                    F::AzOutage => "an emulator has no availability zones to fail",
                    F::ReplicationPause | F::ReplicationLagSpike => "nothing replicates in an emulator",
                    F::DataCorruption => "an emulator holds no data to corrupt",
                    _ => "the fault names no resource the emulator holds",
                }))
            }
        };
        out.push(plan);
    }
    Ok(out)
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
        let fis = rt.block_on(create_fis_template(&env, &tpl.json));
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
            steps: s.all_steps().cloned().collect(),
            faults,
            now: Time::ZERO,
            timers: BinaryHeap::new(),
            seq: 0,
            tx,
            rx,
            running: HashMap::new(),
            out: VecDeque::new(),
            dirty: true,
            calls_seen: 0,
            effect_seen: vec![false; s.faults.len()],
            serving: [false; 2],
            answer: None,
            client_region: None,
            dns_changes: 0,
            traffic_switched: false,
            record,
            hc_passes: false,
            failed_health: Vec::new(),
            probe_interval: plan.probe_interval,
            abort: opts.abort.clone(),
            fis: fis.ok().map(|id| (id, String::new())),
            notes,
            calls_path: opts.out_dir.join("api-calls.csv"),
            manual: opts.manual,
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
        if t.client_region.as_deref() != Some(primary.as_str()) || !t.serving[0] {
            let env = t.observe_env.clone();
            let why =
                t.rt.block_on(observe::region_serves(&env, &primary))
                    .err()
                    .unwrap_or_else(|| format!("clients are sent to {:?}", t.client_region));
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
        self.seq += 1;
        self.timers.push(Reverse((at, self.seq, t)));
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
                Some((id, _)) => observe::dns_answer(&env, id).await.ok(),
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
        if answer != self.answer {
            let first = self.answer.is_none();
            self.answer = answer.clone();
            self.dns_changes += 1;
            if first {
                self.client_region = answer;
            } else {
                // Clients follow after their cached answer expires.
                let ttl = self.record.as_ref().map_or(0.0, |r| r.1);
                let at = self.now.plus(Time::from_secs(ttl));
                let n = self.dns_changes;
                self.timer(at, Timer::DnsSettled(n));
            }
        }
    }

    fn probe_ok(&self) -> bool {
        self.client_region
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
                if n == self.dns_changes {
                    self.client_region = self.answer.clone();
                    let dr = &self.env.scenario.topology.dr_region;
                    if !self.traffic_switched && self.client_region.as_ref() == Some(dr) {
                        self.traffic_switched = true;
                        self.out.push_back(Event::TrafficSwitched);
                    }
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
        for (_, h) in self.running.drain() {
            h.abort();
        }
        self.layer.clear();
        if let Some((_, exp)) = &self.fis {
            if !exp.is_empty() {
                let env = self.env.clone();
                let exp = exp.clone();
                let r = self
                    .rt
                    .block_on(async { env.clients.primary.fis.stop_experiment().id(&exp).send().await });
                if let Err(e) = r {
                    let e = crate::targets::live::api_error("StopExperiment", e);
                    // A finished experiment cannot be stopped: that is fine.
                    if !e.to_string().contains("ResourceNotFound") && !e.to_string().contains("completed") {
                        self.notes.push(format!("FIS experiment {exp}: {e}"));
                    }
                }
            }
        }
        if self.clean_up {
            let n = self.env.names().created.len();
            let env = self.env.clone();
            let left = self.rt.block_on(crate::targets::live::deprovision::deprovision(&env));
            for l in &left {
                self.operator.say(&format!("left behind in the emulator: {l}"));
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

/// How a live AWS target (emulator, aws) carries out a runbook step.
pub(crate) enum StepRun {
    /// probe-until-healthy: the engine ends it from the client probes.
    Probes,
    /// Game day: the operator carries it out and says so.
    Operator,
    /// A manual step or a wait that ends by itself after this many seconds.
    After(f64),
    /// SDK calls and a wait for the resulting state (`live::actions::run`).
    Api,
}

impl StepRun {
    pub(crate) fn of(st: &Step, policy: ManualPolicy) -> StepRun {
        match (st.action, policy) {
            (Action::ProbeUntilHealthy, _) => StepRun::Probes,
            (Action::Manual, ManualPolicy::Prompt) => StepRun::Operator,
            (Action::Manual, ManualPolicy::AutoApprove) => StepRun::After(0.0),
            (Action::Manual | Action::Wait, _) => StepRun::After(st.duration.as_ref().map_or(0.0, |d| d.median_secs())),
            _ => StepRun::Api,
        }
    }

    /// Starts an operator or API step on the runtime; `done` receives how it ended.
    pub(crate) fn spawn(
        self,
        rt: &tokio::runtime::Runtime,
        env: &Env,
        operator: &Arc<dyn Operator>,
        st: Step,
        done: impl FnOnce(Done) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        match self {
            StepRun::Operator => {
                let what = st.description.clone().unwrap_or_else(|| st.id.clone());
                let operator = operator.clone();
                rt.spawn_blocking(move || {
                    done(match operator.manual_step(&st.id, &what) {
                        StepAnswer::Done => Done::Ok,
                        StepAnswer::Failed(why) => Done::Failed(why),
                    })
                })
            }
            _ => {
                let env = env.clone();
                rt.spawn(async move { done(actions::run(&env, &st).await) })
            }
        }
    }
}

/// How a live target's step got going.
pub(crate) enum Started {
    /// Nothing to run: a probe-until-healthy step ends on the probes.
    Nothing,
    /// Done by itself this many seconds from now (a wait, a manual step's duration).
    After(f64),
    /// An API action or the operator's answer, in flight; it reports through `done`.
    Running(tokio::task::JoinHandle<()>),
}

/// Starts a runbook step of a live target (emulator, aws) as `StepRun::of` says.
pub(crate) fn start_step(
    st: &Step,
    manual: ManualPolicy,
    operator: &Arc<dyn Operator>,
    rt: &tokio::runtime::Runtime,
    env: &Env,
    done: impl FnOnce(Done) + Send + 'static,
) -> Started {
    match StepRun::of(st, manual) {
        StepRun::Probes => Started::Nothing,
        StepRun::After(d) => Started::After(d),
        run => Started::Running(run.spawn(rt, env, operator, st.clone(), done)),
    }
}

pub(crate) async fn create_fis_template(env: &Env, tpl: &serde_json::Value) -> Result<String, String> {
    use aws_sdk_fis::types::{
        CreateExperimentTemplateActionInput, CreateExperimentTemplateStopConditionInput,
        CreateExperimentTemplateTargetInput,
    };
    let c = &env.clients.primary.fis;
    let mut req = c
        .create_experiment_template()
        .client_token(format!("drillbit-{}", std::process::id()))
        .description(tpl["description"].as_str().unwrap_or("drillbit"))
        .role_arn(tpl["roleArn"].as_str().unwrap_or_default());
    for sc in tpl["stopConditions"].as_array().into_iter().flatten() {
        req = req.stop_conditions(
            CreateExperimentTemplateStopConditionInput::builder()
                .source(sc["source"].as_str().unwrap_or("none"))
                .set_value(sc["value"].as_str().map(String::from))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for (name, t) in tpl["targets"].as_object().into_iter().flatten() {
        let mut b = CreateExperimentTemplateTargetInput::builder()
            .resource_type(t["resourceType"].as_str().unwrap_or_default())
            .selection_mode(t["selectionMode"].as_str().unwrap_or("ALL"));
        for arn in t["resourceArns"].as_array().into_iter().flatten() {
            b = b.resource_arns(arn.as_str().unwrap_or_default());
        }
        for (k, v) in t["resourceTags"].as_object().into_iter().flatten() {
            b = b.resource_tags(k, v.as_str().unwrap_or_default());
        }
        for (k, v) in t["parameters"].as_object().into_iter().flatten() {
            b = b.parameters(k, v.as_str().unwrap_or_default());
        }
        req = req.targets(name, b.build().map_err(|e| e.to_string())?);
    }
    for (name, a) in tpl["actions"].as_object().into_iter().flatten() {
        let mut b =
            CreateExperimentTemplateActionInput::builder().action_id(a["actionId"].as_str().unwrap_or_default());
        for (k, v) in a["parameters"].as_object().into_iter().flatten() {
            b = b.parameters(k, v.as_str().unwrap_or_default());
        }
        for (k, v) in a["targets"].as_object().into_iter().flatten() {
            b = b.targets(k, v.as_str().unwrap_or_default());
        }
        for s in a["startAfter"].as_array().into_iter().flatten() {
            b = b.start_after(s.as_str().unwrap_or_default());
        }
        req = req.actions(name, b.build().map_err(|e| e.to_string())?);
    }
    for (k, v) in tpl["tags"].as_object().into_iter().flatten() {
        req = req.tags(k, v.as_str().unwrap_or_default());
    }
    let out = req
        .send()
        .await
        .map_err(|e| crate::targets::live::api_error("CreateExperimentTemplate", e).to_string())?;
    out.experiment_template()
        .and_then(|t| t.id())
        .map(String::from)
        .ok_or_else(|| "no template id in the answer".to_string())
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
        if let Some((tpl, exp)) = self.fis.clone() {
            if exp.is_empty() {
                let env = self.env.clone();
                let r = self.rt.block_on(async {
                    env.clients
                        .primary
                        .fis
                        .start_experiment()
                        .experiment_template_id(&tpl)
                        .client_token(format!("drillbit-start-{}", std::process::id()))
                        .send()
                        .await
                });
                match r {
                    Ok(out) => {
                        let id = out.experiment().and_then(|e| e.id()).unwrap_or_default().to_string();
                        self.notes
                            .push(format!("FIS experiment {id} started from template {tpl}"));
                        self.fis = Some((tpl, id));
                    }
                    Err(e) => {
                        self.notes.push(format!(
                            "FIS experiment not started: {}",
                            crate::targets::live::api_error("StartExperiment", e)
                        ));
                        self.fis = None;
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
        match start_step(
            &self.steps[step],
            self.manual,
            &self.operator,
            &self.rt,
            &self.env,
            move |done| {
                let _ = tx.send(Msg { step, attempt, done });
            },
        ) {
            Started::Nothing => {}
            Started::After(d) => self.timer(self.now.plus(Time::from_secs(d)), Timer::StepDone(step, attempt)),
            // The operator's wait is real: the clock runs at wall speed until the answer.
            Started::Running(h) => {
                self.running.insert(step, h);
            }
        }
        Ok(())
    }

    fn cancel_action(&mut self, step: usize, _now: Time) {
        if let Some(h) = self.running.remove(&step) {
            h.abort();
        }
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
            let next_timer = self.timers.peek().map_or(Time::MAX, |Reverse((t, _, _))| *t);
            let next = next_timer.min(deadline);
            if !self.running.is_empty() {
                // A real call is in flight: time runs at wall speed until the next timer.
                let wait = Duration::from_micros(next.since(self.now).0).min(Duration::from_millis(50));
                let started = Instant::now();
                let got = self.rx.recv_timeout(wait);
                let elapsed = Time(started.elapsed().as_micros() as u64);
                self.now = self.now.plus(elapsed).min(next.max(self.now));
                match got {
                    Ok(m) => {
                        self.now = self.now.plus(Time(0));
                        self.running.remove(&m.step);
                        let result = match m.done {
                            Done::Ok => ActionResult::Ok,
                            Done::Failed(why) => ActionResult::Failed(Cow::Owned(why)),
                            Done::Unsupported(why) => ActionResult::Unsupported(Cow::Owned(why)),
                        };
                        self.dirty = true;
                        self.out.push_back(Event::ActionDone {
                            step: m.step,
                            attempt: m.attempt,
                            result,
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
                if let Some(Reverse((_, _, t))) = self.timers.pop() {
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
