//! The emulator target against a real moto server over HTTP (installed by
//! harness/install-moto.sh; drillbit installs it on first use otherwise).
#![cfg(feature = "aws")]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use drillbit::targets::emulator::moto::Moto;
use drillbit::targets::live::{Clients, Connection};
use serde_json::Value;

fn drill(args: &[&str], out: &Path) -> (i32, Value, String) {
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .current_dir(common::root())
        .arg("run")
        .args(args)
        .args(["--target", "emulator", "-q", "--out"])
        .arg(out)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    let code = o.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let text = std::fs::read_to_string(out.join("scorecard.json"))
        .unwrap_or_else(|e| panic!("no scorecard ({e}); exit {code}; stderr: {stderr}"));
    (code, serde_json::from_str(&text).expect("json"), stderr)
}

fn step<'a>(sc: &'a Value, id: &str) -> &'a Value {
    sc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

/// (service, region, operation, status, rule, client) rows of the drill's api-calls.csv.
fn calls(out: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(out.join("api-calls.csv"))
        .expect("api-calls.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

fn moto(dir: &Path) -> Moto {
    drillbit::targets::emulator::moto::ensure_installed(&mut |m| eprintln!("{m}")).expect("moto installs");
    Moto::start(Some(&dir.join("moto-test.log"))).expect("moto starts")
}

fn clients(m: &Moto, primary: &str, dr: &str) -> (tokio::runtime::Runtime, Clients) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let c = rt.block_on(Clients::new(
        primary,
        dr,
        &Connection {
            endpoint_url: Some(m.url()),
            test_credentials: true,
            profile: None,
        },
    ));
    (rt, c)
}

#[test]
fn pilot_light_runs_green_and_leaves_the_emulator_failed_over() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = moto(dir.path());
    let out = dir.path().join("drill");
    // --keep-env: the topology stays in the emulator for the test to read.
    let (code, sc, stderr) = drill(
        &["scenarios/pilot-light.yaml", "--endpoint-url", &m.url(), "--keep-env"],
        &out,
    );
    assert_eq!(code, 0, "{stderr}\n{}", sc["steps"]);
    assert_eq!(sc["target"], "emulator");
    for id in ["notify", "promote-db", "scale-api", "flip-dns", "verify"] {
        assert_eq!(step(&sc, id)["outcome"], "ok", "{id}: {}", step(&sc, id));
    }
    assert!(sc["measured"]["rto_s"].as_f64().expect("rto") < 30.0 * 60.0);
    assert_eq!(sc["verdict"]["rpo"], "not_measured");
    // The probes' phase is the seed's, as on every live target (`Plan::first_probe`): the
    // emulator's clock is at zero when the drill starts, so the first probe is exactly there.
    let loaded = drillbit::scenario::load_file(&common::root().join("scenarios/pilot-light.yaml")).expect("loads");
    let first = drillbit::engine::Plan::compile(&loaded.scenario).first_probe(1);
    let tl: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("timeline.json")).expect("timeline")).expect("json");
    let t0 = tl["events"][0]["t_s"].as_f64().expect("first event");
    assert!(
        tl["events"][0]["event"].as_str().is_some_and(|e| e.contains("probe")),
        "{}",
        tl["events"][0]
    );
    assert!(
        (t0 - first.secs()).abs() < 0.0005,
        "first probe at {t0} s, the seed says {}",
        first.secs()
    );

    // The emulator's state after the drill: what the runbook promised.
    let (rt, c) = clients(&m, "us-east-1", "us-west-2");
    rt.block_on(async {
        let svc =
            c.dr.ecs
                .describe_services()
                .cluster("dr-production")
                .services("myapp-service")
                .send()
                .await
                .expect("describe");
        let s = &svc.services()[0];
        assert_eq!((s.desired_count(), s.running_count()), (4, 4), "DR service scaled");
        let db =
            c.dr.rds
                .describe_db_instances()
                .db_instance_identifier("myapp-postgres-dr-replica")
                .send()
                .await
                .expect("describe");
        assert_eq!(db.db_instances()[0].db_instance_status(), Some("available"));
        let zones = c.route53.list_hosted_zones().send().await.expect("zones");
        let zone = zones.hosted_zones()[0].id().to_string();
        let sets = c
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .expect("record sets");
        let primary = sets
            .resource_record_sets()
            .iter()
            .find(|s| s.failover().map(|f| f.as_str()) == Some("PRIMARY"))
            .expect("primary record");
        let value = primary.resource_records()[0].value();
        assert!(value.contains("us-west-2"), "the failover record points at DR: {value}");
    });
    // The report says what was modelled; the evidence covers the call log.
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("How this target measured") && html.contains("moto with drillbit&#39;s extension"));
    let manifest = std::fs::read_to_string(out.join("manifest.json")).expect("manifest.json");
    assert!(manifest.contains("api-calls.csv"), "{manifest}");
    // Every PromoteReadReplica went to the DR region; the region outage dropped primary calls.
    let rows = calls(&out);
    assert!(rows
        .iter()
        .any(|r| r[2] == "PromoteReadReplica" && r[1] == "us-west-2" && r[3] == "200"));
    assert!(rows
        .iter()
        .any(|r| r[1] == "us-east-1" && r[3] == "0" && r[4] == "fault-0"));
    // After the outage began, no call reached the primary region but Route 53 (global) and
    // stopping the FIS experiment at teardown, once the faults are repaired.
    let first_fault = rows.iter().position(|r| r[4] == "fault-0").expect("outage");
    assert!(!rows[first_fault..]
        .iter()
        .any(|r| r[1] == "us-east-1" && r[0] != "route53" && r[0] != "fis" && r[3] == "200"));
}

/// Every step of the seed's data-layer scenarios runs on moto with drillbit's extension: the
/// global database fails over (financial-services), the global table's replica and the
/// global datastore's secondary take over (active-active), the backup copied to the DR vault
/// is restored by a restore job and the DR stack is deployed by CloudFormation
/// (backup-restore).
#[test]
fn the_seed_scenarios_run_green_with_every_step_ok_on_moto_started_by_drillbit() {
    let dir = tempfile::tempdir().expect("tmp");
    for (file, skipped, made) in [
        ("scenarios/warm-standby.yaml", vec![], vec![]),
        (
            "scenarios/active-active.yaml",
            vec![],
            vec![
                "dynamodb,us-east-1,UpdateTable,200",
                "dynamodb,us-west-2,DescribeTable,200",
                "elasticache,us-west-2,FailoverGlobalReplicationGroup,200",
            ],
        ),
        (
            "scenarios/backup-restore.yaml",
            vec![],
            vec![
                "backup,us-east-1,PUT /backup-jobs,200",
                "backup,us-east-1,PUT /copy-jobs,200",
                "backup,us-west-2,PUT /restore-jobs,200",
                "cloudformation,us-west-2,CreateStack,200",
                "ecs,us-west-2,UpdateService,200",
            ],
        ),
        // The ledger restore runs only if the global failover fails.
        (
            "scenarios/financial-services.yaml",
            vec!["restore-ledger"],
            vec!["rds,us-west-2,FailoverGlobalCluster,200"],
        ),
    ] {
        let out = dir.path().join(file.replace('/', "_"));
        let started = std::time::Instant::now();
        let (code, sc, stderr) = drill(&[file], &out);
        let wall = started.elapsed();
        assert_eq!(code, 0, "{file}: {stderr}\n{}", sc["steps"]);
        assert_eq!(sc["verdict"]["rto"], "met", "{file}: {}", sc["verdict"]);
        for s in sc["steps"].as_array().expect("steps") {
            let want = if skipped.contains(&s["id"].as_str().unwrap_or("")) {
                "skipped"
            } else {
                "ok"
            };
            assert_eq!(s["outcome"], want, "{file}: {s}");
        }
        let log = std::fs::read_to_string(out.join("api-calls.csv")).expect("calls");
        for call in made {
            assert!(log.lines().any(|l| l.starts_with(call)), "{file}: no {call} in\n{log}");
        }
        let notes = sc["notes"].to_string();
        assert!(notes.contains("with drillbit's extension"), "{notes}");
        if file != "scenarios/warm-standby.yaml" {
            // What the extension emulates is never presented as measured.
            assert!(notes.contains("emulated, not measured"), "{notes}");
        }
        if file == "scenarios/backup-restore.yaml" {
            assert!(
                notes.contains("backup.restore: recovery point arn:aws:rds:us-west-2:")
                    && notes.contains("into myapp-postgres-dr in us-west-2"),
                "{notes}"
            );
        }
        assert!(notes.contains("started by drillbit"), "{notes}");
        assert!(notes.contains("FIS experiment"), "{notes}");
        // moto was stopped: its port no longer answers.
        let url = notes
            .split("on http://")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .expect("moto url in the notes");
        assert!(
            std::net::TcpStream::connect_timeout(&url.parse().expect("addr"), Duration::from_millis(300)).is_err(),
            "moto still listens on {url}"
        );
        eprintln!("{file}: {:.2} s wall", wall.as_secs_f64());
    }
}

/// moto alone (a server of the user's, `DRILLBIT_MOTO_SERVER`): what it lacks is reported
/// unsupported with moto's reason, and a backup-restore drill that cannot restore fails.
/// Failing back moves the global datastore's primary back to the primary region (the
/// rollback's failover is sent there, not to DR).
#[test]
fn active_active_fails_the_sessions_back_to_the_primary_region() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("aa");
    let (code, sc, stderr) = drill(&["scenarios/active-active.yaml", "--failback"], &out);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sc["verdict"]["failback"], "ok", "{}", sc["failback"]);
    let back = sc["failback"]["steps"]
        .as_array()
        .expect("failback steps")
        .iter()
        .find(|s| s["id"] == "sessions-back")
        .expect("sessions-back")
        .clone();
    assert_eq!(back["outcome"], "ok", "{back}");
    let log = std::fs::read_to_string(out.join("api-calls.csv")).expect("calls");
    let failovers: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("FailoverGlobalReplicationGroup"))
        .collect();
    assert_eq!(
        failovers,
        [
            "elasticache,us-west-2,FailoverGlobalReplicationGroup,200,,act",
            "elasticache,us-east-1,FailoverGlobalReplicationGroup,200,,act"
        ],
        "{log}"
    );
}

/// The readiness check asks what a restore needs: a recovery point in the DR vault. Deleted
/// from a kept environment, it is named as drift; the DR side that the runbook deploys is not
/// expected before the drill.
#[test]
fn check_finds_the_recovery_point_a_restore_needs() {
    let (code, out) = check(&["scenarios/backup-restore.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok     backup: a recovery point of myapp-postgres in vault dr-vault (us-west-2)"),
        "{out}"
    );
    assert!(
        out.contains("ok     api: DR side deployed by the runbook's iac.deploy"),
        "{out}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let m = moto(dir.path());
    let url = m.url();
    let (code, _, stderr) = drill(
        &["scenarios/backup-restore.yaml", "--endpoint-url", &url, "--keep-env"],
        &dir.path().join("kept"),
    );
    assert_eq!(code, 0, "{stderr}");
    let (rt, c) = clients(&m, "us-east-1", "us-west-2");
    rt.block_on(async {
        let points =
            c.dr.backup
                .list_recovery_points_by_backup_vault()
                .backup_vault_name("dr-vault")
                .send()
                .await
                .expect("points");
        assert!(!points.recovery_points().is_empty());
        for p in points.recovery_points() {
            c.dr.backup
                .delete_recovery_point()
                .backup_vault_name("dr-vault")
                .recovery_point_arn(p.recovery_point_arn().unwrap_or_default())
                .send()
                .await
                .expect("deleted");
        }
    });
    let (code, out) = check(&["scenarios/backup-restore.yaml", "--endpoint-url", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "DRIFT  backup: a recovery point of myapp-postgres in vault dr-vault (us-west-2): none of \
             myapp-postgres: the runbook's restore would have nothing to restore"
        ),
        "{out}"
    );
}

/// A restore never takes over an instance of someone else's: with `myapp-postgres-dr` already
/// in the DR region, the restore step fails saying so, and that instance is still there after
/// the drill's teardown.
#[test]
fn a_restore_never_takes_over_an_existing_instance() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = moto(dir.path());
    let url = m.url();
    let (rt, c) = clients(&m, "us-east-1", "us-west-2");
    rt.block_on(
        c.dr.rds
            .create_db_instance()
            .db_instance_identifier("myapp-postgres-dr")
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .allocated_storage(20)
            .master_username("someone")
            .master_user_password("someone-else")
            .send(),
    )
    .expect("someone else's instance");
    // (moto gives it an automated snapshot: that is someone else's too)
    let before = leftovers(&m);
    assert!(
        before.contains(&"instance Some(\"myapp-postgres-dr\") us-west-2".to_string()),
        "{before:?}"
    );
    let (code, sc, stderr) = drill(
        &["scenarios/backup-restore.yaml", "--endpoint-url", &url],
        &dir.path().join("d"),
    );
    assert_eq!(code, 1, "{stderr}");
    let st = step(&sc, "restore-db");
    assert_eq!(st["outcome"], "failed", "{st}");
    assert!(
        st["detail"]
            .as_str()
            .unwrap_or("")
            .contains("RDS instance myapp-postgres-dr (us-west-2) already exists"),
        "{st}"
    );
    assert_eq!(leftovers(&m), before, "only what was there before is left, as it was");
}

#[test]
fn moto_alone_reports_what_it_lacks() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = drillbit::targets::emulator::moto::venv_dir().join("bin/moto_server");
    for (file, code, unsupported) in [
        // Its service recovers without the two steps, but they never ran: not a pass.
        (
            "scenarios/active-active.yaml",
            1,
            vec!["check-table", "promote-sessions"],
        ),
        ("scenarios/backup-restore.yaml", 1, vec!["restore-db"]),
    ] {
        let out = dir.path().join(file.replace('/', "_"));
        let o = Command::cargo_bin("drillbit")
            .expect("binary")
            .current_dir(common::root())
            .env("DRILLBIT_MOTO_SERVER", &server)
            .args(["run", file, "--target", "emulator", "-q", "--out"])
            .arg(&out)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{file}: {stderr}");
        let sc: Value = serde_json::from_str(&std::fs::read_to_string(out.join("scorecard.json")).expect("scorecard"))
            .expect("json");
        if file.contains("active-active") {
            assert_eq!(sc["verdict"]["overall"], "inconclusive", "{}", sc["findings"]);
            assert!(
                sc["findings"]
                    .to_string()
                    .contains("never ran (unsupported on this target)"),
                "{}",
                sc["findings"]
            );
        }
        for id in unsupported {
            let st = step(&sc, id);
            assert_eq!(st["outcome"], "unsupported", "{file}: {st}");
            assert!(st["detail"].as_str().unwrap_or("").contains("moto 5.2.5:"), "{st}");
        }
        assert!(
            sc["notes"].to_string().contains("without drillbit's extension"),
            "{}",
            sc["notes"]
        );
    }
}

#[test]
fn throttling_is_retried_and_other_errors_are_not() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = moto(dir.path());
    // Two throttled answers, then moto's: the SDK backs off and the step succeeds.
    let out = dir.path().join("throttled");
    let (code, sc, stderr) = drill(
        &[
            "scenarios/pilot-light.yaml",
            "--endpoint-url",
            &m.url(),
            "--api-fault",
            "service=rds,operation=PromoteReadReplica,error=Throttling,count=2",
        ],
        &out,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(step(&sc, "promote-db")["outcome"], "ok");
    let promotes: Vec<String> = calls(&out)
        .into_iter()
        .filter(|r| r[2] == "PromoteReadReplica")
        .map(|r| r[3].clone())
        .collect();
    assert_eq!(promotes, ["400", "400", "200"]);

    // Access denied is not retried: one call, the step fails, its retries are the runbook's.
    let m2 = moto(dir.path());
    let out = dir.path().join("denied");
    let (code, sc, _) = drill(
        &[
            "scenarios/pilot-light.yaml",
            "--endpoint-url",
            &m2.url(),
            "--api-fault",
            "service=rds,operation=PromoteReadReplica,error=AccessDenied",
        ],
        &out,
    );
    assert_eq!(code, 1);
    let s = step(&sc, "promote-db");
    assert_eq!(s["outcome"], "failed");
    assert!(s["detail"].as_str().unwrap_or("").contains("AccessDenied"), "{s}");
    let n = calls(&out).iter().filter(|r| r[2] == "PromoteReadReplica").count();
    assert_eq!(n, 1, "a non-retryable error is sent once");
    assert_eq!(sc["verdict"]["rto"], "missed");
}

#[test]
fn a_not_implemented_answer_is_reported_unsupported_and_not_retried() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("d");
    let (_, sc, stderr) = drill(
        &[
            "scenarios/pilot-light.yaml",
            "--api-fault",
            "service=ecs,operation=UpdateService,error=NotImplemented,status=501",
        ],
        &out,
    );
    let s = step(&sc, "scale-api");
    assert_eq!(s["outcome"], "unsupported", "{stderr}\n{s}");
    assert!(
        s["detail"]
            .as_str()
            .unwrap_or("")
            .contains("unsupported by this endpoint"),
        "{s}"
    );
    let n = calls(&out)
        .iter()
        .filter(|r| r[2] == "UpdateService" && r[4] == "api-fault-0")
        .count();
    assert_eq!(n, 1, "a 501 is never retried");
}

#[test]
fn dr_drift_fails_the_step_that_needs_the_missing_resource() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("drift.yaml");
    let text = std::fs::read_to_string(common::root().join("scenarios/pilot-light.yaml")).expect("read");
    let text = text.replace(
        "faults:\n",
        "faults:\n  - { id: replica-gone, kind: dr-drift, resource: db-replica, at: 1m }\n",
    );
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("d");
    let (code, sc, stderr) = drill(&[file.to_str().expect("utf-8")], &out);
    assert_eq!(code, 1, "{stderr}");
    let s = step(&sc, "promote-db");
    assert_eq!(s["outcome"], "failed", "{s}");
    assert!(s["detail"].as_str().unwrap_or("").contains("DBInstanceNotFound"), "{s}");
}

#[test]
fn plan_and_fis_template_call_nothing() {
    // Anything that connects to this endpoint is counted.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    for args in [
        vec!["plan", "scenarios/pilot-light.yaml", "--target", "emulator"],
        vec!["fis-template", "scenarios/financial-services.yaml"],
    ] {
        let o = Command::cargo_bin("drillbit")
            .expect("binary")
            .current_dir(common::root())
            .args(&args)
            .env("AWS_ENDPOINT_URL", &url)
            .output()
            .expect("runs");
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        if args[0] == "plan" {
            assert!(
                text.contains("rds:PromoteReadReplica myapp-postgres-dr-replica (us-west-2)"),
                "{text}"
            );
            assert!(
                text.contains("ecs:UpdateService dr-production/myapp-service desiredCount=4"),
                "{text}"
            );
        } else {
            let v: Value = serde_json::from_str(&text).expect("template JSON");
            let ids: Vec<&str> = v["actions"]
                .as_object()
                .expect("actions")
                .values()
                .filter_map(|a| a["actionId"].as_str())
                .collect();
            assert!(ids.contains(&"aws:fis:wait"), "{ids:?}");
            assert!(v["roleArn"].as_str().is_some_and(|r| r.starts_with("arn:aws:iam::")));
            assert!(v["stopConditions"].as_array().is_some_and(|s| !s.is_empty()));
        }
    }
    assert!(
        listener.accept().is_err(),
        "plan or fis-template connected to the endpoint"
    );
}

#[test]
fn an_unsupported_fault_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .current_dir(common::root())
        .args([
            "run",
            "scenarios/troubleshooting/async-replication-lag.yaml",
            "--target",
            "emulator",
            "--out",
        ])
        .arg(dir.path().join("x"))
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unsupported on the emulator target"), "{err}");
    assert!(
        !err.contains("moto 5.2.5 on"),
        "the fault is refused before moto starts: {err}"
    );
}

/// `drillbit check --target emulator`; without `--out` among `args`, it leaves no record.
fn check(args: &[&str]) -> (i32, String) {
    let record = if args.contains(&"--out") {
        None
    } else {
        Some("--no-record")
    };
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .current_dir(common::root())
        .arg("check")
        .args(args)
        .args(record)
        .args(["--target", "emulator", "-q"])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn check_reads_the_dr_side_and_names_the_drift() {
    // Self-test: what drillbit provisions is ready. The check leaves a sealed readiness record:
    // a rehearsal (the emulator is not the production account).
    let rec = tempfile::tempdir().expect("tmp");
    let rec_dir = rec.path().join("check");
    let (code, text) = check(&["scenarios/warm-standby.yaml", "--out", rec_dir.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{text}");
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(rec_dir.join("readiness.json")).expect("readiness record"))
            .expect("json");
    assert_eq!(
        (
            record["schema"].as_str(),
            record["drill_kind"].as_str(),
            record["ready"].as_bool()
        ),
        (Some("drillbit.readiness/v1"), Some("rehearsal"), Some(true)),
        "{record}"
    );
    assert!(record["items"].as_array().is_some_and(|i| i.len() >= 2), "{record}");
    let verify = Command::cargo_bin("drillbit")
        .expect("binary")
        .arg("verify")
        .arg(&rec_dir)
        .output()
        .expect("runs");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(
        text.contains("ok     db-replica") && text.contains("ok     web"),
        "{text}"
    );

    // A drill that did not fail back leaves the traffic on the DR side: the check says so.
    let dir = tempfile::tempdir().expect("tmp");
    let m = moto(dir.path());
    let (code, _, stderr) = drill(
        &["scenarios/pilot-light.yaml", "--endpoint-url", &m.url(), "--keep-env"],
        &dir.path().join("d"),
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, text) = check(&["scenarios/pilot-light.yaml", "--endpoint-url", &m.url()]);
    assert_eq!(code, 1, "{text}");
    // The same in the one JSON shape of --format json.
    let (jcode, json) = check(&[
        "scenarios/pilot-light.yaml",
        "--endpoint-url",
        &m.url(),
        "--format",
        "json",
    ]);
    assert_eq!(jcode, 1, "{json}");
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(
        (v["command"].as_str(), v["ok"].as_bool()),
        (Some("check"), Some(false)),
        "{v}"
    );
    assert!(
        v["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x["resource"] == "dns" && x["ready"] == false)),
        "{v}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("DRIFT  dns") && l.contains("still failed over")),
        "{text}"
    );
    drop(m);

    // A topology that exists (provisioned by a drill that failed back), then drifts.
    let m = moto(dir.path());
    let (code, _, stderr) = drill(
        &[
            "scenarios/pilot-light.yaml",
            "--endpoint-url",
            &m.url(),
            "--failback",
            "--keep-env",
        ],
        &dir.path().join("f"),
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, text) = check(&["scenarios/pilot-light.yaml", "--endpoint-url", &m.url()]);
    assert_eq!(code, 0, "{text}");
    let (rt, c) = clients(&m, "us-east-1", "us-west-2");
    rt.block_on(async {
        c.dr.ecs
            .delete_service()
            .cluster("dr-production")
            .service("myapp-service")
            .force(true)
            .send()
            .await
            .expect("delete service");
        c.dr.rds
            .delete_db_instance()
            .db_instance_identifier("myapp-postgres-dr-replica")
            .skip_final_snapshot(true)
            .send()
            .await
            .expect("delete replica");
    });
    let (code, text) = check(&["scenarios/pilot-light.yaml", "--endpoint-url", &m.url()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("DRIFT  db-replica") && text.contains("does not exist"),
        "{text}"
    );
    assert!(text.contains("DRIFT  api"), "{text}");
    assert!(text.contains("ok     dns"), "{text}");
}

#[test]
fn game_day_prompts_measure_the_operator_and_automation_never_hangs() {
    let dir = tempfile::tempdir().expect("tmp");
    // No terminal: --game-day is refused with the way out, before anything starts.
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .current_dir(common::root())
        .args([
            "run",
            "scenarios/pilot-light.yaml",
            "--target",
            "emulator",
            "--game-day",
        ])
        .write_stdin("")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--auto-approve"));

    // --auto-approve: the human step takes no time.
    let out = dir.path().join("auto");
    let (code, sc, stderr) = drill(&["scenarios/pilot-light.yaml", "--auto-approve"], &out);
    assert_eq!(code, 0, "{stderr}");
    let n = step(&sc, "notify");
    let took = n["end_s"].as_f64().expect("end") - n["start_s"].as_f64().expect("start");
    assert!(took < 0.05, "auto-approved in {took} s");

    // On a terminal (a pty from util-linux `script`): the operator answers after about 2 s,
    // and that wait is what the step measures; the live view shows the steps.
    let out = dir.path().join("prompt");
    let args = format!(
        "run scenarios/pilot-light.yaml --target emulator --game-day --out {}",
        out.display()
    );
    let (code, text) = common::on_terminal(&args, &[], "and Enter if it failed:", Duration::from_secs(2), b"\n");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[game day] step `notify`"), "{text}");
    assert!(text.contains("step `promote-db` done"), "{text}");
    let sc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scorecard.json")).expect("scorecard")).expect("json");
    let n = step(&sc, "notify");
    let took = n["end_s"].as_f64().expect("end") - n["start_s"].as_f64().expect("start");
    assert_eq!(n["outcome"], "ok");
    assert!((0.5..30.0).contains(&took), "the operator's wait is measured: {took} s");
}

/// A drill that must be refused before it starts (exit 3, no scorecard); its stderr.
fn refused(args: &[&str], out: &Path) -> String {
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .current_dir(common::root())
        .arg("run")
        .args(args)
        .args(["--target", "emulator", "-q", "--out"])
        .arg(out)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(!out.join("scorecard.json").exists(), "{stderr}");
    stderr
}

/// Everything of a drill's making an emulator still holds, in both regions.
fn leftovers(m: &Moto) -> Vec<String> {
    let (rt, c) = clients(m, "us-east-1", "us-west-2");
    rt.block_on(async {
        let mut left = Vec::new();
        for r in [&c.primary, &c.dr] {
            let at = &r.region;
            let dbs = r.rds.describe_db_instances().send().await.expect("instances");
            left.extend(
                dbs.db_instances()
                    .iter()
                    .map(|d| format!("instance {:?} {at}", d.db_instance_identifier())),
            );
            let cl = r.rds.describe_db_clusters().send().await.expect("clusters");
            left.extend(
                cl.db_clusters()
                    .iter()
                    .map(|d| format!("cluster {:?} {at}", d.db_cluster_identifier())),
            );
            let sn = r.rds.describe_db_snapshots().send().await.expect("snapshots");
            left.extend(
                sn.db_snapshots()
                    .iter()
                    .map(|d| format!("snapshot {:?} {at}", d.db_snapshot_identifier())),
            );
            let t = r.dynamodb.list_tables().send().await.expect("tables");
            left.extend(t.table_names().iter().map(|n| format!("table {n} {at}")));
            // A deleted ECS cluster stays listed for a while as INACTIVE, as on AWS.
            let e = r.ecs.list_clusters().send().await.expect("ecs clusters");
            if !e.cluster_arns().is_empty() {
                let d = r
                    .ecs
                    .describe_clusters()
                    .set_clusters(Some(e.cluster_arns().to_vec()))
                    .send()
                    .await
                    .expect("describe clusters");
                left.extend(
                    d.clusters()
                        .iter()
                        .filter(|c| c.status() != Some("INACTIVE"))
                        .map(|c| format!("ecs cluster {:?} {:?}", c.cluster_name(), c.status())),
                );
            }
            let g = r.asg.describe_auto_scaling_groups().send().await.expect("asgs");
            left.extend(
                g.auto_scaling_groups()
                    .iter()
                    .map(|g| format!("asg {:?} {at}", g.auto_scaling_group_name())),
            );
            let v = r.backup.list_backup_vaults().send().await.expect("vaults");
            left.extend(
                v.backup_vault_list()
                    .iter()
                    .map(|v| format!("vault {:?} {at}", v.backup_vault_name())),
            );
            for v in v.backup_vault_list() {
                let p = r
                    .backup
                    .list_recovery_points_by_backup_vault()
                    .backup_vault_name(v.backup_vault_name().unwrap_or_default())
                    .send()
                    .await
                    .expect("recovery points");
                left.extend(
                    p.recovery_points()
                        .iter()
                        .map(|p| format!("recovery point {:?} {at}", p.recovery_point_arn())),
                );
            }
            let rg = r
                .elasticache
                .describe_replication_groups()
                .send()
                .await
                .expect("replication groups");
            // A deleted replication group stays listed as `deleting` (moto, as AWS for a while).
            left.extend(
                rg.replication_groups()
                    .iter()
                    .filter(|g| g.status() != Some("deleting"))
                    .map(|g| format!("replication group {:?} {at}", g.replication_group_id())),
            );
            let st = r.cloudformation.list_stacks().send().await.expect("stacks");
            left.extend(
                st.stack_summaries()
                    .iter()
                    .filter(|x| x.stack_status().map(|s| s.as_str()) != Some("DELETE_COMPLETE"))
                    .map(|x| format!("stack {:?} {at}", x.stack_name())),
            );
            let pl = r.backup.list_backup_plans().send().await.expect("plans");
            left.extend(
                pl.backup_plans_list()
                    .iter()
                    .map(|p| format!("plan {:?} {at}", p.backup_plan_name())),
            );
        }
        let gl = c.primary.rds.describe_global_clusters().send().await.expect("global");
        left.extend(
            gl.global_clusters()
                .iter()
                .map(|g| format!("global cluster {:?}", g.global_cluster_identifier())),
        );
        let gd = c
            .primary
            .elasticache
            .describe_global_replication_groups()
            .send()
            .await
            .expect("global datastores");
        left.extend(
            gd.global_replication_groups()
                .iter()
                .map(|g| format!("global datastore {:?}", g.global_replication_group_id())),
        );
        let b = c.primary.s3.list_buckets().send().await.expect("buckets");
        left.extend(b.buckets().iter().map(|b| format!("bucket {:?}", b.name())));
        let z = c.route53.list_hosted_zones().send().await.expect("zones");
        left.extend(z.hosted_zones().iter().map(|z| format!("zone {}", z.name())));
        let h = c.route53.list_health_checks().send().await.expect("health checks");
        left.extend(h.health_checks().iter().map(|h| format!("health check {}", h.id())));
        let f = c
            .primary
            .fis
            .list_experiment_templates()
            .send()
            .await
            .expect("templates");
        left.extend(
            f.experiment_templates()
                .iter()
                .map(|t| format!("FIS template {:?}", t.id())),
        );
        left
    })
}

/// A shared emulator (CI's long-lived moto or LocalStack) is left as the drill found it, so
/// drill after drill runs there; every shipped scenario's resources and its runbook's
/// creations (a failback replica, a restored instance, snapshots) go.
#[test]
fn a_shared_emulator_is_left_as_found_so_the_next_drill_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = moto(dir.path());
    let url = m.url();
    let runs: [&[&str]; 6] = [
        &["scenarios/pilot-light.yaml"],
        &["scenarios/pilot-light.yaml", "--failback"],
        &["scenarios/warm-standby.yaml"],
        &["scenarios/active-active.yaml"],
        &["scenarios/backup-restore.yaml"],
        &["scenarios/financial-services.yaml"],
    ];
    for (i, args) in runs.iter().enumerate() {
        let mut args = args.to_vec();
        args.extend(["--endpoint-url", url.as_str()]);
        let (code, sc, stderr) = drill(&args, &dir.path().join(format!("d{i}")));
        assert!(matches!(code, 0 | 1), "{args:?}: exit {code}: {stderr}");
        let notes = sc["notes"].to_string();
        // Static stability: every shipped scenario's fault is its primary region's outage, and
        // no call of drillbit's own (`act`: the runbook) met it; only the observer, whose job
        // is to see the failed region, did.
        let rows = calls(&dir.path().join(format!("d{i}")));
        let hit: Vec<_> = rows
            .iter()
            .filter(|r| r[4].starts_with("fault-") && r[5] == "act")
            .collect();
        assert!(hit.is_empty(), "{args:?}: runbook calls to the failed region: {hit:?}");
        assert!(
            rows.iter().any(|r| r[4].starts_with("fault-") && r[5] == "observe"),
            "{args:?}: the observer never met the outage, so the check above proves nothing"
        );
        if args[0].contains("financial-services") {
            // Static stability: the replication check reads the replica in the DR region, so
            // it holds while the primary region is down (it read the source bucket there, and
            // failed, before).
            assert_eq!(
                step(&sc, "check-documents")["outcome"],
                "ok",
                "{}",
                step(&sc, "check-documents")
            );
            let calls = std::fs::read_to_string(dir.path().join(format!("d{i}/api-calls.csv"))).expect("calls");
            assert!(
                calls
                    .lines()
                    .any(|l| l.starts_with("s3,us-west-2,HEAD /myapp-statements-dr,200")),
                "{calls}"
            );
        }
        assert!(!stderr.contains("left behind"), "{args:?}: {stderr}");
        assert!(notes.contains("teardown: deleted the"), "{args:?}: {notes}");
        assert_eq!(leftovers(&m), Vec::<String>::new(), "{args:?}");
    }
    // Provisioning that fails half-way (the DR copy of the global table is taken, so its
    // create fails after the primary copy's) removes what it had created: the squatter is
    // left.
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let (rt, c) = clients(&m, "us-east-1", "us-west-2");
    rt.block_on(
        c.dr.dynamodb
            .create_table()
            .table_name("Orders")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .send(),
    )
    .expect("squatter");
    let stderr = refused(
        &["scenarios/active-active.yaml", "--endpoint-url", &url],
        &dir.path().join("half"),
    );
    // Refused when it comes to the table, before creating it: never taken over.
    assert!(
        stderr.contains("DynamoDB table Orders (us-west-2) already exists and the scenario does not bind it"),
        "{stderr}"
    );
    assert_eq!(leftovers(&m), ["table Orders us-west-2"], "{stderr}");
    rt.block_on(c.dr.dynamodb.delete_table().table_name("Orders").send())
        .expect("squatter gone");

    // --keep-env leaves the topology; the next drill there is refused with the reason.
    let keep = dir.path().join("keep");
    let (code, _, stderr) = drill(
        &["scenarios/pilot-light.yaml", "--endpoint-url", &url, "--keep-env"],
        &keep,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(leftovers(&m).iter().any(|l| l.contains("myapp-postgres")));
    let stderr = refused(
        &["scenarios/pilot-light.yaml", "--endpoint-url", &url],
        &dir.path().join("again"),
    );
    assert!(stderr.contains("already holds this scenario's resources"), "{stderr}");
}

/// The user's own pilot light (tests/fixtures/user_pilot_light.py), built with boto3 in moto
/// before drillbit is run: `build` returns its ARNs, `state` what exists, read with boto3.
fn user_stack(m: &Moto, what: &str) -> Value {
    let python = drillbit::targets::emulator::moto::venv_dir().join("bin/python");
    let o = std::process::Command::new(python)
        .arg(common::root().join("tests/fixtures/user_pilot_light.py"))
        .args([what, &m.url()])
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("json")
}

fn bound_pilot_light(ids: &Value, bind: bool) -> String {
    let arn = |k: &str| ids[k].as_str().expect("id").to_string();
    let b = |v: String| {
        if bind {
            format!(", bind: {{ arn: \"{v}\" }}")
        } else {
            String::new()
        }
    };
    format!(
        r#"name: user-pilot-light
description: The user's own pilot light, drilled through bindings.
strategy: pilot-light
targets: {{ rto: 30m, rpo: 5m }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - {{ id: db, kind: rds-instance, instance: shop-db{} }}
    - {{ id: db-replica, kind: rds-read-replica, instance: shop-db-dr, source: db{} }}
    - {{ id: api, kind: ecs-service, primary: {{ cluster: production, service: api, desired: 4 }}, dr: {{ cluster: dr-production, service: api, desired: 0 }}{} }}
    - {{ id: dns, kind: route53-record, record: api.example-shop.com, routing: failover, health_check: {{ interval: 10s, failure_threshold: 3 }}, ttl: 60s, automatic: false{} }}
workload: {{ writes_per_second: 50, probe: {{ interval: 1s, healthy_after: 3 }} }}
faults:
  - {{ id: region-down, kind: region-outage, region: us-east-1, at: 1m }}
runbook:
  trigger: {{ after_detection: 1m }}
  steps:
    - {{ id: promote-db, action: rds.promote-read-replica, resource: db-replica, timeout: 30m }}
    - {{ id: scale-api, action: ecs.update-service, resource: api, desired: 4, timeout: 15m }}
    - {{ id: flip-dns, action: route53.failover-to-secondary, resource: dns, after: [promote-db, scale-api] }}
    - {{ id: verify, action: probe-until-healthy, after: [flip-dns], timeout: 30m }}
"#,
        b(arn("db_arn")),
        b(arn("replica_arn")),
        b("arn:aws:ecs:us-west-2:123456789012:service/dr-production/api".into()),
        b(format!("arn:aws:route53:::hostedzone/{}", arn("zone_id"))),
    )
}

#[test]
fn an_existing_stack_is_drilled_through_bindings_and_everything_that_existed_still_does() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = moto(dir.path());
    let ids = user_stack(&m, "build");
    let before = user_stack(&m, "state");
    let file = dir.path().join("bound.yaml");
    std::fs::write(&file, bound_pilot_light(&ids, true)).expect("write");
    // The readiness check reads the user's stack as it is: alias records, the user's zone and
    // health check, the DR side in place.
    let (code, text) = check(&[file.to_str().expect("utf-8"), "--endpoint-url", &m.url()]);
    assert_eq!(code, 0, "{text}");
    let out = dir.path().join("drill");
    let (code, sc, stderr) = drill(&[file.to_str().expect("utf-8"), "--endpoint-url", &m.url()], &out);
    assert_eq!(code, 0, "{stderr}\n{}", sc["findings"]);
    assert_eq!(sc["verdict"]["effect"], "observed");
    for st in sc["steps"].as_array().expect("steps") {
        assert_eq!(st["outcome"], "ok", "{st}");
    }
    let after = user_stack(&m, "state");
    // The runbook acted on the user's resources, as moto now holds them.
    assert_eq!(
        after["records"]["api.example-shop.com.|A|shop-primary"], "dr-alb-456.us-west-2.elb.amazonaws.com",
        "the user's primary alias record now answers with the DR load balancer"
    );
    assert_eq!(
        after["services"]["us-west-2/dr-production/api"],
        serde_json::json!(["ACTIVE", 4])
    );
    let rows = calls(&out);
    assert!(
        rows.iter()
            .any(|r| r[0] == "rds" && r[1] == "us-west-2" && r[2] == "PromoteReadReplica" && r[3] == "200"),
        "the user's replica was promoted in the DR region"
    );
    // Nothing was created (but the FIS template, deleted again), nothing replaced or deleted.
    let created: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[2].starts_with("Create") || r[2].starts_with("Delete") || r[2].starts_with("Register"))
        .filter(|r| r[0] != "fis")
        .collect();
    assert!(created.is_empty(), "{created:?}");
    assert_eq!(after["zones"], before["zones"], "no duplicate hosted zone");
    assert_eq!(after["task_definitions"], before["task_definitions"]);
    for kind in ["clusters", "services", "instances", "records"] {
        for (k, v) in before[kind].as_object().expect("map") {
            let now = &after[kind][k];
            assert!(!now.is_null(), "{kind} {k} is gone");
            if kind == "clusters" || kind == "services" {
                assert_eq!(
                    now[0].as_str().or(now.as_str()),
                    v[0].as_str().or(v.as_str()),
                    "{kind} {k}"
                );
            }
        }
        assert_eq!(
            before[kind].as_object().map(|o| o.len()),
            after[kind].as_object().map(|o| o.len()),
            "{kind}: nothing added"
        );
    }
    eprintln!(
        "bound pilot light: RTO {} s, {} API calls, records changed: primary -> {}",
        sc["measured"]["rto_s"],
        rows.len(),
        after["records"]["api.example-shop.com.|A|shop-primary"]
    );

    // The same stack, unbound: drillbit would create its own clusters, services and zone under
    // the user's names. It refuses before creating anything, and the user's stack is as it was.
    let unbound = dir.path().join("unbound.yaml");
    std::fs::write(&unbound, bound_pilot_light(&ids, false)).expect("write");
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .args([
            "run",
            unbound.to_str().expect("utf-8"),
            "--target",
            "emulator",
            "-q",
            "--endpoint-url",
            &m.url(),
            "--out",
        ])
        .arg(dir.path().join("refused"))
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("already exists and the scenario does not bind it"),
        "{err}"
    );
    assert_eq!(user_stack(&m, "state"), after, "the refused drill touched nothing");
}
