//! Reporters: one scorecard (or Monte Carlo summary), several renderings. The library never
//! writes to the terminal; it returns strings, and the CLI decides where they go.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod runbook;
pub mod svg;
pub mod terminal;
pub(crate) mod text;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::montecarlo::MonteCarlo;
use crate::scorecard::Scorecard;

pub fn json<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// Writes a file atomically: a temporary file in the same directory, fsync, rename, then (on
/// unix) fsync of the directory so the rename itself is durable. A crash never leaves a
/// half-written file under `path`: a reader sees the old contents or the new ones. On error the
/// temporary file is removed.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The files of one drill: scorecard.json, scorecard.md, junit.xml, report.html.
pub fn write_drill(dir: &Path, sc: &Scorecard) -> std::io::Result<Vec<PathBuf>> {
    write_all(
        dir,
        &[
            ("scorecard.json", json(sc)),
            ("scorecard.md", markdown::scorecard(sc)),
            ("junit.xml", junit::scorecard(sc)),
            ("report.html", html::drill(sc)),
        ],
    )
}

/// The files of one Monte Carlo batch: montecarlo.json, montecarlo.md, junit.xml, report.html.
pub fn write_montecarlo(dir: &Path, mc: &MonteCarlo) -> std::io::Result<Vec<PathBuf>> {
    write_all(
        dir,
        &[
            ("montecarlo.json", json(mc)),
            ("montecarlo.md", markdown::montecarlo(mc)),
            ("junit.xml", junit::montecarlo(mc)),
            ("report.html", html::montecarlo(mc)),
        ],
    )
}

/// Writes each (name, contents) into `dir` (created if need be), atomically, in order;
/// returns the paths written.
fn write_all(dir: &Path, files: &[(&str, String)]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (name, body) in files {
        let p = dir.join(name);
        write_atomic(&p, body)?;
        out.push(p);
    }
    Ok(out)
}
