//! The trend report (`templates/trend.html`): what it says about past drills.

use minijinja::Value;
use serde::Serialize;

use super::{render, trusted, verdict, Card};
use crate::report::svg;
use crate::report::text::{self, opt};
use crate::scenario::duration::format_secs as f;
use crate::timestamp;
use crate::trend::{Drill, ScenarioTrend, Trend};

#[derive(Serialize)]
struct Page<'a> {
    as_of: String,
    drills: usize,
    scenario_count: usize,
    inputs: String,
    left_out: Option<String>,
    rules: String,
    /// Drills left out because their evidence does not verify: (file, why).
    excluded: Vec<(String, &'a str)>,
    summary: Vec<Card>,
    freshness: Vec<Freshness<'a>>,
    /// Health checks per scenario that has any: (scenario, in words, status class, status).
    health: Vec<(&'a str, String, &'static str, &'static str)>,
    /// The RTO threshold of a regression, in percent.
    threshold: String,
    scenarios: Vec<Scenario<'a>>,
    version: &'static str,
}

/// Whether a scenario had a passing drill within its schedule.
#[derive(Serialize)]
struct Freshness<'a> {
    name: &'a str,
    cadence: &'a str,
    days: u32,
    last_pass: String,
    days_since: String,
    overdue: bool,
}

/// A scenario's drills: charts over time, and a table newest first.
#[derive(Serialize)]
struct Scenario<'a> {
    name: &'a str,
    strategy: &'a str,
    drill_count: usize,
    rto_chart: Value,
    rpo_chart: Value,
    drills: Vec<DrillRow<'a>>,
}

#[derive(Serialize)]
struct DrillRow<'a> {
    started: String,
    target: String,
    seed: u64,
    rto: String,
    rto_target: String,
    rpo: String,
    rpo_target: String,
    verdict: &'static str,
    class: &'static str,
    regressions: &'a [String],
    file: String,
}

/// The trend report over past drills.
pub fn trend(t: &Trend) -> String {
    let page = Page {
        as_of: timestamp::format_date(t.as_of),
        drills: t.drills(),
        scenario_count: t.scenarios.len(),
        inputs: t.inputs.join(", "),
        left_out: text::left_out(t),
        rules: text::trend_rules(t),
        excluded: t
            .excluded
            .iter()
            .map(|(f, why)| (f.display().to_string(), why.as_str()))
            .collect(),
        summary: vec![
            Card::either(
                "Regressions",
                t.regressions().to_string(),
                format!(
                    "drills that regressed from the previous drill (RTO threshold {:.0}%)",
                    t.rto_threshold * 100.0
                ),
                t.regressions() == 0,
                "NO REGRESSION",
                "REGRESSIONS FLAGGED",
            ),
            Card::either(
                "Overdue scenarios",
                t.overdue().to_string(),
                "no passing real drill within the schedule".into(),
                t.overdue() == 0,
                "ALL FRESH",
                "DRILLS OVERDUE",
            ),
        ],
        freshness: t
            .scenarios
            .iter()
            .map(|s| Freshness {
                name: &s.name,
                cadence: s.cadence.name,
                days: s.cadence.days,
                last_pass: text::last_pass(s),
                days_since: s.days_since_pass.map_or("n/a".to_string(), |d| d.to_string()),
                overdue: s.overdue,
            })
            .collect(),
        health: t
            .scenarios
            .iter()
            .filter_map(|s| {
                let h = s.health.as_ref()?;
                let (class, status) = match (h.tracked, h.overdue) {
                    (false, _) => ("", "NOT HELD TO IT"),
                    (true, true) => ("missed", "OVERDUE"),
                    (true, false) => ("met", "FRESH"),
                };
                Some((s.name.as_str(), text::health_line(h), class, status))
            })
            .collect(),
        threshold: format!("{:.0}", t.rto_threshold * 100.0),
        scenarios: t.scenarios.iter().map(scenario).collect(),
        version: env!("CARGO_PKG_VERSION"),
    };
    render("trend.html", page)
}

fn scenario(s: &ScenarioTrend) -> Scenario<'_> {
    let latest = s.drills.last();
    // One chart per measure: a point per drill, against the latest drill's target.
    let chart = |what: &str,
                 value: fn(&Drill) -> Option<f64>,
                 met: fn(&Drill) -> bool,
                 regression: fn(&Drill) -> bool,
                 target: fn(&Drill) -> f64| {
        let points: Vec<svg::Point> = s
            .drills
            .iter()
            .map(|d| svg::Point {
                t: d.at,
                v: value(d),
                met: met(d),
                regression: regression(d),
                title: drill_title(d),
            })
            .collect();
        trusted(svg::time_series(
            &format!("{what} of {} over time", s.name),
            &points,
            latest.map_or(0.0, target),
        ))
    };
    Scenario {
        name: &s.name,
        strategy: &s.strategy,
        drill_count: s.drills.len(),
        rto_chart: chart(
            "RTO",
            |d| d.rto,
            |d| d.rto_met,
            |d| !d.regressions.is_empty(),
            |d| d.rto_target,
        ),
        rpo_chart: chart(
            "RPO",
            |d| d.rpo,
            |d| d.rpo_verdict != "missed",
            |d| d.regressions.iter().any(|r| r.starts_with("RPO")),
            |d| d.rpo_target,
        ),
        drills: s.drills.iter().rev().map(drill_row).collect(),
    }
}

fn drill_row(d: &Drill) -> DrillRow<'_> {
    let (verdict, class) = verdict(if d.passed { "pass" } else { "fail" });
    DrillRow {
        started: text::drill_started(d),
        target: text::drill_target(d),
        seed: d.seed,
        rto: text::drill_rto(d),
        rto_target: f(d.rto_target),
        rpo: opt(d.rpo),
        rpo_target: f(d.rpo_target),
        verdict,
        class,
        regressions: &d.regressions,
        file: d.file.display().to_string(),
    }
}

/// A drill's point on a chart, for its tooltip.
fn drill_title(d: &Drill) -> String {
    format!(
        "{} on {} (seed {}): RTO {}, RPO {}, {}",
        timestamp::format_human(d.at),
        d.target,
        d.seed,
        opt(d.rto),
        opt(d.rpo),
        if d.passed { "pass" } else { "fail" }
    )
}
