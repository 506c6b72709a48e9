//! Backups and restores, with PostgreSQL's own tools: a vault is a directory of base backups
//! (`pg_basebackup`, each with its manifest) and, for the primary's vault, the continuous WAL
//! archive (`archive_command`). A copy job copies a base backup into another vault and checks
//! the copy against its manifest (`pg_verifybackup`). A restore loads a base backup into a new
//! instance (the cluster's second node) and, for a point-in-time restore, replays the archived
//! WAL up to a target (`restore_command`, `recovery_target_xid`), then promotes it.
//!
//! Why not pgBackRest: AWS Backup's copy job copies one recovery point into another vault,
//! and pgBackRest has no command that copies a backup between its repositories (it backs up
//! to each separately), so a DR vault holding the very recovery point of the primary's would
//! have to be rebuilt from its internal files. PostgreSQL's manifest and `pg_verifybackup`
//! give the copy's check for free.
//!
//! Base backups and copies need no lock on the cluster ([`BackupTool`]): a scheduled backup
//! must not hold up a fault.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::node::{append_conf, conf_quote, Role};
use super::run::{chown_to, failure, pg_command, run_with_timeout, RunAs};
use super::*;

/// The longest a base backup, a copy's check or a restore's recovery may take.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// application_name of an instance restored from a backup.
const RESTORED_APP_NAME: &str = "drill_restored";

/// A backup vault: a directory of recovery points, and the WAL archive when it is the primary's.
#[derive(Debug, Clone)]
pub struct Vault {
    pub name: String,
    pub region: String,
    pub dir: PathBuf,
}

impl Vault {
    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }

    fn backups_dir(&self) -> PathBuf {
        self.dir.join("backups")
    }
}

/// One base backup in one vault.
#[derive(Debug, Clone)]
pub struct RecoveryPoint {
    pub label: String,
    pub vault: String,
    pub dir: PathBuf,
    /// When the backup became consistent (pg_basebackup returned): a restore from it holds
    /// what was committed by then.
    pub completed: Instant,
    pub bytes: u64,
    /// How long the backup (or the copy and its check) took.
    pub took: Duration,
}

/// What a restore replays to.
#[derive(Debug, Clone)]
pub enum RestoreTarget {
    /// The end of the base backup (a snapshot restore).
    EndOfBackup,
    /// The archived WAL of `wal`, up to just before transaction `xid` committed.
    BeforeXid { wal: PathBuf, xid: u64 },
    /// The archived WAL of `wal`, to its end.
    Latest { wal: PathBuf },
}

#[derive(Debug, Clone)]
pub struct RestoreStats {
    pub bytes: u64,
    /// Copying the base backup into the new instance's data directory.
    pub copy: Duration,
    /// Start, WAL replay and promotion, until the instance takes writes.
    pub recovery: Duration,
}

/// What base backups and copies need of the cluster, cloned out of it.
#[derive(Debug, Clone)]
pub struct BackupTool {
    bins: PgBinaries,
    run_as: Option<RunAs>,
    root: PathBuf,
}

impl BackupTool {
    fn command(&self, program: &str) -> std::process::Command {
        pg_command(&self.bins.program(program), self.run_as, &self.root)
    }

    /// A base backup of the server on `port` into `vault` (pg_basebackup, WAL streamed into the
    /// backup so it restores on its own, a manifest with CRC-32C checksums).
    pub fn base_backup(&self, port: u16, vault: &Vault, label: &str) -> Result<RecoveryPoint, PgError> {
        let step = format!("base backup {label}");
        let dir = vault.backups_dir().join(label);
        let t0 = Instant::now();
        let mut cmd = self.command("pg_basebackup");
        cmd.arg("-D")
            .arg(&dir)
            .args([
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-w",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .arg(format!("--label=drillbit {label}"))
            .arg("-p")
            .arg(port.to_string())
            .env("PGCONNECT_TIMEOUT", "5");
        let out = run_with_timeout(cmd, &step, BACKUP_TIMEOUT)?;
        if !out.status.success() {
            let _ = fs::remove_dir_all(&dir);
            return Err(step_err(step, failure(&out)));
        }
        let completed = Instant::now();
        Ok(RecoveryPoint {
            label: label.to_owned(),
            vault: vault.name.clone(),
            bytes: dir_bytes(&dir),
            dir,
            completed,
            took: t0.elapsed(),
        })
    }

    /// Copies `rp` into `to` and checks the copy against the backup's manifest.
    pub fn copy(&self, rp: &RecoveryPoint, to: &Vault) -> Result<RecoveryPoint, PgError> {
        let step = format!("copy of {} to vault {}", rp.label, to.name);
        let t0 = Instant::now();
        let dir = to.backups_dir().join(&rp.label);
        let bytes = copy_tree(&rp.dir, &dir, self.run_as).map_err(|e| step_err(&step, e.to_string()))?;
        if let Err(e) = self.verify(&dir, &step) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(RecoveryPoint {
            label: rp.label.clone(),
            vault: to.name.clone(),
            dir,
            completed: rp.completed,
            bytes,
            took: t0.elapsed(),
        })
    }

    /// pg_verifybackup: every file against the manifest's sizes and checksums, and the WAL the
    /// backup needs.
    pub fn verify(&self, dir: &Path, step: &str) -> Result<(), PgError> {
        let mut cmd = self.command("pg_verifybackup");
        cmd.arg("-q").arg(dir);
        let out = run_with_timeout(cmd, step, BACKUP_TIMEOUT)?;
        if !out.status.success() {
            return Err(step_err(format!("{step}: pg_verifybackup"), failure(&out)));
        }
        Ok(())
    }

    /// Deletes the recovery points of `points` older than `retention` at `now`, the newest
    /// excepted; returns the labels deleted.
    pub fn expire(points: &mut Vec<RecoveryPoint>, retention: Duration, now: Instant) -> Vec<String> {
        let newest = points.iter().map(|p| p.completed).max();
        let mut gone = Vec::new();
        points.retain(|p| {
            let old = now.saturating_duration_since(p.completed) > retention && Some(p.completed) != newest;
            if old && fs::remove_dir_all(&p.dir).is_ok() {
                gone.push(p.label.clone());
                return false;
            }
            true
        });
        gone
    }
}

impl Cluster {
    pub fn backup_tool(&self) -> BackupTool {
        BackupTool {
            bins: self.bins.clone(),
            run_as: self.run_as,
            root: self.root.clone(),
        }
    }

    /// A vault directory (with its WAL archive directory) inside the cluster's temp dir,
    /// writable by the servers.
    pub fn make_vault(&self, name: &str, region: &str) -> Result<Vault, PgError> {
        let safe: String = format!("{name}-{region}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let vaults = self.root.join("vaults");
        let vault = Vault {
            name: name.to_owned(),
            region: region.to_owned(),
            dir: vaults.join(safe),
        };
        for d in [&vaults, &vault.dir, &vault.backups_dir(), &vault.wal_dir()] {
            if !d.exists() {
                fs::DirBuilder::new().mode(0o700).create(d)?;
                self.chown(d)?;
            }
        }
        Ok(vault)
    }

    /// Archives the primary's WAL into `vault` from now on (`archive_command`, reloaded).
    pub fn archive_into(&self, vault: &Vault) -> Result<(), PgError> {
        if !self.archive {
            return Err(step_err("archive", "the primary was not set up to archive its WAL"));
        }
        let wal = vault.wal_dir().to_string_lossy().into_owned();
        // Never overwrite an archived segment; a copy appears under its name only once whole.
        let command = format!("test ! -f '{wal}/%f' && cp %p '{wal}/%f.part' && mv '{wal}/%f.part' '{wal}/%f'");
        self.sql(
            &self.primary,
            &format!("ALTER SYSTEM SET archive_command = {}", conf_quote(&command)),
            DDL_TIMEOUT,
        )?;
        self.sql(&self.primary, "SELECT pg_reload_conf()", DDL_TIMEOUT)?;
        Ok(())
    }

    /// Generates about `gib` GiB of table data on the primary (rows of ~1 KiB text, in batches).
    /// Returns the database's size afterwards, in bytes.
    pub fn generate_data(&self, gib: f64) -> Result<u64, PgError> {
        const ROW_BYTES: f64 = 1170.0; // a 992-character pad, its header and the page's share
        const BATCH: u64 = 100_000;
        let rows = ((gib * 1024.0 * 1024.0 * 1024.0) / ROW_BYTES).ceil() as u64;
        self.sql(
            &self.primary,
            "CREATE TABLE IF NOT EXISTS drill_data (id bigint, pad text)",
            DDL_TIMEOUT,
        )?;
        let mut from = 1u64;
        while from <= rows {
            let to = (from + BATCH - 1).min(rows);
            self.sql(
                &self.primary,
                &format!(
                    "SET synchronous_commit = off; INSERT INTO drill_data SELECT g, repeat(md5(g::text), 31) \
                     FROM generate_series({from}, {to}) g"
                ),
                Duration::from_secs(300),
            )?;
            from = to + 1;
        }
        self.sql(&self.primary, "CHECKPOINT", Duration::from_secs(300))?;
        let size = self.sql(
            &self.primary,
            "SELECT pg_database_size(current_database())",
            QUERY_TIMEOUT,
        )?;
        Ok(size.trim().parse().unwrap_or(0))
    }

    /// Forces the current WAL segment into the archive and waits (up to `within`) until it is
    /// there: a point-in-time restore then reaches everything committed before the call.
    pub fn flush_archive(&self, within: Duration) -> Result<(), PgError> {
        let step = "flush the WAL archive";
        let seg = self.sql(&self.primary, "SELECT pg_walfile_name(pg_switch_wal())", QUERY_TIMEOUT)?;
        let seg = seg.trim().to_owned();
        let t0 = Instant::now();
        loop {
            let last = self.sql(
                &self.primary,
                "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
                QUERY_TIMEOUT,
            )?;
            if last.trim() >= seg.as_str() {
                return Ok(());
            }
            if t0.elapsed() > within {
                return Err(step_err(step, format!("segment {seg} not archived after {within:?}")));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes the primary refuse writes (`default_transaction_read_only`, reloaded, and its client
    /// sessions ended so none keeps writing); false when it is not running.
    pub fn fence_primary(&self) -> Result<bool, PgError> {
        if self.primary.pid().is_none() {
            return Ok(false);
        }
        self.sql(
            &self.primary,
            "ALTER SYSTEM SET default_transaction_read_only = on",
            QUERY_TIMEOUT,
        )?;
        self.sql(&self.primary, "SELECT pg_reload_conf()", QUERY_TIMEOUT)?;
        self.sql(
            &self.primary,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
             AND coalesce(application_name, '') <> 'drillbit'",
            QUERY_TIMEOUT,
        )?;
        Ok(true)
    }

    /// Restores `rp` into the cluster's second node, a new instance, to `target`, and waits
    /// until it takes writes. Refuses when that instance already runs.
    pub fn restore(&mut self, rp: &RecoveryPoint, target: &RestoreTarget) -> Result<RestoreStats, PgError> {
        let step = format!("restore of {} from vault {}", rp.label, rp.vault);
        if self.torn_down {
            return Err(step_err(step, "the cluster has been torn down"));
        }
        if self.standby.pid().is_some() || self.standby.data_dir.exists() {
            return Err(step_err(step, "the instance to restore into exists already"));
        }
        let t0 = Instant::now();
        let data = self.standby.data_dir.clone();
        let bytes = copy_tree(&rp.dir, &data, self.run_as).map_err(|e| step_err(&step, e.to_string()))?;
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
        // The backup's manifest is not part of a data directory.
        let _ = fs::remove_file(data.join("backup_manifest"));
        let copy = t0.elapsed();
        let mut conf = format!(
            "\n# drillbit restored instance\nport = {}\nunix_socket_directories = {}\ncluster_name = '{RESTORED_APP_NAME}'\n\
             synchronous_standby_names = ''\narchive_mode = off\nhot_standby = on\n",
            self.standby.port,
            conf_quote(&self.standby.socket_dir.to_string_lossy()),
        );
        let archive = |wal: &Path| {
            format!(
                "restore_command = {}\nrecovery_target_action = 'promote'\n",
                conf_quote(&format!("cp '{}/%f' '%p'", wal.to_string_lossy()))
            )
        };
        match target {
            // No recovery.signal: crash recovery from the backup label replays the WAL the
            // backup holds, to its end, and the server starts writable.
            RestoreTarget::EndOfBackup => {}
            RestoreTarget::BeforeXid { wal, xid } => {
                conf.push_str(&archive(wal));
                conf.push_str(&format!(
                    "recovery_target_xid = '{xid}'\nrecovery_target_inclusive = off\n"
                ));
            }
            RestoreTarget::Latest { wal } => conf.push_str(&archive(wal)),
        }
        if !matches!(target, RestoreTarget::EndOfBackup) {
            fs::write(data.join("recovery.signal"), "")?;
            self.chown(&data.join("recovery.signal"))?;
        }
        append_conf(&data, &conf)?;
        let t1 = Instant::now();
        self.start_node(Role::Standby, &format!("{step}: start"))?;
        loop {
            let writable = self
                .sql(&self.standby, "SELECT NOT pg_is_in_recovery()", QUERY_TIMEOUT)
                .map(|v| v.trim() == "t");
            if matches!(writable, Ok(true)) {
                break;
            }
            if self.standby.pid().is_none() {
                return Err(step_err(
                    &step,
                    format!("the restored instance exited{}", self.standby.log_tail()),
                ));
            }
            if t1.elapsed() > BACKUP_TIMEOUT {
                return Err(step_err(&step, format!("not writable after {BACKUP_TIMEOUT:?}")));
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(RestoreStats {
            bytes,
            copy,
            recovery: t1.elapsed(),
        })
    }
}

/// Copies the directory tree `from` to `to` (which must not exist), files and directories
/// owned by `run_as` when set; returns the bytes copied.
fn copy_tree(from: &Path, to: &Path, run_as: Option<RunAs>) -> std::io::Result<u64> {
    fs::DirBuilder::new().mode(0o700).create(to)?;
    chown_to(run_as, to).map_err(std::io::Error::other)?;
    let mut bytes = 0;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            bytes += copy_tree(&src, &dst, run_as)?;
        } else if kind.is_file() {
            bytes += fs::copy(&src, &dst)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o600))?;
            chown_to(run_as, &dst).map_err(std::io::Error::other)?;
        }
    }
    Ok(bytes)
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}
