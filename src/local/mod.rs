//! The `local` target: real failover drills on one machine. The scenario's database becomes a
//! PostgreSQL primary and a streaming standby (`pg.rs`), its Route 53 record becomes drillbit's
//! TCP router (`router.rs`), and a real client writes and probes through the router
//! (`workload.rs`). Faults are real signals and link cuts; the runbook promotes and repoints
//! for real; the shared engine measures, on the monotonic clock.
//!
//! Resources and actions with no local counterpart (S3, DynamoDB, AWS Backup, ECS and Auto
//! Scaling for now) are reported "unsupported on the local target", never silently dropped.

pub mod pg;
pub mod router;
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

use crate::engine::{ActionResult, AlarmSource, Engine, Event, Plan, Poll, Target, TargetError, Time, Timeline};
use crate::measure::Ledger;
use crate::scenario::{Action, FaultType, LocalFault, Replication, Resource, Scenario};
use pg::{Cluster, ClusterOptions, PgBinaries, SyncMode};
use router::{LinkMode, Router};
use workload::{Workload, WorkloadConfig};

pub struct LocalOptions {
    pub out_dir: PathBuf,
    pub keep_env: bool,
    pub abort: Arc<AtomicBool>,
}

/// How each fault of the scenario is carried out here.
#[derive(Debug, Clone, Copy)]
enum FaultPlan {
    Primary(LocalFault),
    PauseReplay,
    HealthCheckPasses,
}

struct HealthCheck {
    interval: Duration,
    threshold: u32,
    automatic: bool,
}

pub struct LocalTarget {
    rt: tokio::runtime::Runtime,
    start: Instant,
    tx: Sender<(Instant, Event)>,
    rx: Receiver<(Instant, Event)>,
    cluster: Arc<Mutex<Cluster>>,
    router: Arc<Router>,
    link: Arc<Router>,
    primary_addr: SocketAddr,
    standby_addr: SocketAddr,
    standby_conninfo: String,
    workload: Option<Workload>,
    faults: Vec<FaultPlan>,
    hc_passes: Arc<AtomicBool>,
    stop_tasks: Arc<AtomicBool>,
    steps: Vec<(Action, Option<crate::scenario::Dist>)>,
    abort: Arc<AtomicBool>,
    keep_env: bool,
    last: Time,
}

fn infra(step: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Infrastructure(format!("{step}: {e}"))
}

impl LocalTarget {
    /// Stands up the topology: PostgreSQL primary and standby (through a link proxy), the
    /// router, the workload and, when the record has one, the health checker.
    pub fn start(s: &Scenario, plan: &Plan, opts: &LocalOptions) -> Result<LocalTarget, TargetError> {
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
                    "the local target needs a database with a replica to stand up PostgreSQL: an rds-instance with an rds-read-replica, or an aurora-global".into(),
                ))
            }
        };
        let mut faults = Vec::new();
        for f in &s.faults {
            faults.push(match (f.kind, f.local) {
                (FaultType::RegionOutage, m) => FaultPlan::Primary(m.unwrap_or(LocalFault::KillAll)),
                (FaultType::DbPrimaryFailure, m) => FaultPlan::Primary(m.unwrap_or(LocalFault::KillPostmaster)),
                (FaultType::ReplicationPause | FaultType::ReplicationLagSpike, None) => FaultPlan::PauseReplay,
                (FaultType::ReplicationPause | FaultType::ReplicationLagSpike, Some(m)) => FaultPlan::Primary(m),
                (FaultType::HealthCheckPassing, _) => FaultPlan::HealthCheckPasses,
                (other, _) => {
                    return Err(TargetError::Infrastructure(format!(
                        "fault `{}` ({}) is unsupported on the local target",
                        f.id,
                        other.as_str()
                    )))
                }
            });
        }
        let hc = s.topology.resources.iter().find_map(|r| match r {
            Resource::Route53Record(rec) => rec.health_check.as_ref().map(|h| HealthCheck {
                interval: Duration::from_micros(h.interval.0 .0),
                threshold: h.failure_threshold,
                automatic: rec.automatic.unwrap_or(true),
            }),
            _ => None,
        });

        let bins = PgBinaries::find().map_err(|e| infra("PostgreSQL", e))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| infra("tokio runtime", e))?;
        let handle = rt.handle().clone();
        let mut cluster = Cluster::prepare(
            &bins,
            ClusterOptions {
                sync,
                replication_via: None,
                keep: opts.keep_env,
                parent: None,
            },
        )
        .map_err(|e| infra("primary", e))?;
        let primary_addr: SocketAddr = ([127, 0, 0, 1], cluster.primary.port).into();
        let standby_addr: SocketAddr = ([127, 0, 0, 1], cluster.standby.port).into();
        let link = Router::start(&handle, primary_addr).map_err(|e| infra("replication link", e))?;
        cluster
            .start_standby(link.addr().port())
            .map_err(|e| infra("standby", e))?;
        let router = Router::start(&handle, primary_addr).map_err(|e| infra("router", e))?;
        let standby_conninfo = cluster.standby.conninfo();
        let primary_conninfo = cluster.primary.conninfo();
        let (tx, rx) = channel();
        let start = Instant::now();
        std::fs::create_dir_all(&opts.out_dir).map_err(|e| infra("output directory", e))?;
        let workload = Workload::start(
            &handle,
            WorkloadConfig {
                conninfo: format!(
                    "host=127.0.0.1 port={} user=postgres dbname=postgres",
                    router.addr().port()
                ),
                writes_per_second: s.workload.writes_per_second,
                probe_interval: Duration::from_micros(plan.probe_interval.0),
                ledger_path: Some(opts.out_dir.join("ledger.csv")),
                start,
            },
            tx.clone(),
        );
        let hc_passes = Arc::new(AtomicBool::new(false));
        let stop_tasks = Arc::new(AtomicBool::new(false));
        let router = Arc::new(router);
        if let Some(hc) = hc {
            handle.spawn(health_check(
                hc,
                primary_conninfo,
                standby_addr,
                router.clone(),
                hc_passes.clone(),
                stop_tasks.clone(),
                tx.clone(),
            ));
        }
        Ok(LocalTarget {
            rt,
            start,
            tx,
            rx,
            cluster: Arc::new(Mutex::new(cluster)),
            router,
            link: Arc::new(link),
            primary_addr,
            standby_addr,
            standby_conninfo,
            workload: Some(workload),
            faults,
            hc_passes,
            stop_tasks,
            steps: s
                .runbook
                .steps
                .iter()
                .map(|st| (st.action, st.duration.clone()))
                .collect(),
            abort: opts.abort.clone(),
            keep_env: opts.keep_env,
            last: Time::ZERO,
        })
    }

    fn at(&self, i: Instant) -> Time {
        Time(i.saturating_duration_since(self.start).as_micros() as u64)
    }

    fn with_cluster<T>(&self, f: impl FnOnce(&Cluster) -> Result<T, pg::PgError>) -> Result<T, TargetError> {
        let c = self
            .cluster
            .lock()
            .map_err(|_| TargetError::Infrastructure("cluster lock poisoned".into()))?;
        f(&c).map_err(|e| infra("fault", e))
    }

    /// Stops processes and (unless kept) removes the temporary directory. Returns where the data
    /// directories are when they were kept.
    pub fn teardown(&mut self) -> Option<PathBuf> {
        self.stop_tasks.store(true, Ordering::SeqCst);
        if let Some(mut w) = self.workload.take() {
            w.stop(self.rt.handle());
        }
        self.router.shutdown();
        self.link.shutdown();
        let mut c = self.cluster.lock().ok()?;
        let _ = c.teardown();
        self.keep_env.then(|| c.root.clone())
    }
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
            match tokio_postgres::connect(&primary, tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    client.simple_query("SELECT 1").await.is_ok()
                }
                Err(_) => false,
            }
        })
        .await
        .unwrap_or(false);
        failures = if ok { 0 } else { failures + 1 };
        if failures == hc.threshold {
            let now = Instant::now();
            let _ = tx.send((
                now,
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

impl Target for LocalTarget {
    fn name(&self) -> &'static str {
        "local"
    }

    fn inject(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        match self.faults[fault] {
            FaultPlan::Primary(LocalFault::KillPostmaster) => self.with_cluster(|c| c.kill_primary(false))?,
            FaultPlan::Primary(LocalFault::KillAll) => self.with_cluster(|c| c.kill_primary(true))?,
            FaultPlan::Primary(LocalFault::Stop) => self.with_cluster(|c| c.stop_primary())?,
            FaultPlan::Primary(LocalFault::CutLink) => self.link.set_mode(LinkMode::Blackhole),
            FaultPlan::PauseReplay => self.with_cluster(|c| c.pause_replay())?,
            FaultPlan::HealthCheckPasses => self.hc_passes.store(true, Ordering::SeqCst),
        }
        let _ = self.tx.send((Instant::now(), Event::FaultActive { fault }));
        Ok(())
    }

    fn repair(&mut self, fault: usize, _now: Time) -> Result<(), TargetError> {
        match self.faults[fault] {
            FaultPlan::Primary(LocalFault::Stop) => self.with_cluster(|c| c.cont_primary())?,
            FaultPlan::Primary(LocalFault::CutLink) => self.link.set_mode(LinkMode::Forward),
            FaultPlan::PauseReplay => {
                // The standby may have been promoted meanwhile; resuming is then moot.
                let _ = self.with_cluster(|c| c.resume_replay());
            }
            FaultPlan::HealthCheckPasses => self.hc_passes.store(false, Ordering::SeqCst),
            // A killed primary stays dead; rebuilding it is failback, not repair.
            FaultPlan::Primary(LocalFault::KillPostmaster | LocalFault::KillAll) => {}
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
        match action {
            Action::RdsPromoteReadReplica
            | Action::AuroraFailoverGlobalCluster
            | Action::AuroraSwitchoverGlobalCluster => {
                let cluster = self.cluster.clone();
                std::thread::spawn(move || {
                    let r = match cluster.lock() {
                        Ok(c) => c.promote_standby(),
                        Err(_) => return done(ActionResult::Failed("cluster lock poisoned".into())),
                    };
                    done(match r {
                        Ok(_) => ActionResult::Ok,
                        Err(e) => ActionResult::Failed(Cow::Owned(e.to_string())),
                    })
                });
            }
            Action::Route53FailoverToSecondary | Action::Route53FailoverToPrimary => {
                let to = if action == Action::Route53FailoverToSecondary {
                    self.standby_addr
                } else {
                    self.primary_addr
                };
                self.router.set_backend(to, true);
                let _ = self.tx.send((Instant::now(), Event::TrafficSwitched));
                done(ActionResult::Ok);
            }
            Action::Wait => {
                let d = duration.map_or(0.0, |d| d.median_secs());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs_f64(d));
                    done(ActionResult::Ok)
                });
            }
            // Local drills run unattended: a human step is approved at once (a game day on a
            // live target prompts instead).
            Action::Manual => done(ActionResult::Ok),
            Action::ProbeUntilHealthy => {}
            other => done(ActionResult::Unsupported(Cow::Owned(format!(
                "{} has no counterpart on the local target",
                other.as_str()
            )))),
        }
        Ok(())
    }

    fn cancel_action(&mut self, _step: usize, _now: Time) {}

    fn poll(&mut self, deadline: Time) -> Result<Poll, TargetError> {
        let limit =
            self.start + Duration::from_micros(deadline.0.min(u64::MAX / 4)).min(Duration::from_secs(366 * 86_400));
        loop {
            if self.abort.load(Ordering::SeqCst) {
                return Err(TargetError::Aborted("interrupted".into()));
            }
            let now = Instant::now();
            if now >= limit {
                self.last = self.last.max(deadline);
                return Ok(Poll::Deadline);
            }
            let wait = (limit - now).min(Duration::from_millis(50));
            match self.rx.recv_timeout(wait) {
                Ok((i, ev)) => {
                    let t = self.at(i);
                    self.last = self.last.max(t);
                    return Ok(Poll::Event(t, ev));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        }
    }

    fn ledger(&mut self, _end: Time) -> Result<Ledger, TargetError> {
        if let Some(mut w) = self.workload.take() {
            w.stop(self.rt.handle());
            let log = std::mem::take(&mut *w.log.lock().map_err(|_| infra("ledger", "lock poisoned"))?);
            // What survived is what the recovery side holds: the router's current backend if it
            // answers, else the standby (the DR copy).
            let backend = self.router.backend();
            let current = format!("host=127.0.0.1 port={} user=postgres dbname=postgres", backend.port());
            let survived = self
                .rt
                .block_on(workload::survivors(&current))
                .or_else(|_| self.rt.block_on(workload::survivors(&self.standby_conninfo)))
                .map_err(|e| infra("reading back the ledger", e))?;
            let survived: HashSet<i64> = survived.into_iter().collect();
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
            return Ok(Ledger::Recorded {
                acks,
                lost,
                indeterminate: log.indeterminate.len() as u64,
            });
        }
        Ok(Ledger::NotMeasurable("the workload was not running".into()))
    }
}

/// One drill on the local target, end to end, as a scorecard. The topology is torn down before
/// this returns, whatever happened.
pub fn run(
    loaded: &crate::scenario::Loaded,
    seed: u64,
    opts: &LocalOptions,
) -> Result<(crate::scorecard::Scorecard, Option<PathBuf>), TargetError> {
    let plan = Plan::compile(&loaded.scenario);
    let mut target = LocalTarget::start(&loaded.scenario, &plan, opts)?;
    let mut tl = Timeline::new(true);
    let measured = crate::drill::run_on(&mut Engine::new(), &plan, &mut target, &mut tl);
    let kept = target.teardown();
    let m = measured?;
    let cx = crate::scorecard::Context {
        loaded,
        plan: &plan,
        target: "local",
        seed,
        models_overridden: Vec::new(),
    };
    Ok((crate::scorecard::build(&cx, &tl, &m), kept))
}
