//! `drillbit simulate FILE --runs N [--seed S] [--threads T] [--out DIR]`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use drillbit::{exit, report};

use super::{default_out, load, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file (YAML).
    pub file: PathBuf,
    /// Number of independent simulated drills.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub runs: u64,
    /// Seed; run i uses stream i of it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: all cores). Never changes the result.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    /// Output directory (default: reports/<scenario>/montecarlo-sim-seed<S>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Apply models fitted by `drillbit calibrate` over the defaults.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Also report how p95 RTO changes when each step, the health check and the DNS cache
    /// are halved or doubled.
    #[arg(long)]
    pub sensitivity: bool,
    /// Fail (exit 1) unless P(meet both targets) is at least this, judged on its Wilson 95%
    /// lower bound: a fraction (0.95) or a percentage (95%). Overrides `targets.confidence`.
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub require: Option<f64>,
    /// Sign the evidence manifest with this ed25519 private key (PKCS#8 PEM).
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<i32, Failure> {
    let mut loaded = load(&a.file)?;
    let default_layout = a.out.is_none();
    let dir = a
        .out
        .unwrap_or_else(|| default_out("montecarlo", &loaded.scenario.name, "sim", a.seed));
    let fitted = match &a.models {
        Some(p) => super::apply_models(&mut loaded, p)?,
        None => Vec::new(),
    };
    let super::evidence::Prepared { key, mut claim } = super::evidence::prepare(&dir, a.sign_key.as_deref())?;
    // Every file of the batch goes to the staging directory; sealing publishes it at `dir`.
    let stage = claim.stage().to_path_buf();
    let threads = a
        .threads
        .map(|t| t as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // If a handler is already installed (tests calling twice), carry on without one.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let bar = if std::io::stderr().is_terminal() && !a.quiet {
        let pb = indicatif::ProgressBar::new(a.runs);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let flag = interrupted.clone();
    let progress = |n: u64| {
        if let Some(pb) = &bar {
            pb.set_position(n);
        }
        let _ = &flag;
    };
    let mc = drillbit::targets::sim::montecarlo::simulate_with_abort(
        &loaded,
        a.runs,
        a.seed,
        threads,
        &progress,
        &interrupted,
    )?;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    if interrupted.load(Ordering::SeqCst) {
        return Err(Failure::Aborted("interrupted; no partial results were written".into()));
    }
    let mut mc = mc;
    mc.models_fitted = fitted;
    mc.gate = match (a.require, loaded.scenario.targets.confidence) {
        (Some(p), _) => Some(drillbit::montecarlo::Gate::judge(p, "--require", &mc.p_meet_all)),
        (None, Some(p)) => Some(drillbit::montecarlo::Gate::judge(
            p,
            "targets.confidence",
            &mc.p_meet_all,
        )),
        (None, None) => None,
    };
    if a.sensitivity {
        mc.sensitivity = drillbit::targets::sim::montecarlo::sensitivity(&loaded, &mc, a.runs, a.seed, threads)?;
    }
    let files = report::write_montecarlo(&stage, &mc)
        .map_err(|e| Failure::Infrastructure(format!("cannot write {}: {e}", dir.display())))?;
    // Last: the manifest covers every file written, and the models file applied, if any.
    let models = match &a.models {
        Some(p) => vec![("models.yaml", read_models(p)?)],
        None => Vec::new(),
    };
    let sealed = super::evidence::seal(&mut claim, &loaded, "montecarlo", default_layout, key.as_ref(), models)?;
    if !a.quiet {
        print!("{}", report::terminal::montecarlo(&mc));
        println!(
            "  results: {}",
            dir.join(files[0].file_name().unwrap_or_default()).display()
        );
        println!("{}", super::evidence::describe(&sealed));
    }
    Ok(match &mc.gate {
        Some(g) if !g.passed => exit::TARGET_MISSED,
        _ => exit::TARGETS_MET,
    })
}

/// A probability given as a fraction (0.95) or a percentage (95%), strictly between 0 and 1.
fn parse_probability(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}`: expected a probability such as 0.95 or 95%"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "`{s}`: a required probability lies strictly between 0 and 1 (0% and 100%)"
        ))
    }
}

/// The models file as applied, for the evidence (it was read and validated already).
fn read_models(p: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(p).map_err(|e| Failure::Usage(format!("{}: {e}", p.display())))
}
