//! Shipped scenarios: valid against the JSON Schema, and their simulated figures land where the
//! seed's strategy table and troubleshooting table say they should.

mod common;

use common::{load, load_text, mc, shipped};
use drillbit::scenario::{self, yaml};

#[test]
fn every_shipped_scenario_validates_against_the_json_schema() {
    let schema: serde_json::Value = serde_json::from_str(&scenario::json_schema()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let files = shipped();
    assert!(files.len() >= 10, "expected the shipped scenarios, found {files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let node = yaml::parse(&text, &yaml::Limits::default()).expect("parses");
        let json = scenario::yaml_to_json(&node);
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
        // and the loader agrees
        scenario::load_file(&f).unwrap_or_else(|d| panic!("{}: {d:?}", f.display()));
    }
}

#[test]
fn schema_rejects_what_the_loader_rejects() {
    let schema: serde_json::Value = serde_json::from_str(&scenario::json_schema()).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    let text = std::fs::read_to_string(common::root().join("scenarios/pilot-light.yaml")).expect("read");
    for (from, to) in [
        ("rto: 30m", "rto: 30 minutes"),
        ("strategy: pilot-light", "strategy: lukewarm"),
        ("multi_az: true", "multi_azz: true"),
    ] {
        let bad = text.replace(from, to);
        let node = yaml::parse(&bad, &yaml::Limits::default()).expect("parses");
        assert!(
            !validator.is_valid(&scenario::yaml_to_json(&node)),
            "schema accepted {to}"
        );
        assert!(scenario::load_str("bad.yaml", &bad).is_err(), "loader accepted {to}");
    }
}

const RUNS: u64 = 20_000;
const MIN: f64 = 60.0;
const HOUR: f64 = 3600.0;

/// Fidelity: the published RTO/RPO per DR strategy (AWS DR whitepaper and Well-Architected
/// REL13-BP02: backup and restore in hours, pilot light in tens of minutes, warm standby in
/// minutes, active-active near zero), as the ranges of docs/models.md#published-rto-and-rpo-per-strategy.
#[test]
fn strategy_medians_land_in_the_seed_table_and_in_order() {
    let br = mc(&load("scenarios/backup-restore.yaml"), RUNS);
    let pl = mc(&load("scenarios/pilot-light.yaml"), RUNS);
    let ws = mc(&load("scenarios/warm-standby.yaml"), RUNS);
    let aa = mc(&load("scenarios/active-active.yaml"), RUNS);
    // Backup & restore: RTO hours (docs/models.md#published-rto-and-rpo-per-strategy: 4-8 h), RPO hours.
    assert!(
        (4.0 * HOUR..=8.0 * HOUR).contains(&br.rto_s.p50),
        "backup-restore RTO p50 {}",
        br.rto_s.p50
    );
    assert!(br.rpo_s.p50 >= HOUR, "backup-restore RPO p50 {}", br.rpo_s.p50);
    // Pilot light: 10-60 min.
    assert!(
        (10.0 * MIN..=60.0 * MIN).contains(&pl.rto_s.p50),
        "pilot-light RTO p50 {}",
        pl.rto_s.p50
    );
    // Warm standby: minutes, under 20.
    assert!(
        (1.0 * MIN..20.0 * MIN).contains(&ws.rto_s.p50),
        "warm-standby RTO p50 {}",
        ws.rto_s.p50
    );
    // Active-active: under 5 min, RPO under 10 s.
    assert!(aa.rto_s.p50 < 5.0 * MIN, "active-active RTO p50 {}", aa.rto_s.p50);
    assert!(aa.rpo_s.p50 < 10.0, "active-active RPO p50 {}", aa.rpo_s.p50);
    // Ordered.
    assert!(br.rto_s.p50 > pl.rto_s.p50 && pl.rto_s.p50 > ws.rto_s.p50 && ws.rto_s.p50 > aa.rto_s.p50);
    // RPO: seconds-to-minutes for replicas, hours for backups.
    assert!(pl.rpo_s.p50 < 5.0 * MIN && ws.rpo_s.p50 < 5.0 * MIN);
}

/// Fidelity: Aurora Global Database replication lag typically under a second
/// (docs/models.md#replication-lag-aurora-global), with the RPO held under `rds.global_db_rpo`
/// (docs/models.md#aurora-global-rpo-cap); the unplanned failover promoted in under a minute
/// (docs/models.md#aurora-failover-global-cluster).
#[test]
fn financial_services_meets_15_minutes_and_5_minutes_at_the_median() {
    let fs = mc(&load("scenarios/financial-services.yaml"), RUNS);
    assert!(fs.rto_s.p50 < 15.0 * MIN, "RTO p50 {}", fs.rto_s.p50);
    // Aurora Global: sub-second lag, capped by rds.global_db_rpo (60 s here).
    assert!(fs.rpo_s.p99 <= 60.0 + 1.0, "RPO p99 {}", fs.rpo_s.p99);
    assert!(fs.p_meet_rpo.estimate > 0.999);
}

/// Fidelity: a snapshot restore is available after tens of minutes and then loads its storage at
/// 100-300 MiB/s (docs/models.md#rds-snapshot-restore, docs/models.md#snapshot-load-mibps), so a
/// large database takes hours.
#[test]
fn troubleshooting_slow_restore_misses_its_rto() {
    let r = mc(
        &load("scenarios/troubleshooting/slow-restore-large-snapshot.yaml"),
        RUNS,
    );
    assert!(r.p_meet_rto.estimate < 0.05, "P(meet RTO) {}", r.p_meet_rto.estimate);
    assert!(r.rto_s.p50 > 4.0 * HOUR);
}

/// Fidelity: Route 53 fails a record over after threshold x interval of failed health checks
/// (30 s, threshold 3 by default) and clients follow within the TTL
/// (docs/models.md#route53-health-check, docs/models.md#route-53-dns-failover-end-to-end).
#[test]
fn troubleshooting_dns_not_switching_misses_and_the_fixed_health_check_meets() {
    let path = "scenarios/troubleshooting/dns-not-switching.yaml";
    let broken = mc(&load(path), RUNS);
    assert!(
        broken.p_meet_rto.estimate < 0.1,
        "broken P(meet) {}",
        broken.p_meet_rto.estimate
    );
    // The same file without the stale health check: Route 53 fails over by itself.
    let text = std::fs::read_to_string(common::root().join(path)).expect("read");
    let start = text.find("  - id: stale-health-check").expect("fault present");
    let end = text.find("  - id: region-down").expect("outage present");
    let fixed_text = format!("{}{}", &text[..start], &text[end..]);
    let fixed = mc(&load_text("fixed.yaml", &fixed_text), RUNS);
    assert!(
        fixed.p_meet_rto.estimate > 0.9,
        "fixed P(meet) {}",
        fixed.p_meet_rto.estimate
    );
    assert!(fixed.rto_s.p50 < broken.rto_s.p50);
}

/// Fidelity: an asynchronous cross-Region replica's lag sets the RPO; no typical lag is published,
/// so this checks our estimate (docs/models.md#replication-lag-rds), not a published figure.
#[test]
fn troubleshooting_async_lag_misses_its_rpo_not_its_rto() {
    let r = mc(&load("scenarios/troubleshooting/async-replication-lag.yaml"), RUNS);
    assert!(r.p_meet_rpo.estimate < 0.1, "P(meet RPO) {}", r.p_meet_rpo.estimate);
    assert!(r.p_meet_rto.estimate > 0.9, "P(meet RTO) {}", r.p_meet_rto.estimate);
    assert!(r.rpo_s.p50 > 60.0);
}

/// Not a timing fidelity check: both cost scenarios meet their targets with the default models
/// (docs/models.md#published-rto-and-rpo-per-strategy); it checks the cost trade-off, for which
/// docs/models.md cites no figure.
#[test]
fn troubleshooting_dr_cost_both_meet_and_warm_standby_costs_less() {
    let aa_l = load("scenarios/troubleshooting/dr-cost-active-active.yaml");
    let ws_l = load("scenarios/troubleshooting/dr-cost-warm-standby.yaml");
    let (aa, ws) = (mc(&aa_l, RUNS), mc(&ws_l, RUNS));
    assert!(aa.p_meet_all.estimate > 0.99 && ws.p_meet_all.estimate > 0.99);
    let cost = |l: &drillbit::scenario::Loaded| l.scenario.cost.as_ref().expect("cost").dr_monthly_usd;
    assert!(cost(&ws_l) * 2.0 < cost(&aa_l));
    assert_eq!(aa_l.scenario.targets.rto, ws_l.scenario.targets.rto);
}
