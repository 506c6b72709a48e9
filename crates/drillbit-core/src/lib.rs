//! drillbit's core: everything a drill is, whatever it runs on.
//!
//! Pipeline: scenario file -> [`scenario`] (validated model) -> [`engine`] (one runbook
//! executor; a target is an adapter of [`engine::Target`]) -> timeline -> [`measure`] (RTO
//! phases, data loss) -> [`scorecard`] -> [`report`] (terminal, JSON, Markdown, JUnit, HTML)
//! -> [`evidence`] (sealed, hashed, signed). [`catalogue`] holds what drillbit knows of DR
//! operations as data (the default models), [`models`] samples them, [`montecarlo`] holds
//! the results of repeated simulated drills, [`trend`] and [`calibrate`] read past
//! scorecards back.
//!
//! This crate depends on no target, no AWS SDK and no PostgreSQL client, and does no
//! terminal I/O: the targets and the CLI live in the `drillbit` crate.

#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]

pub mod calibrate;
pub mod catalogue;
pub mod drill;
pub mod engine;
pub mod evidence;
pub mod exit;
pub mod lint;
pub mod measure;
pub mod models;
pub mod montecarlo;
pub mod outdir;
pub mod programme;
pub mod readiness;
pub mod remediation;
pub mod report;
pub mod scenario;
pub mod scorecard;
pub mod timestamp;
pub mod trend;
