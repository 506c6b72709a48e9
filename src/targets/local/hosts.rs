//! Watching every database host directly, through the whole drill: whether each is in recovery
//! or takes writes. A libpq multi-host endpoint hides which host answers; a split brain (two
//! writable hosts at once, e.g. an old primary whose HA agent died while the replica promoted)
//! is only seen by asking each host. Also the read-back of the ledger from each host after the
//! system settled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pg::client::connect;
use crate::engine::{Event, HostState};

/// One host of a (possibly multi-host) connection string: a label and a single-host
/// connection string that reaches exactly that host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub label: String,
    pub conninfo: String,
}

/// Keys that choose among hosts; a single-host string drops them.
const HOST_KEYS: [&str; 5] = ["host", "hostaddr", "port", "target_session_attrs", "load_balance_hosts"];

/// Splits a libpq connection string (key/value or `postgresql://` URL) into one single-host
/// string per host. A string with one host gives one.
pub fn split(conninfo: &str) -> Result<Vec<Host>, String> {
    let pairs = crate::conninfo::pairs(conninfo)?;
    let get = |k: &str| pairs.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let hosts: Vec<String> = get("host")
        .or_else(|| get("hostaddr"))
        .unwrap_or_else(|| "localhost".into())
        .split(',')
        .map(|h| h.trim().to_string())
        .collect();
    let ports: Vec<String> = get("port")
        .unwrap_or_else(|| "5432".into())
        .split(',')
        .map(|p| p.trim().to_string())
        .collect();
    if ports.len() != 1 && ports.len() != hosts.len() {
        return Err(format!("{} hosts but {} ports", hosts.len(), ports.len()));
    }
    let rest: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| !HOST_KEYS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", crate::conninfo::quote(v)))
        .collect();
    let has_timeout = pairs.iter().any(|(k, _)| k == "connect_timeout");
    Ok(hosts
        .iter()
        .enumerate()
        .map(|(n, h)| {
            let port = if ports.len() == 1 { &ports[0] } else { &ports[n] };
            let mut parts = vec![format!("host={}", crate::conninfo::quote(h)), format!("port={port}")];
            parts.extend(rest.iter().cloned());
            if !has_timeout {
                parts.push("connect_timeout=2".into());
            }
            Host {
                label: format!("{h}:{port}"),
                conninfo: parts.join(" "),
            }
        })
        .collect())
}

/// What one host answers now.
pub async fn state_of(client: &tokio_postgres::Client, timeout: Duration) -> HostState {
    let q = client.query_one(
        "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'",
        &[],
    );
    match tokio::time::timeout(timeout, q).await {
        Ok(Ok(row)) => {
            let in_recovery: bool = row.try_get(0).unwrap_or(true);
            let read_only: bool = row.try_get(1).unwrap_or(true);
            if in_recovery || read_only {
                HostState::ReadOnly
            } else {
                HostState::Writer
            }
        }
        _ => HostState::Unreachable,
    }
}

/// Watches one host until `stop`: its state at start and on every change, as [`Event::Host`].
pub async fn watch(
    index: usize,
    conninfo: String,
    every: Duration,
    events: Sender<(Instant, Event)>,
    stop: Arc<AtomicBool>,
) {
    let timeout = Duration::from_secs(1);
    let mut client = None;
    let mut last = None;
    while !stop.load(Ordering::SeqCst) {
        // A host is counted writable only on evidence: a writer answer is stamped when it
        // arrived, anything else (read-only, no answer) when the question was asked. A hung
        // writer is not counted as writable for the second the query took to time out, and a
        // fenced host whose answer was slow on a loaded machine is not counted as writable
        // while its answer travelled (no split brain made of the watcher's own latency).
        let asked = Instant::now();
        if client.as_ref().is_none_or(|c: &tokio_postgres::Client| c.is_closed()) {
            client = connect(&conninfo, timeout).await.ok();
        }
        let state = match &client {
            Some(c) => state_of(c, timeout).await,
            None => HostState::Unreachable,
        };
        if state == HostState::Unreachable {
            client = None;
        }
        let at = if state == HostState::Writer {
            Instant::now()
        } else {
            asked
        };
        if last != Some(state) {
            last = Some(state);
            if events.send((at, Event::Host { host: index, state })).is_err() {
                return;
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// A host's state, once, with a fresh connection (the read-back after the drill).
pub async fn state_now(conninfo: &str) -> HostState {
    match connect(conninfo, Duration::from_secs(2)).await {
        Ok(c) => state_of(&c, Duration::from_secs(2)).await,
        Err(_) => HostState::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_host_string_splits_into_one_string_per_host() {
        let h = split("host=127.0.0.1,127.0.0.1 port=5432,5433 user=postgres dbname=app target_session_attrs=read-write connect_timeout=1").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].label, "127.0.0.1:5432");
        assert_eq!(
            h[1].conninfo,
            "host=127.0.0.1 port=5433 user=postgres dbname=app connect_timeout=1"
        );
        let h = split("host=a,b port=6000 password='it\\'s' dbname=x").unwrap();
        assert_eq!(
            h[1].conninfo,
            "host=b port=6000 password='it\\'s' dbname=x connect_timeout=2"
        );
        let u =
            split("postgresql://app:p%40ss@db1:5432,db2:5433/orders?target_session_attrs=read-write&sslmode=disable")
                .unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[1].label, "db2:5433");
        assert_eq!(
            u[1].conninfo,
            "host=db2 port=5433 user=app password=p@ss dbname=orders sslmode=disable connect_timeout=2"
        );
        assert!(split("host=a,b,c port=1,2").is_err());
        assert!(split("host").is_err());
        assert!(split("host='unterminated").is_err());
    }
}
