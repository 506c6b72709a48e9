//! drillbit: disaster-recovery drills with measured RTO and RPO.
//!
//! Pipeline: scenario file -> [`scenario`] (validated model) -> [`engine`] (one runbook
//! executor; a target is an adapter) -> timeline -> [`measure`] (RTO phases, data loss) ->
//! [`scorecard`] -> [`report`] (terminal, JSON, Markdown, JUnit, HTML). [`montecarlo`]
//! repeats the simulated drill with independent seeded streams; [`trend`] reads past
//! scorecards back.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod aws_target;
pub mod calibrate;
pub mod conninfo;
pub mod drill;
#[cfg(feature = "aws")]
pub mod emulator;
pub mod engine;
pub mod evidence;
pub mod exit;
pub mod faultlayer;
pub mod fis;
pub mod lint;
pub mod local;
pub mod measure;
pub mod montecarlo;
pub mod outdir;
pub mod report;
pub mod scenario;
pub mod scorecard;
pub mod sim;
pub mod timestamp;
pub mod trend;
