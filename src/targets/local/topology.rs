//! What the local target drills: the topology drillbit builds (a PostgreSQL primary and
//! standby behind a link proxy, a router standing in for the Route 53 record, services per
//! region, the health check), or the database a scenario binds it to.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::backups::{self, Backups};
use super::pg::{self, Cluster, ClusterOptions, PgBinaries, SyncMode};
use super::redis::SessionStore;
use super::router::Router;
use super::services::Service;
use super::{guard, infra, redacted};
use crate::engine::{AlarmSource, Event, TargetError};
use crate::scenario::{Replication, Resource, Scenario};

struct HealthCheck {
    interval: Duration,
    threshold: u32,
    automatic: bool,
}

/// What drillbit built, or the endpoint of what it was bound to.
pub(super) enum Topology {
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
        /// With no replica: the backup plan, and the second node is the instance a restore
        /// makes on the DR side.
        backups: Option<Arc<Backups>>,
        /// The ElastiCache global datastore as a Redis primary and replica, if the scenario
        /// has one.
        sessions: Option<Arc<SessionStore>>,
    },
    Bound {
        conninfo: String,
    },
}

impl Topology {
    /// On a topology drillbit built whose record has a health check: the checker, on `handle`.
    pub(super) fn start_health_check(
        &self,
        s: &Scenario,
        handle: &tokio::runtime::Handle,
        passes: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
        tx: Sender<(Instant, Event)>,
    ) -> Result<(), TargetError> {
        let Topology::Built {
            cluster,
            router,
            standby_addr,
            ..
        } = self
        else {
            return Ok(());
        };
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
                passes,
                stop,
                tx,
            ));
        }
        Ok(())
    }
}

pub(super) async fn prepare_bound(conninfo: &str) -> Result<(), String> {
    let client = pg::client::connect(conninfo, Duration::from_secs(10))
        .await
        .map_err(|e| match e {
            pg::client::ConnectError::TimedOut => format!("connecting to {} timed out", redacted(conninfo)),
            e => format!("connecting to {}: {e}", redacted(conninfo)),
        })?;
    // drillbit owns these two tables on the bound database; each drill starts them empty.
    client
        .batch_execute(&format!("{} TRUNCATE drill_ledger, drill_probe;", pg::DRILL_TABLES))
        .await
        .map_err(|e| format!("preparing the drill tables: {e}"))
}

pub(super) fn build_topology(
    s: &Scenario,
    handle: &tokio::runtime::Handle,
    keep: bool,
) -> Result<(Topology, String, Vec<String>), TargetError> {
    let replica = s.topology.resources.iter().find_map(|r| match r {
        Resource::RdsReadReplica(rr) => Some(rr.replication),
        _ => None,
    });
    let has_aurora = s
        .topology
        .resources
        .iter()
        .any(|r| matches!(r, Resource::AuroraGlobal(_)));
    // With no replica, the database is protected by its backups alone: the DR side's database
    // is whatever the runbook restores.
    let backup_spec = backups::spec(s).filter(|_| backups::runbook_restores(s));
    let sync = match (replica, has_aurora, &backup_spec) {
        (Some(Replication::Sync), _, _) => Some(SyncMode::Sync),
        (Some(Replication::Async), _, _) | (None, true, _) => Some(SyncMode::Async),
        (None, false, Some(_)) => None,
        (None, false, None) => {
            return Err(TargetError::Infrastructure(
                "the local target needs a database with a replica to stand up PostgreSQL (an rds-instance with an rds-read-replica, or an aurora-global), a database with backups the runbook restores from (a backup-plan or `backups:`, and a restore step), or a database bound to an existing one (`bind: { connection: ... }`)".into(),
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
            sync: sync.unwrap_or_default(),
            replication_via: None,
            keep,
            parent: None,
            archive: sync.is_none(),
        },
    )
    .map_err(|e| infra("primary", e))?;
    let mut notes = Vec::new();
    if let Some(gib) = s.workload.data_gib {
        let t0 = Instant::now();
        let bytes = cluster
            .generate_data(gib)
            .map_err(|e| infra("generating the data", e))?;
        notes.push(format!(
            "data: generated {:.3} GiB of table data before the drill in {:.1} s (database size {:.1} MiB)",
            gib,
            t0.elapsed().as_secs_f64(),
            bytes as f64 / (1024.0 * 1024.0)
        ));
    }
    if has_corruption(s) {
        cluster
            .sql(
                &cluster.primary,
                &format!(
                    "CREATE TABLE drill_canary (id int PRIMARY KEY); INSERT INTO drill_canary SELECT generate_series(1, {})",
                    super::CANARY_ROWS
                ),
                Duration::from_secs(30),
            )
            .map_err(|e| infra("the canary table", e))?;
    }
    let primary_addr: SocketAddr = ([127, 0, 0, 1], cluster.primary.port).into();
    let standby_addr: SocketAddr = ([127, 0, 0, 1], cluster.standby.port).into();
    let link = Router::start(handle, primary_addr).map_err(|e| infra("replication link", e))?;
    let backups = match backup_spec {
        Some(spec) if sync.is_none() => {
            let b = Backups::provision(&cluster, spec, &s.topology.primary_region).map_err(|e| infra("backups", e))?;
            Some(Arc::new(b))
        }
        _ => {
            cluster
                .start_standby(link.addr().port())
                .map_err(|e| infra("standby", e))?;
            None
        }
    };
    // ECS services and Auto Scaling groups become task processes behind a balancer per region,
    // each region's tasks talking to that region's database.
    let sides = s.topology.resources.iter().find_map(|r| match r {
        Resource::EcsService(e) => Some((e.id.as_str(), e.primary.desired, e.dr.desired)),
        Resource::AutoScalingGroup(g) => Some((g.id.as_str(), g.primary.desired, g.dr.desired)),
        _ => None,
    });
    let services = match sides {
        Some((id, p, d)) => {
            let primary = Service::start(handle, primary_addr, p).map_err(|e| infra("primary service", e))?;
            // A DR side the runbook deploys from IaC does not exist before that step.
            let deployed_by_runbook = s
                .all_steps()
                .any(|st| st.action == crate::scenario::Action::IacDeploy && st.resource.as_deref() == Some(id));
            let dr = if deployed_by_runbook {
                Service::undeployed(handle, standby_addr)
            } else {
                Service::start(handle, standby_addr, d)
            }
            .map_err(|e| infra("DR service", e))?;
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
    let sessions = match s.topology.resources.iter().find_map(|r| match r {
        Resource::ElasticacheGlobal(g) => Some(g),
        _ => None,
    }) {
        Some(g) => Some(Arc::new(
            SessionStore::start(handle, &cluster.root, &g.global_datastore)
                .map_err(|e| infra("the session store", e))?,
        )),
        None => None,
    };
    let router = Router::start(handle, primary_entry).map_err(|e| infra("router", e))?;
    let client = pg::loopback_conninfo(router.addr().port());
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
            backups,
            sessions,
        },
        client,
        notes,
    ))
}

/// Whether the scenario makes a bad write (a data-corruption fault).
pub(super) fn has_corruption(s: &Scenario) -> bool {
    s.faults
        .iter()
        .any(|f| matches!(f.kind, crate::scenario::FaultType::DataCorruption))
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
