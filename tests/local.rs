//! The `local` target against real PostgreSQL processes: measured RTO, lost writes that match
//! the replication mode, the ledger agreeing with the scorecard, and nothing left behind, also
//! when the drill is interrupted with SIGINT. Needs PostgreSQL server binaries
//! (harness/install-postgres.sh installs them).

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// Drills on one machine are serialized: each stands up its own servers, and the leftover
/// checks look at every postgres process.
static SERIAL: Mutex<()> = Mutex::new(());

fn postgres_processes() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'));
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !zombie && cmd.contains("drillbit-pg-") {
            out.push(cmd);
        }
    }
    out
}

/// Temporary directories of drills started since `since` that are still there. Older ones
/// belong to something else (another run, a crashed process) and are not this test's doing.
fn leftover_dirs(since: std::time::SystemTime) -> Vec<String> {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("drillbit-pg-") && !n.starts_with("drillbit-pg-test") && !n.starts_with("drillbit-pg-private")
        })
        .filter(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t >= since))
        .map(|e| {
            let listing: Vec<String> = std::fs::read_dir(e.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|x| x.file_name().to_string_lossy().to_string())
                .collect();
            format!("{} (contains {listing:?})", e.file_name().to_string_lossy())
        })
        .collect()
}

fn drill(rel: &str, out: &Path) -> (i32, Value) {
    drill_with(rel, out, &[])
}

/// Runs one local drill through the binary with extra flags; returns the exit code and scorecard.
fn drill_with(rel: &str, out: &Path, extra: &[&str]) -> (i32, Value) {
    let (code, sc, _) = common::local_drill(rel, out, extra, Duration::from_secs(120));
    (code, sc)
}

/// A drill of one real PostgreSQL that drillbit did not build (bound by connection), with one
/// fault and the drill settings given; returns the exit code and the scorecard.
fn drill_bound_single(port: u16, dir: &Path, name: &str, fault: &str, settings: &str) -> (i32, Value) {
    drill_bound_single_probing(
        port,
        dir,
        name,
        fault,
        settings,
        "{ interval: 100ms, healthy_after: 3 }",
    )
}

/// [`drill_bound_single`] with the workload's probe settings given. A probe that takes longer
/// than 80% of its interval counts as failed, and a failed probe is evidence of a fault's
/// effect: drills that must see no effect probe less often, so a busy machine is not mistaken
/// for the fault.
fn drill_bound_single_probing(
    port: u16,
    dir: &Path,
    name: &str,
    fault: &str,
    settings: &str,
    probe: &str,
) -> (i32, Value) {
    let scenario = format!(
        r#"name: {name}
strategy: warm-standby
targets: {{ rto: 10s, rpo: 1s }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - {{ id: db, kind: rds-instance, instance: external, bind: {{ connection: "host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=1" }} }}
workload: {{ writes_per_second: 100, probe: {probe} }}
faults:
  - {fault}
runbook:
  steps:
    - {{ id: wait, action: probe-until-healthy, timeout: 30s }}
drill: {settings}
"#
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, scenario).expect("write");
    drill(file.to_str().expect("utf-8 path"), &dir.join("out"))
}

/// Sends `sig` to drillbit and waits (at most `within`) for it to exit.
fn signal_and_wait(
    child: &mut std::process::Child,
    sig: libc::c_int,
    within: Duration,
) -> (std::process::ExitStatus, Duration) {
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return (s, t0.elapsed());
        }
        assert!(
            t0.elapsed() < within,
            "drillbit did not stop within {within:?} of signal {sig}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_clean(since: std::time::SystemTime) {
    // Killed servers are reaped asynchronously; give teardown's SIGKILLs a moment to land.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !postgres_processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        postgres_processes().is_empty(),
        "left behind: {:?}",
        postgres_processes()
    );
    let dirs = leftover_dirs(since);
    assert!(dirs.is_empty(), "left behind: {dirs:?}");
}

#[test]
fn async_kill9_recovers_within_a_second_and_the_ledger_matches_the_scorecard() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let t0 = Instant::now();
    let (code, sc) = drill("scenarios/local/async-kill9.yaml", dir.path());
    let wall = t0.elapsed();
    eprintln!(
        "async kill -9: RTO {} s, lost {}, whole drill {:.2} s",
        sc["measured"]["rto_s"],
        sc["measured"]["lost_writes"],
        wall.as_secs_f64()
    );
    assert_eq!(sc["target"], "local");
    // drillbit's own topology is a stand-in: a rehearsal, never counted as a real drill.
    assert_eq!(sc["drill_kind"], "rehearsal", "{}", sc["drilled"]);
    assert!(sc["measured"]["recovered"].as_bool().expect("bool"));
    let rto = sc["measured"]["rto_s"].as_f64().expect("rto");
    assert!(rto > 0.0 && rto < 5.0, "rto {rto}");
    assert_eq!(code, if sc["verdict"]["overall"] == "pass" { 0 } else { 1 });
    let rows = common::ledger_rows(dir.path());
    assert_eq!(
        rows.len() as u64,
        sc["measured"]["acked_writes"].as_u64().expect("acked")
    );
    assert!(
        rows.len() > 1000,
        "the writer should manage ~1,000 writes/s for 3 s, got {}",
        rows.len()
    );
    assert!(
        rows.windows(2).all(|w| w[0].1 <= w[1].1),
        "acknowledgement times are in order"
    );
    let steps = sc["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["outcome"] == "ok"), "{steps:?}");
    assert_clean(since);
}

#[test]
fn sync_replication_loses_no_acknowledged_write() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (_, sc) = drill("scenarios/local/sync-kill9.yaml", dir.path());
    assert!(sc["measured"]["acked_writes"].as_u64().expect("acked") > 500);
    assert_eq!(sc["measured"]["lost_writes"], 0, "{}", sc["measured"]);
    assert_eq!(sc["measured"]["rpo_s"], 0.0);
    assert_eq!(sc["verdict"]["rpo"], "met");
    assert_clean(since);
}

#[test]
fn a_cut_link_loses_exactly_the_writes_acknowledged_after_the_cut() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill("scenarios/local/lag-then-failure.yaml", dir.path());
    assert_eq!(code, 1, "the RPO target is missed");
    let lost = sc["measured"]["lost_writes"].as_u64().expect("lost");
    let rpo = sc["measured"]["rpo_s"].as_f64().expect("rpo");
    // Link cut at 3 s, primary killed at 5 s: about 2 s of writes at 500/s.
    assert!(lost > 300, "lost {lost}");
    assert!((1.0..3.0).contains(&rpo), "rpo {rpo}");
    // Every lost write was acknowledged after the cut: nothing before it is missing.
    let events = sc["events"].as_array().expect("events");
    let cut = events
        .iter()
        .find(|e| e["event"] == "fault link-cut active")
        .and_then(|e| e["t_s"].as_f64())
        .expect("cut");
    let t_fault = sc["measured"]["t_fault_s"].as_f64().expect("t_fault");
    assert!(
        t_fault - rpo >= cut - 0.05,
        "loss reaches back before the cut: fault {t_fault}, rpo {rpo}, cut {cut}"
    );
    assert_clean(since);
}

#[test]
fn a_router_stuck_on_the_failed_primary_misses_the_rto_until_the_fallback() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill("scenarios/local/dns-not-switching.yaml", dir.path());
    assert_eq!(code, 1);
    assert_eq!(sc["verdict"]["rto"], "missed");
    let steps = sc["steps"].as_array().expect("steps");
    let outcome = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["outcome"].clone())
            .expect("step")
    };
    assert_eq!(outcome("wait-for-router"), "timed_out");
    assert_eq!(outcome("flip"), "ok");
    assert!(sc["measured"]["rto_s"].as_f64().expect("rto") >= 3.0);
    assert_clean(since);
}

#[test]
fn sigint_mid_drill_stops_everything_and_exits_4() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let scenario = dir.path().join("slow.yaml");
    let text = std::fs::read_to_string(common::root().join("scenarios/local/async-kill9.yaml"))
        .expect("read")
        .replace("at: 3s", "at: 60s");
    std::fs::write(&scenario, text).expect("write");
    let bin = assert_cmd::cargo::cargo_bin("drillbit");
    let mut child = std::process::Command::new(bin)
        .args(["run", "--target", "local", "--out"])
        .arg(dir.path().join("out"))
        .arg(&scenario)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the servers are up and the writer is going.
    // The drill writes into its private staging directory until it is published.
    let stage = dir.path().join(format!(".out.drillbit-stage-{}", child.id()));
    let ledger = stage.join("ledger.csv");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&ledger).map(|m| m.len() < 200).unwrap_or(true) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!postgres_processes().is_empty(), "the drill should be running");
    let (status, took) = signal_and_wait(&mut child, libc::SIGINT, Duration::from_secs(20));
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    eprintln!(
        "stopped {:.2} s after SIGINT; drillbit said: {stderr}",
        took.as_secs_f64()
    );
    assert_eq!(status.code(), Some(4));
    assert!(
        !dir.path().join("out").exists() && !stage.exists(),
        "no output, not even a partial one, for an aborted drill"
    );
    assert_clean(since);
}

#[test]
fn a_bound_system_that_fails_over_by_itself_is_faulted_and_measured_without_drillbit_promoting() {
    use drillbit::targets::local::pg::SyncMode;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    // The system under test: a primary and a standby drillbit's scenario knows nothing about,
    // and a tiny HA manager that promotes the standby when the primary's postmaster dies.
    let mut cluster = common::postgres(SyncMode::Async);
    let port = cluster.primary.port;
    cluster.start_standby(port).expect("standby");
    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let ha = {
        let (cluster, stop) = (cluster.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if cluster.primary.pid().is_none() {
                    return cluster.promote_standby().is_ok();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
    };
    let dir = tempfile::tempdir().expect("tmp");
    let scenario = format!(
        r#"name: bound-ha
strategy: warm-standby
targets: {{ rto: 10s, rpo: 1s }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - id: db
      kind: rds-instance
      instance: external
      bind: {{ connection: "host=127.0.0.1,127.0.0.1 port={},{} user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=1" }}
workload: {{ writes_per_second: 300, probe: {{ interval: 100ms, healthy_after: 3 }} }}
faults:
  - {{ id: kill-primary, kind: db-primary-failure, resource: db, at: 2s, local: {{ pidfile: "{}" }} }}
runbook:
  steps:
    - {{ id: wait-for-ha, action: probe-until-healthy, timeout: 30s }}
    - {{ id: promote, action: rds.promote-read-replica, resource: replica, when: on-failure, after: [wait-for-ha] }}
drill: {{ horizon: 1m, settle: 5s }}
"#,
        cluster.primary.port,
        cluster.standby.port,
        cluster.primary.data_dir.join("postmaster.pid").display()
    );
    // The fallback names a replica resource so the scenario validates; add it.
    let scenario = scenario.replace(
        "workload:",
        "    - { id: replica, kind: rds-read-replica, instance: external-standby, source: db }\nworkload:",
    );
    let file = dir.path().join("bound.yaml");
    std::fs::write(&file, scenario).expect("write");
    // Findings of an earlier real drill, kept by people beside the scenario: an RTO miss being
    // worked on (with a ticket key of their own) and an accepted risk.
    let remediation = dir.path().join("bound.remediation.yaml");
    std::fs::write(
        &remediation,
        "drillbit_remediation: 1\nscenario: bound-ha\nitems:\n  - id: R-1\n    check: rto\n    finding: \"RTO missed: 40s against 10s\"\n    opened: 2026-11-01\n    owner: db-team\n    due: 2026-12-01\n    status: in-progress\n    ticket: OPS-1234\n  - id: R-2\n    check: \"step:promote\"\n    opened: 2026-11-01\n    due: 2026-12-01\n    status: accepted\n",
    )
    .expect("write");
    let (_, sc) = drill(file.to_str().expect("utf-8 path"), &dir.path().join("out"));
    stop.store(true, Ordering::SeqCst);
    assert!(ha.join().expect("ha thread"), "the HA manager promoted the standby");
    assert!(
        sc["measured"]["recovered"].as_bool().expect("bool"),
        "{}",
        sc["measured"]
    );
    let rto = sc["measured"]["rto_s"].as_f64().expect("rto");
    assert!(rto < 10.0, "rto {rto}");
    eprintln!("bound system: RTO {rto} s, lost {}", sc["measured"]["lost_writes"]);
    // The bound system itself was drilled: a real drill.
    assert_eq!(sc["drill_kind"], "real", "{}", sc["drilled"]);
    let steps = sc["steps"].as_array().expect("steps");
    // The HA manager may recover the service before the probes' alarm fires, in which case the
    // runbook never starts; either way drillbit's own promotion never runs.
    assert!(
        matches!(steps[0]["outcome"].as_str(), Some("ok" | "skipped")),
        "{steps:?}"
    );
    assert_eq!(
        steps[1]["outcome"], "skipped",
        "drillbit never promotes a bound system itself"
    );
    assert!(sc["measured"]["t_fault_s"].as_f64().is_some());
    let rows = common::ledger_rows(&dir.path().join("out"));
    assert_eq!(
        rows.len() as u64,
        sc["measured"]["acked_writes"].as_u64().expect("acked")
    );
    assert!(rows.len() > 300);
    // The retest: the RTO check passed, so R-1 is closed by this drill; the accepted risk and
    // the people's own key are left as they were.
    assert_eq!(sc["verdict"]["rto"], "met");
    let after = std::fs::read_to_string(&remediation).expect("remediation file");
    let r1 = after.split("- id: R-2").next().expect("R-1");
    assert!(
        r1.contains("status: closed") && r1.contains("ticket: \"OPS-1234\""),
        "{after}"
    );
    assert!(
        r1.contains(&format!("closed_in: \"{}\"", dir.path().join("out").display())),
        "{after}"
    );
    assert!(
        after.contains("status: accepted") && after.contains("owner: db-team"),
        "{after}"
    );
    assert_eq!(sc["remediation"]["closed"][0]["id"], "R-1", "{}", sc["remediation"]);
    let md = std::fs::read_to_string(dir.path().join("out/scorecard.md")).expect("md");
    assert!(md.contains("closed R-1 (rto): retest passed"), "{md}");
    drop(cluster);
    assert_clean(since);
}

#[test]
fn service_tasks_are_real_processes_the_dr_side_serves_only_once_scaled() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill("scenarios/local/pilot-light-services.yaml", &dir.path().join("scaled"));
    assert_eq!(code, 0, "{}", sc["measured"]);
    let steps = sc["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["outcome"] == "ok"), "{steps:?}");
    assert_clean(since);
    assert!(!task_processes(), "task processes left behind");

    // The same runbook without the scale step: the DR balancer has no task, nothing recovers.
    let text = std::fs::read_to_string(common::root().join("scenarios/local/pilot-light-services.yaml"))
        .expect("read")
        .replace(
            "    - { id: scale-api, action: ecs.update-service, resource: api, desired: 2, timeout: 30s }\n",
            "",
        )
        .replace("after: [promote-db, scale-api]", "after: [promote-db]")
        .replace("after: [flip-dns], timeout: 30s", "after: [flip-dns], timeout: 3s")
        .replace("horizon: 2m", "horizon: 8s");
    let file = dir.path().join("unscaled.yaml");
    std::fs::write(&file, text).expect("write");
    let (code, sc) = drill(file.to_str().expect("utf-8"), &dir.path().join("unscaled"));
    assert_eq!(code, 1);
    assert!(
        !sc["measured"]["recovered"].as_bool().expect("bool"),
        "{}",
        sc["measured"]
    );
    assert_clean(since);
    assert!(!task_processes(), "task processes left behind");
}

fn task_processes() -> bool {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("task\0--backend"))
            .unwrap_or(false)
    })
}

#[test]
fn failing_back_to_a_stale_primary_loses_the_failover_writes_and_fails_the_drill() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill_with(
        "scenarios/local/failback-stale-primary.yaml",
        dir.path(),
        &["--failback"],
    );
    assert_eq!(code, 1);
    assert_eq!(sc["verdict"]["rto"], "met");
    assert_eq!(sc["verdict"]["failback"], "failed");
    let fb = &sc["failback"];
    assert!(
        fb["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|s| s["outcome"] == "ok"),
        "{fb}"
    );
    let after = sc["measured"]["lost_after_recovery"].as_u64().expect("count");
    assert!(
        after > 100,
        "writes acknowledged by the promoted standby must be missing on the old primary: {after}"
    );
    assert_clean(since);
}

#[test]
fn a_full_failback_resyncs_the_old_primary_and_loses_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill_with("scenarios/local/failback.yaml", dir.path(), &["--failback"]);
    assert_eq!(
        code, 0,
        "verdict {}\nfindings {}\nmeasured {}\nfailback {}",
        sc["verdict"], sc["findings"], sc["measured"], sc["failback"]
    );
    assert_eq!(sc["verdict"]["failback"], "ok");
    let fb = &sc["failback"];
    let steps = fb["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    assert!(steps.iter().all(|s| s["outcome"] == "ok"), "{steps:?}");
    assert_eq!(sc["measured"]["lost_after_recovery"], 0);
    // Writes went on after the router pointed back at the rebuilt primary (while the last
    // verify step ran): the switch back did not leave the writer stranded.
    let rows = common::ledger_rows(dir.path());
    let t_fault = sc["measured"]["t_fault_s"].as_f64().expect("t_fault");
    let switched_back = steps
        .iter()
        .find(|s| s["id"] == "failback-dns")
        .and_then(|s| s["end_s"].as_f64())
        .expect("failback-dns step")
        + t_fault;
    let after = rows.iter().filter(|(_, t)| *t > switched_back).count();
    assert!(
        after > 0,
        "no write acknowledged after the switch back at {switched_back} s; last ack {:?}",
        rows.last()
    );
    eprintln!(
        "failback: {} s, {} failed probes",
        fb["duration_s"], fb["failed_probes"]
    );
    assert_clean(since);
}

/// Issue 6's goal: calibrated on 5 measured drills, the simulator's median RTO is within 15%
/// of the median of 5 further drills.
#[test]
fn calibrated_simulation_predicts_further_drills_within_15_percent() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let run = |seed: u64, out: &Path| {
        Command::cargo_bin("drillbit")
            .expect("binary")
            .current_dir(common::root())
            .args([
                "run",
                "scenarios/local/async-kill9.yaml",
                "--target",
                "local",
                "-q",
                "--seed",
                &seed.to_string(),
                "--out",
            ])
            .arg(out)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("runs");
    };
    for i in 0..5u64 {
        run(100 + i, &dir.path().join("train").join(i.to_string()));
        run(200 + i, &dir.path().join("test").join(i.to_string()));
    }
    let train = drillbit::scorecard::find(&[dir.path().join("train")])
        .and_then(|files| drillbit::scorecard::read_files(&files))
        .expect("train scorecards");
    assert_eq!(train.len(), 5);
    let cal = drillbit::calibrate::calibrate(&train);
    let names: Vec<&str> = cal.fits.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"promote") && names.contains(&"switch"), "{names:?}");
    let mut loaded = common::load("scenarios/local/async-kill9.yaml");
    for f in &cal.fits {
        loaded.scenario.models.insert(f.name.clone(), f.dist.clone());
    }
    let predicted = drillbit::targets::sim::montecarlo::simulate(&loaded, 20_000, 1, 2, &|_| {})
        .expect("simulate")
        .rto_s
        .p50;
    let test = drillbit::scorecard::find(&[dir.path().join("test")])
        .and_then(|files| drillbit::scorecard::read_files(&files))
        .expect("test scorecards");
    let mut measured: Vec<f64> = test.iter().filter_map(|c| c.measured.rto_s).collect();
    measured.sort_by(f64::total_cmp);
    assert_eq!(measured.len(), 5);
    let median = measured[2];
    let error = (predicted - median) / median;
    eprintln!(
        "predicted median RTO {predicted} s, measured {measured:?}, error {:+.1}%",
        error * 100.0
    );
    assert!(
        error.abs() <= 0.15,
        "predicted {predicted} s vs measured median {median} s"
    );
    assert_clean(since);
}

#[test]
fn a_fault_that_changes_nothing_makes_the_drill_inconclusive_not_a_pass() {
    use drillbit::targets::local::pg::SyncMode;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let cluster = common::postgres(SyncMode::Async);
    let dir = tempfile::tempdir().expect("tmp");
    // A bound database and a "fault" that does nothing at all: no probe fails, no host changes.
    let (code, sc) = drill_bound_single_probing(
        cluster.primary.port,
        dir.path(),
        "no-effect",
        r#"{ id: nothing, kind: db-primary-failure, resource: db, at: 1s, local: { command: "true" } }"#,
        "{ horizon: 1m, settle: 1s, effect_within: 3s }",
        "{ interval: 500ms, healthy_after: 3 }",
    );
    let out = dir.path().join("out");
    assert_eq!(
        code, 1,
        "an inconclusive drill is not a pass: {} {}",
        sc["faults"], sc["events"]
    );
    assert_eq!(sc["verdict"]["overall"], "inconclusive", "{}", sc["findings"]);
    assert_eq!(sc["verdict"]["effect"], "not_observed");
    assert!(sc["faults"][0]["effect_s"].is_null());
    assert!(
        sc["findings"].to_string().contains("showed no effect"),
        "{}",
        sc["findings"]
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    assert!(
        junit.contains("nothing was measured") && junit.contains("inconclusive drill"),
        "{junit}"
    );
    // A real drill (a bound system): its finding becomes a remediation item in the file beside
    // the scenario, with an owner to assign and a due date; the RTO it could not test opens
    // nothing.
    let items = std::fs::read_to_string(dir.path().join("no-effect.remediation.yaml")).expect("remediation file");
    assert!(
        items.contains("check: \"fault:nothing\"") && items.contains("owner: unassigned"),
        "{items}"
    );
    assert!(!items.contains("check: rto"), "{items}");
    assert_eq!(sc["remediation"]["opened"][0]["id"], "R-1", "{}", sc["remediation"]);
    let md = std::fs::read_to_string(out.join("scorecard.md")).expect("md");
    assert!(md.contains("opened R-1 (fault:nothing)"), "{md}");
    drop(cluster);
    assert_clean(since);
}

#[test]
fn a_failing_repair_command_ends_the_drill_with_exit_3_and_a_scorecard_of_what_was_measured() {
    use drillbit::targets::local::pg::SyncMode;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let cluster = common::postgres(SyncMode::Async);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill_bound_single(
        cluster.primary.port,
        dir.path(),
        "bad-repair",
        r#"{ id: flaky, kind: db-primary-failure, resource: db, at: 1s, duration: 1s, local: { command: "true", repair: "echo first line >&2; echo repair tool broke >&2; exit 7" } }"#,
        "{ horizon: 1m, settle: 1s }",
    );
    assert_eq!(code, 3);
    assert_eq!(sc["verdict"]["overall"], "error");
    let error = sc["error"].as_str().expect("error");
    assert!(
        error.contains("exit status 7") && error.contains("repair tool broke"),
        "the command's status and stderr tail: {error}"
    );
    // What was measured until then is there.
    assert!(
        sc["measured"]["acked_writes"].as_u64().expect("acked") > 50,
        "{}",
        sc["measured"]
    );
    assert!(sc["faults"][0]["injected_s"].as_f64().is_some());
    drop(cluster);
    assert_clean(since);
}

/// Live processes whose command line mentions `needle` (not zombies).
fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'));
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !zombie && cmd.contains(needle) {
            out.push((pid, cmd));
        }
    }
    out
}

/// A temp dir the PostgreSQL user can reach (drillbit runs the servers unprivileged as root).
fn shared_tmp() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    d
}

/// Starts a slow local drill with TMPDIR=`tmp` and waits until its servers run; returns the
/// child (the caller kills and waits for it) and the environment's root.
#[allow(clippy::zombie_processes)]
fn start_slow_drill(tmp: &Path, out: &Path) -> (std::process::Child, std::path::PathBuf) {
    let scenario = tmp.join("slow.yaml");
    let text = std::fs::read_to_string(common::root().join("scenarios/local/async-kill9.yaml"))
        .expect("read")
        .replace("at: 3s", "at: 60s");
    std::fs::write(&scenario, text).expect("write");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("drillbit"))
        .args(["run", "--target", "local", "-q", "--out"])
        .arg(out)
        .arg(&scenario)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let root = std::fs::read_dir(tmp)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("drillbit-pg-"))
            });
        if let Some(root) = root {
            // Both servers up: the standby's postmaster names its data dir.
            if processes_mentioning(&root.join("standby").to_string_lossy()).len() == 1 {
                return (child, root);
            }
        }
        assert!(Instant::now() < deadline, "the drill's servers did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_gone(root: &Path, within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let needle = root.to_string_lossy().to_string();
    while t0.elapsed() < within {
        if processes_mentioning(&needle).is_empty() && !root.exists() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn sigkill_of_drillbit_mid_drill_leaves_no_process_or_directory_behind() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = shared_tmp();
    let (mut child, root) = start_slow_drill(tmp.path(), &tmp.path().join("out"));
    let needle = root.to_string_lossy().to_string();
    let before = processes_mentioning(&needle).len();
    assert!(before >= 2, "two postmasters at least");
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let took = wait_gone(&root, Duration::from_secs(10));
    eprintln!("SIGKILL with {before} server processes: gone after {took:?}");
    assert!(
        took.is_some(),
        "left behind 10 s after SIGKILL: {:?}, root exists: {}",
        processes_mentioning(&needle),
        root.exists()
    );
}

#[test]
fn drillbit_clean_removes_a_drill_whose_guard_was_killed_too_and_nothing_of_a_live_one() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = shared_tmp();
    // A live drill in the same temp dir: `clean` must not touch it.
    let live = common::postgres(drillbit::targets::local::pg::SyncMode::Async);
    let (mut child, root) = start_slow_drill(tmp.path(), &tmp.path().join("out"));
    let guard = format!("guard --owner {}:", child.id());
    let guards = processes_mentioning(&guard);
    assert_eq!(guards.len(), 1, "one guard per drill: {guards:?}");
    unsafe {
        libc::kill(guards[0].0, libc::SIGKILL);
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    std::thread::sleep(Duration::from_millis(500));
    let needle = root.to_string_lossy().to_string();
    assert!(
        !processes_mentioning(&needle).is_empty() && root.exists(),
        "with its guard killed too, the drill's servers outlive it"
    );
    let out = Command::cargo_bin("drillbit")
        .expect("binary")
        .arg("clean")
        .env("TMPDIR", tmp.path())
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stdout);
    eprintln!("drillbit clean: {said}");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        said.contains("stale environment") && said.contains(&format!("removed {}", root.display())),
        "{said}"
    );
    assert!(
        wait_gone(&root, Duration::from_secs(5)).is_some(),
        "{:?}",
        processes_mentioning(&needle)
    );
    // The live cluster in the default temp dir is untouched, and a clean there leaves it too.
    let out = Command::cargo_bin("drillbit")
        .expect("binary")
        .arg("clean")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        live.root.exists() && live.primary.pid().is_some(),
        "a live drill's environment was touched"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains(&live.root.to_string_lossy().to_string()), "{said}");
}

#[test]
fn a_hanging_fault_command_is_stopped_at_its_timeout_and_interrupted_by_sigterm() {
    use drillbit::targets::local::pg::SyncMode;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = common::postgres(SyncMode::Async);
    let dir = tempfile::tempdir().expect("tmp");
    let marker = format!("drillbit-hang-{}", std::process::id());
    // Its own timeout: the drill ends with exit 3 saying so, and the command's whole group
    // (the shell and its sleep) is gone.
    let t0 = Instant::now();
    let (code, sc) = drill_bound_single(
        cluster.primary.port,
        dir.path(),
        "hang",
        &format!(
            r#"{{ id: hang, kind: db-primary-failure, resource: db, at: 1s, local: {{ command: "sleep 600 # {marker}", timeout: 2s }} }}"#
        ),
        "{ horizon: 1m, settle: 1s }",
    );
    eprintln!(
        "timed-out command: exit {code} after {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(code, 3);
    let error = sc["error"].as_str().expect("error");
    assert!(error.contains("timed out after 2s"), "{error}");
    assert!(
        processes_mentioning(&marker).is_empty(),
        "{:?}",
        processes_mentioning(&marker)
    );

    // SIGTERM while the command runs (default timeout 60 s): exit 4 within seconds.
    let scenario = dir.path().join("hang-long.yaml");
    let text = std::fs::read_to_string(dir.path().join("hang.yaml"))
        .expect("read")
        .replace(", timeout: 2s", "");
    std::fs::write(&scenario, text).expect("write");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("drillbit"))
        .args(["run", "--target", "local", "-q", "--out"])
        .arg(dir.path().join("out2"))
        .arg(&scenario)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_mentioning(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the fault command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, took) = signal_and_wait(&mut child, libc::SIGTERM, Duration::from_secs(15));
    eprintln!(
        "SIGTERM during the command: exit {:?} after {:.2} s",
        status.code(),
        took.as_secs_f64()
    );
    assert_eq!(status.code(), Some(4));
    assert!(
        processes_mentioning(&marker).is_empty(),
        "{:?}",
        processes_mentioning(&marker)
    );
    drop(cluster);
}

#[test]
fn a_fault_command_that_leaves_a_daemon_behind_does_not_hang_the_drill() {
    use drillbit::targets::local::pg::SyncMode;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = common::postgres(SyncMode::Async);
    let dir = tempfile::tempdir().expect("tmp");
    // A sleep of 29.<pid> seconds: its command line is the marker.
    let marker = format!("sleep 29.{}", std::process::id());
    // The background sleep inherits the command's stderr and holds it open for 29 s.
    let t0 = Instant::now();
    let (code, sc) = drill_bound_single(
        cluster.primary.port,
        dir.path(),
        "daemon",
        &format!(r#"{{ id: d, kind: db-primary-failure, resource: db, at: 1s, local: {{ command: "{marker} &" }} }}"#),
        "{ horizon: 1m, settle: 1s, effect_within: 2s }",
    );
    let took = t0.elapsed();
    for (pid, _) in processes_mentioning(&marker) {
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    eprintln!(
        "a drill whose fault command left a daemon: exit {code} after {:.1} s",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(25), "the drill waited for the daemon");
    // The verdict is not this test's point (a probe slowed by a busy machine counts as an
    // effect): the drill ran and judged, without waiting for the daemon.
    assert!(matches!(code, 0 | 1), "exit {code}: {}", sc["error"]);
    assert!(sc["faults"][0]["injected_s"].as_f64().is_some(), "{}", sc["faults"]);
    drop(cluster);
}

/// The time of the first event whose text starts with `prefix`.
fn event_at(sc: &Value, prefix: &str) -> f64 {
    sc["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["event"].as_str().is_some_and(|t| t.starts_with(prefix)))
        .and_then(|e| e["t_s"].as_f64())
        .unwrap_or_else(|| panic!("no event {prefix:?} in {}", sc["events"]))
}

/// The scorecard's step `id`.
fn step(sc: &Value, id: &str) -> Value {
    sc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {}", sc["steps"]))
        .clone()
}

fn notes(sc: &Value) -> Vec<String> {
    sc["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// The seed's backup and restore on real PostgreSQL: the base backup taken before the drill is
/// copied to the DR vault and checked; after the region outage the runbook restores that copy
/// into a new instance and the service comes back on it. Every write acknowledged before the
/// outage came after the recovery point, so exactly those are lost (counted from the ledger
/// file, not from drillbit's own arithmetic), and the restore says its size and throughput.
#[test]
fn a_restore_from_the_dr_vault_loses_exactly_what_came_after_the_recovery_point() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let text = std::fs::read_to_string(common::root().join("scenarios/local/backup-restore.yaml")).expect("scenario");
    // A shorter run than the shipped one: the outage at 6 s.
    let file = dir.path().join("br.yaml");
    std::fs::write(&file, text.replace("at: 24s", "at: 6s")).expect("write");
    let out = dir.path().join("out");
    let (code, sc) = drill(file.to_str().expect("utf-8"), &out);
    let n = notes(&sc);
    assert_eq!(code, 0, "{}\n{n:#?}", sc["findings"]);
    let steps = sc["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["outcome"] == "ok"), "{steps:?}");
    let t_fault = sc["measured"]["t_fault_s"].as_f64().expect("t_fault");
    let rows = common::ledger_rows(&out);
    let before = rows.iter().filter(|(_, t)| *t < t_fault).count() as u64;
    let lost = sc["measured"]["lost_writes"].as_u64().expect("lost");
    assert!(before > 500, "only {before} writes before the outage");
    assert_eq!(
        lost, before,
        "lost writes against the ledger's writes before the outage"
    );
    let rpo = sc["measured"]["rpo_s"].as_f64().expect("rpo");
    assert!(
        rpo > t_fault - 1.0 && rpo <= t_fault + 0.1,
        "rpo {rpo} against the outage at {t_fault}"
    );
    let copy = n
        .iter()
        .find(|t| t.contains("copy job of rp-0 to vault dr-vault"))
        .expect("copy note");
    assert!(copy.contains("pg_verifybackup"), "{copy}");
    let restore = n
        .iter()
        .find(|t| t.starts_with("restore: backup.restore restored recovery point rp-0 from vault dr-vault"))
        .unwrap_or_else(|| panic!("no restore note in {n:#?}"));
    assert!(restore.contains("MiB/s"), "{restore}");
    assert!(n.iter().any(|t| t.starts_with("data: generated 0.050 GiB")), "{n:#?}");
    assert_clean(since);
}

/// A bad write recovered by a point-in-time restore to just before it: the rows it deleted are
/// back, what was acknowledged after it on the damaged instance (until it was set read-only) is
/// lost, and nothing else.
#[test]
fn a_bad_write_is_undone_by_a_point_in_time_restore_to_just_before_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill("scenarios/local/monthly-restore-verification.yaml", dir.path());
    let n = notes(&sc);
    assert_eq!(code, 0, "{}\n{n:#?}", sc["findings"]);
    let deleted: u64 = sc["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .find_map(|t| t.split("): ").nth(1)?.split(' ').next()?.parse().ok())
        .expect("the bad write's effect names the rows it deleted");
    assert!(deleted > 300, "{deleted} rows deleted");
    let t_fault = sc["measured"]["t_fault_s"].as_f64().expect("t_fault");
    let fenced = event_at(&sc, "host primary is read-only");
    let rows = common::ledger_rows(dir.path());
    let between = rows.iter().filter(|(_, t)| *t > t_fault && *t < fenced).count() as i64;
    let lost = sc["measured"]["lost_writes"].as_i64().expect("lost");
    // The ledger's clock and the events' differ by the writer's few milliseconds.
    assert!(
        (lost - between).abs() <= 3 && lost > 0,
        "lost {lost}, acknowledged between the bad write and the fence {between}"
    );
    let acked = sc["measured"]["acked_writes"].as_i64().expect("acked");
    assert!(
        n.iter().any(|t| t.starts_with(&format!(
            "read-back from restored (writer): holds {} of {acked}",
            acked - lost
        ))),
        "{n:#?}"
    );
    assert!(n.iter().any(|t| t.contains("to just before transaction")), "{n:#?}");

    // The restore's size and time are in the scorecard, and calibration turns them into the
    // size-scaled model: a database ten times the size restores about ten times as long.
    let r = &sc["restores"][0];
    assert_eq!(r["step"], "restore-pitr", "{}", sc["restores"]);
    let (mib, secs) = (r["mib"].as_f64().expect("mib"), r["seconds"].as_f64().expect("seconds"));
    assert!(mib > 40.0 && secs > 0.0, "{r}");
    let cards = drillbit::scorecard::find(&[dir.path().to_path_buf()])
        .and_then(|files| drillbit::scorecard::read_files(&files))
        .expect("scorecard");
    let cal = drillbit::calibrate::calibrate(&cards);
    let per_gib = cal
        .fits
        .iter()
        .find(|f| f.name == "restore.seconds-per-gib")
        .unwrap_or_else(|| panic!("no size-scaled fit in {:?}", cal.fits));
    assert!((per_gib.samples[0] - secs / (mib / 1024.0)).abs() < 1e-6, "{per_gib:?}");
    assert!(
        !cal.fits.iter().any(|f| f.name == "restore-pitr"),
        "fitted by id too: {:?}",
        cal.fits
    );
    assert!(drillbit::calibrate::render(&cal).contains("restore-pitr: not fitted by id"));
    let restore_time = |gib: f64| {
        let text = std::fs::read_to_string(common::root().join("scenarios/local/monthly-restore-verification.yaml"))
            .expect("scenario")
            .replace("storage_gib: 1 }", &format!("storage_gib: {gib} }}"))
            .replace("drill: { horizon: 5m }", "drill: { horizon: 24h }")
            .replace("timeout: 5m", "timeout: 12h");
        let mut l = common::load_text("m.yaml", &text);
        l.scenario.models.insert(per_gib.name.clone(), per_gib.dist.clone());
        l.scenario.models.insert(
            "rds.restore-point-in-time".into(),
            drillbit::scenario::Dist::Fixed(drillbit::scenario::duration::Dur::from_secs_f64(60.0)),
        );
        let sc = drillbit::targets::sim::simulate_once(&l, 7).expect("sim");
        let st = sc.steps.iter().find(|s| s.id == "restore-pitr").expect("step");
        st.end_s.expect("end") - st.start_s.expect("start") - 60.0
    };
    let (small, large) = (restore_time(10.0), restore_time(100.0));
    let expected = 10.0 * secs / (mib / 1024.0);
    assert!(
        (small - expected).abs() < 0.01 * expected + 0.01,
        "10 GiB: {small} s, expected {expected} s"
    );
    assert!(
        (large / small - 10.0).abs() < 0.01,
        "10 GiB {small} s, 100 GiB {large} s"
    );
    assert_clean(since);
}

/// A restore that needs the vault of the region that is down cannot run: the drill says so and
/// fails, as it would on AWS with no copy in the DR region.
#[test]
fn a_restore_from_a_vault_in_the_failed_region_fails_the_drill() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let text = std::fs::read_to_string(common::root().join("scenarios/local/backup-restore.yaml")).expect("scenario");
    let text = text
        .replace(
            "      copy_to: { vault: dr-vault, region: us-west-2, retention: 35d }\n",
            "",
        )
        .replace("at: 24s", "at: 3s")
        .replace("timeout: 1m }", "timeout: 5s }")
        .replace("targets: { rto: 60s, rpo: 30s }", "targets: { rto: 10s, rpo: 10s }")
        .replace("drill: { horizon: 5m }", "drill: { horizon: 15s }");
    assert!(!text.contains("copy_to"));
    let file = dir.path().join("no-copy.yaml");
    std::fs::write(&file, text).expect("write");
    let (code, sc) = drill(file.to_str().expect("utf-8"), &dir.path().join("out"));
    assert_eq!(code, 1, "{}", sc["findings"]);
    let restore = step(&sc, "restore-db");
    assert_eq!(restore["outcome"], "failed", "{restore}");
    assert!(
        restore["detail"]
            .as_str()
            .is_some_and(|d| d.contains("vault production-vault is in us-east-1, which is down")),
        "{restore}"
    );
    assert_clean(since);
}

/// The seed's own backup-restore scenario on local, its clocks shortened (outage at 5 s, a 1 s
/// trigger, a 1 s health check) and nothing else changed: every step runs, `iac.deploy` creates
/// the DR service the next step scales. Before that step, scaling the service that does not
/// exist yet fails, as UpdateService does.
#[test]
fn the_seeds_backup_restore_runs_on_local_with_every_step_ok() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = std::fs::read_to_string(common::root().join("scenarios/backup-restore.yaml")).expect("seed");
    for (from, to) in [
        ("at: 10m", "at: 5s"),
        ("after_detection: 15m", "after_detection: 1s"),
        (
            "interval: 30s, failure_threshold: 3",
            "interval: 1s, failure_threshold: 3",
        ),
        (
            "probe: { interval: 10s, healthy_after: 3 }",
            "probe: { interval: 500ms, healthy_after: 3 }",
        ),
    ] {
        assert!(text.contains(from), "the seed scenario changed: no {from:?}");
        text = text.replace(from, to);
    }
    let file = dir.path().join("seed.yaml");
    std::fs::write(&file, &text).expect("write");
    let (code, sc) = drill(file.to_str().expect("utf-8"), &dir.path().join("out"));
    assert_eq!(code, 0, "{}\n{:#?}", sc["findings"], notes(&sc));
    let steps = sc["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["outcome"] == "ok"), "{steps:?}");
    assert!(
        sc["measured"]["lost_writes"].as_u64().expect("lost") > 0,
        "a restore from yesterday's backup loses writes"
    );

    // The stack deployed late, and the scaling step not waiting for it (nor retrying).
    let deploy = "      action: iac.deploy\n      resource: api\n      after: [declare-disaster]\n";
    assert!(text.contains(deploy), "the seed scenario's deploy step changed");
    let undeployed = text
        .replace(
            deploy,
            "      action: iac.deploy\n      resource: api\n      after: [validate-data]\n",
        )
        .replace(
            "      after: [deploy-infra]\n      timeout: 30m\n      retries: 2\n",
            "      after: [declare-disaster]\n      timeout: 30m\n",
        )
        .replace("rto: 8h", "rto: 15s")
        .replace("rpo: 24h", "rpo: 15s")
        + "drill: { horizon: 20s }\n";
    assert!(
        !undeployed.contains("after: [deploy-infra]"),
        "the seed scenario's scaling step changed"
    );
    let file = dir.path().join("undeployed.yaml");
    std::fs::write(&file, &undeployed).expect("write");
    let (code, sc) = drill(file.to_str().expect("utf-8"), &dir.path().join("out2"));
    assert_eq!(code, 1, "{}", sc["findings"]);
    let start = step(&sc, "start-api");
    assert_eq!(start["outcome"], "failed", "{start}");
    assert!(
        start["detail"].as_str().is_some_and(|d| d.contains("never deployed")),
        "{start}"
    );
    assert_clean(since);
}

/// redis-server processes running in a drill's directory (their title hides their arguments).
fn redis_processes() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            (comm.trim().starts_with("redis-server") && cwd.to_string_lossy().contains("drillbit-pg-")).then_some(pid)
        })
        .collect()
}

/// The session store as real Redis: the region outage kills the Redis primary with the database;
/// the service (whose probes need a session) is back only once both failed over; the sessions
/// the replica lacked are counted from the session writer's own ledger. Without the session
/// failover step the service never comes back.
#[test]
fn the_session_store_fails_over_and_its_lost_sessions_are_counted() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill("scenarios/local/sessions.yaml", &dir.path().join("out"));
    let n = notes(&sc);
    assert_eq!(code, 0, "{}\n{n:#?}", sc["findings"]);
    let steps = sc["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["outcome"] == "ok"), "{steps:?}");
    let note = n
        .iter()
        .find(|t| t.starts_with("sessions (global datastore myapp-sessions as a Redis primary and replica): "))
        .unwrap_or_else(|| panic!("no sessions note in {n:#?}"));
    let nums: Vec<u64> = note
        .split(": ")
        .nth(1)
        .expect("counts")
        .split(' ')
        .filter_map(|w| w.parse().ok())
        .collect();
    let (lost, acked) = (nums[0], nums[1]);
    assert!(acked > 1000, "{note}");
    assert!(lost < acked / 10, "{note}");
    // The sessions' ledger is measured like the database's writes, in the scorecard itself.
    let ds = &sc["measured"]["datasets"][0];
    assert_eq!(ds["name"], "sessions `myapp-sessions`", "{}", sc["measured"]);
    assert_eq!(
        (ds["acked"].as_u64(), ds["lost"].as_u64()),
        (Some(acked), Some(lost)),
        "{ds}"
    );
    assert!(ds["rpo_s"].as_f64().is_some_and(|r| r <= 2.0), "{ds}");
    assert!(redis_processes().is_empty(), "left behind: {:?}", redis_processes());

    let text = std::fs::read_to_string(common::root().join("scenarios/local/sessions.yaml")).expect("scenario");
    let step = "    - { id: promote-sessions, action: elasticache.failover-global-datastore, resource: sessions, timeout: 30s }\n";
    assert!(text.contains(step));
    let without = text
        .replace(step, "")
        .replace("after: [promote-db, promote-sessions]", "after: [promote-db]")
        .replace("drill: { horizon: 2m }", "drill: { horizon: 15s }");
    let file = dir.path().join("no-sessions.yaml");
    std::fs::write(&file, without).expect("write");
    let (code, sc) = drill(file.to_str().expect("utf-8"), &dir.path().join("out2"));
    assert_eq!(code, 1, "{}", sc["findings"]);
    assert_eq!(sc["measured"]["recovered"], false, "{}", sc["measured"]);
    assert!(redis_processes().is_empty(), "left behind: {:?}", redis_processes());
    assert_clean(since);
}

/// The session store fails back: the primary region's Redis is started again as a replica of
/// the promoted one and a coordinated FAILOVER makes it the primary; the endpoint follows. The
/// planned switch loses no acknowledged session (nor write), and both servers are gone after.
#[test]
fn the_session_store_fails_back_without_losing_a_session() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let dir = tempfile::tempdir().expect("tmp");
    let (code, sc) = drill_with(
        "scenarios/local/sessions.yaml",
        &dir.path().join("out"),
        &["--failback"],
    );
    assert_eq!(code, 0, "{}\n{:#?}", sc["findings"], notes(&sc));
    assert_eq!(sc["verdict"]["failback"], "ok", "{}", sc["failback"]);
    let fb = &sc["failback"]["steps"];
    let back = fb
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "fail-back-sessions")
        .expect("fail-back-sessions");
    assert_eq!(back["outcome"], "ok", "{back}");
    let ds = &sc["measured"]["datasets"][0];
    assert!(ds["acked"].as_u64().is_some_and(|n| n > 1000), "{ds}");
    assert_eq!(ds["lost_after_recovery"], 0, "{ds}");
    assert_eq!(sc["measured"]["lost_after_recovery"], 0, "{}", sc["measured"]);
    assert!(redis_processes().is_empty(), "left behind: {:?}", redis_processes());
    assert_clean(since);
}
