//! Snapshot tests of the reports. The simulator is deterministic, so the only redactions are
//! the tool version and the locked crate versions.

mod common;

use drillbit::report;
use drillbit::scorecard::Scorecard;

fn redact(mut sc: Scorecard) -> Scorecard {
    sc.tool.version = "[version]".into();
    sc.tool.locked_crates = vec!["[locked crates]".into()];
    sc
}

fn drill(rel: &str, seed: u64) -> Scorecard {
    let mut sc = redact(drillbit::targets::sim::simulate_once(&common::load(rel), seed).expect("drill"));
    // The checkout's location must not leak into the snapshots.
    sc.scenario.path = rel.to_string();
    sc
}

#[test]
fn pilot_light_markdown() {
    insta::assert_snapshot!(report::markdown::scorecard(&drill("scenarios/pilot-light.yaml", 7)));
}

#[test]
fn pilot_light_json() {
    insta::assert_snapshot!(report::json(&drill("scenarios/pilot-light.yaml", 7)));
}

#[test]
fn dns_not_switching_junit_fails_rto() {
    insta::assert_snapshot!(report::junit::scorecard(&drill(
        "scenarios/troubleshooting/dns-not-switching.yaml",
        1
    )));
}

#[test]
fn dns_not_switching_terminal_summary() {
    insta::assert_snapshot!(report::terminal::drill(&drill(
        "scenarios/troubleshooting/dns-not-switching.yaml",
        1
    )));
}

#[test]
fn warm_standby_montecarlo_markdown() {
    let l = common::load("scenarios/warm-standby.yaml");
    let mut mc = drillbit::targets::sim::montecarlo::simulate(&l, 2000, 5, 2, &|_| {}).expect("mc");
    mc.tool.version = "[version]".into();
    mc.tool.locked_crates.clear();
    mc.scenario.path = "scenarios/warm-standby.yaml".into();
    insta::assert_snapshot!(report::markdown::montecarlo(&mc));
}

#[test]
fn pilot_light_runbook() {
    insta::assert_snapshot!(report::runbook::render(
        &common::load("scenarios/pilot-light.yaml").scenario
    ));
}

#[test]
fn every_aws_step_of_every_shipped_scenario_renders_its_command() {
    for f in common::shipped() {
        let l = drillbit::scenario::load_file(&f).expect("valid");
        let text = report::runbook::render(&l.scenario);
        for st in l.scenario.all_steps() {
            assert!(
                text.contains(&format!("**{}**", st.id)),
                "{}: step {} missing",
                f.display(),
                st.id
            );
            // Every AWS call `drillbit plan` prints has all its names filled in.
            for call in report::runbook::form(&l.scenario, st).map_or(&[][..], |f| f.calls) {
                assert!(
                    report::runbook::fill(call.1, &l.scenario, st).is_some(),
                    "{}: {} of step {} has a name the scenario does not give",
                    f.display(),
                    call.1,
                    st.id
                );
            }
            if st.action != drillbit::scenario::Action::Manual {
                let cmd = report::runbook::command(&l.scenario, st);
                assert!(
                    cmd.is_some(),
                    "{}: no command for {} ({})",
                    f.display(),
                    st.id,
                    st.action.as_str()
                );
            }
        }
    }
}

/// A scorecard reads back from its JSON and writes the same bytes again: every shipped
/// scenario on the simulator, with and without failback, and one carrying every optional part
/// (watched hosts in each final state, a split brain, an early end, a target's notes).
#[test]
fn scorecards_read_back_and_write_the_same_bytes() {
    fn round_trip(sc: &Scorecard, what: &str) {
        let json = report::json(sc);
        let back: Scorecard = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(&back, sc, "{what}");
        assert_eq!(report::json(&back), json, "{what}");
    }
    let (mut n, mut failbacks) = (0, 0);
    for f in common::shipped() {
        let l = drillbit::scenario::load_file(&f).expect("valid");
        for seed in [1, 7] {
            let mut sc = drillbit::targets::sim::simulate_once(&l, seed).expect("drill");
            sc.started_at = Some("2025-11-25T11:56:00Z".into());
            round_trip(&sc, &format!("{} seed {seed}", f.display()));
            n += 1;
        }
        if !l.scenario.runbook.rollback.is_empty() {
            let sc = drillbit::targets::sim::simulate_once_with(&l, 3, true).expect("drill");
            failbacks += usize::from(sc.failback.is_some());
            round_trip(&sc, &format!("{} with failback", f.display()));
            n += 1;
        }
    }
    assert!(n >= 20 && failbacks >= 2, "{n} scorecards, {failbacks} with a failback");
    let mut sc = drill("scenarios/pilot-light.yaml", 7);
    use drillbit::scorecard::{HostFinalState, HostOut, Overall, SpanOut};
    sc.hosts = [
        Some(HostFinalState::Writer),
        Some(HostFinalState::ReadOnly),
        Some(HostFinalState::Unreachable),
        None,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, final_state)| HostOut {
        host: format!("db{i}"),
        final_state,
    })
    .collect();
    sc.split_brain = vec![SpanOut {
        start_s: 1.5,
        end_s: None,
    }];
    sc.error = Some("fault command failed".into());
    sc.verdict.overall = Overall::Error;
    sc.notes = vec!["modelled: the DNS cache".into()];
    sc.measured.first_recovery_s = Some(12.25);
    sc.events[0].until_s = Some(0.5);
    round_trip(&sc, "every optional part");
}

/// A scorecard drillbit wrote reads back whole through the one reader trend and calibrate use.
#[test]
fn a_written_scorecard_reads_back_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sc = drillbit::targets::sim::simulate_once_with(&common::load("scenarios/pilot-light.yaml"), 1, true)
        .expect("drill");
    let full = tmp.path().join("scorecard.json");
    std::fs::write(&full, drillbit::report::json(&sc)).expect("write");
    let r = drillbit::scorecard::read_file(&full).expect("reads");
    assert_eq!(r.steps.len(), sc.steps.len());
    assert_eq!(r.phases.len(), sc.phases.len());
    assert_eq!(r.verdict.failback, sc.verdict.failback);
    assert_eq!(r.steps[0].outcome, Some(sc.steps[0].outcome));
    assert_eq!(r.measured.rto_s, sc.measured.rto_s);
}

/// A real drill's report after it opened one remediation item and closed another by retest.
#[test]
fn pilot_light_markdown_with_remediation() {
    use drillbit::remediation;
    use drillbit::scorecard::{CheckResult, DrillKind};
    let mut sc = drill("scenarios/pilot-light.yaml", 7);
    sc.target = "aws".into();
    sc.drill_kind = DrillKind::Real;
    let verify = sc.checks.iter_mut().find(|c| c.key == "step:verify").expect("verify");
    verify.result = CheckResult::Fail;
    verify.finding = Some("runbook step `verify` failed and no fallback rescued it".into());
    let mut file = remediation::parse(
        "drillbit_remediation: 1\nscenario: pilot-light\nitems:\n  - { id: R-4, check: rto, finding: \"RTO missed: 41m against 30m\", opened: 2026-09-01, owner: platform-team, due: 2026-10-01, status: in-progress }\n",
        std::path::Path::new("pilot-light.remediation.yaml"),
    )
    .expect("parses");
    let today = drillbit::timestamp::parse("2026-12-01").expect("date");
    let mut out = remediation::apply(
        &mut file,
        &sc.checks,
        sc.drill_kind,
        "reports/pilot-light/drill-aws-seed7",
        today,
    );
    out.file = "scenarios/pilot-light.remediation.yaml".into();
    sc.remediation = Some(out);
    let md = report::markdown::scorecard(&sc);
    let from = md.find("### Remediation").expect("a remediation section");
    insta::assert_snapshot!(&md[from..md[from..].find("\n## ").map_or(md.len(), |e| from + e)]);
    insta::assert_snapshot!("pilot_light_remediation_file", remediation::render(&file));
}

/// The programme over two scenarios: one with a real drill, health checks and remediation, one
/// with only a rehearsal.
#[test]
fn programme_markdown() {
    use drillbit::scorecard::{DrillKind, FailbackVerdict, RpoVerdict};
    use drillbit::trend::{self, Drill, TimeSource};
    use std::path::PathBuf;
    let day = |d: &str| drillbit::timestamp::parse(d).expect("date");
    let drill = |scenario: &str, target: &str, kind: DrillKind, at: &str, rto: f64| Drill {
        file: PathBuf::from(format!("reports/{scenario}/drill-{target}/scorecard.json")),
        scenario: scenario.into(),
        strategy: "pilot-light".into(),
        target: target.into(),
        kind,
        seed: 1,
        at: day(at),
        time_source: TimeSource::Scorecard,
        rto_target: 1800.0,
        rpo_target: 300.0,
        rto: Some(rto),
        rpo: Some(3.1),
        rto_met: rto <= 1800.0,
        rpo_verdict: RpoVerdict::Met,
        failback: FailbackVerdict::NotRun,
        passed: rto <= 1800.0,
        restores: false,
        regressions: vec![],
        unverified: None,
        prediction: None,
    };
    let check = trend::Check {
        file: PathBuf::from("reports/pilot-light/check-aws/readiness.json"),
        scenario: "pilot-light".into(),
        target: "aws".into(),
        kind: DrillKind::Real,
        at: day("2026-11-28"),
        ready: true,
        drift: 0,
        items: 6,
        unverified: None,
    };
    let t = trend::analyze_with(
        vec![
            drill("pilot-light", "aws", DrillKind::Real, "2026-11-02", 813.0),
            drill("warm-standby", "emulator", DrillKind::Rehearsal, "2026-11-20", 95.0),
        ],
        vec![check],
        day("2026-12-01"),
        0.2,
        &Default::default(),
        vec!["reports".into(), "scenarios".into()],
    );
    let file = drillbit::remediation::parse(
        "drillbit_remediation: 1\nscenario: pilot-light\nitems:\n  - { id: R-1, check: rto, finding: \"RTO missed: 41m against 30m\", opened: 2026-08-03, owner: platform-team, due: 2026-09-02, status: closed, closed: 2026-11-02, closed_in: reports/pilot-light/drill-aws }\n  - { id: R-2, check: \"step:flip-dns\", finding: \"runbook step `flip-dns` timed out\", opened: 2026-11-02, owner: unassigned, due: 2026-11-20, status: open }\n",
        std::path::Path::new("scenarios/pilot-light.remediation.yaml"),
    )
    .expect("parses");
    let p = drillbit::programme::build(
        &t,
        vec![(PathBuf::from("scenarios/pilot-light.remediation.yaml"), file)],
    );
    insta::assert_snapshot!(report::markdown::programme(
        &p,
        std::path::Path::new("reports/programme")
    ));
}
