//! Nothing of a local drill outlives drillbit.
//!
//! Three layers, each for what the one before cannot do:
//!
//! - A normal end (also an error, Ctrl-C, SIGTERM, a timeout): the target's teardown stops and
//!   waits for every server, resumes what it stopped and removes its temp dir. On a topology
//!   drillbit builds it is a child subreaper, so the servers `pg_ctl` daemonizes and the
//!   orphans of a killed postmaster are its children, reaped by it (before a server starts
//!   again in the same directory, and at teardown) rather than left as zombies.
//! - SIGKILL (or any death without teardown): the *guard*, a `drillbit guard` process started
//!   with the drill in a process group of its own. It holds the read end of a pipe from
//!   drillbit; when that closes without the word `done`, drillbit is gone and the guard resumes
//!   every process drillbit had stopped, stops every process of the drill's environments and
//!   removes them.
//! - The guard killed too: every environment names its owner (pid and start time) in
//!   [`OWNER_FILE`]. The next local drill, and `drillbit clean`, remove the environments of
//!   owners that are no longer alive, and never one of a live drill or one kept by `--keep-env`.

use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use super::procs::{
    all_procs, cwd_of, read_pid_file, read_stat, remove_orphaned_shm, wait_until, PidFile, ProcId, Shm,
};

/// In every environment's root: `PID START` of the drillbit that owns it, or `kept`.
pub const OWNER_FILE: &str = "drillbit-owner";
/// Environment roots are `drillbit-pg-<pid>-...` directories in the temp dir.
pub const ROOT_PREFIX: &str = "drillbit-pg-";

/// This process, by pid and start time.
pub(crate) fn me() -> Option<ProcId> {
    read_stat(std::process::id() as i32).map(|s| s.id())
}

/// Records this process as the owner of `root`.
pub(crate) fn write_owner(root: &Path) -> std::io::Result<()> {
    let owner = me().ok_or_else(|| std::io::Error::other("cannot read /proc/self/stat"))?;
    fs::write(root.join(OWNER_FILE), format!("{} {}\n", owner.pid, owner.start))
}

/// Marks `root` as kept (`--keep-env`): no clean-up removes it.
pub(crate) fn mark_kept(root: &Path) -> std::io::Result<()> {
    fs::write(root.join(OWNER_FILE), "kept\n")
}

/// Makes this process the reaper of its orphaned descendants (Linux): the daemonized servers
/// and the children of a killed postmaster are then drillbit's to wait for.
pub(crate) fn become_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes an integer and no memory.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Waits for every zombie child of this process that was a PostgreSQL server process (orphans
/// drillbit inherited as subreaper); returns how many it reaped. Other children are left to
/// whoever started them.
pub(crate) fn reap_server_zombies() -> usize {
    let me = std::process::id() as i32;
    let mut n = 0;
    for p in all_procs() {
        if p.ppid != me || p.state != 'Z' {
            continue;
        }
        let comm = fs::read_to_string(format!("/proc/{}/comm", p.pid)).unwrap_or_default();
        if comm.trim() != "postgres" {
            continue;
        }
        let mut status = 0;
        // SAFETY: waits for one zombie child by pid; `status` is a valid out pointer.
        if unsafe { libc::waitpid(p.pid, &mut status, libc::WNOHANG) } == p.pid {
            n += 1;
        }
    }
    n
}

/// drillbit's side of the guard: tell it what was stopped, and `release` it at a normal end.
pub struct Guard {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Guard {
    /// Starts the guard for environments in `parent` (the temp dir) owned by this process.
    pub fn start(parent: &Path) -> Result<Guard, String> {
        let owner = me().ok_or("cannot read /proc/self/stat")?;
        let program = super::services::drillbit_program().map_err(|e| format!("locating drillbit: {e}"))?;
        let mut cmd = Command::new(&program);
        cmd.arg("guard")
            .arg("--owner")
            .arg(format!("{}:{}", owner.pid, owner.start))
            .arg("--parent")
            .arg(parent)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // Its own process group: a Ctrl-C at the terminal goes to drillbit, which tears down.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting the guard ({}): {e}", program.display()))?;
        let stdin = child.stdin.take();
        Ok(Guard { child, stdin })
    }

    fn say(&mut self, line: &str) {
        if let Some(w) = self.stdin.as_mut() {
            let _ = writeln!(w, "{line}");
            let _ = w.flush();
        }
    }

    /// drillbit stopped `pid` (SIGSTOP): if drillbit dies, the guard resumes it.
    pub fn stopped(&mut self, pid: i32) {
        if let Some(s) = read_stat(pid) {
            self.say(&format!("stopped {} {}", s.pid, s.start));
        }
    }

    /// `pid` was resumed; the guard forgets it.
    pub fn resumed(&mut self, pid: i32) {
        self.say(&format!("resumed {pid}"));
    }

    /// A normal end: everything was torn down; the guard exits without touching anything.
    pub fn release(mut self) {
        self.say("done");
        self.stdin = None;
        self.wait();
    }

    fn wait(&mut self) {
        if !wait_until(Duration::from_secs(30), || matches!(self.child.try_wait(), Ok(Some(_)))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    /// Dropped without `release` (a panic unwinding): the guard cleans up now.
    fn drop(&mut self) {
        if self.stdin.take().is_some() {
            self.wait();
        }
    }
}

/// `drillbit guard`: reads drillbit's lines from `input` (its pipe) until drillbit ends; unless
/// it said `done`, resumes what it stopped and removes its environments. Returns what it did,
/// a message a line, for the caller to print.
pub fn run_guard(owner: &str, parent: &Path, input: impl BufRead) -> Result<Vec<String>, String> {
    let (pid, start) = owner
        .split_once(':')
        .and_then(|(p, s)| Some((p.parse::<i32>().ok()?, s.parse::<u64>().ok()?)))
        .ok_or_else(|| format!("--owner `{owner}`: expected PID:START"))?;
    let owner = ProcId { pid, start };
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: ignoring a signal installs no handler code.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    let (done, stopped) = read_orders(input);
    if done {
        return Ok(Vec::new());
    }
    let mut said = Vec::new();
    for p in &stopped {
        if p.signal(libc::SIGCONT) {
            said.push(format!("resumed process {} that drillbit had stopped", p.pid));
        }
    }
    for r in environments(parent) {
        if r.owner == Owner::Process(owner) {
            said.push(clean_root(&r.root, owner.pid));
        }
    }
    Ok(said
        .into_iter()
        .map(|m| {
            format!(
                "drillbit guard: drillbit (pid {}) ended without its teardown; {m}",
                owner.pid
            )
        })
        .collect())
}

/// Reads drillbit's lines until its pipe closes: whether it said `done`, and the processes it
/// stopped and did not say it resumed.
fn read_orders(input: impl BufRead) -> (bool, Vec<ProcId>) {
    let mut stopped: Vec<ProcId> = Vec::new();
    let mut done = false;
    for line in input.lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["done"] => done = true,
            ["stopped", p, s] => {
                if let (Ok(pid), Ok(start)) = (p.parse(), s.parse()) {
                    stopped.push(ProcId { pid, start });
                }
            }
            ["resumed", p] => {
                if let Ok(pid) = p.parse::<i32>() {
                    stopped.retain(|s| s.pid != pid);
                }
            }
            _ => {}
        }
    }
    (done, stopped)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Process(ProcId),
    /// An environment from before owner files: only the pid in its name is known.
    Pid(i32),
    Kept,
    Unknown,
}

struct Environment {
    root: PathBuf,
    owner: Owner,
}

/// Every environment root directly in `parent` (not through symbolic links).
fn environments(parent: &Path) -> Vec<Environment> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(ROOT_PREFIX) else {
            continue;
        };
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let root = e.path();
        let owner = match fs::read_to_string(root.join(OWNER_FILE)) {
            Ok(text) if text.trim() == "kept" => Owner::Kept,
            Ok(text) => {
                let mut w = text.split_whitespace();
                match (
                    w.next().and_then(|p| p.parse().ok()),
                    w.next().and_then(|s| s.parse().ok()),
                ) {
                    (Some(pid), Some(start)) => Owner::Process(ProcId { pid, start }),
                    _ => Owner::Unknown,
                }
            }
            Err(_) => match rest.split('-').next().and_then(|p| p.parse().ok()) {
                Some(pid) => Owner::Pid(pid),
                None => Owner::Unknown,
            },
        };
        out.push(Environment { root, owner });
    }
    out.sort_by(|a, b| a.root.cmp(&b.root));
    out
}

/// Removes the environments in `parent` whose drillbit is no longer alive; returns one line
/// per environment removed or deliberately left. Environments of live drills are not touched.
pub fn clean_stale(parent: &Path) -> Vec<String> {
    let me = std::process::id() as i32;
    let mut said = Vec::new();
    for env in environments(parent) {
        match env.owner {
            Owner::Process(p) if p.alive() => {}
            Owner::Process(p) => said.push(clean_root(&env.root, p.pid)),
            // Without a start time only a pid that is gone proves the drill is over.
            Owner::Pid(pid) if pid != me && read_stat(pid).is_none() => said.push(clean_root(&env.root, pid)),
            Owner::Pid(_) => {}
            Owner::Kept => said.push(format!(
                "left {} (kept by --keep-env; remove it yourself when done)",
                env.root.display()
            )),
            Owner::Unknown => {}
        }
    }
    said
}

/// The postmaster.pid files below `root` (at most three levels down).
fn pid_files(root: &Path) -> Vec<PathBuf> {
    fn go(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() && depth > 0 {
                go(&e.path(), depth - 1, out);
            } else if t.is_file() && e.file_name() == "postmaster.pid" {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    go(root, 3, &mut out);
    out
}

/// Stops every process whose working directory is inside `root` (resumed first, then
/// SIGKILL, waited for), removes the SysV shared memory its postmasters left and removes
/// `root`. Returns what it did, in one line.
fn clean_root(root: &Path, owner_pid: i32) -> String {
    let me = std::process::id() as i32;
    let inside = |pid: i32| cwd_of(pid).is_some_and(|c| c.starts_with(root));
    let procs: Vec<ProcId> = all_procs()
        .into_iter()
        .filter(|p| p.live() && p.pid != me && inside(p.pid))
        .map(|p| p.id())
        .collect();
    for p in &procs {
        p.signal(libc::SIGCONT);
        p.signal(libc::SIGKILL);
    }
    let gone = wait_until(Duration::from_secs(5), || procs.iter().all(|p| !p.alive()));
    reap_server_zombies();
    let mut did = Vec::new();
    if !procs.is_empty() {
        let pids: Vec<i32> = procs.iter().map(|p| p.pid).collect();
        did.push(format!("stopped {} process(es) {pids:?}", pids.len()));
        if !gone {
            did.push("some did not exit within 5 s".to_string());
        }
    }
    for pf in pid_files(root) {
        let Ok(PidFile {
            pid: Some(pm),
            shmid: Some(id),
        }) = read_pid_file(&pf)
        else {
            continue;
        };
        if matches!(remove_orphaned_shm(id, &[pm], None), Shm::Removed { .. }) {
            did.push(format!("removed shared memory segment {id} of postmaster {pm}"));
        }
    }
    match fs::remove_dir_all(root) {
        Ok(()) => did.push(format!("removed {}", root.display())),
        Err(e) => did.push(format!("cannot remove {}: {e}", root.display())),
    }
    format!(
        "stale environment of drillbit pid {owner_pid} (no longer running): {}",
        did.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("drillbit-guard-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_guard_reads_what_drillbit_stopped_and_resumed_and_whether_it_ended_normally() {
        let (done, stopped) = read_orders("stopped 10 111\nstopped 11 222\nresumed 10\nnoise\n".as_bytes());
        assert!(!done);
        assert_eq!(stopped, [ProcId { pid: 11, start: 222 }]);
        let (done, stopped) = read_orders("stopped 12 333\ndone\n".as_bytes());
        assert!(done);
        assert_eq!(stopped.len(), 1);
    }

    #[test]
    fn clean_removes_only_environments_of_dead_owners() {
        let parent = temp("owners");
        let mine = parent.join(format!("{ROOT_PREFIX}{}-0-0", std::process::id()));
        fs::create_dir(&mine).unwrap();
        write_owner(&mine).unwrap();
        // A dead owner: pid 1's start time is never 1 tick past boot for a drillbit.
        let dead = parent.join(format!("{ROOT_PREFIX}999999-0-0"));
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join(OWNER_FILE), "1 999999999\n").unwrap();
        fs::write(dead.join("data"), "x").unwrap();
        let kept = parent.join(format!("{ROOT_PREFIX}999998-0-0"));
        fs::create_dir(&kept).unwrap();
        mark_kept(&kept).unwrap();
        let other = parent.join("not-drillbit");
        fs::create_dir(&other).unwrap();

        let said = clean_stale(&parent);
        assert!(mine.exists(), "a live drill's environment is never touched");
        assert!(!dead.exists(), "{said:?}");
        assert!(kept.exists() && other.exists());
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[1].contains("pid 1 ") && said[1].contains("removed"), "{said:?}");
        assert!(said[0].contains("kept by --keep-env"), "{said:?}");
        fs::remove_dir_all(&parent).unwrap();
    }
}
