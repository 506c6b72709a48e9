//! `drillbit run FILE [--target sim] [--seed N] [--out DIR]`

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use drillbit::scorecard::Overall;
use drillbit::{exit, report};

use super::{default_out, load, Failure, TargetArg};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file (YAML).
    pub file: PathBuf,
    /// Where the drill runs.
    #[arg(long, value_enum, default_value = "sim")]
    pub target: TargetArg,
    /// Seed of the simulator's random streams.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (default: reports/<scenario>/drill-<target>-seed<N>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// local: keep the data directories (processes are stopped anyway) and print where they are.
    /// emulator with --endpoint-url: keep what the drill created there (deleted by default).
    #[arg(long)]
    pub keep_env: bool,
    /// After recovery, restore the primary side and run the scenario's rollback steps;
    /// the scorecard gains a `failback` section.
    #[arg(long)]
    pub failback: bool,
    /// emulator: an AWS-compatible endpoint to drive instead of starting moto; aws: an endpoint
    /// for every service instead of AWS's own (default: the AWS_ENDPOINT_URL environment
    /// variable, if set).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// emulator: an API fault for the whole drill, e.g.
    /// `service=rds,operation=PromoteReadReplica,error=Throttling,count=2` (keys: service,
    /// region, operation, resource, error, status, latency, count). Repeatable.
    #[arg(long = "api-fault", value_name = "SPEC")]
    pub api_faults: Vec<String>,
    /// Sign the evidence manifest with this ed25519 private key (PKCS#8 PEM).
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
    /// emulator, aws: game day: manual steps prompt on the terminal and their wait is measured; the
    /// drill's events are printed as they happen.
    #[arg(long, conflicts_with = "auto_approve")]
    pub game_day: bool,
    /// emulator, aws: approve manual steps at once instead of waiting their scenario duration.
    #[arg(long)]
    pub auto_approve: bool,
    /// aws: run the live drill without the confirmation prompt (automation).
    #[arg(long)]
    pub yes: bool,
    /// aws: the named profile of the shared AWS config files (default: AWS_PROFILE, else the
    /// default chain).
    #[arg(long)]
    pub profile: Option<String>,
    /// Who approved this drill (the change or game-day approver), for the drill record.
    #[arg(long, value_name = "NAME")]
    pub approved_by: Option<String>,
    /// Lessons learned, free text, kept in the drill record (and sealed with it).
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,
    /// The remediation file this drill opens and closes items in (default for a real drill:
    /// `<scenario>.remediation.yaml` beside the scenario; a rehearsal keeps none unless given
    /// one; a simulation never).
    #[arg(long, value_name = "PATH", conflicts_with = "no_remediation")]
    pub remediation: Option<PathBuf>,
    /// Keep no remediation items for this drill, even a real one.
    #[arg(long)]
    pub no_remediation: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<i32, Failure> {
    let loaded = load(&a.file)?;
    let live = matches!(a.target.as_str(), "emulator" | "aws");
    if !live && (a.endpoint_url.is_some() || a.game_day || a.auto_approve) {
        return Err(Failure::Usage(
            "--endpoint-url, --game-day and --auto-approve apply to --target emulator and aws".into(),
        ));
    }
    if a.target.as_str() != "emulator" && !a.api_faults.is_empty() {
        return Err(Failure::Usage(
            "--api-fault applies to --target emulator (on aws, faults run through FIS)".into(),
        ));
    }
    if a.target.as_str() != "aws" && (a.yes || a.profile.is_some()) {
        return Err(Failure::Usage("--yes and --profile apply to --target aws".into()));
    }
    #[cfg(feature = "aws")]
    if let Some(p) = &a.profile {
        super::awscmd::profile_exists(p)?;
    }
    #[cfg(feature = "aws")]
    if a.target == TargetArg::Aws {
        // Everything the scenario must say for a live drill, before any call.
        drillbit::targets::aws::preflight(&loaded.scenario, "").map_err(|e| {
            Failure::Usage(format!(
                "{} cannot run on aws:\n  {}",
                a.file.display(),
                e.replace('\n', "\n  ")
            ))
        })?;
        if !a.yes && unsafe { libc::isatty(0) } != 1 {
            return Err(Failure::Usage(
                "a live drill on AWS is confirmed on a terminal by typing the account id, and stdin is not one; \
                 in automation pass --yes"
                    .into(),
            ));
        }
    }
    // A prompt nobody can answer would hang: without a terminal, say how manual steps end.
    if a.game_day && unsafe { libc::isatty(0) } != 1 {
        return Err(Failure::Usage(
            "--game-day prompts the operator on a terminal, and stdin is not one; in automation use \
             --auto-approve, or give manual steps a `duration` (the default policy)"
                .into(),
        ));
    }
    if a.failback && loaded.scenario.runbook.rollback.is_empty() {
        return Err(Failure::Usage(format!(
            "--failback: {} has no rollback steps (runbook.rollback)",
            a.file.display()
        )));
    }
    // The remediation file is read before the drill: a bad one stops it with nothing touched.
    let remediation = remediation_file(&a, &loaded)?;
    let default_layout = a.out.is_none();
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| default_out("drill", &loaded.scenario.name, a.target.as_str(), a.seed));
    let super::evidence::Prepared { key, mut claim } = super::evidence::prepare(&dir, a.sign_key.as_deref())?;
    // Every file of the drill goes to the staging directory; sealing publishes it at `dir`.
    let stage = claim.stage().to_path_buf();
    // The wall-clock start, for `report trend`; the drill itself never reads it.
    let started_at = drillbit::timestamp::format_utc(drillbit::timestamp::now());
    // Ctrl-C, SIGTERM and SIGHUP stop the drill on every target: the target repairs and tears
    // down (on aws: stops the FIS experiment and runs the rollback; a second one interrupts
    // the rollback), and drillbit exits 4 without presenting a partial drill as complete.
    let abort = Arc::new(AtomicBool::new(false));
    {
        let flag = abort.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let mut sc = match a.target {
        TargetArg::Sim => drillbit::targets::sim::simulate_once_with(&loaded, a.seed, a.failback)?,
        TargetArg::Local => {
            // What killed drills left behind (their guard killed too) goes first.
            for line in drillbit::targets::local::guard::clean_stale(&std::env::temp_dir()) {
                eprintln!("{line}");
            }
            let opts = drillbit::targets::local::LocalOptions {
                out_dir: stage.clone(),
                keep_env: a.keep_env,
                abort: abort.clone(),
                failback: a.failback,
                seed: a.seed,
            };
            let (sc, kept) = drillbit::targets::local::run(&loaded, a.seed, &opts)?;
            if let Some(k) = kept {
                eprintln!("kept the data directories in {}", k.display());
            }
            sc
        }
        #[cfg(feature = "aws")]
        TargetArg::Emulator => {
            let mut api_faults = Vec::new();
            for spec in &a.api_faults {
                api_faults.push(
                    spec.parse::<drillbit::targets::emulator::ApiFault>()
                        .map_err(|e| Failure::Usage(format!("--api-fault `{spec}`: {e}")))?,
                );
            }
            let endpoint_url = endpoint_url(&a);
            let opts = drillbit::targets::emulator::EmulatorOptions {
                out_dir: stage.clone(),
                endpoint_url,
                abort: abort.clone(),
                failback: a.failback,
                seed: a.seed,
                api_faults,
                operator: std::sync::Arc::new(super::operator::Terminal { quiet: a.quiet }),
                manual: manual_policy(&a),
                live: a.game_day.then(super::operator::live_view),
                keep_env: a.keep_env,
            };
            drillbit::targets::emulator::run(&loaded, a.seed, &opts)?
        }
        #[cfg(feature = "aws")]
        TargetArg::Aws => {
            let opts = drillbit::targets::aws::AwsOptions {
                out_dir: stage.clone(),
                endpoint_url: endpoint_url(&a),
                profile: a.profile.clone(),
                abort: abort.clone(),
                failback: a.failback,
                seed: a.seed,
                manual: manual_policy(&a),
                live: a.game_day.then(super::operator::live_view),
                operator: std::sync::Arc::new(super::operator::Terminal { quiet: a.quiet }),
                yes: a.yes,
            };
            drillbit::targets::aws::run(&loaded, a.seed, &opts)?
        }
    };
    if abort.load(Ordering::SeqCst) {
        return Err(Failure::Aborted("interrupted; nothing written".into()));
    }
    sc.started_at = Some(started_at);
    sc.prediction = predict(&loaded, &sc, a.seed);
    let me = os_user();
    sc.record.run_by = if sc.record.run_by.is_empty() {
        me.clone()
    } else {
        format!("{me}, as {}", sc.record.run_by)
    };
    if let Some(who) = &a.approved_by {
        sc.record.approved_by = Some(who.clone());
        sc.record.approval = "--approved-by".into();
    } else if sc.record.approval != "none" {
        sc.record.approved_by = Some(me);
    }
    sc.record.lessons = a.notes.clone();
    let remediation = remediation.map(|(path, mut file)| {
        let mut out = drillbit::remediation::apply(
            &mut file,
            &sc.checks,
            sc.drill_kind,
            &dir.display().to_string(),
            drillbit::timestamp::now(),
        );
        out.file = path.display().to_string();
        sc.remediation = Some(out);
        (path, file)
    });
    let files = report::write_drill(&stage, &sc)
        .map_err(|e| Failure::Infrastructure(format!("cannot write {}: {e}", dir.display())))?;
    // Last: the manifest covers every file the drill wrote.
    let timeline = ("timeline.json", drillbit::evidence::timeline_json(&sc));
    let sealed = super::evidence::seal(
        &mut claim,
        &loaded,
        "drill",
        default_layout,
        key.as_ref(),
        vec![timeline],
    )?;
    // After sealing: the file lives beside the scenario, outside the evidence, and names it.
    if let Some((path, file)) = &remediation {
        report::write_atomic(path, &drillbit::remediation::render(file)).map_err(|e| {
            Failure::Infrastructure(format!(
                "the drill is sealed in {}, but its remediation items could not be written to {}: {e}",
                dir.display(),
                path.display()
            ))
        })?;
    }
    if !a.quiet {
        print!("{}", report::terminal::drill(&sc));
        println!(
            "  scorecard: {}",
            dir.join(files[0].file_name().unwrap_or_default()).display()
        );
        println!("{}", super::evidence::describe(&sealed));
    }
    if let Some(e) = &sc.error {
        eprintln!("error: the drill ended early: {e}");
    }
    Ok(match sc.verdict.overall {
        Overall::Pass => exit::TARGETS_MET,
        Overall::Error => exit::INFRASTRUCTURE,
        // A drill that proved nothing (inconclusive) is not a pass.
        Overall::Fail | Overall::Inconclusive => exit::TARGET_MISSED,
    })
}

/// The remediation file this drill keeps, read: `--remediation`, else beside the scenario
/// for a real drill; none for `--no-remediation`, a rehearsal without `--remediation`, or a
/// simulation (which refuses `--remediation`).
fn remediation_file(
    a: &Args,
    loaded: &drillbit::scenario::Loaded,
) -> Result<Option<(PathBuf, drillbit::remediation::File)>, Failure> {
    use drillbit::scorecard::DrillKind;
    let (kind, _) = DrillKind::of(a.target.as_str(), &loaded.scenario);
    let path = match (&a.remediation, kind) {
        _ if a.no_remediation => return Ok(None),
        (Some(_), DrillKind::Simulated) => {
            return Err(Failure::Usage(
                "--remediation: a simulation tests no system, so it opens and closes no remediation item".into(),
            ))
        }
        (Some(p), _) => p.clone(),
        (None, DrillKind::Real) => drillbit::remediation::default_path(&a.file),
        (None, _) => return Ok(None),
    };
    let file = drillbit::remediation::load(&path, &loaded.scenario.name).map_err(Failure::Usage)?;
    Ok(Some((path, file)))
}

/// How manual steps end on a live target: the operator (`--game-day`), at once
/// (`--auto-approve`), or after their scenario duration.
#[cfg(feature = "aws")]
fn manual_policy(a: &Args) -> drillbit::targets::emulator::ManualPolicy {
    if a.game_day {
        drillbit::targets::emulator::ManualPolicy::Prompt
    } else if a.auto_approve {
        drillbit::targets::emulator::ManualPolicy::AutoApprove
    } else {
        drillbit::targets::emulator::ManualPolicy::Scenario
    }
}

/// `--endpoint-url`, else the SDK's standard AWS_ENDPOINT_URL.
#[cfg(feature = "aws")]
fn endpoint_url(a: &Args) -> Option<String> {
    a.endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()))
}

/// Simulates the scenario (with the models the drill's file and `--models` set) beside the
/// drill, to place its measured RTO on the predicted distribution. None when the drill did
/// not recover or the simulation fails (the drill's own result stands either way).
fn predict(
    loaded: &drillbit::scenario::Loaded,
    sc: &drillbit::scorecard::Scorecard,
    seed: u64,
) -> Option<drillbit::scorecard::PredictionOut> {
    const RUNS: u64 = 2000;
    let rto = sc.measured.rto_s?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mc = drillbit::targets::sim::montecarlo::simulate(loaded, RUNS, seed, threads, &|_| {}).ok()?;
    Some(drillbit::scorecard::PredictionOut {
        runs: RUNS,
        seed,
        percentile: (mc.rto_percentile(rto) * 10.0).round() / 10.0,
        p50_s: mc.rto_s.p50,
        p95_s: mc.rto_s.p95,
        p_meet_rto: mc.p_meet_rto.estimate,
        models_overridden: loaded.scenario.models.keys().cloned().collect(),
    })
}

/// The OS user running drillbit, and the host: `user@host`.
pub(super) fn os_user() -> String {
    // SAFETY: getuid has no preconditions; getpwuid returns a pointer into static storage or
    // null, read at once; gethostname writes at most the buffer's length.
    let user = unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned())
        }
    }
    .or_else(|| std::env::var("USER").ok())
    .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }));
    let mut buf = [0u8; 256];
    let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown host".into()
    };
    format!("{user}@{host}")
}
