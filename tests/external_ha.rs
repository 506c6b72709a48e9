//! The `local` target against HA managers drillbit did not build, installed from the package
//! registries by the harness (harness/install-ha.sh) and stood up by harness/ha/*.sh:
//! pg_auto_failover (a monitor and two keepers) and Patroni with etcd. Each drill is bound to
//! the stack by its libpq multi-host connection string, exactly as an application would reach
//! it. After each drill the test counts lost writes itself, with psql, over the ledger table of
//! the final writer, and compares with drillbit's figure.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

/// One stack at a time: both cores are needed to keep an HA manager's timings honest.
static SERIAL: Mutex<()> = Mutex::new(());

/// A running stack; `down` on drop, whatever the test did.
struct Stack {
    script: PathBuf,
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Stack {
    fn up(script: &str, base_port: u16) -> Stack {
        let script = common::root().join("harness/ha").join(script);
        let dir = tempfile::Builder::new().prefix("ha").tempdir_in("/tmp").expect("tmp");
        let out = Command::new(&script)
            .arg("up")
            .arg(dir.path())
            .arg(base_port.to_string())
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{} up failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Stack { script, dir, env }
    }

    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from {:?}", self.env))
    }

    /// The shell command that runs `sub` of the stack's script on node `node`.
    fn command(&self, sub: &str, node: u8) -> String {
        format!("{} {sub} {} {node}", self.script.display(), self.dir.path().display())
    }

    fn ports(&self) -> [String; 2] {
        [self.get("NODE1_PORT").to_string(), self.get("NODE2_PORT").to_string()]
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new(&self.script).arg("down").arg(self.dir.path()).status();
    }
}

fn psql() -> PathBuf {
    let found = drillbit::targets::local::pg::PgBinaries::find().expect("PostgreSQL binaries");
    found.bin_dir.join("psql")
}

/// One query on one port; None when the host does not answer.
fn sql(port: &str, query: &str) -> Option<String> {
    let out = Command::new(psql())
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-Atqc",
            query,
        ])
        .env("PGCONNECT_TIMEOUT", "3")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The one writable host, once the stack has converged (waits up to a minute).
fn final_writer(stack: &Stack) -> String {
    for _ in 0..120 {
        let writers: Vec<String> = stack
            .ports()
            .into_iter()
            .filter(|p| sql(p, "SELECT pg_is_in_recovery()").as_deref() == Some("f"))
            .collect();
        if let [one] = writers.as_slice() {
            return one.clone();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the stack did not converge to one writer");
}

/// The test's own count: acknowledged writes (drillbit's ledger.csv) missing from the final
/// writer's ledger table, read with psql after the stack converged.
fn independent_lost(stack: &Stack, out: &Path) -> (usize, usize) {
    let acked = common::ledger_rows(out);
    let writer = final_writer(stack);
    let rows = sql(&writer, "SELECT seq FROM drill_ledger").expect("ledger table");
    let held: HashSet<i64> = rows.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let lost = acked.iter().filter(|(seq, _)| !held.contains(seq)).count();
    (acked.len(), lost)
}

fn drill(scenario: &str, out: &Path) -> (i32, Value) {
    let file = out.with_extension("yaml");
    std::fs::write(&file, scenario).expect("scenario");
    let (code, sc, stdout) = common::local_drill(file.to_str().expect("utf-8"), out, &[], Duration::from_secs(180));
    eprintln!("{stdout}");
    (code, sc)
}

fn scenario(conninfo: &str, fault: &str, settle: &str) -> String {
    format!(
        r#"name: external-ha
strategy: warm-standby
targets: {{ rto: 30s, rpo: 1s }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - id: db
      kind: rds-instance
      instance: app-db
      bind: {{ connection: "{conninfo}" }}
workload:
  writes_per_second: 100
  probe: {{ interval: 200ms, healthy_after: 5, failure_threshold: 3 }}
faults:
  - {fault}
runbook:
  steps:
    - {{ id: wait-for-ha, action: probe-until-healthy, timeout: 1m }}
drill: {{ horizon: 2m, settle: {settle} }}
"#
    )
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn effect(sc: &Value) -> String {
    sc["faults"][0]["effect"].as_str().unwrap_or("none").to_string()
}

#[test]
fn pg_auto_failover_whole_node_kill_fails_over_and_the_lost_writes_match_an_independent_count() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::up("pgaf.sh", 25400);
    let out = stack.dir.path().join("drill");
    let fault = format!(
        "{{ id: node-dies, kind: db-primary-failure, resource: db, at: 3s, duration: 10s, local: {{ command: \"{}\", repair: \"{}\" }} }}",
        stack.command("kill-node", 1),
        stack.command("restart-node", 1),
    );
    let (code, sc) = drill(&scenario(stack.get("CONNINFO"), &fault, "10s"), &out);
    let m = &sc["measured"];
    assert!(m["recovered"].as_bool().expect("bool"), "{m}");
    assert_eq!(sc["verdict"]["effect"], "observed", "{}", sc["findings"]);
    // The monitor needs a few seconds to declare the node unhealthy and promote.
    let rto = f64_of(&m["rto_s"]);
    assert!(rto > 1.0 && rto < 30.0, "rto {rto}");
    assert!(m["settled"].as_bool().expect("bool"), "{}", sc["findings"]);
    assert_eq!(sc["verdict"]["split_brain"], "none", "{}", sc["findings"]);
    let (acked, lost) = independent_lost(&stack, &out);
    assert_eq!(m["acked_writes"].as_u64(), Some(acked as u64));
    assert_eq!(m["lost_writes"].as_u64(), Some(lost as u64), "drillbit against psql");
    assert_eq!(code, if sc["verdict"]["overall"] == "pass" { 0 } else { 1 });
    eprintln!(
        "pg_auto_failover node kill: RTO {rto:.2} s, effect: {}, drillbit lost {} of {acked}, psql count {lost}",
        effect(&sc),
        m["lost_writes"]
    );
}

#[test]
fn pg_auto_failover_postmaster_kill_is_measured_whether_the_keeper_restarts_it_or_the_monitor_fails_over() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::up("pgaf.sh", 25410);
    let out = stack.dir.path().join("drill");
    let fault = format!(
        "{{ id: postmaster-dies, kind: db-primary-failure, resource: db, at: 3s, local: {{ pidfile: \"{}\", signal: kill }} }}",
        stack.get("NODE1_POSTMASTER_PIDFILE")
    );
    let (_, sc) = drill(&scenario(stack.get("CONNINFO"), &fault, "8s"), &out);
    let m = &sc["measured"];
    assert!(m["recovered"].as_bool().expect("bool"), "{m}");
    // The kill itself is seen: the postmaster's pid is gone.
    assert!(
        effect(&sc).contains("exited") || effect(&sc).contains("probe"),
        "{}",
        effect(&sc)
    );
    let (acked, lost) = independent_lost(&stack, &out);
    assert_eq!(m["acked_writes"].as_u64(), Some(acked as u64));
    assert_eq!(m["lost_writes"].as_u64(), Some(lost as u64), "drillbit against psql");
    eprintln!(
        "pg_auto_failover postmaster kill: RTO {:.2} s, drillbit lost {} of {acked}, psql count {lost}, verdict {}",
        f64_of(&m["rto_s"]),
        m["lost_writes"],
        sc["verdict"]["overall"]
    );
}

#[test]
fn patroni_agent_kill_is_a_split_brain_that_fails_the_drill_with_the_discarded_writes_lost() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::up("patroni.sh", 25500);
    let out = stack.dir.path().join("drill");
    // Only the leader's agent dies: its PostgreSQL stays up and writable while the replica
    // promotes once the leader key's TTL ran out; 12 s later the agent is back, demotes the
    // old primary and rewinds it, discarding what it took meanwhile.
    let fault = format!(
        "{{ id: agent-dies, kind: db-primary-failure, resource: db, at: 3s, duration: 12s, local: {{ command: \"kill -9 $(head -n1 {})\", repair: \"{}\" }} }}",
        stack.get("NODE1_PATRONI_PIDFILE"),
        stack.command("restart-agent", 1),
    );
    let (code, sc) = drill(&scenario(stack.get("CONNINFO"), &fault, "15s"), &out);
    let m = &sc["measured"];
    assert_eq!(code, 1, "{}", sc["findings"]);
    assert_eq!(sc["verdict"]["overall"], "fail");
    assert_eq!(sc["verdict"]["split_brain"], "observed", "{}", sc["findings"]);
    let spans = sc["split_brain"].as_array().expect("spans");
    let span = &spans[0];
    let (start, end) = (f64_of(&span["start_s"]), f64_of(&span["end_s"]));
    assert!(end - start > 2.0, "split brain {start}..{end}");
    // The late promotion happened after clients had been served again: the settle window saw
    // it (the first drill ending at the first good probes did not).
    let recovered_at = f64_of(&m["t_recovered_s"]);
    let t_fault = f64_of(&m["t_fault_s"]);
    assert!(
        start > t_fault + 1.0,
        "promotion after the lease ran out: {start} vs fault {t_fault}"
    );
    assert!(
        start >= recovered_at || m["outages"].as_array().is_some_and(|o| o.len() > 1),
        "{m}"
    );
    assert_eq!(sc["verdict"]["effect"], "observed", "{}", sc["findings"]);
    let (acked, lost) = independent_lost(&stack, &out);
    assert!(lost > 0, "the rewind discarded the old primary's writes");
    assert_eq!(m["acked_writes"].as_u64(), Some(acked as u64));
    assert_eq!(m["lost_writes"].as_u64(), Some(lost as u64), "drillbit against psql");
    let rpo = f64_of(&m["rpo_s"]);
    assert!(
        rpo > 1.0,
        "writes lost over the split brain give an RPO of its length: {rpo}"
    );
    assert_eq!(sc["verdict"]["rpo"], "missed");
    eprintln!(
        "patroni split brain: {:.1} s ({start:.1}..{end:.1}), drillbit lost {} of {acked}, psql count {lost}, RPO {rpo:.2} s",
        end - start,
        m["lost_writes"]
    );
}
