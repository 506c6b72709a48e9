//! Snapshot tests of the reports. The simulator is deterministic, so the only redactions are
//! the tool version and the locked crate versions.

mod common;

use drillbit::report;
use drillbit::scorecard::Scorecard;

fn redact(mut sc: Scorecard) -> Scorecard {
    sc.tool.version = "[version]";
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
    mc.tool.version = "[version]";
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
