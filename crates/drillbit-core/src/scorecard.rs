//! The drill scorecard (schema `drillbit.scorecard/v1`): targets, measured figures, margins,
//! verdicts, phases, steps with outcomes, the critical path, the timeline and the environment.
//! Built once from a measurement; every reporter reads this struct.
//!
//! Times in `phases` and `steps` are seconds since t_fault; `events[].t_s` and the `t_*_s`
//! fields of `measured` are seconds since the start of the drill.

use serde::{Deserialize, Serialize};

use crate::engine::{Entry, Labels, Plan, Time, Timeline};
use crate::measure::{self, Measurement};
use crate::scenario::{Loaded, Scenario};

mod read;
mod verdict;

pub use read::{
    find, find_matching, find_named, read_file, read_files, Recorded, RecordedMeasured, RecordedPhase,
    RecordedScenario, RecordedStep, RecordedVerdict,
};
pub use verdict::{
    CheckResult, EffectVerdict, FailbackVerdict, HostFinalState, Overall, RpoVerdict, RtoVerdict, RunbookVerdict,
    SplitBrainVerdict, StepOutcome,
};

pub const SCHEMA: &str = "drillbit.scorecard/v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
    pub locked_crates: Vec<String>,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: "drillbit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            locked_crates: env!("DRILLBIT_LOCKED_CRATES")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub strategy: String,
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
            strategy: s.strategy.as_str().into(),
            description: s.description.clone(),
            primary_region: s.topology.primary_region.clone(),
            dr_region: s.topology.dr_region.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Targets {
    pub rto_s: f64,
    pub rpo_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// How RPO is measured (the same words on every scorecard).
    pub rpo_definition: String,
    /// Seconds from t_fault until the DR side ran at the capacity the runbook scales it to
    /// (the end of its last scaling step; RTO when it scales nothing). None: not reached.
    pub time_to_full_capacity_s: Option<f64>,
    /// Seconds from t_fault to the first recovery, when a relapse moved the final one later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_recovery_s: Option<f64>,
    /// Client-visible outages after t_fault, in seconds since the start of the drill; more
    /// than one is a relapse.
    pub outages: Vec<SpanOut>,
    /// The settle window and whether it passed before the drill ended (data is read back
    /// after it).
    pub settle_s: f64,
    pub settled: bool,
    /// Other data the drill wrote and read back beside the database (a session store), each
    /// measured like the database's writes and judged against the same RPO.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<DataSetOut>,
}

/// The ledger of one other data set (a session store).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataSetOut {
    pub name: String,
    pub acked: u64,
    pub lost: u64,
    pub rpo_s: Option<f64>,
    pub lost_after_recovery: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub const RPO_DEFINITION: &str = "the time span of acknowledged writes the recovered system does not hold: \
from the acknowledgement of the last write before which nothing was lost to the later of t_fault and the \
acknowledgement of the last lost write; 0 when nothing acknowledged was lost";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpanOut {
    pub start_s: f64,
    /// None: still open when the drill ended.
    pub end_s: Option<f64>,
}

/// One fault: when it was injected, and when and how its effect was first seen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultOut {
    pub id: String,
    pub kind: String,
    /// A disruptive fault must show an effect for the drill to count.
    pub disruptive: bool,
    /// Seconds since the start of the drill.
    pub injected_s: Option<f64>,
    pub repaired_s: Option<f64>,
    pub effect_s: Option<f64>,
    /// What showed the effect: a failed client probe, a process gone, a host that stopped
    /// taking writes, an API call refused.
    pub effect: Option<String>,
    /// The bound within which a disruptive fault must show its effect.
    pub effect_within_s: f64,
}

/// A database host drillbit watched directly through the drill.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostOut {
    pub host: String,
    /// When the drill ended; None: never seen.
    pub final_state: Option<HostFinalState>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Margin {
    /// target - measured: positive is headroom, negative is the miss.
    pub rto_s: Option<f64>,
    pub rpo_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub rto: RtoVerdict,
    pub rpo: RpoVerdict,
    pub failback: FailbackVerdict,
    pub effect: EffectVerdict,
    pub runbook: RunbookVerdict,
    pub split_brain: SplitBrainVerdict,
    pub overall: Overall,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhaseOut {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    pub critical: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepOut {
    pub id: String,
    pub action: String,
    pub resource: Option<String>,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub outcome: StepOutcome,
    pub attempts: u32,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailbackOut {
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub duration_s: Option<f64>,
    /// Every rollback step succeeded and the failback finished before the horizon.
    pub completed: bool,
    /// Client probes that failed from the repair of the faults for failback on.
    pub failed_probes: u64,
    pub steps: Vec<StepOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventOut {
    pub t_s: f64,
    pub event: String,
    /// For a run of probes with the same outcome: when the last one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scorecard {
    pub schema: String,
    pub tool: Tool,
    pub scenario: ScenarioInfo,
    pub target: String,
    /// Whether the drill exercised the production system or was a rehearsal, and in words what
    /// it drilled. Only real drills count for freshness.
    pub drill_kind: DrillKind,
    pub drilled: String,
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
    /// What brought the service back (a runbook step, an automatic switch, the system itself).
    pub recovered_by: Option<String>,
    pub faults: Vec<FaultOut>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostOut>,
    /// Spans with two writable hosts or more, in seconds since the start of the drill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_brain: Vec<SpanOut>,
    /// Why the verdict is what it is, in words: every failing or inconclusive finding.
    pub findings: Vec<String>,
    /// Every check the verdict weighed, by a stable key, with its result: what remediation
    /// items are opened from and closed by (a retest passes the same key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckOut>,
    /// The infrastructure failure that ended the drill early (exit 3), with what was measured
    /// until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub events: Vec<EventOut>,
    pub models_overridden: Vec<String>,
    pub cost: Option<crate::scenario::Cost>,
    /// What the target says about how it measured (emulator: what was modelled, the moto
    /// version, provisioning, the FIS experiment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Each restore the drill carried out, with the size restored: what calibration fits the
    /// simulator's size-scaled restore model from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restores: Vec<RestoreOut>,
    /// The drill record an auditor asks for: who ran and approved it, its scope, its
    /// deviations and the lessons learned. Absent from scorecards written before it existed.
    #[serde(default)]
    pub record: DrillRecord,
    /// Where this drill's measured RTO sits on the scenario's simulated distribution
    /// (`drillbit run` simulates the same scenario, with the same models, beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<PredictionOut>,
    /// The remediation items this drill opened, closed or saw fail again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<RemediationOut>,
}

/// One check of the verdict. Keys: `rto`, `rpo`, `rpo:<data set>`, `split-brain`,
/// `failback`, `settled`, `completed` (the drill ran to its end), `step:<id>` (a runbook or
/// rollback step ran and succeeded) and `fault:<id>` (a disruptive fault showed its effect).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckOut {
    pub key: String,
    pub result: CheckResult,
    /// The finding, in words, when the check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
}

/// Where this drill left the scenario's remediation items (see `drillbit::remediation`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemediationOut {
    /// The remediation file, as given.
    pub file: String,
    /// Items this drill opened (a check that failed with no open item for it).
    pub opened: Vec<RemediationRef>,
    /// Items this drill closed: their check passed (the retest).
    pub closed: Vec<RemediationRef>,
    /// Items already open whose check failed again.
    pub still_open: Vec<RemediationRef>,
}

/// One remediation item as a report names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemediationRef {
    pub id: String,
    pub check: String,
    pub finding: String,
    pub owner: String,
    pub due: String,
}

/// Who, what and how it deviated: the parts of a DR test record the measurement lacks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DrillRecord {
    /// Who ran it: the OS user (and host) that ran drillbit; on aws also the caller's ARN.
    pub run_by: String,
    /// Who approved it (`--approved-by`, or the operator who confirmed a live drill at the
    /// prompt); None when nobody did.
    pub approved_by: Option<String>,
    /// How the approval was given.
    pub approval: String,
    pub scope: Scope,
    /// Where the drill departed from its plan: failed or timed-out steps, steps that never ran,
    /// manual interventions, faults that showed no effect, an early end.
    pub deviations: Vec<String>,
    /// Free text (`--notes`): lessons learned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lessons: Option<String>,
}

/// What the drill covered.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Scope {
    /// Every resource of the scenario, as `id (kind)`.
    pub systems: Vec<String>,
    pub regions: Vec<String>,
    /// The accounts the scenario allow-lists (aws), or the account drilled.
    pub accounts: Vec<String>,
}

/// The deviations of a drill from its plan, in words, from what the scorecard holds.
pub fn deviations(steps: &[StepOut], faults: &[FaultOut], error: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for s in steps {
        match s.outcome {
            StepOutcome::Ok if s.action == "manual" => {
                out.push(format!("manual intervention: step `{}` was done by hand", s.id))
            }
            StepOutcome::Ok => {}
            StepOutcome::Skipped => out.push(format!("step `{}` was skipped", s.id)),
            o => out.push(format!(
                "step `{}` {}{}",
                s.id,
                o.to_string().replace('_', " "),
                s.detail.as_deref().map_or(String::new(), |d| format!(": {d}"))
            )),
        }
        if s.attempts > 1 {
            out.push(format!("step `{}` took {} attempts", s.id, s.attempts));
        }
    }
    for f in faults
        .iter()
        .filter(|f| f.disruptive && f.injected_s.is_some() && f.effect_s.is_none())
    {
        out.push(format!("fault `{}` ({}) showed no effect: inconclusive", f.id, f.kind));
    }
    if let Some(e) = error {
        out.push(format!("the drill ended early: {e}"));
    }
    out
}

/// The measured RTO against the simulator's prediction for the same scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PredictionOut {
    pub runs: u64,
    pub seed: u64,
    /// Share of simulated drills (0-100) with an RTO at or below the measured one.
    pub percentile: f64,
    pub p50_s: f64,
    pub p95_s: f64,
    pub p_meet_rto: f64,
    /// The models the prediction used beyond the defaults (fitted or set by the scenario).
    pub models_overridden: Vec<String>,
}

impl PredictionOut {
    /// "this drill's RTO sits at p73 of the prediction (2000 simulated drills: p50 ..., p95 ...)".
    pub fn sentence(&self) -> String {
        use crate::scenario::duration::format_secs as f;
        let at = if self.percentile <= 0.0 {
            "below every simulated drill".to_string()
        } else if self.percentile >= 100.0 {
            "above every simulated drill".to_string()
        } else {
            format!("at p{:.0}", self.percentile.clamp(1.0, 99.0))
        };
        format!(
            "this drill's RTO sits {at} of the prediction ({} simulated drills: p50 {}, p95 {}, P(meet RTO) {:.1}%{})",
            self.runs,
            f(self.p50_s),
            f(self.p95_s),
            self.p_meet_rto * 100.0,
            if self.models_overridden.is_empty() {
                "; default models".to_string()
            } else {
                format!("; models set: {}", self.models_overridden.join(", "))
            }
        )
    }
}

/// What a drill exercised: the production system, or a rehearsal of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillKind {
    /// The production system: the aws target, or a local drill of a bound system (a system
    /// drillbit did not build, reached through its own connection string).
    Real,
    /// A rehearsal on a stand-in: the emulator, or drillbit's own local topology.
    Rehearsal,
    /// The simulator: no system was touched; every figure is modelled.
    Simulated,
}

impl DrillKind {
    /// The kind of a drill of `scenario` on `target`.
    pub fn of(target: &str, scenario: &crate::scenario::Scenario) -> (DrillKind, String) {
        let bound = scenario
            .topology
            .resources
            .iter()
            .any(|r| r.bind().is_some_and(|b| b.connection.is_some()));
        match target {
            "sim" => (
                DrillKind::Simulated,
                "nothing: a simulation on modelled timings, no system touched".into(),
            ),
            "aws" => (DrillKind::Real, "the AWS account's resources the scenario names".into()),
            "local" if bound => (
                DrillKind::Real,
                "the bound system itself, through its own connection string".into(),
            ),
            "local" => (
                DrillKind::Rehearsal,
                "drillbit's own PostgreSQL topology on this machine, a stand-in for production".into(),
            ),
            "emulator" => (
                DrillKind::Rehearsal,
                "a local AWS emulator (moto), a stand-in for the account".into(),
            ),
            other => (DrillKind::Rehearsal, format!("the {other} target")),
        }
    }

    /// A drill kind read from a scorecard written before it was recorded: only the aws target
    /// is taken for real (a local drill then may have been a rehearsal).
    pub fn inferred(target: &str) -> DrillKind {
        match target {
            "aws" => DrillKind::Real,
            "sim" => DrillKind::Simulated,
            _ => DrillKind::Rehearsal,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DrillKind::Real => "real",
            DrillKind::Rehearsal => "rehearsal",
            DrillKind::Simulated => "simulated",
        }
    }

    /// The banner a report opens with.
    pub fn banner(self) -> &'static str {
        match self {
            DrillKind::Real => "REAL DRILL: the production system was drilled",
            DrillKind::Rehearsal => "REHEARSAL: a stand-in was drilled, not the production system",
            DrillKind::Simulated => "SIMULATED: no system was drilled; every figure is modelled",
        }
    }
}

/// One measured restore: the database restored into a new instance, ready to take writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestoreOut {
    /// The runbook step that restored.
    pub step: String,
    pub recovery_point: String,
    /// Data restored, MiB (the backup's files plus the WAL replayed).
    pub mib: f64,
    /// From the copy out of the vault to the instance taking writes.
    pub seconds: f64,
    pub mib_per_s: f64,
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
                action: ps.action.as_str().into(),
                resource: ps.resource.map(|r| scenario.topology.resources[r].id().to_string()),
                start_s: rel(r.start),
                end_s: rel(r.end),
                outcome: r.outcome.map_or(StepOutcome::Skipped, StepOutcome::from),
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
            && rollback_steps.iter().all(|s| s.outcome == StepOutcome::Ok)
            && m.data.lost_after_recovery == 0
            && m.others.iter().all(|(_, d)| d.lost_after_recovery == 0),
        failed_probes: tl.failback_failed_probes,
        steps: rollback_steps,
    });
    let events = tl
        .entries
        .iter()
        .map(|(t, e)| EventOut {
            t_s: secs(*t),
            event: crate::engine::timeline::describe(&Labels::of(plan), &tl.hosts, e),
            until_s: match e {
                Entry::Probes { count, last, .. } if *count > 1 => Some(secs(*last)),
                _ => None,
            },
        })
        .collect();
    let rto_s = m.rto.map(secs);
    let rpo_s = m.data.rpo.map(secs);
    let (target_rto, target_rpo) = (secs(plan.rto), secs(plan.rpo));
    let span = |o: &crate::engine::Outage| SpanOut {
        start_s: secs(o.start),
        end_s: o.end.map(secs),
    };
    let faults: Vec<FaultOut> = plan
        .faults
        .iter()
        .enumerate()
        .map(|(f, pf)| FaultOut {
            id: pf.id.clone(),
            kind: pf.kind.as_str().into(),
            disruptive: pf.kind.is_disruptive(),
            injected_s: tl.fault_injected.get(f).copied().flatten().map(secs),
            repaired_s: tl.fault_repaired.get(f).copied().flatten().map(secs),
            effect_s: tl.effect_of(f).map(secs),
            effect: tl
                .fault_effect
                .get(f)
                .and_then(|e| e.as_ref().map(|(_, how)| how.to_string())),
            effect_within_s: secs(plan.effect_within),
        })
        .collect();
    let failback_failed = failback.as_ref().is_some_and(|fb| !fb.completed);
    let recovered_by = measure::recovered_by(plan, tl, &path);
    let v = judge(plan, tl, m, &faults, failback_failed, recovered_by.as_deref());
    let name = |h: usize| tl.hosts.get(h).map_or("?", String::as_str).to_string();
    let (drill_kind, drilled) = DrillKind::of(cx.target, scenario);
    let steps_all: Vec<StepOut> = steps
        .iter()
        .chain(failback.iter().flat_map(|f| f.steps.iter()))
        .cloned()
        .collect();
    let deviations = deviations(&steps_all, &faults, tl.error.as_deref());
    Scorecard {
        schema: SCHEMA.into(),
        tool: Tool::current(),
        scenario: ScenarioInfo::of(cx.loaded),
        target: cx.target.to_string(),
        drill_kind,
        drilled,
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
            rpo_definition: RPO_DEFINITION.into(),
            time_to_full_capacity_s: measure::full_capacity(plan, tl)
                .zip(tl.t_fault)
                .map(|(c, f)| secs(c.since(f))),
            first_recovery_s: tl
                .t_first_recovered
                .filter(|&first| Some(first) != tl.t_recovered)
                .zip(tl.t_fault)
                .map(|(r, f)| secs(r.since(f))),
            outages: tl.outages.iter().map(span).collect(),
            settle_s: secs(plan.settle),
            settled: tl.settled_at.is_some(),
            datasets: m
                .others
                .iter()
                .map(|(name, d)| DataSetOut {
                    name: name.clone(),
                    acked: d.acked,
                    lost: d.lost,
                    rpo_s: d.rpo.map(secs),
                    lost_after_recovery: d.lost_after_recovery,
                    note: d.note.clone(),
                })
                .collect(),
        },
        margin: Margin {
            rto_s: rto_s.map(|r| round_ms(target_rto - r)),
            rpo_s: rpo_s.map(|r| round_ms(target_rpo - r)),
        },
        verdict: Verdict {
            rto: if m.rto_met { RtoVerdict::Met } else { RtoVerdict::Missed },
            rpo: match m.rpo_met {
                Some(true) => RpoVerdict::Met,
                Some(false) => RpoVerdict::Missed,
                None => RpoVerdict::NotMeasured,
            },
            failback: match &failback {
                None => FailbackVerdict::NotRun,
                Some(fb) if fb.completed => FailbackVerdict::Ok,
                Some(_) => FailbackVerdict::Failed,
            },
            effect: v.effect,
            runbook: v.runbook,
            split_brain: v.split_brain,
            overall: v.overall,
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
        recovered_by,
        faults,
        hosts: (0..tl.hosts.len())
            .map(|h| HostOut {
                host: name(h),
                final_state: tl.host_state.get(h).copied().flatten().map(HostFinalState::from),
            })
            .collect(),
        split_brain: tl.split_brain.iter().map(span).collect(),
        findings: v.findings,
        checks: v.checks,
        error: tl.error.clone(),
        events,
        models_overridden: cx.models_overridden.clone(),
        cost: scenario.cost.clone(),
        notes: Vec::new(),
        restores: Vec::new(),
        record: DrillRecord {
            run_by: String::new(),
            approved_by: None,
            approval: "none".into(),
            scope: Scope {
                systems: scenario
                    .topology
                    .resources
                    .iter()
                    .map(|r| format!("{} ({})", r.id(), r.kind()))
                    .collect(),
                regions: vec![
                    scenario.topology.primary_region.clone(),
                    scenario.topology.dr_region.clone(),
                ],
                accounts: scenario.aws.as_ref().map(|a| a.accounts.clone()).unwrap_or_default(),
            },
            deviations,
            lessons: None,
        },
        prediction: None,
        remediation: None,
    }
}

struct Judgement {
    effect: EffectVerdict,
    runbook: RunbookVerdict,
    split_brain: SplitBrainVerdict,
    overall: Overall,
    findings: Vec<String>,
    checks: Vec<CheckOut>,
}

/// The verdict and the findings behind it. A definite failure (data lost beyond the RPO, a
/// split brain, a runbook step that failed unrescued, a failed failback) fails the drill; a
/// drill whose disruptive faults showed no effect, that ended before the system settled, or
/// whose runbook had steps the target could not carry out, proved nothing (or not all of it)
/// and is inconclusive rather than a pass; an infrastructure failure is an error.
fn judge(
    plan: &Plan,
    tl: &Timeline,
    m: &Measurement,
    faults: &[FaultOut],
    failback_failed: bool,
    recovered_by: Option<&str>,
) -> Judgement {
    use crate::scenario::duration::format_secs as f;
    let mut findings = Vec::new();
    let mut checks = Checks::default();
    let mut failed = false;
    let mut inconclusive = false;
    if let Some(e) = &tl.error {
        findings.push(format!("the drill ended early: {e}"));
        checks.fail("completed", findings.last());
    } else {
        checks.pass("completed");
    }
    let disruptive: Vec<&FaultOut> = faults.iter().filter(|x| x.disruptive).collect();
    let unproven: Vec<&&FaultOut> = disruptive
        .iter()
        .filter(|x| x.injected_s.is_some() && x.effect_s.is_none())
        .collect();
    for x in &disruptive {
        let key = format!("fault:{}", x.id);
        match (x.injected_s, x.effect_s) {
            (Some(_), None) => {
                findings.push(format!(
                    "fault `{}` ({}) showed no effect within {} of its injection (no failed probe, no process gone, \
                     no host change): nothing was measured",
                    x.id,
                    x.kind,
                    f(x.effect_within_s)
                ));
                checks.fail(&key, findings.last());
                inconclusive = true;
            }
            (Some(_), Some(_)) => checks.pass(&key),
            (None, _) => checks.not_tested(&key),
        }
    }
    let effect = if disruptive.is_empty() {
        EffectVerdict::NoDisruptiveFault
    } else if unproven.is_empty() {
        EffectVerdict::Observed
    } else {
        EffectVerdict::NotObserved
    };
    // A step the target could not carry out was never tested, whatever else recovered.
    let never_ran_at: Vec<usize> = (0..tl.steps.len())
        .filter(|&i| tl.steps[i].outcome == Some(crate::engine::Outcome::Unsupported))
        .collect();
    let never_ran: Vec<String> = never_ran_at
        .iter()
        .map(|&i| format!("`{}`", plan.steps[i].id))
        .collect();
    if !never_ran.is_empty() {
        findings.push(format!(
            "runbook step{} {} never ran (unsupported on this target): the drill does not show {} works",
            if never_ran.len() > 1 { "s" } else { "" },
            never_ran.join(", "),
            if never_ran.len() > 1 {
                "that any of them"
            } else {
                "that it"
            }
        ));
        inconclusive = true;
        for &i in &never_ran_at {
            checks.fail(
                &format!("step:{}", plan.steps[i].id),
                Some(&format!(
                    "runbook step `{}` never ran (unsupported on this target)",
                    plan.steps[i].id
                )),
            );
        }
    }
    let unrescued = measure::unrescued_failures(plan, tl);
    for &s in &unrescued {
        let outcome = tl.steps[s].outcome.map_or("failed", |o| o.as_str());
        findings.push(format!(
            "runbook step `{}` {} and no fallback rescued it{}",
            plan.steps[s].id,
            outcome.replace('_', " "),
            match (m.t_recovered, recovered_by) {
                (Some(_), Some(by)) => format!("; the service came back through {by}"),
                _ => String::new(),
            }
        ));
        checks.fail(&format!("step:{}", plan.steps[s].id), findings.last());
        failed = true;
    }
    for (i, ps) in plan.steps.iter().enumerate() {
        let key = format!("step:{}", ps.id);
        if tl.steps[i].outcome == Some(crate::engine::Outcome::Ok) {
            checks.pass(&key);
        } else if !never_ran_at.contains(&i) && !unrescued.contains(&i) {
            // Skipped, never reached, or failed and rescued by a fallback: not shown to work.
            checks.not_tested(&key);
        }
    }
    for sb in &tl.split_brain {
        let end = sb.end.unwrap_or(tl.end);
        findings.push(format!(
            "split brain: two hosts took writes at once for {} (from {} to {}{})",
            f(secs(end.since(sb.start))),
            f(secs(sb.start)),
            f(secs(end)),
            if sb.end.is_none() {
                ", still so when the drill ended"
            } else {
                ""
            }
        ));
        if sb.start == tl.split_brain[0].start {
            checks.fail("split-brain", findings.last());
        }
        failed = true;
    }
    if tl.hosts.is_empty() {
        checks.not_tested("split-brain");
    } else if tl.split_brain.is_empty() {
        checks.pass("split-brain");
    }
    if m.data.rpo.is_some_and(|r| r > plan.rpo) {
        findings.push(format!(
            "RPO missed: {} acknowledged writes lost, RPO {} against {}",
            m.data.lost,
            m.data.rpo.map_or("?".into(), |r| f(secs(r))),
            f(secs(plan.rpo))
        ));
        checks.fail("rpo", findings.last());
        failed = true;
    } else if m.data.rpo.is_some() {
        checks.pass("rpo");
    } else {
        checks.not_tested("rpo");
    }
    for (name, d) in &m.others {
        let key = format!("rpo:{name}");
        if d.rpo.is_some_and(|r| r <= plan.rpo) {
            checks.pass(&key);
        } else if d.rpo.is_none() {
            checks.not_tested(&key);
        }
        if let Some(r) = d.rpo.filter(|&r| r > plan.rpo) {
            findings.push(format!(
                "RPO missed for {name}: {} of {} acknowledged writes lost, RPO {} against {}",
                d.lost,
                d.acked,
                f(secs(r)),
                f(secs(plan.rpo))
            ));
            checks.fail(&key, findings.last());
            failed = true;
        }
    }
    if failback_failed {
        findings.push("failback failed".into());
        checks.fail("failback", findings.last());
        failed = true;
    } else if tl.failback_start.is_some() {
        checks.pass("failback");
    } else {
        checks.not_tested("failback");
    }
    if !m.rto_met {
        findings.push(match m.rto {
            Some(r) => format!("RTO missed: {} against {}", f(secs(r)), f(secs(plan.rto))),
            None => "the service did not recover before the drill horizon".into(),
        });
        checks.fail("rto", findings.last());
    } else {
        checks.pass("rto");
    }
    if m.t_recovered.is_some() && tl.settled_at.is_none() && tl.error.is_none() && !plan.end_when_steps_done {
        findings.push(format!(
            "the drill ended before the system settled ({} with nothing left to happen): data was read back early",
            f(secs(plan.settle))
        ));
        checks.fail("settled", findings.last());
        inconclusive = true;
    } else if tl.settled_at.is_some() {
        checks.pass("settled");
    } else {
        checks.not_tested("settled");
    }
    // A drill whose faults showed no effect, or that ended early, shows nothing held: what
    // it saw pass is not tested (a step that ran and succeeded still did).
    if tl.error.is_some() || effect == EffectVerdict::NotObserved {
        for c in &mut checks.0 {
            if c.result == CheckResult::Pass
                && !c.key.starts_with("step:")
                && !c.key.starts_with("fault:")
                && c.key != "completed"
            {
                c.result = CheckResult::NotTested;
            }
        }
    }
    let overall = if tl.error.is_some() {
        Overall::Error
    } else if failed {
        Overall::Fail
    } else if inconclusive {
        Overall::Inconclusive
    } else if !m.rto_met {
        Overall::Fail
    } else {
        Overall::Pass
    };
    Judgement {
        effect,
        runbook: if unrescued.is_empty() {
            RunbookVerdict::Ok
        } else {
            RunbookVerdict::Failed
        },
        split_brain: if tl.hosts.is_empty() {
            SplitBrainVerdict::NotWatched
        } else if tl.split_brain.is_empty() {
            SplitBrainVerdict::None
        } else {
            SplitBrainVerdict::Observed
        },
        overall,
        findings,
        checks: checks.0,
    }
}

/// The checks of a verdict, each key once: the first result recorded for a key stands.
#[derive(Default)]
struct Checks(Vec<CheckOut>);

impl Checks {
    fn put(&mut self, key: &str, result: CheckResult, finding: Option<&String>) {
        if self.0.iter().all(|c| c.key != key) {
            self.0.push(CheckOut {
                key: key.to_string(),
                result,
                finding: finding.cloned(),
            });
        }
    }
    fn pass(&mut self, key: &str) {
        self.put(key, CheckResult::Pass, None);
    }
    fn fail(&mut self, key: &str, finding: Option<&String>) {
        self.put(key, CheckResult::Fail, finding);
    }
    fn not_tested(&mut self, key: &str) {
        self.put(key, CheckResult::NotTested, None);
    }
}
