//! Markdown renderings, suitable for a pull-request comment or an audit folder.

use std::fmt::Write;

use super::text::{self, opt};
use crate::montecarlo::{MonteCarlo, Probability, Stats};
use crate::scenario::duration::format_secs as f;
use crate::scorecard::{Scorecard, StepOutcome};

fn margin(x: Option<f64>) -> String {
    match x {
        Some(m) if m >= 0.0 => format!("+{}", f(m)),
        Some(m) => format!("-{}", f(-m)),
        None => "n/a".into(),
    }
}

/// One table for runbook and rollback steps alike.
fn steps_table(o: &mut String, steps: &[crate::scorecard::StepOut]) {
    let _ = writeln!(o, "| step | action | resource | start | end | outcome | attempts |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for s in steps {
        let outcome = match &s.detail {
            Some(d) if s.outcome != StepOutcome::Ok => format!("{} ({d})", s.outcome),
            _ => s.outcome.to_string(),
        };
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} | {} | {} |",
            s.id,
            s.action,
            s.resource.as_deref().unwrap_or(""),
            opt(s.start_s),
            opt(s.end_s),
            outcome,
            s.attempts
        );
    }
}

pub fn scorecard(sc: &Scorecard) -> String {
    let mut o = String::new();
    let badge = sc.verdict.overall.as_str().to_uppercase();
    let _ = writeln!(o, "# Drill scorecard: {} ({badge})\n", sc.scenario.name);
    let _ = writeln!(o, "> **{}**  \n> Drilled: {}.\n", sc.drill_kind.banner(), sc.drilled);
    if let Some(p) = &sc.prediction {
        let _ = writeln!(o, "Beside the prediction: {}.\n", p.sentence());
    }
    if !sc.scenario.description.is_empty() {
        let _ = writeln!(o, "{}\n", sc.scenario.description);
    }
    let _ = writeln!(o, "| | target | measured | margin | verdict |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    let _ = writeln!(
        o,
        "| RTO | {} | {} | {} | {} |",
        f(sc.targets.rto_s),
        text::measured_rto(&sc.measured),
        margin(sc.margin.rto_s),
        sc.verdict.rto
    );
    let _ = writeln!(
        o,
        "| RPO | {} | {} | {} | {} |",
        f(sc.targets.rpo_s),
        opt(sc.measured.rpo_s),
        margin(sc.margin.rpo_s),
        sc.verdict.rpo
    );
    if !sc.findings.is_empty() {
        let _ = writeln!(o, "\nFindings:\n");
        for x in &sc.findings {
            let _ = writeln!(o, "- {x}");
        }
    }
    if let Some(by) = &sc.recovered_by {
        let _ = writeln!(o, "\nRecovered through {by}.");
    }
    if let Some(c) = sc.measured.time_to_full_capacity_s {
        let _ = writeln!(o, "Full capacity on the DR side after {}.", f(c));
    }
    if sc.measured.outages.len() > 1 {
        let _ = writeln!(o, "Outages (relapses): {}.", sc.measured.outages.len());
    }
    for x in &sc.faults {
        let effect = match (&x.effect, x.effect_s) {
            (Some(how), Some(t)) => format!("took effect at {}: {how}", f(t)),
            _ if x.disruptive => format!("showed no effect within {}", f(x.effect_within_s)),
            _ => "not disruptive".into(),
        };
        let _ = writeln!(
            o,
            "Fault `{}` ({}) injected at {}, {effect}.",
            x.id,
            x.kind,
            x.injected_s.map_or("never".into(), f)
        );
    }
    let _ = writeln!(
        o,
        "\nWrites: {} acknowledged, {} lost, {} indeterminate.",
        sc.measured.acked_writes, sc.measured.lost_writes, sc.measured.indeterminate_writes
    );
    for d in &sc.measured.datasets {
        let _ = writeln!(
            o,
            "{}: {} acknowledged, {} lost, RPO {}.",
            d.name,
            d.acked,
            d.lost,
            d.rpo_s
                .map_or("not measured".to_string(), crate::scenario::duration::format_secs)
        );
    }
    if let Some(n) = &sc.measured.data_loss_note {
        let _ = writeln!(o, "Data loss: {n}.");
    }
    let _ = writeln!(o, "\n## Phases (from the fault)\n");
    let _ = writeln!(o, "| phase | start | end | duration | critical |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for p in &sc.phases {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            p.name,
            f(p.start_s),
            f(p.end_s),
            f(p.end_s - p.start_s),
            if p.critical { "yes" } else { "" }
        );
    }
    let _ = writeln!(o, "\n## Runbook steps\n");
    steps_table(&mut o, &sc.steps);
    if let Some(fb) = &sc.failback {
        let _ = writeln!(
            o,
            "\n## Failback\n\nStarted {}\n",
            text::failback(fb, sc.measured.lost_after_recovery)
        );
        steps_table(&mut o, &fb.steps);
    }
    let path = if sc.critical_path.is_empty() {
        "(no runbook step)".to_string()
    } else {
        sc.critical_path.join(" -> ")
    };
    let _ = writeln!(o, "\nCritical path: {path}\n");
    let _ = writeln!(o, "## Drill record\n");
    for (k, v) in text::record_rows(sc) {
        let _ = writeln!(o, "- **{k}**: {v}");
    }
    let _ = writeln!(o, "\n### Deviations\n");
    if sc.record.deviations.is_empty() {
        let _ = writeln!(o, "None: every step ran as planned and every fault took effect.");
    }
    for d in &sc.record.deviations {
        let _ = writeln!(o, "- {d}");
    }
    let _ = writeln!(
        o,
        "\n### Lessons learned\n\n{}\n",
        sc.record.lessons.as_deref().unwrap_or("None recorded (`--notes`).")
    );
    if let Some(r) = &sc.remediation {
        let _ = writeln!(o, "### Remediation\n\nItems in `{}`:\n", r.file);
        for l in text::remediation_lines(r) {
            let _ = writeln!(o, "- {l}");
        }
        let _ = writeln!(o);
    }
    if !sc.notes.is_empty() {
        let _ = writeln!(o, "## How this target measured\n");
        for n in &sc.notes {
            let _ = writeln!(o, "- {n}");
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "## Environment\n");
    let _ = writeln!(o, "- target: `{}`, seed: {}", sc.target, sc.seed);
    let _ = writeln!(
        o,
        "- scenario: `{}` (sha256 `{}`)",
        sc.scenario.path, sc.scenario.sha256
    );
    let _ = writeln!(
        o,
        "- strategy: {}, {} -> {}",
        sc.scenario.strategy, sc.scenario.primary_region, sc.scenario.dr_region
    );
    let _ = writeln!(o, "- tool: {} {}", sc.tool.name, sc.tool.version);
    if let Some(c) = &sc.cost {
        let _ = writeln!(o, "- DR standing cost: {}", text::cost(c));
    }
    if !sc.models_overridden.is_empty() {
        let _ = writeln!(
            o,
            "- models overridden by the scenario: {}",
            sc.models_overridden.join(", ")
        );
    }
    o
}

pub fn montecarlo(mc: &MonteCarlo) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Monte Carlo: {} ({} runs, seed {})\n",
        mc.scenario.name, mc.runs, mc.seed
    );
    let _ = writeln!(
        o,
        "> **{}**  \n> A prediction from the scenario's timing models, not a measurement.\n",
        crate::scorecard::DrillKind::Simulated.banner()
    );
    let _ = writeln!(o, "| | target | p50 | p90 | p95 | p99 | max | P(meet) [95% CI] |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    let pm = |p: &Probability| format!("{} {}", text::percent(p), text::interval(p));
    let mut row = |name: &str, target: f64, r: &Stats, p: &Probability| {
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            f(target),
            f(r.p50),
            f(r.p90),
            f(r.p95),
            f(r.p99),
            f(r.max),
            pm(p)
        );
    };
    row("RTO", mc.targets.rto_s, &mc.rto_s, &mc.p_meet_rto);
    row("RPO", mc.targets.rpo_s, &mc.rpo_s, &mc.p_meet_rpo);
    let _ = writeln!(
        o,
        "\nP(meet both): {}. Runs that never recovered before the horizon: {}.",
        pm(&mc.p_meet_all),
        mc.unrecovered_runs
    );
    match &mc.gate {
        Some(g) => {
            let _ = writeln!(o, "\n**{}**", g.describe());
        }
        None => {
            let _ = writeln!(
                o,
                "\nNo gate applied (set `targets.confidence` or `simulate --require`)."
            );
        }
    }
    if !mc.models_fitted.is_empty() {
        let _ = writeln!(
            o,
            "\nFitted models (from measured drills): {}.",
            mc.models_fitted.join(", ")
        );
    }
    if !mc.sensitivity.is_empty() {
        let _ = writeln!(o, "\n## Sensitivity of p95 RTO ({})\n", f(mc.rto_s.p95));
        let _ = writeln!(o, "| knob | halved | doubled |");
        let _ = writeln!(o, "|---|---|---|");
        for k in &mc.sensitivity {
            let _ = writeln!(
                o,
                "| {} | {:+.1}s | {:+.1}s |",
                k.knob, k.delta_halved_s, k.delta_doubled_s
            );
        }
    }
    let _ = writeln!(
        o,
        "\nScenario `{}` (sha256 `{}`), {} {}.",
        mc.scenario.path, mc.scenario.sha256, mc.tool.name, mc.tool.version
    );
    o
}

/// The trend over past drills (`drillbit report trend`).
pub fn trend(t: &crate::trend::Trend) -> String {
    use crate::timestamp::format_date;
    let mut o = String::new();
    let _ = writeln!(o, "# Drill trend as of {}\n", format_date(t.as_of));
    let _ = writeln!(
        o,
        "{} drills of {} scenarios from {}{}. Regressions: {}. Overdue scenarios: {}.\n",
        t.drills(),
        t.scenarios.len(),
        t.inputs.join(", "),
        text::left_out(t).map_or(String::new(), |l| format!(" ({l})")),
        t.regressions(),
        t.overdue()
    );
    let _ = writeln!(o, "{}\n", text::trend_rules(t));
    if !t.excluded.is_empty() {
        let _ = writeln!(o, "## Left out: evidence does not verify\n");
        for (file, why) in &t.excluded {
            let _ = writeln!(o, "- `{}`: {}", file.display(), cell(why));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "## Freshness\n");
    let _ = writeln!(
        o,
        "| scenario | schedule | last passing real drill | days since | status |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|");
    for s in &t.scenarios {
        let _ = writeln!(
            o,
            "| {} | {} ({} days) | {} | {} | {} |",
            cell(&s.name),
            s.cadence.name,
            s.cadence.days,
            cell(&text::last_pass(s)),
            s.days_since_pass.map_or("n/a".to_string(), |d| d.to_string()),
            if s.overdue { "**OVERDUE**" } else { "fresh" }
        );
    }
    let health: Vec<_> = t
        .scenarios
        .iter()
        .filter_map(|s| Some((s, s.health.as_ref()?)))
        .collect();
    if !health.is_empty() {
        let _ = writeln!(o, "\n## Health checks (`drillbit check`, weekly)\n");
        let _ = writeln!(o, "| scenario | checks | status |");
        let _ = writeln!(o, "|---|---|---|");
        for (s, h) in health {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                cell(&s.name),
                cell(&text::health_line(h)),
                match (h.tracked, h.overdue) {
                    (false, _) => "not held to it",
                    (true, true) => "**OVERDUE**",
                    (true, false) => "fresh",
                }
            );
        }
    }
    for s in &t.scenarios {
        let _ = writeln!(o, "\n## {} ({})\n", cell(&s.name), cell(&s.strategy));
        let _ = writeln!(
            o,
            "| started | target | seed | RTO | RTO target | RPO | RPO target | verdict | regression |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
        for d in &s.drills {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                text::drill_started(d),
                cell(&text::drill_target(d)),
                d.seed,
                text::drill_rto(d),
                f(d.rto_target),
                opt(d.rpo),
                f(d.rpo_target),
                if d.passed { "pass" } else { "FAIL" },
                if d.regressions.is_empty() {
                    String::new()
                } else {
                    format!("**regression**: {}", cell(&d.regressions.join("; ")))
                }
            );
        }
    }
    o
}

/// The programme report in Markdown; `out_dir` is where it is written (evidence links are
/// relative to it).
pub fn programme(p: &crate::programme::Programme, out_dir: &std::path::Path) -> String {
    use crate::timestamp::{format_date, format_human};
    let mut o = String::new();
    let _ = writeln!(o, "# DR test programme as of {}\n", format_date(p.as_of));
    let _ = writeln!(
        o,
        "{} scenarios from {}. Overdue: {}. Open remediation: {} ({} past due). Left out (evidence does not verify): {}.{}\n",
        p.rows.len(),
        p.inputs.join(", "),
        p.overdue(),
        p.open_items(),
        p.overdue_items(),
        p.excluded.len(),
        if p.later > 0 {
            format!(" {} drills or checks after this date left out.", p.later)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        "Only real drills count (the aws target, or a local drill of a bound production system); \
         rehearsals and simulations never make a scenario fresh. Every drill's evidence was verified \
         before it was counted.\n"
    );
    let _ = writeln!(o, "## Scenarios\n");
    let _ = writeln!(
        o,
        "| scenario | latest real drill | RTO / objective | RPO / objective | verdict | schedule | days since a pass | status | health check | open items | evidence (manifest sha256) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &p.rows {
        let (latest, rto, rpo, verdict, evidence) = match &r.latest_real {
            Some(e) => {
                let d = &e.drill;
                (
                    format!("{} on {}", format_human(d.at), d.target),
                    format!(
                        "{} / {} ({})",
                        d.rto.map_or("not recovered".into(), f),
                        f(d.rto_target),
                        if d.rto_met { "met" } else { "missed" }
                    ),
                    format!(
                        "{} / {} ({})",
                        opt(d.rpo),
                        f(d.rpo_target),
                        d.rpo_verdict.as_str().replace('_', " ")
                    ),
                    if d.passed { "pass" } else { "**FAIL**" }.to_string(),
                    if e.manifest_sha256.is_empty() {
                        "manifest unreadable".to_string()
                    } else {
                        format!(
                            "[manifest]({}) `{}`",
                            crate::report::html::link(out_dir, &e.manifest),
                            e.manifest_sha256
                        )
                    },
                )
            }
            None => (
                "no real drill found".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} ({} days) | {} | {} | {} | {}{} | {} |",
            cell(&r.scenario),
            latest,
            rto,
            rpo,
            verdict,
            r.cadence.name,
            r.cadence.days,
            r.days_since_pass.map_or("never".into(), |d| d.to_string()),
            if r.overdue { "**OVERDUE**" } else { "fresh" },
            match &r.health {
                Some((line, true)) => format!("{} **OVERDUE**", cell(line)),
                Some((line, false)) => cell(line),
                None => "not held to one".into(),
            },
            r.open_items,
            if r.overdue_items > 0 {
                format!(" (**{} past due**)", r.overdue_items)
            } else {
                String::new()
            },
            evidence
        );
    }
    let (open, closed): (Vec<_>, Vec<_>) = p.items.iter().partition(|i| i.item.status.is_active());
    let _ = writeln!(o, "\n## Open remediation\n");
    if open.is_empty() {
        let _ = writeln!(o, "None open.");
    } else {
        let _ = writeln!(
            o,
            "| id | scenario | check | finding | owner | opened | due | status | kept in |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
        for i in &open {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | {} | {} | {} | {} | {} | `{}` |",
                cell(&i.item.id),
                cell(&i.scenario),
                cell(&i.item.check),
                cell(&i.item.finding),
                cell(&i.item.owner),
                cell(&i.item.opened),
                cell(&i.item.due),
                crate::programme::status_word(i),
                cell(&i.file.display().to_string())
            );
        }
    }
    let _ = writeln!(o, "\n### Closed and accepted (retests)\n");
    if closed.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        let _ = writeln!(
            o,
            "| id | scenario | check | finding | opened | status | closed | closed by the drill in |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
        for i in &closed {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | {} | {} | {} | {} | `{}` |",
                cell(&i.item.id),
                cell(&i.scenario),
                cell(&i.item.check),
                cell(&i.item.finding),
                cell(&i.item.opened),
                crate::programme::status_word(i),
                cell(i.item.closed.as_deref().unwrap_or("")),
                cell(i.item.closed_in.as_deref().unwrap_or(""))
            );
        }
    }
    if !p.excluded.is_empty() {
        let _ = writeln!(o, "\n## Left out: evidence does not verify\n");
        for (file, why) in &p.excluded {
            let _ = writeln!(o, "- `{}`: {}", file.display(), cell(why));
        }
    }
    let _ = writeln!(o, "\n## Controls\n");
    let _ = writeln!(o, "| framework | control | asks for | shown here by |");
    let _ = writeln!(o, "|---|---|---|---|");
    for c in crate::programme::CONTROLS {
        let _ = writeln!(o, "| {} | {} | {} | {} |", c.framework, c.control, c.asks, c.shown_by);
    }
    let _ = writeln!(
        o,
        "\nA mapping of what this report shows to what each control asks for as DR test evidence; it is not an assessment of compliance."
    );
    o
}

/// Text for a Markdown table cell: no pipe or line break may end the cell early.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}
