//! Running the PostgreSQL programs: to their end under a timeout, as the unprivileged user when
//! drillbit is root, in the cluster's temp dir with the C locale.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::time::Duration;

use super::super::exec;
use super::{step_err, Cluster, PgError, RUN_USER};

pub(super) struct Outcome {
    pub(super) status: ExitStatus,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// Runs a program to completion, killing it after `timeout`. A timeout or a failure to start is
/// an error naming `step`; a non-zero exit is returned for the caller to judge.
pub(super) fn run_with_timeout(cmd: Command, step: &str, timeout: Duration) -> Result<Outcome, PgError> {
    let program = Path::new(cmd.get_program()).display().to_string();
    let spec = exec::Spec {
        timeout,
        stdout: true,
        group: false,
        abort: None,
    };
    let f = exec::run(cmd, &spec).map_err(|e| step_err(step, format!("cannot run {program}: {e}")))?;
    match f.stopped {
        None => Ok(Outcome {
            status: f.status,
            stdout: f.stdout,
            stderr: f.stderr,
        }),
        Some(exec::Stop::WaitFailed(e)) => Err(step_err(step, format!("waiting for {program}: {e}"))),
        Some(_) => Err(step_err(
            step,
            format!(
                "timed out after {:.1} s and was killed; stderr: {}",
                timeout.as_secs_f64(),
                f.stderr.trim()
            ),
        )),
    }
}

pub(super) fn failure(out: &Outcome) -> String {
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
pub(super) struct RunAs {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

pub(super) fn lookup_user(name: &str) -> Option<RunAs> {
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

pub(super) static USER_LOCK: Mutex<()> = Mutex::new(());

/// As root: the unprivileged user to run PostgreSQL as, created once if absent.
pub(super) fn ensure_run_user() -> Result<RunAs, PgError> {
    let _guard = USER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(user) = lookup_user(RUN_USER) {
        return Ok(user);
    }
    let mut cmd = Command::new("useradd");
    cmd.args(["-r", "-M", "-s", "/usr/sbin/nologin", RUN_USER]);
    let out = run_with_timeout(cmd, "create user drillbit", Duration::from_secs(30))?;
    // Another process may have created it meanwhile: look again before judging the exit code.
    lookup_user(RUN_USER).ok_or_else(|| step_err("create user drillbit", format!("useradd: {}", failure(&out))))
}

impl Cluster {
    /// A command for a PostgreSQL program: unprivileged user when root, HOME and cwd in the temp
    /// dir, C locale, no inherited PG* environment.
    pub(super) fn command(&self, program: &str) -> Command {
        pg_command(&self.bins.program(program), self.run_as, &self.root)
    }

    pub(super) fn chown(&self, path: &Path) -> Result<(), PgError> {
        chown_to(self.run_as, path)
    }
}

/// A command for the PostgreSQL program at `path`: as `run_as` when set, HOME and cwd in `root`,
/// C locale, no inherited PG* environment.
pub(super) fn pg_command(path: &Path, run_as: Option<RunAs>, root: &Path) -> Command {
    let mut cmd = Command::new(path);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HOME", root)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .current_dir(root);
    if let Some(user) = run_as {
        // std clears the supplementary groups when dropping root this way.
        cmd.gid(user.gid).uid(user.uid);
    }
    cmd
}

pub(super) fn chown_to(run_as: Option<RunAs>, path: &Path) -> Result<(), PgError> {
    if let Some(user) = run_as {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))?;
    }
    Ok(())
}
