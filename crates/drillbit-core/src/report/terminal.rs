//! The short human summary printed after a drill or a Monte Carlo batch.

use std::fmt::Write;

use crate::montecarlo::MonteCarlo;
use crate::scenario::duration::format_secs as f;
use crate::scorecard::{Scorecard, StepOutcome};

pub fn drill(sc: &Scorecard) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "drill {} on {} (seed {}): {}",
        sc.scenario.name,
        sc.target,
        sc.seed,
        sc.verdict.overall.as_str().to_uppercase()
    );
    let _ = writeln!(o, "  {}", sc.drill_kind.banner());
    let rto = match sc.measured.rto_s {
        Some(r) => f(r),
        None => "not recovered".into(),
    };
    let _ = writeln!(
        o,
        "  RTO {rto:>12}  target {:>10}  {}",
        f(sc.targets.rto_s),
        sc.verdict.rto
    );
    let rpo = sc.measured.rpo_s.map_or("n/a".to_string(), f);
    let _ = writeln!(
        o,
        "  RPO {rpo:>12}  target {:>10}  {}  ({} of {} acknowledged writes lost)",
        f(sc.targets.rpo_s),
        sc.verdict.rpo,
        sc.measured.lost_writes,
        sc.measured.acked_writes
    );
    for d in &sc.measured.datasets {
        let _ = writeln!(
            o,
            "  RPO {:>12}  of {}  ({} of {} acknowledged writes lost)",
            d.rpo_s.map_or("n/a".to_string(), f),
            d.name,
            d.lost,
            d.acked
        );
    }
    for p in sc.phases.iter().filter(|p| !p.name.starts_with("step:")) {
        let _ = writeln!(o, "  {:<16} {:>10}", p.name, f(p.end_s - p.start_s));
    }
    if !sc.critical_path.is_empty() {
        let _ = writeln!(o, "  critical path: {}", sc.critical_path.join(" -> "));
    }
    if let Some(p) = &sc.prediction {
        let _ = writeln!(o, "  prediction: {}", p.sentence());
    }
    if let (Some(c), true) = (sc.measured.time_to_full_capacity_s, sc.measured.recovered) {
        let _ = writeln!(o, "  full capacity  {:>10}", f(c));
    }
    for x in sc.faults.iter().filter(|x| x.disruptive) {
        match (&x.effect, x.effect_s, x.injected_s) {
            (Some(how), Some(e), Some(i)) => {
                let _ = writeln!(o, "  fault {} took effect {} after injection: {how}", x.id, f(e - i));
            }
            (_, _, Some(_)) => {
                let _ = writeln!(o, "  fault {} showed NO effect within {}", x.id, f(x.effect_within_s));
            }
            _ => {
                let _ = writeln!(o, "  fault {} was never injected", x.id);
            }
        }
    }
    for x in &sc.findings {
        let _ = writeln!(o, "  finding: {x}");
    }
    if let Some(r) = &sc.remediation {
        for l in crate::report::text::remediation_lines(r) {
            let _ = writeln!(o, "  remediation: {l}");
        }
    }
    if let Some(fb) = &sc.failback {
        let d = fb.duration_s.map_or("did not finish".to_string(), f);
        let _ = writeln!(
            o,
            "  failback {d}  {}  ({} failed probes, {} writes acknowledged after recovery lost)",
            if fb.completed { "ok" } else { "FAILED" },
            fb.failed_probes,
            sc.measured.lost_after_recovery
        );
        for s in fb.steps.iter().filter(|s| s.outcome != StepOutcome::Ok) {
            let detail = s.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
            let _ = writeln!(o, "  rollback step {} {}{detail}", s.id, s.outcome);
        }
    }
    for s in sc.steps.iter().filter(|s| s.outcome != StepOutcome::Ok) {
        let _ = writeln!(
            o,
            "  step {} {}{}",
            s.id,
            s.outcome,
            s.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        );
    }
    o
}

pub fn montecarlo(mc: &MonteCarlo) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "monte carlo {}: {} runs, seed {}",
        mc.scenario.name, mc.runs, mc.seed
    );
    let _ = writeln!(
        o,
        "  RTO p50 {}  p95 {}  p99 {}  target {}  P(meet) {:.1}% [{:.1}%, {:.1}%]",
        f(mc.rto_s.p50),
        f(mc.rto_s.p95),
        f(mc.rto_s.p99),
        f(mc.targets.rto_s),
        mc.p_meet_rto.estimate * 100.0,
        mc.p_meet_rto.ci95[0] * 100.0,
        mc.p_meet_rto.ci95[1] * 100.0
    );
    let _ = writeln!(
        o,
        "  RPO p50 {}  p95 {}  p99 {}  target {}  P(meet) {:.1}% [{:.1}%, {:.1}%]",
        f(mc.rpo_s.p50),
        f(mc.rpo_s.p95),
        f(mc.rpo_s.p99),
        f(mc.targets.rpo_s),
        mc.p_meet_rpo.estimate * 100.0,
        mc.p_meet_rpo.ci95[0] * 100.0,
        mc.p_meet_rpo.ci95[1] * 100.0
    );
    let _ = writeln!(
        o,
        "  P(meet both) {:.1}%; unrecovered runs {}",
        mc.p_meet_all.estimate * 100.0,
        mc.unrecovered_runs
    );
    if let Some(g) = &mc.gate {
        let _ = writeln!(o, "  {}", g.describe());
    }
    if !mc.models_fitted.is_empty() {
        let _ = writeln!(o, "  fitted models: {}", mc.models_fitted.join(", "));
        let _ = writeln!(
            o,
            "  steps on default models: {}",
            mc.steps_on_default_models.join(", ")
        );
    }
    if !mc.sensitivity.is_empty() {
        let _ = writeln!(
            o,
            "  sensitivity of p95 RTO ({}), largest effect first:",
            f(mc.rto_s.p95)
        );
        for k in &mc.sensitivity {
            let sign = |d: f64| {
                if d >= 0.0 {
                    format!("+{}", f(d))
                } else {
                    format!("-{}", f(-d))
                }
            };
            let _ = writeln!(
                o,
                "    {:<48} halved {:>12}   doubled {:>12}",
                k.knob,
                sign(k.delta_halved_s),
                sign(k.delta_doubled_s)
            );
        }
    }
    o
}

/// Text safe to show on a terminal: control characters (C0 but newline and tab, DEL, C1) and
/// the bidirectional overrides that reorder what a reader sees are shown as `\u{..}` escapes,
/// so a scenario, a file name or a command's output cannot move the cursor, retitle the
/// window or hide text.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            o.extend(c.escape_unicode());
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

#[cfg(test)]
mod safe_tests {
    use super::terminal_safe;

    #[test]
    fn control_characters_are_escaped_and_text_is_kept() {
        assert_eq!(terminal_safe("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(terminal_safe("a\u{1b}]0;owned\u{7}b"), "a\\u{1b}]0;owned\\u{7}b");
        assert_eq!(terminal_safe("x\ry\u{9b}z\u{202e}"), "x\\u{d}y\\u{9b}z\\u{202e}");
        assert_eq!(terminal_safe("ééé"), "ééé");
    }
}
