//! `drillbit calibrate DIR... --out MODELS` and `drillbit compare SCENARIO --models MODELS
//! --measured DIR...`.

use std::path::PathBuf;

use drillbit::calibrate;
use drillbit::scenario::duration::format_secs as f;
use drillbit::{exit, report, scorecard};

use super::{apply_models, load, Failure};

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Directories holding scorecard.json files of measured drills (searched recursively).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the models file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn calibrate(a: CalibrateArgs) -> Result<i32, Failure> {
    let files = scorecard::find(&a.dirs).map_err(Failure::Usage)?;
    if files.is_empty() {
        return Err(Failure::Usage(
            "no scorecard.json found under the given directories".into(),
        ));
    }
    let cards = scorecard::read_files(&files).map_err(Failure::Usage)?;
    let c = calibrate::calibrate(&cards);
    if c.fits.is_empty() {
        return Err(Failure::Usage("the scorecards hold no successful step to fit".into()));
    }
    report::write_atomic(&a.out, &calibrate::render(&c))
        .map_err(|e| Failure::Infrastructure(format!("cannot write {}: {e}", a.out.display())))?;
    println!("calibrated from {} drill(s) ({}):", c.drills, c.targets.join(", "));
    for fit in &c.fits {
        println!(
            "  {:<24} n={:<3} {}  [{}]",
            fit.name,
            fit.samples.len(),
            fit.dist,
            fit.how
        );
    }
    for fit in &c.phases {
        println!("  phase {:<18} n={:<3} {}", fit.name, fit.samples.len(), fit.dist);
    }
    println!("  models: {}", a.out.display());
    Ok(exit::TARGETS_MET)
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Scenario file the drills ran.
    pub file: PathBuf,
    /// Models file from `drillbit calibrate`.
    #[arg(long)]
    pub models: PathBuf,
    /// Directories with the measured drills to compare against.
    #[arg(long, required = true, num_args = 1..)]
    pub measured: Vec<PathBuf>,
    #[arg(long, default_value_t = 20_000)]
    pub runs: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn compare(a: CompareArgs) -> Result<i32, Failure> {
    let mut loaded = load(&a.file)?;
    let fitted = apply_models(&mut loaded, &a.models)?;
    let cards = scorecard::find(&a.measured)
        .and_then(|files| scorecard::read_files(&files))
        .map_err(Failure::Usage)?;
    let mut measured: Vec<f64> = cards
        .iter()
        .filter(|c| c.scenario.name == loaded.scenario.name)
        .filter_map(|c| c.measured.rto_s)
        .collect();
    if measured.is_empty() {
        return Err(Failure::Usage(format!(
            "no measured drill of {} found",
            loaded.scenario.name
        )));
    }
    measured.sort_by(f64::total_cmp);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mc = drillbit::targets::sim::montecarlo::simulate(&loaded, a.runs, a.seed, threads, &|_| {})?;
    let n = measured.len();
    let median = if n % 2 == 1 {
        measured[n / 2]
    } else {
        (measured[n / 2 - 1] + measured[n / 2]) / 2.0
    };
    let error = (mc.rto_s.p50 - median) / median * 100.0;
    println!(
        "{}: predicted with fitted models ({})",
        loaded.scenario.name,
        fitted.join(", ")
    );
    println!(
        "  predicted RTO  p50 {}  p90 {}  ({} simulated runs)",
        f(mc.rto_s.p50),
        f(mc.rto_s.p90),
        mc.runs
    );
    println!(
        "  measured RTO   median {}  ({} drills: {})",
        f(median),
        n,
        measured.iter().map(|x| f(*x)).collect::<Vec<_>>().join(", ")
    );
    println!("  error of the median: {error:+.1}%");
    Ok(exit::TARGETS_MET)
}
