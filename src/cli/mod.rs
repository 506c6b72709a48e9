//! The command line: raw arguments (clap) first, checked settings second, one file per
//! subcommand. This is the only layer that prints; it maps every error to an exit code from
//! `drillbit::exit`.

// Everything the CLI prints goes through these (they shadow std's macros in every module
// below): control characters from files (a scenario, a reports tree, a command's stderr) are
// escaped instead of reaching the terminal raw, and a closed pipe silences drillbit instead of
// panicking it.
macro_rules! println {
    () => { $crate::cli::emit(false, format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::emit(false, format_args!("{}\n", format_args!($($t)*))) };
}
macro_rules! print {
    ($($t:tt)*) => { $crate::cli::emit(false, format_args!($($t)*)) };
}
macro_rules! eprintln {
    () => { $crate::cli::emit(true, format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::emit(true, format_args!("{}\n", format_args!($($t)*))) };
}

mod awscmd;
mod calibrate;
mod evidence;
#[cfg(feature = "aws")]
mod operator;
mod report;
mod run;
mod schema;
mod simulate;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use drillbit::exit;
use drillbit::scenario::{self, Diagnostic, Loaded};

/// `--version`: the version and the targets this binary was built with.
#[cfg(feature = "aws")]
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (targets: sim, local, emulator, aws)");
#[cfg(not(feature = "aws"))]
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (targets: sim, local; built without the `aws` feature, so no emulator or aws)"
);

#[derive(Parser, Debug)]
#[command(name = "drillbit", version = VERSION, about = "Disaster-recovery drills with measured RTO and RPO", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More diagnostics on stderr: -v drillbit's own steps, -vv also the AWS SDK's requests
    /// (debug), -vvv everything (trace). RUST_LOG, when set, overrides it (e.g.
    /// RUST_LOG=aws_smithy_runtime=debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// `--format`: text for people, or JSON for programs.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    /// One JSON object on stdout: `{"drillbit": VERSION, "command": NAME, "ok": BOOL, ...}`,
    /// the rest named by the command (README, "Machine-readable output").
    Json,
}

/// Prints the one JSON shape of `--format json`: the envelope and the command's own fields.
pub fn print_json(command: &str, ok: bool, fields: serde_json::Value) {
    let mut v = serde_json::json!({
        "drillbit": env!("CARGO_PKG_VERSION"),
        "command": command,
        "ok": ok,
    });
    if let (Some(o), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
        o.extend(extra);
    }
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

/// The tracing filter for `-v` counts, unless RUST_LOG says otherwise.
pub fn log_filter(verbose: u8) -> String {
    match verbose {
        0 => "warn".into(),
        1 => "warn,drillbit=info,drillbit_core=info".into(),
        2 => {
            "info,drillbit=debug,drillbit_core=debug,aws_config=debug,aws_smithy_runtime=debug,aws_sdk_fis=debug".into()
        }
        _ => "trace".into(),
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one drill and write scorecard.json, scorecard.md, junit.xml and report.html.
    Run(run::Args),
    /// Run N simulated drills and write montecarlo.json, montecarlo.md and report.html.
    Simulate(simulate::Args),
    /// Reports over past drills: `report trend DIR...`.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Check scenario files; print FILE:LINE:COL for every problem.
    Validate(validate::Args),
    /// Fit step models from measured drills' scorecards and write a models file.
    Calibrate(calibrate::CalibrateArgs),
    /// Set the simulator's predicted RTO (with fitted models) beside measured drills.
    Compare(calibrate::CompareArgs),
    /// Report the seed's common DR mistakes found in a scenario (exit 0 clean, 1 findings).
    Lint {
        /// Scenario file.
        file: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the scenario's runbook as Markdown, with the AWS CLI commands of each step.
    Runbook {
        /// Scenario file.
        file: PathBuf,
    },
    /// Print the AWS FIS experiment template of the scenario's faults (CreateExperimentTemplate JSON).
    FisTemplate(awscmd::FisArgs),
    /// Print every AWS API call and fault a drill would make on a target; calls nothing.
    #[cfg(feature = "aws")]
    Plan(awscmd::PlanArgs),
    /// Check, without injecting anything, that the DR side exists and matches the scenario
    /// (exit 0 ready, 1 drift found).
    #[cfg(feature = "aws")]
    Check(awscmd::CheckArgs),
    /// Check the evidence of a drill or of every drill in a reports tree (exit 1: changed).
    ///
    /// Hashes and sizes of every file, no file added or removed, the chain back to the first
    /// drill, the signature. Every change is named. Exit 0 verified, 1 something changed.
    Verify(evidence::VerifyArgs),
    /// Write a new ed25519 signing key (for --sign-key) and its public key (for verify --pub-key).
    Keygen(evidence::KeygenArgs),
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Print the simulator's default timing models and their sources.
    Models(schema::ModelsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    ///
    /// bash: `drillbit completions bash > /etc/bash_completion.d/drillbit`; zsh: into a
    /// directory of $fpath as `_drillbit`; fish: `~/.config/fish/completions/drillbit.fish`.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to stdout, or write drillbit.1 and one page per subcommand
    /// into --out DIR.
    Man {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stop and remove what local drills of drillbit processes no longer running left behind.
    ///
    /// Finds drill environments (PostgreSQL data directories and servers) in the temp dir whose
    /// drillbit is gone (killed with SIGKILL, its guard too), stops their processes, removes
    /// their shared memory and directories, and says what it removed. Environments of running
    /// drills and ones kept by --keep-env are left alone. Every local drill does this first.
    Clean,
    /// (internal) A local service task: forward a free port to --backend until stdin closes.
    #[command(hide = true)]
    Task {
        #[arg(long)]
        backend: std::net::SocketAddr,
    },
    /// (internal) A local drill's guard: cleans up after drillbit if it dies without teardown.
    #[command(hide = true)]
    Guard {
        #[arg(long)]
        owner: String,
        #[arg(long)]
        parent: std::path::PathBuf,
    },
}

/// Where a drill runs. Every target is an adapter of the same engine.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetArg {
    /// Discrete-event simulation on a virtual clock (no set-up).
    Sim,
    /// Real PostgreSQL primary and standby, router and client on this machine.
    Local,
    /// The runbook through the AWS SDK against a local AWS emulator (moto, started by drillbit,
    /// or --endpoint-url), faults through drillbit's fault layer.
    #[cfg(feature = "aws")]
    Emulator,
    /// A live drill in a real AWS account: faults through an AWS FIS experiment, the runbook
    /// through the AWS SDK, client probes of the service's health URL, canary writes.
    #[cfg(feature = "aws")]
    Aws,
}

impl TargetArg {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetArg::Sim => "sim",
            TargetArg::Local => "local",
            #[cfg(feature = "aws")]
            TargetArg::Emulator => "emulator",
            #[cfg(feature = "aws")]
            TargetArg::Aws => "aws",
        }
    }
}

/// An error at the edge, with its exit code.
#[derive(Debug)]
pub enum Failure {
    Invalid(Vec<Diagnostic>),
    Usage(String),
    Infrastructure(String),
    Aborted(String),
}

impl Failure {
    pub fn code(&self) -> i32 {
        match self {
            Failure::Invalid(_) | Failure::Usage(_) => exit::INVALID_INPUT,
            Failure::Infrastructure(_) => exit::INFRASTRUCTURE,
            Failure::Aborted(_) => exit::ABORTED,
        }
    }
}

impl From<drillbit::engine::TargetError> for Failure {
    fn from(e: drillbit::engine::TargetError) -> Self {
        match e {
            drillbit::engine::TargetError::Aborted(m) => Failure::Aborted(m),
            other => Failure::Infrastructure(other.to_string()),
        }
    }
}

/// `drillbit man`: the page of the whole command to stdout, or every page into `out`.
fn man(out: Option<&std::path::Path>) -> Result<i32, Failure> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let render = |c: clap::Command| -> Result<Vec<u8>, Failure> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .map_err(|e| Failure::Infrastructure(format!("man page: {e}")))?;
        Ok(buf)
    };
    let Some(dir) = out else {
        use std::io::Write;
        let page = render(cmd)?;
        let _ = std::io::stdout().write_all(&page);
        return Ok(exit::TARGETS_MET);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Usage(format!("--out {}: cannot be created: {e}", dir.display())))?;
    let mut pages = vec![("drillbit.1".to_string(), render(cmd.clone())?)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name: &'static str = Box::leak(format!("drillbit-{}", sub.get_name()).into_boxed_str());
        pages.push((format!("{name}.1"), render(sub.clone().name(name))?));
    }
    for (file, page) in &pages {
        let p = dir.join(file);
        std::fs::write(&p, page).map_err(|e| Failure::Usage(format!("{}: cannot be written: {e}", p.display())))?;
    }
    println!("{} man pages in {}", pages.len(), dir.display());
    Ok(exit::TARGETS_MET)
}

pub fn run(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Report(c) => report::run(c),
        Command::Validate(a) => validate::run(a),
        Command::Calibrate(a) => calibrate::calibrate(a),
        Command::Compare(a) => calibrate::compare(a),
        Command::Lint { file, format } => {
            let loaded = match load(&file) {
                Ok(l) => l,
                Err(Failure::Invalid(diags)) if format == Format::Json => {
                    print_json(
                        "lint",
                        false,
                        serde_json::json!({ "file": file.display().to_string(), "diagnostics": diagnostics_json(&diags) }),
                    );
                    return Ok(exit::INVALID_INPUT);
                }
                Err(e) => return Err(e),
            };
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mc = drillbit::targets::sim::montecarlo::simulate(&loaded, 2000, 1, threads, &|_| {})?;
            let findings = drillbit::lint::lint(&loaded.scenario, Some(mc.rto_s.p50));
            if format == Format::Json {
                let items: Vec<serde_json::Value> = findings
                    .iter()
                    .map(|f| serde_json::json!({ "rule": f.rule, "message": f.message, "fix": f.fix }))
                    .collect();
                print_json(
                    "lint",
                    findings.is_empty(),
                    serde_json::json!({ "file": file.display().to_string(), "scenario": loaded.scenario.name, "findings": items }),
                );
            } else {
                for f in &findings {
                    println!("{}: {}: {}\n  fix: {}", file.display(), f.rule, f.message, f.fix);
                }
                if findings.is_empty() {
                    println!("{}: no findings", file.display());
                }
            }
            Ok(if findings.is_empty() {
                exit::TARGETS_MET
            } else {
                exit::TARGET_MISSED
            })
        }
        Command::Runbook { file } => {
            let loaded = load(&file)?;
            print!("{}", drillbit::report::runbook::render(&loaded.scenario));
            Ok(exit::TARGETS_MET)
        }
        Command::FisTemplate(a) => awscmd::fis_template(a),
        #[cfg(feature = "aws")]
        Command::Plan(a) => awscmd::plan(a),
        #[cfg(feature = "aws")]
        Command::Check(a) => awscmd::check(a),
        Command::Verify(a) => evidence::verify(a),
        Command::Keygen(a) => evidence::keygen(a),
        Command::Schema => schema::schema(),
        Command::Models(a) => schema::models(a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "drillbit", &mut std::io::stdout());
            Ok(exit::TARGETS_MET)
        }
        Command::Man { out } => man(out.as_deref()),
        Command::Clean => {
            let said = drillbit::targets::local::guard::clean_stale(&std::env::temp_dir());
            for line in &said {
                println!("{line}");
            }
            if said.is_empty() {
                println!("nothing to clean in {}", std::env::temp_dir().display());
            }
            Ok(exit::TARGETS_MET)
        }
        Command::Guard { owner, parent } => {
            let said = drillbit::targets::local::guard::run_guard(&owner, &parent, std::io::stdin().lock())
                .map_err(Failure::Usage)?;
            for line in &said {
                eprintln!("{line}");
            }
            Ok(exit::TARGETS_MET)
        }
        Command::Task { backend } => {
            drillbit::targets::local::services::run_task(backend, std::io::stdin().lock(), Emitter { stderr: false })
                .map(|_| exit::TARGETS_MET)
                .map_err(|e| Failure::Infrastructure(format!("task: {e}")))
        }
    }
}

/// Diagnostics as `--format json` gives them: file, line and column (0 when the problem is
/// about the whole file), message.
pub fn diagnostics_json(diags: &[Diagnostic]) -> Vec<serde_json::Value> {
    diags
        .iter()
        .map(|d| serde_json::json!({ "file": d.file, "line": d.line, "col": d.col, "message": d.message }))
        .collect()
}

pub fn load(path: &std::path::Path) -> Result<Loaded, Failure> {
    scenario::load_file(path).map_err(Failure::Invalid)
}

/// Applies a models file from `drillbit calibrate` over the scenario's models; returns the
/// names applied. A name that is neither a step of the scenario nor a model is an error.
pub fn apply_models(loaded: &mut Loaded, path: &std::path::Path) -> Result<Vec<String>, Failure> {
    let models = drillbit::scenario::models_file::load_models(path).map_err(Failure::Usage)?;
    let steps: Vec<String> = loaded.scenario.all_steps().map(|s| s.id.clone()).collect();
    let mut names = Vec::new();
    for (name, dist) in models {
        let known = steps.contains(&name)
            || drillbit::catalogue::models::is_known(name.as_str())
            || drillbit::catalogue::models::COMPUTED_MODEL_NAMES.contains(&name.as_str());
        if !known {
            return Err(Failure::Usage(format!(
                "{}: model `{name}` matches no step of {} and no model name",
                path.display(),
                loaded.path
            )));
        }
        loaded.scenario.models.insert(name.clone(), dist);
        names.push(name);
    }
    Ok(names)
}

/// `FILE:LINE:COL: error: ...` and, when the line is known, the line with a caret under the column.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STDERR_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes terminal-safe text to stdout or stderr. A write that fails (a closed pipe: `drillbit
/// validate ... | head -1`) ends output to that stream; the command itself carries on, so a
/// drill still tears down and seals, and the exit code still says how it went.
pub fn emit(stderr: bool, args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    let closed = if stderr { &STDERR_CLOSED } else { &STDOUT_CLOSED };
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let text = args.to_string();
    let text = drillbit::report::terminal::terminal_safe(&text);
    let ok = if stderr {
        std::io::stderr().lock().write_all(text.as_bytes()).is_ok()
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_ok()
    };
    if !ok {
        closed.store(true, Ordering::Relaxed);
    }
}

/// [`emit`] as a writer, for the library's functions that write to a stream they are given.
pub struct Emitter {
    pub stderr: bool,
}

impl std::io::Write for Emitter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        emit(self.stderr, format_args!("{}", String::from_utf8_lossy(buf)));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn render_diagnostic(d: &Diagnostic) -> String {
    let mut out = d.to_string();
    if let Some(text) = &d.snippet {
        let text: String = text.chars().take(160).collect();
        // Copy the line's tabs into the padding so the caret lines up in any terminal.
        let pad: String = text
            .chars()
            .take((d.col.max(1) - 1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("\n  | {text}\n  | {pad}^"));
    }
    out
}

pub fn print_failure(f: &Failure) {
    match f {
        Failure::Invalid(diags) => {
            for d in diags {
                eprintln!("{}", render_diagnostic(d));
            }
        }
        Failure::Usage(m) => eprintln!("error: {m}"),
        Failure::Infrastructure(m) => eprintln!("error: target failed: {m}"),
        Failure::Aborted(m) => eprintln!("aborted: {m}"),
    }
}

pub fn default_out(kind: &str, name: &str, target: &str, seed: u64) -> PathBuf {
    PathBuf::from("reports")
        .join(name)
        .join(format!("{kind}-{target}-seed{seed}"))
}
