//! `drillbit lint`: each of the seed's common mistakes is found in a scenario made to have it,
//! and the shipped strategy scenarios are clean.

mod common;

use assert_cmd::Command;

fn lint(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("s.yaml");
    std::fs::write(&f, text).expect("write");
    let o = Command::cargo_bin("drillbit")
        .expect("binary")
        .arg("lint")
        .arg(&f)
        .output()
        .expect("runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
    )
}

fn base() -> String {
    std::fs::read_to_string(common::root().join("scenarios/pilot-light.yaml")).expect("read")
}

fn edit(from: &str, to: &str) -> String {
    let b = base();
    assert!(b.contains(from), "base lacks {from:?}");
    b.replacen(from, to, 1)
}

#[test]
fn the_shipped_strategy_scenarios_are_clean() {
    for f in [
        "backup-restore",
        "pilot-light",
        "warm-standby",
        "active-active",
        "financial-services",
    ] {
        let text = std::fs::read_to_string(common::root().join(format!("scenarios/{f}.yaml"))).expect("read");
        let (code, out) = lint(&text);
        assert_eq!(code, 0, "{f}: {out}");
    }
}

#[test]
fn each_common_mistake_is_found_with_its_fix() {
    let backup = "    - { id: bk, kind: backup-plan, plan: p, vault: v, every: 24h, retention: 35d, resources: [db], copy_to: { vault: dr, retention: 35d } }\n    - id: dns\n";
    let rollback_at = base().find("  # The seed's rollback steps").expect("rollback section");
    let cases: Vec<(&str, String)> = vec![
        ("untested-backups", edit("    - id: dns\n", backup)),
        ("same-geography", edit("dr_region: us-west-2", "dr_region: us-east-2")),
        ("no-rollback", base()[..rollback_at].to_string()),
        ("rpo-below-lag", edit("rpo: 5m", "rpo: 1s")),
        ("no-health-check", edit("      health_check: { interval: 30s, failure_threshold: 3, path: /health }\n", "")),
        (
            "dr-capacity",
            edit(
                "    - id: scale-api\n      action: ecs.update-service\n      resource: api\n      desired: 4\n      after: [notify]\n      timeout: 15m\n      retries: 2\n",
                "",
            )
            .replace("after: [promote-db, scale-api]", "after: [promote-db]"),
        ),
        ("rto-unreachable", edit("rto: 30m", "rto: 5m")),
        // A failover through the primary's API during its region's outage.
        (
            "failed-region-dependency",
            edit(
                "      action: rds.promote-read-replica\n      resource: db-replica\n",
                "      action: rds.reboot-force-failover\n      resource: db\n",
            ),
        ),
        (
            "short-retention",
            edit("    - id: dns\n", backup).replace("cost:", "requirements: { retention: 7y }\ncost:")
                + if base().contains("cost:") { "" } else { "requirements: { retention: 7y }\n" },
        ),
    ];
    for (rule, text) in cases {
        let (code, out) = lint(&text);
        assert_eq!(code, 1, "{rule}: {out}");
        assert!(out.contains(&format!(": {rule}: ")), "{rule} not found in:\n{out}");
        assert!(out.contains("fix: "), "{out}");
    }
}
