//! drillbit: disaster-recovery drills with measured RTO and RPO.
//!
//! Pipeline: scenario file -> [`scenario`] (validated model) -> [`engine`] (one runbook
//! executor; a target is an adapter) -> timeline -> [`measure`] (RTO phases, data loss) ->
//! [`scorecard`] -> [`report`] (terminal, JSON, Markdown, JUnit, HTML). [`montecarlo`]
//! repeats the simulated drill with independent seeded streams; [`trend`] reads past
//! scorecards back.

pub mod calibrate;
pub mod catalogue;
pub mod conninfo;
pub mod drill;
pub mod engine;
pub mod evidence;
pub mod exit;
pub mod lint;
pub mod measure;
pub mod models;
pub mod montecarlo;
pub mod outdir;
pub mod report;
pub mod scenario;
pub mod scorecard;
pub mod targets;
pub mod timestamp;
pub mod trend;
