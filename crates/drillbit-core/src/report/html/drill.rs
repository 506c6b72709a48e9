//! The drill report (`templates/drill.html`): what it says about one scorecard.

use std::fmt::Write;

use minijinja::Value;
use serde::Serialize;

use super::{margin, render, steps_table, trusted, verdict, Card, Definition, StepRow, Tool};
use crate::report::svg::{self, GanttRow, Marker};
use crate::report::text::{self, opt};
use crate::scenario::duration::format_secs as f;
use crate::scorecard::{Scorecard, StepOut};
use crate::timestamp;

/// The most timeline events the report lists; the rest are counted.
const MAX_EVENTS: usize = 2000;

#[derive(Serialize)]
struct Page<'a> {
    name: &'a str,
    overall: &'static str,
    overall_class: &'static str,
    description: &'a str,
    target: &'a str,
    /// `real`, `rehearsal` or `simulated`, its banner and what was drilled.
    kind: &'static str,
    banner: &'static str,
    drilled: &'a str,
    prediction: Option<String>,
    seed: u64,
    strategy: &'a str,
    primary_region: &'a str,
    dr_region: &'a str,
    /// When the drill started, for people; None when the scorecard does not say.
    started: Option<String>,
    tool: Tool<'a>,
    schema: &'a str,
    verdicts: Vec<Card>,
    findings: &'a [String],
    recovered_by: Option<&'a str>,
    faults: Vec<Fault<'a>>,
    rto_chart: Value,
    rpo_chart: Value,
    phase_chart: Value,
    critical_path: String,
    steps: Vec<StepRow<'a>>,
    failback: Option<Failback<'a>>,
    data_loss_note: Option<&'a str>,
    data_loss: Vec<Definition>,
    lost_after_recovery: u64,
    notes: &'a [String],
    /// The drill record: who ran and approved it, scope, objectives against results.
    record: Vec<Definition>,
    deviations: &'a [String],
    lessons: Option<&'a str>,
    /// What the drill did to the remediation items: the file and one line each.
    remediation_file: Option<&'a str>,
    remediation: Vec<String>,
    environment: Vec<Definition>,
    events_total: usize,
    events: Vec<Event<'a>>,
    /// Events past [`MAX_EVENTS`], left out of the list.
    events_more: usize,
}

/// A fault and its observed effect.
#[derive(Serialize)]
struct Fault<'a> {
    id: &'a str,
    kind: &'a str,
    injected: String,
    effect_seen: String,
    how: &'a str,
    repaired: String,
}

#[derive(Serialize)]
struct Failback<'a> {
    verdict: &'static str,
    class: &'static str,
    summary: String,
    chart: Value,
    start: String,
    steps: Vec<StepRow<'a>>,
}

#[derive(Serialize)]
struct Event<'a> {
    t: String,
    event: &'a str,
}

/// The drill report.
pub fn drill(sc: &Scorecard) -> String {
    let (overall, overall_class) = verdict(sc.verdict.overall.as_str());
    let m = &sc.measured;
    let started = sc.started_at.as_deref().map(|s| match timestamp::parse(s) {
        Some(t) => timestamp::format_human(t),
        None => s.to_string(),
    });
    let page = Page {
        name: &sc.scenario.name,
        overall,
        overall_class,
        description: &sc.scenario.description,
        target: &sc.target,
        kind: sc.drill_kind.as_str(),
        banner: sc.drill_kind.banner(),
        drilled: &sc.drilled,
        prediction: sc.prediction.as_ref().map(|p| p.sentence()),
        seed: sc.seed,
        strategy: &sc.scenario.strategy,
        primary_region: &sc.scenario.primary_region,
        dr_region: &sc.scenario.dr_region,
        started,
        tool: Tool {
            name: &sc.tool.name,
            version: &sc.tool.version,
        },
        schema: &sc.schema,
        verdicts: verdict_cards(sc),
        findings: &sc.findings,
        recovered_by: sc.recovered_by.as_deref(),
        faults: faults(sc),
        rto_chart: trusted(svg::bar_vs_target(
            "RTO against its target",
            if m.recovered { m.rto_s } else { None },
            sc.targets.rto_s,
            sc.verdict.rto == "met",
            "not recovered before the drill horizon",
        )),
        rpo_chart: trusted(svg::bar_vs_target(
            "RPO against its target",
            m.rpo_s,
            sc.targets.rpo_s,
            sc.verdict.rpo == "met",
            "not measurable on this target",
        )),
        phase_chart: trusted(phase_timeline(sc)),
        critical_path: if sc.critical_path.is_empty() {
            "no runbook step".to_string()
        } else {
            sc.critical_path.join(" → ")
        },
        steps: steps_table(&sc.steps, &sc.critical_path),
        failback: failback(sc),
        data_loss_note: m.data_loss_note.as_deref(),
        data_loss: vec![
            Definition::new("acknowledged writes", m.acked_writes.to_string()),
            Definition::new("lost (acknowledged, missing after recovery)", m.lost_writes.to_string()),
            Definition::new(
                "indeterminate (connection broke in flight)",
                m.indeterminate_writes.to_string(),
            ),
            Definition::new(
                "lost after recovery (acknowledged by the recovered service)",
                m.lost_after_recovery.to_string(),
            ),
            Definition::new("RPO (measured)", opt(m.rpo_s)),
            Definition::new("RPO target", f(sc.targets.rpo_s)),
        ],
        lost_after_recovery: m.lost_after_recovery,
        notes: &sc.notes,
        record: record(sc),
        deviations: &sc.record.deviations,
        lessons: sc.record.lessons.as_deref(),
        remediation_file: sc.remediation.as_ref().map(|r| r.file.as_str()),
        remediation: sc.remediation.as_ref().map(text::remediation_lines).unwrap_or_default(),
        environment: environment(sc),
        events_total: sc.events.len(),
        events: sc
            .events
            .iter()
            .take(MAX_EVENTS)
            .map(|e| Event {
                t: match e.until_s {
                    Some(u) => format!("{}–{}", f(e.t_s), f(u)),
                    None => f(e.t_s),
                },
                event: &e.event,
            })
            .collect(),
        events_more: sc.events.len().saturating_sub(MAX_EVENTS),
    };
    render("drill.html", page)
}

/// The verdicts at a glance: RTO, RPO, failback (when it ran), acknowledged writes.
fn verdict_cards(sc: &Scorecard) -> Vec<Card> {
    let m = &sc.measured;
    let mut cards = vec![Card::new(
        "RTO",
        text::measured_rto(m),
        format!("target {} · {}", f(sc.targets.rto_s), margin(sc.margin.rto_s)),
        sc.verdict.rto.as_str(),
    )];
    let rpo_sub = match &m.data_loss_note {
        Some(_) => format!("target {} · not measurable on this target", f(sc.targets.rpo_s)),
        None => format!("target {} · {}", f(sc.targets.rpo_s), margin(sc.margin.rpo_s)),
    };
    cards.push(Card::new("RPO", opt(m.rpo_s), rpo_sub, sc.verdict.rpo.as_str()));
    if let Some(fb) = &sc.failback {
        cards.push(Card::new(
            "Failback",
            fb.duration_s.map_or("did not finish".to_string(), f),
            format!(
                "{} failed probes · {} writes lost after recovery",
                fb.failed_probes, m.lost_after_recovery
            ),
            sc.verdict.failback.as_str(),
        ));
    }
    let loss_big = if m.data_loss_note.is_some() {
        "n/a".to_string()
    } else {
        format!("{} lost", m.lost_writes)
    };
    let (loss_v, loss_text) = if m.data_loss_note.is_some() {
        ("not_measured", "NOT MEASURED")
    } else if m.lost_writes == 0 {
        ("met", "NONE LOST")
    } else if sc.verdict.rpo == "met" {
        ("met", "WITHIN RPO")
    } else {
        ("missed", "BEYOND RPO")
    };
    cards.push(Card::with_text(
        "Acknowledged writes",
        loss_big,
        format!(
            "of {} acknowledged · {} indeterminate",
            m.acked_writes, m.indeterminate_writes
        ),
        loss_v,
        loss_text,
    ));
    cards
}

/// Each fault: when it was injected, when (and how) its effect was seen, when it was repaired.
fn faults(sc: &Scorecard) -> Vec<Fault<'_>> {
    sc.faults
        .iter()
        .map(|x| Fault {
            id: &x.id,
            kind: &x.kind,
            injected: opt(x.injected_s),
            effect_seen: match (x.effect_s, x.disruptive) {
                (Some(e), _) => f(e),
                (None, true) => format!("none within {}", f(x.effect_within_s)),
                (None, false) => "n/a".into(),
            },
            how: x.effect.as_deref().unwrap_or(""),
            repaired: opt(x.repaired_s),
        })
        .collect()
}

/// The phases on a Gantt chart, with the RTO target and the recovered instant across it.
fn phase_timeline(sc: &Scorecard) -> String {
    let m = &sc.measured;
    let mut markers = vec![Marker {
        at: sc.targets.rto_s,
        label: format!("RTO target {}", f(sc.targets.rto_s)),
        class: "target",
    }];
    if let (true, Some(r)) = (m.recovered, m.rto_s) {
        markers.push(Marker {
            at: r,
            label: format!("recovered {}", f(r)),
            class: if sc.verdict.rto == "met" {
                "recovered"
            } else {
                "missedline"
            },
        });
    }
    svg::gantt("Phase timeline", &phase_rows(sc), &markers)
}

fn failback(sc: &Scorecard) -> Option<Failback<'_>> {
    let fb = sc.failback.as_ref()?;
    let (verdict, class) = verdict(sc.verdict.failback.as_str());
    let mut markers = Vec::new();
    if let Some(d) = fb.duration_s {
        markers.push(Marker {
            at: d,
            label: format!("failback finished {}", f(d)),
            class: if fb.completed { "recovered" } else { "missedline" },
        });
    }
    Some(Failback {
        verdict,
        class,
        summary: text::failback(fb, sc.measured.lost_after_recovery),
        chart: trusted(svg::gantt(
            "Failback timeline",
            &step_rows(&fb.steps, fb.start_s, &[]),
            &markers,
        )),
        start: f(fb.start_s),
        steps: steps_table(&fb.steps, &[]),
    })
}

/// The scenario, the target and the tool, for an audit.
/// The drill record's facts, one row each (the same rows as the Markdown's).
fn record(sc: &Scorecard) -> Vec<Definition> {
    crate::report::text::record_rows(sc)
        .into_iter()
        .map(|(k, v)| Definition::new(k, v))
        .collect()
}

fn environment(sc: &Scorecard) -> Vec<Definition> {
    let mut env = vec![
        Definition::new("scenario", sc.scenario.name.clone()),
        Definition::new("file", sc.scenario.path.clone()),
        Definition::new("sha256", sc.scenario.sha256.clone()),
        Definition::new("strategy", sc.scenario.strategy.to_string()),
        Definition::new(
            "regions",
            format!("{} → {}", sc.scenario.primary_region, sc.scenario.dr_region),
        ),
        Definition::new("target", sc.target.clone()),
        Definition::new("seed", sc.seed.to_string()),
    ];
    if let Some(s) = &sc.started_at {
        env.push(Definition::new("started", s.clone()));
    }
    env.push(Definition::new("tool", format!("{} {}", sc.tool.name, sc.tool.version)));
    if !sc.tool.locked_crates.is_empty() {
        env.push(Definition::new("locked crates", sc.tool.locked_crates.join(", ")));
    }
    if !sc.models_overridden.is_empty() {
        env.push(Definition::new(
            "models set by the scenario",
            sc.models_overridden.join(", "),
        ));
    }
    if let Some(c) = &sc.cost {
        env.push(Definition::new("DR standing cost", text::cost(c)));
    }
    env
}

/// Gantt rows of a step list (failback), times relative to `origin`.
fn step_rows(steps: &[StepOut], origin: f64, critical: &[String]) -> Vec<GanttRow> {
    steps
        .iter()
        .map(|s| {
            let ran = s.start_s.is_some();
            let (a, b) = match (s.start_s, s.end_s) {
                (Some(a), Some(b)) => (a - origin, b - origin),
                (Some(a), None) => (a - origin, a - origin),
                _ => (0.0, 0.0),
            };
            let crit = critical.contains(&s.id);
            let mut note = if ran { f((b - a).max(0.0)) } else { String::new() };
            if s.outcome != "ok" {
                if !note.is_empty() {
                    note.push_str(" · ");
                }
                note.push_str(&s.outcome.as_str().replace('_', " "));
            }
            if crit && ran {
                note.push_str(" · critical path");
            }
            GanttRow {
                label: s.id.clone(),
                kind: "step",
                start: a,
                end: b,
                class: if s.outcome != "ok" && ran {
                    "bad"
                } else if crit {
                    "critical"
                } else {
                    "normal"
                },
                bar: ran,
                critical: crit && ran,
                note,
            }
        })
        .collect()
}

/// Gantt rows of the phases, and of the steps that never ran (bar-less).
fn phase_rows(sc: &Scorecard) -> Vec<GanttRow> {
    let mut rows: Vec<GanttRow> = sc
        .phases
        .iter()
        .map(|p| {
            let (kind, label) = match p.name.strip_prefix("step:") {
                Some(id) => ("step", id.to_string()),
                None => ("", p.name.replace('-', " ")),
            };
            let step = sc.steps.iter().find(|s| kind == "step" && s.id == label);
            let failed = step.is_some_and(|s| s.outcome != "ok");
            let mut note = f((p.end_s - p.start_s).max(0.0));
            if let Some(s) = step.filter(|_| failed) {
                let _ = write!(note, " · {}", s.outcome.as_str().replace('_', " "));
            }
            if p.critical {
                note.push_str(" · critical path");
            }
            GanttRow {
                label,
                kind,
                start: p.start_s,
                end: p.end_s,
                class: if failed {
                    "bad"
                } else if p.critical {
                    "critical"
                } else {
                    "normal"
                },
                bar: true,
                critical: p.critical,
                note,
            }
        })
        .collect();
    // Steps that never ran have no phase; they still belong on the timeline, bar-less.
    for s in &sc.steps {
        if !sc
            .phases
            .iter()
            .any(|p| p.name.strip_prefix("step:") == Some(s.id.as_str()))
        {
            rows.push(GanttRow {
                label: s.id.clone(),
                kind: "step",
                start: 0.0,
                end: 0.0,
                class: "normal",
                bar: false,
                critical: false,
                note: s.outcome.as_str().replace('_', " "),
            });
        }
    }
    rows
}
