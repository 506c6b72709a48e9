//! The readiness record `drillbit check` leaves (`readiness.json`, schema
//! `drillbit.readiness/v1`), sealed like a drill: every resource of the scenario checked on the
//! DR side, the drift found, who ran it and when. A ready check of the production account
//! (the aws target) is a real one and counts for the weekly health check in `report trend`
//! and `report programme`; a check of the emulator is a rehearsal and does not.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scorecard::{DrillKind, Tool};

pub const SCHEMA: &str = "drillbit.readiness/v1";
/// The record's file name in its directory.
pub const FILE: &str = "readiness.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Readiness {
    pub schema: String,
    pub tool: Tool,
    pub scenario: ScenarioRef,
    pub target: String,
    /// `real` on aws, `rehearsal` on the emulator.
    pub drill_kind: DrillKind,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub run_by: String,
    /// The account checked (aws), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub items: Vec<ReadinessItem>,
    /// Items with drift.
    pub drift: usize,
    /// Nothing drifted.
    pub ready: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioRef {
    pub name: String,
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReadinessItem {
    pub resource: String,
    pub what: String,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
}

/// Reads one readiness record; every error names the file.
pub fn read_file(file: &Path) -> Result<Readiness, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let r: Readiness =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a drillbit readiness record: {e}", file.display()))?;
    if r.schema != SCHEMA {
        return Err(format!("{}: schema `{}` is not {SCHEMA}", file.display(), r.schema));
    }
    if crate::timestamp::parse(&r.started_at).is_none() {
        return Err(format!(
            "{}: started_at `{}` is not an RFC 3339 time",
            file.display(),
            r.started_at
        ));
    }
    Ok(r)
}
