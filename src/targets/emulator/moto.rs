//! The moto server drillbit starts when no endpoint is given: a pinned version in a private
//! virtualenv (installed on first use), on a free loopback port, stopped afterwards. It runs
//! with drillbit's extension (`harness/moto-ext`: global database failover, DynamoDB global
//! tables, AWS Backup jobs, ElastiCache global datastores), embedded in the binary and written
//! beside the virtualenv, unless `DRILLBIT_MOTO_SERVER` names another server to run as is.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MOTO_VERSION: &str = "5.2.5";

/// Where the private virtualenv lives: `$DRILLBIT_HOME/moto-5.2.5` (default
/// `~/.local/share/drillbit`).
pub fn venv_dir() -> PathBuf {
    let home = std::env::var_os("DRILLBIT_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .map(|d| PathBuf::from(d).join("drillbit"))
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/drillbit")))
        })
        .unwrap_or_else(|| PathBuf::from("/tmp/drillbit"));
    home.join(format!("moto-{MOTO_VERSION}"))
}

/// The moto_server executable: `DRILLBIT_MOTO_SERVER`, else the private virtualenv's.
pub fn server_path() -> PathBuf {
    std::env::var_os("DRILLBIT_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| venv_dir().join("bin/moto_server"))
}

/// drillbit's moto extension, embedded: (file name, source).
const EXTENSION: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../harness/moto-ext/drillbit_moto/__init__.py"),
    ),
    (
        "_common.py",
        include_str!("../../../harness/moto-ext/drillbit_moto/_common.py"),
    ),
    (
        "rds_global.py",
        include_str!("../../../harness/moto-ext/drillbit_moto/rds_global.py"),
    ),
    (
        "dynamodb_global.py",
        include_str!("../../../harness/moto-ext/drillbit_moto/dynamodb_global.py"),
    ),
    (
        "backup_jobs.py",
        include_str!("../../../harness/moto-ext/drillbit_moto/backup_jobs.py"),
    ),
    (
        "elasticache_global.py",
        include_str!("../../../harness/moto-ext/drillbit_moto/elasticache_global.py"),
    ),
    (
        "server.py",
        include_str!("../../../harness/moto-ext/drillbit_moto/server.py"),
    ),
];

/// How long the extension's asynchronous operations run (global failover, backup/copy/restore
/// jobs, global datastore changes) and DynamoDB's replication lag, unless set in the environment.
pub const EXTENSION_TIMINGS: &[(&str, &str)] = &[
    ("DRILLBIT_MOTO_GLOBAL_FAILOVER_SECONDS", "1"),
    ("DRILLBIT_MOTO_DDB_REPLICATION_LAG_MS", "500"),
    ("DRILLBIT_MOTO_BACKUP_JOB_SECONDS", "1"),
    ("DRILLBIT_MOTO_ELASTICACHE_GLOBAL_SECONDS", "1"),
];

/// The extension's settings a server drillbit starts runs with: `NAME=value`, each from the
/// environment or drillbit's default.
pub fn extension_settings() -> Vec<String> {
    EXTENSION_TIMINGS
        .iter()
        .map(|(k, v)| format!("{k}={}", std::env::var(k).unwrap_or_else(|_| v.to_string())))
        .collect()
}

/// Writes the embedded extension under the virtualenv (a directory named by its content's
/// hash, made whole in a temporary directory and renamed, so concurrent drills never see a
/// half-written copy) and returns the directory to put on `PYTHONPATH`.
pub fn write_extension() -> Result<PathBuf, String> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    EXTENSION.hash(&mut h);
    let dir = venv_dir().join(format!("drillbit-moto-ext-{:016x}", h.finish()));
    if dir.join("drillbit_moto/server.py").exists() {
        return Ok(dir);
    }
    let tmp = venv_dir().join(format!(".drillbit-moto-ext-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let pkg = tmp.join("drillbit_moto");
    std::fs::create_dir_all(&pkg).map_err(|e| format!("creating {}: {e}", pkg.display()))?;
    for (name, text) in EXTENSION {
        std::fs::write(pkg.join(name), text).map_err(|e| format!("writing {}: {e}", pkg.join(name).display()))?;
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another drill made it first.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.join("drillbit_moto/server.py").exists() {
            return Err(format!("could not write the moto extension to {}", dir.display()));
        }
    }
    Ok(dir)
}

/// Marks a finished install, so an interrupted one is never taken for complete.
const MARKER: &str = ".drillbit-complete";

/// Installs moto into the private virtualenv if it is not there yet (python3 -m venv, pip).
pub fn ensure_installed(log: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    if std::env::var_os("DRILLBIT_MOTO_SERVER").is_some() {
        return Ok(server_path());
    }
    let dir = venv_dir();
    if dir.join(MARKER).exists() {
        return Ok(server_path());
    }
    log(&format!(
        "installing moto {MOTO_VERSION} into {} (first use; about 20 s)",
        dir.display()
    ));
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what}: cannot run: {e} (is python3 installed?)"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&dir),
        "python3 -m venv",
    )?;
    run(
        Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("moto[server]=={MOTO_VERSION}")),
        "pip install moto",
    )?;
    std::fs::write(dir.join(MARKER), MOTO_VERSION).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(server_path())
}

/// A running moto server; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Moto {
    child: Child,
    pub addr: SocketAddr,
    pub started_in: Duration,
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl Moto {
    pub fn start(log_file: Option<&Path>) -> Result<Moto, String> {
        let server = server_path();
        if !server.exists() {
            return Err(format!(
                "moto_server not found at {} (run harness/install-moto.sh, or set DRILLBIT_MOTO_SERVER)",
                server.display()
            ));
        }
        // The pinned moto with drillbit's extension, or a server of the user's as it is.
        let extended = if std::env::var_os("DRILLBIT_MOTO_SERVER").is_none() {
            Some(write_extension()?)
        } else {
            None
        };
        let started = Instant::now();
        let mut last = String::new();
        // A port found free may be taken before moto binds it: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let (out, err) = match log_file.and_then(|p| std::fs::File::create(p).ok()) {
                Some(f) => match f.try_clone() {
                    Ok(g) => (Stdio::from(f), Stdio::from(g)),
                    Err(_) => (Stdio::null(), Stdio::null()),
                },
                None => (Stdio::null(), Stdio::null()),
            };
            let mut cmd = match &extended {
                Some(ext) => {
                    let mut c = Command::new(venv_dir().join("bin/python"));
                    c.args(["-m", "drillbit_moto.server"]).env("PYTHONPATH", ext);
                    for (k, v) in EXTENSION_TIMINGS {
                        if std::env::var_os(k).is_none() {
                            c.env(k, v);
                        }
                    }
                    c
                }
                None => Command::new(&server),
            };
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            // moto dies with drillbit, even if drillbit is killed with SIGKILL.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            let child = cmd.spawn().map_err(|e| format!("starting {}: {e}", server.display()))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut m = Moto {
                child,
                addr,
                started_in: Duration::ZERO,
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = m.child.try_wait() {
                    last = format!("moto_server exited at start ({status})");
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    m.started_in = started.elapsed();
                    return Ok(m);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if last.is_empty() {
                last = "moto_server did not listen within 30 s".into();
            }
        }
        Err(last)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&mut self) {
        let pid = self.child.id() as i32;
        if let Ok(None) = self.child.try_wait() {
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the server at `addr` answers moto's own API (`GET /moto-api/`, its dashboard).
pub fn answers_moto_api(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")
}
