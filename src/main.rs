//! The `drillbit` binary: parse arguments, run, map the outcome to an exit code.

// The binary is the one place that reads the terminal (clippy.toml denies it elsewhere).
#![allow(clippy::disallowed_methods)]

mod cli;

use clap::Parser;

fn main() {
    let parsed = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                drillbit::exit::INVALID_INPUT
            } else {
                drillbit::exit::TARGETS_MET
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // Diagnostics go to stderr: -v/-vv/-vvv, or RUST_LOG when set (it wins).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| cli::log_filter(parsed.verbose));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    tracing::debug!(command = ?parsed.command, "drillbit {}", env!("CARGO_PKG_VERSION"));
    let code = match cli::run(parsed) {
        Ok(code) => code,
        Err(f) => {
            cli::print_failure(&f);
            f.code()
        }
    };
    std::process::exit(code);
}
