//! `drillbit validate FILE...`: exit 0 when every file is valid, 2 otherwise.

use std::path::PathBuf;

use drillbit::exit;
use drillbit::scenario;

use super::{render_diagnostic, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(a: Args) -> Result<i32, Failure> {
    let mut bad = 0;
    for f in &a.files {
        match scenario::load_file(f) {
            Ok(l) => println!("{}: ok ({})", f.display(), l.scenario.name),
            Err(diags) => {
                bad += 1;
                for d in &diags {
                    eprintln!("{}", render_diagnostic(d));
                }
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} of {} file(s) invalid", a.files.len());
        Ok(exit::INVALID_INPUT)
    } else {
        Ok(exit::TARGETS_MET)
    }
}
