//! The session store on the local target: the scenario's ElastiCache global datastore becomes a
//! Redis primary ("primary region") and a replica ("DR region") replicating from it, both real
//! `redis-server` processes (Debian's, `harness/install-redis.sh`), reached through an endpoint
//! of drillbit's router as clients reach the datastore's primary endpoint. A session writer
//! sets numbered session keys through the endpoint and keeps its own ledger; the failover
//! promotes the replica (`REPLICAOF NO ONE`) and moves the endpoint. After the drill the
//! sessions the promoted copy holds are read back: an acknowledged session it lacks is lost,
//! as for the database's writes.
//!
//! A small RESP client is here: the few commands drillbit sends need nothing more.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::router::Router;

/// A RESP reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

/// One connection speaking RESP.
pub struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    pub async fn open(addr: SocketAddr, within: Duration) -> Result<Conn, String> {
        let s = tokio::time::timeout(within, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {addr} timed out"))?
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let _ = s.set_nodelay(true);
        Ok(Conn {
            stream: BufReader::new(s),
        })
    }

    /// Sends one command and reads its reply, all within `within`.
    pub async fn call(&mut self, args: &[&str], within: Duration) -> Result<Reply, String> {
        tokio::time::timeout(within, async {
            let mut out = format!("*{}\r\n", args.len()).into_bytes();
            for a in args {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            self.stream.get_mut().write_all(&out).await.map_err(|e| e.to_string())?;
            read_reply(&mut self.stream).await
        })
        .await
        .map_err(|_| format!("{} timed out", args.first().copied().unwrap_or("command")))?
    }
}

async fn read_line(r: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    let n = r.read_line(&mut line).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_reply(
    r: &mut BufReader<TcpStream>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, String>> + Send + '_>> {
    Box::pin(async move {
        let line = read_line(r).await?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let num = || rest.parse::<i64>().map_err(|_| format!("bad reply {line:?}"));
        match kind {
            "+" => Ok(Reply::Simple(rest.to_string())),
            "-" => Ok(Reply::Error(rest.to_string())),
            ":" => Ok(Reply::Int(num()?)),
            "$" => {
                let n = num()?;
                if n < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
                buf.truncate(n as usize);
                Ok(Reply::Bulk(Some(buf)))
            }
            "*" => {
                let n = num()?;
                let mut items = Vec::new();
                for _ in 0..n.max(0) {
                    items.push(read_reply(r).await?);
                }
                Ok(Reply::Array(items))
            }
            _ => Err(format!("bad reply {line:?}")),
        }
    })
}

/// One command on a fresh connection.
pub async fn call_once(addr: SocketAddr, args: &[&str], within: Duration) -> Result<Reply, String> {
    let mut c = Conn::open(addr, within).await?;
    c.call(args, within).await
}

/// The `redis-server` program: `$DRILLBIT_REDIS_SERVER`, else on `PATH`, else Debian's.
pub fn find_server() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("DRILLBIT_REDIS_SERVER").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("redis-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin/redis-server")])
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "redis-server not found (harness/install-redis.sh installs it; or set DRILLBIT_REDIS_SERVER)".into()
        })
}

/// One redis-server process drillbit started.
struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    fn start(program: &Path, dir: PathBuf, port: u16, replica_of: Option<SocketAddr>) -> Result<Server, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cmd = Command::new(program);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--daemonize", "no", "--protected-mode", "no", "--logfile", "redis.log"])
        .arg("--dir")
        .arg(&dir)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(up) = replica_of {
            cmd.args(["--replicaof", &up.ip().to_string(), &up.port().to_string()]);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        Ok(Server {
            child: Some(child),
            addr: ([127, 0, 0, 1], port).into(),
            dir,
        })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// SIGKILL, and waited for.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

/// What the session writer acknowledged: (session number, when).
#[derive(Debug, Default)]
pub struct SessionLog {
    pub acked: Vec<(u64, Instant)>,
}

/// The Redis primary and replica, the endpoint in front of them and the session writer.
pub struct SessionStore {
    primary: Mutex<Server>,
    replica: Mutex<Server>,
    pub endpoint: Router,
    pub log: Arc<Mutex<SessionLog>>,
    stop: Arc<AtomicBool>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The global datastore's id, for notes.
    pub name: String,
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

async fn role(addr: SocketAddr) -> Option<String> {
    match call_once(addr, &["INFO", "replication"], Duration::from_secs(1)).await {
        Ok(Reply::Bulk(Some(b))) => {
            let text = String::from_utf8_lossy(&b).into_owned();
            let role = text.lines().find_map(|l| l.strip_prefix("role:"))?.trim().to_string();
            let up = text.lines().any(|l| l.trim() == "master_link_status:up");
            Some(if role == "slave" && up {
                "replica-streaming".into()
            } else {
                role
            })
        }
        _ => None,
    }
}

/// Waits until the server at `addr` reports role `want` (or `replica-streaming`).
fn wait_role(
    handle: &tokio::runtime::Handle,
    server: &mut Server,
    what: &str,
    addr: SocketAddr,
    want: &str,
    within: Duration,
) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        if handle.block_on(role(addr)).as_deref() == Some(want) {
            return Ok(());
        }
        if !server.running() {
            return Err(format!("the Redis {what} exited: {}", server.log_tail()));
        }
        if t0.elapsed() > within {
            return Err(format!(
                "the Redis {what} is not {want} after {} s: {}",
                within.as_secs(),
                server.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl SessionStore {
    /// Starts the primary, then the replica, and waits until the replica is in sync; the
    /// endpoint points at the primary. The servers' directories are made under `root`.
    pub fn start(handle: &tokio::runtime::Handle, root: &Path, name: &str) -> Result<SessionStore, String> {
        let program = find_server()?;
        let mut primary = Server::start(&program, root.join("redis-primary"), free_port()?, None)?;
        let paddr = primary.addr;
        wait_role(
            handle,
            &mut primary,
            "primary",
            paddr,
            "master",
            Duration::from_secs(20),
        )?;
        let mut replica = Server::start(&program, root.join("redis-replica"), free_port()?, Some(paddr))?;
        let raddr = replica.addr;
        if let Err(e) = wait_role(
            handle,
            &mut replica,
            "replica",
            raddr,
            "replica-streaming",
            Duration::from_secs(20),
        ) {
            primary.kill();
            replica.kill();
            return Err(e);
        }
        let endpoint = Router::start(handle, paddr).map_err(|e| format!("the session endpoint: {e}"))?;
        Ok(SessionStore {
            primary: Mutex::new(primary),
            replica: Mutex::new(replica),
            endpoint,
            log: Arc::new(Mutex::new(SessionLog::default())),
            stop: Arc::new(AtomicBool::new(false)),
            writer: Mutex::new(None),
            name: name.to_string(),
        })
    }

    /// Sets `session:<n>` through the endpoint at `rate` per second until stopped.
    pub fn start_writer(&self, handle: &tokio::runtime::Handle, rate: f64) {
        let (addr, log, stop) = (self.endpoint.addr(), self.log.clone(), self.stop.clone());
        let task = handle.spawn(async move {
            let period = Duration::from_secs_f64(1.0 / rate.max(1.0));
            let mut next = tokio::time::Instant::now();
            let mut conn: Option<Conn> = None;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if conn.is_none() {
                    conn = Conn::open(addr, Duration::from_millis(500)).await.ok();
                    if conn.is_none() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                n += 1;
                let key = format!("session:{n}");
                match c.call(&["SET", &key, "1"], Duration::from_secs(1)).await {
                    Ok(Reply::Simple(ok)) if ok == "OK" => {
                        if let Ok(mut l) = log.lock() {
                            l.acked.push((n, Instant::now()));
                        }
                    }
                    // Refused (a read-only replica) or broken: not acknowledged; reconnect.
                    _ => conn = None,
                }
                super::workload::pace(&mut next, period).await;
            }
        });
        if let Ok(mut w) = self.writer.lock() {
            *w = Some(task);
        }
    }

    /// The primary region fails: its Redis is killed.
    pub fn kill_primary(&self) {
        if let Ok(mut p) = self.primary.lock() {
            p.kill();
        }
    }

    /// The global datastore fails over: the replica is promoted and the endpoint moves to it.
    pub fn fail_over(&self, handle: &tokio::runtime::Handle) -> Result<(), String> {
        let addr = self.replica.lock().map_err(|_| "lock poisoned")?.addr;
        match handle.block_on(call_once(addr, &["REPLICAOF", "NO", "ONE"], Duration::from_secs(5)))? {
            Reply::Simple(_) => {}
            other => return Err(format!("REPLICAOF NO ONE: {other:?}")),
        }
        let t0 = Instant::now();
        while handle.block_on(role(addr)).as_deref() != Some("master") {
            if t0.elapsed() > Duration::from_secs(10) {
                return Err("the promoted replica does not report role:master".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.endpoint.set_backend(addr, true);
        Ok(())
    }

    /// Failback: the primary region's Redis is started again, empty, as a replica of the
    /// promoted one; once it streams, a coordinated `FAILOVER` (writes paused until the replica
    /// has every write, then the roles swap) makes it the primary again, and the endpoint
    /// moves back. No acknowledged session is left behind.
    pub fn fail_back(&self, handle: &tokio::runtime::Handle) -> Result<(), String> {
        let program = find_server()?;
        let dr = self.replica.lock().map_err(|_| "lock poisoned")?.addr;
        if handle.block_on(role(dr)).as_deref() != Some("master") {
            return Err("the DR Redis is not the primary: there is nothing to fail back from".into());
        }
        let mut p = self.primary.lock().map_err(|_| "lock poisoned")?;
        p.kill();
        let dir = p.dir.clone();
        // Whatever the old primary held is discarded: it may hold writes the DR side never saw.
        let _ = std::fs::remove_dir_all(&dir);
        *p = Server::start(&program, dir, free_port()?, Some(dr))?;
        let addr = p.addr;
        wait_role(
            handle,
            &mut p,
            "rebuilt primary",
            addr,
            "replica-streaming",
            Duration::from_secs(20),
        )?;
        let (host, port) = (addr.ip().to_string(), addr.port().to_string());
        match handle.block_on(call_once(
            dr,
            &["FAILOVER", "TO", &host, &port, "TIMEOUT", "10000"],
            Duration::from_secs(5),
        ))? {
            Reply::Simple(_) => {}
            other => return Err(format!("FAILOVER TO {addr}: {other:?}")),
        }
        wait_role(
            handle,
            &mut p,
            "rebuilt primary",
            addr,
            "master",
            Duration::from_secs(15),
        )?;
        self.endpoint.set_backend(addr, true);
        Ok(())
    }

    /// Stops the writer (bounded wait).
    pub fn stop_writer(&self, handle: &tokio::runtime::Handle) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.block_on(async { tokio::time::timeout(Duration::from_secs(3), t).await });
        }
    }

    /// The session numbers the endpoint's current server holds.
    pub fn survivors(&self, handle: &tokio::runtime::Handle) -> Result<std::collections::HashSet<u64>, String> {
        let addr = self.endpoint.backend();
        match handle.block_on(call_once(addr, &["KEYS", "session:*"], Duration::from_secs(30)))? {
            Reply::Array(items) => Ok(items
                .into_iter()
                .filter_map(|r| match r {
                    Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b).strip_prefix("session:")?.parse().ok(),
                    _ => None,
                })
                .collect()),
            other => Err(format!("KEYS: {other:?}")),
        }
    }

    /// Stops the writer, the endpoint and both servers (killed and waited for).
    pub fn shutdown(&self, handle: &tokio::runtime::Handle) {
        self.stop_writer(handle);
        self.endpoint.shutdown();
        for s in [&self.primary, &self.replica] {
            if let Ok(mut s) = s.lock() {
                s.kill();
            }
        }
    }
}
