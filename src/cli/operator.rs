//! The terminal as the drill's operator: progress on stderr, game-day prompts and the live
//! drill's typed confirmation read from stdin, and the live view of the timeline.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use drillbit::engine::timeline::describe;
use drillbit::engine::{Entry, Labels, Operator, Outcome, StepAnswer, Watch};

/// The person at this terminal.
pub struct Terminal {
    /// No progress lines (`--quiet`); prompts still show.
    pub quiet: bool,
}

impl Operator for Terminal {
    fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("drillbit: {msg}");
        }
    }

    fn warn(&self, msg: &str) {
        eprintln!("drillbit: {msg}");
    }

    /// Enter: done; `fail`: failed; stdin closed: failed.
    fn manual_step(&self, step: &str, what: &str) -> StepAnswer {
        eprintln!(
            "\n[game day] step `{step}`: {what}\n[game day] press Enter when done, or type `fail` and Enter if it failed:"
        );
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => StepAnswer::Failed("no operator answer (stdin closed)".into()),
            Ok(_) if line.trim().eq_ignore_ascii_case("fail") => {
                StepAnswer::Failed("the operator reported the step failed".into())
            }
            Ok(_) => StepAnswer::Done,
        }
    }

    fn confirm(&self, summary: &[String], expect: &str, abort: &AtomicBool) -> bool {
        for line in summary {
            eprintln!("drillbit: {line}");
        }
        eprintln!("Type the account id ({expect}) to run it, anything else to cancel:");
        // Read on a thread, so that Ctrl-C (the abort flag) cancels while stdin waits.
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let _ = tx.send(line);
        });
        loop {
            if abort.load(Ordering::SeqCst) {
                return false;
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => return line.trim() == expect,
                Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

/// The live view on stderr, one line per timeline entry: `[   12.300s] step `promote` done`.
pub fn live_view() -> Watch {
    Watch::new(|t, e, labels, hosts| eprintln!("[{:>10}] {}", t.to_string(), live_line(e, labels, hosts)))
}

/// A timeline entry as the live view says it: the steps' and faults' names quoted, a step's
/// end as done or in capitals when it failed; the rest in the reports' words.
fn live_line(e: &Entry, labels: &Labels, hosts: &[String]) -> String {
    let step = |s: &usize| labels.steps.get(*s).map_or("?", String::as_str);
    let fault = |f: &usize| labels.faults.get(*f).map_or("?", String::as_str);
    match e {
        Entry::AttemptStarted { step: s, attempt } => format!("step `{}` started (attempt {attempt})", step(s)),
        Entry::AttemptEnded {
            step: s,
            outcome: Outcome::Ok,
            ..
        } => format!("step `{}` done", step(s)),
        Entry::AttemptEnded {
            step: s,
            outcome,
            detail,
            ..
        } => {
            let what = match outcome {
                Outcome::Failed => "FAILED".to_string(),
                o => o.as_str().replace('_', " "),
            };
            match detail {
                Some(d) => format!("step `{}` {what}: {d}", step(s)),
                None => format!("step `{}` {what}", step(s)),
            }
        }
        Entry::FaultActive { fault: f } => format!("fault `{}` active", fault(f)),
        Entry::FaultRepaired { fault: f } => format!("fault `{}` repaired", fault(f)),
        Entry::FaultEffect { fault: f, how } => format!("fault `{}` took effect: {how}", fault(f)),
        Entry::TrafficSwitched => "clients now reach the DR region".into(),
        Entry::Probes { ok, .. } => format!("client probes {}", if *ok { "succeed" } else { "fail" }),
        other => describe(labels, hosts, other),
    }
}
