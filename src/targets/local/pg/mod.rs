//! Local PostgreSQL cluster lifecycle for drillbit's `local` target.
//!
//! This module owns everything about the real PostgreSQL servers a local drill runs against: it
//! finds the server binaries, creates a private temporary directory, runs `initdb` for a primary,
//! configures and starts it on a free loopback port, clones a streaming-replication standby with
//! `pg_basebackup` (optionally through a port the caller controls, such as a link proxy), applies
//! faults (SIGKILL of the postmaster or of the whole tree, SIGSTOP/SIGCONT, paused WAL replay),
//! promotes the standby, and tears everything down again.
//!
//! Clean-up is the first concern: every server process it starts is tracked by pid *and* start
//! time (pids wrap), and also found by its working directory inside the temp dir, so that
//! [`Cluster::teardown`] (also run on drop and on any error during setup) stops all of them,
//! removes the SysV shared-memory segments that SIGKILLed postmasters leak, and removes the temp
//! dir unless [`ClusterOptions::keep`] asks to keep it.
//!
//! SQL goes through tokio-postgres connections over TCP loopback ([`client`]), each call under a
//! short connect timeout and a timeout over the whole call, so a hung server cannot hang the
//! caller; the server programs (initdb, pg_ctl, pg_basebackup) run only to set servers up and stop
//! them. PostgreSQL refuses to run as root: as root, every PostgreSQL program runs as the system
//! user `drillbit`, created on first use.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) mod client;

use client::QueryError;

use super::procs::{all_procs, cwd_of, members, read_stat, remove_orphaned_shm, wait_until, ProcId, ProcStat};

/// System user the servers run as when this process is root.
const RUN_USER: &str = "drillbit";
/// Programs that must all be present in one directory for it to count as a PostgreSQL bin dir.
const REQUIRED_TOOLS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "pg_basebackup"];
/// `cluster_name` of the standby; the walreceiver uses it as its `application_name`.
const STANDBY_APP_NAME: &str = "drill_standby";
/// application_name of the old primary once it is rebuilt as a standby for failback.
const REBUILT_APP_NAME: &str = "drill_rebuilt_primary";
const PRIMARY_APP_NAME: &str = "drill_primary";

const INITDB_TIMEOUT: Duration = Duration::from_secs(120);
/// `pg_ctl start -w -t` (seconds); the process itself gets 15 s more.
const START_WAIT_SECS: u64 = 60;
const BASEBACKUP_TIMEOUT: Duration = Duration::from_secs(120);
const STREAMING_TIMEOUT: Duration = Duration::from_secs(30);
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(30);
const PROMOTE_POLL: Duration = Duration::from_millis(5);
const STOP_GRACE: Duration = Duration::from_secs(5);
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long a connection's set-up may take (libpq's `connect_timeout`, which psql had here).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
const DDL_TIMEOUT: Duration = Duration::from_secs(60);
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
const LOG_TAIL_LINES: usize = 20;
/// The standby's `wal_retrieve_retry_interval` (default 5 s). After its walreceiver loses the
/// primary, PostgreSQL 15's startup process sleeps this long before it looks at a pending promote
/// request again, so with the default a promotion right after a primary failure sometimes took
/// 5 s instead of 30 ms here. The price: a dead primary is retried every 100 ms (log lines).
const WAL_RETRY_MS: u32 = 100;

const BOOTSTRAP_DDL: &str = "SET synchronous_commit = local; \
CREATE TABLE drill_ledger (seq bigint PRIMARY KEY, acked_at timestamptz NOT NULL DEFAULT clock_timestamp()); \
CREATE TABLE drill_probe (id int PRIMARY KEY, n bigint, at timestamptz);";

const PROBE_WRITE: &str = "INSERT INTO drill_probe (id, n, at) VALUES (0, 1, clock_timestamp()) \
ON CONFLICT (id) DO UPDATE SET n = drill_probe.n + 1, at = excluded.at";

/// Errors of this module. `Step` names what was being done and carries the details (command
/// output, server log tail).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL binaries not found: {0}")]
    NotFound(String),
    #[error("{step}: {detail}")]
    Step { step: String, detail: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn step_err(step: impl Into<String>, detail: impl Into<String>) -> PgError {
    PgError::Step {
        step: step.into(),
        detail: detail.into(),
    }
}

/// Appends text (typically a server log tail) to the detail of a `Step` error.
fn with_detail(err: PgError, extra: &str) -> PgError {
    match err {
        PgError::Step { step, detail } => PgError::Step {
            step,
            detail: format!("{detail}{extra}"),
        },
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------------

/// Where the PostgreSQL server programs are, and their version (e.g. "15.18").
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bin_dir: PathBuf,
    pub version: String,
}

impl PgBinaries {
    /// Looks in `$DRILLBIT_PG_BIN` (if set, it must be complete), then in each `PATH` directory
    /// holding all of initdb, pg_ctl, postgres and pg_basebackup, then in the highest version of
    /// `/usr/lib/postgresql/*/bin`.
    pub fn find() -> Result<PgBinaries, PgError> {
        if let Some(dir) = std::env::var_os("DRILLBIT_PG_BIN").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            let missing = missing_tools(&dir);
            if !missing.is_empty() {
                return Err(PgError::NotFound(format!(
                    "DRILLBIT_PG_BIN={} lacks {}",
                    dir.display(),
                    missing.join(", ")
                )));
            }
            return Self::from_dir(&dir);
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if missing_tools(&dir).is_empty() {
                    // Prefer the real directory behind symlinks, which also holds psql.
                    let real = fs::canonicalize(dir.join("initdb"))
                        .ok()
                        .and_then(|p| p.parent().map(Path::to_path_buf))
                        .filter(|d| missing_tools(d).is_empty())
                        .unwrap_or(dir);
                    return Self::from_dir(&real);
                }
            }
        }
        let mut candidates: Vec<(Vec<u64>, PathBuf)> = Vec::new();
        if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
            for entry in entries.flatten() {
                let bin = entry.path().join("bin");
                if missing_tools(&bin).is_empty() {
                    let key = version_key(&entry.file_name().to_string_lossy());
                    candidates.push((key, bin));
                }
            }
        }
        candidates.sort();
        if let Some((_, bin)) = candidates.pop() {
            return Self::from_dir(&bin);
        }
        Err(PgError::NotFound(
            "no directory with initdb, pg_ctl, postgres and pg_basebackup in $DRILLBIT_PG_BIN, $PATH \
             or /usr/lib/postgresql/*/bin"
                .into(),
        ))
    }

    fn from_dir(dir: &Path) -> Result<PgBinaries, PgError> {
        let mut cmd = Command::new(dir.join("postgres"));
        cmd.arg("--version");
        let out = run_with_timeout(cmd, None, "postgres --version", Duration::from_secs(10))
            .map_err(|e| PgError::NotFound(format!("{}: {e}", dir.display())))?;
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        let version = out
            .stdout
            .split_whitespace()
            .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))
            .map(str::to_owned)
            .ok_or_else(|| {
                PgError::NotFound(format!(
                    "{}: unexpected `postgres --version` output {:?}",
                    dir.display(),
                    out.stdout
                ))
            })?;
        Ok(PgBinaries {
            bin_dir: dir.to_path_buf(),
            version,
        })
    }

    /// Path of a program in the bin dir.
    fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn missing_tools(dir: &Path) -> Vec<&'static str> {
    REQUIRED_TOOLS
        .iter()
        .copied()
        .filter(|t| !is_executable(&dir.join(t)))
        .collect()
}

fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// How commits on the primary wait for the standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// No waiting (`synchronous_standby_names = ''`).
    #[default]
    Async,
    /// `synchronous_standby_names = '*'`, `synchronous_commit = on` (standby flushed the WAL).
    Sync,
    /// `synchronous_standby_names = '*'`, `synchronous_commit = remote_apply` (standby replayed it).
    RemoteApply,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub sync: SyncMode,
    /// Port the standby uses to reach the primary for replication (a proxy in front of the
    /// primary, so a drill can cut the link). None = the primary's own port.
    pub replication_via: Option<u16>,
    /// Keep the data directories after teardown (processes are stopped anyway).
    pub keep: bool,
    /// Parent for the temp dir (default std::env::temp_dir()).
    pub parent: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Running programs
// ---------------------------------------------------------------------------------------------

struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn drain(source: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut source) = source {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = source.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

/// Runs a program to completion, killing it after `timeout`. A timeout or a failure to start is
/// an error naming `step`; a non-zero exit is returned for the caller to judge.
fn run_with_timeout(mut cmd: Command, input: Option<&str>, step: &str, timeout: Duration) -> Result<Outcome, PgError> {
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        step_err(
            step,
            format!("cannot run {}: {e}", Path::new(cmd.get_program()).display()),
        )
    })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let text = text.to_owned();
        thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    let out_rx = drain(child.stdout.take());
    let err_rx = drain(child.stderr.take());
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    // A grandchild holding the pipes must not block us: give up on the output after a second.
    let text = |rx: mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(1))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let (stdout, stderr) = (text(out_rx), text(err_rx));
    match status {
        Some(status) => Ok(Outcome { status, stdout, stderr }),
        None => Err(step_err(
            step,
            format!(
                "timed out after {:.1} s and was killed; stderr: {}",
                timeout.as_secs_f64(),
                stderr.trim()
            ),
        )),
    }
}

fn failure(out: &Outcome) -> String {
    let mut msg = format!("{}", out.status);
    for text in [out.stderr.trim(), out.stdout.trim()] {
        if !text.is_empty() {
            msg.push_str(": ");
            msg.push_str(text);
        }
    }
    msg
}

#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; getpwnam_r writes into pwd/buf within the given sizes.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() {
            return None;
        }
        Some(RunAs {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        })
    }
}

static USER_LOCK: Mutex<()> = Mutex::new(());

/// As root: the unprivileged user to run PostgreSQL as, created once if absent.
fn ensure_run_user() -> Result<RunAs, PgError> {
    let _guard = USER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(user) = lookup_user(RUN_USER) {
        return Ok(user);
    }
    let mut cmd = Command::new("useradd");
    cmd.args(["-r", "-M", "-s", "/usr/sbin/nologin", RUN_USER]);
    let out = run_with_timeout(cmd, None, "create user drillbit", Duration::from_secs(30))?;
    // Another process may have created it meanwhile: look again before judging the exit code.
    lookup_user(RUN_USER).ok_or_else(|| step_err("create user drillbit", format!("useradd: {}", failure(&out))))
}

fn free_ports(n: usize) -> Result<Vec<u16>, PgError> {
    // Hold all listeners at once so the ports are distinct.
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

fn conf_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn append_conf(data_dir: &Path, text: &str) -> Result<(), PgError> {
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(data_dir.join("postgresql.conf"))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn log_tail(path: &Path, lines: usize) -> String {
    if !path.exists() {
        return format!("\n(no server log at {})", path.display());
    }
    let text = read_from(path, file_len(path).saturating_sub(64 * 1024));
    let all: Vec<&str> = text.lines().collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    format!(
        "\n--- last {} lines of {} ---\n{}",
        tail.len(),
        path.display(),
        tail.join("\n")
    )
}

// ---------------------------------------------------------------------------------------------
// Nodes and the cluster
// ---------------------------------------------------------------------------------------------

/// One PostgreSQL server of the cluster.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    log_file: PathBuf,
    /// The postmaster, once started.
    postmaster: Option<ProcId>,
}

impl Node {
    fn new(root: &Path, name: &str, port: u16) -> Node {
        let dir = root.join(name);
        Node {
            name: name.to_owned(),
            port,
            data_dir: dir.join("data"),
            socket_dir: dir.join("sock"),
            log_file: dir.join("postgres.log"),
            postmaster: None,
        }
    }

    /// The postmaster's pid while that very process (checked by start time) is alive.
    pub fn pid(&self) -> Option<i32> {
        self.postmaster.filter(ProcId::alive).map(|p| p.pid)
    }

    /// libpq-style connection string over TCP loopback.
    pub fn conninfo(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }

    /// [`Node::conninfo`] for drillbit's own statements on the server.
    fn admin_conninfo(&self) -> String {
        format!("{} application_name=drillbit", self.conninfo())
    }

    /// The server's log file (`pg_ctl -l`).
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    fn log_tail(&self) -> String {
        log_tail(&self.log_file, LOG_TAIL_LINES)
    }

    fn live_postmaster(&self, step: &str) -> Result<ProcId, PgError> {
        self.postmaster
            .filter(ProcId::alive)
            .ok_or_else(|| step_err(step, format!("the {} postmaster is not running", self.name)))
    }

    /// Live processes of this server (postmaster, children, orphans of a killed postmaster).
    fn procs(&self) -> Vec<ProcStat> {
        let pms: Vec<ProcId> = self.postmaster.into_iter().collect();
        members(&all_procs(), &pms, &self.data_dir)
    }

    /// Sends `sig` to the postmaster first (a stopped or dead postmaster forks no new children),
    /// then to every other process of the server, rescanning to catch late forks. Returns pids hit.
    fn signal_tree(&self, sig: libc::c_int) -> Vec<i32> {
        let mut hit = BTreeSet::new();
        if let Some(pm) = self.postmaster.filter(ProcId::alive) {
            if pm.signal(sig) {
                hit.insert(pm.pid);
            }
        }
        for _ in 0..3 {
            let mut fresh = false;
            for p in self.procs() {
                if !hit.contains(&p.pid) && p.id().signal(sig) {
                    hit.insert(p.pid);
                    fresh = true;
                }
            }
            if !fresh {
                break;
            }
        }
        hit.into_iter().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Standby,
}

/// A primary and a streaming standby on loopback in a private temp dir.
#[derive(Debug)]
pub struct Cluster {
    pub root: PathBuf,
    pub primary: Node,
    pub standby: Node,
    bins: PgBinaries,
    sync: SyncMode,
    keep: bool,
    replication_via: Option<u16>,
    run_as: Option<RunAs>,
    /// Every postmaster ever started here (shared memory clean-up matches on them).
    postmasters: Vec<ProcId>,
    /// SysV shared memory ids read from postmaster.pid files.
    shm_ids: BTreeSet<i32>,
    torn_down: bool,
}

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

fn create_root(parent: &Path) -> Result<PathBuf, PgError> {
    fs::create_dir_all(parent)?;
    let parent = fs::canonicalize(parent)?;
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("drillbit-pg-{}-{n}-{nanos:08x}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                // Whose environment this is, for the guard and `drillbit clean`.
                if let Err(e) = super::guard::write_owner(&dir) {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e.into());
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Cluster {
    /// Creates the temp dir, chooses two free ports, runs initdb for the primary, configures it,
    /// starts it and creates the drill's tables. The standby comes later
    /// ([`Cluster::start_standby`]), once the caller has put whatever it wants in front of the
    /// primary's port. On error everything created so far is torn down.
    pub fn prepare(bins: &PgBinaries, opts: ClusterOptions) -> Result<Cluster, PgError> {
        // SAFETY: geteuid has no preconditions.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(ensure_run_user()?)
        } else {
            None
        };
        let parent = opts.parent.clone().unwrap_or_else(std::env::temp_dir);
        let root = create_root(&parent)?;
        let ports = match free_ports(2) {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_dir_all(&root);
                return Err(e);
            }
        };
        // From here on, dropping `cluster` (on any `?`) tears down what exists.
        let mut cluster = Cluster {
            primary: Node::new(&root, "primary", ports[0]),
            standby: Node::new(&root, "standby", ports[1]),
            root,
            bins: bins.clone(),
            sync: opts.sync,
            keep: opts.keep,
            replication_via: opts.replication_via,
            run_as,
            postmasters: Vec::new(),
            shm_ids: BTreeSet::new(),
            torn_down: false,
        };
        if run_as.is_some() {
            // The servers run as another user: every directory above the temp dir must let them through.
            if let Some(dir) = cluster
                .root
                .ancestors()
                .skip(1)
                .find(|d| fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 == 0))
            {
                return Err(step_err(
                    "prepare",
                    format!(
                        "user {RUN_USER} cannot reach {}: {} is not searchable by others",
                        cluster.root.display(),
                        dir.display()
                    ),
                ));
            }
        }
        cluster.make_dirs()?;
        cluster.initdb()?;
        cluster.configure_primary()?;
        cluster.start_node(Role::Primary, "prepare: start primary")?;
        cluster
            .sql(&cluster.primary, BOOTSTRAP_DDL, DDL_TIMEOUT)
            .map_err(|e| with_detail(e, &cluster.primary.log_tail()))
            .map_err(|e| match e {
                PgError::Step { detail, .. } => step_err("prepare: create drill tables", detail),
                other => other,
            })?;
        Ok(cluster)
    }

    /// The port to pass to [`Cluster::start_standby`]: `replication_via`, or the primary's port.
    pub fn replication_port(&self) -> u16 {
        self.replication_via.unwrap_or(self.primary.port)
    }

    /// Clones the standby from the primary through `replication_port` (pg_basebackup -R -X stream
    /// -c fast), so that its WAL stream later runs through that port too; starts it and waits until
    /// the primary reports it streaming.
    pub fn start_standby(&mut self, replication_port: u16) -> Result<(), PgError> {
        const STEP: &str = "start_standby";
        if self.torn_down {
            return Err(step_err(STEP, "the cluster has been torn down"));
        }
        if self.standby.pid().is_some() {
            return Err(step_err(STEP, "the standby is already running"));
        }
        self.primary
            .live_postmaster(STEP)
            .map_err(|e| with_detail(e, &self.primary.log_tail()))?;
        if self.standby.data_dir.exists() {
            fs::remove_dir_all(&self.standby.data_dir)?; // left by an earlier failed attempt
        }

        let step = "start_standby: pg_basebackup";
        self.basebackup(&self.standby.data_dir, replication_port, &self.primary, step)?;
        let auto_conf = fs::read_to_string(self.standby.data_dir.join("postgresql.auto.conf")).unwrap_or_default();
        if !auto_conf.contains("primary_conninfo") || !self.standby.data_dir.join("standby.signal").exists() {
            return Err(step_err(step, "pg_basebackup -R wrote no standby configuration"));
        }
        // The standby inherits synchronous_standby_names from the primary: clear it, or every
        // write hangs after promotion.
        append_conf(
            &self.standby.data_dir,
            &format!(
                "\n# drillbit standby\nport = {}\nunix_socket_directories = {}\ncluster_name = '{STANDBY_APP_NAME}'\n\
                 synchronous_standby_names = ''\nhot_standby = on\nwal_retrieve_retry_interval = '{WAL_RETRY_MS}ms'\n",
                self.standby.port,
                conf_quote(&self.standby.socket_dir.to_string_lossy()),
            ),
        )?;
        self.start_node(Role::Standby, "start_standby: start standby")?;
        self.wait_streaming()
    }

    fn wait_streaming(&self) -> Result<(), PgError> {
        let step = "start_standby: wait for streaming";
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{STANDBY_APP_NAME}' \
             AND state = 'streaming'"
        );
        let started = Instant::now();
        loop {
            let last = match self.sql(&self.primary, &query, Duration::from_secs(5)) {
                Ok(n) if n.trim().parse::<u32>().unwrap_or(0) > 0 => return Ok(()),
                Ok(n) => format!("{} streaming standby(s) in pg_stat_replication", n.trim()),
                Err(e) => e.to_string(),
            };
            if self.standby.pid().is_none() {
                return Err(step_err(step, format!("the standby exited{}", self.standby.log_tail())));
            }
            if started.elapsed() >= STREAMING_TIMEOUT {
                return Err(step_err(
                    step,
                    format!(
                        "not streaming after {} s (last: {last}){}",
                        STREAMING_TIMEOUT.as_secs(),
                        self.standby.log_tail()
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL of the primary's postmaster only (`whole_tree = false`: backends and the walsender
    /// live on until they notice), or of every process of the primary.
    pub fn kill_primary(&self, whole_tree: bool) -> Result<(), PgError> {
        const STEP: &str = "kill_primary";
        let pm = self.primary.live_postmaster(STEP)?;
        if !whole_tree {
            return if pm.signal(libc::SIGKILL) {
                Ok(())
            } else {
                Err(step_err(
                    STEP,
                    format!("kill({}, SIGKILL) failed: {}", pm.pid, std::io::Error::last_os_error()),
                ))
            };
        }
        // Freeze the postmaster so it forks nothing new, then kill its children, then it.
        pm.signal(libc::SIGSTOP);
        for p in self.primary.procs().iter().map(ProcStat::id).filter(|p| *p != pm) {
            p.signal(libc::SIGKILL);
        }
        pm.signal(libc::SIGKILL);
        // Late forks (or anything else with its cwd in the data dir).
        self.primary.signal_tree(libc::SIGKILL);
        if wait_until(Duration::from_secs(5), || self.primary.procs().is_empty()) {
            Ok(())
        } else {
            let left: Vec<i32> = self.primary.procs().iter().map(|p| p.pid).collect();
            Err(step_err(
                STEP,
                format!("primary processes still alive after SIGKILL: {left:?}"),
            ))
        }
    }

    /// SIGSTOP of every process of the primary (a hung primary). Returns once all are stopped.
    pub fn stop_primary(&self) -> Result<(), PgError> {
        const STEP: &str = "stop_primary";
        self.primary.live_postmaster(STEP)?;
        self.primary.signal_tree(libc::SIGSTOP);
        let all_stopped = || self.primary.procs().iter().all(|p| matches!(p.state, 'T' | 't'));
        if wait_until(Duration::from_secs(5), all_stopped) {
            Ok(())
        } else {
            Err(step_err(STEP, "primary processes did not all stop within 5 s"))
        }
    }

    /// SIGCONT of every process of the primary.
    pub fn cont_primary(&self) -> Result<(), PgError> {
        if self.primary.signal_tree(libc::SIGCONT).is_empty() {
            return Err(step_err("cont_primary", "no primary process to continue"));
        }
        Ok(())
    }

    /// `pg_wal_replay_pause()` on the standby; waits (up to 5 s) until replay reports paused.
    pub fn pause_replay(&self) -> Result<(), PgError> {
        self.sql(&self.standby, "SELECT pg_wal_replay_pause()", QUERY_TIMEOUT)?;
        // "pause requested" turns into "paused" at the next check of the startup process; replay
        // applies nothing in between either way.
        wait_until(Duration::from_secs(5), || {
            self.sql(&self.standby, "SELECT pg_get_wal_replay_pause_state()", QUERY_TIMEOUT)
                .is_ok_and(|s| s.trim() == "paused")
        });
        Ok(())
    }

    /// `pg_wal_replay_resume()` on the standby.
    pub fn resume_replay(&self) -> Result<(), PgError> {
        self.sql(&self.standby, "SELECT pg_wal_replay_resume()", QUERY_TIMEOUT)?;
        Ok(())
    }

    /// `pg_promote(false)` on the standby, then a write into `drill_probe` every 5 ms until one
    /// succeeds (timeout 30 s). Returns the time from the promote call to the first successful
    /// write.
    pub fn promote_standby(&self) -> Result<Duration, PgError> {
        self.promote_node(Role::Standby, "promote_standby")
    }

    fn promote_node(&self, role: Role, step: &str) -> Result<Duration, PgError> {
        let node = self.node(role);
        let fail = |what: String| step_err(step, format!("{what}{}", node.log_tail()));
        client::block_on(promote(node.admin_conninfo()))
            .map_err(&fail)?
            .map_err(fail)
    }

    /// Clones `source` into `data_dir` with pg_basebackup -R (a standby configuration) through
    /// `port`; errors carry the source's log tail.
    fn basebackup(&self, data_dir: &Path, port: u16, source: &Node, step: &str) -> Result<(), PgError> {
        let mut cmd = self.command("pg_basebackup");
        cmd.arg("-D")
            .arg(data_dir)
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-w",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
            ])
            .arg(port.to_string())
            .env("PGCONNECT_TIMEOUT", "5");
        let out =
            run_with_timeout(cmd, None, step, BASEBACKUP_TIMEOUT).map_err(|e| with_detail(e, &source.log_tail()))?;
        if !out.status.success() {
            return Err(step_err(
                step,
                format!("via port {port}: {}{}", failure(&out), source.log_tail()),
            ));
        }
        Ok(())
    }

    /// Failback, first half: rebuilds the old primary as a streaming standby of the promoted
    /// standby. Its old data directory is discarded, not rewound: it may hold writes the new
    /// primary never saw (a stopped primary that came back and took writes is a split brain).
    pub fn rebuild_primary_from_standby(&mut self) -> Result<(), PgError> {
        const STEP: &str = "rebuild_primary";
        if self.torn_down {
            return Err(step_err(STEP, "the cluster has been torn down"));
        }
        self.standby
            .live_postmaster(STEP)
            .map_err(|e| with_detail(e, &self.standby.log_tail()))?;
        // Whatever is left of the old primary goes (SIGCONT first: a stopped process cannot die).
        self.primary.signal_tree(libc::SIGCONT);
        self.primary.signal_tree(libc::SIGKILL);
        if !wait_until(Duration::from_secs(5), || self.primary.procs().is_empty()) {
            return Err(step_err(STEP, "the old primary's processes did not exit"));
        }
        self.remove_leaked_shm();
        if self.primary.data_dir.exists() {
            fs::remove_dir_all(&self.primary.data_dir)?;
        }
        self.basebackup(
            &self.primary.data_dir,
            self.standby.port,
            &self.standby,
            "rebuild_primary: pg_basebackup",
        )?;
        append_conf(
            &self.primary.data_dir,
            &format!(
                "\n# drillbit: old primary rebuilt as a standby\nport = {}\nunix_socket_directories = {}\n\
                 cluster_name = '{REBUILT_APP_NAME}'\nsynchronous_standby_names = ''\nhot_standby = on\n\
                 wal_retrieve_retry_interval = '{WAL_RETRY_MS}ms'\n",
                self.primary.port,
                conf_quote(&self.primary.socket_dir.to_string_lossy()),
            ),
        )?;
        self.start_node(Role::Primary, "rebuild_primary: start")?;
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{REBUILT_APP_NAME}' AND state = 'streaming'"
        );
        let started = Instant::now();
        loop {
            if let Ok(n) = self.sql(&self.standby, &query, Duration::from_secs(5)) {
                if n.trim().parse::<u32>().unwrap_or(0) > 0 {
                    return Ok(());
                }
            }
            if started.elapsed() >= STREAMING_TIMEOUT {
                return Err(step_err(
                    "rebuild_primary: wait for streaming",
                    format!(
                        "not streaming after {} s{}",
                        STREAMING_TIMEOUT.as_secs(),
                        self.primary.log_tail()
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Failback, second half: a planned switchover back to the rebuilt primary. The current
    /// writer (the standby) is fenced first (read-only for new transactions, client sessions
    /// ended), the rebuilt primary replays up to the writer's last WAL position, and only then
    /// is it promoted; so no acknowledged write is left behind.
    pub fn switch_back_to_primary(&self) -> Result<Duration, PgError> {
        const STEP: &str = "switch_back";
        let started = Instant::now();
        self.sql(
            &self.standby,
            "ALTER SYSTEM SET default_transaction_read_only = on",
            QUERY_TIMEOUT,
        )?;
        self.sql(&self.standby, "SELECT pg_reload_conf()", QUERY_TIMEOUT)?;
        // Sessions that began before the reload keep writing: end them.
        self.sql(
            &self.standby,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
            QUERY_TIMEOUT,
        )?;
        let lsn = self.sql(&self.standby, "SELECT pg_current_wal_lsn()", QUERY_TIMEOUT)?;
        let lsn = lsn.trim().to_string();
        let caught_up = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        loop {
            if self
                .sql(&self.primary, &caught_up, QUERY_TIMEOUT)
                .is_ok_and(|v| v.trim() == "t")
            {
                break;
            }
            if started.elapsed() >= PROMOTE_TIMEOUT {
                return Err(step_err(
                    STEP,
                    format!("the rebuilt primary did not replay up to {lsn}"),
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.promote_node(Role::Primary, "switch_back: promote")?;
        Ok(started.elapsed())
    }

    /// One line per replication connection on the primary (state, sync state, sent/write/flush/
    /// replay LSN, lags) plus the primary's current LSN; None when the primary does not answer
    /// within 3 s.
    pub fn replication_status(&self) -> Option<String> {
        let query = "SELECT coalesce(string_agg(format('%s: state=%s sync=%s sent=%s write=%s flush=%s replay=%s \
             write_lag=%s flush_lag=%s replay_lag=%s', application_name, state, sync_state, sent_lsn, write_lsn, \
             flush_lsn, replay_lsn, coalesce(write_lag::text, '-'), coalesce(flush_lag::text, '-'), \
             coalesce(replay_lag::text, '-')), E'\\n'), 'no standby connected') \
             || E'\\nprimary current_lsn=' || pg_current_wal_lsn() FROM pg_stat_replication";
        self.sql(&self.primary, query, STATUS_TIMEOUT)
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Runs SQL on a node over TCP loopback (the `;`-separated statements of one string run in
    /// one transaction) and returns the rows as psql's unaligned, tuples-only output prints them,
    /// each line ended by a newline. The whole call, connecting included, takes at most
    /// `timeout`.
    pub fn sql(&self, node: &Node, sql: &str, timeout: Duration) -> Result<String, PgError> {
        let step = format!("sql on {}", node.name);
        let (conninfo, sql) = (node.admin_conninfo(), sql.to_owned());
        let rows = client::block_on(async move { client::query_once(&conninfo, &sql, CONNECT_TIMEOUT, timeout).await })
            .map_err(|e| step_err(&step, e))?
            .map_err(|e| step_err(&step, e.to_string()))?;
        Ok(rows.into_iter().map(|row| row + "\n").collect())
    }

    /// Stops both servers (SIGCONT first, `pg_ctl stop -m immediate`, SIGKILL of whatever is left
    /// after 5 s), removes SysV shared memory leaked by killed postmasters and removes the temp dir
    /// unless `keep`. Idempotent; returns what it did.
    pub fn teardown(&mut self) -> Result<Vec<String>, PgError> {
        let mut done = Vec::new();
        let mut problems = Vec::new();
        for role in [Role::Primary, Role::Standby] {
            self.record_postmaster(role); // a server started but not recorded (failed start)
        }

        // Resume anything stopped, or it cannot shut down.
        let procs = self.procs_now();
        let stopped: Vec<i32> = procs
            .iter()
            .filter(|p| matches!(p.state, 'T' | 't'))
            .map(|p| p.pid)
            .collect();
        for p in &procs {
            p.id().signal(libc::SIGCONT);
        }
        if !stopped.is_empty() {
            done.push(format!(
                "sent SIGCONT to {} stopped process(es) {stopped:?}",
                stopped.len()
            ));
        }

        for node in [&self.primary, &self.standby] {
            match node.postmaster.filter(ProcId::alive) {
                Some(pm) => {
                    let t = Instant::now();
                    let mut cmd = self.command("pg_ctl");
                    cmd.args(["stop", "-m", "immediate", "-W", "-D"]).arg(&node.data_dir);
                    let how = match run_with_timeout(cmd, None, "teardown: pg_ctl stop", Duration::from_secs(10)) {
                        Ok(out) if out.status.success() => "pg_ctl stop -m immediate".to_owned(),
                        other => {
                            let why = match other {
                                Ok(out) => failure(&out),
                                Err(e) => e.to_string(),
                            };
                            pm.signal(libc::SIGQUIT);
                            format!("SIGQUIT (pg_ctl stop failed: {})", why.trim())
                        }
                    };
                    done.push(format!(
                        "stopped {} (postmaster {}) with {how} in {:.3} s",
                        node.name,
                        pm.pid,
                        t.elapsed().as_secs_f64()
                    ));
                }
                None => {
                    // Orphans of a killed postmaster: nothing to be gentle with.
                    let orphans = node.signal_tree(libc::SIGKILL);
                    if !orphans.is_empty() {
                        done.push(format!(
                            "SIGKILLed {} orphaned {} process(es) {orphans:?}",
                            orphans.len(),
                            node.name
                        ));
                    }
                }
            }
        }

        let stopping = Instant::now();
        let had_procs = !self.procs_now().is_empty();
        if wait_until(STOP_GRACE, || self.procs_now().is_empty()) {
            if had_procs {
                done.push(format!(
                    "all server processes gone after {:.3} s",
                    stopping.elapsed().as_secs_f64()
                ));
            }
        } else {
            let left: Vec<ProcStat> = self.procs_now();
            for p in &left {
                p.id().signal(libc::SIGCONT);
                p.id().signal(libc::SIGKILL);
            }
            let pids: Vec<i32> = left.iter().map(|p| p.pid).collect();
            done.push(format!(
                "SIGKILLed {} process(es) still alive after {} s: {pids:?}",
                pids.len(),
                STOP_GRACE.as_secs()
            ));
            if !wait_until(KILL_GRACE, || self.procs_now().is_empty()) {
                let pids: Vec<i32> = self.procs_now().iter().map(|p| p.pid).collect();
                problems.push(format!("processes still alive after SIGKILL: {pids:?}"));
            }
        }

        // Servers drillbit inherited as subreaper are waited for, not left as zombies.
        let reaped = super::guard::reap_server_zombies();
        if reaped > 0 {
            done.push(format!("waited for {reaped} exited server process(es)"));
        }
        done.extend(self.remove_leaked_shm());

        if self.root.exists() {
            if self.keep {
                if let Err(e) = super::guard::mark_kept(&self.root) {
                    problems.push(format!("cannot mark {} as kept: {e}", self.root.display()));
                }
                done.push(format!("kept {}", self.root.display()));
            } else {
                let t = Instant::now();
                match fs::remove_dir_all(&self.root) {
                    Ok(()) => done.push(format!(
                        "removed {} in {:.3} s",
                        self.root.display(),
                        t.elapsed().as_secs_f64()
                    )),
                    Err(e) => problems.push(format!("cannot remove {}: {e}", self.root.display())),
                }
            }
        }
        if problems.is_empty() {
            self.torn_down = true;
            Ok(done)
        } else {
            Err(step_err(
                "teardown",
                format!("{} (after: {})", problems.join("; "), done.join("; ")),
            ))
        }
    }

    /// Pids of every process this cluster started that is still alive.
    pub fn processes(&self) -> Vec<i32> {
        self.procs_now().iter().map(|p| p.pid).collect()
    }

    fn procs_now(&self) -> Vec<ProcStat> {
        members(&all_procs(), &self.postmasters, &self.root)
    }

    fn node(&self, role: Role) -> &Node {
        match role {
            Role::Primary => &self.primary,
            Role::Standby => &self.standby,
        }
    }

    fn node_mut(&mut self, role: Role) -> &mut Node {
        match role {
            Role::Primary => &mut self.primary,
            Role::Standby => &mut self.standby,
        }
    }

    /// A command for a PostgreSQL program: unprivileged user when root, HOME and cwd in the temp
    /// dir, C locale, no inherited PG* environment.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bins.program(program));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &self.root)
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .current_dir(&self.root);
        if let Some(user) = self.run_as {
            // std clears the supplementary groups when dropping root this way.
            cmd.gid(user.gid).uid(user.uid);
        }
        cmd
    }

    fn chown(&self, path: &Path) -> Result<(), PgError> {
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))?;
        }
        Ok(())
    }

    fn make_dirs(&self) -> Result<(), PgError> {
        self.chown(&self.root)?;
        for node in [&self.primary, &self.standby] {
            for dir in [node.data_dir.parent().unwrap_or(&self.root), node.socket_dir.as_path()] {
                fs::DirBuilder::new().mode(0o700).create(dir)?;
                self.chown(dir)?;
            }
        }
        Ok(())
    }

    fn initdb(&self) -> Result<(), PgError> {
        let step = "prepare: initdb";
        let mut cmd = self.command("initdb");
        cmd.arg("-D").arg(&self.primary.data_dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
        ]);
        let out = run_with_timeout(cmd, None, step, INITDB_TIMEOUT)?;
        if !out.status.success() {
            return Err(step_err(step, failure(&out)));
        }
        Ok(())
    }

    fn configure_primary(&self) -> Result<(), PgError> {
        let (names, commit) = match self.sync {
            SyncMode::Async => ("", "on"),
            SyncMode::Sync => ("*", "on"),
            SyncMode::RemoteApply => ("*", "remote_apply"),
        };
        let conf = format!(
            "\n# drillbit\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = {sock}\n\
             cluster_name = '{PRIMARY_APP_NAME}'\n\
             wal_level = replica\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             wal_keep_size = '256MB'\n\
             hot_standby = on\n\
             fsync = on\n\
             synchronous_standby_names = '{names}'\n\
             synchronous_commit = {commit}\n\
             wal_receiver_status_interval = '1s'\n\
             max_connections = 50\n\
             shared_buffers = '32MB'\n\
             dynamic_shared_memory_type = mmap\n\
             logging_collector = off\n\
             log_line_prefix = '%m [%p] %q%a '\n",
            port = self.primary.port,
            sock = conf_quote(&self.primary.socket_dir.to_string_lossy()),
        );
        append_conf(&self.primary.data_dir, &conf)
    }

    /// `pg_ctl start -w`; retried on a new port when the chosen one was taken meanwhile.
    fn start_node(&mut self, role: Role, step: &str) -> Result<(), PgError> {
        // A killed postmaster drillbit inherited as subreaper is a zombie until reaped, and
        // PostgreSQL takes a zombie's pid in the socket lock file for a live postmaster.
        super::guard::reap_server_zombies();
        for attempt in 1..=3 {
            let node = self.node(role);
            let log_offset = file_len(&node.log_file);
            let mut cmd = self.command("pg_ctl");
            cmd.args(["start", "-w", "-t", &START_WAIT_SECS.to_string(), "-D"])
                .arg(&node.data_dir)
                .arg("-l")
                .arg(&node.log_file);
            let result = run_with_timeout(cmd, None, step, Duration::from_secs(START_WAIT_SECS + 15));
            self.record_postmaster(role);
            let node = self.node(role);
            let out = result.map_err(|e| with_detail(e, &node.log_tail()))?;
            if out.status.success() && node.pid().is_some() {
                return Ok(());
            }
            let new_log = read_from(&node.log_file, log_offset);
            let port_taken =
                new_log.contains("could not create any TCP/IP sockets") || new_log.contains("Address already in use");
            if port_taken && attempt < 3 && node.pid().is_none() {
                let port = free_ports(1)?[0];
                append_conf(&node.data_dir, &format!("port = {port}\n"))?;
                self.node_mut(role).port = port;
                continue;
            }
            return Err(step_err(
                step,
                format!("pg_ctl start: {}{}", failure(&out), node.log_tail()),
            ));
        }
        unreachable!("the last attempt returns")
    }

    /// Reads the node's postmaster.pid and records the postmaster (if it is alive and really runs
    /// in that data dir) and its shared memory segment id.
    fn record_postmaster(&mut self, role: Role) {
        let data_dir = self.node(role).data_dir.clone();
        let Ok(text) = fs::read_to_string(data_dir.join("postmaster.pid")) else {
            return;
        };
        let lines: Vec<&str> = text.lines().collect();
        // Line 7 is "key shmid" of the SysV segment.
        if let Some(shmid) = lines
            .get(6)
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
        {
            self.shm_ids.insert(shmid);
        }
        let Some(stat) = lines.first().and_then(|l| l.trim().parse().ok()).and_then(read_stat) else {
            return;
        };
        if !stat.live() || cwd_of(stat.pid).as_deref() != Some(data_dir.as_path()) {
            return;
        }
        let id = stat.id();
        if !self.postmasters.contains(&id) {
            self.postmasters.push(id);
        }
        self.node_mut(role).postmaster = Some(id);
    }

    /// Removes SysV segments created by our postmasters that nothing is attached to any more
    /// (a SIGKILLed postmaster leaks its segment; a cleanly stopped one removes it itself).
    fn remove_leaked_shm(&mut self) -> Vec<String> {
        for role in [Role::Primary, Role::Standby] {
            self.record_postmaster(role);
        }
        let mut ids = self.shm_ids.clone();
        let our_pids: Vec<i32> = self.postmasters.iter().map(|p| p.pid).collect();
        if let Ok(table) = fs::read_to_string("/proc/sysvipc/shm") {
            let mut lines = table.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
            let col = |name: &str| header.iter().position(|h| *h == name);
            if let (Some(id_col), Some(cpid_col)) = (col("shmid"), col("cpid")) {
                for line in lines {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    let cpid = f.get(cpid_col).and_then(|s| s.parse::<i32>().ok());
                    if cpid.is_some_and(|c| our_pids.contains(&c)) {
                        if let Some(id) = f.get(id_col).and_then(|s| s.parse().ok()) {
                            ids.insert(id);
                        }
                    }
                }
            }
        }
        // SAFETY: geteuid has no preconditions.
        let owner = self.run_as.map(|u| u.uid).unwrap_or_else(|| unsafe { libc::geteuid() });
        let mut done = Vec::new();
        for id in ids {
            // SAFETY: shmid_ds is plain data, filled in by shmctl(IPC_STAT).
            let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
            if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } != 0 {
                self.shm_ids.remove(&id); // already gone
                continue;
            }
            if let Some(size) = remove_orphaned_shm(id, &our_pids, Some(owner)) {
                self.shm_ids.remove(&id);
                done.push(format!(
                    "removed leaked SysV shared memory segment {id} ({size} bytes) of postmaster {}",
                    ds.shm_cpid
                ));
            }
        }
        done
    }
}

/// `pg_promote(false)` on the server at `conninfo`, then a write into `drill_probe` every 5 ms
/// until one succeeds (timeout 30 s); the time from the promote call to that write. One
/// connection polls, reopened when it breaks. Each INSERT is its own transaction, and a
/// transaction's read-only status is decided when it starts.
async fn promote(conninfo: String) -> Result<Duration, String> {
    let connect = || async {
        client::connect(&conninfo, CONNECT_TIMEOUT)
            .await
            .map_err(|e| format!("connecting: {e}"))
    };
    let first = connect().await?;
    client::query(&first, "SELECT 1", QUERY_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    match client::query(&first, "SELECT pg_promote(false)", QUERY_TIMEOUT).await {
        Ok(lines) if lines == ["t"] => {}
        Ok(lines) => return Err(format!("pg_promote(false) returned {lines:?}")),
        Err(QueryError::Sql(msg)) => return Err(format!("pg_promote(false): {msg}")),
        Err(QueryError::Broken(msg)) => return Err(msg),
    }
    let mut session = Some(first);
    loop {
        let left = PROMOTE_TIMEOUT.saturating_sub(started.elapsed());
        let per_try = left.clamp(Duration::from_millis(100), Duration::from_secs(5));
        let last = match &session {
            Some(c) => match client::query(c, PROBE_WRITE, per_try).await {
                Ok(_) => return Ok(started.elapsed()),
                Err(QueryError::Sql(msg)) => msg,
                Err(QueryError::Broken(msg)) => {
                    session = None; // reconnect on the next round
                    msg
                }
            },
            None => match connect().await {
                Ok(c) => {
                    session = Some(c);
                    continue;
                }
                Err(e) => e,
            },
        };
        if started.elapsed() >= PROMOTE_TIMEOUT {
            return Err(format!(
                "no write succeeded within {} s after pg_promote (last: {last})",
                PROMOTE_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(PROMOTE_POLL).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.torn_down {
            let _ = self.teardown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins() -> Option<PgBinaries> {
        match PgBinaries::find() {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("skipping: {e}");
                None
            }
        }
    }

    fn opts(sync: SyncMode) -> ClusterOptions {
        ClusterOptions {
            sync,
            ..Default::default()
        }
    }

    fn up(bins: &PgBinaries, sync: SyncMode) -> Cluster {
        let mut c = Cluster::prepare(bins, opts(sync)).expect("prepare");
        let port = c.replication_port();
        c.start_standby(port).expect("start_standby");
        c
    }

    fn query(c: &Cluster, node: &Node, sql: &str) -> String {
        c.sql(node, sql, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .trim()
            .to_owned()
    }

    fn count(c: &Cluster, node: &Node) -> i64 {
        query(c, node, "SELECT count(*) FROM drill_ledger").parse().unwrap()
    }

    /// Processes anywhere on the machine whose cwd or command line points into `root`.
    fn leftovers(root: &Path) -> Vec<i32> {
        let needle = root.to_string_lossy().into_owned();
        all_procs()
            .into_iter()
            .filter(|p| p.live() && p.pid != std::process::id() as i32)
            .filter(|p| {
                let cmdline = fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
                cwd_of(p.pid).is_some_and(|c| c.starts_with(root))
                    || String::from_utf8_lossy(&cmdline).contains(&needle)
            })
            .map(|p| p.pid)
            .collect()
    }

    fn assert_clean(c: &Cluster) {
        assert!(c.processes().is_empty(), "processes left: {:?}", c.processes());
        assert!(
            leftovers(&c.root).is_empty(),
            "leftover processes: {:?}",
            leftovers(&c.root)
        );
    }

    #[test]
    fn finds_binaries() {
        let Some(b) = bins() else { return };
        assert!(b.bin_dir.join("initdb").exists());
        assert!(b.version.starts_with(|c: char| c.is_ascii_digit()), "{}", b.version);
        println!("PostgreSQL {} in {}", b.version, b.bin_dir.display());
    }

    #[test]
    fn async_cluster_replicates_and_tears_down() {
        let Some(b) = bins() else { return };
        let t0 = Instant::now();
        let mut c = Cluster::prepare(&b, opts(SyncMode::Async)).expect("prepare");
        let t_prepare = t0.elapsed();
        let port = c.replication_port();
        c.start_standby(port).expect("start_standby");
        let t_setup = t0.elapsed();
        println!(
            "prepare {:.3} s, start_standby {:.3} s, total {:.3} s",
            t_prepare.as_secs_f64(),
            (t_setup - t_prepare).as_secs_f64(),
            t_setup.as_secs_f64()
        );
        assert!(c.primary.pid().is_some() && c.standby.pid().is_some());
        assert_ne!(c.primary.port, c.standby.port);
        assert_eq!(
            c.primary.conninfo(),
            format!("host=127.0.0.1 port={} user=postgres dbname=postgres", c.primary.port)
        );

        query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
        let seen = wait_until(Duration::from_secs(2), || count(&c, &c.standby) == 1);
        assert!(seen, "row not on the standby within 2 s");
        assert_eq!(query(&c, &c.standby, "SELECT pg_is_in_recovery()"), "t");
        let status = c.replication_status().expect("status");
        println!("{status}");
        assert!(status.contains("state=streaming"), "{status}");
        assert!(!c.processes().is_empty());

        let root = c.root.clone();
        let t1 = Instant::now();
        let log = c.teardown().expect("teardown");
        println!("teardown {:.3} s: {log:?}", t1.elapsed().as_secs_f64());
        assert_clean(&c);
        assert!(!root.exists());
        assert!(c.teardown().expect("second teardown").is_empty());
        assert!(c.replication_status().is_none());
    }

    #[test]
    fn keep_leaves_data_dirs() {
        let Some(b) = bins() else { return };
        let mut c = Cluster::prepare(
            &b,
            ClusterOptions {
                keep: true,
                ..Default::default()
            },
        )
        .expect("prepare");
        c.start_standby(c.primary.port).expect("start_standby");
        c.teardown().expect("teardown");
        assert_clean(&c);
        assert!(c.primary.data_dir.join("PG_VERSION").exists());
        assert!(c.standby.data_dir.join("PG_VERSION").exists());
        assert!(c.primary.log_file().exists());
        fs::remove_dir_all(&c.root).unwrap();
    }

    #[test]
    fn sync_mode_commits_while_standby_is_up() {
        let Some(b) = bins() else { return };
        let mut c = up(&b, SyncMode::Sync);
        query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
        assert_eq!(
            query(&c, &c.primary, "SELECT sync_state FROM pg_stat_replication"),
            "sync",
            "{:?}",
            c.replication_status()
        );
        // The standby does not inherit synchronous replication (else writes hang after promotion).
        assert_eq!(query(&c, &c.standby, "SHOW synchronous_standby_names"), "");
        c.teardown().unwrap();
        assert_clean(&c);
    }

    #[test]
    fn remote_apply_row_visible_on_standby_at_ack() {
        let Some(b) = bins() else { return };
        let c = up(&b, SyncMode::RemoteApply);
        for seq in 1..=5 {
            query(
                &c,
                &c.primary,
                &format!("INSERT INTO drill_ledger (seq) VALUES ({seq})"),
            );
            assert_eq!(count(&c, &c.standby), seq);
        }
    }

    #[test]
    fn kill_postmaster_then_promote_keeps_rows() {
        let Some(b) = bins() else { return };
        let mut c = up(&b, SyncMode::Async);
        for i in 1..=100 {
            query(&c, &c.primary, &format!("INSERT INTO drill_ledger (seq) VALUES ({i})"));
        }
        assert!(wait_until(Duration::from_secs(5), || count(&c, &c.standby) == 100));
        let old_pid = c.primary.pid().unwrap();

        c.kill_primary(false).expect("kill");
        assert!(wait_until(Duration::from_secs(2), || c.primary.pid().is_none()));
        assert!(c.kill_primary(false).is_err(), "killing a dead primary must fail");
        let took = c.promote_standby().expect("promote");
        println!(
            "promote (postmaster killed): writable after {:.1} ms",
            took.as_secs_f64() * 1000.0
        );
        assert_eq!(count(&c, &c.standby), 100);
        query(&c, &c.standby, "INSERT INTO drill_ledger (seq) VALUES (101)");
        assert_eq!(query(&c, &c.standby, "SELECT pg_is_in_recovery()"), "f");

        let log = c.teardown().expect("teardown");
        println!("teardown: {log:?}");
        assert_clean(&c);
        assert!(
            log.iter().any(|l| l.contains("SysV")),
            "no leaked segment removed: {log:?}"
        );
        let shm = fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
        let leaked = shm
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(4) == Some(&old_pid.to_string()));
        assert!(!leaked, "segment of killed postmaster {old_pid} left:\n{shm}");
    }

    #[test]
    fn teardown_right_after_postmaster_kill() {
        let Some(b) = bins() else { return };
        let mut c = up(&b, SyncMode::Sync);
        c.stop_primary().unwrap(); // orphans that are stopped too
        c.kill_primary(false).unwrap();
        let log = c.teardown().expect("teardown");
        println!("{log:?}");
        assert_clean(&c);
        assert!(!c.root.exists());
    }

    #[test]
    fn kill_whole_tree_then_promote() {
        let Some(b) = bins() else { return };
        let mut c = up(&b, SyncMode::Async);
        query(
            &c,
            &c.primary,
            "INSERT INTO drill_ledger (seq) SELECT generate_series(1, 10)",
        );
        assert!(wait_until(Duration::from_secs(5), || count(&c, &c.standby) == 10));
        c.kill_primary(true).expect("kill tree");
        assert!(
            c.primary.procs().is_empty(),
            "primary processes left: {:?}",
            c.primary.procs()
        );
        let took = c.promote_standby().expect("promote");
        println!(
            "promote (whole tree killed): writable after {:.1} ms",
            took.as_secs_f64() * 1000.0
        );
        assert_eq!(count(&c, &c.standby), 10);
        c.teardown().unwrap();
        assert_clean(&c);
    }

    #[test]
    fn stop_and_cont_primary() {
        let Some(b) = bins() else { return };
        let mut c = up(&b, SyncMode::Async);
        c.stop_primary().expect("stop");
        let t = Instant::now();
        let hung = c.sql(&c.primary, "SELECT 1", Duration::from_secs(4));
        assert!(hung.is_err(), "a stopped primary answered");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(c.replication_status().is_none());
        c.cont_primary().expect("cont");
        assert_eq!(query(&c, &c.primary, "SELECT 1"), "1");
        query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");

        // Teardown while stopped.
        c.stop_primary().expect("stop again");
        let t = Instant::now();
        let log = c.teardown().expect("teardown while stopped");
        println!(
            "teardown of a stopped primary {:.3} s: {log:?}",
            t.elapsed().as_secs_f64()
        );
        assert_clean(&c);
        assert!(!c.root.exists());
    }

    #[test]
    fn pause_replay_hides_new_rows_until_resume() {
        let Some(b) = bins() else { return };
        let c = up(&b, SyncMode::Async);
        query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
        assert!(wait_until(Duration::from_secs(2), || count(&c, &c.standby) == 1));
        c.pause_replay().expect("pause");
        query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (2)");
        thread::sleep(Duration::from_millis(500));
        assert_eq!(count(&c, &c.standby), 1, "row replayed while paused");
        c.resume_replay().expect("resume");
        assert!(wait_until(Duration::from_secs(5), || count(&c, &c.standby) == 2));
    }

    #[test]
    fn drop_stops_everything() {
        let Some(b) = bins() else { return };
        let (root, pids) = {
            let c = up(&b, SyncMode::Sync);
            c.stop_primary().unwrap(); // even a hung primary
            (c.root.clone(), c.processes())
        };
        assert!(!pids.is_empty());
        let alive: Vec<i32> = pids
            .into_iter()
            .filter(|p| read_stat(*p).is_some_and(|s| s.live()))
            .collect();
        assert!(alive.is_empty(), "still alive after drop: {alive:?}");
        assert!(leftovers(&root).is_empty());
        assert!(!root.exists());
    }

    #[test]
    fn wrong_replication_port_fails_cleanly() {
        let Some(b) = bins() else { return };
        let mut c = Cluster::prepare(&b, opts(SyncMode::Sync)).expect("prepare");
        let wrong = free_ports(1).unwrap()[0]; // nothing listens there
        let t = Instant::now();
        let err = c.start_standby(wrong).expect_err("must fail");
        println!("failed after {:.3} s: {err}", t.elapsed().as_secs_f64());
        assert!(t.elapsed() < STREAMING_TIMEOUT + Duration::from_secs(5));
        assert!(
            matches!(&err, PgError::Step { step, .. } if step.contains("pg_basebackup")),
            "{err}"
        );
        assert!(err.to_string().contains(&wrong.to_string()), "{err}");
        // The primary still works (sync mode without standby: local commits only).
        query(&c, &c.primary, "SELECT 1");
        c.teardown().expect("teardown");
        assert_clean(&c);
        assert!(!c.root.exists());
    }

    /// A minimal TCP forwarder standing in for drillbit's link proxy.
    struct Proxy {
        port: u16,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        conns: std::sync::Arc<Mutex<Vec<std::net::TcpStream>>>,
    }

    impl Proxy {
        fn start(upstream: u16) -> Proxy {
            use std::net::TcpStream;
            use std::sync::atomic::AtomicBool;
            use std::sync::Arc;
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            let stop = Arc::new(AtomicBool::new(false));
            let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
            let (stop2, conns2) = (stop.clone(), conns.clone());
            thread::spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    let Ok((down, _)) = listener.accept() else {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    down.set_nonblocking(false).unwrap();
                    let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        continue;
                    };
                    let mut list = conns2.lock().unwrap();
                    list.push(down.try_clone().unwrap());
                    list.push(up.try_clone().unwrap());
                    for (mut from, mut to) in [(down.try_clone().unwrap(), up.try_clone().unwrap()), (up, down)] {
                        thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            });
            Proxy { port, stop, conns }
        }

        fn cut(&self) {
            self.stop.store(true, Ordering::SeqCst);
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    #[test]
    fn replication_through_a_proxy_can_be_cut() {
        let Some(b) = bins() else { return };
        let mut c = Cluster::prepare(&b, opts(SyncMode::Async)).expect("prepare");
        let proxy = Proxy::start(c.primary.port);
        c.start_standby(proxy.port).expect("start_standby via proxy");
        let conninfo = query(&c, &c.standby, "SHOW primary_conninfo");
        assert!(conninfo.contains(&format!("port={}", proxy.port)), "{conninfo}");
        query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
        assert!(wait_until(Duration::from_secs(2), || count(&c, &c.standby) == 1));

        proxy.cut();
        let gone = || query(&c, &c.primary, "SELECT count(*) FROM pg_stat_replication") == "0";
        assert!(wait_until(Duration::from_secs(5), gone), "{:?}", c.replication_status());
        assert!(c.replication_status().unwrap().contains("no standby connected"));
        query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (2)");
        thread::sleep(Duration::from_millis(500));
        assert_eq!(count(&c, &c.standby), 1, "a row crossed a cut link");
        c.teardown().unwrap();
        assert_clean(&c);
    }

    #[test]
    fn unreachable_parent_is_reported() {
        let Some(b) = bins() else { return };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let parent = std::env::temp_dir().join(format!("drillbit-pg-private-{}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&parent).unwrap();
        let err = Cluster::prepare(
            &b,
            ClusterOptions {
                parent: Some(parent.clone()),
                ..Default::default()
            },
        )
        .expect_err("must fail");
        assert!(err.to_string().contains("not searchable"), "{err}");
        assert_eq!(fs::read_dir(&parent).unwrap().count(), 0, "temp dir left behind");
        fs::remove_dir(&parent).unwrap();
    }

    #[test]
    fn failed_prepare_cleans_up() {
        let Some(b) = bins() else { return };
        let parent = std::env::temp_dir().join(format!("drillbit-pg-test-{}", std::process::id()));
        let broken = PgBinaries {
            bin_dir: PathBuf::from("/nonexistent"),
            version: b.version.clone(),
        };
        let err = Cluster::prepare(
            &broken,
            ClusterOptions {
                parent: Some(parent.clone()),
                ..Default::default()
            },
        )
        .expect_err("must fail");
        assert!(err.to_string().contains("initdb"), "{err}");
        assert_eq!(fs::read_dir(&parent).unwrap().count(), 0, "temp dir left behind");
        fs::remove_dir(&parent).unwrap();
    }
}
