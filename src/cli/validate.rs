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
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

pub fn run(a: Args) -> Result<i32, Failure> {
    let mut bad = 0;
    if a.format == super::Format::Json {
        let files: Vec<serde_json::Value> = a
            .files
            .iter()
            .map(|f| match scenario::load_file(f) {
                Ok(l) => serde_json::json!({ "file": f.display().to_string(), "ok": true, "scenario": l.scenario.name, "diagnostics": [] }),
                Err(diags) => {
                    bad += 1;
                    serde_json::json!({ "file": f.display().to_string(), "ok": false, "diagnostics": super::diagnostics_json(&diags) })
                }
            })
            .collect();
        super::print_json("validate", bad == 0, serde_json::json!({ "files": files }));
        return Ok(if bad > 0 {
            exit::INVALID_INPUT
        } else {
            exit::TARGETS_MET
        });
    }
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
