//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use drillbit::montecarlo::{self, MonteCarlo};
use drillbit::scenario::{self, Loaded};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn load(rel: &str) -> Loaded {
    let p = root().join(rel);
    scenario::load_file(&p).unwrap_or_else(|d| panic!("{rel} invalid: {d:?}"))
}

pub fn load_text(name: &str, text: &str) -> Loaded {
    scenario::load_str(name, text).unwrap_or_else(|d| panic!("{name} invalid: {d:#?}"))
}

pub fn mc(l: &Loaded, runs: u64) -> MonteCarlo {
    montecarlo::simulate(l, runs, 1, 2, &|_| {}).expect("simulation")
}

/// Every shipped scenario file, recursively.
pub fn shipped() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("scenarios dir").flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("scenarios"), &mut out);
    out
}
