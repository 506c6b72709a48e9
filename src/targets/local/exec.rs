//! Running a program to its end under a timeout, for the PostgreSQL programs and for the fault
//! commands of a scenario. Its output is read on threads, so a chatty program never blocks on
//! a full pipe, and taken without waiting long for the pipe's end, so a daemon the program
//! left holding its pipes does not hang the caller. A program that outlives its timeout (or
//! the caller's interruption) is stopped and waited for.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How much of each stream is kept: its last 64 KiB.
const KEPT: usize = 64 * 1024;
/// How long the output may take to reach its end once the program has exited.
const PIPE_GRACE: Duration = Duration::from_millis(500);
/// Between SIGTERM and SIGKILL to a stopped process group.
const GROUP_GRACE: Duration = Duration::from_secs(2);

/// How to run a program.
pub(crate) struct Spec<'a> {
    pub timeout: Duration,
    /// Keep its stdout (else it goes to /dev/null). Its stderr is always kept.
    pub stdout: bool,
    /// Run it in a process group of its own, and stop the whole group (SIGTERM, SIGKILL 2 s
    /// later); else only the program is stopped, with SIGKILL.
    pub group: bool,
    /// Stop it when this turns true.
    pub abort: Option<&'a AtomicBool>,
}

/// Why a program was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    TimedOut,
    Interrupted,
    /// Waiting for it failed (the error).
    WaitFailed(String),
}

/// A program's end: its status, why it was stopped if it was, and the tails of its output.
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stopped: Option<Stop>,
    pub stdout: String,
    pub stderr: String,
}

/// The last [`KEPT`] bytes of a stream, read on a thread until the stream ends.
struct Tail {
    bytes: Arc<Mutex<Vec<u8>>>,
    ended: Receiver<()>,
}

impl Tail {
    fn read(source: Option<impl Read + Send + 'static>) -> Tail {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tx, ended) = channel();
        match source {
            Some(mut source) => {
                let bytes = bytes.clone();
                thread::spawn(move || {
                    let mut chunk = [0u8; 4096];
                    while let Ok(n) = source.read(&mut chunk) {
                        if n == 0 {
                            break;
                        }
                        if let Ok(mut b) = bytes.lock() {
                            b.extend_from_slice(&chunk[..n]);
                            let excess = b.len().saturating_sub(KEPT);
                            b.drain(..excess);
                        }
                    }
                    let _ = tx.send(());
                });
            }
            None => {
                let _ = tx.send(());
            }
        }
        Tail { bytes, ended }
    }

    /// What was read by the time the stream ended, or by `deadline`.
    fn text(&self, deadline: Instant) -> String {
        let _ = self
            .ended
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let bytes = self.bytes.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Runs `cmd` (stdin from /dev/null) until it exits or is stopped (timeout, `abort`, a failed
/// wait). An error only when it cannot be started or waited for after being stopped.
pub(crate) fn run(mut cmd: Command, spec: &Spec<'_>) -> std::io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(if spec.stdout { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped());
    if spec.group {
        cmd.process_group(0);
    }
    let mut child = cmd.spawn()?;
    let stdout = Tail::read(child.stdout.take());
    let stderr = Tail::read(child.stderr.take());
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let stopped = loop {
        match child.try_wait() {
            Ok(Some(_)) => break None,
            Ok(None) => {}
            Err(e) => break Some(Stop::WaitFailed(e.to_string())),
        }
        if spec.abort.is_some_and(|a| a.load(Ordering::SeqCst)) {
            break Some(Stop::Interrupted);
        }
        if started.elapsed() >= spec.timeout {
            break Some(Stop::TimedOut);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    if stopped.is_some() {
        if spec.group {
            let group = child.id() as i32;
            // SAFETY: signals the process group this function created; no memory is passed.
            unsafe { libc::kill(-group, libc::SIGTERM) };
            let grace = Instant::now();
            while grace.elapsed() < GROUP_GRACE && matches!(child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: as above; whatever of the group is left is killed.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        } else {
            let _ = child.kill();
        }
    }
    let status = child.wait()?;
    let deadline = Instant::now() + PIPE_GRACE;
    Ok(Finished {
        status,
        stopped,
        stdout: stdout.text(deadline),
        stderr: stderr.text(deadline),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    fn spec(timeout: Duration, group: bool) -> Spec<'static> {
        Spec {
            timeout,
            stdout: true,
            group,
            abort: None,
        }
    }

    #[test]
    fn output_and_status_come_back_and_a_long_output_keeps_its_tail() {
        let f = run(
            sh("echo out; echo err >&2; exit 3"),
            &spec(Duration::from_secs(10), false),
        )
        .unwrap();
        assert_eq!((f.status.code(), f.stopped), (Some(3), None));
        assert_eq!((f.stdout.as_str(), f.stderr.as_str()), ("out\n", "err\n"));
        let f = run(
            sh("i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done; echo last"),
            &spec(Duration::from_secs(30), false),
        )
        .unwrap();
        assert!(
            f.stdout.len() <= KEPT && f.stdout.ends_with("last\n"),
            "{}",
            f.stdout.len()
        );
    }

    #[test]
    fn a_program_past_its_timeout_is_stopped_and_a_daemon_holding_the_pipe_does_not_hang_us() {
        let t = Instant::now();
        let f = run(sh("sleep 30"), &spec(Duration::from_millis(200), false)).unwrap();
        assert_eq!(f.stopped, Some(Stop::TimedOut));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        // The group is stopped whole: the shell's own child too, which ignores SIGTERM.
        let t = Instant::now();
        let f = run(
            sh("trap '' TERM; sleep 30 & wait"),
            &spec(Duration::from_millis(200), true),
        )
        .unwrap();
        assert_eq!(f.stopped, Some(Stop::TimedOut));
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        // A daemon left behind holds stderr open: the output is taken without its end.
        let t = Instant::now();
        let f = run(
            sh("echo started >&2; (sleep 5 &) ; exit 0"),
            &spec(Duration::from_secs(10), false),
        )
        .unwrap();
        assert_eq!((f.status.code(), f.stderr.as_str()), (Some(0), "started\n"));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn an_interruption_stops_the_program() {
        let abort = AtomicBool::new(true);
        let f = run(
            sh("sleep 30"),
            &Spec {
                timeout: Duration::from_secs(30),
                stdout: false,
                group: true,
                abort: Some(&abort),
            },
        )
        .unwrap();
        assert_eq!(f.stopped, Some(Stop::Interrupted));
    }
}
