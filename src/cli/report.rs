//! `drillbit report trend DIR... [--out DIR] [--as-of DATE] [--rto-threshold PCT]
//! [--schedule NAME=CADENCE]`: the trend over past drills' scorecards (see `drillbit::trend`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use drillbit::{exit, report, scorecard, timestamp, trend};

use super::Failure;

#[derive(clap::Subcommand, Debug)]
pub enum ReportCommand {
    /// Read every scorecard.json under the directories and write trend.html and trend.md: RTO
    /// and RPO per drill over time, regressions, freshness against the test schedule.
    /// Exit 0 clean, 1 when a regression is flagged or a scenario is overdue, 2 bad input.
    Trend(TrendArgs),
    /// The DR test programme across every scenario, for auditors: programme.html (printable)
    /// and programme.md with each scenario's latest real drill against its objectives,
    /// freshness against the schedule, weekly health check, open and closed remediation
    /// (every *.remediation.yaml found), evidence hashes and a controls mapping. Exit 0 clean;
    /// 1 when a scenario is overdue, a remediation item is past due or evidence fails; 2 bad
    /// input.
    Programme(ProgrammeArgs),
}

#[derive(clap::Args, Debug)]
pub struct ProgrammeArgs {
    /// Directories to search recursively for scorecard.json, readiness.json and
    /// *.remediation.yaml (e.g. reports/ and scenarios/).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "reports/programme")]
    pub out: PathBuf,
    /// The date freshness and due dates are measured to (YYYY-MM-DD or RFC 3339; default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Hold a scenario to a schedule: NAME=quarterly|monthly|weekly|<days>d (repeatable).
    #[arg(long, value_name = "NAME=CADENCE")]
    pub schedule: Vec<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct TrendArgs {
    /// Directories to search recursively for scorecard.json (or scorecard files).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "reports/trend")]
    pub out: PathBuf,
    /// The date freshness is measured to (YYYY-MM-DD or RFC 3339; default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Flag a drill whose RTO is worse than the previous drill's by more than this percentage.
    #[arg(long, default_value_t = 20.0)]
    pub rto_threshold: f64,
    /// Hold a scenario to a schedule: NAME=quarterly|monthly|weekly|<days>d (repeatable).
    #[arg(long, value_name = "NAME=CADENCE")]
    pub schedule: Vec<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(cmd: ReportCommand) -> Result<i32, Failure> {
    match cmd {
        ReportCommand::Trend(a) => trend_cmd(a),
        ReportCommand::Programme(a) => programme_cmd(a),
    }
}

/// `--as-of` (default now) and `--schedule NAME=CADENCE`.
fn as_of_and_schedules(
    as_of: Option<&str>,
    schedule: &[String],
) -> Result<(i64, BTreeMap<String, trend::Cadence>), Failure> {
    let as_of = match as_of {
        Some(s) => timestamp::parse(s)
            .ok_or_else(|| Failure::Usage(format!("--as-of `{s}`: expected a date like 2025-11-25")))?,
        None => timestamp::now(),
    };
    let mut schedules = BTreeMap::new();
    for s in schedule {
        let (name, cadence) = s
            .split_once('=')
            .ok_or_else(|| Failure::Usage(format!("--schedule `{s}`: expected NAME=CADENCE")))?;
        let c = trend::parse_cadence(cadence).map_err(|e| Failure::Usage(format!("--schedule {name}: {e}")))?;
        schedules.insert(name.to_string(), c);
    }
    Ok((as_of, schedules))
}

fn programme_cmd(a: ProgrammeArgs) -> Result<i32, Failure> {
    let (as_of, schedules) = as_of_and_schedules(a.as_of.as_deref(), &a.schedule)?;
    let rem_files = drillbit::programme::find_remediation(&a.dirs).map_err(Failure::Usage)?;
    let remediation = drillbit::programme::read_remediation(&rem_files).map_err(Failure::Usage)?;
    // Remediation alone is a programme too (no drill found yet).
    let t = read_trend(
        &a.dirs,
        as_of,
        trend::DEFAULT_RTO_THRESHOLD,
        &schedules,
        !remediation.is_empty(),
    )?;
    let p = drillbit::programme::build(&t, remediation);
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Infrastructure(format!("cannot create {}: {e}", a.out.display())))?;
    let html = a.out.join("programme.html");
    let md = a.out.join("programme.md");
    for (path, body) in [
        (&html, report::html::programme(&p, &a.out)),
        (&md, report::markdown::programme(&p, &a.out)),
    ] {
        report::write_atomic(path, &body)
            .map_err(|e| Failure::Infrastructure(format!("cannot write {}: {e}", path.display())))?;
    }
    if !a.quiet {
        println!(
            "programme: {} scenarios; {} overdue; {} remediation items open ({} past due); {} left out (evidence)",
            p.rows.len(),
            p.overdue(),
            p.open_items(),
            p.overdue_items(),
            p.excluded.len()
        );
        for r in p
            .rows
            .iter()
            .filter(|r| r.overdue || r.health.as_ref().is_some_and(|h| h.1))
        {
            println!(
                "  overdue: {} ({}; last passing real drill {})",
                r.scenario,
                r.cadence.name,
                r.days_since_pass
                    .map_or("never".to_string(), |d| format!("{d} days ago"))
            );
        }
        for i in p.items.iter().filter(|i| i.overdue) {
            println!(
                "  past due: {} {} ({}): due {}, owner {}",
                i.scenario, i.item.id, i.item.check, i.item.due, i.item.owner
            );
        }
        for (file, why) in &p.excluded {
            println!("  left out: {}: {why}", file.display());
        }
        println!("  report: {}\n  markdown: {}", html.display(), md.display());
    }
    Ok(if p.clean() {
        exit::TARGETS_MET
    } else {
        exit::TARGET_MISSED
    })
}

/// Every scorecard and readiness record under `dirs`, read and analysed.
fn read_trend(
    dirs: &[PathBuf],
    as_of: i64,
    rto_threshold: f64,
    schedules: &BTreeMap<String, trend::Cadence>,
    allow_empty: bool,
) -> Result<trend::Trend, Failure> {
    let files = scorecard::find(dirs).map_err(Failure::Usage)?;
    let check_files = scorecard::find_named(dirs, drillbit::readiness::FILE, false).map_err(Failure::Usage)?;
    // A readiness record given directly is a check, not a scorecard.
    let files: Vec<PathBuf> = files.into_iter().filter(|f| !check_files.contains(f)).collect();
    let inputs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    if files.is_empty() && check_files.is_empty() && !allow_empty {
        return Err(Failure::Usage(format!(
            "no scorecard.json or readiness.json under {}",
            inputs.join(", ")
        )));
    }
    let drills = files
        .iter()
        .map(|f| trend::read(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    let checks = check_files
        .iter()
        .map(|f| trend::read_check(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    Ok(trend::analyze_with(
        drills,
        checks,
        as_of,
        rto_threshold,
        schedules,
        inputs,
    ))
}

fn trend_cmd(a: TrendArgs) -> Result<i32, Failure> {
    if !(a.rto_threshold.is_finite() && a.rto_threshold >= 0.0) {
        return Err(Failure::Usage(format!(
            "--rto-threshold {}: expected a percentage of 0 or more",
            a.rto_threshold
        )));
    }
    let (as_of, schedules) = as_of_and_schedules(a.as_of.as_deref(), &a.schedule)?;
    let t = read_trend(&a.dirs, as_of, a.rto_threshold / 100.0, &schedules, false)?;
    if t.drills() == 0 && t.checks() == 0 && t.excluded.is_empty() {
        return Err(Failure::Usage(format!(
            "every drill found started after {} (--as-of)",
            timestamp::format_date(as_of)
        )));
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Infrastructure(format!("cannot create {}: {e}", a.out.display())))?;
    let html = a.out.join("trend.html");
    let md = a.out.join("trend.md");
    for (p, body) in [(&html, report::html::trend(&t)), (&md, report::markdown::trend(&t))] {
        report::write_atomic(p, &body)
            .map_err(|e| Failure::Infrastructure(format!("cannot write {}: {e}", p.display())))?;
    }
    if !a.quiet {
        println!(
            "trend: {} drills and {} health checks of {} scenarios; {} regressions; {} overdue; {} left out (evidence)",
            t.drills(),
            t.checks(),
            t.scenarios.len(),
            t.regressions(),
            t.overdue(),
            t.excluded.len()
        );
        if t.later > 0 {
            println!(
                "  {} drills started after {} and were left out",
                t.later,
                timestamp::format_date(as_of)
            );
        }
        for s in t.scenarios.iter().filter(|s| s.overdue) {
            println!(
                "  overdue: {} ({}; last passing real drill {})",
                s.name,
                s.cadence.name,
                s.days_since_pass
                    .map_or("never".to_string(), |d| format!("{d} days ago"))
            );
        }
        for s in &t.scenarios {
            if let Some(h) = s
                .health
                .as_ref()
                .filter(|h| h.tracked && h.overdue && s.cadence != trend::WEEKLY_HEALTH_CHECK)
            {
                println!(
                    "  overdue: {} (weekly health check; last ready real check {})",
                    s.name,
                    h.days_since.map_or("never".to_string(), |d| format!("{d} days ago"))
                );
            }
        }
        for (file, why) in &t.excluded {
            println!("  left out: {}: {why}", file.display());
        }
        for s in &t.scenarios {
            for d in s.drills.iter().filter(|d| !d.regressions.is_empty()) {
                println!(
                    "  regression: {} {}: {}",
                    s.name,
                    d.file.display(),
                    d.regressions.join("; ")
                );
            }
        }
        println!("  report: {}\n  markdown: {}", html.display(), md.display());
    }
    Ok(if t.regressions() == 0 && t.overdue() == 0 && t.excluded.is_empty() {
        exit::TARGETS_MET
    } else {
        exit::TARGET_MISSED
    })
}
