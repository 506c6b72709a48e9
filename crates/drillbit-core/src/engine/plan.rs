//! The target-neutral plan of a drill, compiled once from a validated scenario: faults with
//! their times, the runbook as an index graph, the probe settings, the horizon. The engine and
//! every target adapter read the same plan; nothing in it assumes virtual time.

use std::collections::HashMap;

use crate::scenario::{Action, FaultType, Scenario, When};

use super::Time;

#[derive(Debug, Clone)]
pub struct PlanFault {
    pub id: String,
    pub kind: FaultType,
    pub at: Time,
    pub duration: Option<Time>,
}

#[derive(Debug, Clone)]
pub struct PlanStep {
    pub id: String,
    pub action: Action,
    /// Index into `scenario.topology.resources`.
    pub resource: Option<usize>,
    pub deps: Vec<usize>,
    pub dependents: Vec<usize>,
    pub when: When,
    pub timeout: Option<Time>,
    pub attempts: u32,
    pub retry_delay: Time,
    /// A rollback (failback) step, run only by a drill with failback.
    pub rollback: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub rto: Time,
    pub rpo: Time,
    pub faults: Vec<PlanFault>,
    pub steps: Vec<PlanStep>,
    pub trigger_after: Time,
    pub probe_interval: Time,
    pub healthy_after: u32,
    pub failure_threshold: u32,
    pub horizon: Time,
    /// Run the rollback steps after recovery (`drillbit run --failback`).
    pub failback: bool,
    pub failback_after: Time,
    /// End the run once every step has an outcome, recovered or not (the rollback run after
    /// an abort puts things back; it does not wait for a recovery).
    pub end_when_steps_done: bool,
    /// How long the system must stay settled (recovered, every step ended, every fault run its
    /// course) before the drill ends.
    pub settle: Time,
    /// How long a disruptive fault has to show an effect before the drill is inconclusive.
    pub effect_within: Time,
}

/// Default settle window on a bound system: longer than the leader lease of the common HA
/// managers (Patroni's default ttl is 30 s; pg_auto_failover declares a node unhealthy after
/// 20 s and demotes after 30 s), so a late promotion is seen inside the drill.
pub const DEFAULT_SETTLE_BOUND: Time = Time(45_000_000);
/// Default settle window elsewhere: this many probe intervals, and at least [`MIN_SETTLE`].
pub const DEFAULT_SETTLE_PROBES: u64 = 5;
pub const MIN_SETTLE: Time = Time(3_000_000);
/// Default bound for a disruptive fault's first visible effect.
pub const DEFAULT_EFFECT_WITHIN: Time = Time(60_000_000);

/// Default pause between attempts of a failed step.
pub const DEFAULT_RETRY_DELAY: Time = Time(5_000_000);

impl Plan {
    /// When a live drill's first probe goes out: a fraction of the probe interval picked by the
    /// seed (SplitMix64, so consecutive seeds spread over the interval). Faults are scheduled on
    /// whole drill times; probing on the same grid would bias every measured RTO by the same
    /// fraction of an interval. (The simulator draws its phase from the run's own random
    /// stream, so that every Monte Carlo run has its own.)
    pub fn first_probe(&self, seed: u64) -> Time {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
        Time((self.probe_interval.0 as f64 * fraction) as u64)
    }

    /// Compiles a validated scenario. Unknown references were rejected by validation, so they
    /// cannot occur here; they are skipped defensively rather than panicking.
    pub fn compile(s: &Scenario) -> Plan {
        let res_index: HashMap<&str, usize> = s
            .topology
            .resources
            .iter()
            .enumerate()
            .map(|(n, r)| (r.id(), n))
            .collect();
        // Failover steps, then rollback steps; each list's `after` names its own list.
        let mut steps: Vec<PlanStep> = Vec::new();
        for (list, offset, rollback) in [
            (&s.runbook.steps, 0, false),
            (&s.runbook.rollback, s.runbook.steps.len(), true),
        ] {
            let index: HashMap<&str, usize> = list
                .iter()
                .enumerate()
                .map(|(n, st)| (st.id.as_str(), n + offset))
                .collect();
            for st in list {
                steps.push(PlanStep {
                    id: st.id.clone(),
                    action: st.action,
                    resource: st.resource.as_deref().and_then(|r| res_index.get(r).copied()),
                    deps: st.after.iter().filter_map(|d| index.get(d.as_str()).copied()).collect(),
                    dependents: Vec::new(),
                    when: st.when,
                    timeout: st.timeout.map(|t| Time(t.0 .0)),
                    attempts: st.retries.saturating_add(1),
                    retry_delay: st.retry_delay.map_or(DEFAULT_RETRY_DELAY, |d| Time(d.0)),
                    rollback,
                });
            }
        }
        for n in 0..steps.len() {
            for d in steps[n].deps.clone() {
                steps[d].dependents.push(n);
            }
        }
        Plan {
            name: s.name.clone(),
            rto: Time(s.targets.rto.0 .0),
            rpo: Time(s.targets.rpo.0),
            faults: s
                .faults
                .iter()
                .map(|f| PlanFault {
                    id: f.id.clone(),
                    kind: f.kind,
                    at: Time(f.at.0),
                    duration: f.duration.map(|d| Time(d.0 .0)),
                })
                .collect(),
            steps,
            trigger_after: Time(s.runbook.trigger.after_detection.0),
            probe_interval: Time(s.workload.probe.interval.0 .0),
            healthy_after: s.workload.probe.healthy_after.max(1),
            failure_threshold: s.workload.probe.failure_threshold.max(1),
            horizon: Time(s.drill.horizon.0 .0),
            failback: false,
            failback_after: Time(s.runbook.failback_after.0),
            end_when_steps_done: false,
            settle: Self::settle_of(s),
            effect_within: s.drill.effect_within.map_or(DEFAULT_EFFECT_WITHIN, |d| Time(d.0 .0)),
        }
    }

    /// The scenario's settle window, or its default (see [`DEFAULT_SETTLE_BOUND`]).
    fn settle_of(s: &Scenario) -> Time {
        if let Some(d) = s.drill.settle {
            return Time(d.0);
        }
        if s.topology.resources.iter().any(|r| r.bind().is_some()) {
            return DEFAULT_SETTLE_BOUND;
        }
        let probes = Time(s.workload.probe.interval.0 .0.saturating_mul(DEFAULT_SETTLE_PROBES));
        probes.max(MIN_SETTLE)
    }

    pub fn has_disruptive_fault(&self) -> bool {
        self.faults.iter().any(|f| f.kind.is_disruptive())
    }

    /// The rollback steps alone, as a planned run with no fault: what a live target runs to
    /// put things back after an aborted drill (Ctrl-C, an FIS stop condition).
    pub fn rollback_only(&self) -> Plan {
        let keep: Vec<usize> = (0..self.steps.len()).filter(|&n| self.steps[n].rollback).collect();
        let new_index = |old: usize| keep.iter().position(|&k| k == old);
        let steps = keep
            .iter()
            .map(|&n| {
                let st = &self.steps[n];
                PlanStep {
                    deps: st.deps.iter().filter_map(|&d| new_index(d)).collect(),
                    dependents: st.dependents.iter().filter_map(|&d| new_index(d)).collect(),
                    rollback: false,
                    ..st.clone()
                }
            })
            .collect();
        Plan {
            faults: Vec::new(),
            steps,
            trigger_after: Time::ZERO,
            failback: false,
            end_when_steps_done: true,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_probe_is_within_the_interval_and_consecutive_seeds_spread_over_it() {
        let text = "name: t\nstrategy: pilot-light\ntargets: { rto: 10m, rpo: 1m }\ntopology:\n  primary_region: us-east-1\n  dr_region: us-west-2\n  resources:\n    - { id: db, kind: rds-instance, instance: app }\nfaults:\n  - { id: f, kind: db-primary-failure, resource: db, at: 10s }\nrunbook:\n  steps:\n    - { id: w, action: wait, duration: 1s }\n";
        let plan = Plan::compile(&crate::scenario::load_str("t.yaml", text).expect("valid").scenario);
        let mut deciles = [0u32; 10];
        for seed in 1..=200u64 {
            let t = plan.first_probe(seed);
            assert_eq!(t, plan.first_probe(seed), "the same seed, the same phase");
            assert!(t < plan.probe_interval, "seed {seed}: {t:?}");
            deciles[(t.0 * 10 / plan.probe_interval.0) as usize] += 1;
        }
        // 200 seeds over 10 tenths: each tenth holds some (a phase of seed % 1000 would put
        // every one of them in the first).
        assert!(deciles.iter().all(|&n| n >= 5), "{deciles:?}");
    }
}
