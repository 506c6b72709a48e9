//! drillbit: disaster-recovery drills with measured RTO and RPO.
//!
//! The core (scenario, engine, measurement, scorecard, reports, evidence) is the
//! `drillbit-core` crate, re-exported here at the same paths; this crate adds the targets a
//! drill runs on ([`targets`]: sim, local, emulator, aws) and the binary's CLI.

#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]

pub use drillbit_core::{
    calibrate, catalogue, drill, engine, evidence, exit, lint, measure, models, montecarlo, outdir, programme,
    readiness, remediation, report, scenario, scorecard, timestamp, trend,
};

pub mod conninfo;
pub mod targets;
