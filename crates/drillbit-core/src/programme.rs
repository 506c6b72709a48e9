//! The DR test programme across every scenario (`drillbit report programme`): for each
//! scenario, its latest real drill against its objectives, its freshness against the schedule,
//! its weekly health check and its open remediation, each drill linked to its sealed evidence
//! by the hash of its manifest; the remediation items open and closed; the drills left out
//! because their evidence failed; and what each part shows, mapped to the controls auditors
//! test DR against.
//!
//! It is built on [`crate::trend`] (the same evidence checks, kinds and schedules) and the
//! remediation files ([`crate::remediation`]) found beside the scenarios.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::remediation::{self, Status};
use crate::scorecard::DrillKind;
use crate::trend::{Drill, Trend};

/// One scenario's line of the programme.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub strategy: String,
    /// The latest real drill (None: none was found).
    pub latest_real: Option<Evidenced>,
    /// Drills of any kind found (rehearsals and simulations count for nothing here).
    pub drills: usize,
    pub rehearsals: usize,
    pub cadence: crate::trend::Cadence,
    pub days_since_pass: Option<i64>,
    /// No passing real drill within the schedule.
    pub overdue: bool,
    /// The weekly health check in words, and whether it is overdue (None: not held to it).
    pub health: Option<(String, bool)>,
    pub open_items: usize,
    pub overdue_items: usize,
}

/// A drill and its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidenced {
    pub drill: Drill,
    /// The drill's `manifest.json`, and its SHA-256.
    pub manifest: PathBuf,
    pub manifest_sha256: String,
}

/// One remediation item, with the file it is kept in.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    pub file: PathBuf,
    pub scenario: String,
    pub item: remediation::Item,
    pub overdue: bool,
}

/// A control of a framework and what in the programme answers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Control {
    pub framework: &'static str,
    pub control: &'static str,
    pub asks: &'static str,
    pub shown_by: &'static str,
}

/// The controls the programme maps to (DR testing evidence they ask for).
pub const CONTROLS: &[Control] = &[
    Control {
        framework: "SOC 2 (Trust Services Criteria)",
        control: "A1.3",
        asks: "recovery plan procedures supporting system recovery are tested",
        shown_by: "latest real drill per scenario against its RTO/RPO objectives; freshness; sealed evidence",
    },
    Control {
        framework: "SOC 2 (Trust Services Criteria)",
        control: "CC9.1",
        asks: "risk mitigation activities for potential business disruptions are identified and developed",
        shown_by: "findings as remediation items with owners, due dates and retests",
    },
    Control {
        framework: "ISO 22301:2019",
        control: "8.5",
        asks: "an exercise programme: exercises on a schedule, documented results, post-exercise review",
        shown_by: "schedule and freshness per scenario; drill reports; lessons learned and remediation",
    },
    Control {
        framework: "ISO/IEC 27001:2022",
        control: "A.5.30",
        asks: "ICT readiness for business continuity is planned, implemented, maintained and tested against objectives",
        shown_by: "measured RTO/RPO against objectives; weekly health checks of the DR side",
    },
    Control {
        framework: "DORA, Regulation (EU) 2022/2554",
        control: "Art. 11",
        asks: "ICT business continuity and response and recovery plans tested regularly (at least yearly)",
        shown_by: "freshness against the schedule; real drills only; results and deviations",
    },
    Control {
        framework: "Delegated Regulation (EU) 2024/1774",
        control: "Art. 25",
        asks: "testing of ICT business continuity plans, including switchover to redundant capacity, with documented results",
        shown_by: "failover and failback drills per scenario; findings and remediation; evidence hashes",
    },
    Control {
        framework: "FFIEC IT Handbook, Business Continuity Management",
        control: "VII.K",
        asks: "exercise and test results reported, with gaps tracked to resolution",
        shown_by: "programme report; remediation items open and closed by retest",
    },
    Control {
        framework: "PCI DSS v4.0",
        control: "12.10",
        asks: "the incident response plan, business recovery included, tested at least once every 12 months",
        shown_by: "latest real drill date per scenario; freshness",
    },
];

#[derive(Debug, Clone, PartialEq)]
pub struct Programme {
    pub as_of: i64,
    pub inputs: Vec<String>,
    pub rows: Vec<Row>,
    /// Every remediation item found, open ones first, then by file and id.
    pub items: Vec<ItemRow>,
    /// Drills and checks left out because their evidence does not verify.
    pub excluded: Vec<(PathBuf, String)>,
    pub later: usize,
}

impl Programme {
    pub fn overdue(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.overdue || r.health.as_ref().is_some_and(|h| h.1))
            .count()
    }
    pub fn open_items(&self) -> usize {
        self.items.iter().filter(|i| i.item.status.is_active()).count()
    }
    pub fn overdue_items(&self) -> usize {
        self.items.iter().filter(|i| i.overdue).count()
    }
    /// Nothing overdue, no remediation past due, no evidence that failed.
    pub fn clean(&self) -> bool {
        self.overdue() == 0 && self.overdue_items() == 0 && self.excluded.is_empty()
    }
}

/// The drill's `manifest.json` and its SHA-256 (empty when it cannot be read: the trend
/// already left out a drill whose evidence does not verify).
fn manifest_of(scorecard: &Path) -> (PathBuf, String) {
    let dir = scorecard.parent().unwrap_or(Path::new("."));
    let m = dir.join(crate::evidence::MANIFEST);
    let sha = std::fs::read(&m)
        .map(|b| crate::evidence::sha256_hex(&b))
        .unwrap_or_default();
    (m, sha)
}

/// Builds the programme from a trend and the remediation files read (path, file).
pub fn build(t: &Trend, files: Vec<(PathBuf, remediation::File)>) -> Programme {
    let mut items: Vec<ItemRow> = files
        .iter()
        .flat_map(|(path, f)| {
            f.items.iter().map(|it| ItemRow {
                file: path.clone(),
                scenario: f.scenario.clone(),
                item: it.clone(),
                overdue: it.overdue(t.as_of),
            })
        })
        .collect();
    items.sort_by(|a, b| {
        (!a.item.status.is_active(), &a.scenario, id_number(&a.item.id), &a.file).cmp(&(
            !b.item.status.is_active(),
            &b.scenario,
            id_number(&b.item.id),
            &b.file,
        ))
    });
    let mut names: BTreeSet<String> = t.scenarios.iter().map(|s| s.name.clone()).collect();
    names.extend(files.iter().map(|(_, f)| f.scenario.clone()));
    let rows = names
        .into_iter()
        .map(|name| {
            let s = t.scenarios.iter().find(|s| s.name == name);
            let mine = items.iter().filter(|i| i.scenario == name);
            let open_items = mine.clone().filter(|i| i.item.status.is_active()).count();
            let overdue_items = mine.filter(|i| i.overdue).count();
            match s {
                Some(s) => {
                    let latest_real = s.drills.iter().rev().find(|d| d.kind == DrillKind::Real).map(|d| {
                        let (manifest, manifest_sha256) = manifest_of(&d.file);
                        Evidenced {
                            drill: d.clone(),
                            manifest,
                            manifest_sha256,
                        }
                    });
                    Row {
                        scenario: name,
                        strategy: s.strategy.clone(),
                        latest_real,
                        drills: s.drills.len(),
                        rehearsals: s.drills.iter().filter(|d| d.kind != DrillKind::Real).count(),
                        cadence: s.cadence,
                        days_since_pass: s.days_since_pass,
                        overdue: s.overdue,
                        health: s
                            .health
                            .as_ref()
                            .filter(|h| h.tracked)
                            .map(|h| (crate::report::text::health_line(h), h.overdue)),
                        open_items,
                        overdue_items,
                    }
                }
                // Remediation kept for a scenario no drill under the inputs ran.
                None => Row {
                    scenario: name,
                    strategy: String::new(),
                    latest_real: None,
                    drills: 0,
                    rehearsals: 0,
                    cadence: crate::trend::QUARTERLY_FAILOVER,
                    days_since_pass: None,
                    overdue: true,
                    health: None,
                    open_items,
                    overdue_items,
                },
            }
        })
        .collect();
    Programme {
        as_of: t.as_of,
        inputs: t.inputs.clone(),
        rows,
        items,
        excluded: t.excluded.clone(),
        later: t.later,
    }
}

fn id_number(id: &str) -> (u64, String) {
    (
        id.strip_prefix("R-").and_then(|n| n.parse().ok()).unwrap_or(u64::MAX),
        id.to_string(),
    )
}

/// Every `*.remediation.yaml` under the given directories (a file given directly is taken if
/// it is one), sorted; following no symbolic link.
pub fn find_remediation(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let is_one = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".remediation.yaml"))
    };
    crate::scorecard::find_matching(paths, &is_one, false)
}

/// Reads remediation files; each file's own scenario is taken as it says.
pub fn read_remediation(paths: &[PathBuf]) -> Result<Vec<(PathBuf, remediation::File)>, String> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
            Ok((p.clone(), remediation::parse(&text, p)?))
        })
        .collect()
}

/// The status of an item as the programme prints it.
pub fn status_word(i: &ItemRow) -> &'static str {
    if i.overdue {
        return "OVERDUE";
    }
    match i.item.status {
        Status::Open => "open",
        Status::InProgress => "in progress",
        Status::Accepted => "accepted",
        Status::Closed => "closed",
    }
}
