//! What the HTML and the Markdown reports both say, written once so that they say it alike:
//! the failback sentence, the DR cost, the measured RTO, probabilities and their intervals,
//! the trend's cells. Plain text; each report escapes or marks it up its own way.

use crate::montecarlo::Probability;
use crate::scenario::duration::format_secs as f;
use crate::scenario::Cost;
use crate::scorecard::{FailbackOut, Measured};
use crate::timestamp;
use crate::trend::{Drill, ScenarioTrend, TimeSource, Trend};

/// A duration, or `n/a`.
pub fn opt(x: Option<f64>) -> String {
    x.map_or("n/a".into(), f)
}

/// The measured RTO, or `not recovered` when the service never recovered.
pub fn measured_rto(m: &Measured) -> String {
    if m.recovered {
        opt(m.rto_s)
    } else {
        "not recovered".into()
    }
}

/// The failback after the word "started": when it began, how it ended, what it cost.
pub fn failback(fb: &FailbackOut, lost_after_recovery: u64) -> String {
    format!(
        "{} after the fault; {}; {} failed client probes during failback; {} writes the recovered service had acknowledged were lost.",
        f(fb.start_s),
        match fb.duration_s {
            Some(d) if fb.completed => format!("completed in {}", f(d)),
            Some(d) => format!("finished in {} with failures", f(d)),
            None => "did not finish before the drill horizon".to_string(),
        },
        fb.failed_probes,
        lost_after_recovery
    )
}

/// The DR side's standing cost, with its share of the primary's when that is known.
pub fn cost(c: &Cost) -> String {
    let ratio = c
        .primary_monthly_usd
        .filter(|p| *p > 0.0)
        .map(|p| format!(" ({:.0}% of primary)", c.dr_monthly_usd / p * 100.0))
        .unwrap_or_default();
    format!("${:.0}/month{ratio}", c.dr_monthly_usd)
}

/// A probability's estimate, as a percentage.
pub fn percent(p: &Probability) -> String {
    format!("{:.1}%", p.estimate * 100.0)
}

/// A probability's 95% interval, as percentages in brackets.
pub fn interval(p: &Probability) -> String {
    format!("[{:.1}%, {:.1}%]", p.ci95[0] * 100.0, p.ci95[1] * 100.0)
}

/// When a drill in the trend started, and whether that is only its file's time.
pub fn drill_started(d: &Drill) -> String {
    match d.time_source {
        TimeSource::Scorecard => timestamp::format_human(d.at),
        TimeSource::FileTime => format!("{} (file time)", timestamp::format_human(d.at)),
    }
}

/// A trend drill's RTO, or `not recovered`.
pub fn drill_rto(d: &Drill) -> String {
    match d.rto {
        None => "not recovered".into(),
        rto => opt(rto),
    }
}

/// A scenario's last passing drill in the trend: its date and target, or `never`.
pub fn last_pass(s: &ScenarioTrend) -> String {
    s.last_pass
        .map(|i| &s.drills[i])
        .map_or("no real drill passed".to_string(), |d| {
            format!("{} on {}", timestamp::format_date(d.at), d.target)
        })
}

/// A scenario's health checks in words: the last ready real check and how long ago, or why
/// none counts.
pub fn health_line(h: &crate::trend::Health) -> String {
    let last = h.last_ready.map(|i| &h.checks[i]);
    let real = h
        .checks
        .iter()
        .filter(|c| c.kind == crate::scorecard::DrillKind::Real)
        .count();
    match last {
        Some(c) => format!(
            "last ready real check {} ({} days ago); {}, {real} real",
            timestamp::format_date(c.at),
            h.days_since.unwrap_or(0),
            checks(h.checks.len())
        ),
        None if real > 0 => format!("no real check was ready; {}, {real} real", checks(h.checks.len())),
        None => format!(
            "no real check: checks of the emulator are rehearsals and do not count; {}",
            checks(h.checks.len())
        ),
    }
}

fn checks(n: usize) -> String {
    format!("{n} check{}", if n == 1 { "" } else { "s" })
}

/// How a drill is listed in a trend: its target and, unless real, its kind.
pub fn drill_target(d: &crate::trend::Drill) -> String {
    match d.kind {
        crate::scorecard::DrillKind::Real => format!("{} (real)", d.target),
        k => format!("{} ({})", d.target, k.as_str()),
    }
}

/// The trend's rules in one paragraph, the same in every rendering.
pub fn trend_rules(t: &Trend) -> String {
    format!(
        "Only a real drill (the aws target, or a local drill of a bound system) counts for \
         freshness; simulations and rehearsals (the emulator, drillbit's own local topology) \
         never do. A drill is compared with the previous drill of the same scenario on the same \
         target and of the same kind: it is a regression when it misses the RTO or RPO target \
         that drill met, when its failback failed where that one's succeeded, or when its RTO is \
         more than {:.0}% worse. Simulated drills are not compared seed by seed (one seed against \
         another is noise): compare predictions by their distribution with `drillbit simulate` \
         and `drillbit compare`. Every drill's evidence is verified first; a drill whose \
         evidence fails or is missing is named and left out.",
        t.rto_threshold * 100.0
    )
}

/// How many drills the trend left out for starting after its date, if any.
pub fn left_out(t: &Trend) -> Option<String> {
    (t.later > 0).then(|| format!("{} drills after this date left out", t.later))
}

/// `target / measured (verdict)`.
fn objective(target: f64, measured: Option<f64>, missing: &str, verdict: &dyn std::fmt::Display) -> String {
    format!(
        "{} / {} ({verdict})",
        f(target),
        measured.map_or(missing.to_string(), f)
    )
}

/// What a drill did to the scenario's remediation items, one line each, for every rendering:
/// items opened, closed by this retest, and still open.
pub fn remediation_lines(r: &crate::scorecard::RemediationOut) -> Vec<String> {
    let mut out = Vec::new();
    for i in &r.opened {
        out.push(format!(
            "opened {} ({}): {}; owner {}, due {}",
            i.id, i.check, i.finding, i.owner, i.due
        ));
    }
    for i in &r.closed {
        out.push(format!("closed {} ({}): retest passed", i.id, i.check));
    }
    for i in &r.still_open {
        out.push(format!(
            "still open {} ({}): failed again; owner {}, due {}",
            i.id, i.check, i.owner, i.due
        ));
    }
    if out.is_empty() {
        out.push("no item opened or closed".into());
    }
    out
}

/// The drill record as (label, value) rows, for every rendering.
pub fn record_rows(sc: &crate::scorecard::Scorecard) -> Vec<(&'static str, String)> {
    let r = &sc.record;
    let none = |v: &[String]| {
        if v.is_empty() {
            "none recorded".to_string()
        } else {
            v.join(", ")
        }
    };
    vec![
        ("drill", format!("{} ({})", sc.drill_kind.as_str(), sc.drilled)),
        (
            "run by",
            if r.run_by.is_empty() {
                "not recorded".into()
            } else {
                r.run_by.clone()
            },
        ),
        (
            "approved by",
            match &r.approved_by {
                Some(w) => format!("{w} ({})", r.approval),
                None => "nobody recorded (give --approved-by)".into(),
            },
        ),
        (
            "started",
            sc.started_at.clone().unwrap_or_else(|| "not recorded".into()),
        ),
        ("systems", none(&r.scope.systems)),
        ("regions", none(&r.scope.regions)),
        ("accounts", none(&r.scope.accounts)),
        (
            "RTO objective / result",
            objective(sc.targets.rto_s, sc.measured.rto_s, "not recovered", &sc.verdict.rto),
        ),
        (
            "RPO objective / result",
            objective(sc.targets.rpo_s, sc.measured.rpo_s, "not measured", &sc.verdict.rpo),
        ),
        ("verdict", sc.verdict.overall.as_str().to_uppercase()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failback_sentence_says_how_it_ended() {
        let mut fb = crate::scorecard::FailbackOut {
            start_s: 90.0,
            end_s: Some(150.0),
            duration_s: Some(60.0),
            completed: true,
            failed_probes: 2,
            steps: Vec::new(),
        };
        assert_eq!(
            failback(&fb, 3),
            "1m 30s after the fault; completed in 1m 00s; 2 failed client probes during failback; 3 writes \
             the recovered service had acknowledged were lost."
        );
        fb.completed = false;
        assert!(failback(&fb, 0).contains("; finished in 1m 00s with failures;"));
        fb.duration_s = None;
        assert!(failback(&fb, 0).contains("; did not finish before the drill horizon;"));
    }
}
