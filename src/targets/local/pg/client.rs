//! The local target's PostgreSQL client: every connection drillbit makes to a database (the
//! cluster's own statements, the workload's writes and probes, the hosts' watch and read-back,
//! the health check, a bound database's preparation) is a tokio-postgres connection opened
//! here, over TCP or a Unix socket as the connection string says, without TLS.
//!
//! The cluster's API is synchronous (the engine's threads, tests): [`block_on`] runs its
//! futures on a small runtime of this module's own, from any thread.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Not connected within the time given.
    TimedOut,
    /// Refused, unreachable, or the server said no.
    Failed(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::TimedOut => f.write_str("timed out"),
            ConnectError::Failed(why) => f.write_str(why),
        }
    }
}

/// Opens a connection within `timeout`, the whole set-up (socket, startup, authentication) as
/// libpq's `connect_timeout` bounds it (tokio-postgres's own bounds only the socket connect).
/// A task on the current runtime drives the connection; it closes when the client is dropped.
pub(crate) async fn connect(conninfo: &str, timeout: Duration) -> Result<Client, ConnectError> {
    match tokio::time::timeout(timeout, tokio_postgres::connect(conninfo, NoTls)).await {
        Ok(Ok((client, conn))) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(client)
        }
        Ok(Err(e)) => Err(ConnectError::Failed(describe(&e))),
        Err(_) => Err(ConnectError::TimedOut),
    }
}

/// How a query failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// The server refused the statement and said why; the connection is still usable (after a
    /// FATAL error it is not, which the next query finds).
    Sql(String),
    /// No answer in time, or the connection is gone: it is of no further use.
    Broken(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Sql(why) | QueryError::Broken(why) => f.write_str(why),
        }
    }
}

/// Runs `sql` with the simple query protocol (`;`-separated statements run in one implicit
/// transaction) within `timeout`. The rows come back as psql's unaligned, tuples-only output
/// prints them: a line a row, fields separated by `|`, a NULL as nothing.
pub(crate) async fn query(client: &Client, sql: &str, timeout: Duration) -> Result<Vec<String>, QueryError> {
    match tokio::time::timeout(timeout, client.simple_query(sql)).await {
        Ok(Ok(messages)) => Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
                _ => None,
            })
            .collect()),
        Ok(Err(e)) if e.as_db_error().is_some() && !client.is_closed() => Err(QueryError::Sql(describe(&e))),
        Ok(Err(e)) => Err(QueryError::Broken(describe(&e))),
        Err(_) => Err(QueryError::Broken(format!(
            "no answer within {:.1} s",
            timeout.as_secs_f64()
        ))),
    }
}

/// Connects to `conninfo` (within `connect_timeout`) and runs `sql`, all within `timeout`.
pub(crate) async fn query_once(
    conninfo: &str,
    sql: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<Vec<String>, QueryError> {
    let deadline = Instant::now() + timeout;
    let client = match connect(conninfo, connect_timeout.min(timeout)).await {
        Ok(c) => c,
        Err(ConnectError::TimedOut) => {
            return Err(QueryError::Broken(format!(
                "no connection within {:.1} s",
                connect_timeout.min(timeout).as_secs_f64()
            )))
        }
        Err(ConnectError::Failed(why)) => return Err(QueryError::Broken(why)),
    };
    query(&client, sql, deadline.saturating_duration_since(Instant::now())).await
}

/// A tokio-postgres error with what caused it (its `Display` names only the kind): the
/// server's own message for an error the server sent.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The runtime [`block_on`] runs futures on: one worker thread, started on first use.
fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("drillbit-pg-client")
                .enable_all()
                .build()
                .map_err(|e| format!("starting the PostgreSQL client's runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `fut` on this module's runtime and waits for its output: callable from any thread,
/// also one inside another runtime (but not from a task of this one). An error only when the
/// runtime cannot start or the future panicked.
pub(crate) fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| "the PostgreSQL client's task ended without an answer".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_says_why_and_a_silent_server_times_out() {
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = block_on(async move {
            let conninfo = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
            connect(&conninfo, Duration::from_secs(2)).await.map(|_| ())
        })
        .unwrap();
        match refused {
            Err(ConnectError::Failed(why)) => assert!(why.contains("refused"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A listener that never answers the startup message.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let t = Instant::now();
        let hung = block_on(async move {
            let conninfo = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
            query_once(
                &conninfo,
                "SELECT 1",
                Duration::from_millis(300),
                Duration::from_secs(5),
            )
            .await
        })
        .unwrap();
        assert!(matches!(hung, Err(QueryError::Broken(_))), "{hung:?}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(silent);
    }
}
