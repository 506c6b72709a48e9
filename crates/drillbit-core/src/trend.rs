//! The trend over past drills (`drillbit report trend`): reads every scorecard under some
//! directories, groups the drills by scenario, orders them by when they ran, flags
//! regressions and checks each scenario's drill freshness against the seed's test schedule.
//!
//! **Evidence.** Each drill's directory is verified as `drillbit verify` does (every file's
//! hash against its manifest, the signature when there is one). A drill whose evidence fails,
//! or that has none, is named and left out of everything below.
//!
//! **Regression.** A drill is compared with the previous drill of the same scenario *on the
//! same target and of the same kind* (a rehearsal says nothing about the last real drill). It
//! is flagged when it misses the RTO or RPO target that drill met, when its failback failed
//! where that one's succeeded, or when its RTO is worse than that drill's by more than the
//! threshold (20% by default). Simulated drills are not compared seed by seed: one seed's
//! figures against another's are noise. They are compared by the distribution each carries
//! (the 2,000 simulated drills `drillbit run` places every drill on): a regression when P(meet
//! RTO) fell with the two 95% Wilson intervals apart, or the predicted p95 RTO is worse by more
//! than the threshold.
//!
//! **Health checks.** `drillbit check` leaves a sealed readiness record; a ready check of the
//! production account (aws) is a real weekly health check. A scenario is held to it once it
//! has a real check (or its schedule is the weekly health check, which a ready real check
//! satisfies as a passing drill would); rehearsal checks are listed and never count.
//!
//! **Freshness.** Days from the last passing *real* drill (the aws target, or a local drill of
//! a bound system; never a simulation or a rehearsal) to the report date, against
//! the seed's schedule: a monthly (31 days) restore verification for backup-and-restore
//! scenarios and scenarios whose runbook restores data; a weekly (7 days) health check for
//! scenarios named `*health-check*`; a quarterly (92 days) failover drill for the rest.
//! `--schedule NAME=CADENCE` overrides it per scenario. A scenario with no passing drill is
//! overdue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::scenario::duration::format_secs;
use crate::scorecard::{DrillKind, FailbackVerdict, Overall, Recorded, RpoVerdict, RtoVerdict};
use crate::timestamp;

/// Default RTO regression threshold: 20% worse than the previous drill.
pub const DEFAULT_RTO_THRESHOLD: f64 = 0.20;

/// How often a scenario must pass a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub name: &'static str,
    pub days: u32,
}

pub const QUARTERLY_FAILOVER: Cadence = Cadence {
    name: "quarterly failover drill",
    days: 92,
};
pub const MONTHLY_RESTORE: Cadence = Cadence {
    name: "monthly restore verification",
    days: 31,
};
pub const WEEKLY_HEALTH_CHECK: Cadence = Cadence {
    name: "weekly health check",
    days: 7,
};

/// `quarterly`, `monthly`, `weekly` or a number of days (`45d`, `45`).
pub fn parse_cadence(text: &str) -> Result<Cadence, String> {
    match text.trim() {
        "quarterly" => Ok(QUARTERLY_FAILOVER),
        "monthly" => Ok(MONTHLY_RESTORE),
        "weekly" => Ok(WEEKLY_HEALTH_CHECK),
        t => {
            let digits = t.strip_suffix('d').unwrap_or(t);
            match digits.parse::<u32>() {
                Ok(d) if d > 0 => Ok(Cadence {
                    name: "custom schedule",
                    days: d,
                }),
                _ => Err(format!(
                    "`{text}` is not a schedule: expected quarterly, monthly, weekly or a number of days like 45d"
                )),
            }
        }
    }
}

/// Where a drill's time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The scorecard's `started_at`.
    Scorecard,
    /// The file's modification time (scorecards written before `started_at` existed).
    FileTime,
}

/// One past drill, as the trend needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    pub file: PathBuf,
    pub scenario: String,
    pub strategy: String,
    pub target: String,
    pub kind: DrillKind,
    pub seed: u64,
    /// Seconds since the epoch.
    pub at: i64,
    pub time_source: TimeSource,
    pub rto_target: f64,
    pub rpo_target: f64,
    pub rto: Option<f64>,
    pub rpo: Option<f64>,
    pub rto_met: bool,
    pub rpo_verdict: RpoVerdict,
    pub failback: FailbackVerdict,
    pub passed: bool,
    /// The runbook restores data (a restore drill).
    pub restores: bool,
    /// Why this drill is a regression (empty: it is not).
    pub regressions: Vec<String>,
    /// Why its evidence does not verify (None: it does). Such a drill is left out.
    pub unverified: Option<String>,
    /// The simulated distribution beside it, when the scorecard has one.
    pub prediction: Option<crate::scorecard::PredictionOut>,
}

/// One `drillbit check` run, from its readiness record.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub file: PathBuf,
    pub scenario: String,
    pub target: String,
    pub kind: DrillKind,
    /// Seconds since the epoch.
    pub at: i64,
    pub ready: bool,
    pub drift: usize,
    pub items: usize,
    pub unverified: Option<String>,
}

/// A scenario's health checks against the weekly schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Oldest first.
    pub checks: Vec<Check>,
    /// Index into `checks` of the last ready real check.
    pub last_ready: Option<usize>,
    pub days_since: Option<i64>,
    /// Held to the weekly schedule: it has a real check, or its schedule is the health check.
    pub tracked: bool,
    pub overdue: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioTrend {
    pub name: String,
    pub strategy: String,
    /// Oldest first.
    pub drills: Vec<Drill>,
    pub cadence: Cadence,
    /// Index into `drills` of the last passing drill.
    pub last_pass: Option<usize>,
    /// Whole days (rounded down) from the last passing drill to the report date.
    pub days_since_pass: Option<i64>,
    pub overdue: bool,
    /// Its health checks, when it has any or is held to them.
    pub health: Option<Health>,
}

impl ScenarioTrend {
    /// Its drills or its tracked health checks are overdue.
    pub fn any_overdue(&self) -> bool {
        self.overdue || self.health.as_ref().is_some_and(|h| h.tracked && h.overdue)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// The report date (seconds since the epoch).
    pub as_of: i64,
    pub rto_threshold: f64,
    pub inputs: Vec<String>,
    pub scenarios: Vec<ScenarioTrend>,
    /// Drills left out because they started after `as_of`.
    pub later: usize,
    /// Drills and checks left out because their evidence does not verify: the file and why.
    pub excluded: Vec<(PathBuf, String)>,
}

impl Trend {
    pub fn drills(&self) -> usize {
        self.scenarios.iter().map(|s| s.drills.len()).sum()
    }
    pub fn regressions(&self) -> usize {
        self.scenarios
            .iter()
            .flat_map(|s| &s.drills)
            .filter(|d| !d.regressions.is_empty())
            .count()
    }
    /// Scenarios with drills or tracked health checks overdue.
    pub fn overdue(&self) -> usize {
        self.scenarios.iter().filter(|s| s.any_overdue()).count()
    }
    pub fn checks(&self) -> usize {
        self.scenarios
            .iter()
            .map(|s| s.health.as_ref().map_or(0, |h| h.checks.len()))
            .sum()
    }
}

/// Reads one scorecard ([`crate::scorecard::read_file`]) as a drill of the trend; every error
/// names the file.
pub fn read(file: &Path) -> Result<Drill, String> {
    let mut d = drill(file, crate::scorecard::read_file(file)?)?;
    d.unverified = evidence_problem(file);
    Ok(d)
}

/// Reads one readiness record ([`crate::readiness::read_file`]) as a health check.
pub fn read_check(file: &Path) -> Result<Check, String> {
    let r = crate::readiness::read_file(file)?;
    Ok(Check {
        file: file.to_path_buf(),
        scenario: r.scenario.name,
        target: r.target,
        kind: r.drill_kind,
        at: timestamp::parse(&r.started_at).unwrap_or(0),
        ready: r.ready,
        drift: r.drift,
        items: r.items.len(),
        unverified: evidence_problem(file),
    })
}

/// Why the evidence of the drill that wrote `scorecard` does not verify, or None when it does.
pub fn evidence_problem(scorecard: &Path) -> Option<String> {
    let dir = match scorecard.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if std::fs::symlink_metadata(dir.join(crate::evidence::MANIFEST)).is_err() {
        return Some("no evidence: its directory holds no manifest.json to verify it against".into());
    }
    let opts = crate::evidence::VerifyOptions {
        pub_key: None,
        chain: false,
        expect_head: None,
    };
    match crate::evidence::verify(dir, &opts) {
        Ok(reports) => {
            let findings: Vec<String> = reports.into_iter().flat_map(|r| r.findings).collect();
            (!findings.is_empty()).then(|| format!("evidence does not verify: {}", findings.join("; ")))
        }
        Err(e) => Some(format!("evidence could not be verified: {e}")),
    }
}

/// A scorecard read back, as the trend needs it: durations checked, the time it ran (from
/// `started_at`, or the file's modification time for scorecards written before it existed).
pub fn drill(file: &Path, v: Recorded) -> Result<Drill, String> {
    let finite = |x: f64, what: &str| {
        if x.is_finite() && x >= 0.0 {
            Ok(x)
        } else {
            Err(format!("{}: {what} is not a duration: {x}", file.display()))
        }
    };
    let rto_target = finite(v.targets.rto_s, "targets.rto_s")?;
    let rpo_target = finite(v.targets.rpo_s, "targets.rpo_s")?;
    let rto = v.measured.rto_s.map(|x| finite(x, "measured.rto_s")).transpose()?;
    let rpo = v.measured.rpo_s.map(|x| finite(x, "measured.rpo_s")).transpose()?;
    let (at, time_source) = match &v.started_at {
        Some(s) => (
            timestamp::parse(s).ok_or_else(|| {
                format!(
                    "{}: started_at `{s}` is not an RFC 3339 time like 2025-11-25T11:56:00Z",
                    file.display()
                )
            })?,
            TimeSource::Scorecard,
        ),
        None => {
            let m = std::fs::metadata(file)
                .and_then(|m| m.modified())
                .map_err(|e| format!("{}: no started_at and no file time: {e}", file.display()))?;
            let secs = match m.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => -(e.duration().as_secs() as i64),
            };
            (secs, TimeSource::FileTime)
        }
    };
    let kind = v.kind();
    Ok(Drill {
        file: file.to_path_buf(),
        scenario: v.scenario.name,
        strategy: v.scenario.strategy,
        kind,
        target: v.target,
        seed: v.seed,
        at,
        time_source,
        rto_target,
        rpo_target,
        rto,
        rpo,
        rto_met: v.verdict.rto == RtoVerdict::Met,
        rpo_verdict: v.verdict.rpo,
        failback: v.verdict.failback,
        passed: v.verdict.overall == Overall::Pass,
        restores: v
            .steps
            .iter()
            .any(|s| crate::scenario::Action::named(&s.action).is_some_and(|a| a.restores())),
        regressions: Vec::new(),
        unverified: None,
        prediction: v.prediction,
    })
}

/// The schedule a scenario is held to (see the module documentation).
pub fn cadence_for(name: &str, strategy: &str, drills: &[Drill]) -> Cadence {
    let lower = name.to_ascii_lowercase();
    if lower.contains("health-check") || lower.contains("healthcheck") {
        WEEKLY_HEALTH_CHECK
    } else if strategy == "backup-restore" || drills.iter().any(|d| d.restores) {
        MONTHLY_RESTORE
    } else {
        QUARTERLY_FAILOVER
    }
}

/// Why `cur` regresses from `prev` (the previous drill of the scenario on the same target).
pub fn regressions(prev: &Drill, cur: &Drill, rto_threshold: f64) -> Vec<String> {
    let mut out = Vec::new();
    if prev.rto_met && !cur.rto_met {
        out.push(match cur.rto {
            Some(r) => format!(
                "RTO target missed ({} against {}); the previous drill met it",
                format_secs(r),
                format_secs(cur.rto_target)
            ),
            None => "not recovered; the previous drill met the RTO target".to_string(),
        });
    }
    if prev.rpo_verdict == RpoVerdict::Met && cur.rpo_verdict == RpoVerdict::Missed {
        out.push(format!(
            "RPO target missed ({} against {}); the previous drill met it",
            cur.rpo.map_or("n/a".to_string(), format_secs),
            format_secs(cur.rpo_target)
        ));
    }
    if prev.failback == FailbackVerdict::Ok && cur.failback == FailbackVerdict::Failed {
        out.push("failback failed; the previous drill's succeeded".to_string());
    }
    if let (Some(p), Some(c)) = (prev.rto, cur.rto) {
        if p > 0.0 && c > p * (1.0 + rto_threshold) {
            out.push(format!(
                "RTO {:+.0}% against the previous drill ({} -> {}; threshold {:.0}%)",
                (c / p - 1.0) * 100.0,
                format_secs(p),
                format_secs(c),
                rto_threshold * 100.0
            ));
        }
    }
    out
}

/// Why simulated drill `cur` regresses from `prev`, by their distributions (see the module
/// documentation); nothing when either has none.
pub fn prediction_regressions(prev: &Drill, cur: &Drill, rto_threshold: f64) -> Vec<String> {
    let (Some(p), Some(c)) = (&prev.prediction, &cur.prediction) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let interval = |x: &crate::scorecard::PredictionOut| {
        let k = (x.p_meet_rto * x.runs as f64).round() as u64;
        crate::montecarlo::wilson(k.min(x.runs), x.runs)
    };
    let ((plo, _), (_, chi)) = (interval(p), interval(c));
    if chi < plo {
        out.push(format!(
            "predicted P(meet RTO) fell from {:.1}% to {:.1}% (95% intervals apart)",
            p.p_meet_rto * 100.0,
            c.p_meet_rto * 100.0
        ));
    }
    if p.p95_s > 0.0 && c.p95_s > p.p95_s * (1.0 + rto_threshold) {
        out.push(format!(
            "predicted p95 RTO {:+.0}% ({} -> {}; threshold {:.0}%)",
            (c.p95_s / p.p95_s - 1.0) * 100.0,
            format_secs(p.p95_s),
            format_secs(c.p95_s),
            rto_threshold * 100.0
        ));
    }
    out
}

/// Groups, orders and judges the drills. `schedules` overrides the cadence by scenario name.
/// Drills after `as_of` are left out (the report is as of that date); see [`Trend::later`].
pub fn analyze(
    drills: Vec<Drill>,
    as_of: i64,
    rto_threshold: f64,
    schedules: &BTreeMap<String, Cadence>,
    inputs: Vec<String>,
) -> Trend {
    analyze_with(drills, Vec::new(), as_of, rto_threshold, schedules, inputs)
}

/// [`analyze`] with the health checks of readiness records too.
pub fn analyze_with(
    drills: Vec<Drill>,
    checks: Vec<Check>,
    as_of: i64,
    rto_threshold: f64,
    schedules: &BTreeMap<String, Cadence>,
    inputs: Vec<String>,
) -> Trend {
    let mut by: BTreeMap<String, (Vec<Drill>, Vec<Check>)> = BTreeMap::new();
    let total = drills.len() + checks.len();
    let drills: Vec<Drill> = drills.into_iter().filter(|d| d.at <= as_of).collect();
    let checks: Vec<Check> = checks.into_iter().filter(|c| c.at <= as_of).collect();
    let later = total - drills.len() - checks.len();
    let mut excluded = Vec::new();
    for d in drills {
        match &d.unverified {
            Some(why) => excluded.push((d.file.clone(), why.clone())),
            None => by.entry(d.scenario.clone()).or_default().0.push(d),
        }
    }
    for c in checks {
        match &c.unverified {
            Some(why) => excluded.push((c.file.clone(), why.clone())),
            None => by.entry(c.scenario.clone()).or_default().1.push(c),
        }
    }
    let scenarios = by
        .into_iter()
        .map(|(name, (mut drills, mut checks))| {
            drills.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.file.cmp(&b.file)));
            for i in 0..drills.len() {
                let simulated = drills[i].kind == DrillKind::Simulated;
                // A simulation is compared with the last one that carries a distribution.
                let prev = (0..i).rev().find(|&j| {
                    drills[j].target == drills[i].target
                        && drills[j].kind == drills[i].kind
                        && (!simulated || drills[j].prediction.is_some())
                });
                if let Some(j) = prev {
                    let r = if simulated {
                        prediction_regressions(&drills[j], &drills[i], rto_threshold)
                    } else {
                        regressions(&drills[j], &drills[i], rto_threshold)
                    };
                    drills[i].regressions = r;
                }
            }
            // The strategy of the latest drill: a scenario may have changed strategy.
            let strategy = drills.last().map(|d| d.strategy.clone()).unwrap_or_default();
            let cadence = schedules
                .get(&name)
                .copied()
                .unwrap_or_else(|| cadence_for(&name, &strategy, &drills));
            let last_pass = drills.iter().rposition(|d| d.passed && d.kind == DrillKind::Real);
            let since = last_pass.map(|i| as_of - drills[i].at);
            let days_since_pass = since.map(|s| s.div_euclid(86_400));
            // Overdue by the clock, not by the rounded-down day count.
            let late = |since: Option<i64>, days: u32| since.is_none_or(|s| s > i64::from(days) * 86_400);
            let mut overdue = late(since, cadence.days);
            checks.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.file.cmp(&b.file)));
            let weekly = cadence == WEEKLY_HEALTH_CHECK;
            let health = (!checks.is_empty() || weekly).then(|| {
                let last_ready = checks.iter().rposition(|c| c.ready && c.kind == DrillKind::Real);
                let since = last_ready.map(|i| as_of - checks[i].at);
                let h_overdue = late(since, WEEKLY_HEALTH_CHECK.days);
                Health {
                    tracked: weekly || checks.iter().any(|c| c.kind == DrillKind::Real),
                    last_ready,
                    days_since: since.map(|s| s.div_euclid(86_400)),
                    overdue: h_overdue,
                    checks,
                }
            });
            // A health-check scenario is fresh from a ready real check as from a passing drill.
            if weekly && health.as_ref().is_some_and(|h| !h.overdue) {
                overdue = false;
            }
            let health = health.map(|mut h| {
                if weekly {
                    h.overdue = overdue;
                }
                h
            });
            ScenarioTrend {
                name,
                strategy,
                drills,
                cadence,
                last_pass,
                days_since_pass,
                overdue,
                health,
            }
        })
        .collect();
    Trend {
        as_of,
        rto_threshold,
        inputs,
        scenarios,
        later,
        excluded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(at_day: i64, rto: Option<f64>, rto_met: bool, rpo: RpoVerdict, passed: bool) -> Drill {
        Drill {
            file: PathBuf::from(format!("d{at_day}/scorecard.json")),
            scenario: "s".into(),
            strategy: "pilot-light".into(),
            target: "aws".into(),
            kind: DrillKind::Real,
            seed: 1,
            at: at_day * 86_400,
            time_source: TimeSource::Scorecard,
            rto_target: 100.0,
            rpo_target: 10.0,
            rto,
            rpo: Some(1.0),
            rto_met,
            rpo_verdict: rpo,
            failback: FailbackVerdict::NotRun,
            passed,
            restores: false,
            regressions: Vec::new(),
            unverified: None,
            prediction: None,
        }
    }

    fn check(at_day: i64, target: &str, ready: bool) -> Check {
        Check {
            file: PathBuf::from(format!("c{at_day}-{target}/readiness.json")),
            scenario: "s".into(),
            target: target.into(),
            kind: if target == "aws" {
                DrillKind::Real
            } else {
                DrillKind::Rehearsal
            },
            at: at_day * 86_400,
            ready,
            drift: usize::from(!ready),
            items: 3,
            unverified: None,
        }
    }

    #[test]
    fn real_ready_checks_count_for_the_weekly_health_check() {
        let quarterly = |checks| {
            analyze_with(
                vec![drill(1, Some(40.0), true, RpoVerdict::Met, true)],
                checks,
                10 * 86_400,
                0.2,
                &BTreeMap::new(),
                vec![],
            )
        };
        // Rehearsal checks only: listed, not held to a schedule.
        let t = quarterly(vec![check(9, "emulator", true)]);
        let h = t.scenarios[0].health.as_ref().expect("listed");
        assert!(!h.tracked && h.last_ready.is_none());
        assert_eq!(t.overdue(), 0);
        // A real check that found drift, 9 days ago: held to the weekly schedule, and overdue.
        let t = quarterly(vec![check(1, "aws", true), check(9, "aws", false)]);
        let h = t.scenarios[0].health.as_ref().expect("tracked");
        assert!(h.tracked && h.overdue, "{h:?}");
        assert_eq!((h.last_ready, h.days_since), (Some(0), Some(9)));
        assert_eq!(t.overdue(), 1);
        let t = quarterly(vec![check(1, "aws", false), check(5, "aws", true)]);
        assert_eq!(t.overdue(), 0);
        // A health-check scenario is fresh from a ready real check without any drill.
        let mut weekly = BTreeMap::new();
        weekly.insert("s".to_string(), WEEKLY_HEALTH_CHECK);
        let t = analyze_with(vec![], vec![check(8, "aws", true)], 10 * 86_400, 0.2, &weekly, vec![]);
        assert!(!t.scenarios[0].any_overdue(), "{:?}", t.scenarios[0]);
        let t = analyze_with(
            vec![],
            vec![check(8, "emulator", true)],
            10 * 86_400,
            0.2,
            &weekly,
            vec![],
        );
        assert!(t.scenarios[0].any_overdue());
    }

    #[test]
    fn simulations_are_compared_by_their_distributions() {
        let sim = |day: i64, p_meet: f64, p95: f64| {
            let mut d = drill(day, Some(40.0), true, RpoVerdict::Met, true);
            d.target = "sim".into();
            d.kind = DrillKind::Simulated;
            d.prediction = Some(crate::scorecard::PredictionOut {
                runs: 2000,
                seed: day as u64,
                percentile: 50.0,
                p50_s: p95 / 2.0,
                p95_s: p95,
                p_meet_rto: p_meet,
                models_overridden: vec![],
            });
            d
        };
        let t = analyze(
            vec![
                sim(1, 0.90, 100.0),
                // Seed noise: within the intervals and the threshold.
                sim(2, 0.89, 104.0),
                // The distribution moved: P(meet) down past the intervals, p95 up 50%.
                sim(3, 0.70, 156.0),
            ],
            5 * 86_400,
            0.2,
            &BTreeMap::new(),
            vec![],
        );
        let d = &t.scenarios[0].drills;
        assert!(d[1].regressions.is_empty(), "{:?}", d[1].regressions);
        assert_eq!(d[2].regressions.len(), 2, "{:?}", d[2].regressions);
        assert!(d[2].regressions[0].contains("89.0% to 70.0%"), "{:?}", d[2].regressions);
    }

    #[test]
    fn only_real_drills_count_and_simulations_are_not_compared_seed_by_seed() {
        let sim = |day: i64, rto: f64, met: bool| {
            let mut d = drill(day, Some(rto), met, RpoVerdict::Met, met);
            d.target = "sim".into();
            d.kind = DrillKind::Simulated;
            d
        };
        let mut rehearsal = drill(25, Some(90.0), true, RpoVerdict::Met, true);
        rehearsal.target = "local".into();
        rehearsal.kind = DrillKind::Rehearsal;
        let mut tampered = drill(28, Some(40.0), true, RpoVerdict::Met, true);
        tampered.unverified = Some("evidence does not verify: scorecard.json changed".into());
        let t = analyze(
            vec![
                drill(5, Some(40.0), true, RpoVerdict::Met, true),
                sim(10, 40.0, true),
                sim(20, 90.0, false),
                rehearsal,
                tampered,
            ],
            30 * 86_400,
            0.2,
            &BTreeMap::new(),
            vec![],
        );
        let s = &t.scenarios[0];
        assert_eq!(t.regressions(), 0, "seed noise and a rehearsal are no regression");
        assert_eq!(s.last_pass, Some(0), "the only real pass");
        assert_eq!(s.days_since_pass, Some(25));
        assert_eq!(t.excluded.len(), 1);
        assert_eq!(t.drills(), 4);
        let only_sim = analyze(vec![sim(1, 40.0, true)], 2 * 86_400, 0.2, &BTreeMap::new(), vec![]);
        assert!(
            only_sim.scenarios[0].overdue,
            "a simulation never makes a scenario fresh"
        );
    }

    #[test]
    fn flags_a_newly_missed_target_and_a_slower_rto() {
        let t = analyze(
            vec![
                drill(30, Some(50.0), true, RpoVerdict::Met, true),
                drill(10, Some(40.0), true, RpoVerdict::Met, true),
                drill(20, Some(40.0), true, RpoVerdict::Met, true),
                drill(40, Some(150.0), false, RpoVerdict::Missed, false),
                drill(50, Some(151.0), false, RpoVerdict::Missed, false),
            ],
            60 * 86_400,
            0.2,
            &BTreeMap::new(),
            vec![],
        );
        let s = &t.scenarios[0];
        let days: Vec<i64> = s.drills.iter().map(|d| d.at / 86_400).collect();
        assert_eq!(days, [10, 20, 30, 40, 50], "ordered by time");
        assert!(s.drills[1].regressions.is_empty(), "same RTO");
        assert_eq!(
            s.drills[2].regressions.len(),
            1,
            "+25% > 20%: {:?}",
            s.drills[2].regressions
        );
        assert_eq!(s.drills[3].regressions.len(), 3, "{:?}", s.drills[3].regressions);
        assert!(
            s.drills[4].regressions.is_empty(),
            "missed after missed is no regression"
        );
        assert_eq!(t.regressions(), 2);
        assert_eq!(s.last_pass, Some(2));
        assert_eq!(s.days_since_pass, Some(30));
        assert!(!s.overdue, "30 days against a quarterly schedule");
    }

    #[test]
    fn drills_after_the_report_date_are_left_out() {
        let t = analyze(
            vec![
                drill(10, Some(40.0), true, RpoVerdict::Met, true),
                drill(90, Some(40.0), true, RpoVerdict::Met, true),
            ],
            50 * 86_400,
            0.2,
            &BTreeMap::new(),
            vec![],
        );
        assert_eq!((t.drills(), t.later), (1, 1));
        assert_eq!(t.scenarios[0].days_since_pass, Some(40));
    }

    #[test]
    fn compares_only_drills_on_the_same_target() {
        let mut live = drill(20, Some(500.0), true, RpoVerdict::Met, true);
        live.target = "local".into();
        let t = analyze(
            vec![drill(10, Some(40.0), true, RpoVerdict::Met, true), live],
            21 * 86_400,
            0.2,
            &BTreeMap::new(),
            vec![],
        );
        assert!(t.scenarios[0].drills.iter().all(|d| d.regressions.is_empty()));
    }

    #[test]
    fn freshness_follows_the_schedule() {
        let mut restore = drill(0, Some(40.0), true, RpoVerdict::Met, true);
        restore.restores = true;
        let t = analyze(vec![restore], 32 * 86_400, 0.2, &BTreeMap::new(), vec![]);
        assert_eq!(t.scenarios[0].cadence, MONTHLY_RESTORE);
        assert!(t.scenarios[0].overdue, "32 days > 31");
        let never = analyze(
            vec![drill(0, None, false, RpoVerdict::Met, false)],
            86_400,
            0.2,
            &BTreeMap::new(),
            vec![],
        );
        assert!(never.scenarios[0].overdue && never.scenarios[0].last_pass.is_none());
        let mut weekly = BTreeMap::new();
        weekly.insert("s".to_string(), WEEKLY_HEALTH_CHECK);
        let t = analyze(
            vec![drill(0, Some(1.0), true, RpoVerdict::Met, true)],
            8 * 86_400,
            0.2,
            &weekly,
            vec![],
        );
        assert!(t.scenarios[0].overdue);
        assert_eq!(cadence_for("db-health-check", "pilot-light", &[]), WEEKLY_HEALTH_CHECK);
        assert_eq!(cadence_for("x", "backup-restore", &[]), MONTHLY_RESTORE);
        assert_eq!(cadence_for("x", "warm-standby", &[]), QUARTERLY_FAILOVER);
    }

    #[test]
    fn parses_cadences() {
        assert_eq!(parse_cadence("quarterly"), Ok(QUARTERLY_FAILOVER));
        assert_eq!(parse_cadence("45d").map(|c| c.days), Ok(45));
        assert!(parse_cadence("0d").is_err() && parse_cadence("often").is_err());
    }
}
