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
