//! The `local` target: real failover drills on one machine.
//!
//! Two ways to get a topology:
//! - **Built**: the scenario's database becomes a PostgreSQL primary and a streaming standby
//!   (`pg/`) reached through a link proxy, its Route 53 record becomes drillbit's TCP router
//!   (`router.rs`), and the runbook promotes and repoints for real.
//! - **Bound**: the database resource has `bind: { connection: ... }`, a system drillbit did not
//!   build (an HA manager, a libpq multi-host endpoint). drillbit injects faults (by pid file or
//!   command), writes, probes and measures exactly as for its own topology, and never assumes
//!   it is the one promoting: promotion and repointing steps are reported unsupported there.
//!
//! In both, a real client writes and probes (`workload.rs`) and the shared engine measures on
//! the monotonic clock. Resources and actions with no local counterpart are reported
//! "unsupported on the local target", never silently dropped.
//!
//! Here: `LocalTarget` (start, teardown) and `run`; `topology.rs` what is built or bound (and
//! the health check); `faults.rs` how each fault is made and undone; `target.rs` the engine's
//! `Target` (actions, events, the ledger's read-back); `exec.rs` programs run under a timeout;
//! `redact.rs` connection strings fit to print.

mod backups;
mod exec;
mod faults;
pub mod guard;
pub mod hosts;
pub mod pg;
pub(crate) mod procs;
mod redact;
pub mod redis;
pub mod router;
pub mod services;
mod target;
mod topology;
pub mod workload;

pub use redact::redacted;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Engine, Event, Plan, TargetError, Time, Timeline};
use crate::scenario::{Action, Resource, Scenario, Signal};
use faults::{plan_faults, FaultPlan};
use pg::Cluster;
use router::Router;
use topology::{build_topology, prepare_bound, Topology};
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
    step_ids: Vec<String>,
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
    /// Restores carried out (the scorecard's `restores`).
    pub restores: Vec<crate::scorecard::RestoreOut>,
    /// The session store's ledger, read back after the drill.
    session_ledger: Option<(String, crate::engine::Ledger)>,
    /// The region each region-outage fault takes down, and whether each fault is in force.
    fault_regions: Vec<Option<String>>,
    in_force: Vec<bool>,
    /// Steps from this index on are the rollback's.
    rollback_from: usize,
    /// The transaction of the bad write a data-corruption fault committed.
    bad_xid: Arc<std::sync::Mutex<Option<u64>>>,
    /// Cleans up if drillbit dies without its teardown; the last field, so dropped last.
    guard: Option<guard::Guard>,
}

/// Rows of the canary table a bad write damages; the prober checks they are all there.
const CANARY_ROWS: i64 = 100;

fn infra(step: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Infrastructure(format!("{step}: {e}"))
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

        let mut notes = Vec::new();
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
                let (topology, client, built) = build_topology(s, &handle, opts.keep_env)?;
                notes = built;
                (topology, client)
            }
        };
        let start = Instant::now();
        if let Topology::Built {
            backups: Some(b),
            cluster,
            ..
        } = &topology
        {
            let port = cluster
                .lock()
                .map_err(|_| infra("cluster", "lock poisoned"))?
                .primary
                .port;
            b.start_schedule(port, start);
        }
        let canary = (matches!(topology, Topology::Built { .. }) && topology::has_corruption(s)).then_some(CANARY_ROWS);
        // Session state the service cannot serve without is part of every probe.
        let session_probe = match &topology {
            Topology::Built { sessions: Some(st), .. } => {
                st.start_writer(&handle, s.workload.writes_per_second);
                let required = s
                    .topology
                    .resources
                    .iter()
                    .any(|r| matches!(r, Resource::ElasticacheGlobal(g) if g.required));
                required.then(|| st.endpoint.addr())
            }
            _ => None,
        };
        let workload = Workload::start(
            &handle,
            WorkloadConfig {
                conninfo: client_conninfo,
                writes_per_second: s.workload.writes_per_second,
                probe_interval: Duration::from_micros(plan.probe_interval.0),
                probe_offset: Duration::from_micros(plan.first_probe(opts.seed).0),
                ledger_path: Some(opts.out_dir.join("ledger.csv")),
                start,
                canary,
                session_probe,
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
                backups,
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
                        // With backups alone, the DR side's database is the restored instance.
                        label: if backups.is_some() { "restored" } else { "standby" }.into(),
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
        topology.start_health_check(s, &handle, hc_passes.clone(), stop_tasks.clone(), tx.clone())?;
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
            step_ids: s.all_steps().map(|st| st.id.clone()).collect(),
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
            notes,
            restores: Vec::new(),
            session_ledger: None,
            fault_regions: s
                .faults
                .iter()
                .map(|f| match f.kind {
                    crate::scenario::FaultType::RegionOutage => f.region.clone(),
                    _ => None,
                })
                .collect(),
            in_force: vec![false; s.faults.len()],
            rollback_from: s.runbook.steps.len(),
            bad_xid: Arc::new(std::sync::Mutex::new(None)),
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
                backups,
                sessions,
                ..
            } => {
                if let Some(st) = sessions {
                    st.shutdown(self.rt.handle());
                }
                // A backup in progress ends before the servers go.
                if let Some(b) = backups {
                    b.stop();
                    if let Ok(mut n) = b.notes.lock() {
                        self.notes.append(&mut n);
                    }
                    if let Ok(mut r) = b.restores.lock() {
                        self.restores.append(&mut r);
                    }
                }
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

impl Drop for LocalTarget {
    fn drop(&mut self) {
        let _ = self.teardown();
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
    sc.restores.append(&mut target.restores);
    Ok((sc, kept))
}
