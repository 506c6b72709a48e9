//! The `local` target: real failover drills on one machine.
//!
//! Two ways to get a topology:
//! - **Built**: the scenario's database becomes a PostgreSQL primary and a streaming standby
//!   (`pg.rs`) reached through a link proxy, its Route 53 record becomes drillbit's TCP router
//!   (`router.rs`), and the runbook promotes and repoints for real.
//! - **Bound**: the database resource has `bind: { connection: ... }`, a system drillbit did not
//!   build (an HA manager, a libpq multi-host endpoint). drillbit injects faults (by pid file or
//!   command), writes, probes and measures exactly as for its own topology, and never assumes
//!   it is the one promoting: promotion and repointing steps are reported unsupported there.
//!
//! In both, a real client writes and probes (`workload.rs`) and the shared engine measures on
//! the monotonic clock. Resources and actions with no local counterpart are reported
//! "unsupported on the local target", never silently dropped.

pub mod guard;
pub mod hosts;
pub mod pg;
pub(crate) mod procs;
pub mod router;
pub mod services;
pub mod workload;

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::{
    ActionResult, AlarmSource, Engine, Event, HostState, Plan, Poll, Target, TargetError, Time, Timeline,
};
use crate::measure::Ledger;
use crate::scenario::{
    Action, FaultType, LocalFault, LocalFaultSpec, Replication, Resource, Scenario, Signal, COMMAND_TIMEOUT_DEFAULT_S,
};
use pg::{Cluster, ClusterOptions, PgBinaries, SyncMode};
use router::{LinkMode, Router};
use services::Service;
use workload::{Workload, WorkloadConfig};

pub struct LocalOptions {
    pub out_dir: PathBuf,
    pub keep_env: bool,
    pub abort: Arc<AtomicBool>,
    /// Run the rollback steps after recovery.
    pub failback: bool,
    /// The drill's seed: it sets the probe schedule's phase.
    pub seed: u64,
}

/// A fraction in [0, 1) from a seed (SplitMix64).
fn phase_fraction(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// How each fault of the scenario is carried out here.
#[derive(Debug, Clone)]
enum FaultPlan {
    Primary(LocalFault),
    SlowLink(Duration),
    PauseReplay,
    HealthCheckPasses,
    Pidfile {
        path: PathBuf,
        signal: Signal,
        pid: Option<i32>,
    },
    Command {
        command: String,
        repair: Option<String>,
        timeout: Duration,
    },
}

struct HealthCheck {
    interval: Duration,
    threshold: u32,
    automatic: bool,
}

/// What drillbit built, or the endpoint of what it was bound to.
enum Topology {
    Built {
        cluster: Arc<Mutex<Cluster>>,
        router: Arc<Router>,
        link: Arc<Router>,
        /// Where the router sends clients of each region: the region's load balancer when
        /// the scenario has a service, else the region's database.
        primary_addr: SocketAddr,
        standby_addr: SocketAddr,
        standby_conninfo: String,
        /// The service in each region (ECS tasks or ASG instances as processes), if any.
        services: Option<[Arc<Mutex<Service>>; 2]>,
    },
    Bound {
        conninfo: String,
    },
}

pub struct LocalTarget {
    rt: tokio::runtime::Runtime,
    start: Instant,
    tx: Sender<(Instant, Event)>,
    rx: Receiver<(Instant, Event)>,
    topology: Topology,
    workload: Option<Workload>,
    faults: Vec<FaultPlan>,
    hc_passes: Arc<AtomicBool>,
    stop_tasks: Arc<AtomicBool>,
    steps: Vec<(Action, Option<crate::scenario::Dist>)>,
    desired: Vec<Option<u32>>,
    /// Steps that promote the primary-side copy (failback) rather than the DR replica.
    promotes_primary: Vec<bool>,
    abort: Arc<AtomicBool>,
    keep_env: bool,
    torn_down: bool,
    /// What teardown could not undo; `run` reports it instead of hiding it.
    cleanup_problems: Vec<String>,
    /// Every database host, watched directly through the drill (split brain, effects).
    hosts: Vec<hosts::Host>,
    stop_watch: Arc<AtomicBool>,
    /// How long a fault may take to show its effect (the engine's bound).
    effect_within: Duration,
    /// What the read-back found per host, for the scorecard's notes.
    pub notes: Vec<String>,
    /// Cleans up if drillbit dies without its teardown; the last field, so dropped last.
    guard: Option<guard::Guard>,
}

fn infra(step: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Infrastructure(format!("{step}: {e}"))
}

fn plan_faults(s: &Scenario, bound: bool) -> Result<Vec<FaultPlan>, TargetError> {
    let mut faults = Vec::new();
    for f in &s.faults {
        let unsupported = |why: &str| {
            TargetError::Infrastructure(format!(
                "fault `{}` ({}) is unsupported on the local target{why}",
                f.id,
                f.kind.as_str()
            ))
        };
        let plan = match (&f.local, f.kind) {
            (Some(LocalFaultSpec::Pidfile { pidfile, signal }), _) => FaultPlan::Pidfile {
                path: PathBuf::from(pidfile),
                signal: *signal,
                pid: None,
            },
            (
                Some(LocalFaultSpec::Command {
                    command,
                    repair,
                    timeout,
                }),
                _,
            ) => FaultPlan::Command {
                command: command.clone(),
                repair: repair.clone(),
                timeout: timeout.map_or(Duration::from_secs(COMMAND_TIMEOUT_DEFAULT_S), |t| {
                    Duration::from_micros(t.dur().micros())
                }),
            },
            (_, FaultType::HealthCheckPassing) if !bound => FaultPlan::HealthCheckPasses,
            _ if bound => {
                return Err(unsupported(
                    ": a bound system needs `local: { pidfile: ... }` or `local: { command: ... }`",
                ))
            }
            (Some(LocalFaultSpec::Method(LocalFault::SlowLink)), _) => {
                let lag = f.lag.as_ref().map_or(0.2, |d| d.median_secs());
                FaultPlan::SlowLink(Duration::from_secs_f64(lag))
            }
            (Some(LocalFaultSpec::Method(m)), _) => FaultPlan::Primary(*m),
            (None, FaultType::RegionOutage) => FaultPlan::Primary(LocalFault::KillAll),
            (None, FaultType::DbPrimaryFailure) => FaultPlan::Primary(LocalFault::KillPostmaster),
            (None, FaultType::ReplicationPause | FaultType::ReplicationLagSpike) => FaultPlan::PauseReplay,
            (None, _) => return Err(unsupported("")),
        };
        faults.push(plan);
    }
    Ok(faults)
}

/// A connection string fit to print: a password (`password=...` or a URL's `user:pass@`)
/// becomes `***`.
pub fn redacted(conninfo: &str) -> String {
    let Some((scheme, rest)) = conninfo.split_once("://") else {
        return redact_pairs(conninfo);
    };
    let (auth, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let auth = match auth
        .rsplit_once('@')
        .and_then(|(cred, host)| Some((cred.split_once(':')?.0, host)))
    {
        Some((user, host)) => format!("{user}:***@{host}"),
        None => auth.to_string(),
    };
    format!("{scheme}://{auth}{}", redact_pairs(tail))
}

/// `password=VALUE` (bare or single-quoted, in key/value text or a URL query) -> `password=***`.
fn redact_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("password") {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        out.push_str("password");
        let after = &after["password".len()..];
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix('=') else {
            rest = after;
            continue;
        };
        out.push_str("=***");
        let value = value.trim_start();
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut esc = false;
            let mut n = quoted.len();
            for (j, c) in quoted.char_indices() {
                match (esc, c) {
                    (true, _) => esc = false,
                    (false, '\\') => esc = true,
                    (false, '\'') => {
                        n = j + 1;
                        break;
                    }
                    _ => {}
                }
            }
            1 + n
        } else {
            value
                .find(|c: char| c.is_whitespace() || c == '&')
                .unwrap_or(value.len())
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

async fn prepare_bound(conninfo: &str) -> Result<(), String> {
    let client = pg::client::connect(conninfo, Duration::from_secs(10))
        .await
        .map_err(|e| match e {
            pg::client::ConnectError::TimedOut => format!("connecting to {} timed out", redacted(conninfo)),
            e => format!("connecting to {}: {e}", redacted(conninfo)),
        })?;
    // drillbit owns these two tables on the bound database; each drill starts them empty.
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS drill_ledger (seq bigint PRIMARY KEY, acked_at timestamptz NOT NULL DEFAULT clock_timestamp());
             CREATE TABLE IF NOT EXISTS drill_probe (id int PRIMARY KEY, n bigint, at timestamptz);
             TRUNCATE drill_ledger, drill_probe;",
        )
        .await
        .map_err(|e| format!("preparing the drill tables: {e}"))
}

impl LocalTarget {
    /// Stands up (or binds to) the topology, starts the workload and, when the record has one,
    /// the health checker.
    pub fn start(s: &Scenario, plan: &Plan, opts: &LocalOptions) -> Result<LocalTarget, TargetError> {
        let bound = s.topology.resources.iter().find_map(|r| match r {
            Resource::RdsInstance(db) => db.bind.as_ref().and_then(|b| b.connection.clone()),
            Resource::AuroraGlobal(db) => db.bind.as_ref().and_then(|b| b.connection.clone()),
            _ => None,
        });
        let faults = plan_faults(s, bound.is_some())?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| infra("tokio runtime", e))?;
        let handle = rt.handle().clone();
        let (tx, rx) = channel();
        let hc_passes = Arc::new(AtomicBool::new(false));
        let stop_tasks = Arc::new(AtomicBool::new(false));
        std::fs::create_dir_all(&opts.out_dir).map_err(|e| infra("output directory", e))?;
        // Before anything is started: what this drill starts dies with it, even by SIGKILL.
        let guard = guard::Guard::start(&std::env::temp_dir()).map_err(|e| infra("the drill's guard", e))?;

        let (topology, client_conninfo) = match bound {
            Some(conninfo) => {
                // Split first: a bad connection string is refused before anything is touched.
                hosts::split(&conninfo).map_err(|e| infra("the bound connection string", e))?;
                rt.block_on(prepare_bound(&conninfo))
                    .map_err(|e| infra("bound database", e))?;
                (
                    Topology::Bound {
                        conninfo: conninfo.clone(),
                    },
                    conninfo,
                )
            }
            None => {
                let (topology, client) = build_topology(s, &handle, opts.keep_env)?;
                (topology, client)
            }
        };
        let start = Instant::now();
        let workload = Workload::start(
            &handle,
            WorkloadConfig {
                conninfo: client_conninfo,
                writes_per_second: s.workload.writes_per_second,
                probe_interval: Duration::from_micros(plan.probe_interval.0),
                // Faults are scheduled on whole drill times; probing on the same grid would bias
                // every measured RTO by the same fraction of a probe interval. The seed picks the
                // phase, as the simulator's does.
                probe_offset: Duration::from_micros(plan.probe_interval.0).mul_f64(phase_fraction(opts.seed)),
                ledger_path: Some(opts.out_dir.join("ledger.csv")),
                start,
            },
            tx.clone(),
        );
        let watched = match &topology {
            Topology::Bound { conninfo } => {
                hosts::split(conninfo).map_err(|e| infra("the bound connection string", e))?
            }
            Topology::Built {
                cluster,
                standby_conninfo,
                ..
            } => {
                let primary = cluster
                    .lock()
                    .map_err(|_| infra("cluster", "lock poisoned"))?
                    .primary
                    .conninfo();
                vec![
                    hosts::Host {
                        label: "primary".into(),
                        conninfo: format!("{primary} connect_timeout=2"),
                    },
                    hosts::Host {
                        label: "standby".into(),
                        conninfo: format!("{standby_conninfo} connect_timeout=2"),
                    },
                ]
            }
        };
        let stop_watch = Arc::new(AtomicBool::new(false));
        let every =
            Duration::from_micros(plan.probe_interval.0).clamp(Duration::from_millis(50), Duration::from_millis(250));
        for (n, h) in watched.iter().enumerate() {
            handle.spawn(hosts::watch(
                n,
                h.conninfo.clone(),
                every,
                tx.clone(),
                stop_watch.clone(),
            ));
        }
        if let Topology::Built {
            cluster,
            router,
            standby_addr,
            ..
        } = &topology
        {
            let hc = s.topology.resources.iter().find_map(|r| match r {
                Resource::Route53Record(rec) => rec.health_check.as_ref().map(|h| HealthCheck {
                    interval: Duration::from_micros(h.interval.0 .0),
                    threshold: h.failure_threshold,
                    automatic: rec.automatic.unwrap_or(true),
                }),
                _ => None,
            });
            if let Some(hc) = hc {
                let primary = cluster
                    .lock()
                    .map_err(|_| infra("cluster", "lock poisoned"))?
                    .primary
                    .conninfo();
                handle.spawn(health_check(
                    hc,
                    primary,
                    *standby_addr,
                    router.clone(),
                    hc_passes.clone(),
                    stop_tasks.clone(),
                    tx.clone(),
                ));
            }
        }
        Ok(LocalTarget {
            rt,
            start,
            tx,
            rx,
            topology,
            workload: Some(workload),
            faults,
            hc_passes,
            stop_tasks,
            steps: s.all_steps().map(|st| (st.action, st.duration.clone())).collect(),
            desired: s.all_steps().map(|st| st.desired).collect(),
            promotes_primary: s
                .all_steps()
                .map(|st| {
                    st.resource
                        .as_deref()
                        .and_then(|r| s.resource(r))
                        .is_some_and(|r| matches!(r, Resource::RdsInstance(_)))
                })
                .collect(),
            abort: opts.abort.clone(),
            keep_env: opts.keep_env,
            torn_down: false,
            cleanup_problems: Vec::new(),
            hosts: watched,
            stop_watch,
            effect_within: Duration::from_micros(plan.effect_within.0),
            notes: Vec::new(),
            guard: Some(guard),
        })
    }

    fn at(&self, i: Instant) -> Time {
        Time(i.saturating_duration_since(self.start).as_micros() as u64)
    }

    fn with_cluster<T>(&self, f: impl FnOnce(&Cluster) -> Result<T, pg::PgError>) -> Result<T, TargetError> {
        let Topology::Built { cluster, .. } = &self.topology else {
            return Err(infra("fault", "no PostgreSQL built by drillbit on a bound system"));
        };
        let c = cluster
            .lock()
            .map_err(|_| TargetError::Infrastructure("cluster lock poisoned".into()))?;
        f(&c).map_err(|e| infra("fault", e))
    }

    fn link(&self) -> Result<&Router, TargetError> {
        match &self.topology {
            Topology::Built { link, .. } => Ok(link),
            Topology::Bound { .. } => Err(infra("fault", "no replication link on a bound system")),
        }
    }

    /// Stops processes and (unless kept) removes the temporary directory. Returns where the data
    /// directories are when they were kept. Idempotent.
    pub fn teardown(&mut self) -> Option<PathBuf> {
        if self.torn_down {
            return None;
        }
        self.torn_down = true;
        self.stop_tasks.store(true, Ordering::SeqCst);
        self.stop_watch.store(true, Ordering::SeqCst);
        if let Some(mut w) = self.workload.take() {
            w.stop(self.rt.handle());
        }
        // Undo what is still in force: a stopped process gets SIGCONT even after an abort.
        for f in &self.faults {
            if let FaultPlan::Pidfile {
                signal: Signal::Stop,
                pid: Some(pid),
                ..
            } = f
            {
                unsafe {
                    libc::kill(*pid, libc::SIGCONT);
                }
            }
        }
        match &self.topology {
            Topology::Built {
                cluster,
                router,
                link,
                services,
                ..
            } => {
                router.shutdown();
                for sv in services.iter().flatten() {
                    if let Ok(mut g) = sv.lock() {
                        g.shutdown();
                    }
                }
                link.shutdown();
                let mut c = cluster.lock().ok()?;
                // One retry: a process that was still exiting can make the first removal fail.
                if let Err(first) = c.teardown() {
                    std::thread::sleep(Duration::from_millis(300));
                    if let Err(second) = c.teardown() {
                        self.cleanup_problems.push(format!("{first}; then {second}"));
                    }
                }
                let kept = self.keep_env.then(|| c.root.clone());
                drop(c);
                self.release_guard();
                kept
            }
            Topology::Bound { .. } => {
                self.release_guard();
                None
            }
        }
    }

    /// After a teardown that left nothing behind, the guard is told so and exits; after one
    /// that did not, it is dropped and cleans up what is left.
    fn release_guard(&mut self) {
        if let Some(g) = self.guard.take() {
            if self.cleanup_problems.is_empty() {
                g.release();
            }
        }
    }
}

fn build_topology(
    s: &Scenario,
    handle: &tokio::runtime::Handle,
    keep: bool,
) -> Result<(Topology, String), TargetError> {
    let replica = s.topology.resources.iter().find_map(|r| match r {
        Resource::RdsReadReplica(rr) => Some(rr.replication),
        _ => None,
    });
    let has_aurora = s
        .topology
        .resources
        .iter()
        .any(|r| matches!(r, Resource::AuroraGlobal(_)));
    let sync = match (replica, has_aurora) {
        (Some(Replication::Sync), _) => SyncMode::Sync,
        (Some(Replication::Async), _) | (None, true) => SyncMode::Async,
        (None, false) => {
            return Err(TargetError::Infrastructure(
                "the local target needs a database with a replica to stand up PostgreSQL (an rds-instance with an rds-read-replica, or an aurora-global), or a database bound to an existing one (`bind: { connection: ... }`)".into(),
            ))
        }
    };
    let bins = PgBinaries::find().map_err(|e| infra("PostgreSQL", e))?;
    // The servers `pg_ctl` daemonizes become drillbit's children, to be waited for. Only on a
    // topology drillbit builds: on a bound system, what a repair command starts is the user's.
    guard::become_subreaper();
    let mut cluster = Cluster::prepare(
        &bins,
        ClusterOptions {
            sync,
            replication_via: None,
            keep,
            parent: None,
        },
    )
    .map_err(|e| infra("primary", e))?;
    let primary_addr: SocketAddr = ([127, 0, 0, 1], cluster.primary.port).into();
    let standby_addr: SocketAddr = ([127, 0, 0, 1], cluster.standby.port).into();
    let link = Router::start(handle, primary_addr).map_err(|e| infra("replication link", e))?;
    cluster
        .start_standby(link.addr().port())
        .map_err(|e| infra("standby", e))?;
    // ECS services and Auto Scaling groups become task processes behind a balancer per region,
    // each region's tasks talking to that region's database.
    let sides = s.topology.resources.iter().find_map(|r| match r {
        Resource::EcsService(e) => Some((e.primary.desired, e.dr.desired)),
        Resource::AutoScalingGroup(g) => Some((g.primary.desired, g.dr.desired)),
        _ => None,
    });
    let services = match sides {
        Some((p, d)) => {
            let primary = Service::start(handle, primary_addr, p).map_err(|e| infra("primary service", e))?;
            let dr = Service::start(handle, standby_addr, d).map_err(|e| infra("DR service", e))?;
            Some([Arc::new(Mutex::new(primary)), Arc::new(Mutex::new(dr))])
        }
        None => None,
    };
    let entry = |i: usize, db: SocketAddr| -> SocketAddr {
        services
            .as_ref()
            .and_then(|sv| sv[i].lock().ok().map(|g| g.lb.addr()))
            .unwrap_or(db)
    };
    let (primary_entry, dr_entry) = (entry(0, primary_addr), entry(1, standby_addr));
    let router = Router::start(handle, primary_entry).map_err(|e| infra("router", e))?;
    let client = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        router.addr().port()
    );
    let standby_conninfo = cluster.standby.conninfo();
    Ok((
        Topology::Built {
            cluster: Arc::new(Mutex::new(cluster)),
            router: Arc::new(router),
            link: Arc::new(link),
            primary_addr: primary_entry,
            standby_addr: dr_entry,
            standby_conninfo,
            services,
        },
        client,
    ))
}

impl Drop for LocalTarget {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

/// drillbit's stand-in for a Route 53 health check: a real query against the primary every
/// interval; after `threshold` failures it raises the alarm and, for an automatic failover
/// record, points the router at the standby.
async fn health_check(
    hc: HealthCheck,
    primary: String,
    standby: SocketAddr,
    router: Arc<Router>,
    passes: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    tx: Sender<(Instant, Event)>,
) {
    let mut tick = tokio::time::interval(hc.interval);
    let mut failures = 0u32;
    let budget = hc.interval.mul_f64(0.8).max(Duration::from_millis(20));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if passes.load(Ordering::Relaxed) {
            failures = 0;
            continue;
        }
        let ok = tokio::time::timeout(budget, async {
            match pg::client::connect(&primary, budget).await {
                Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
                Err(_) => false,
            }
        })
        .await
        .unwrap_or(false);
        failures = if ok { 0 } else { failures + 1 };
        if failures == hc.threshold {
            let _ = tx.send((
                Instant::now(),
                Event::Alarm {
                    source: AlarmSource::HealthCheck,
                },
            ));
            if hc.automatic {
                router.set_backend(standby, true);
                let _ = tx.send((Instant::now(), Event::TrafficSwitched));
            }
        }
    }
}

/// Watches a signalled process until the signal shows (it exited, or it stopped), and reports
/// that as the fault's effect. Gives up after `within` (the engine then finds no effect).
fn watch_pid(pid: i32, signal: Signal, fault: usize, tx: Sender<(Instant, Event)>, within: Duration) {
    std::thread::spawn(move || {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            // Field 3 of /proc/PID/stat, after the parenthesised command name.
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|st| {
                    st.rsplit_once(')')
                        .and_then(|(_, rest)| rest.trim_start().chars().next())
                });
            let how = match (signal, state) {
                (Signal::Kill | Signal::Term, None | Some('Z' | 'X')) => Some(format!("process {pid} exited")),
                (Signal::Stop, Some('T' | 't')) => Some(format!("process {pid} is stopped (SIGSTOP)")),
                _ => None,
            };
            if let Some(how) = how {
                let _ = tx.send((
                    Instant::now(),
                    Event::FaultEffect {
                        fault,
                        how: Cow::Owned(how),
                    },
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
}

fn read_pid(path: &PathBuf) -> Result<i32, TargetError> {
    let text = std::fs::read_to_string(path).map_err(|e| infra(&format!("pid file {}", path.display()), e))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
        .filter(|&p| p > 1)
        .ok_or_else(|| {
            infra(
                &format!("pid file {}", path.display()),
                "the first line is not a process id",
            )
        })
}

/// Runs `command` with `sh -c` in a process group of its own. It is stopped (SIGTERM to the
/// group, SIGKILL 2 s later, then waited for) when it outlives `timeout` or the drill is
/// interrupted; its stderr's tail explains a failure.
fn run_shell(command: &str, timeout: Duration, abort: &AtomicBool) -> Result<(), TargetError> {
    use std::io::Read;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let what = format!("command `{command}`");
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| infra(&format!("fault {what}"), e))?;
    // Read stderr on a thread, so a chatty command never blocks on a full pipe. A daemon the
    // command started may hold the pipe open for good: its tail is taken without waiting for
    // the end of the pipe.
    let tail = Arc::new(Mutex::new(Vec::<u8>::new()));
    let (done_tx, done_rx) = channel::<()>();
    if let Some(mut pipe) = child.stderr.take() {
        let tail = tail.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = tail.lock() {
                    t.extend_from_slice(&chunk[..n]);
                    let excess = t.len().saturating_sub(64 * 1024);
                    t.drain(..excess);
                }
            }
            let _ = done_tx.send(());
        });
    }
    let started = Instant::now();
    let stopped_because = loop {
        match child.try_wait() {
            Ok(Some(_)) => break None,
            Ok(None) => {}
            Err(e) => break Some(format!("waiting for it failed: {e}")),
        }
        if abort.load(Ordering::SeqCst) {
            break Some("interrupted".to_string());
        }
        if started.elapsed() >= timeout {
            break Some(format!(
                "timed out after {}",
                crate::scenario::duration::format_secs(timeout.as_secs_f64())
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(why) = &stopped_because {
        let group = child.id() as i32;
        // SAFETY: signals a process group this function created; no memory is passed.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let grace = Instant::now();
        while grace.elapsed() < Duration::from_secs(2) && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; whatever of the group is left is killed.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = child.wait();
        if why == "interrupted" {
            return Err(TargetError::Aborted(format!("{what} interrupted")));
        }
    }
    let status = child.wait().map_err(|e| infra(&what, e))?;
    let _ = done_rx.recv_timeout(Duration::from_millis(500));
    let stderr = tail.lock().map(|t| t.clone()).unwrap_or_default();
    if stopped_because.is_none() && status.success() {
        return Ok(());
    }
    let status = match (&stopped_because, status.code()) {
        (Some(why), _) => format!("{why}, stopped"),
        (None, Some(c)) => format!("exit status {c}"),
        (None, None) => format!("killed by signal {}", status.signal().unwrap_or(0)),
    };
    let stderr = String::from_utf8_lossy(&stderr);
    let lines: Vec<&str> = stderr.trim().lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    let tail = if tail.is_empty() {
        "no output on stderr".to_string()
    } else {
        format!("stderr: {tail}")
    };
    Err(infra(&what, format!("{status}; {tail}")))
}

impl Target for LocalTarget {
    fn name(&self) -> &'static str {
        "local"
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.label.clone()).collect()
    }

    fn inject(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        // Direct evidence of the effect, when drillbit can see it (the engine also counts failed
        // probes and host changes).
        let mut effect: Option<&'static str> = None;
        match self.faults[fault].clone() {
            FaultPlan::Primary(LocalFault::KillPostmaster) => {
                let pid = self.with_cluster(|c| Ok(c.primary.pid()))?;
                self.with_cluster(|c| c.kill_primary(false))?;
                if let Some(pid) = pid {
                    watch_pid(pid, Signal::Kill, fault, self.tx.clone(), self.effect_within);
                }
            }
            FaultPlan::Primary(LocalFault::KillAll) => {
                self.with_cluster(|c| c.kill_primary(true))?;
                effect = Some("every process of the primary is gone");
                // The whole primary region goes: its tasks die with its database.
                if let Topology::Built {
                    services: Some([primary, _]),
                    ..
                } = &self.topology
                {
                    if let Ok(mut g) = primary.lock() {
                        g.kill_all();
                    }
                }
            }
            FaultPlan::Primary(LocalFault::Stop) => {
                self.with_cluster(|c| c.stop_primary())?;
                effect = Some("every process of the primary is stopped (SIGSTOP)");
            }
            FaultPlan::Primary(LocalFault::CutLink) => self.link()?.set_mode(LinkMode::Blackhole),
            FaultPlan::Primary(LocalFault::SlowLink) => self.link()?.set_latency(Duration::from_millis(200)),
            FaultPlan::SlowLink(d) => self.link()?.set_latency(d),
            FaultPlan::PauseReplay => self.with_cluster(|c| c.pause_replay())?,
            FaultPlan::HealthCheckPasses => self.hc_passes.store(true, Ordering::SeqCst),
            FaultPlan::Pidfile { path, signal, .. } => {
                let pid = read_pid(&path)?;
                let sig = match signal {
                    Signal::Kill => libc::SIGKILL,
                    Signal::Stop => libc::SIGSTOP,
                    Signal::Term => libc::SIGTERM,
                };
                if signal == Signal::Stop {
                    // Told before the signal: if drillbit dies from here on, the guard resumes it.
                    if let Some(g) = self.guard.as_mut() {
                        g.stopped(pid);
                    }
                }
                if unsafe { libc::kill(pid, sig) } != 0 {
                    return Err(infra(&format!("signalling pid {pid}"), std::io::Error::last_os_error()));
                }
                if let FaultPlan::Pidfile { pid: slot, .. } = &mut self.faults[fault] {
                    *slot = Some(pid);
                }
                watch_pid(pid, signal, fault, self.tx.clone(), self.effect_within);
            }
            FaultPlan::Command { command, timeout, .. } => run_shell(&command, timeout, &self.abort)?,
        }
        let now = Instant::now();
        let _ = self.tx.send((now, Event::FaultActive { fault }));
        if let Some(how) = effect {
            let _ = self.tx.send((
                now,
                Event::FaultEffect {
                    fault,
                    how: Cow::Borrowed(how),
                },
            ));
        }
        Ok(())
    }

    fn repair(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        match self.faults[fault].clone() {
            FaultPlan::Primary(LocalFault::Stop) => self.with_cluster(|c| c.cont_primary())?,
            FaultPlan::Primary(LocalFault::CutLink) => self.link()?.set_mode(LinkMode::Forward),
            FaultPlan::Primary(LocalFault::SlowLink) | FaultPlan::SlowLink(_) => {
                self.link()?.set_latency(Duration::ZERO)
            }
            FaultPlan::PauseReplay => {
                // The standby may have been promoted meanwhile; resuming is then moot.
                let _ = self.with_cluster(|c| c.resume_replay());
            }
            FaultPlan::HealthCheckPasses => self.hc_passes.store(false, Ordering::SeqCst),
            FaultPlan::Pidfile {
                signal: Signal::Stop,
                pid: Some(pid),
                ..
            } => {
                unsafe {
                    libc::kill(pid, libc::SIGCONT);
                }
                if let Some(g) = self.guard.as_mut() {
                    g.resumed(pid);
                }
            }
            FaultPlan::Command {
                repair: Some(repair),
                timeout,
                ..
            } => run_shell(&repair, timeout, &self.abort)?,
            FaultPlan::Primary(LocalFault::KillAll) => {
                // The region is back: its tasks restart (its database stays dead until failback
                // rebuilds it).
                if let Topology::Built {
                    services: Some([primary, _]),
                    ..
                } = &self.topology
                {
                    if let Ok(mut g) = primary.lock() {
                        g.restore().map_err(|e| infra("restoring the primary service", e))?;
                    }
                }
            }
            // A killed process stays dead; rebuilding it is failback, not repair.
            FaultPlan::Primary(LocalFault::KillPostmaster)
            | FaultPlan::Pidfile { .. }
            | FaultPlan::Command { repair: None, .. } => {}
        }
        let _ = self.tx.send((Instant::now(), Event::FaultRepaired { fault }));
        Ok(())
    }

    fn start_action(&mut self, step: usize, attempt: u32, _now: Time) -> Result<(), TargetError> {
        let tx = self.tx.clone();
        let done = move |result: ActionResult| {
            let _ = tx.send((Instant::now(), Event::ActionDone { step, attempt, result }));
        };
        let (action, duration) = self.steps[step].clone();
        let promote = matches!(
            action,
            Action::RdsPromoteReadReplica | Action::AuroraFailoverGlobalCluster | Action::AuroraSwitchoverGlobalCluster
        );
        let rebuild = action == Action::RdsCreateReadReplica;
        let repoint = matches!(
            action,
            Action::Route53FailoverToSecondary | Action::Route53FailoverToPrimary
        );
        match (&self.topology, action) {
            (Topology::Bound { .. }, _) if promote || repoint || rebuild => done(ActionResult::Unsupported(
                Cow::Borrowed("the bound system fails over by itself: drillbit does not promote or repoint it"),
            )),
            (Topology::Built { cluster, .. }, Action::RdsCreateReadReplica) => {
                let cluster = cluster.clone();
                std::thread::spawn(move || {
                    let r = match cluster.lock() {
                        Ok(mut c) => c.rebuild_primary_from_standby(),
                        Err(_) => return done(ActionResult::Failed("cluster lock poisoned".into())),
                    };
                    done(match r {
                        Ok(()) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e.to_string())),
                    })
                });
            }
            (Topology::Built { cluster, .. }, _) if promote => {
                let cluster = cluster.clone();
                // Promoting the primary-side copy is the failback switchover; the DR copy is the
                // failover promotion.
                let back = self.promotes_primary[step];
                std::thread::spawn(move || {
                    let r = match cluster.lock() {
                        Ok(c) if back => c.switch_back_to_primary(),
                        Ok(c) => c.promote_standby(),
                        Err(_) => return done(ActionResult::Failed("cluster lock poisoned".into())),
                    };
                    done(match r {
                        Ok(_) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e.to_string())),
                    })
                });
            }
            (
                Topology::Built {
                    router,
                    primary_addr,
                    standby_addr,
                    ..
                },
                _,
            ) if repoint => {
                let to = if action == Action::Route53FailoverToSecondary {
                    *standby_addr
                } else {
                    *primary_addr
                };
                router.set_backend(to, true);
                // The step ends when the router has moved; clients follow at once (no DNS cache
                // here), so the traffic switch is stamped right after the step's end.
                done(ActionResult::Ok);
                let _ = self.tx.send((Instant::now(), Event::TrafficSwitched));
            }
            (
                Topology::Built {
                    services: Some([_, dr]),
                    ..
                },
                Action::EcsUpdateService | Action::AutoscalingUpdateGroup,
            ) => {
                let dr = dr.clone();
                let desired = self.desired[step];
                std::thread::spawn(move || {
                    let r = match (dr.lock(), desired) {
                        (Ok(mut g), Some(n)) => g.scale(n).map(|_| ()),
                        (Ok(_), None) => Err("no desired count".to_string()),
                        (Err(_), _) => Err("service lock poisoned".to_string()),
                    };
                    done(match r {
                        Ok(()) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e)),
                    })
                });
            }
            (_, Action::Wait) => {
                let d = duration.map_or(0.0, |d| d.median_secs());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs_f64(d));
                    done(ActionResult::Ok)
                });
            }
            // Local drills run unattended: a human step is approved at once (a game day on a
            // live target prompts instead).
            (_, Action::Manual) => done(ActionResult::Ok),
            (_, Action::ProbeUntilHealthy) => {}
            (_, other) => done(ActionResult::Unsupported(Cow::Owned(format!(
                "{} has no counterpart on the local target",
                other.as_str()
            )))),
        }
        Ok(())
    }

    fn cancel_action(&mut self, _step: usize, _now: Time) {}

    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError> {
        let limit = self.start + Duration::from_micros(deadline.0).min(Duration::from_secs(366 * 86_400));
        loop {
            if self.abort.load(Ordering::SeqCst) {
                return Err(TargetError::Aborted("interrupted".into()));
            }
            let now = Instant::now();
            if now >= limit {
                return Ok(Poll::Deadline);
            }
            let wait = (limit - now).min(Duration::from_millis(50));
            match self.rx.recv_timeout(wait) {
                Ok((i, ev)) => return Ok(Poll::Event(self.at(i), ev)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        }
    }

    fn ledger(&mut self, _end: Time) -> Result<Ledger, TargetError> {
        let Some(mut w) = self.workload.take() else {
            return Ok(Ledger::NotMeasurable("the workload was not running".into()));
        };
        w.stop(self.rt.handle());
        self.stop_watch.store(true, Ordering::SeqCst);
        let log = std::mem::take(&mut *w.log.lock().map_err(|_| infra("ledger", "lock poisoned"))?);
        // Read back after the system settled (the engine ended the drill only then), from every
        // host: the final writer's copy is what survived.
        let states: Vec<HostState> = self
            .hosts
            .iter()
            .map(|h| self.rt.block_on(hosts::state_now(&h.conninfo)))
            .collect();
        let writers: Vec<usize> = (0..states.len()).filter(|&n| states[n] == HostState::Writer).collect();
        let per_host: Vec<Option<HashSet<i64>>> = self
            .hosts
            .iter()
            .zip(&states)
            .map(|(h, st)| {
                (*st != HostState::Unreachable)
                    .then(|| self.rt.block_on(workload::survivors(&h.conninfo)).ok())
                    .flatten()
                    .map(|v| v.into_iter().collect())
            })
            .collect();
        let final_writer = match (writers.as_slice(), &self.topology) {
            ([w], Topology::Bound { .. }) => Some(*w),
            _ => None,
        };
        if writers.len() > 1 {
            self.notes.push(format!(
                "read-back: {} hosts were writable when the drill ended ({}): the final writer is ambiguous",
                writers.len(),
                writers
                    .iter()
                    .map(|&n| self.hosts[n].label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // What survived is what the recovery side holds: on a bound system the one writable
        // host; on drillbit's own, the endpoint clients now reach if it answers, else the
        // standby (the DR copy).
        let survived = match (&self.topology, final_writer) {
            (Topology::Bound { .. }, Some(w)) if per_host[w].is_some() => {
                Ok(per_host[w].clone().unwrap_or_default().into_iter().collect())
            }
            (_, _) => match &self.topology {
                Topology::Built {
                    router,
                    standby_conninfo,
                    ..
                } => {
                    let current = format!(
                        "host=127.0.0.1 port={} user=postgres dbname=postgres",
                        router.backend().port()
                    );
                    self.rt
                        .block_on(workload::survivors(&current))
                        .or_else(|_| self.rt.block_on(workload::survivors(standby_conninfo)))
                }
                Topology::Bound { conninfo } => self.rt.block_on(workload::survivors(conninfo)),
            },
        }
        .map_err(|e| infra("reading back the ledger", e))?;
        let survived: HashSet<i64> = survived.into_iter().collect();
        // Compare every reachable host with what survived: a write another host holds and the
        // final copy lacks is lost all the same, and says where the divergence was.
        for (n, h) in self.hosts.iter().enumerate() {
            let acked_here = per_host[n]
                .as_ref()
                .map(|set| log.acked.iter().filter(|(seq, _)| set.contains(seq)).count());
            let extra = per_host[n].as_ref().map(|set| {
                log.acked
                    .iter()
                    .filter(|(seq, _)| set.contains(seq) && !survived.contains(seq))
                    .count()
            });
            self.notes.push(match (acked_here, extra) {
                (Some(a), Some(x)) => format!(
                    "read-back from {} ({}): holds {a} of {} acknowledged writes{}",
                    h.label,
                    states[n].as_str(),
                    log.acked.len(),
                    if x > 0 {
                        format!(", {x} of them missing from the final copy (diverged)")
                    } else {
                        String::new()
                    }
                ),
                _ => format!("read-back from {}: {}", h.label, states[n].as_str()),
            });
        }
        let mut lost: Vec<Range<u64>> = Vec::new();
        for (i, (seq, _)) in log.acked.iter().enumerate() {
            if !survived.contains(seq) {
                let i = i as u64;
                match lost.last_mut() {
                    Some(r) if r.end == i => r.end = i + 1,
                    _ => lost.push(i..i + 1),
                }
            }
        }
        let acks = log.acked.iter().map(|(_, t)| self.at(*t)).collect();
        Ok(Ledger::Recorded {
            acks,
            lost,
            indeterminate: log.indeterminate.len() as u64,
        })
    }
}

/// One drill on the local target, end to end, as a scorecard. The topology is torn down before
/// this returns, whatever happened.
pub fn run(
    loaded: &crate::scenario::Loaded,
    seed: u64,
    opts: &LocalOptions,
) -> Result<(crate::scorecard::Scorecard, Option<PathBuf>), TargetError> {
    let mut plan = Plan::compile(&loaded.scenario);
    plan.failback = opts.failback;
    let mut target = LocalTarget::start(&loaded.scenario, &plan, opts)?;
    let mut tl = Timeline::new(true);
    let measured = crate::drill::run_on(&mut Engine::new(), &plan, &mut target, &mut tl);
    let kept = target.teardown();
    if !target.cleanup_problems.is_empty() {
        return Err(TargetError::Infrastructure(format!(
            "clean-up incomplete: {}",
            target.cleanup_problems.join("; ")
        )));
    }
    let m = measured?;
    let cx = crate::scorecard::Context {
        loaded,
        plan: &plan,
        target: "local",
        seed,
        models_overridden: Vec::new(),
    };
    let mut sc = crate::scorecard::build(&cx, &tl, &m);
    sc.notes.append(&mut target.notes);
    Ok((sc, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_connection_strings_hide_the_password() {
        assert_eq!(
            redacted("host=db port=5432 password=hunter2 user=app"),
            "host=db port=5432 password=*** user=app"
        );
        assert_eq!(
            redacted("host=db password = 'it\\'s secret' dbname=x"),
            "host=db password=*** dbname=x"
        );
        assert_eq!(
            redacted("postgresql://app:hunter2@db:5432/orders?sslmode=require"),
            "postgresql://app:***@db:5432/orders?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://db/orders?user=app&password=hunter2&sslmode=require"),
            "postgres://db/orders?user=app&password=***&sslmode=require"
        );
        assert_eq!(redacted("host=db user=app"), "host=db user=app");
    }
}
