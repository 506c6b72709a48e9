//! Userspace TCP proxy for the `local` drill target.
//!
//! This module owns the one piece of "network" a single-machine failover drill needs and cannot get from
//! the operating system without root: a loopback TCP proxy whose backend, health and latency can be
//! changed while traffic flows. It is used twice:
//!
//! 1. **As the traffic router** that stands in for a Route 53 failover record. Clients connect to the
//!    router; the runbook's traffic-switch step calls [`Router::set_backend`] to repoint it from the
//!    primary PostgreSQL to the promoted standby (optionally dropping connections to the old primary,
//!    as clients of a failed-over endpoint see).
//! 2. **As the replication link** between a PostgreSQL primary and its standby, so a drill can cut the
//!    link ([`LinkMode::Blackhole`] or [`LinkMode::Reset`]) or add latency ([`Router::set_latency`]).
//!
//! # Design
//!
//! * One accept task per router and one task per connection, all spawned on the caller's runtime handle.
//!   Every setter is a plain lock/atomic update plus a [`tokio::sync::watch`] notification that the
//!   tasks observe, so the whole API is callable from synchronous (non-async) threads.
//! * Forwarding uses a fixed 32 KiB buffer per direction, allocated once per connection: with no latency
//!   and [`LinkMode::Forward`] each chunk is read and written straight through (no per-packet
//!   allocation). TCP_NODELAY is set on both sides. `copy_bidirectional` is not used because it cannot
//!   pause for a blackhole or change latency mid-stream without losing bytes it has already read.
//! * Latency is a delay line: each chunk is stamped `read time + latency` and written when due, so a
//!   pipelined stream (WAL) sees latency without being throttled to one chunk per delay. Only while
//!   latency is set (or bytes are held) is each chunk copied into its own allocation; the queue is capped
//!   at 8 MiB per direction, beyond which the proxy stops reading (TCP back-pressure).
//! * [`LinkMode::Blackhole`] *holds* bytes: the proxy stops reading and writing both sockets, which stay
//!   open, like packets vanishing in a partition. New connections are accepted but not connected to any
//!   backend. When the mode returns to [`LinkMode::Forward`] held bytes flow again (as TCP
//!   retransmission would deliver them after a short partition heals) and held new connections connect
//!   to the backend current at that moment.
//! * [`LinkMode::Reset`] accepts and immediately aborts new connections (`SO_LINGER` 0, so the client sees
//!   a reset; the listener stays bound so the port cannot be taken meanwhile) and aborts existing ones on
//!   both sides.
//! * A failed or timed-out (10 s) backend connect aborts the client connection, as a failed endpoint
//!   would. I/O errors end the affected connection only; nothing here panics on I/O errors.
//! * [`Router::shutdown`] (also run by `Drop`) stops accepting, closes every connection and, when called
//!   from a thread that is *not* inside a Tokio runtime context, blocks up to 2 s until every task of the
//!   router has ended. Called from inside a runtime (async code) it only signals the tasks and returns at
//!   once — blocking there could deadlock the runtime — and the tasks end on their own promptly.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Size of the per-direction forwarding buffer.
const BUF_SIZE: usize = 32 * 1024;
/// Most bytes a direction keeps queued (latency or held) before it stops reading.
const MAX_QUEUED: usize = 8 * 1024 * 1024;
/// How long a backend connect may take before the client connection is aborted.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits for the router's tasks to end.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);
/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// What the link does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Forward bytes to the current backend.
    Forward,
    /// Accept connections but forward nothing and answer nothing (a partition: packets vanish). Existing
    /// connections stop forwarding too (bytes are held), but the sockets stay open.
    Blackhole,
    /// Refuse: close new connections at once and reset existing ones.
    Reset,
}

/// Counters of a [`Router`], for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterStats {
    /// Client connections accepted so far (including ones closed at once in [`LinkMode::Reset`]).
    pub accepted: u64,
    /// Client connections currently open.
    pub open: u64,
    /// Bytes forwarded client -> backend.
    pub bytes_up: u64,
    /// Bytes forwarded backend -> client.
    pub bytes_down: u64,
}

/// A loopback TCP proxy with a switchable backend, link mode and latency. See the module docs.
pub struct Router {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Disconnects once every task of this router (each holds a sender) has ended.
    tasks_done: Mutex<mpsc::Receiver<Infallible>>,
}

/// The state every task observes.
#[derive(Debug, Clone, Copy)]
struct Control {
    mode: LinkMode,
    latency: Duration,
    shutdown: bool,
}

struct Shared {
    ctl: watch::Sender<Control>,
    inner: Mutex<Inner>,
    accepted: AtomicU64,
    open: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

struct Inner {
    backend: SocketAddr,
    next_id: u64,
    conns: HashMap<u64, ConnEntry>,
}

struct ConnEntry {
    /// The backend this connection was pointed at; `None` while it is held before connecting.
    backend: Option<SocketAddr>,
    /// Closes the connection (used by `set_backend(_, true)`).
    kill: Option<oneshot::Sender<()>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn control(&self) -> Control {
        *self.ctl.borrow()
    }
}

/// Held by the accept task. Field order matters: the `Arc` is released before the task counts as done.
struct TaskGuard {
    shared: Arc<Shared>,
    done: mpsc::Sender<Infallible>,
}

/// Held by a connection task; unregisters the connection when the task ends (or is dropped unpolled).
struct ConnGuard {
    shared: Arc<Shared>,
    id: u64,
    _done: mpsc::Sender<Infallible>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.lock().conns.remove(&self.id);
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Router {
    /// Binds 127.0.0.1:0 (a free port) and starts forwarding to `backend` on the given tokio runtime handle.
    pub fn start(handle: &Handle, backend: SocketAddr) -> io::Result<Router> {
        Router::start_on(handle, 0, backend)
    }

    /// Same as [`Router::start`], on a given port of 127.0.0.1 (0 = any).
    pub fn start_on(handle: &Handle, port: u16, backend: SocketAddr) -> io::Result<Router> {
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _enter = handle.enter();
            TcpListener::from_std(std_listener)?
        };
        let (ctl, _) = watch::channel(Control {
            mode: LinkMode::Forward,
            latency: Duration::ZERO,
            shutdown: false,
        });
        let shared = Arc::new(Shared {
            ctl,
            inner: Mutex::new(Inner {
                backend,
                next_id: 0,
                conns: HashMap::new(),
            }),
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
        });
        let (done, tasks_done) = mpsc::channel();
        let guard = TaskGuard {
            shared: Arc::clone(&shared),
            done,
        };
        handle.spawn(accept_loop(guard, listener));
        Ok(Router {
            shared,
            addr,
            tasks_done: Mutex::new(tasks_done),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Repoints new connections to `backend`. With `drop_existing`, open connections to any other backend
    /// are closed (as clients of a failed-over endpoint see); without it they stay on their old backend.
    /// Connections held by a blackhole before reaching any backend connect to the new one when released.
    pub fn set_backend(&self, backend: SocketAddr, drop_existing: bool) {
        let mut inner = self.shared.lock();
        inner.backend = backend;
        if drop_existing {
            for entry in inner.conns.values_mut() {
                if entry.backend.is_some_and(|b| b != backend) {
                    if let Some(kill) = entry.kill.take() {
                        let _ = kill.send(());
                    }
                }
            }
        }
    }

    /// The backend new connections go to.
    pub fn backend(&self) -> SocketAddr {
        self.shared.lock().backend
    }

    /// Changes the link mode; applies to existing and new connections.
    pub fn set_mode(&self, mode: LinkMode) {
        self.shared.ctl.send_if_modified(|c| {
            let changed = c.mode != mode;
            c.mode = mode;
            changed
        });
    }

    /// The current link mode.
    pub fn mode(&self) -> LinkMode {
        self.shared.control().mode
    }

    /// Added one-way latency per forwarded chunk, each direction (`Duration::ZERO` = none). Applies to
    /// bytes read after the call, on existing and new connections. Tokio's timer has millisecond
    /// resolution, so each delay is rounded up to the next millisecond tick.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.ctl.send_if_modified(|c| {
            let changed = c.latency != latency;
            c.latency = latency;
            changed
        });
    }

    /// The current added latency.
    pub fn latency(&self) -> Duration {
        self.shared.control().latency
    }

    /// Connections accepted so far and currently open, and bytes forwarded each way.
    pub fn stats(&self) -> RouterStats {
        let s = &self.shared;
        RouterStats {
            accepted: s.accepted.load(Ordering::Relaxed),
            open: s.open.load(Ordering::Relaxed),
            bytes_up: s.bytes_up.load(Ordering::Relaxed),
            bytes_down: s.bytes_down.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, closes every connection, and waits (up to 2 s) until all tasks ended. Idempotent.
    ///
    /// The wait happens only when called from outside a Tokio runtime context (the drill engine's
    /// synchronous threads). From inside a runtime it signals the tasks and returns without blocking.
    pub fn shutdown(&self) {
        self.shared
            .ctl
            .send_if_modified(|c| !std::mem::replace(&mut c.shutdown, true));
        if Handle::try_current().is_ok() {
            return;
        }
        let done = self.tasks_done.lock().unwrap_or_else(PoisonError::into_inner);
        // Nothing is ever sent: this returns `Disconnected` once every task dropped its sender.
        let _ = done.recv_timeout(SHUTDOWN_WAIT);
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.shared.control();
        f.debug_struct("Router")
            .field("addr", &self.addr)
            .field("backend", &self.backend())
            .field("mode", &c.mode)
            .field("latency", &c.latency)
            .field("shutdown", &c.shutdown)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Closes `stream` with a TCP reset instead of a FIN once it is dropped.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn accept_loop(guard: TaskGuard, listener: TcpListener) {
    let shared = &guard.shared;
    let mut ctl = shared.ctl.subscribe();
    loop {
        if ctl.borrow_and_update().shutdown {
            break;
        }
        let accepted = tokio::select! {
            biased;
            changed = ctl.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let client = match accepted {
            Ok((client, _peer)) => client,
            Err(_) => {
                // Transient (EMFILE, ECONNABORTED, ...): back off instead of spinning.
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let c = shared.control();
        if c.shutdown {
            break;
        }
        if c.mode == LinkMode::Reset {
            abort(&client);
            continue;
        }
        let _ = client.set_nodelay(true);
        let (kill_tx, kill_rx) = oneshot::channel();
        let id = {
            let mut inner = shared.lock();
            let id = inner.next_id;
            inner.next_id += 1;
            inner.conns.insert(
                id,
                ConnEntry {
                    backend: None,
                    kill: Some(kill_tx),
                },
            );
            id
        };
        shared.open.fetch_add(1, Ordering::Relaxed);
        let conn = ConnGuard {
            shared: Arc::clone(shared),
            id,
            _done: guard.done.clone(),
        };
        tokio::spawn(run_conn(conn, client, kill_rx));
    }
}

/// Why a connection is being torn down from outside its own data flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Reset,
    Shutdown,
}

/// Resolves once the link is reset or the router shuts down.
async fn stop_signal(ctl: &mut watch::Receiver<Control>) -> Stop {
    match ctl.wait_for(|c| c.shutdown || c.mode == LinkMode::Reset).await {
        Ok(c) if !c.shutdown => Stop::Reset,
        _ => Stop::Shutdown,
    }
}

/// How a forwarding connection ended.
enum End {
    /// Both directions reached EOF and were half-closed in turn.
    Done,
    /// An I/O error on either side.
    Failed,
    /// Closed by `set_backend(_, true)` or shutdown.
    Closed,
    /// Link reset.
    Reset,
}

async fn run_conn(conn: ConnGuard, mut client: TcpStream, mut kill: oneshot::Receiver<()>) {
    let shared = &*conn.shared;
    let mut ctl = shared.ctl.subscribe();

    // Hold the connection, unconnected, while the link is blackholed.
    let held = tokio::select! {
        c = ctl.wait_for(|c| c.shutdown || c.mode != LinkMode::Blackhole) => c.map(|c| *c).ok(),
        _ = &mut kill => None,
    };
    let Some(c) = held else { return };
    if c.shutdown {
        return;
    }
    if c.mode == LinkMode::Reset {
        abort(&client);
        return;
    }

    // Pick the backend under the lock so `set_backend(_, true)` sees which one this connection uses.
    let backend = {
        let mut inner = shared.lock();
        let backend = inner.backend;
        if let Some(entry) = inner.conns.get_mut(&conn.id) {
            entry.backend = Some(backend);
        }
        backend
    };
    let mut server = tokio::select! {
        r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend)) => match r {
            Ok(Ok(server)) => server,
            _ => {
                abort(&client);
                return;
            }
        },
        _ = &mut kill => return,
        stop = stop_signal(&mut ctl) => {
            if stop == Stop::Reset {
                abort(&client);
            }
            return;
        }
    };
    let _ = server.set_nodelay(true);

    let end = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let up = pump(client_read, server_write, shared.ctl.subscribe(), &shared.bytes_up);
        let down = pump(server_read, client_write, shared.ctl.subscribe(), &shared.bytes_down);
        tokio::select! {
            r = async { tokio::try_join!(up, down) } => if r.is_ok() { End::Done } else { End::Failed },
            _ = &mut kill => End::Closed,
            stop = stop_signal(&mut ctl) => match stop {
                Stop::Reset => End::Reset,
                Stop::Shutdown => End::Closed,
            },
        }
    };
    match end {
        End::Done | End::Closed => {}
        // A broken or reset link breaks both sides, so each peer sees the failure.
        End::Failed | End::Reset => {
            abort(&client);
            abort(&server);
        }
    }
}

/// A chunk waiting in a direction's delay line.
struct Chunk {
    due: Instant,
    data: Vec<u8>,
    written: usize,
}

/// Forwards `src` to `dst` until EOF (then half-closes `dst`), honouring mode and latency changes.
///
/// Returns `Ok` after a clean EOF, `Err` on an I/O error. Reset and shutdown are handled by the caller,
/// which drops this future; until then a non-`Forward` mode just holds the bytes.
async fn pump<R, W>(mut src: R, mut dst: W, mut ctl: watch::Receiver<Control>, forwarded: &AtomicU64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF_SIZE];
    let mut queue: VecDeque<Chunk> = VecDeque::new();
    let mut queued = 0usize;
    let mut eof = false;
    loop {
        let c = *ctl.borrow_and_update();
        let forward = c.mode == LinkMode::Forward && !c.shutdown;

        if forward && queue.is_empty() {
            if eof {
                dst.shutdown().await?;
                return Ok(());
            }
            if c.latency.is_zero() {
                // Fast path: read and write straight through the fixed buffer.
                tokio::select! {
                    biased;
                    changed = ctl.changed() => changed.map_err(router_gone)?,
                    n = src.read(&mut buf) => {
                        let n = n?;
                        if n == 0 {
                            eof = true;
                            continue;
                        }
                        let now = *ctl.borrow();
                        if now.mode == LinkMode::Forward && !now.shutdown && now.latency.is_zero() {
                            dst.write_all(&buf[..n]).await?;
                            forwarded.fetch_add(n as u64, Ordering::Relaxed);
                        } else {
                            queue.push_back(Chunk { due: Instant::now() + now.latency, data: buf[..n].to_vec(), written: 0 });
                            queued += n;
                        }
                    }
                }
                continue;
            }
        }

        // Delay line: bytes wait in `queue` until due (latency) or until the link forwards again (held).
        tokio::select! {
            biased;
            changed = ctl.changed() => changed.map_err(router_gone)?,
            n = write_when_due(&mut dst, queue.front()), if forward && !queue.is_empty() => {
                let n = n?;
                forwarded.fetch_add(n as u64, Ordering::Relaxed);
                if let Some(front) = queue.front_mut() {
                    front.written += n;
                    if front.written == front.data.len() {
                        queued -= front.data.len();
                        queue.pop_front();
                    }
                }
            }
            n = src.read(&mut buf), if forward && !eof && queued < MAX_QUEUED => {
                let n = n?;
                if n == 0 {
                    eof = true;
                } else {
                    queue.push_back(Chunk { due: Instant::now() + c.latency, data: buf[..n].to_vec(), written: 0 });
                    queued += n;
                }
            }
        }
    }
}

/// Waits until `chunk` is due, then writes (part of) its remaining bytes. Cancel-safe: a single `write`.
async fn write_when_due<W: AsyncWrite + Unpin>(dst: &mut W, chunk: Option<&Chunk>) -> io::Result<usize> {
    let Some(chunk) = chunk else {
        return std::future::pending().await;
    };
    if chunk.due > Instant::now() {
        tokio::time::sleep_until(chunk.due).await;
    }
    match dst.write(&chunk.data[chunk.written..]).await? {
        0 => Err(io::ErrorKind::WriteZero.into()),
        n => Ok(n),
    }
}

fn router_gone(_: watch::error::RecvError) -> io::Error {
    io::Error::other("router dropped")
}

#[cfg(test)]
mod tests;
