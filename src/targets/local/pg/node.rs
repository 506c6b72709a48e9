//! One PostgreSQL server of the cluster, and the files it is configured and logs through.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use super::super::procs::{all_procs, members, ProcId, ProcStat};
use super::{step_err, PgError, LOG_TAIL_LINES};

/// One PostgreSQL server of the cluster.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub(super) log_file: PathBuf,
    /// The postmaster, once started.
    pub(super) postmaster: Option<ProcId>,
}

impl Node {
    pub(super) fn new(root: &Path, name: &str, port: u16) -> Node {
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
        loopback_conninfo(self.port)
    }

    /// [`Node::conninfo`] for drillbit's own statements on the server.
    pub(super) fn admin_conninfo(&self) -> String {
        format!("{} application_name=drillbit", self.conninfo())
    }

    /// The server's log file (`pg_ctl -l`).
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    pub(super) fn log_tail(&self) -> String {
        log_tail(&self.log_file, LOG_TAIL_LINES)
    }

    pub(super) fn live_postmaster(&self, step: &str) -> Result<ProcId, PgError> {
        self.postmaster
            .filter(ProcId::alive)
            .ok_or_else(|| step_err(step, format!("the {} postmaster is not running", self.name)))
    }

    /// Live processes of this server (postmaster, children, orphans of a killed postmaster).
    pub(super) fn procs(&self) -> Vec<ProcStat> {
        let pms: Vec<ProcId> = self.postmaster.into_iter().collect();
        members(&all_procs(), &pms, &self.data_dir)
    }

    /// Sends `sig` to the postmaster first (a stopped or dead postmaster forks no new children),
    /// then to every other process of the server, rescanning to catch late forks. Returns pids hit.
    pub(super) fn signal_tree(&self, sig: libc::c_int) -> Vec<i32> {
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

/// The connection string of drillbit's servers, and of what stands in front of them, on a
/// loopback port.
pub fn loopback_conninfo(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=postgres dbname=postgres")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Primary,
    Standby,
}

pub(super) fn free_ports(n: usize) -> Result<Vec<u16>, PgError> {
    // Hold all listeners at once so the ports are distinct.
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

pub(super) fn conf_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(super) fn append_conf(data_dir: &Path, text: &str) -> Result<(), PgError> {
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(data_dir.join("postgresql.conf"))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

pub(super) fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

pub(super) fn read_from(path: &Path, offset: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

pub(super) fn log_tail(path: &Path, lines: usize) -> String {
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
