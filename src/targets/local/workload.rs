//! The local target's client traffic: a writer that inserts sequence-numbered rows through the
//! router and keeps the ledger of acknowledged writes, and a prober that writes and reads back
//! through the router at the scenario's interval. Both report on the drill's monotonic clock.
//!
//! A write whose outcome is unknown (the connection broke while it was in flight) is recorded
//! as indeterminate: neither acknowledged nor lost.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::pg::client::connect;

use crate::engine::Event;

/// What the writer has recorded so far.
#[derive(Debug, Default)]
pub struct WriteLog {
    /// (sequence number, acknowledgement instant), in acknowledgement order.
    pub acked: Vec<(i64, Instant)>,
    pub indeterminate: Vec<i64>,
    pub errors: u64,
}

pub struct Workload {
    pub log: Arc<Mutex<WriteLog>>,
    stop: Arc<AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

pub struct WorkloadConfig {
    pub conninfo: String,
    pub writes_per_second: f64,
    pub probe_interval: Duration,
    /// Delay before the first probe: the probe schedule's phase against the fault times.
    pub probe_offset: Duration,
    pub ledger_path: Option<PathBuf>,
    pub start: Instant,
    /// Rows the canary table must hold for a probe to pass: data damaged by a bad write is an
    /// outage even while the database answers.
    pub canary: Option<i64>,
    /// The session store's endpoint, when the service cannot serve without it: a probe also
    /// sets and reads back a session there.
    pub session_probe: Option<std::net::SocketAddr>,
}

impl Workload {
    pub fn start(rt: &tokio::runtime::Handle, cfg: WorkloadConfig, events: Sender<(Instant, Event)>) -> Workload {
        let log = Arc::new(Mutex::new(WriteLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        if cfg.writes_per_second > 0.0 {
            handles.push(rt.spawn(writer(
                cfg.conninfo.clone(),
                cfg.writes_per_second,
                cfg.ledger_path.clone(),
                cfg.start,
                log.clone(),
                stop.clone(),
            )));
        }
        handles.push(rt.spawn(prober(
            cfg.conninfo,
            cfg.canary,
            cfg.session_probe,
            cfg.probe_interval,
            cfg.probe_offset,
            stop.clone(),
            events,
        )));
        Workload { log, stop, handles }
    }

    /// Stops both tasks and waits for them (bounded).
    pub fn stop(&mut self, rt: &tokio::runtime::Handle) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), h).await });
        }
    }
}

async fn writer(
    conninfo: String,
    rate: f64,
    ledger: Option<PathBuf>,
    start: Instant,
    log: Arc<Mutex<WriteLog>>,
    stop: Arc<AtomicBool>,
) {
    let mut file = ledger
        .and_then(|p| std::fs::File::create(p).ok())
        .map(std::io::BufWriter::new);
    if let Some(f) = file.as_mut() {
        let _ = writeln!(f, "seq,acked_at_s");
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut next = tokio::time::Instant::now();
    let mut seq: i64 = 0;
    let mut client: Option<Client> = None;
    let mut last_flush = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if client.is_none() {
            client = connect(&conninfo, Duration::from_millis(500)).await.ok();
            if client.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        let Some(c) = client.as_ref() else { continue };
        seq += 1;
        let res = tokio::time::timeout(
            Duration::from_secs(1),
            c.execute("INSERT INTO drill_ledger (seq) VALUES ($1)", &[&seq]),
        )
        .await;
        let now = Instant::now();
        match res {
            Ok(Ok(_)) => {
                if let Ok(mut l) = log.lock() {
                    l.acked.push((seq, now));
                }
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{seq},{:.6}", now.duration_since(start).as_secs_f64());
                    if last_flush.elapsed() > Duration::from_millis(100) {
                        let _ = f.flush();
                        last_flush = Instant::now();
                    }
                }
            }
            Ok(Err(e)) => {
                // A refused statement (read-only standby, connection error) may or may not have
                // committed when the connection broke: only a clean SQL error means "not written".
                let definitely_not_written = e.as_db_error().is_some();
                if let Ok(mut l) = log.lock() {
                    l.errors += 1;
                    if !definitely_not_written {
                        l.indeterminate.push(seq);
                    }
                }
                client = None;
            }
            Err(_) => {
                if let Ok(mut l) = log.lock() {
                    l.errors += 1;
                    l.indeterminate.push(seq);
                }
                client = None;
            }
        }
        pace(&mut next, period).await;
    }
    if let Some(f) = file.as_mut() {
        let _ = f.flush();
    }
}

/// Waits for the next slot of a writer running every `period`; one that fell behind (an
/// outage) starts again from now instead of bursting to catch up.
pub(super) async fn pace(next: &mut tokio::time::Instant, period: Duration) {
    *next += period;
    let now = tokio::time::Instant::now();
    if *next > now {
        tokio::time::sleep_until(*next).await;
    } else if now - *next > Duration::from_millis(200) {
        *next = now;
    }
}

async fn probe_once(client: &Client, n: i64, canary: Option<i64>) -> bool {
    let upsert = client
        .execute(
            "INSERT INTO drill_probe (id, n, at) VALUES (1, $1, clock_timestamp()) ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n, at = EXCLUDED.at",
            &[&n],
        )
        .await;
    if upsert.is_err() {
        return false;
    }
    let read = match client.query_one("SELECT n FROM drill_probe WHERE id = 1", &[]).await {
        Ok(row) => row.try_get::<_, i64>(0).map(|v| v == n).unwrap_or(false),
        Err(_) => false,
    };
    match canary {
        Some(rows) if read => match client.query_one("SELECT count(*) FROM drill_canary", &[]).await {
            Ok(row) => row.try_get::<_, i64>(0).is_ok_and(|v| v == rows),
            Err(_) => false,
        },
        _ => read,
    }
}

async fn prober(
    conninfo: String,
    canary: Option<i64>,
    session_probe: Option<std::net::SocketAddr>,
    interval: Duration,
    offset: Duration,
    stop: Arc<AtomicBool>,
    events: Sender<(Instant, Event)>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let budget = interval.mul_f64(0.8).max(Duration::from_millis(20));
    let mut client: Option<Client> = None;
    let mut n: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let started = Instant::now();
        let ok = tokio::time::timeout(budget, async {
            if client.is_none() {
                client = connect(&conninfo, budget).await.ok();
            }
            match client.as_ref() {
                Some(c) => probe_once(c, n, canary).await,
                None => false,
            }
        })
        .await
        .unwrap_or(false);
        if !ok {
            client = None;
        }
        let ok = match session_probe {
            Some(addr) if ok => session_ok(addr, n, budget.saturating_sub(started.elapsed())).await,
            _ => ok,
        };
        // The probe counts at the instant it was sent, like a client's request.
        if events.send((started, Event::Probe { ok })).is_err() {
            return;
        }
    }
}

/// A session set and read back through the session store's endpoint within `budget`.
async fn session_ok(addr: std::net::SocketAddr, n: i64, budget: Duration) -> bool {
    use super::redis::{Conn, Reply};
    let v = n.to_string();
    let check = async {
        let mut c = Conn::open(addr, budget).await.ok()?;
        let set = c.call(&["SET", "probe:session", &v], budget).await.ok()?;
        let got = c.call(&["GET", "probe:session"], budget).await.ok()?;
        Some(set == Reply::Simple("OK".into()) && got == Reply::Bulk(Some(v.clone().into_bytes())))
    };
    tokio::time::timeout(budget, check)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Every sequence number present on the database at `conninfo`.
pub async fn survivors(conninfo: &str) -> Result<Vec<i64>, String> {
    let client = connect(conninfo, Duration::from_secs(5))
        .await
        .map_err(|_| format!("cannot connect to {}", super::redacted(conninfo)))?;
    let rows = tokio::time::timeout(
        Duration::from_secs(30),
        client.query("SELECT seq FROM drill_ledger ORDER BY seq", &[]),
    )
    .await
    .map_err(|_| "reading the ledger table timed out".to_string())?
    .map_err(|e| format!("reading the ledger table: {e}"))?;
    Ok(rows.iter().filter_map(|r| r.try_get::<_, i64>(0).ok()).collect())
}
