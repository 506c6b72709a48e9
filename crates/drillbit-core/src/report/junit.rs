//! JUnit XML for CI: one test suite per scenario, one test case per target (RTO, RPO), failing
//! when missed, with the measured figure and the margin in the message.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::montecarlo::{MonteCarlo, Probability};
use crate::scenario::duration::format_secs as f;
use crate::scorecard::{EffectVerdict, RunbookVerdict, Scorecard, SplitBrainVerdict};

fn case(
    name: &str,
    verdict: &str,
    target: f64,
    measured: Option<f64>,
    margin: Option<f64>,
    not_recovered: bool,
) -> TestCase {
    let measured_text = match measured {
        Some(m) => f(m),
        None if not_recovered => "not recovered before the drill horizon".to_string(),
        None => "not measurable on this target".to_string(),
    };
    let margin_text = match margin {
        Some(m) if m >= 0.0 => format!("margin +{}", f(m)),
        Some(m) => format!("missed by {}", f(-m)),
        None => "no margin".to_string(),
    };
    let message = format!("{name} measured {measured_text}, target {}, {margin_text}", f(target));
    let status = match verdict {
        "met" => TestCaseStatus::success(),
        "not_measured" => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(message.clone());
            s
        }
        _ => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(message.clone());
            s.set_type(format!("{name} target missed"));
            s
        }
    };
    let mut tc = TestCase::new(name, status);
    tc.set_system_out(message);
    tc
}

fn check(name: &str, ok: bool, kind: &str, message: String) -> TestCase {
    let status = if ok {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(message.clone());
        s.set_type(kind.to_string());
        s
    };
    let mut tc = TestCase::new(name, status);
    tc.set_system_out(message);
    tc
}

pub fn scorecard(sc: &Scorecard) -> String {
    let mut report = Report::new("drillbit");
    let mut suite = TestSuite::new(sc.scenario.name.as_str());
    suite.add_property(("target", sc.target.as_str()));
    suite.add_property(("seed", sc.seed.to_string().as_str()));
    suite.add_property(("scenario.sha256", sc.scenario.sha256.as_str()));
    let not_recovered = !sc.measured.recovered;
    let mut rto = case(
        "RTO",
        sc.verdict.rto.as_str(),
        sc.targets.rto_s,
        sc.measured.rto_s,
        sc.margin.rto_s,
        not_recovered,
    );
    rto.set_classname(sc.scenario.name.as_str());
    let mut rpo = case(
        "RPO",
        sc.verdict.rpo.as_str(),
        sc.targets.rpo_s,
        sc.measured.rpo_s,
        sc.margin.rpo_s,
        false,
    );
    rpo.set_classname(sc.scenario.name.as_str());
    suite.add_test_cases([rto, rpo]);
    // What makes the figures mean anything: the faults took effect, the runbook worked, one
    // writer at a time, the drill ran to its end.
    let mut extra = Vec::new();
    if sc.verdict.effect != EffectVerdict::NoDisruptiveFault {
        let unproven: Vec<&str> = sc
            .faults
            .iter()
            .filter(|x| x.disruptive && x.effect_s.is_none())
            .map(|x| x.id.as_str())
            .collect();
        let message = if unproven.is_empty() {
            "every disruptive fault showed its effect".to_string()
        } else {
            format!(
                "nothing was measured: fault(s) {} showed no effect, so the RTO and RPO figures prove nothing",
                unproven.join(", ")
            )
        };
        extra.push(check(
            "fault effect",
            unproven.is_empty(),
            "inconclusive drill",
            message,
        ));
    }
    let runbook_findings: Vec<&String> = sc.findings.iter().filter(|x| x.starts_with("runbook step")).collect();
    extra.push(check(
        "runbook",
        sc.verdict.runbook == RunbookVerdict::Ok,
        "runbook step failed",
        if runbook_findings.is_empty() {
            "every failover step succeeded or was rescued by its fallback".to_string()
        } else {
            runbook_findings
                .iter()
                .map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        },
    ));
    if sc.verdict.split_brain != SplitBrainVerdict::NotWatched {
        let sb: Vec<&String> = sc.findings.iter().filter(|x| x.starts_with("split brain")).collect();
        extra.push(check(
            "single writer",
            sc.verdict.split_brain == SplitBrainVerdict::None,
            "split brain",
            if sb.is_empty() {
                "never two writable hosts at once".to_string()
            } else {
                sb.iter().map(|x| x.as_str()).collect::<Vec<_>>().join("; ")
            },
        ));
    }
    if let Some(e) = &sc.error {
        extra.push(check(
            "drill",
            false,
            "drill error",
            format!("the drill ended early: {e}"),
        ));
    }
    for mut tc in extra {
        tc.set_classname(sc.scenario.name.as_str());
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

/// JUnit of a Monte Carlo batch: the probability of meeting each target (reported, never
/// failing by itself) and, when a gate applies, the gate, failing when the Wilson lower bound
/// of P(meet both) falls short of the required probability.
pub fn montecarlo(mc: &MonteCarlo) -> String {
    let mut report = Report::new("drillbit");
    let mut suite = TestSuite::new(mc.scenario.name.as_str());
    suite.add_property(("target", mc.target));
    suite.add_property(("runs", mc.runs.to_string().as_str()));
    suite.add_property(("seed", mc.seed.to_string().as_str()));
    suite.add_property(("scenario.sha256", mc.scenario.sha256.as_str()));
    let p = |name: &str, target: f64, pr: &Probability| {
        format!(
            "P(meet {name} {}) {:.2}% [{:.2}%, {:.2}%] over {} runs",
            f(target),
            pr.estimate * 100.0,
            pr.ci95[0] * 100.0,
            pr.ci95[1] * 100.0,
            mc.runs
        )
    };
    let mut cases = vec![
        check("P(meet RTO)", true, "", p("RTO", mc.targets.rto_s, &mc.p_meet_rto)),
        check("P(meet RPO)", true, "", p("RPO", mc.targets.rpo_s, &mc.p_meet_rpo)),
    ];
    if let Some(g) = &mc.gate {
        cases.push(check("gate", g.passed, "confidence gate missed", g.describe()));
    }
    for mut tc in cases {
        tc.set_classname(mc.scenario.name.as_str());
        suite.add_test_case(tc);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}
