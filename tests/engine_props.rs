//! Property tests of the engine's invariants, over random runbook graphs and random seeds of
//! the shipped scenarios.

mod common;

use drillbit::scorecard::Scorecard;
use proptest::prelude::*;

/// Checks that hold for every drill, whatever the scenario and the seed.
fn check_invariants(sc: &Scorecard, deps: &dyn Fn(&str) -> Vec<String>) {
    let m = &sc.measured;
    if let (Some(f), Some(d)) = (m.t_fault_s, m.t_detect_s) {
        assert!(f <= d, "t_fault {f} > t_detect {d}");
    }
    if let (Some(f), Some(r), Some(rto)) = (m.t_fault_s, m.t_recovered_s, m.rto_s) {
        assert!(f <= r);
        assert!(
            (r - f - rto).abs() < 0.002,
            "rto {rto} != t_recovered - t_fault {}",
            r - f
        );
    }
    assert_eq!(m.recovered, m.rto_s.is_some());
    assert!(m.lost_writes <= m.acked_writes);
    if let Some(rpo) = m.rpo_s {
        assert_eq!(rpo == 0.0, m.lost_writes == 0, "rpo {rpo} with {} lost", m.lost_writes);
    }
    assert_eq!(sc.verdict.rto == "met", m.rto_s.is_some_and(|r| r <= sc.targets.rto_s));
    // A pass needs every target met, a runbook that worked, faults that showed their effect,
    // one writer at a time and a drill that ran until the system settled.
    assert_eq!(
        sc.verdict.overall == "pass",
        sc.verdict.rto == "met"
            && sc.verdict.rpo != "missed"
            && sc.verdict.runbook == "ok"
            && sc.verdict.effect != "not_observed"
            && sc.verdict.split_brain != "observed"
            && sc.verdict.failback != "failed"
            && m.settled
            && sc.error.is_none(),
        "{:?} {:?}",
        sc.verdict,
        sc.findings
    );
    assert_eq!(
        sc.verdict.overall == "pass",
        sc.findings.is_empty(),
        "{:?}",
        sc.findings
    );
    // RTO runs to the final recovery: every outage ended by then.
    if let (Some(r), Some(last)) = (m.t_recovered_s, m.outages.last()) {
        assert!(
            last.end_s.is_some_and(|e| (e - r).abs() < 0.002),
            "{:?} vs {r}",
            m.outages
        );
    }
    for p in &sc.phases {
        assert!(p.start_s <= p.end_s, "{p:?}");
    }
    for s in &sc.steps {
        if let (Some(a), Some(b)) = (s.start_s, s.end_s) {
            assert!(a <= b, "{s:?}");
        }
        if s.start_s.is_some() {
            assert!(s.attempts >= 1);
            // A step starts only once every dependency has finished.
            for d in deps(&s.id) {
                let dep = sc.steps.iter().find(|x| x.id == d).expect("dep");
                assert!(
                    dep.end_s.is_some_and(|e| e <= s.start_s.unwrap_or(f64::MAX)),
                    "{} started before {d} ended",
                    s.id
                );
            }
        }
        if s.outcome == "skipped" {
            assert!(s.start_s.is_none(), "{s:?}");
        }
    }
    // The critical path is a chain of dependencies, each starting when the one before ended.
    for w in sc.critical_path.windows(2) {
        assert!(deps(&w[1]).contains(&w[0]), "{} is not a dependency of {}", w[0], w[1]);
        let (a, b) = (
            sc.steps.iter().find(|s| s.id == w[0]).expect("a"),
            sc.steps.iter().find(|s| s.id == w[1]).expect("b"),
        );
        assert_eq!(a.end_s, b.start_s, "critical path link {} -> {}", w[0], w[1]);
    }
}

fn random_runbook(n: usize, edges: &[(usize, usize)], durs: &[u32], outage_at: u32, k: u32) -> String {
    let mut steps = String::new();
    for i in 0..n {
        let after: Vec<String> = edges
            .iter()
            .filter(|(a, b)| *b == i && *a < i)
            .map(|(a, _)| format!("s{a}"))
            .collect();
        steps.push_str(&format!(
            "    - {{ id: s{i}, action: manual, duration: {}s, after: [{}] }}\n",
            durs[i % durs.len()],
            after.join(", ")
        ));
    }
    // The last step restores service: the DNS flip after every manual step.
    let all: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    steps.push_str(&format!(
        "    - {{ id: promote, action: rds.promote-read-replica, resource: replica, after: [{}] }}\n",
        all.join(", ")
    ));
    steps.push_str("    - { id: flip, action: route53.failover-to-secondary, resource: dns, after: [promote] }\n");
    format!(
        r#"name: prop
strategy: pilot-light
targets: {{ rto: 1h, rpo: 5m }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - {{ id: db, kind: rds-instance, instance: db }}
    - {{ id: replica, kind: rds-read-replica, instance: db-dr, source: db }}
    - {{ id: dns, kind: route53-record, record: a.example.com, ttl: 30s }}
workload: {{ writes_per_second: 5, probe: {{ interval: 2s, healthy_after: {k} }} }}
faults:
  - {{ id: down, kind: region-outage, region: us-east-1, at: {outage_at}s }}
runbook:
  steps:
{steps}"#
    )
}

fn deps_of(l: &drillbit::scenario::Loaded) -> impl Fn(&str) -> Vec<String> + '_ {
    move |id: &str| {
        l.scenario
            .runbook
            .steps
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.after.clone())
            .unwrap_or_default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_runbook_graphs_keep_the_invariants(
        n in 1usize..8,
        edges in proptest::collection::vec((0usize..8, 0usize..8), 0..16),
        durs in proptest::collection::vec(1u32..600, 1..8),
        outage_at in 0u32..600,
        k in 1u32..6,
        seed in any::<u64>(),
    ) {
        let text = random_runbook(n, &edges, &durs, outage_at, k);
        let l = common::load_text("prop.yaml", &text);
        let sc = drillbit::targets::sim::simulate_once(&l, seed).expect("drill");
        check_invariants(&sc, &deps_of(&l));
        // Every step ran exactly once and succeeded; the service came back.
        prop_assert!(sc.steps.iter().all(|s| s.outcome == "ok" && s.attempts == 1), "{:?}", sc.steps);
        prop_assert!(sc.measured.recovered);
        // Recovery cannot come before the DNS flip ended.
        let flip = sc.steps.iter().find(|s| s.id == "flip").and_then(|s| s.end_s).expect("flip");
        prop_assert!(sc.measured.rto_s.unwrap_or(0.0) + 1e-6 >= flip);
        // The critical path ends with the flip and starts at a step with no dependency.
        prop_assert_eq!(sc.critical_path.last().map(String::as_str), Some("flip"));
        let first = &sc.critical_path[0];
        prop_assert!(deps_of(&l)(first).is_empty());
    }

    /// The simulator's write history reaches back as far as any modelled loss: a lag spike of
    /// hours, then the region goes, loses the writes of that whole lag (not only the hour of
    /// history the workload had by default).
    #[test]
    fn rpo_follows_a_long_lag_spike(lag_min in 1u32..(48 * 60), rate in 1u32..20, seed in any::<u64>()) {
        let text = format!(
            r#"name: lag
strategy: pilot-light
targets: {{ rto: 1h, rpo: 2h }}
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - {{ id: db, kind: rds-instance, instance: db }}
    - {{ id: replica, kind: rds-read-replica, instance: db-dr, source: db }}
workload: {{ writes_per_second: {rate} }}
faults:
  - {{ id: spike, kind: replication-lag-spike, resource: replica, at: 1m, lag: {lag_min}m }}
  - {{ id: down, kind: region-outage, region: us-east-1, at: 2m }}
runbook:
  steps:
    - {{ id: promote, action: rds.promote-read-replica, resource: replica }}
models:
  replication-lag.rds: 1s
"#
        );
        let l = common::load_text("lag.yaml", &text);
        let sc = drillbit::targets::sim::simulate_once(&l, seed).expect("drill");
        let lag = f64::from(lag_min) * 60.0;
        let rpo = sc.measured.rpo_s.expect("measured");
        // One write interval of slack at each end.
        let slack = 2.0 / f64::from(rate) + 0.002;
        prop_assert!((rpo - lag).abs() <= slack, "lag {lag} s, rpo {rpo} s");
        prop_assert_eq!(sc.verdict.rpo == "met", rpo <= 7200.0);
        let lost = sc.measured.lost_writes as f64;
        prop_assert!((lost - lag * f64::from(rate)).abs() <= 2.0, "lost {lost} for {lag} s at {rate}/s");
    }

    #[test]
    fn shipped_scenarios_keep_the_invariants_for_any_seed(seed in any::<u64>(), which in 0usize..64) {
        let files = common::shipped();
        let f = &files[which % files.len()];
        let l = drillbit::scenario::load_file(f).expect("valid");
        let sc = drillbit::targets::sim::simulate_once(&l, seed).expect("drill");
        check_invariants(&sc, &deps_of(&l));
    }
}
