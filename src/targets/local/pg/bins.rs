//! Finding the PostgreSQL server programs and their version.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::run::run_with_timeout;
use super::{PgError, REQUIRED_TOOLS};

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

    pub(super) fn from_dir(dir: &Path) -> Result<PgBinaries, PgError> {
        let mut cmd = Command::new(dir.join("postgres"));
        cmd.arg("--version");
        let out = run_with_timeout(cmd, "postgres --version", Duration::from_secs(10))
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
    pub(super) fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub(super) fn missing_tools(dir: &Path) -> Vec<&'static str> {
    REQUIRED_TOOLS
        .iter()
        .copied()
        .filter(|t| !is_executable(&dir.join(t)))
        .collect()
}

pub(super) fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}
