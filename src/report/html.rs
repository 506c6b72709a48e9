//! Self-contained HTML reports: a drill, a Monte Carlo batch, a trend over drills. One file
//! each, inline CSS and inline SVG (charts from [`super::svg`]), no scripts, no fonts, no
//! fetches of any kind; printable (white background, sections kept on one page where they
//! fit). Every text that comes from a scenario or a scorecard is escaped.

use std::fmt::Write;

use super::svg::{self, esc, GanttRow, Marker};
use crate::montecarlo::{MonteCarlo, Probability, Stats};
use crate::scenario::duration::format_secs as f;
use crate::scorecard::{RpoVerdict, RtoVerdict, Scorecard, StepOut, StepOutcome};
use crate::timestamp;
use crate::trend::{TimeSource, Trend};

const CSS: &str = r#"
:root { --ink:#1f2328; --muted:#59636e; --line:#d0d7de; --met:#1a7f37; --missed:#cf222e;
  --na:#6e7781; --crit:#c2410c; --norm:#7d9cc4; --bg-met:#dafbe1; --bg-missed:#ffebe9; --bg-na:#f6f8fa; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #fff; color: var(--ink); line-height: 1.45; font-size: 15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 40px; }
header { border-bottom: 3px solid var(--ink); padding-bottom: 12px; }
.kicker { margin: 0; color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .06em; }
h1 { font-size: 26px; margin: 2px 0 6px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); break-after: avoid; page-break-after: avoid; }
h3 { font-size: 15px; margin: 14px 0 6px; break-after: avoid; overflow-wrap: anywhere; }
p { margin: 6px 0; }
.desc { margin: 4px 0 8px; max-width: 80ch; }
.meta { color: var(--muted); font-size: 13px; margin: 0; overflow-wrap: anywhere; }
section { margin-top: 26px; break-inside: avoid; page-break-inside: avoid; }
section.long { break-inside: auto; page-break-inside: auto; }
.badge { display: inline-block; padding: 1px 10px; border: 2px solid; border-radius: 5px; font-size: 18px;
  font-weight: 800; vertical-align: 3px; letter-spacing: .04em; }
.pass, .met { color: var(--met); } .fail, .missed { color: var(--missed); } .na { color: var(--na); }
.badge.pass { background: var(--bg-met); } .badge.fail { background: var(--bg-missed); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-left: 7px solid var(--na); border-radius: 6px; padding: 10px 14px;
  break-inside: avoid; background: #fff; }
.card.met { border-left-color: var(--met); } .card.missed { border-left-color: var(--missed); }
.card .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; margin: 0; }
.card .big { font-size: 24px; font-weight: 700; margin: 2px 0; color: var(--ink); font-variant-numeric: tabular-nums; }
.card .sub { font-size: 13px; color: var(--muted); margin: 0; }
.verdict { font-weight: 800; letter-spacing: .04em; }
.card .verdict { font-size: 15px; margin: 4px 0 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: 12px; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
tbody th { font-weight: 600; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
/* break-word, not anywhere: a column keeps its longest word (ids break at their dashes). */
td.wrap { overflow-wrap: break-word; }
td.path { overflow-wrap: anywhere; min-width: 12ch; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; font-size: 12px; overflow-wrap: break-word; }
dl.env .mono { overflow-wrap: anywhere; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12px; color: var(--muted); margin: 4px 0 6px; }
.sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; vertical-align: -1px; margin-right: 5px; }
.sw.crit { background: var(--crit); } .sw.norm { background: var(--norm); } .sw.bad { background: var(--missed); }
.sw.hist { background: #7d9cc4; }
.ln { display: inline-block; width: 22px; height: 0; vertical-align: 3px; margin-right: 5px; border-top: 2px solid var(--ink); }
.ln.dash { border-top-style: dashed; } .ln.rec { border-top-color: var(--met); } .ln.late { border-top-color: var(--missed); }
.ln.pct { border-top: 1px dashed #57606a; } .ln.cdf { border-top-color: var(--crit); }
.caption { font-size: 12px; color: var(--muted); margin: 4px 0 0; }
.note { border-left: 4px solid var(--na); background: var(--bg-na); padding: 6px 10px; margin: 8px 0; font-size: 14px; }
.note.bad { border-left-color: var(--missed); background: var(--bg-missed); }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; font-size: 13px; margin: 0; }
dl.env dt { color: var(--muted); } dl.env dd { margin: 0; overflow-wrap: anywhere; }
details { margin-top: 22px; font-size: 13px; }
summary { cursor: pointer; font-weight: 600; }
footer { margin-top: 30px; padding-top: 8px; border-top: 1px solid var(--line); color: var(--muted); font-size: 12px; }
svg.chart { display: block; width: 100%; height: auto; margin: 4px 0; }
svg.chart text { fill: var(--ink); }
svg.chart .tick { fill: var(--muted); font-size: 11px; }
svg.chart .axislabel { fill: var(--muted); font-size: 11px; }
svg.chart .cdflabel { fill: var(--crit); }
svg.chart .axis { stroke: #57606a; stroke-width: 1; }
svg.chart .grid { stroke: #e6e9ed; stroke-width: 1; }
svg.chart .stripe { fill: #f6f8fa; }
svg.chart .bar.met { fill: var(--met); } svg.chart .bar.missed { fill: var(--missed); }
svg.chart .onbar { fill: #fff; font-weight: 600; }
svg.chart .value { font-weight: 600; }
svg.chart .target { stroke: var(--ink); stroke-width: 2; stroke-dasharray: 6 4; }
svg.chart .targetlabel, svg.chart .mlabel { font-weight: 600; }
svg.chart .mlabel { font-size: 11px; }
svg.chart .recovered { stroke: var(--met); stroke-width: 2; } svg.chart .lbl-recovered { fill: var(--met); }
svg.chart .missedline { stroke: var(--missed); stroke-width: 2; } svg.chart .lbl-missedline { fill: var(--missed); }
svg.chart .lbl-pct { fill: #57606a; }
svg.chart .pct { stroke: #57606a; stroke-width: 1; stroke-dasharray: 3 3; }
svg.chart .gbar.critical { fill: var(--crit); } svg.chart .gbar.normal { fill: var(--norm); }
svg.chart .gbar.bad { fill: var(--missed); }
svg.chart .rowlabel .kind { fill: var(--muted); font-size: 11px; } svg.chart .rowlabel.crit { font-weight: 700; }
svg.chart .note { fill: var(--muted); font-size: 11px; }
svg.chart .note, svg.chart .mlabel, svg.chart .value, svg.chart .tick, svg.chart .targetlabel {
  paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg.chart .hbar { fill: #7d9cc4; }
svg.chart .cdf { fill: none; stroke: var(--crit); stroke-width: 2; }
svg.chart .series { fill: none; stroke: #8c959f; stroke-width: 1.5; }
svg.chart .pt.met circle { fill: var(--met); }
svg.chart .cross { stroke: var(--missed); stroke-width: 3; fill: none; }
svg.chart .ring { fill: none; stroke: var(--missed); stroke-width: 2; }
@page { size: A4; margin: 12mm; }
@media print {
  body { font-size: 10.5pt; }
  table { font-size: 8.5pt; } code, .mono { font-size: 8pt; }
  th, td { padding: 3px 5px; }
  main { max-width: none; padding: 0; }
  header { break-after: avoid; }
  details { display: none; }
  a { color: inherit; text-decoration: none; }
}
"#;

fn page(title: &str, body: &str) -> String {
    let mut o = String::with_capacity(body.len() + CSS.len() + 512);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No network, no scripts: a report must open the same way offline, years later.
    o.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
    );
    let _ = writeln!(o, "<title>{}</title>", esc(title));
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
    o.push_str(body);
    o.push_str("</main>\n</body>\n</html>\n");
    o
}

/// Text and CSS class of a verdict word from the scorecard.
fn verdict(v: &str) -> (&'static str, &'static str) {
    match v {
        "met" => ("MET", "met"),
        "missed" => ("MISSED", "missed"),
        "ok" => ("OK", "met"),
        "failed" => ("FAILED", "missed"),
        "pass" => ("PASS", "pass"),
        "fail" => ("FAIL", "fail"),
        "inconclusive" => ("INCONCLUSIVE", "na"),
        "error" => ("ERROR", "fail"),
        "not_measured" => ("NOT MEASURED", "na"),
        "not_run" => ("NOT RUN", "na"),
        _ => ("UNKNOWN", "na"),
    }
}

fn margin(x: Option<f64>) -> String {
    match x {
        Some(m) if m >= 0.0 => format!("{} to spare", f(m)),
        Some(m) => format!("{} over", f(-m)),
        None => "no margin".into(),
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("n/a".into(), f)
}

fn card(o: &mut String, label: &str, big: &str, sub: &str, v: &str) {
    let (text, _) = verdict(v);
    card_with(o, label, big, sub, v, text);
}

/// A verdict card: `v` is a scorecard verdict word (it sets the colour), `text` what it says.
fn card_with(o: &mut String, label: &str, big: &str, sub: &str, v: &str, text: &str) {
    let (_, class) = verdict(v);
    let card_class = match class {
        "met" | "pass" => "met",
        "missed" | "fail" => "missed",
        _ => "na",
    };
    let _ = writeln!(
        o,
        "<div class=\"card {card_class}\"><p class=\"label\">{}</p><p class=\"big\">{}</p><p class=\"sub\">{}</p><p class=\"verdict {class}\">{}</p></div>",
        esc(label),
        esc(big),
        esc(sub),
        esc(text)
    );
}

fn outcome_cell(s: &StepOut) -> String {
    let class = match s.outcome {
        StepOutcome::Ok => "met",
        StepOutcome::Skipped => "na",
        _ => "missed",
    };
    let mut t = format!(
        "<span class=\"verdict {class}\">{}</span>",
        esc(&s.outcome.as_str().replace('_', " "))
    );
    if let Some(d) = &s.detail {
        let _ = write!(t, "<br><span class=\"mono\">{}</span>", esc(d));
    }
    t
}

fn steps_table(o: &mut String, steps: &[StepOut], critical: &[String]) {
    o.push_str("<table>\n<thead><tr><th>step</th><th>action</th><th>resource</th><th class=\"num\">start</th><th class=\"num\">end</th><th class=\"num\">duration</th><th>outcome</th><th class=\"num\">attempts</th><th>critical path</th></tr></thead>\n<tbody>\n");
    for s in steps {
        let dur = match (s.start_s, s.end_s) {
            (Some(a), Some(b)) => f((b - a).max(0.0)),
            _ => "".into(),
        };
        let _ = writeln!(
            o,
            "<tr><td class=\"wrap\"><b>{}</b></td><td><code>{}</code></td><td class=\"wrap\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&s.id),
            esc(&s.action),
            esc(s.resource.as_deref().unwrap_or("")),
            s.start_s.map_or(String::new(), f),
            if s.start_s.is_some() { s.end_s.map_or(String::new(), f) } else { String::new() },
            dur,
            outcome_cell(s),
            s.attempts,
            if critical.contains(&s.id) { "yes" } else { "" }
        );
    }
    o.push_str("</tbody>\n</table>\n");
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
            if s.outcome != StepOutcome::Ok {
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
                class: if s.outcome != StepOutcome::Ok && ran {
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
            let failed = step.is_some_and(|s| s.outcome != StepOutcome::Ok);
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

/// Why the verdict is what it is, and the proof that each fault took effect.
fn findings_and_faults(o: &mut String, sc: &Scorecard) {
    if !sc.findings.is_empty() {
        o.push_str("<h3>Findings</h3>\n<ul class=\"findings\">\n");
        for x in &sc.findings {
            let _ = writeln!(o, "<li>{}</li>", esc(x));
        }
        o.push_str("</ul>\n");
    }
    if let Some(by) = &sc.recovered_by {
        let _ = writeln!(o, "<p>Recovered through {}.</p>", esc(by));
    }
    if !sc.faults.is_empty() {
        o.push_str("<h3>Faults and their observed effect</h3>\n<table><thead><tr><th>fault</th><th>kind</th><th>injected</th><th>effect seen</th><th>how</th><th>repaired</th></tr></thead><tbody>\n");
        for x in &sc.faults {
            let effect = match (x.effect_s, x.disruptive) {
                (Some(e), _) => f(e),
                (None, true) => format!("none within {}", f(x.effect_within_s)),
                (None, false) => "n/a".into(),
            };
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.id),
                esc(&x.kind),
                esc(&opt(x.injected_s)),
                esc(&effect),
                esc(x.effect.as_deref().unwrap_or("")),
                esc(&opt(x.repaired_s))
            );
        }
        o.push_str("</tbody></table>\n<p class=\"caption\">Times since the start of the drill.</p>\n");
    }
}

/// The drill report.
pub fn drill(sc: &Scorecard) -> String {
    let mut o = String::new();
    let (overall, overall_class) = verdict(sc.verdict.overall.as_str());
    let name = &sc.scenario.name;
    o.push_str("<header>\n<p class=\"kicker\">drillbit · drill report</p>\n");
    let _ = writeln!(
        o,
        "<h1>{} <span class=\"badge {overall_class}\">{overall}</span></h1>",
        esc(name)
    );
    if !sc.scenario.description.is_empty() {
        let _ = writeln!(o, "<p class=\"desc\">{}</p>", esc(&sc.scenario.description));
    }
    let started = sc
        .started_at
        .as_deref()
        .map(|s| match timestamp::parse(s) {
            Some(t) => format!(" · started {}", timestamp::format_human(t)),
            None => format!(" · started {s}"),
        })
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "<p class=\"meta\">target <b>{}</b> · seed {} · strategy {} · {} → {}{} · {} {}</p>\n</header>",
        esc(&sc.target),
        sc.seed,
        esc(&sc.scenario.strategy),
        esc(&sc.scenario.primary_region),
        esc(&sc.scenario.dr_region),
        esc(&started),
        esc(&sc.tool.name),
        esc(&sc.tool.version)
    );

    // Verdicts at a glance.
    o.push_str("<section>\n<h2>Verdict</h2>\n<div class=\"cards\">\n");
    let m = &sc.measured;
    let rto_big = if m.recovered {
        opt(m.rto_s)
    } else {
        "not recovered".into()
    };
    card(
        &mut o,
        "RTO",
        &rto_big,
        &format!("target {} · {}", f(sc.targets.rto_s), margin(sc.margin.rto_s)),
        sc.verdict.rto.as_str(),
    );
    let rpo_sub = match &m.data_loss_note {
        Some(_) => format!("target {} · not measurable on this target", f(sc.targets.rpo_s)),
        None => format!("target {} · {}", f(sc.targets.rpo_s), margin(sc.margin.rpo_s)),
    };
    card(&mut o, "RPO", &opt(m.rpo_s), &rpo_sub, sc.verdict.rpo.as_str());
    if let Some(fb) = &sc.failback {
        let big = fb.duration_s.map_or("did not finish".to_string(), f);
        card(
            &mut o,
            "Failback",
            &big,
            &format!(
                "{} failed probes · {} writes lost after recovery",
                fb.failed_probes, m.lost_after_recovery
            ),
            sc.verdict.failback.as_str(),
        );
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
    } else if sc.verdict.rpo == RpoVerdict::Met {
        ("met", "WITHIN RPO")
    } else {
        ("missed", "BEYOND RPO")
    };
    card_with(
        &mut o,
        "Acknowledged writes",
        &loss_big,
        &format!(
            "of {} acknowledged · {} indeterminate",
            m.acked_writes, m.indeterminate_writes
        ),
        loss_v,
        loss_text,
    );
    o.push_str("</div>\n");
    findings_and_faults(&mut o, sc);
    o.push_str("</section>\n");

    // RTO and RPO against their targets.
    o.push_str("<section>\n<h2>RTO and RPO against their targets</h2>\n");
    o.push_str("<div class=\"legend\"><span><span class=\"sw\" style=\"background:var(--met)\"></span>met</span><span><span class=\"sw bad\"></span>missed</span><span><span class=\"ln dash\"></span>target</span></div>\n");
    o.push_str("<h3>RTO: from the fault to K consecutive good client probes</h3>\n");
    o.push_str(&svg::bar_vs_target(
        "RTO against its target",
        if m.recovered { m.rto_s } else { None },
        sc.targets.rto_s,
        sc.verdict.rto == RtoVerdict::Met,
        "not recovered before the drill horizon",
    ));
    o.push_str("<h3>RPO: how far before the fault acknowledged data was lost</h3>\n");
    o.push_str(&svg::bar_vs_target(
        "RPO against its target",
        m.rpo_s,
        sc.targets.rpo_s,
        sc.verdict.rpo == RpoVerdict::Met,
        "not measurable on this target",
    ));
    o.push_str("</section>\n");

    // Phase timeline.
    o.push_str("<section>\n<h2>Phase timeline</h2>\n");
    o.push_str("<div class=\"legend\"><span><span class=\"sw crit\"></span>critical path</span><span><span class=\"sw norm\"></span>off the critical path</span><span><span class=\"sw bad\"></span>step failed or timed out</span><span><span class=\"ln dash\"></span>RTO target</span><span><span class=\"ln rec\"></span>recovered (measured RTO)</span></div>\n");
    let mut markers = vec![Marker {
        at: sc.targets.rto_s,
        label: format!("RTO target {}", f(sc.targets.rto_s)),
        class: "target",
    }];
    if let (true, Some(r)) = (m.recovered, m.rto_s) {
        markers.push(Marker {
            at: r,
            label: format!("recovered {}", f(r)),
            class: if sc.verdict.rto == RtoVerdict::Met {
                "recovered"
            } else {
                "missedline"
            },
        });
    }
    o.push_str(&svg::gantt("Phase timeline", &phase_rows(sc), &markers));
    let path = if sc.critical_path.is_empty() {
        "no runbook step".to_string()
    } else {
        sc.critical_path.join(" → ")
    };
    let _ = writeln!(
        o,
        "<p class=\"caption\">Time from the fault (t = 0). Critical path through the runbook: <b>{}</b>.</p>",
        esc(&path)
    );
    o.push_str("</section>\n");

    // Steps.
    o.push_str("<section class=\"long\">\n<h2>Runbook steps</h2>\n");
    if sc.steps.is_empty() {
        o.push_str("<p>The scenario has no runbook steps: recovery was automatic.</p>\n");
    } else {
        steps_table(&mut o, &sc.steps, &sc.critical_path);
        o.push_str("<p class=\"caption\">Start and end are measured from the fault.</p>\n");
    }
    o.push_str("</section>\n");

    if let Some(fb) = &sc.failback {
        o.push_str("<section class=\"long\">\n<h2>Failback</h2>\n");
        let (t, class) = verdict(sc.verdict.failback.as_str());
        let _ = writeln!(
            o,
            "<p>Failback <span class=\"verdict {class}\">{t}</span>: started {} after the fault; {}; {} failed client probes during failback; {} writes the recovered service had acknowledged were lost.</p>",
            f(fb.start_s),
            match fb.duration_s {
                Some(d) if fb.completed => format!("completed in {}", f(d)),
                Some(d) => format!("finished in {} with failures", f(d)),
                None => "did not finish before the drill horizon".to_string(),
            },
            fb.failed_probes,
            m.lost_after_recovery
        );
        o.push_str("<div class=\"legend\"><span><span class=\"sw norm\"></span>rollback step</span><span><span class=\"sw bad\"></span>step failed or timed out</span></div>\n");
        let mut markers = Vec::new();
        if let Some(d) = fb.duration_s {
            markers.push(Marker {
                at: d,
                label: format!("failback finished {}", f(d)),
                class: if fb.completed { "recovered" } else { "missedline" },
            });
        }
        o.push_str(&svg::gantt(
            "Failback timeline",
            &step_rows(&fb.steps, fb.start_s, &[]),
            &markers,
        ));
        let _ = writeln!(
            o,
            "<p class=\"caption\">Time from the start of failback ({} after the fault).</p>",
            f(fb.start_s)
        );
        steps_table(&mut o, &fb.steps, &[]);
        o.push_str("</section>\n");
    }

    // Data loss.
    o.push_str("<section>\n<h2>Data loss</h2>\n");
    match &m.data_loss_note {
        Some(n) => {
            let _ = writeln!(
                o,
                "<p class=\"note\">Data loss was <b>not measurable</b> on this target: {}.</p>",
                esc(n)
            );
        }
        None => {
            o.push_str("<table>\n<tbody>\n");
            let rows = [
                ("acknowledged writes", m.acked_writes.to_string()),
                ("lost (acknowledged, missing after recovery)", m.lost_writes.to_string()),
                (
                    "indeterminate (connection broke in flight)",
                    m.indeterminate_writes.to_string(),
                ),
                (
                    "lost after recovery (acknowledged by the recovered service)",
                    m.lost_after_recovery.to_string(),
                ),
                ("RPO (measured)", opt(m.rpo_s)),
                ("RPO target", f(sc.targets.rpo_s)),
            ];
            for (k, v) in rows {
                let _ = writeln!(o, "<tr><th>{}</th><td class=\"num\">{}</td></tr>", esc(k), esc(&v));
            }
            o.push_str("</tbody>\n</table>\n");
            if m.lost_after_recovery > 0 {
                let _ = writeln!(
                    o,
                    "<p class=\"note bad\">{} writes acknowledged after recovery were lost (for example by a failback to a stale primary).</p>",
                    m.lost_after_recovery
                );
            }
        }
    }
    o.push_str("</section>\n");

    // How the target measured (emulator: what was modelled, provisioning, FIS).
    if !sc.notes.is_empty() {
        o.push_str("<section class=\"long\">\n<h2>How this target measured</h2>\n<ul>\n");
        for n in &sc.notes {
            o.push_str(&format!("<li>{}</li>\n", svg::esc(n)));
        }
        o.push_str("</ul>\n</section>\n");
    }

    // Environment.
    o.push_str("<section>\n<h2>Scenario and environment</h2>\n<dl class=\"env\">\n");
    let mut env: Vec<(&str, String)> = vec![
        ("scenario", name.clone()),
        ("file", sc.scenario.path.clone()),
        ("sha256", sc.scenario.sha256.clone()),
        ("strategy", sc.scenario.strategy.to_string()),
        (
            "regions",
            format!("{} → {}", sc.scenario.primary_region, sc.scenario.dr_region),
        ),
        ("target", sc.target.clone()),
        ("seed", sc.seed.to_string()),
    ];
    if let Some(s) = &sc.started_at {
        env.push(("started", s.clone()));
    }
    env.push(("tool", format!("{} {}", sc.tool.name, sc.tool.version)));
    if !sc.tool.locked_crates.is_empty() {
        env.push(("locked crates", sc.tool.locked_crates.join(", ")));
    }
    if !sc.models_overridden.is_empty() {
        env.push(("models set by the scenario", sc.models_overridden.join(", ")));
    }
    if let Some(c) = &sc.cost {
        let ratio = c
            .primary_monthly_usd
            .filter(|p| *p > 0.0)
            .map(|p| format!(" ({:.0}% of primary)", c.dr_monthly_usd / p * 100.0))
            .unwrap_or_default();
        env.push(("DR standing cost", format!("${:.0}/month{ratio}", c.dr_monthly_usd)));
    }
    for (k, v) in env {
        let mono = matches!(k, "file" | "sha256" | "locked crates");
        let _ = writeln!(
            o,
            "<dt>{}</dt><dd{}>{}</dd>",
            esc(k),
            if mono { " class=\"mono\"" } else { "" },
            esc(&v)
        );
    }
    o.push_str("</dl>\n</section>\n");

    // Timeline events: for the curious on screen; not printed.
    const MAX_EVENTS: usize = 2000;
    let _ = writeln!(
        o,
        "<details>\n<summary>Timeline events ({})</summary>\n<table>\n<thead><tr><th class=\"num\">t (drill clock)</th><th>event</th></tr></thead>\n<tbody>",
        sc.events.len()
    );
    for e in sc.events.iter().take(MAX_EVENTS) {
        let _ = writeln!(
            o,
            "<tr><td class=\"num\">{}</td><td class=\"wrap\">{}</td></tr>",
            match e.until_s {
                Some(u) => format!("{}–{}", f(e.t_s), f(u)),
                None => f(e.t_s),
            },
            esc(&e.event)
        );
    }
    if sc.events.len() > MAX_EVENTS {
        let _ = writeln!(
            o,
            "<tr><td></td><td>… {} more in scorecard.json</td></tr>",
            sc.events.len() - MAX_EVENTS
        );
    }
    o.push_str("</tbody>\n</table>\n</details>\n");
    let _ = writeln!(
        o,
        "<footer>Written by {} {} from a {} scorecard. Self-contained: no scripts, no network.</footer>",
        esc(&sc.tool.name),
        esc(&sc.tool.version),
        esc(&sc.schema)
    );
    page(&format!("Drill report: {name} ({overall})"), &o)
}

fn pct(p: &Probability) -> String {
    format!("{:.1}%", p.estimate * 100.0)
}

fn ci(p: &Probability) -> String {
    format!("95% CI [{:.1}%, {:.1}%]", p.ci95[0] * 100.0, p.ci95[1] * 100.0)
}

fn distribution(o: &mut String, what: &str, bins: &[(f64, f64, u64)], s: &Stats, target: f64) {
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
    o.push_str(&svg::histogram(
        &format!("{what} distribution"),
        bins,
        &knots,
        &markers,
        view_hi,
    ));
}

fn stats_row(o: &mut String, name: &str, s: &Stats, fmt: impl Fn(f64) -> String) {
    let _ = writeln!(
        o,
        "<tr><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        esc(name),
        fmt(s.p50),
        fmt(s.p90),
        fmt(s.p95),
        fmt(s.p99),
        fmt(s.mean),
        fmt(s.min),
        fmt(s.max)
    );
}

/// The Monte Carlo report.
pub fn montecarlo(mc: &MonteCarlo) -> String {
    let mut o = String::new();
    let name = &mc.scenario.name;
    o.push_str("<header>\n<p class=\"kicker\">drillbit · Monte Carlo report</p>\n");
    let _ = writeln!(o, "<h1>{}</h1>", esc(name));
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} simulated drills on <b>{}</b> · seed {} · strategy {} · {} {}</p>\n</header>",
        mc.runs,
        esc(mc.target),
        mc.seed,
        esc(mc.scenario.strategy),
        esc(&mc.tool.name),
        esc(&mc.tool.version)
    );

    o.push_str("<section>\n<h2>Probability of meeting the targets</h2>\n<div class=\"cards\">\n");
    let p95_verdict = |p95: f64, target: f64| {
        if p95 <= target {
            ("met", "P95 WITHIN TARGET")
        } else {
            ("missed", "P95 OVER TARGET")
        }
    };
    let (v, t) = p95_verdict(mc.rto_s.p95, mc.targets.rto_s);
    card_with(
        &mut o,
        "P(meet RTO)",
        &pct(&mc.p_meet_rto),
        &format!(
            "{} · target {} · p95 {}",
            ci(&mc.p_meet_rto),
            f(mc.targets.rto_s),
            f(mc.rto_s.p95)
        ),
        v,
        t,
    );
    let (v, t) = p95_verdict(mc.rpo_s.p95, mc.targets.rpo_s);
    card_with(
        &mut o,
        "P(meet RPO)",
        &pct(&mc.p_meet_rpo),
        &format!(
            "{} · target {} · p95 {}",
            ci(&mc.p_meet_rpo),
            f(mc.targets.rpo_s),
            f(mc.rpo_s.p95)
        ),
        v,
        t,
    );
    let (v, t) = if mc.p_meet_all.estimate >= 0.95 {
        ("met", "AT LEAST 95%")
    } else {
        ("missed", "BELOW 95%")
    };
    card_with(
        &mut o,
        "P(meet both)",
        &pct(&mc.p_meet_all),
        &format!(
            "{} · {} of {} runs",
            ci(&mc.p_meet_all),
            mc.p_meet_all.successes,
            mc.runs
        ),
        v,
        t,
    );
    let (v, t) = if mc.unrecovered_runs == 0 {
        ("met", "EVERY RUN RECOVERED")
    } else {
        ("missed", "SOME RUNS NEVER RECOVERED")
    };
    card_with(
        &mut o,
        "Unrecovered runs",
        &mc.unrecovered_runs.to_string(),
        "runs that never recovered before the drill horizon (their RTO counts as the horizon)",
        v,
        t,
    );
    o.push_str("</div>\n<p class=\"caption\">Green when the p95 is within the target (P(meet both): when it is at least 95%). Intervals are Wilson score intervals at 95%.</p>\n</section>\n");

    let legend = "<div class=\"legend\"><span><span class=\"sw hist\"></span>runs per bin</span><span><span class=\"ln cdf\"></span>cumulative share of runs (right axis)</span><span><span class=\"ln dash\"></span>target</span><span><span class=\"ln pct\"></span>percentiles</span></div>\n";
    o.push_str("<section>\n<h2>RTO distribution</h2>\n");
    o.push_str(legend);
    distribution(&mut o, "RTO", &mc.rto_histogram, &mc.rto_s, mc.targets.rto_s);
    let _ = writeln!(
        o,
        "<p class=\"caption\">{} runs in 40 equal-width bins over the observed range. P(RTO ≤ {}) = {} ({}).</p>",
        mc.runs,
        f(mc.targets.rto_s),
        pct(&mc.p_meet_rto),
        ci(&mc.p_meet_rto)
    );
    o.push_str("</section>\n<section>\n<h2>RPO distribution</h2>\n");
    o.push_str(legend);
    distribution(&mut o, "RPO", &mc.rpo_histogram, &mc.rpo_s, mc.targets.rpo_s);
    let _ = writeln!(
        o,
        "<p class=\"caption\">P(RPO ≤ {}) = {} ({}). A run that lost nothing has an RPO of 0.</p>",
        f(mc.targets.rpo_s),
        pct(&mc.p_meet_rpo),
        ci(&mc.p_meet_rpo)
    );
    o.push_str("</section>\n");

    o.push_str("<section>\n<h2>Percentiles</h2>\n<table>\n<thead><tr><th></th><th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">mean</th><th class=\"num\">min</th><th class=\"num\">max</th></tr></thead>\n<tbody>\n");
    stats_row(&mut o, "RTO", &mc.rto_s, f);
    stats_row(&mut o, "RPO", &mc.rpo_s, f);
    stats_row(&mut o, "lost writes", &mc.lost_writes, |x| format!("{x:.0}"));
    o.push_str("</tbody>\n</table>\n</section>\n");

    o.push_str("<section>\n<h2>Models</h2>\n<dl class=\"env\">\n");
    let list = |v: &[String], none: &str| if v.is_empty() { none.to_string() } else { v.join(", ") };
    let _ = writeln!(
        o,
        "<dt>fitted from measured drills</dt><dd>{}</dd>",
        esc(&list(&mc.models_fitted, "none (no --models file)"))
    );
    let _ = writeln!(
        o,
        "<dt>set by the scenario</dt><dd>{}</dd>",
        esc(&list(&mc.models_overridden, "none"))
    );
    let _ = writeln!(
        o,
        "<dt>steps on default models</dt><dd>{}</dd>",
        esc(&list(&mc.steps_on_default_models, "none"))
    );
    o.push_str("</dl>\n<p class=\"caption\">Default models cite their sources (<code>drillbit models</code>); fitted models come from <code>drillbit calibrate</code>.</p>\n</section>\n");

    if !mc.sensitivity.is_empty() {
        let _ = writeln!(
            o,
            "<section class=\"long\">\n<h2>Sensitivity of p95 RTO ({})</h2>\n<table>\n<thead><tr><th>knob</th><th class=\"num\">p95 halved</th><th class=\"num\">change</th><th class=\"num\">p95 doubled</th><th class=\"num\">change</th></tr></thead>\n<tbody>",
            f(mc.rto_s.p95)
        );
        let signed = |d: f64| {
            if d >= 0.0 {
                format!("+{}", f(d))
            } else {
                format!("−{}", f(-d))
            }
        };
        for k in &mc.sensitivity {
            let _ = writeln!(
                o,
                "<tr><td class=\"wrap\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&k.knob),
                f(k.p95_rto_s_halved),
                signed(k.delta_halved_s),
                f(k.p95_rto_s_doubled),
                signed(k.delta_doubled_s)
            );
        }
        o.push_str("</tbody>\n</table>\n<p class=\"caption\">Each knob halved and doubled with the same seed and runs; largest effect first.</p>\n</section>\n");
    }

    o.push_str("<section>\n<h2>Scenario and environment</h2>\n<dl class=\"env\">\n");
    let env: Vec<(&str, String, bool)> = vec![
        ("scenario", name.clone(), false),
        ("file", mc.scenario.path.clone(), true),
        ("sha256", mc.scenario.sha256.clone(), true),
        ("strategy", mc.scenario.strategy.to_string(), false),
        ("target", mc.target.to_string(), false),
        ("runs", mc.runs.to_string(), false),
        ("seed", format!("{} (run i uses stream i)", mc.seed), false),
        ("tool", format!("{} {}", mc.tool.name, mc.tool.version), false),
        ("locked crates", mc.tool.locked_crates.join(", "), true),
    ];
    for (k, v, mono) in env {
        let _ = writeln!(
            o,
            "<dt>{}</dt><dd{}>{}</dd>",
            esc(k),
            if mono { " class=\"mono\"" } else { "" },
            esc(&v)
        );
    }
    o.push_str("</dl>\n</section>\n");
    let _ = writeln!(
        o,
        "<footer>Written by {} {} from a {} summary. Self-contained: no scripts, no network.</footer>",
        esc(&mc.tool.name),
        esc(&mc.tool.version),
        esc(mc.schema)
    );
    page(&format!("Monte Carlo: {name}"), &o)
}

fn drill_title(d: &crate::trend::Drill) -> String {
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

/// The trend report over past drills.
pub fn trend(t: &Trend) -> String {
    let mut o = String::new();
    o.push_str("<header>\n<p class=\"kicker\">drillbit · drill trend</p>\n");
    let _ = writeln!(o, "<h1>Drill trend as of {}</h1>", timestamp::format_date(t.as_of));
    let later = if t.later > 0 {
        format!(" · {} drills after this date left out", t.later)
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} drills of {} scenarios from {}{}</p>\n</header>",
        t.drills(),
        t.scenarios.len(),
        esc(&t.inputs.join(", ")),
        later
    );
    o.push_str("<section>\n<h2>Summary</h2>\n<div class=\"cards\">\n");
    let (v, text) = if t.regressions() == 0 {
        ("met", "NO REGRESSION")
    } else {
        ("missed", "REGRESSIONS FLAGGED")
    };
    card_with(
        &mut o,
        "Regressions",
        &t.regressions().to_string(),
        &format!(
            "drills that regressed from the previous drill (RTO threshold {:.0}%)",
            t.rto_threshold * 100.0
        ),
        v,
        text,
    );
    let (v, text) = if t.overdue() == 0 {
        ("met", "ALL FRESH")
    } else {
        ("missed", "DRILLS OVERDUE")
    };
    card_with(
        &mut o,
        "Overdue scenarios",
        &t.overdue().to_string(),
        "no passing drill within the schedule",
        v,
        text,
    );
    o.push_str("</div>\n</section>\n");

    o.push_str("<section>\n<h2>Freshness</h2>\n<table>\n<thead><tr><th>scenario</th><th>schedule</th><th>last passing drill</th><th class=\"num\">days since</th><th>status</th></tr></thead>\n<tbody>\n");
    for s in &t.scenarios {
        let last = s.last_pass.map(|i| &s.drills[i]);
        let _ = writeln!(
            o,
            "<tr><td class=\"wrap\"><b>{}</b></td><td>{} ({} days)</td><td>{}</td><td class=\"num\">{}</td><td><span class=\"verdict {}\">{}</span></td></tr>",
            esc(&s.name),
            esc(s.cadence.name),
            s.cadence.days,
            last.map_or("never".to_string(), |d| esc(&format!(
                "{} on {}",
                timestamp::format_date(d.at),
                d.target
            ))),
            s.days_since_pass.map_or("n/a".to_string(), |d| d.to_string()),
            if s.overdue { "missed" } else { "met" },
            if s.overdue { "OVERDUE" } else { "FRESH" }
        );
    }
    o.push_str("</tbody>\n</table>\n<p class=\"caption\">The seed's schedule: quarterly failover drill (92 days), monthly restore verification (31 days) for backup-and-restore scenarios and runbooks that restore data, weekly health check (7 days) for scenarios named <code>*health-check*</code>; <code>--schedule NAME=CADENCE</code> overrides it. A drill on any target counts.</p>\n</section>\n");

    let _ = writeln!(
        o,
        "<section>\n<h2>How regressions are flagged</h2>\n<p>A drill is compared with the previous drill of the same scenario on the same target. It is a regression when it misses the RTO or RPO target that drill met, when its failback failed where that one's succeeded, or when its RTO is more than {:.0}% worse.</p>\n</section>",
        t.rto_threshold * 100.0
    );

    for s in &t.scenarios {
        o.push_str("<section class=\"long\">\n");
        let _ = writeln!(
            o,
            "<h2>{} <span class=\"meta\">{} · {} drill{}</span></h2>",
            esc(&s.name),
            esc(&s.strategy),
            s.drills.len(),
            if s.drills.len() == 1 { "" } else { "s" }
        );
        o.push_str("<div class=\"legend\"><span><span class=\"sw\" style=\"background:var(--met);border-radius:7px;width:10px\"></span>target met</span><span><b class=\"missed\">✕</b> target missed</span><span><b class=\"missed\">◯</b> regression</span><span><span class=\"ln dash\"></span>target (latest drill)</span></div>\n");
        let latest = s.drills.last();
        let rto_pts: Vec<svg::Point> = s
            .drills
            .iter()
            .map(|d| svg::Point {
                t: d.at,
                v: d.rto,
                met: d.rto_met,
                regression: !d.regressions.is_empty(),
                title: drill_title(d),
            })
            .collect();
        let rpo_pts: Vec<svg::Point> = s
            .drills
            .iter()
            .map(|d| svg::Point {
                t: d.at,
                v: d.rpo,
                met: d.rpo_verdict != RpoVerdict::Missed,
                regression: d.regressions.iter().any(|r| r.starts_with("RPO")),
                title: drill_title(d),
            })
            .collect();
        o.push_str("<h3>RTO per drill</h3>\n");
        o.push_str(&svg::time_series(
            &format!("RTO of {} over time", s.name),
            &rto_pts,
            latest.map_or(0.0, |d| d.rto_target),
        ));
        o.push_str("<h3>RPO per drill</h3>\n");
        o.push_str(&svg::time_series(
            &format!("RPO of {} over time", s.name),
            &rpo_pts,
            latest.map_or(0.0, |d| d.rpo_target),
        ));
        o.push_str("<table>\n<thead><tr><th>started</th><th>target</th><th class=\"num\">seed</th><th class=\"num\">RTO</th><th class=\"num\">RTO target</th><th class=\"num\">RPO</th><th class=\"num\">RPO target</th><th>verdict</th><th>regression</th><th>scorecard</th></tr></thead>\n<tbody>\n");
        for d in s.drills.iter().rev() {
            let (v, class) = verdict(if d.passed { "pass" } else { "fail" });
            let when = match d.time_source {
                TimeSource::Scorecard => timestamp::format_human(d.at),
                TimeSource::FileTime => format!("{} (file time)", timestamp::format_human(d.at)),
            };
            let reg = if d.regressions.is_empty() {
                String::new()
            } else {
                format!(
                    "<span class=\"verdict missed\">REGRESSION</span><br>{}",
                    d.regressions.iter().map(|r| esc(r)).collect::<Vec<_>>().join("<br>")
                )
            };
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><span class=\"verdict {class}\">{v}</span></td><td>{reg}</td><td class=\"mono path\">{}</td></tr>",
                esc(&when),
                esc(&d.target),
                d.seed,
                if d.rto.is_none() { "not recovered".into() } else { opt(d.rto) },
                f(d.rto_target),
                opt(d.rpo),
                f(d.rpo_target),
                esc(&d.file.display().to_string())
            );
        }
        o.push_str("</tbody>\n</table>\n<p class=\"caption\">Newest first.</p>\n</section>\n");
    }
    let _ = writeln!(
        o,
        "<footer>Written by drillbit {}. Self-contained: no scripts, no network.</footer>",
        esc(env!("CARGO_PKG_VERSION"))
    );
    page(&format!("Drill trend as of {}", timestamp::format_date(t.as_of)), &o)
}
