//! The `aws` target, end to end against a real moto server standing in for an AWS account:
//! the safety checks (allow-list, caller identity, confirmation), the FIS experiment's life
//! (created, started, polled, stopped, template deleted), the runbook through the SDK, client
//! probes of an HTTP health URL, and canary writes read back from the DR copy.
//!
//! What no real component can reach here is what a real account does by itself: the service
//! going down when FIS acts on it, and DynamoDB replicating between regions. The test stands in
//! for those two, from moto's state: its health endpoint fails once the FIS experiment runs and
//! until the failover record points at the DR region, and a copier replicates the table's items
//! to the DR region until the fault hits.
#![cfg(feature = "aws")]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use aws_sdk_dynamodb::types::AttributeValue;
use drillbit::aws::actions::{Env, Names};
use drillbit::aws::{Clients, Connection};
use drillbit::emulator::moto::Moto;
use serde_json::Value;

const ACCOUNT: &str = "123456789012"; // moto's default account

fn scenario(probe_url: &str, accounts: &str) -> String {
    format!(
        r#"name: aws-live
description: A live pilot-light drill (moto stands in for the account).
strategy: pilot-light
targets: {{ rto: 1m, rpo: 30s }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - {{ id: db, kind: rds-instance, instance: shop-db }}
    - {{ id: db-replica, kind: rds-read-replica, instance: shop-db-dr, source: db }}
    - id: api
      kind: ecs-service
      primary: {{ cluster: prod, service: api, desired: 2 }}
      dr: {{ cluster: dr, service: api, desired: 0 }}
    - {{ id: orders, kind: dynamodb-global-table, table: orders, regions: [us-east-1, us-west-2] }}
    - id: dns
      kind: route53-record
      record: api.shop.example
      health_check: {{ interval: 10s, failure_threshold: 3 }}
      ttl: 1s
workload:
  writes_per_second: 20
  probe: {{ interval: 200ms, healthy_after: 3, failure_threshold: 3 }}
faults:
  - {{ id: db-down, kind: db-primary-failure, resource: db, at: 0s }}
runbook:
  steps:
    - {{ id: decide, action: manual, description: Declare the disaster, duration: {{ fixed: 2s }} }}
    - {{ id: promote, action: rds.promote-read-replica, resource: db-replica, after: [decide], timeout: 60s }}
    - {{ id: scale, action: ecs.update-service, resource: api, desired: 2, after: [decide], timeout: 60s }}
    - {{ id: flip, action: route53.failover-to-secondary, resource: dns, after: [promote, scale] }}
    - {{ id: verify, action: probe-until-healthy, after: [flip], timeout: 60s }}
  rollback:
    - {{ id: flip-back, action: route53.failover-to-primary, resource: dns }}
aws:
  accounts: [{accounts}]
  fis_role_arn: arn:aws:iam::{ACCOUNT}:role/drillbit-fis
  probe_url: {probe_url}
  canaries: [orders]
  canary_rate: 20
drill: {{ horizon: 2m }}
"#
    )
}

/// The account as a test sees it: moto with the scenario's topology provisioned in it.
struct Account {
    _moto: Moto,
    url: String,
    rt: tokio::runtime::Runtime,
    env: Env,
}

fn account(dir: &Path, text: &str) -> Account {
    drillbit::emulator::moto::ensure_installed(&mut |m| eprintln!("{m}")).expect("moto installs");
    let moto = Moto::start(Some(&dir.join("moto.log"))).expect("moto starts");
    let url = moto.url();
    let loaded = drillbit::scenario::load_str("aws-live.yaml", text).expect("valid scenario");
    let s = Arc::new(loaded.scenario);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let clients = rt.block_on(Clients::new(
        "us-east-1",
        "us-west-2",
        &Connection {
            endpoint_url: Some(url.clone()),
            test_credentials: true,
            profile: None,
        },
    ));
    let env = Env {
        scenario: s,
        clients,
        caps: Some(&drillbit::aws::MOTO),
        names: Arc::new(Mutex::new(Names::default())),
        poll: Duration::from_millis(100),
    };
    rt.block_on(drillbit::aws::provision::provision(&env))
        .expect("provisioned");
    Account {
        _moto: moto,
        url,
        rt,
        env,
    }
}

/// What the test's stand-in for the real world saw.
#[derive(Default)]
struct World {
    fault_seen: AtomicBool,
    dr_serving: AtomicBool,
    /// Canary sequence numbers copied to the DR table before the fault.
    copied: Mutex<BTreeSet<u64>>,
    stop: AtomicBool,
}

/// The service's health endpoint (fails while the fault is on and DNS still points at the
/// primary) and the DynamoDB replication (until the fault), both driven from moto's state.
fn world(acct: &Account) -> (Arc<World>, String) {
    let w = Arc::new(World::default());
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/health", l.local_addr().expect("addr"));
    let ws = w.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let ok = !ws.fault_seen.load(Ordering::SeqCst) || ws.dr_serving.load(Ordering::SeqCst);
            let status = if ok { "200 OK" } else { "503 Service Unavailable" };
            let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    let ww = w.clone();
    let env = acct.env.clone();
    let handle = acct.rt.handle().clone();
    std::thread::spawn(move || {
        while !ww.stop.load(Ordering::SeqCst) {
            handle.block_on(async {
                let exps = env.clients.primary.fis.list_experiments().send().await;
                let running = exps.map(|o| {
                    o.experiments().iter().any(|e| {
                        e.state()
                            .and_then(|s| s.status())
                            .is_some_and(|s| matches!(s.as_str(), "running" | "completed"))
                    })
                });
                if running.unwrap_or(false) {
                    ww.fault_seen.store(true, Ordering::SeqCst);
                }
                if let Ok(region) = drillbit::aws::observe::dns_answer(&env, "dns").await {
                    ww.dr_serving.store(region == "us-west-2", Ordering::SeqCst);
                }
                if !ww.fault_seen.load(Ordering::SeqCst) {
                    // Replication, until the fault: copy every item to the DR table.
                    if let Ok(out) = env.clients.primary.dynamodb.scan().table_name("orders").send().await {
                        for item in out.items() {
                            let seq = match item.get("drillbit_seq") {
                                Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
                                _ => None,
                            };
                            let put = env
                                .clients
                                .dr
                                .dynamodb
                                .put_item()
                                .table_name("orders")
                                .set_item(Some(item.clone()))
                                .send()
                                .await;
                            if let (Some(seq), Ok(_)) = (seq, put) {
                                ww.copied.lock().expect("lock").insert(seq);
                            }
                        }
                    }
                }
            });
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (w, url)
}

fn drillbit_aws(file: &Path, out: &Path, url: &str, extra: &[&str]) -> (i32, String) {
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .current_dir(common::root())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret-do-not-print")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .arg("run")
        .arg(file)
        .args(["--target", "aws", "--endpoint-url", url, "--out"])
        .arg(out)
        .args(extra)
        .timeout(Duration::from_secs(180))
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

#[test]
fn a_live_drill_injects_through_fis_fails_over_and_measures_lost_canaries() {
    let dir = tempfile::tempdir().expect("tmp");
    // The probe URL is known only once the world runs; provision with a placeholder first.
    let acct = account(
        dir.path(),
        &scenario("http://127.0.0.1:9/health", &format!("'{ACCOUNT}'")),
    );
    let (w, health) = world(&acct);
    let file = dir.path().join("aws-live.yaml");
    std::fs::write(&file, scenario(&health, &format!("'{ACCOUNT}'"))).expect("write");
    let out = dir.path().join("drill");
    let (code, text) = drillbit_aws(&file, &out, &acct.url, &["--yes"]);
    w.stop.store(true, Ordering::SeqCst);
    assert_eq!(code, 0, "{text}");
    assert!(
        !text.contains("testing-secret-do-not-print"),
        "a secret was printed: {text}"
    );
    let sc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scorecard.json")).expect("scorecard")).expect("json");
    assert_eq!(sc["target"], "aws");
    for st in sc["steps"].as_array().expect("steps") {
        assert_eq!(st["outcome"], "ok", "{st}");
    }
    // The outage was real for the client: probes failed, and recovery came after the flip.
    let m = &sc["measured"];
    assert!(m["recovered"].as_bool().expect("recovered"), "{m}");
    let rto = m["rto_s"].as_f64().expect("rto");
    let flip_end = sc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "flip")
        .and_then(|s| s["end_s"].as_f64())
        .expect("flip end");
    assert!(rto >= 2.0, "the manual step alone takes 2 s: {rto}");
    assert!(
        rto + 0.5 >= flip_end,
        "recovered ({rto} s) before the record was flipped ({flip_end} s)"
    );
    assert!(w.fault_seen.load(Ordering::SeqCst));
    // The experiment ran and drillbit cleaned its template up.
    let notes = sc["notes"].as_array().expect("notes");
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("FIS experiment") && n.contains("started"))),
        "{notes:?}"
    );
    let templates = acct
        .rt
        .block_on(acct.env.clients.primary.fis.list_experiment_templates().send())
        .expect("list templates");
    assert!(templates.experiment_templates().is_empty(), "template left behind");
    // The DR side is failed over in the account.
    let dr = acct
        .rt
        .block_on(drillbit::aws::observe::dns_answer(&acct.env, "dns"))
        .expect("dns answer");
    assert_eq!(dr, "us-west-2");
    // Data loss: exactly the acknowledged canaries that did not reach the DR copy before the
    // fault, as the ledger and the scorecard say.
    let copied = w.copied.lock().expect("lock").clone();
    let ledger = std::fs::read_to_string(out.join("ledger.csv")).expect("ledger.csv");
    let mut acked = 0u64;
    let mut lost = 0u64;
    for line in ledger.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let seq: u64 = f[0].parse().expect("seq");
        acked += 1;
        let survived = f[3] == "yes";
        assert_eq!(
            survived,
            copied.contains(&seq),
            "seq {seq}: ledger says survived={survived}"
        );
        lost += u64::from(!survived);
    }
    assert!(acked > 20, "too few canaries: {acked}");
    assert!(!copied.is_empty(), "nothing was replicated before the fault");
    assert!(lost > 0, "the writes after the fault were not lost: {ledger}");
    assert_eq!(m["acked_writes"].as_u64(), Some(acked), "{m}");
    assert_eq!(m["lost_writes"].as_u64(), Some(lost), "{m}");
    assert!(m["rpo_s"].as_f64().expect("rpo") >= 0.0, "{m}");
    eprintln!(
        "aws drill on moto: RTO {rto:.3} s, flip done at {flip_end:.3} s, {acked} canaries acknowledged, {lost} lost, RPO {} s; phases {}; notes {notes:?}",
        m["rpo_s"], sc["phases"]
    );
    // The canaries were deleted from the primary table afterwards.
    let left = acct
        .rt
        .block_on(acct.env.clients.primary.dynamodb.scan().table_name("orders").send())
        .expect("scan");
    assert_eq!(left.count(), 0, "canaries left in the primary table");
}

#[test]
fn an_account_outside_the_allow_list_is_refused_before_any_change() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = scenario("http://127.0.0.1:9/health", "'210987654321'");
    let acct = account(dir.path(), &text);
    let file = dir.path().join("aws-live.yaml");
    std::fs::write(&file, &text).expect("write");
    let (code, out) = drillbit_aws(&file, &dir.path().join("drill"), &acct.url, &["--yes"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("account 123456789012") && out.contains("does not allow"),
        "{out}"
    );
    let templates = acct
        .rt
        .block_on(acct.env.clients.primary.fis.list_experiment_templates().send())
        .expect("list");
    assert!(templates.experiment_templates().is_empty());
    let exps = acct
        .rt
        .block_on(acct.env.clients.primary.fis.list_experiments().send())
        .expect("list");
    assert!(exps.experiments().is_empty());
}

#[test]
fn without_a_terminal_a_live_drill_needs_yes_and_a_bad_scenario_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("aws-live.yaml");
    std::fs::write(&file, scenario("http://127.0.0.1:9/health", &format!("'{ACCOUNT}'"))).expect("write");
    // No endpoint is contacted: both refusals come before any call.
    let (code, out) = drillbit_aws(&file, &dir.path().join("a"), "http://127.0.0.1:9", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--yes"), "{out}");
    let text = std::fs::read_to_string(common::root().join("scenarios/pilot-light.yaml")).expect("read");
    let bare = dir.path().join("bare.yaml");
    std::fs::write(&bare, text).expect("write");
    let (code, out) = drillbit_aws(&bare, &dir.path().join("b"), "http://127.0.0.1:9", &["--yes"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("aws.accounts") && out.contains("aws.probe_url"), "{out}");
    // plan --target aws prints the live drill's calls and the FIS actions, and calls nothing.
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .args(["plan", "--target", "aws"])
        .arg(&file)
        .output()
        .expect("runs");
    let plan = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{plan}");
    assert!(plan.contains("sts:GetCallerIdentity"), "{plan}");
    assert!(plan.contains("aws:rds:reboot-db-instances"), "{plan}");
    assert!(plan.contains("rds:PromoteReadReplica"), "{plan}");
}
