//! `timeline.json`: the drill's timeline on its own.

use serde::Serialize;

use super::manifest::canonical;
use super::TIMELINE_SCHEMA;
use crate::scorecard::{EventOut, FailbackOut, PhaseOut, Scorecard, StepOut};

#[derive(Serialize)]
pub(super) struct TimelineFile<'a> {
    schema: &'static str,
    scenario: &'a str,
    target: &'a str,
    seed: u64,
    /// Seconds since the start of the drill.
    t_fault_s: Option<f64>,
    /// Seconds since the start of the drill.
    events: &'a [EventOut],
    /// Seconds since t_fault.
    phases: &'a [PhaseOut],
    /// Seconds since t_fault.
    steps: &'a [StepOut],
    failback: &'a Option<FailbackOut>,
}

/// `timeline.json`: the drill's timeline (every event, the phases and step spans), the same
/// data as in the scorecard, on its own for readers that want only the timeline.
pub fn timeline_json(sc: &Scorecard) -> String {
    canonical(&TimelineFile {
        schema: TIMELINE_SCHEMA,
        scenario: &sc.scenario.name,
        target: &sc.target,
        seed: sc.seed,
        t_fault_s: sc.measured.t_fault_s,
        events: &sc.events,
        phases: &sc.phases,
        steps: &sc.steps,
        failback: &sc.failback,
    })
}
