//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use drillbit::montecarlo::MonteCarlo;
use drillbit::scenario::{self, Loaded};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn load(rel: &str) -> Loaded {
    let p = root().join(rel);
    scenario::load_file(&p).unwrap_or_else(|d| panic!("{rel} invalid: {d:?}"))
}

pub fn load_text(name: &str, text: &str) -> Loaded {
    scenario::load_str(name, text).unwrap_or_else(|d| panic!("{name} invalid: {d:#?}"))
}

pub fn mc(l: &Loaded, runs: u64) -> MonteCarlo {
    drillbit::targets::sim::montecarlo::simulate(l, runs, 1, 2, &|_| {}).expect("simulation")
}

/// Every shipped scenario file, recursively.
pub fn shipped() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("scenarios dir").flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("scenarios"), &mut out);
    out
}

/// Runs `args` (drillbit's own binary) on a terminal: a pty from util-linux `script`. Once the
/// terminal shows `prompt`, waits `think` and types `input`. Returns the exit code and all the
/// terminal showed. `exec` keeps a shell from standing between the terminal and drillbit: a
/// waiting dash would die of a typed Ctrl-C, and `script` would report 130 whatever drillbit did.
pub fn on_terminal(
    args: &str,
    envs: &[(&str, &str)],
    prompt: &str,
    think: std::time::Duration,
    input: &[u8],
) -> (i32, String) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let cmd = format!("exec {} {args}", assert_cmd::cargo::cargo_bin("drillbit").display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(root())
        .env("SHELL", "/bin/sh")
        .env_remove("AWS_PROFILE") // the tests drive emulators, never a configured account
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = |seen: &Mutex<Vec<u8>>| String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !text(&seen).contains(prompt) {
        assert!(Instant::now() < deadline, "no `{prompt}` within 90 s: {}", text(&seen));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(think);
    stdin.write_all(input).expect("typed");
    // The terminal stays open until drillbit exits (closing it would type an end of input
    // that races a typed Ctrl-C); a drillbit waiting for more input fails the test.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 120 s after the answer: {}", text(&seen));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    reader.join().expect("reader");
    (status.code().unwrap_or(-1), text(&seen))
}

/// A real PostgreSQL primary (no standby yet) in a temporary directory, torn down on drop.
pub fn postgres(sync: drillbit::targets::local::pg::SyncMode) -> drillbit::targets::local::pg::Cluster {
    use drillbit::targets::local::pg::{Cluster, ClusterOptions, PgBinaries};
    let bins = PgBinaries::find().expect("PostgreSQL binaries (run harness/install-postgres.sh)");
    Cluster::prepare(
        &bins,
        ClusterOptions {
            sync,
            replication_via: None,
            keep: false,
            parent: None,
            archive: false,
        },
    )
    .expect("a PostgreSQL primary")
}

/// The rows of a local drill's `ledger.csv`: each acknowledged write's sequence number and when
/// it was acknowledged (seconds since the start of the drill).
pub fn ledger_rows(out: &Path) -> Vec<(i64, f64)> {
    let text = std::fs::read_to_string(out.join("ledger.csv")).expect("ledger.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("seq,acked_at_s"));
    lines
        .map(|l| {
            let (a, b) = l.split_once(',').expect("two columns");
            (a.parse().expect("seq"), b.parse().expect("time"))
        })
        .collect()
}

/// Runs `drillbit run FILE --target local EXTRA... --out OUT` and reads the scorecard it wrote.
/// Returns the exit code, the scorecard and what drillbit printed on stdout.
pub fn local_drill(
    file: &str,
    out: &Path,
    extra: &[&str],
    timeout: std::time::Duration,
) -> (i32, serde_json::Value, String) {
    let o = assert_cmd::Command::cargo_bin("drillbit")
        .expect("binary")
        .current_dir(root())
        .args(["run", file, "--target", "local"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .timeout(timeout)
        .output()
        .expect("runs");
    let code = o.status.code().unwrap_or(-1);
    let text = std::fs::read_to_string(out.join("scorecard.json")).unwrap_or_else(|e| {
        panic!(
            "no scorecard ({e}); exit {code}; stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    (code, serde_json::from_str(&text).expect("json"), stdout)
}
