//! Engine and simulator behaviour on small purpose-made scenarios with fixed durations, so
//! every figure below follows from the scenario by hand: retries, timeouts, fallbacks, the
//! trigger, and the effect of each fault kind.

mod common;

use drillbit::drill;
use drillbit::scorecard::Scorecard;

/// A topology with every kind the tests need; models fixed so timings are exact.
fn scenario(faults: &str, runbook: &str, extra_models: &str) -> String {
    format!(
        r#"
name: t
strategy: pilot-light
targets: {{ rto: 30m, rpo: 1m }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - {{ id: db, kind: rds-instance, instance: db, multi_az: true, storage_gib: 100, backups: {{ retention: 7d, replicate_to_dr: true }} }}
    - {{ id: replica, kind: rds-read-replica, instance: db-dr, source: db }}
    - id: api
      kind: ecs-service
      primary: {{ cluster: p, service: api, desired: 4 }}
      dr: {{ cluster: d, service: api, desired: 0 }}
    - id: dns
      kind: route53-record
      record: api.example.com
      health_check: {{ interval: 30s, failure_threshold: 3 }}
      ttl: 60s
      automatic: false
workload: {{ writes_per_second: 10, probe: {{ interval: 1s, healthy_after: 3, failure_threshold: 3 }} }}
faults:
{faults}
runbook:
{runbook}
models:
  api-call: 1s
  route53.propagation: 10s
  dns.stale-client-tail: 0s
  ecs.task-start: 40s
  elb.target-health: 0s
  rds.promote-read-replica: 5m
  replication-lag.rds: 2s
  rds.multi-az-failover: 80s
  scale-out.delay: 0s
{extra_models}
"#
    )
}

const OUTAGE: &str = "  - { id: down, kind: region-outage, region: us-east-1, at: 2m }";

const FAILOVER: &str = r#"  trigger: { after_detection: 1m }
  steps:
    - { id: promote, action: rds.promote-read-replica, resource: replica }
    - { id: scale, action: ecs.update-service, resource: api, desired: 4 }
    - { id: dns, action: route53.failover-to-secondary, resource: dns, after: [promote, scale] }
    - { id: verify, action: probe-until-healthy, after: [dns], timeout: 10m }
"#;

fn run(text: &str) -> Scorecard {
    let l = common::load_text("t.yaml", text);
    drillbit::targets::sim::simulate_once(&l, 11).expect("drill")
}

fn step<'a>(sc: &'a Scorecard, id: &str) -> &'a drillbit::scorecard::StepOut {
    sc.steps
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

#[test]
fn a_plain_failover_follows_the_graph() {
    let sc = run(&scenario(OUTAGE, FAILOVER, ""));
    assert_eq!(sc.verdict.rto, "met");
    let (p, s, d) = (step(&sc, "promote"), step(&sc, "scale"), step(&sc, "dns"));
    // Probes detect after 3 failures (~2-3 s); the runbook starts 1 min later.
    let start = p.start_s.expect("started");
    assert!((62.0..64.0).contains(&start), "runbook start {start}");
    assert_eq!(s.start_s, p.start_s, "independent steps start together");
    assert!(
        (p.end_s.unwrap() - start - 300.0).abs() < 1e-6,
        "promote takes its fixed 5m"
    );
    // ECS: api call 1 s + task start 40 s + target health 0 s.
    assert!((s.end_s.unwrap() - start - 41.0).abs() < 1e-6);
    // DNS waits for both, then api 1 s + propagation 10 s.
    assert_eq!(d.start_s, p.end_s);
    assert!((d.end_s.unwrap() - d.start_s.unwrap() - 11.0).abs() < 1e-6);
    assert_eq!(sc.critical_path, ["promote", "dns"]);
    // Recovered after the record changed and the client's cache (uniform 0-60 s) expired.
    let rto = sc.measured.rto_s.expect("recovered");
    assert!(rto >= d.end_s.unwrap() && rto <= d.end_s.unwrap() + 61.0, "rto {rto}");
    // Replication lag 2 s at 10 writes/s: about 20 writes lost, RPO about 2 s.
    assert!(
        (19..=21).contains(&sc.measured.lost_writes),
        "lost {}",
        sc.measured.lost_writes
    );
    assert!((sc.measured.rpo_s.unwrap() - 2.0).abs() <= 0.1001);
    assert_eq!(sc.verdict.rpo, "met");
}

#[test]
fn dr_drift_fails_the_step_after_its_retries_and_skips_what_depends_on_it() {
    let faults = format!(
        "{OUTAGE}\n  - {{ id: drift, kind: dr-drift, resource: api, at: 0s, detail: task definition missing }}"
    );
    let runbook = FAILOVER.replace("desired: 4 }", "desired: 4, retries: 2, retry_delay: 30s }");
    let sc = run(&scenario(&faults, &runbook, ""));
    let s = step(&sc, "scale");
    assert_eq!(s.outcome, "failed");
    assert_eq!(s.attempts, 3);
    assert!(s.detail.as_deref().is_some_and(|d| d.contains("drift")));
    // 3 attempts of 1 s with 30 s between them.
    assert!((s.end_s.unwrap() - s.start_s.unwrap() - 63.0).abs() < 1e-6);
    assert_eq!(step(&sc, "dns").outcome, "skipped");
    assert_eq!(step(&sc, "verify").outcome, "skipped");
    assert!(!sc.measured.recovered);
    assert_eq!(sc.verdict.rto, "missed");
}

#[test]
fn an_iac_fallback_repairs_drift_and_the_drill_recovers() {
    let faults = format!("{OUTAGE}\n  - {{ id: drift, kind: dr-drift, resource: api, at: 0s }}");
    let runbook = r#"  steps:
    - { id: promote, action: rds.promote-read-replica, resource: replica }
    - { id: scale, action: ecs.update-service, resource: api, desired: 4 }
    - { id: redeploy, action: iac.deploy, resource: api, when: on-failure, after: [scale], duration: 10m }
    - { id: scale-again, action: ecs.update-service, resource: api, desired: 4, after: [redeploy] }
    - { id: dns, action: route53.failover-to-secondary, resource: dns, after: [promote, scale, scale-again] }
"#;
    let sc = run(&scenario(&faults, runbook, ""));
    assert_eq!(step(&sc, "scale").outcome, "failed");
    assert_eq!(step(&sc, "redeploy").outcome, "ok");
    assert_eq!(step(&sc, "scale-again").outcome, "ok");
    assert_eq!(
        step(&sc, "dns").outcome,
        "ok",
        "a handled failure does not block dependents"
    );
    assert!(sc.measured.recovered);
    assert_eq!(sc.critical_path, ["scale", "redeploy", "scale-again", "dns"]);
}

#[test]
fn a_fallback_is_skipped_when_nothing_failed() {
    let runbook = r#"  steps:
    - { id: promote, action: rds.promote-read-replica, resource: replica }
    - { id: plan-b, action: manual, when: on-failure, after: [promote], duration: 1m }
    - { id: scale, action: ecs.update-service, resource: api, desired: 4 }
    - { id: dns, action: route53.failover-to-secondary, resource: dns, after: [promote, plan-b, scale] }
"#;
    let sc = run(&scenario(OUTAGE, runbook, ""));
    assert_eq!(step(&sc, "plan-b").outcome, "skipped");
    assert_eq!(step(&sc, "dns").outcome, "ok", "a skipped dependency does not block");
}

#[test]
fn a_timeout_cancels_the_wait_but_aws_finishes_the_operation() {
    let runbook = FAILOVER.replace("resource: replica }", "resource: replica, timeout: 2m }");
    let sc = run(&scenario(OUTAGE, &runbook, ""));
    let p = step(&sc, "promote");
    assert_eq!(p.outcome, "timed_out");
    assert!((p.end_s.unwrap() - p.start_s.unwrap() - 120.0).abs() < 1e-6);
    assert_eq!(step(&sc, "dns").outcome, "skipped");
    // The record was never changed, so clients still resolve to the failed region.
    assert!(!sc.measured.recovered);
}

#[test]
fn scale_out_blocked_fails_and_delayed_scale_out_is_late() {
    let blocked = format!("{OUTAGE}\n  - {{ id: cap, kind: scale-out-blocked, resource: api, at: 0s }}");
    let sc = run(&scenario(&blocked, FAILOVER, ""));
    assert_eq!(step(&sc, "scale").outcome, "failed");
    assert!(step(&sc, "scale")
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("capacity")));

    let delayed = format!("{OUTAGE}\n  - {{ id: cap, kind: scale-out-blocked, resource: api, at: 0s, delay: 20m }}");
    let sc = run(&scenario(&delayed, FAILOVER, ""));
    let s = step(&sc, "scale");
    assert_eq!(s.outcome, "ok");
    assert!((s.end_s.unwrap() - s.start_s.unwrap() - (41.0 + 1200.0)).abs() < 1e-6);
    assert_eq!(sc.critical_path, ["scale", "dns"]);
}

#[test]
fn replication_pause_before_the_outage_loses_the_paused_writes() {
    let faults = format!("  - {{ id: pause, kind: replication-pause, resource: replica, at: 1m }}\n{OUTAGE}");
    let sc = run(&scenario(&faults, FAILOVER, ""));
    // Paused at 1m, region lost at 2m: 60 s of writes plus the 2 s of normal lag.
    let rpo = sc.measured.rpo_s.expect("rpo");
    assert!((rpo - 62.0).abs() <= 0.11, "rpo {rpo}");
    assert!(
        (610..=630).contains(&sc.measured.lost_writes),
        "lost {}",
        sc.measured.lost_writes
    );
    assert_eq!(sc.verdict.rpo, "missed");
}

#[test]
fn a_lag_spike_sets_the_data_loss() {
    let faults =
        format!("  - {{ id: spike, kind: replication-lag-spike, resource: replica, at: 1m, lag: 30s }}\n{OUTAGE}");
    let sc = run(&scenario(&faults, FAILOVER, ""));
    assert!((sc.measured.rpo_s.unwrap() - 30.0).abs() <= 0.11);
}

#[test]
fn multi_az_recovers_from_a_primary_failure_without_the_runbook() {
    let faults = "  - { id: db-fail, kind: db-primary-failure, resource: db, at: 2m }";
    let runbook = FAILOVER.replace("after_detection: 1m", "after_detection: 5m");
    let sc = run(&scenario(faults, &runbook, ""));
    // Multi-AZ failover takes 80 s; probes need 3 good ones.
    let rto = sc.measured.rto_s.expect("recovered");
    assert!((80.0..=82.0).contains(&rto), "rto {rto}");
    assert!(
        sc.steps.iter().all(|s| s.outcome == "skipped"),
        "recovered before the trigger: nothing ran"
    );
    assert_eq!(sc.measured.lost_writes, 0, "synchronous standby");
}

#[test]
fn an_az_outage_fails_over_multi_az_and_keeps_serving_on_other_zones() {
    let faults = "  - { id: az, kind: az-outage, region: us-east-1, az: us-east-1a, at: 2m }";
    let runbook = FAILOVER.replace("after_detection: 1m", "after_detection: 10m");
    let sc = run(&scenario(faults, &runbook, ""));
    assert!(sc.measured.rto_s.is_some_and(|r| r < 90.0));
    assert_eq!(sc.measured.lost_writes, 0);
}

#[test]
fn health_check_keeps_passing_means_no_automatic_failover() {
    let base = scenario(
        OUTAGE,
        "  steps:\n    - { id: verify, action: probe-until-healthy, timeout: 20m }\n",
        "",
    )
    .replace("automatic: false", "automatic: true")
    .replace("desired: 0 }", "desired: 4 }")
    .replace(
        "rds-instance, instance: db, multi_az: true",
        "dynamodb-global-table, table: t, regions: [us-east-1, us-west-2]",
    )
    .replace(
        "storage_gib: 100, backups: { retention: 7d, replicate_to_dr: true } }",
        "}",
    )
    .replace(
        "    - { id: replica, kind: rds-read-replica, instance: db-dr, source: db }\n",
        "",
    );
    let healthy = run(&base);
    assert!(healthy.measured.recovered, "{:?}", healthy.events);
    // 3 x 30 s + up to 30 s for the health check, up to 60 s of DNS cache.
    assert!(healthy.measured.rto_s.unwrap() < 190.0);
    let stuck = run(&base.replace(
        "faults:\n",
        "faults:\n  - { id: hc, kind: health-check-passing, resource: dns, at: 0s }\n",
    ));
    assert!(!stuck.measured.recovered);
    assert_eq!(step(&stuck, "verify").outcome, "timed_out");
}

#[test]
fn data_corruption_is_recovered_by_point_in_time_restore_with_data_loss() {
    let faults = "  - { id: bad-migration, kind: data-corruption, resource: db, at: 30m }";
    let runbook = r#"  steps:
    - { id: restore, action: rds.restore-point-in-time, resource: db, duration: 40m }
    - { id: verify, action: probe-until-healthy, after: [restore] }
"#;
    let sc = run(&scenario(faults, runbook, ""));
    assert!(sc.measured.recovered);
    let rpo = sc.measured.rpo_s.expect("rpo");
    // The recovery point is before the corruption: never zero, at most the 5-minute PITR window.
    assert!(rpo > 0.0 && rpo <= 300.1, "rpo {rpo}");
    assert!(sc.measured.lost_writes > 0);
}

#[test]
fn a_snapshot_restore_without_a_dr_copy_fails_with_the_reason() {
    let runbook = r#"  steps:
    - { id: restore, action: rds.restore-from-snapshot, resource: db }
"#;
    let text = scenario(OUTAGE, runbook, "").replace("replicate_to_dr: true", "replicate_to_dr: false");
    let sc = run(&text);
    let r = step(&sc, "restore");
    assert_eq!(r.outcome, "failed");
    assert!(
        r.detail.as_deref().is_some_and(|d| d.contains("DR region")),
        "{:?}",
        r.detail
    );
}

#[test]
fn the_same_seed_gives_the_same_drill() {
    let text = scenario(OUTAGE, FAILOVER, "");
    let l = common::load_text("t.yaml", &text);
    let a = drillbit::targets::sim::simulate_once(&l, 99).expect("a");
    let b = drillbit::targets::sim::simulate_once(&l, 99).expect("b");
    assert_eq!(a, b);
    let c = drillbit::targets::sim::simulate_once(&l, 100).expect("c");
    assert_ne!(a.events, c.events);
}

#[test]
fn failback_restores_the_primary_side_and_runs_the_rollback_graph() {
    let runbook = format!(
        "{FAILOVER}  failback_after: 10m\n  rollback:\n    - {{ id: back, action: route53.failover-to-primary, resource: dns }}\n    - {{ id: shrink, action: ecs.update-service, resource: api, desired: 0, after: [back] }}\n"
    );
    let l = common::load_text("t.yaml", &scenario(OUTAGE, &runbook, ""));
    let plain = drillbit::targets::sim::simulate_once(&l, 11).expect("drill");
    assert!(plain.failback.is_none());
    assert_eq!(plain.verdict.failback, "not_run");
    let sc = drillbit::targets::sim::simulate_once_with(&l, 11, true).expect("drill");
    // The failover itself is the same drill.
    assert_eq!(sc.measured.rto_s, plain.measured.rto_s);
    assert_eq!(sc.steps, plain.steps, "rollback steps are reported apart");
    let fb = sc.failback.as_ref().expect("failback ran");
    assert!(fb.completed, "{fb:?}");
    assert_eq!(sc.verdict.failback, "ok");
    let last_failover_end = sc.steps.iter().filter_map(|s| s.end_s).fold(0.0, f64::max);
    // The failover is over once it settled (recovered, every step ended, nothing changed for
    // the settle window); failback starts failback_after that.
    let settled = fb.start_s - 600.0 - sc.measured.settle_s;
    assert!(
        settled >= last_failover_end - 1e-3
            && settled <= sc.measured.t_recovered_s.unwrap().max(last_failover_end) + 1e-3,
        "starts failback_after the failover settled: {} vs {last_failover_end}",
        fb.start_s
    );
    let (back, shrink) = (&fb.steps[0], &fb.steps[1]);
    assert_eq!((back.outcome.as_str(), shrink.outcome.as_str()), ("ok", "ok"));
    // The record change is api 1 s + propagation 10 s; scaling in is the API call alone.
    assert!((back.end_s.unwrap() - back.start_s.unwrap() - 11.0).abs() < 1e-6);
    assert!((shrink.end_s.unwrap() - shrink.start_s.unwrap() - 1.0).abs() < 1e-6);
    assert_eq!(fb.duration_s, Some(12.0));
    assert_eq!(sc.measured.lost_after_recovery, 0);
    // The rollback scales the DR service in right after the record change, while clients
    // still hold the DR answer for the record's 60 s TTL: they fail until their cache expires.
    // The drill waits for them (settle), so the failback's disruption is seen, not cut off.
    assert!(fb.failed_probes > 0);
    let after_failback: Vec<&str> = sc
        .events
        .iter()
        .skip_while(|e| e.event != "failback finished")
        .map(|e| e.event.as_str())
        .collect();
    // Probes are stored as runs: "probe failed" or "N probes failed".
    let is = |e: &str, outcome: &str| e == format!("probe {outcome}") || e.ends_with(&format!(" probes {outcome}"));
    let last_failed = after_failback
        .iter()
        .rposition(|e| is(e, "failed"))
        .expect("failed probes");
    assert!(
        after_failback[last_failed..].iter().any(|e| is(e, "ok")),
        "served again before it settled"
    );
    assert_eq!(
        after_failback.last(),
        Some(&"settled: nothing changed for the settle window")
    );
    assert!(sc.events.iter().any(|e| e.event == "fault down repaired"));
}

#[test]
fn failback_resyncs_promotes_back_and_loses_nothing_in_a_planned_switch() {
    let runbook = format!(
        "{FAILOVER}  rollback:\n    - {{ id: resync, action: rds.create-read-replica, resource: db, duration: 30m }}\n    - {{ id: back, action: rds.promote-read-replica, resource: db, after: [resync] }}\n    - {{ id: dns-back, action: route53.failover-to-primary, resource: dns, after: [back] }}\n"
    );
    let l = common::load_text("t.yaml", &scenario(OUTAGE, &runbook, ""));
    let sc = drillbit::targets::sim::simulate_once_with(&l, 3, true).expect("drill");
    let fb = sc.failback.as_ref().expect("failback");
    assert!(fb.completed, "{fb:?}");
    assert_eq!(sc.verdict.failback, "ok");
    // resync 30 m, promote 5 m, record change 11 s.
    assert_eq!(fb.duration_s, Some(1800.0 + 300.0 + 11.0));
    assert_eq!(
        sc.measured.lost_after_recovery, 0,
        "a planned promotion waits for the replica"
    );
    // Promoting again without a replica is refused, as AWS refuses it.
    let twice =
        format!("{FAILOVER}  rollback:\n    - {{ id: back, action: rds.promote-read-replica, resource: db }}\n");
    let sc = drillbit::targets::sim::simulate_once_with(
        &common::load_text("t.yaml", &scenario(OUTAGE, &twice, "")),
        3,
        true,
    )
    .expect("drill");
    let fb = sc.failback.as_ref().expect("failback");
    assert_eq!(fb.steps[0].outcome, "failed");
    assert!(
        fb.steps[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("no read replica")),
        "{:?}",
        fb.steps[0]
    );
    assert_eq!(sc.verdict.failback, "failed");
    assert_eq!(sc.verdict.overall, "fail");
}

/// A watch on the timeline (the live view) sees every entry as it is recorded, and client
/// probes only when their outcome changes.
#[test]
fn a_watch_sees_the_timeline_as_it_is_recorded() {
    use drillbit::engine::{timeline::describe, Engine, Entry, Labels, Timeline, Watch};
    use drillbit::targets::sim::{SimModel, SimTarget};
    use std::sync::{Arc, Mutex};

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/pilot-light.yaml")).unwrap();
    let loaded = drillbit::scenario::load_str("pilot-light.yaml", &text).expect("valid");
    let model = SimModel::compile(&loaded.scenario);
    let mut target = SimTarget::new(&model);
    target.reset(7, 0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut tl = Timeline::new(true);
    let sink = seen.clone();
    tl.watch = Some(Watch::new(move |t, e, labels, hosts| {
        sink.lock().unwrap().push((t, describe(labels, hosts, e)))
    }));
    drill::run_on(&mut Engine::new(), &model.plan, &mut target, &mut tl).expect("drill");
    let seen = seen.lock().unwrap().clone();
    let labels = Labels::of(&model.plan);
    let recorded: Vec<_> = tl
        .entries
        .iter()
        .filter(|(_, e)| !matches!(e, Entry::Probes { .. }))
        .map(|(t, e)| (*t, describe(&labels, &tl.hosts, e)))
        .collect();
    let (probes, others): (Vec<_>, Vec<_>) = seen.iter().cloned().partition(|(_, l)| l.starts_with("probe "));
    assert!(recorded.len() > 5, "{recorded:?}");
    assert_eq!(others, recorded);
    // One line per change of outcome: ok, failed (the outage), ok again (recovered).
    assert!(probes.len() >= 3, "{probes:?}");
    assert!(probes.windows(2).all(|w| w[0].1 != w[1].1), "{probes:?}");
    let outcomes: Vec<bool> = tl
        .entries
        .iter()
        .filter_map(|(_, e)| match e {
            Entry::Probes { ok, .. } => Some(*ok),
            _ => None,
        })
        .collect();
    let changes = outcomes.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(probes.len(), changes + 1, "one line per change of the probes' outcome");
}
