//! Processes seen through /proc: identity by pid and start time (so a recycled pid is never
//! mistaken for one drillbit started), state, working directory, and the members of a drill's
//! environment. Linux only, like the local target.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// A process identified by pid and start time (clock ticks since boot), so that a recycled pid
/// is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcId {
    pub pid: i32,
    pub start: u64,
}

impl ProcId {
    pub fn alive(&self) -> bool {
        read_stat(self.pid).is_some_and(|s| s.start == self.start && s.live())
    }

    /// Sends `sig` if the pid still belongs to this process.
    pub fn signal(&self, sig: libc::c_int) -> bool {
        // SAFETY: kill(2) has no memory-safety preconditions.
        read_stat(self.pid).is_some_and(|s| s.start == self.start) && unsafe { libc::kill(self.pid, sig) } == 0
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcStat {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    pub start: u64,
}

impl ProcStat {
    pub fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    pub fn id(&self) -> ProcId {
        ProcId {
            pid: self.pid,
            start: self.start,
        }
    }
}

pub(crate) fn read_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ..." where comm may contain spaces and parentheses.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?, // field 22, starttime
    })
}

pub(crate) fn all_procs() -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(read_stat)
        .collect()
}

pub(crate) fn cwd_of(pid: i32) -> Option<PathBuf> {
    let link = fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let text = link.to_string_lossy();
    Some(PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text)))
}

/// Live processes that belong to `dir`: the given postmasters (if still the same processes),
/// their descendants, and anything whose working directory is inside `dir` (PostgreSQL server
/// processes chdir to their data directory; that also catches children orphaned by a killed
/// postmaster).
pub(crate) fn members(procs: &[ProcStat], postmasters: &[ProcId], dir: &Path) -> Vec<ProcStat> {
    let me = std::process::id() as i32;
    let live_pms: Vec<i32> = postmasters
        .iter()
        .filter(|pm| procs.iter().any(|p| p.pid == pm.pid && p.start == pm.start && p.live()))
        .map(|pm| pm.pid)
        .collect();
    let parent: HashMap<i32, i32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
    let descends = |mut pid: i32| {
        for _ in 0..64 {
            if live_pms.contains(&pid) {
                return true;
            }
            match parent.get(&pid) {
                Some(&pp) if pp > 1 => pid = pp,
                _ => return false,
            }
        }
        false
    };
    procs
        .iter()
        .filter(|p| p.live() && p.pid != me)
        .filter(|p| descends(p.pid) || cwd_of(p.pid).is_some_and(|c| c.starts_with(dir)))
        .copied()
        .collect()
}

pub(crate) fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// What became of a SysV shared memory segment drillbit asked to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shm {
    /// There is no such segment (any more).
    Gone,
    /// Still attached, or not one of ours: left alone.
    Kept,
    /// Removed: its size, and the process that created it.
    Removed { size: usize, creator: i32 },
}

/// Removes SysV shared memory segment `id` when nothing is attached to it any more and it was
/// created by one of `creators` (and, with `owner`, belongs to that uid). PostgreSQL leaves its
/// segment behind when its postmaster is killed.
pub(crate) fn remove_orphaned_shm(id: i32, creators: &[i32], owner: Option<u32>) -> Shm {
    // SAFETY: shmid_ds is plain data, filled in by shmctl(IPC_STAT).
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } != 0 {
        return Shm::Gone;
    }
    let ours = ds.shm_nattch == 0 && creators.contains(&ds.shm_cpid) && owner.is_none_or(|u| ds.shm_perm.uid == u);
    // SAFETY: IPC_RMID takes no buffer.
    if ours && unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } == 0 {
        Shm::Removed {
            size: ds.shm_segsz,
            creator: ds.shm_cpid,
        }
    } else {
        Shm::Kept
    }
}

/// What a pid file says: the pid on its first line and, in a PostgreSQL `postmaster.pid`, the
/// SysV shared memory segment on its seventh (`KEY SHMID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PidFile {
    pub pid: Option<i32>,
    pub shmid: Option<i32>,
}

pub(crate) fn read_pid_file(path: &Path) -> std::io::Result<PidFile> {
    let text = fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().collect();
    Ok(PidFile {
        pid: lines.first().and_then(|l| l.trim().parse().ok()),
        shmid: lines
            .get(6)
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postmaster_pid_file_gives_the_pid_and_the_shared_memory_id() {
        let dir = std::env::temp_dir().join(format!("drillbit-procs-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let pm = dir.join("postmaster.pid");
        fs::write(
            &pm,
            "4242\n/data\n1700000000\n5432\n/sock\n127.0.0.1\n  5432001    98306\nready\n",
        )
        .unwrap();
        assert_eq!(
            read_pid_file(&pm).unwrap(),
            PidFile {
                pid: Some(4242),
                shmid: Some(98306)
            }
        );
        fs::write(&pm, " 77 \n").unwrap();
        assert_eq!(
            read_pid_file(&pm).unwrap(),
            PidFile {
                pid: Some(77),
                shmid: None
            }
        );
        fs::write(&pm, "not a pid\n").unwrap();
        assert_eq!(read_pid_file(&pm).unwrap().pid, None);
        assert!(read_pid_file(&dir.join("absent")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
