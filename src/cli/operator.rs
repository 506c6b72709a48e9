//! The terminal as the drill's operator: progress on stderr, game-day prompts and the live
//! drill's typed confirmation read from stdin, and the live view of the timeline.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use drillbit::engine::{Operator, StepAnswer, Watch};

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

/// The live view on stderr: `[    12.300s] step promote started (attempt 1)`.
pub fn live_view() -> Watch {
    Watch::new(|t, line| eprintln!("[{:>10}] {line}", t.to_string()))
}
