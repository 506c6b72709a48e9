//! Past scorecards read back, for `report trend` and `calibrate`/`compare`: one finder and one
//! reader. The reader parses a typed view of the scorecard ([`Recorded`]): the parts those
//! commands use, with defaults for what older scorecards lacked, and nothing else, so that
//! every scorecard drillbit ever wrote still reads.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{FailbackVerdict, Overall, RpoVerdict, RtoVerdict, StepOutcome, Targets, SCHEMA};

/// A scorecard as read back (see the module documentation). Fields are in the scorecard's
/// order, so that a missing one is named as it always was.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Recorded {
    pub schema: String,
    pub scenario: RecordedScenario,
    pub target: String,
    /// Absent from scorecards written before it was recorded: see [`Recorded::kind`].
    #[serde(default)]
    pub drill_kind: Option<super::DrillKind>,
    #[serde(default)]
    pub seed: u64,
    /// Absent from scorecards written before it existed.
    #[serde(default)]
    pub started_at: Option<String>,
    pub targets: Targets,
    pub measured: RecordedMeasured,
    pub verdict: RecordedVerdict,
    #[serde(default)]
    pub steps: Vec<RecordedStep>,
    #[serde(default)]
    pub phases: Vec<RecordedPhase>,
    /// Measured restores (absent from scorecards written before they were recorded).
    #[serde(default)]
    pub restores: Vec<super::RestoreOut>,
    /// The simulated distribution beside the drill (absent from older scorecards).
    #[serde(default)]
    pub prediction: Option<super::PredictionOut>,
}

impl Recorded {
    /// The drill's kind: as recorded, or inferred from the target for older scorecards.
    pub fn kind(&self) -> super::DrillKind {
        self.drill_kind
            .unwrap_or_else(|| super::DrillKind::inferred(&self.target))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedScenario {
    pub name: String,
    #[serde(default)]
    pub strategy: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedMeasured {
    #[serde(default)]
    pub rto_s: Option<f64>,
    #[serde(default)]
    pub rpo_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedVerdict {
    pub rto: RtoVerdict,
    pub rpo: RpoVerdict,
    /// `not_run` in scorecards written before failback existed.
    #[serde(default = "not_run")]
    pub failback: FailbackVerdict,
    pub overall: Overall,
}

fn not_run() -> FailbackVerdict {
    FailbackVerdict::NotRun
}

/// A runbook step; what a step lacks is None (or empty) rather than an error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedStep {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub outcome: Option<StepOutcome>,
    /// Seconds since t_fault.
    #[serde(default)]
    pub start_s: Option<f64>,
    #[serde(default)]
    pub end_s: Option<f64>,
}

/// An RTO phase (or a step's span, `step:ID`), seconds since t_fault.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedPhase {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub start_s: Option<f64>,
    #[serde(default)]
    pub end_s: Option<f64>,
}

/// Every `scorecard.json` under the given directories (recursively, following no symbolic
/// link; a file given directly is taken as a scorecard), sorted. A path that does not exist or
/// cannot be listed is an error, and so is a tree nested more than 64 directories deep.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    find_named(paths, "scorecard.json", true)
}

/// Every file called `name` under the given directories, as [`find`] finds scorecards; a file
/// given directly is taken when `take_given`, else only when it is called `name`.
pub fn find_named(paths: &[PathBuf], name: &str, take_given: bool) -> Result<Vec<PathBuf>, String> {
    find_matching(paths, &|p: &Path| p.file_name().is_some_and(|n| n == name), take_given)
}

/// Every file whose path `wanted` accepts under the given directories (recursively, following
/// no symbolic link), sorted; a file given directly is taken when `take_given` or `wanted`.
pub fn find_matching(
    paths: &[PathBuf],
    wanted: &dyn Fn(&Path) -> bool,
    take_given: bool,
) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, wanted: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err(format!("{}: directories nested too deep", dir.display()));
        }
        let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
        for e in rd {
            let e = e.map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
            let p = e.path();
            // file_type does not follow symbolic links: a link loop cannot recurse forever.
            let ft = e.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
            if ft.is_dir() {
                walk(&p, wanted, out, depth + 1)?;
            } else if wanted(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(p, wanted, &mut out, 0)?;
        } else if take_given || wanted(p) {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Reads one scorecard; every error names the file.
pub fn read_file(file: &Path) -> Result<Recorded, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let v: Recorded =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a drillbit scorecard: {e}", file.display()))?;
    if v.schema != SCHEMA {
        return Err(format!("{}: schema `{}` is not {SCHEMA}", file.display(), v.schema));
    }
    Ok(v)
}

/// Reads every file; the first error stops it.
pub fn read_files(files: &[PathBuf]) -> Result<Vec<Recorded>, String> {
    files.iter().map(|f| read_file(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_scorecard_reads_with_defaults() {
        let tmp = tempfile::tempdir().expect("tmp");
        let old = tmp.path().join("old.json");
        std::fs::write(
            &old,
            r#"{"schema": "drillbit.scorecard/v1", "scenario": {"name": "s"}, "target": "sim",
                "targets": {"rto_s": 60, "rpo_s": 5}, "measured": {},
                "verdict": {"rto": "met", "rpo": "not_measured", "overall": "pass"},
                "steps": [{"action": "wait"}], "later": "ignored"}"#,
        )
        .expect("write");
        let r = read_file(&old).expect("reads");
        assert_eq!(
            (r.seed, r.started_at.as_deref(), r.scenario.strategy.as_str()),
            (0, None, "")
        );
        assert_eq!(r.verdict.failback, FailbackVerdict::NotRun);
        assert_eq!((r.targets.rto_s, r.measured.rto_s), (60.0, None));
        assert_eq!(r.steps[0].outcome, None);
        let e = read_file(&tmp.path().join("none.json")).expect_err("missing");
        assert!(e.contains("none.json: cannot read"), "{e}");
        std::fs::write(&old, r#"{"schema": "drillbit.scorecard/v1"}"#).expect("write");
        let e = read_file(&old).expect_err("not a scorecard");
        assert!(e.contains("not a drillbit scorecard: missing field `scenario`"), "{e}");
    }

    #[test]
    fn the_finder_follows_no_symbolic_link() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = tmp.path().join("a/x");
        std::fs::create_dir_all(&a).expect("mkdir");
        std::fs::write(a.join("scorecard.json"), "{}").expect("write");
        std::fs::write(a.join("other.json"), "{}").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(tmp.path().join("a"), tmp.path().join("a/loop")).expect("symlink");
        let found = find(&[tmp.path().join("a"), a.join("scorecard.json")]).expect("finds");
        assert_eq!(found, vec![a.join("scorecard.json")]);
        let e = find(&[tmp.path().join("missing")]).expect_err("missing");
        assert!(e.contains("missing"), "{e}");
        let mut deep = tmp.path().join("d");
        for _ in 0..66 {
            deep.push("n");
        }
        std::fs::create_dir_all(&deep).expect("mkdir");
        let e = find(&[tmp.path().join("d")]).expect_err("too deep");
        assert!(e.contains("directories nested too deep"), "{e}");
    }
}
