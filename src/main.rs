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
    let code = match cli::run(parsed) {
        Ok(code) => code,
        Err(f) => {
            cli::print_failure(&f);
            f.code()
        }
    };
    std::process::exit(code);
}
