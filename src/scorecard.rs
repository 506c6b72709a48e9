//! The drill scorecard (schema `drillbit.scorecard/v1`): targets, measured figures, margins,
//! verdicts, phases, steps with outcomes, the critical path, the timeline and the environment.
//! Built once from a measurement; every reporter reads this struct.
//!
//! Times in `phases` and `steps` are seconds since t_fault; `events[].t_s` and the `t_*_s`
//! fields of `measured` are seconds since the start of the drill.

use serde::Serialize;

use crate::engine::{Entry, Plan, Time, Timeline};
use crate::measure::{self, Measurement};
use crate::scenario::{Loaded, Scenario};

pub const SCHEMA: &str = "drillbit.scorecard/v1";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
    pub locked_crates: Vec<String>,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: "drillbit",
            version: env!("CARGO_PKG_VERSION"),
            locked_crates: env!("DRILLBIT_LOCKED_CRATES")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub strategy: &'static str,
    pub description: String,
    pub primary_region: String,
    pub dr_region: String,
}

impl ScenarioInfo {
    pub fn of(l: &Loaded) -> ScenarioInfo {
        let s: &Scenario = &l.scenario;
        ScenarioInfo {
            name: s.name.clone(),
            path: l.path.clone(),
            sha256: l.sha256.clone(),
            strategy: s.strategy.as_str(),
            description: s.description.clone(),
            primary_region: s.topology.primary_region.clone(),
            dr_region: s.topology.dr_region.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Targets {
    pub rto_s: f64,
    pub rpo_s: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Measured {
    pub rto_s: Option<f64>,
    pub rpo_s: Option<f64>,
    pub recovered: bool,
    pub t_fault_s: Option<f64>,
    pub t_detect_s: Option<f64>,
    pub t_recovered_s: Option<f64>,
    pub acked_writes: u64,
    pub lost_writes: u64,
    pub indeterminate_writes: u64,
    /// Lost writes the recovered service had acknowledged (lost after recovery, e.g. by a
    /// failback to a stale primary).
    pub lost_after_recovery: u64,
    pub data_loss_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Margin {
    /// target - measured: positive is headroom, negative is the miss.
    pub rto_s: Option<f64>,
    pub rpo_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    /// "met" or "missed"
    pub rto: &'static str,
    /// "met", "missed" or "not_measured"
    pub rpo: &'static str,
    /// "ok", "failed" or "not_run": the rollback steps all succeeded and nothing the
    /// recovered service acknowledged was lost.
    pub failback: &'static str,
    /// "pass" or "fail"
    pub overall: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseOut {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    pub critical: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepOut {
    pub id: String,
    pub action: &'static str,
    pub resource: Option<String>,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub outcome: &'static str,
    pub attempts: u32,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailbackOut {
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub duration_s: Option<f64>,
    /// Every rollback step succeeded and the failback finished before the horizon.
    pub completed: bool,
    /// Client probes that failed from the start of failback on.
    pub failed_probes: u64,
    pub steps: Vec<StepOut>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventOut {
    pub t_s: f64,
    pub event: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scorecard {
    pub schema: &'static str,
    pub tool: Tool,
    pub scenario: ScenarioInfo,
    pub target: String,
    pub seed: u64,
    /// When the drill started, RFC 3339 in UTC (`2025-11-25T11:56:00Z`); stamped by the CLI
    /// (the library never reads the wall clock), absent from older scorecards and from
    /// scorecards built in-process. `drillbit report trend` orders drills by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub targets: Targets,
    pub measured: Measured,
    pub margin: Margin,
    pub verdict: Verdict,
    pub phases: Vec<PhaseOut>,
    pub steps: Vec<StepOut>,
    /// Present when the drill ran its rollback steps (`--failback`).
    pub failback: Option<FailbackOut>,
    pub critical_path: Vec<String>,
    pub events: Vec<EventOut>,
    pub models_overridden: Vec<String>,
    pub cost: Option<crate::scenario::Cost>,
    /// What the target says about how it measured (emulator: what was modelled, the moto
    /// version, provisioning, the FIS experiment).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Seconds with millisecond resolution: stable text in every report.
pub fn secs(t: Time) -> f64 {
    (t.0 as f64 / 1000.0).round() / 1000.0
}

fn round_ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub struct Context<'a> {
    pub loaded: &'a Loaded,
    pub plan: &'a Plan,
    pub target: &'a str,
    pub seed: u64,
    pub models_overridden: Vec<String>,
}

pub fn build(cx: &Context, tl: &Timeline, m: &Measurement) -> Scorecard {
    let plan = cx.plan;
    let scenario = &cx.loaded.scenario;
    let path = measure::critical_path(plan, tl);
    let phases = measure::phases(plan, tl, &path);
    let t0 = tl.t_fault.unwrap_or(Time::ZERO);
    let rel = |t: Option<Time>| t.map(|t| round_ms(t.secs() - t0.secs()));
    let all_steps: Vec<StepOut> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(n, ps)| {
            let r = &tl.steps[n];
            let detail = tl.entries.iter().rev().find_map(|(_, e)| match e {
                Entry::AttemptEnded {
                    step, detail: Some(d), ..
                } if *step == n => Some(d.to_string()),
                _ => None,
            });
            StepOut {
                id: ps.id.clone(),
                action: ps.action.as_str(),
                resource: ps.resource.map(|r| scenario.topology.resources[r].id().to_string()),
                start_s: rel(r.start),
                end_s: rel(r.end),
                outcome: r.outcome.map_or("skipped", |o| o.as_str()),
                attempts: r.attempts,
                detail,
            }
        })
        .collect();
    let (mut steps, mut rollback_steps) = (Vec::new(), Vec::new());
    for (out, ps) in all_steps.into_iter().zip(&plan.steps) {
        if ps.rollback {
            rollback_steps.push(out);
        } else {
            steps.push(out);
        }
    }
    let failback = tl.failback_start.map(|start| FailbackOut {
        start_s: rel(Some(start)).unwrap_or(0.0),
        end_s: rel(tl.failback_end),
        duration_s: tl.failback_end.map(|e| secs(e.since(start))),
        completed: tl.failback_end.is_some()
            && rollback_steps.iter().all(|s| s.outcome == "ok")
            && m.data.lost_after_recovery == 0,
        failed_probes: tl.failback_failed_probes,
        steps: rollback_steps,
    });
    let events = tl
        .entries
        .iter()
        .map(|(t, e)| EventOut {
            t_s: secs(*t),
            event: describe(plan, e),
        })
        .collect();
    let rto_s = m.rto.map(secs);
    let rpo_s = m.data.rpo.map(secs);
    let (target_rto, target_rpo) = (secs(plan.rto), secs(plan.rpo));
    Scorecard {
        schema: SCHEMA,
        tool: Tool::current(),
        scenario: ScenarioInfo::of(cx.loaded),
        target: cx.target.to_string(),
        seed: cx.seed,
        started_at: None,
        targets: Targets {
            rto_s: target_rto,
            rpo_s: target_rpo,
        },
        measured: Measured {
            rto_s,
            rpo_s,
            recovered: m.t_recovered.is_some(),
            t_fault_s: m.t_fault.map(secs),
            t_detect_s: m.t_detect.map(secs),
            t_recovered_s: m.t_recovered.map(secs),
            acked_writes: m.data.acked,
            lost_writes: m.data.lost,
            indeterminate_writes: m.data.indeterminate,
            lost_after_recovery: m.data.lost_after_recovery,
            data_loss_note: m.data.note.clone(),
        },
        margin: Margin {
            rto_s: rto_s.map(|r| round_ms(target_rto - r)),
            rpo_s: rpo_s.map(|r| round_ms(target_rpo - r)),
        },
        verdict: Verdict {
            rto: if m.rto_met { "met" } else { "missed" },
            rpo: match m.rpo_met {
                Some(true) => "met",
                Some(false) => "missed",
                None => "not_measured",
            },
            failback: match &failback {
                None => "not_run",
                Some(fb) if fb.completed => "ok",
                Some(_) => "failed",
            },
            overall: if m.passed() && failback.as_ref().is_none_or(|fb| fb.completed) {
                "pass"
            } else {
                "fail"
            },
        },
        phases: phases
            .into_iter()
            .map(|p| PhaseOut {
                name: p.name,
                start_s: secs(p.start),
                end_s: secs(p.end),
                critical: p.on_critical_path,
            })
            .collect(),
        steps,
        failback,
        critical_path: path.iter().map(|&s| plan.steps[s].id.clone()).collect(),
        events,
        models_overridden: cx.models_overridden.clone(),
        cost: scenario.cost.clone(),
        notes: Vec::new(),
    }
}

fn describe(plan: &Plan, e: &Entry) -> String {
    let step = |s: &usize| plan.steps.get(*s).map_or("?", |p| p.id.as_str());
    let fault = |f: &usize| plan.faults.get(*f).map_or("?", |p| p.id.as_str());
    match e {
        Entry::FaultInjected { fault: f } => format!("fault {} injected", fault(f)),
        Entry::FaultActive { fault: f } => format!("fault {} active", fault(f)),
        Entry::FaultRepaired { fault: f } => format!("fault {} repaired", fault(f)),
        Entry::Detected { source } => format!("failure detected by {}", source.as_str()),
        Entry::RunbookStarted => "runbook started".into(),
        Entry::RunbookSkipped => "runbook skipped: service recovered before the trigger".into(),
        Entry::AttemptStarted { step: s, attempt } => format!("step {} started (attempt {attempt})", step(s)),
        Entry::AttemptEnded {
            step: s,
            attempt,
            outcome,
            detail,
        } => match detail {
            Some(d) => format!("step {} {} (attempt {attempt}): {d}", step(s), outcome.as_str()),
            None => format!("step {} {} (attempt {attempt})", step(s), outcome.as_str()),
        },
        Entry::TrafficSwitched => "client traffic reached the recovery side".into(),
        Entry::Probe { ok: true } => "probe ok".into(),
        Entry::Probe { ok: false } => "probe failed".into(),
        Entry::Recovered => "recovered: K consecutive good probes".into(),
        Entry::FailbackStarted => "failback started: primary side restored, rollback steps running".into(),
        Entry::FailbackFinished => "failback finished".into(),
        Entry::HorizonReached => "drill horizon reached".into(),
    }
}
