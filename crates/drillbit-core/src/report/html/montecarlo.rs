//! The Monte Carlo report (`templates/montecarlo.html`): what it says about one batch.

use minijinja::Value;
use serde::Serialize;

use super::{render, trusted, Card, Definition, Tool};
use crate::montecarlo::{MonteCarlo, Probability, Stats};
use crate::report::svg::{self, Marker};
use crate::report::text::{interval, percent};
use crate::scenario::duration::format_secs as f;

#[derive(Serialize)]
struct Page<'a> {
    name: &'a str,
    runs: u64,
    target: &'a str,
    seed: u64,
    strategy: &'a str,
    tool: Tool<'a>,
    schema: &'a str,
    probabilities: Vec<Card>,
    /// Which gate applied and how it came out (None: no gate).
    gate: Option<String>,
    gate_passed: bool,
    rto: Distribution,
    rpo: Distribution,
    percentiles: Vec<Percentiles>,
    models: Vec<Definition>,
    sensitivity: Vec<Knob<'a>>,
    environment: Vec<Definition>,
}

/// RTO or RPO over the runs: the histogram, and the chance of meeting the target.
#[derive(Serialize)]
struct Distribution {
    chart: Value,
    target: String,
    p95: String,
    p_meet: String,
    ci: String,
}

#[derive(Serialize)]
struct Percentiles {
    name: &'static str,
    /// p50, p90, p95, p99, mean, min, max.
    values: [String; 7],
}

/// One knob of the sensitivity table: p95 RTO with it halved and doubled.
#[derive(Serialize)]
struct Knob<'a> {
    knob: &'a str,
    halved: String,
    halved_change: String,
    doubled: String,
    doubled_change: String,
}

/// The Monte Carlo report.
pub fn montecarlo(mc: &MonteCarlo) -> String {
    let list = |v: &[String], none: &str| if v.is_empty() { none.to_string() } else { v.join(", ") };
    let signed = |d: f64| {
        if d >= 0.0 {
            format!("+{}", f(d))
        } else {
            format!("−{}", f(-d))
        }
    };
    let page = Page {
        name: &mc.scenario.name,
        runs: mc.runs,
        target: mc.target,
        seed: mc.seed,
        strategy: mc.scenario.strategy,
        tool: Tool {
            name: &mc.tool.name,
            version: &mc.tool.version,
        },
        schema: mc.schema,
        probabilities: probability_cards(mc),
        gate: mc.gate.as_ref().map(|g| g.describe()),
        gate_passed: mc.gate.as_ref().is_some_and(|g| g.passed),
        rto: distribution("RTO", &mc.rto_histogram, &mc.rto_s, mc.targets.rto_s, &mc.p_meet_rto),
        rpo: distribution("RPO", &mc.rpo_histogram, &mc.rpo_s, mc.targets.rpo_s, &mc.p_meet_rpo),
        percentiles: vec![
            percentiles("RTO", &mc.rto_s, f),
            percentiles("RPO", &mc.rpo_s, f),
            percentiles("lost writes", &mc.lost_writes, |x| format!("{x:.0}")),
        ],
        models: vec![
            Definition::new(
                "fitted from measured drills",
                list(&mc.models_fitted, "none (no --models file)"),
            ),
            Definition::new("set by the scenario", list(&mc.models_overridden, "none")),
            Definition::new("steps on default models", list(&mc.steps_on_default_models, "none")),
        ],
        sensitivity: mc
            .sensitivity
            .iter()
            .map(|k| Knob {
                knob: &k.knob,
                halved: f(k.p95_rto_s_halved),
                halved_change: signed(k.delta_halved_s),
                doubled: f(k.p95_rto_s_doubled),
                doubled_change: signed(k.delta_doubled_s),
            })
            .collect(),
        environment: vec![
            Definition::new("scenario", mc.scenario.name.clone()),
            Definition::new("file", mc.scenario.path.clone()),
            Definition::new("sha256", mc.scenario.sha256.clone()),
            Definition::new("strategy", mc.scenario.strategy.to_string()),
            Definition::new("target", mc.target.to_string()),
            Definition::new("runs", mc.runs.to_string()),
            Definition::new("seed", format!("{} (run i uses stream i)", mc.seed)),
            Definition::new("tool", format!("{} {}", mc.tool.name, mc.tool.version)),
            Definition::new("locked crates", mc.tool.locked_crates.join(", ")),
        ],
    };
    render("montecarlo.html", page)
}

/// The chances of meeting each target, of meeting both, and how many runs never recovered.
fn probability_cards(mc: &MonteCarlo) -> Vec<Card> {
    let meet = |label, p: &Probability, target: f64, p95: f64| {
        Card::either(
            label,
            percent(p),
            format!("{} · target {} · p95 {}", ci(p), f(target), f(p95)),
            p95 <= target,
            "P95 WITHIN TARGET",
            "P95 OVER TARGET",
        )
    };
    vec![
        meet("P(meet RTO)", &mc.p_meet_rto, mc.targets.rto_s, mc.rto_s.p95),
        meet("P(meet RPO)", &mc.p_meet_rpo, mc.targets.rpo_s, mc.rpo_s.p95),
        Card::either(
            "P(meet both)",
            percent(&mc.p_meet_all),
            format!(
                "{} · {} of {} runs",
                ci(&mc.p_meet_all),
                mc.p_meet_all.successes,
                mc.runs
            ),
            mc.p_meet_all.estimate >= 0.95,
            "AT LEAST 95%",
            "BELOW 95%",
        ),
        Card::either(
            "Unrecovered runs",
            mc.unrecovered_runs.to_string(),
            "runs that never recovered before the drill horizon (their RTO counts as the horizon)".into(),
            mc.unrecovered_runs == 0,
            "EVERY RUN RECOVERED",
            "SOME RUNS NEVER RECOVERED",
        ),
    ]
}

/// The histogram of `what` over the runs, with its target and percentiles marked.
fn distribution(what: &str, bins: &[(f64, f64, u64)], s: &Stats, target: f64, p_meet: &Probability) -> Distribution {
    let mut markers = vec![Marker {
        at: target,
        label: format!("target {}", f(target)),
        class: "target",
    }];
    // Equal percentiles (a mass of runs at one value) share one marker and one label.
    let mut groups: Vec<(Vec<&str>, f64)> = Vec::new();
    for (name, v) in [("p50", s.p50), ("p90", s.p90), ("p95", s.p95), ("p99", s.p99)] {
        match groups.last_mut() {
            Some((names, at)) if f(*at) == f(v) => names.push(name),
            _ => groups.push((vec![name], v)),
        }
    }
    for (names, v) in groups {
        markers.push(Marker {
            at: v,
            label: format!("{} {}", names.join(" = "), f(v)),
            class: "pct",
        });
    }
    // Show the body of the distribution: up to a quarter beyond p99 or the target, whichever
    // is further; a longer tail is counted in a note on the chart.
    let view_hi = s.p99.max(target) * 1.25;
    let view_hi = if s.max <= view_hi * 1.1 { f64::INFINITY } else { view_hi };
    let knots = [
        (s.min, 0.0),
        (s.p50, 0.50),
        (s.p90, 0.90),
        (s.p95, 0.95),
        (s.p99, 0.99),
        (s.max, 1.0),
    ];
    Distribution {
        chart: trusted(svg::histogram(
            &format!("{what} distribution"),
            bins,
            &knots,
            &markers,
            view_hi,
        )),
        target: f(target),
        p95: f(s.p95),
        p_meet: percent(p_meet),
        ci: ci(p_meet),
    }
}

/// A probability's 95% interval, as the report's cards and captions say it.
fn ci(p: &Probability) -> String {
    format!("95% CI {}", interval(p))
}

fn percentiles(name: &'static str, s: &Stats, fmt: impl Fn(f64) -> String) -> Percentiles {
    Percentiles {
        name,
        values: [s.p50, s.p90, s.p95, s.p99, s.mean, s.min, s.max].map(fmt),
    }
}
