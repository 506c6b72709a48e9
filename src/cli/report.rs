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
    }
}

fn trend_cmd(a: TrendArgs) -> Result<i32, Failure> {
    if !(a.rto_threshold.is_finite() && a.rto_threshold >= 0.0) {
        return Err(Failure::Usage(format!(
            "--rto-threshold {}: expected a percentage of 0 or more",
            a.rto_threshold
        )));
    }
    let as_of = match &a.as_of {
        Some(s) => timestamp::parse(s)
            .ok_or_else(|| Failure::Usage(format!("--as-of `{s}`: expected a date like 2025-11-25")))?,
        None => timestamp::now(),
    };
    let mut schedules = BTreeMap::new();
    for s in &a.schedule {
        let (name, cadence) = s
            .split_once('=')
            .ok_or_else(|| Failure::Usage(format!("--schedule `{s}`: expected NAME=CADENCE")))?;
        let c = trend::parse_cadence(cadence).map_err(|e| Failure::Usage(format!("--schedule {name}: {e}")))?;
        schedules.insert(name.to_string(), c);
    }
    let files = scorecard::find(&a.dirs).map_err(Failure::Usage)?;
    let inputs: Vec<String> = a.dirs.iter().map(|d| d.display().to_string()).collect();
    if files.is_empty() {
        return Err(Failure::Usage(format!("no scorecard.json under {}", inputs.join(", "))));
    }
    let drills = files
        .iter()
        .map(|f| trend::read(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    let t = trend::analyze(drills, as_of, a.rto_threshold / 100.0, &schedules, inputs);
    if t.drills() == 0 && t.excluded.is_empty() {
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
            "trend: {} drills of {} scenarios; {} regressions; {} overdue; {} left out (evidence)",
            t.drills(),
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
