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
use drillbit::targets::emulator::moto::Moto;
use drillbit::targets::live::actions::{Env, Names};
use drillbit::targets::live::{Clients, Connection};
use serde_json::Value;

const ACCOUNT: &str = "123456789012"; // moto's default account

/// The live scenario. `pg`: the canary database's (write, read-back) connections; `decide`:
/// how long the manual decision step takes.
fn scenario(probe_url: &str, accounts: &str, pg: Option<(&str, &str)>, decide: &str) -> String {
    let (db_bind, replica_bind, db_canary) = match pg {
        Some((w, r)) => (
            format!(", bind: {{ connection: \"{w}\" }}"),
            format!(", bind: {{ connection: \"{r}\" }}"),
            ", db",
        ),
        None => (String::new(), String::new(), ""),
    };
    format!(
        r#"name: aws-live
description: A live pilot-light drill (moto stands in for the account).
strategy: pilot-light
targets: {{ rto: 1m, rpo: 2m }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - {{ id: db, kind: rds-instance, instance: shop-db{db_bind} }}
    - {{ id: db-replica, kind: rds-read-replica, instance: shop-db-dr, source: db{replica_bind} }}
    - {{ id: assets, kind: s3-bucket, bucket: shop-assets, versioning: true, replication: {{ destination: shop-assets-dr }} }}
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
    - {{ id: decide, action: manual, description: Declare the disaster, duration: {{ fixed: {decide} }} }}
    - {{ id: promote, action: rds.promote-read-replica, resource: db-replica, after: [decide], timeout: 60s }}
    - {{ id: scale, action: ecs.update-service, resource: api, desired: 2, after: [decide], timeout: 60s }}
    - {{ id: flip, action: route53.failover-to-secondary, resource: dns, after: [promote, scale] }}
    - {{ id: verify, action: probe-until-healthy, after: [flip], timeout: 60s }}
  rollback:
    - {{ id: flip-back, action: route53.failover-to-primary, resource: dns }}
    - {{ id: scale-down-dr, action: ecs.update-service, resource: api, desired: 0, after: [flip-back] }}
aws:
  accounts: [{accounts}]
  fis_role_arn: arn:aws:iam::{ACCOUNT}:role/drillbit-fis
  probe_url: {probe_url}
  canaries: [orders, assets{db_canary}]
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
    drillbit::targets::emulator::moto::ensure_installed(&mut |m| eprintln!("{m}")).expect("moto installs");
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
        caps: Some(&drillbit::targets::live::MOTO),
        names: Arc::new(Mutex::new(Names::default())),
        poll: Duration::from_millis(100),
    };
    rt.block_on(drillbit::targets::live::provision::provision(&env))
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
    /// The FIS experiment is running or completed (its effect holds).
    fault_on: AtomicBool,
    /// The fault was seen at least once: replication stopped for good.
    fault_seen: AtomicBool,
    dr_serving: AtomicBool,
    /// Canary sequence numbers copied to the DR table or bucket before the fault.
    copied: Mutex<BTreeSet<u64>>,
    /// Stand in for a stop condition: stop the experiment as soon as it runs.
    stop_condition: AtomicBool,
    stop: AtomicBool,
}

/// The service's health endpoint (fails while the fault is on and DNS still points at the
/// primary) and the DynamoDB and S3 replication (until the fault), driven from moto's state.
fn world(acct: &Account) -> (Arc<World>, String) {
    let w = Arc::new(World::default());
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/health", l.local_addr().expect("addr"));
    let ws = w.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let ok = !ws.fault_on.load(Ordering::SeqCst) || ws.dr_serving.load(Ordering::SeqCst);
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
                let c = &env.clients;
                let exps = c.primary.fis.list_experiments().send().await;
                let mut on = false;
                for e in exps.iter().flat_map(|o| o.experiments()) {
                    let status = e.state().and_then(|s| s.status()).map(|s| s.as_str().to_string());
                    if matches!(status.as_deref(), Some("running" | "completed")) {
                        on = true;
                        ww.fault_seen.store(true, Ordering::SeqCst);
                        if status.as_deref() == Some("running") && ww.stop_condition.load(Ordering::SeqCst) {
                            let _ = c
                                .primary
                                .fis
                                .stop_experiment()
                                .id(e.id().unwrap_or_default())
                                .send()
                                .await;
                            on = false;
                        }
                    }
                }
                if on {
                    ww.fault_seen.store(true, Ordering::SeqCst);
                }
                // A stop condition ends the experiment, not the outage it caused.
                let stays = ww.stop_condition.load(Ordering::SeqCst) && ww.fault_seen.load(Ordering::SeqCst);
                ww.fault_on.store(on || stays, Ordering::SeqCst);
                if let Ok(region) = drillbit::targets::live::observe::dns_answer(&env, "dns").await {
                    ww.dr_serving.store(region == "us-west-2", Ordering::SeqCst);
                }
                if ww.fault_seen.load(Ordering::SeqCst) {
                    return;
                }
                // Replication, until the fault: every item and object to the DR copy.
                if let Ok(out) = c.primary.dynamodb.scan().table_name("orders").send().await {
                    for item in out.items() {
                        let seq = match item.get("drillbit_seq") {
                            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
                            _ => None,
                        };
                        let put =
                            c.dr.dynamodb
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
                if let Ok(out) = c.primary.s3.list_objects_v2().bucket("shop-assets").send().await {
                    for o in out.contents() {
                        let key = o.key().unwrap_or_default().to_string();
                        let Some(seq) = key.rsplit('/').next().and_then(|s| s.parse::<u64>().ok()) else {
                            continue;
                        };
                        if ww.copied.lock().expect("lock").contains(&seq) {
                            continue;
                        }
                        let Ok(obj) = c.primary.s3.get_object().bucket("shop-assets").key(&key).send().await else {
                            continue;
                        };
                        let body = obj.body.collect().await.map(|b| b.into_bytes()).unwrap_or_default();
                        let put =
                            c.dr.s3
                                .put_object()
                                .bucket("shop-assets-dr")
                                .key(&key)
                                .body(aws_sdk_s3::primitives::ByteStream::from(body))
                                .send()
                                .await;
                        if put.is_ok() {
                            ww.copied.lock().expect("lock").insert(seq);
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
    outcome(&o)
}

/// A PostgreSQL primary with a standby that has replayed every acknowledged commit
/// (`remote_apply`): the canary database and its DR copy, real servers.
fn postgres() -> drillbit::targets::local::pg::Cluster {
    let mut c = common::postgres(drillbit::targets::local::pg::SyncMode::RemoteApply);
    // Both servers speak TLS (the standby's base backup copies the files and settings), as
    // RDS does; the canary connects with sslmode=require.
    serve_tls(&c, &tls_files(&c.root.join("tls")));
    let port = c.primary.port;
    c.start_standby(port).expect("standby");
    c
}

/// A CA, a server certificate it signed for `localhost` only, and an unrelated CA, made with
/// the openssl command (PEM files in `dir`).
struct TlsFiles {
    ca: std::path::PathBuf,
    other_ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn tls_files(dir: &Path) -> TlsFiles {
    std::fs::create_dir_all(dir).expect("dir");
    let openssl = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (harness/install-postgres.sh installs it)");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    for ca in ["ca", "other-ca"] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=drillbit test {ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ]);
    }
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
    TlsFiles {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    }
}

/// Turns TLS on in the running primary: the certificate and key in its data directory (owned
/// by the server's user, the key private), `ssl = on`, a reload.
fn serve_tls(pg: &drillbit::targets::local::pg::Cluster, f: &TlsFiles) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let data = &pg.primary.data_dir;
    let owner = std::fs::metadata(data).expect("data dir");
    for (from, to) in [(&f.cert, "server.crt"), (&f.key, "server.key")] {
        let dest = data.join(to);
        std::fs::copy(from, &dest).expect("copy");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::os::unix::fs::chown(&dest, Some(owner.uid()), Some(owner.gid())).expect("chown");
    }
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .expect("conf");
    conf.write_all(b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        .expect("ssl on");
    pg.sql(&pg.primary, "SELECT pg_reload_conf()", Duration::from_secs(10))
        .expect("reload");
    // The postmaster reloads asynchronously; new sessions see TLS once it has.
    for _ in 0..100 {
        let on = pg
            .sql(&pg.primary, "SHOW ssl", Duration::from_secs(10))
            .expect("show ssl");
        if on.trim() == "on" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("ssl did not turn on");
}

fn scorecard(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("scorecard.json")).expect("scorecard")).expect("json")
}

#[test]
fn a_live_drill_injects_through_fis_fails_over_and_measures_lost_canaries() {
    let dir = tempfile::tempdir().expect("tmp");
    let acct = account(
        dir.path(),
        &scenario("http://127.0.0.1:9/health", &format!("'{ACCOUNT}'"), None, "2s"),
    );
    let pg = postgres();
    let (w, health) = world(&acct);
    let file = dir.path().join("aws-live.yaml");
    let (write, read) = (
        format!("{} sslmode=require", pg.primary.conninfo()),
        format!("{} sslmode=require", pg.standby.conninfo()),
    );
    let write_with = |path: &Path, pg: (&str, &str)| {
        std::fs::write(path, scenario(&health, &format!("'{ACCOUNT}'"), Some(pg), "2s")).expect("write")
    };
    write_with(&file, (&write, &read));
    // Ready before the game day: the canary database takes writes over TLS, its DR copy is a
    // replica; with the two swapped, the check says what is wrong with each.
    let (code, text) = check_aws(&file, &acct.url);
    assert_eq!(code, 0, "{text}");
    // A check of the production account leaves a sealed readiness record that counts as a
    // real health check.
    let record_dir = file.with_extension(format!("check-{}", std::process::id()));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record_dir.join("readiness.json")).expect("readiness record"))
            .expect("json");
    assert_eq!(
        (
            record["drill_kind"].as_str(),
            record["ready"].as_bool(),
            record["account"].as_str()
        ),
        (Some("real"), Some(true), Some(ACCOUNT)),
        "{record}"
    );
    assert!(record_dir.join("manifest.json").exists());
    assert!(
        text.contains("canary database accepts writes (sslmode=require)")
            && text.contains("DR copy of the canary database is a replica (sslmode=require)"),
        "{text}"
    );
    let swapped = dir.path().join("swapped.yaml");
    write_with(&swapped, (&read, &write));
    let (code, text) = check_aws(&swapped, &acct.url);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("DRIFT") && l.contains("a replica (in recovery), not the writer"))
            && text
                .lines()
                .any(|l| l.starts_with("DRIFT") && l.contains("a writer, not a replica")),
        "{text}"
    );
    let out = dir.path().join("drill");
    let (code, text) = drillbit_aws(&file, &out, &acct.url, &["--yes"]);
    w.stop.store(true, Ordering::SeqCst);
    assert_eq!(code, 0, "{text}");
    assert!(
        !text.contains("testing-secret-do-not-print"),
        "a secret was printed: {text}"
    );
    let sc = scorecard(&out);
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
    assert_eq!(templates(&acct), 0, "template left behind");
    // The DR side is failed over in the account.
    let dr = acct
        .rt
        .block_on(drillbit::targets::live::observe::dns_answer(&acct.env, "dns"))
        .expect("dns answer");
    assert_eq!(dr, "us-west-2");
    // Data loss: exactly the acknowledged canaries that did not reach the DR copy (DynamoDB
    // and S3: copied before the fault; PostgreSQL: replayed by the standby, so all of them), as
    // the ledger and the scorecard say.
    let copied = w.copied.lock().expect("lock").clone();
    let ledger = std::fs::read_to_string(out.join("ledger.csv")).expect("ledger.csv");
    let (mut acked, mut lost) = (0u64, 0u64);
    let mut per_store = std::collections::BTreeMap::<String, (u64, u64)>::new();
    // RPO from the ledger: from the last canary before the first lost one to the later of
    // t_fault and the last lost canary (canaries written to the failed stores after the fault
    // and never replicated are lost data too).
    let (mut last_good_before_loss, mut first_lost_seen, mut last_lost_ack) = (0.0f64, false, 0.0f64);
    for line in ledger.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let seq: u64 = f[0].parse().expect("seq");
        let survived = f[3] == "yes";
        let ack: f64 = f[2].parse().expect("ack_s");
        if survived && !first_lost_seen {
            last_good_before_loss = ack;
        }
        if !survived {
            first_lost_seen = true;
            last_lost_ack = last_lost_ack.max(ack);
        }
        let expected = f[1] == "db" || copied.contains(&seq);
        assert_eq!(
            survived, expected,
            "seq {seq} in {}: ledger says survived={survived}",
            f[1]
        );
        acked += 1;
        lost += u64::from(!survived);
        let e = per_store.entry(f[1].to_string()).or_default();
        e.0 += 1;
        e.1 += u64::from(!survived);
    }
    assert_eq!(per_store.len(), 3, "{per_store:?}");
    assert!(per_store.values().all(|(a, _)| *a > 5), "{per_store:?}");
    assert_eq!(
        per_store["db"].1, 0,
        "a remote_apply standby loses nothing: {per_store:?}"
    );
    assert!(per_store["orders"].1 > 0 && per_store["assets"].1 > 0, "{per_store:?}");
    assert!(!copied.is_empty(), "nothing was replicated before the fault");
    assert_eq!(m["acked_writes"].as_u64(), Some(acked), "{m}");
    assert_eq!(m["lost_writes"].as_u64(), Some(lost), "{m}");
    let t_fault = m["t_fault_s"].as_f64().expect("t_fault");
    let expected_rpo = last_lost_ack.max(t_fault) - last_good_before_loss;
    let rpo = m["rpo_s"].as_f64().expect("rpo");
    assert!(
        (rpo - expected_rpo).abs() < 0.01,
        "rpo {rpo} vs {expected_rpo} from the ledger: {m}"
    );
    assert!(rpo > 0.0, "{m}");
    eprintln!(
        "aws drill on moto: RTO {rto:.3} s, flip done at {flip_end:.3} s, canaries (acked, lost) per store {per_store:?}, RPO {} s; phases {}; notes {notes:?}",
        m["rpo_s"], sc["phases"]
    );
    // The canaries were deleted afterwards.
    let left = acct
        .rt
        .block_on(acct.env.clients.primary.dynamodb.scan().table_name("orders").send())
        .expect("scan");
    assert_eq!(left.count(), 0, "canaries left in the primary table");
    let objects = acct
        .rt
        .block_on(
            acct.env
                .clients
                .primary
                .s3
                .list_objects_v2()
                .bucket("shop-assets")
                .send(),
        )
        .expect("list");
    assert!(objects.contents().is_empty(), "canaries left in the primary bucket");
    let rows = acct.rt.block_on(async {
        let c = drillbit::targets::live::pgtls::connect(&write).await.expect("connect");
        c.query_one("SELECT count(*) FROM drillbit_canary", &[])
            .await
            .expect("count")
            .get::<_, i64>(0)
    });
    assert_eq!(rows, 0, "canary rows left in the database");
}

/// The account with the scenario provisioned, the world running, and the scenario file (its
/// probe URL the world's health endpoint, manual decision taking `decide`).
fn live(dir: &Path, decide: &str) -> (Account, Arc<World>, std::path::PathBuf) {
    let text = |url: &str| scenario(url, &format!("'{ACCOUNT}'"), None, decide);
    let acct = account(dir, &text("http://127.0.0.1:9/health"));
    let (w, health) = world(&acct);
    let file = dir.join("aws-live.yaml");
    std::fs::write(&file, text(&health)).expect("write");
    (acct, w, file)
}

/// Exit code and everything printed (stdout, then stderr).
fn outcome(o: &std::process::Output) -> (i32, String) {
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Starts a drill in the background; returns the child and its output directory.
fn spawn_drill(file: &Path, out: &Path, url: &str) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("drillbit"))
        .current_dir(common::root())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .arg("run")
        .arg(file)
        .args(["--target", "aws", "--yes", "--endpoint-url", url, "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn finish(child: std::process::Child) -> (i32, String) {
    outcome(&child.wait_with_output().expect("wait"))
}

/// How many FIS experiment templates the account holds.
fn templates(acct: &Account) -> usize {
    acct.rt
        .block_on(acct.env.clients.primary.fis.list_experiment_templates().send())
        .expect("list templates")
        .experiment_templates()
        .len()
}

fn experiment_statuses(acct: &Account) -> Vec<String> {
    acct.rt
        .block_on(acct.env.clients.primary.fis.list_experiments().send())
        .expect("list")
        .experiments()
        .iter()
        .filter_map(|e| e.state().and_then(|s| s.status()).map(|s| s.as_str().to_string()))
        .collect()
}

#[test]
fn ctrl_c_stops_the_experiment_runs_the_rollback_and_exits_4() {
    let dir = tempfile::tempdir().expect("tmp");
    let (acct, w, file) = live(dir.path(), "60s");
    // The DR service runs 3 tasks before the drill: the rollback scales it to 0.
    let dr_desired = || {
        acct.rt
            .block_on(
                acct.env
                    .clients
                    .dr
                    .ecs
                    .describe_services()
                    .cluster("dr")
                    .services("api")
                    .send(),
            )
            .expect("describe")
            .services()
            .first()
            .map(|s| s.desired_count())
            .expect("service")
    };
    acct.rt
        .block_on(
            acct.env
                .clients
                .dr
                .ecs
                .update_service()
                .cluster("dr")
                .service("api")
                .desired_count(3)
                .send(),
        )
        .expect("scale");
    assert_eq!(dr_desired(), 3);
    let child = spawn_drill(&file, &dir.path().join("drill"), &acct.url);
    // SIGINT while the fault is on (the experiment running) and the 60 s decision step waits.
    let t = std::time::Instant::now();
    while !w.fault_on.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let (code, out) = finish(child);
    w.stop.store(true, Ordering::SeqCst);
    aborted_with_rollback(code, &out, "interrupted", t.elapsed(), Duration::from_secs(30));
    // The experiment was stopped, or had already completed; its template is gone.
    let statuses = experiment_statuses(&acct);
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(
        matches!(statuses[0].as_str(), "stopping" | "stopped" | "completed"),
        "{statuses:?}"
    );
    assert_eq!(templates(&acct), 0, "template left behind");
    assert_eq!(dr_desired(), 0, "the rollback did not scale the DR service down");
    assert!(
        !dir.path().join("drill/scorecard.json").exists(),
        "an aborted drill wrote a scorecard"
    );
}

/// An aborted live drill: exit 4, the reason `why` said, both rollback steps run, and all of
/// it within `limit`.
fn aborted_with_rollback(code: i32, out: &str, why: &str, took: Duration, limit: Duration) {
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains(why) && out.contains("rollback steps run: flip-back ok, scale-down-dr ok"),
        "{out}"
    );
    assert!(took < limit, "the abort took {took:?}");
}

#[test]
fn an_experiment_stopped_by_a_stop_condition_aborts_the_drill_and_runs_the_rollback() {
    let dir = tempfile::tempdir().expect("tmp");
    let (acct, w, file) = live(dir.path(), "60s");
    w.stop_condition.store(true, Ordering::SeqCst);
    let t = std::time::Instant::now();
    let child = spawn_drill(&file, &dir.path().join("drill"), &acct.url);
    let (code, out) = finish(child);
    w.stop.store(true, Ordering::SeqCst);
    aborted_with_rollback(code, &out, "stop condition", t.elapsed(), Duration::from_secs(40));
    assert_eq!(experiment_statuses(&acct), vec!["stopped".to_string()]);
}

#[test]
fn an_account_outside_the_allow_list_is_refused_before_any_change() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = scenario("http://127.0.0.1:9/health", "'210987654321'", None, "2s");
    let acct = account(dir.path(), &text);
    let file = dir.path().join("aws-live.yaml");
    std::fs::write(&file, &text).expect("write");
    let (code, out) = drillbit_aws(&file, &dir.path().join("drill"), &acct.url, &["--yes"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("account 123456789012") && out.contains("does not allow"),
        "{out}"
    );
    assert_eq!(templates(&acct), 0, "template left behind");
    assert!(experiment_statuses(&acct).is_empty());
}

#[test]
fn without_a_terminal_a_live_drill_needs_yes_and_a_bad_scenario_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("aws-live.yaml");
    std::fs::write(
        &file,
        scenario("http://127.0.0.1:9/health", &format!("'{ACCOUNT}'"), None, "2s"),
    )
    .expect("write");
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

#[test]
fn check_reads_a_live_account_and_names_the_drift() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = scenario("http://127.0.0.1:9/health", &format!("'{ACCOUNT}'"), None, "2s");
    let acct = account(dir.path(), &text);
    let file = dir.path().join("aws-live.yaml");
    std::fs::write(&file, &text).expect("write");
    let check = || check_aws(&file, &acct.url);
    let (code, out) = check();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("checking account 123456789012") && out.contains("0 drift"),
        "{out}"
    );
    // The DR service is deleted behind the scenario's back: the check names it.
    acct.rt
        .block_on(
            acct.env
                .clients
                .dr
                .ecs
                .delete_service()
                .cluster("dr")
                .service("api")
                .force(true)
                .send(),
        )
        .expect("delete");
    let (code, out) = check();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("DRIFT") && l.contains("api")),
        "{out}"
    );
    // A failover never failed back: the primary record set answers with the DR endpoint.
    // The check names it, and a live drill refuses to start from there.
    let flipped =
        drillbit::targets::live::actions::record_set(&acct.env, "dns", "us-west-2", "us-east-1").expect("set");
    acct.rt
        .block_on(drillbit::targets::live::actions::upsert(
            &acct.env,
            "dns",
            vec![flipped],
        ))
        .expect("upsert");
    let (code, out) = check();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("DRIFT") && l.contains("api.shop.example") && l.contains("still failed over")),
        "{out}"
    );
    let o = spawn_drill(&file, &dir.path().join("drill"), &acct.url)
        .wait_with_output()
        .expect("runs");
    let (code, out) = outcome(&o);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("the drill cannot start") && out.contains("fail back first"),
        "{out}"
    );
    // Nothing was created or started by the check or the refused drill.
    assert!(experiment_statuses(&acct).is_empty());
    assert_eq!(templates(&acct), 0);
}

/// `drillbit check --target aws` of `file` against the account at `url`, leaving its readiness
/// record in a directory beside the file.
fn check_aws(file: &Path, url: &str) -> (i32, String) {
    let out = file.with_extension(format!("check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .args(["check", "--target", "aws", "--endpoint-url", url, "--out"])
        .arg(&out)
        .arg(file)
        .output()
        .expect("runs");
    outcome(&o)
}

/// Runs a live drill on a terminal, typing `input` at the confirmation prompt.
fn on_terminal(file: &Path, out: &Path, url: &str, input: &[u8]) -> (i32, String) {
    let args = format!(
        "run {} --target aws --auto-approve --endpoint-url {url} --out {}",
        file.display(),
        out.display()
    );
    let env = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")];
    common::on_terminal(
        &args,
        &env,
        "to run it, anything else to cancel:",
        Duration::ZERO,
        input,
    )
}

#[test]
fn on_a_terminal_the_operator_confirms_by_typing_the_account_id() {
    let dir = tempfile::tempdir().expect("tmp");
    let (acct, w, file) = live(dir.path(), "1s");
    // Something else than the account id, then Ctrl-C: both cancel before anything is created.
    let (code, out) = on_terminal(&file, &dir.path().join("a"), &acct.url, b"yes\n");
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("Type the account id (123456789012)") && out.contains("not confirmed"),
        "{out}"
    );
    let (code, out) = on_terminal(&file, &dir.path().join("b"), &acct.url, b"\x03");
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("not confirmed (interrupted)"), "{out}");
    assert!(experiment_statuses(&acct).is_empty());
    // The account id: the drill runs.
    let (code, out) = on_terminal(&file, &dir.path().join("c"), &acct.url, b"123456789012\n");
    w.stop.store(true, Ordering::SeqCst);
    assert_eq!(code, 0, "{out}");
    assert_eq!(scorecard(&dir.path().join("c"))["verdict"]["overall"], "pass");
    assert_eq!(experiment_statuses(&acct).len(), 1);
}

/// The PostgreSQL canary's TLS, against a real server: libpq's sslmode meanings, the CA and
/// host name checked in the verifying modes, clear refusals.
#[test]
fn the_canary_database_connection_speaks_tls_as_libpq_does() {
    let pg = common::postgres(drillbit::targets::local::pg::SyncMode::Async);
    let port = pg.primary.port;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Whether the session is encrypted, or why it could not connect.
    let session = |conninfo: String| -> Result<bool, String> {
        rt.block_on(async {
            let c = drillbit::targets::live::pgtls::connect(&conninfo).await?;
            let row = c
                .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
                .await
                .map_err(|e| e.to_string())?;
            Ok(row.get::<_, bool>(0))
        })
    };
    let at = |host: &str, rest: &str| format!("host={host} port={port} user=postgres dbname=postgres {rest}");

    // A server without TLS: `prefer` falls back to plain, `require` refuses.
    assert_eq!(session(at("127.0.0.1", "")), Ok(false));
    let e = session(at("127.0.0.1", "sslmode=require")).expect_err("no TLS on offer");
    assert!(e.contains("TLS") && e.contains("sslmode=require"), "{e}");

    let f = tls_files(&pg.root.join("tls"));
    serve_tls(&pg, &f);
    let (ca, other) = (f.ca.display(), f.other_ca.display());
    assert_eq!(session(at("127.0.0.1", "sslmode=disable")), Ok(false));
    assert_eq!(session(at("127.0.0.1", "")), Ok(true), "prefer encrypts when offered");
    assert_eq!(session(at("127.0.0.1", "sslmode=require")), Ok(true));
    assert_eq!(
        session(at("localhost", &format!("sslmode=verify-full sslrootcert={ca}"))),
        Ok(true)
    );
    // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca accepts.
    let e = session(at("127.0.0.1", &format!("sslmode=verify-full sslrootcert={ca}"))).expect_err("wrong name");
    assert!(
        e.to_lowercase().contains("name") && e.contains("sslmode=verify-full"),
        "{e}"
    );
    assert_eq!(
        session(at("127.0.0.1", &format!("sslmode=verify-ca sslrootcert={ca}"))),
        Ok(true)
    );
    // Another CA: refused in both verifying modes, and `require` with a root certificate
    // checks the chain as libpq does.
    for mode in ["verify-full", "verify-ca", "require"] {
        let e = session(at("localhost", &format!("sslmode={mode} sslrootcert={other}"))).expect_err("unknown CA");
        assert!(e.contains("UnknownIssuer") || e.contains("issuer"), "{mode}: {e}");
    }
    // URL form, the same settings.
    assert_eq!(
        session(format!(
            "postgresql://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}"
        )),
        Ok(true)
    );
}

/// DynamoDB canaries take the table's own key types (here a number hash key and a binary
/// sort key); what reached the DR copy is read back exactly; clean-up empties both copies.
#[test]
fn dynamodb_canaries_use_the_tables_own_key_types() {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    use drillbit::targets::aws::canary::{self, Store, Writer};
    let dir = tempfile::tempdir().expect("tmp");
    let acct = account(
        dir.path(),
        &scenario("http://127.0.0.1:9/health", &format!("'{ACCOUNT}'"), None, "1s"),
    );
    let env = &acct.env;
    let regions = [&env.clients.primary.dynamodb, &env.clients.dr.dynamodb];
    let attr = |name: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(t)
            .build()
            .expect("attribute")
    };
    let key = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .expect("key")
    };
    acct.rt.block_on(async {
        for d in regions {
            d.delete_table().table_name("orders").send().await.expect("delete");
            d.create_table()
                .table_name("orders")
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(attr("account", ScalarAttributeType::N))
                .attribute_definitions(attr("entry", ScalarAttributeType::B))
                .key_schema(key("account", KeyType::Hash))
                .key_schema(key("entry", KeyType::Range))
                .send()
                .await
                .expect("create");
        }
    });
    let stores = acct.rt.block_on(canary::resolve(env)).expect("resolved");
    let stores: Vec<Store> = stores.into_iter().filter(|s| s.id() == "orders").collect();
    let mut w = acct
        .rt
        .block_on(Writer::start(env, stores, 40.0, "keys".into()))
        .expect("writer");
    std::thread::sleep(Duration::from_millis(1500));
    acct.rt.block_on(w.stop());
    let (acked, errors) = {
        let log = w.log.lock().unwrap();
        (log.acked.iter().map(|a| a.0).collect::<BTreeSet<u64>>(), log.errors)
    };
    assert!(
        acked.len() >= 20 && errors == 0,
        "{} acked, {errors} errors",
        acked.len()
    );
    // Replication, played: every other item reaches the DR copy as it is.
    let copied: BTreeSet<u64> = acct.rt.block_on(async {
        let items = regions[0]
            .scan()
            .table_name("orders")
            .send()
            .await
            .expect("scan")
            .items()
            .to_vec();
        assert_eq!(items.len(), acked.len(), "one item per acknowledged canary");
        let mut copied = BTreeSet::new();
        for item in items {
            assert!(matches!(item.get("account"), Some(AttributeValue::N(n)) if n.starts_with("-7")));
            assert!(matches!(item.get("entry"), Some(AttributeValue::B(_))));
            let seq: u64 = match item.get("drillbit_seq") {
                Some(AttributeValue::N(n)) => n.parse().expect("seq"),
                other => panic!("{other:?}"),
            };
            if seq % 2 == 0 {
                regions[1]
                    .put_item()
                    .table_name("orders")
                    .set_item(Some(item))
                    .send()
                    .await
                    .expect("copy");
                copied.insert(seq);
            }
        }
        copied
    });
    let survived: BTreeSet<u64> = acct
        .rt
        .block_on(w.survivors(env))
        .expect("read back")
        .into_iter()
        .collect();
    assert_eq!(survived, copied);
    assert!(acct.rt.block_on(w.clean(env)).is_empty(), "everything cleaned");
    for d in regions {
        let left = acct
            .rt
            .block_on(d.scan().table_name("orders").send())
            .expect("scan")
            .count();
        assert_eq!(left, 0, "canaries left");
    }
}
