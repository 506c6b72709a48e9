//! Measurement, the same on every target: RTO and its phases, the critical path through the
//! runbook, acknowledged and lost writes, RPO. Reads only the [`Timeline`] and the target's
//! [`Ledger`]; this is the one place RTO and RPO are computed.
//!
//! Definitions (brief, "Measurement definitions"):
//! - t_fault: the instant the first disruptive fault took effect.
//! - t_detect: the instant the drill's monitoring declared the failure (health check or probe
//!   alarm).
//! - t_recovered: start of the first run of K consecutive good client probes after t_fault.
//! - RTO = t_recovered - t_fault.
//! - Lost writes: acknowledged but missing after the system settled. RPO is the time span of
//!   acknowledged data the recovered system does not hold: from the ack of the last write
//!   before which nothing was lost to the later of t_fault and the ack of the last lost write
//!   (0 when nothing was lost). Writes lost over a 20 s split brain after the fault give an RPO
//!   of about 20 s, not 0.

use std::ops::Range;

use crate::engine::{Ledger, Outcome, Plan, Time, Timeline};
use crate::scenario::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct DataLoss {
    pub acked: u64,
    pub lost: u64,
    pub indeterminate: u64,
    /// None when not measurable.
    pub rpo: Option<Time>,
    pub first_lost_seq: Option<u64>,
    /// Lost writes that the recovered service had acknowledged (t_ack >= t_recovered): data the
    /// drill lost after recovery, e.g. by failing back to a stale primary.
    pub lost_after_recovery: u64,
    pub note: Option<String>,
}

impl Ledger {
    fn span_count(rate: f64, (a, b): (Time, Time)) -> u64 {
        if b <= a || rate <= 0.0 {
            return 0;
        }
        // Writes at a, a + 1/r, ... strictly before b.
        let n = ((b.0 - a.0) as f64 * rate / 1e6).ceil();
        n.max(0.0) as u64
    }

    fn ack_time(&self, seq: u64) -> Option<Time> {
        match self {
            Ledger::Steady { rate, spans, .. } => {
                let mut base = 0;
                for &span in spans {
                    let n = Self::span_count(*rate, span);
                    if seq < base + n {
                        let k = (seq - base) as f64;
                        return Some(Time(span.0 .0 + (k * 1e6 / rate).floor() as u64));
                    }
                    base += n;
                }
                None
            }
            Ledger::Recorded { acks, .. } => acks.get(seq as usize).copied(),
            Ledger::NotMeasurable(_) => None,
        }
    }

    /// Lost sequence ranges, sorted and disjoint.
    fn lost_ranges(&self) -> Vec<Range<u64>> {
        match self {
            Ledger::Steady { rate, spans, lost, .. } => {
                let mut out: Vec<Range<u64>> = Vec::new();
                let mut base = 0u64;
                for &span in spans {
                    let n = Self::span_count(*rate, span);
                    for &(la, lb) in lost {
                        // Writes k with la < t_k <= lb, t_k = a + k/r.
                        let first = if la < span.0 {
                            0
                        } else {
                            (((la.0 - span.0 .0) as f64 * rate / 1e6).floor() as u64) + 1
                        };
                        if lb < span.0 {
                            continue;
                        }
                        let last_excl = ((((lb.0 - span.0 .0) as f64) * rate / 1e6).floor() as u64 + 1).min(n);
                        if first < last_excl {
                            out.push(base + first..base + last_excl);
                        }
                    }
                    base += n;
                }
                merge(out)
            }
            Ledger::Recorded { lost, .. } => merge(lost.clone()),
            Ledger::NotMeasurable(_) => Vec::new(),
        }
    }

    fn acked(&self) -> u64 {
        match self {
            Ledger::Steady { rate, spans, .. } => spans.iter().map(|&s| Self::span_count(*rate, s)).sum(),
            Ledger::Recorded { acks, .. } => acks.len() as u64,
            Ledger::NotMeasurable(_) => 0,
        }
    }
}

fn merge(mut v: Vec<Range<u64>>) -> Vec<Range<u64>> {
    v.retain(|r| r.start < r.end);
    v.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Lost writes and RPO from a ledger; the one definition every target uses.
pub fn data_loss(t_fault: Option<Time>, t_recovered: Option<Time>, ledger: &Ledger) -> DataLoss {
    if let Ledger::NotMeasurable(why) = ledger {
        return DataLoss {
            acked: 0,
            lost: 0,
            indeterminate: 0,
            rpo: None,
            first_lost_seq: None,
            lost_after_recovery: 0,
            note: Some(why.clone()),
        };
    }

    let acked = ledger.acked();
    let lost_ranges = ledger.lost_ranges();
    let lost: u64 = lost_ranges.iter().map(|r| r.end.min(acked) - r.start.min(acked)).sum();
    let indeterminate = match ledger {
        Ledger::Recorded { indeterminate, .. } => *indeterminate,
        _ => 0,
    };
    let first = lost_ranges.first().map(|r| r.start).filter(|&s| s < acked);
    let t_fault = match ledger {
        Ledger::Steady { shift, .. } => t_fault.map(|t| t.plus(*shift)),
        _ => t_fault,
    };
    // The last lost write, and when it was acknowledged.
    let last_lost_ack = lost_ranges
        .iter()
        .rev()
        .find(|r| r.start < acked)
        .and_then(|r| ledger.ack_time(r.end.min(acked) - 1));
    let rpo = match first {
        None => Time::ZERO,
        Some(s) => {
            let from = if s == 0 {
                Time::ZERO
            } else {
                ledger.ack_time(s - 1).unwrap_or(Time::ZERO)
            };
            let until = match (t_fault, last_lost_ack) {
                (Some(tf), Some(last)) => tf.max(last),
                (Some(tf), None) => tf,
                (None, Some(last)) => last,
                (None, None) => from,
            };
            until.since(from)
        }
    };
    let shift = match ledger {
        Ledger::Steady { shift, .. } => *shift,
        _ => Time::ZERO,
    };
    let lost_after_recovery = t_recovered.map_or(0, |tr| {
        let tr = tr.plus(shift);
        lost_ranges
            .iter()
            .map(|r| {
                let end = r.end.min(acked);
                // Ack times grow with the sequence: find the first lost write acked at or after tr.
                let (mut lo, mut hi) = (r.start.min(end), end);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if ledger.ack_time(mid).is_some_and(|t| t >= tr) {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                end - lo
            })
            .sum()
    });
    DataLoss {
        acked,
        lost,
        indeterminate,
        rpo: Some(rpo),
        first_lost_seq: first,
        lost_after_recovery,
        note: None,
    }
}

/// The figures of one drill.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub t_fault: Option<Time>,
    pub t_detect: Option<Time>,
    pub t_recovered: Option<Time>,
    /// None when the service did not recover before the horizon.
    pub rto: Option<Time>,
    pub data: DataLoss,
    /// Other data the target keeps a ledger of (a session store), measured the same way.
    pub others: Vec<(String, DataLoss)>,
    pub rto_met: bool,
    /// None when data loss is not measurable on the target. Every measurable data set counts:
    /// the database's writes and each of `others`.
    pub rpo_met: Option<bool>,
}

impl Measurement {
    pub fn passed(&self) -> bool {
        self.rto_met && self.rpo_met != Some(false)
    }
}

pub fn measure(plan: &Plan, tl: &Timeline, ledger: &Ledger) -> Measurement {
    measure_all(plan, tl, ledger, &[])
}

/// [`measure`] with the target's other ledgers (name, ledger), each judged against the same RPO.
pub fn measure_all(plan: &Plan, tl: &Timeline, ledger: &Ledger, others: &[(String, Ledger)]) -> Measurement {
    let rto = match (tl.t_fault, tl.t_recovered) {
        (Some(f), Some(r)) => Some(r.since(f)),
        _ => None,
    };
    let data = data_loss(tl.t_fault, tl.t_recovered, ledger);
    let others: Vec<(String, DataLoss)> = others
        .iter()
        .map(|(n, l)| (n.clone(), data_loss(tl.t_fault, tl.t_recovered, l)))
        .collect();
    let rpo_met = std::iter::once(&data)
        .chain(others.iter().map(|(_, d)| d))
        .filter_map(|d| d.rpo)
        .fold(None, |acc: Option<bool>, r| Some(acc.unwrap_or(true) && r <= plan.rpo));
    Measurement {
        t_fault: tl.t_fault,
        t_detect: tl.t_detect,
        t_recovered: tl.t_recovered,
        rto,
        rto_met: rto.is_some_and(|r| r <= plan.rto),
        rpo_met,
        data,
        others,
    }
}

/// Failover steps that failed or timed out and that no `on-failure` fallback rescued (a
/// fallback that ran and succeeded). Such a step fails the drill even when the service came back
/// by other means: the runbook as written did not work.
pub fn unrescued_failures(plan: &Plan, tl: &Timeline) -> Vec<usize> {
    (0..plan.steps.len())
        .filter(|&s| !plan.steps[s].rollback && tl.steps[s].outcome.is_some_and(Outcome::is_failure))
        .filter(|&s| {
            !plan.steps[s].dependents.iter().any(|&d| {
                plan.steps[d].when == crate::scenario::When::OnFailure && tl.steps[d].outcome == Some(Outcome::Ok)
            })
        })
        .collect()
}

/// What brought the service back, in words: the runbook step that ended last on the critical
/// path, an automatic traffic switch, or the system itself (no drillbit step did it).
pub fn recovered_by(plan: &Plan, tl: &Timeline, path: &[usize]) -> Option<String> {
    let rec = tl.t_recovered?;
    if let Some(&s) = path.last() {
        return Some(format!("runbook step `{}`", plan.steps[s].id));
    }
    if tl.t_traffic_switched.is_some_and(|t| t <= rec) {
        return Some("an automatic traffic switch (the health check's failover)".into());
    }
    if tl.outages.is_empty() {
        return Some("nothing: clients never saw an outage".into());
    }
    Some("the system itself: no runbook step was on the path to recovery".into())
}

/// When the DR side reached the capacity the scenario asks for: the end of the last failover
/// step that scales a service (ECS desired count, Auto Scaling group), or recovery when the
/// runbook scales nothing. None when a scaling step did not succeed or the service never
/// recovered.
pub fn full_capacity(plan: &Plan, tl: &Timeline) -> Option<Time> {
    let rec = tl.t_recovered?;
    let mut at = rec;
    for (s, st) in plan.steps.iter().enumerate() {
        if st.rollback || !matches!(st.action, Action::EcsUpdateService | Action::AutoscalingUpdateGroup) {
            continue;
        }
        match (tl.steps[s].outcome, tl.steps[s].end) {
            (Some(Outcome::Ok), Some(end)) => at = at.max(end),
            (Some(Outcome::Skipped), _) => {}
            _ => return None,
        }
    }
    Some(at)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub start: Time,
    pub end: Time,
    pub on_critical_path: bool,
}

/// The chain of steps that decided when the service recovered: from the last step to end
/// before recovery, back through the dependency that ended last.
pub fn critical_path(plan: &Plan, tl: &Timeline) -> Vec<usize> {
    let limit = tl.t_recovered.unwrap_or(tl.end);
    let ran = |s: usize| {
        let r = &tl.steps[s];
        !plan.steps[s].rollback
            && r.start.is_some()
            && r.end.is_some_and(|e| e <= limit)
            && r.outcome != Some(Outcome::Skipped)
    };
    let mut current = (0..plan.steps.len())
        .filter(|&s| ran(s))
        .max_by_key(|&s| (tl.steps[s].end, std::cmp::Reverse(s)));
    let mut path = Vec::new();
    while let Some(s) = current {
        path.push(s);
        current = plan.steps[s]
            .deps
            .iter()
            .copied()
            .filter(|&d| ran(d))
            .max_by_key(|&d| (tl.steps[d].end, std::cmp::Reverse(d)));
    }
    path.reverse();
    path
}

/// RTO broken into phases: detect, decide, each runbook step, traffic switch, client healthy.
pub fn phases(plan: &Plan, tl: &Timeline, path: &[usize]) -> Vec<Phase> {
    let mut out = Vec::new();
    let Some(t_fault) = tl.t_fault else { return out };
    let mut push = |name: String, start: Time, end: Time, crit: bool| {
        if end >= start {
            out.push(Phase {
                name,
                start: start.since(t_fault),
                end: end.since(t_fault),
                on_critical_path: crit,
            });
        }
    };
    if let Some(d) = tl.t_detect {
        push("detect".into(), t_fault, d, true);
        if let Some(r) = tl.runbook_start {
            push("decide".into(), d, r, true);
        }
    }
    for (s, rec) in tl.steps.iter().enumerate().filter(|(s, _)| !plan.steps[*s].rollback) {
        if let (Some(a), Some(b)) = (rec.start, rec.end) {
            push(format!("step:{}", plan.steps[s].id), a, b, path.contains(&s));
        }
    }
    if let Some(sw) = tl.t_traffic_switched {
        let dns_step_end = tl
            .steps
            .iter()
            .enumerate()
            .filter(|(s, r)| {
                matches!(
                    plan.steps[*s].action,
                    Action::Route53FailoverToSecondary | Action::Route53FailoverToPrimary
                ) && r.end.is_some_and(|e| e <= sw)
                    && r.outcome == Some(Outcome::Ok)
            })
            .filter_map(|(_, r)| r.end)
            .max();
        let start = dns_step_end.or(tl.t_detect).unwrap_or(t_fault);
        // The switch gates recovery only when it lands after the runbook's critical path is
        // done; an automatic switch (a health check's failover) that came while the DR side
        // was still being readied did not set the RTO.
        let path_end = path.last().and_then(|&s| tl.steps[s].end);
        let gating = path_end.is_none_or(|e| sw >= e);
        push("traffic-switch".into(), start, sw, gating);
    }
    if let Some(rec) = tl.t_recovered {
        let last_path_end = path.last().and_then(|&s| tl.steps[s].end);
        let start = [last_path_end, tl.t_traffic_switched, tl.t_detect]
            .into_iter()
            .flatten()
            .filter(|&t| t <= rec)
            .max()
            .unwrap_or(t_fault);
        push("client-healthy".into(), start, rec, true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: f64) -> Time {
        Time::from_secs(s)
    }

    #[test]
    fn nothing_lost_means_rpo_zero() {
        let l = Ledger::Steady {
            rate: 10.0,
            spans: vec![(t(0.0), t(100.0))],
            lost: vec![],
            shift: Time::ZERO,
        };
        let d = data_loss(Some(t(100.0)), None, &l);
        assert_eq!(d.acked, 1000);
        assert_eq!(d.lost, 0);
        assert_eq!(d.rpo, Some(Time::ZERO));
    }

    #[test]
    fn lag_window_sets_lost_writes_and_rpo() {
        // 10 writes/s, fault at 100 s, 2 s of lag: writes acked in (98, 100) are lost.
        let l = Ledger::Steady {
            rate: 10.0,
            spans: vec![(t(0.0), t(100.0))],
            lost: vec![(t(98.0), t(100.0))],
            shift: Time::ZERO,
        };
        let d = data_loss(Some(t(100.0)), None, &l);
        assert_eq!(d.lost, 19); // 98.1 .. 99.9
        assert_eq!(d.first_lost_seq, Some(981));
        assert_eq!(d.rpo, Some(t(2.0)));
    }

    #[test]
    fn recorded_ledger_uses_same_definition() {
        let acks: Vec<Time> = (0..10).map(|k| t(k as f64)).collect();
        let l = Ledger::Recorded {
            acks,
            lost: vec![7..8, 9..10],
            indeterminate: 2,
        };
        let d = data_loss(Some(t(10.0)), None, &l);
        assert_eq!((d.acked, d.lost, d.indeterminate), (10, 2, 2));
        // last write before which nothing was lost: seq 6 acked at 6 s.
        assert_eq!(d.rpo, Some(t(4.0)));
    }

    #[test]
    fn everything_lost_counts_from_drill_start() {
        let l = Ledger::Steady {
            rate: 1.0,
            spans: vec![(t(0.0), t(10.0))],
            lost: vec![(Time::ZERO, t(10.0))],
            shift: Time::ZERO,
        };
        let d = data_loss(Some(t(10.0)), None, &l);
        // write 0 at t=0 is not inside (0, 10], so the first lost is seq 1.
        assert_eq!(d.first_lost_seq, Some(1));
        assert_eq!(d.rpo, Some(t(10.0)));
    }

    #[test]
    fn losses_after_recovery_are_counted_apart() {
        // Acked at 0..9 s; recovered at 6 s; writes 3 and 7, 8 lost.
        let acks: Vec<Time> = (0..10).map(|k| t(k as f64)).collect();
        let l = Ledger::Recorded {
            acks,
            lost: vec![3..4, 7..9],
            indeterminate: 0,
        };
        let d = data_loss(Some(t(5.0)), Some(t(6.0)), &l);
        assert_eq!(d.lost, 3);
        assert_eq!(d.lost_after_recovery, 2);
        let steady = Ledger::Steady {
            rate: 1.0,
            spans: vec![(t(0.0), t(20.0))],
            lost: vec![(t(12.5), t(15.0))],
            shift: t(2.0),
        };
        // Writes at 13, 14, 15 s (ledger time) are lost; recovery at drill time 11 s is ledger
        // time 13 s, so all three were acknowledged by the recovered service; at 12 s, two.
        assert_eq!(data_loss(Some(t(8.0)), Some(t(11.0)), &steady).lost_after_recovery, 3);
        assert_eq!(data_loss(Some(t(8.0)), Some(t(12.0)), &steady).lost_after_recovery, 2);
    }

    #[test]
    fn not_measurable_is_not_zero() {
        let d = data_loss(Some(t(1.0)), None, &Ledger::NotMeasurable("emulator".into()));
        assert_eq!(d.rpo, None);
    }
}

#[cfg(test)]
mod other_ledgers {
    use super::*;

    /// A second data set (a session store) is judged against the same RPO as the database.
    #[test]
    fn a_session_store_beyond_the_rpo_misses_it() {
        let text = "name: t\nstrategy: warm-standby\ntargets: { rto: 1m, rpo: 2s }\ntopology:\n  primary_region: us-east-1\n  dr_region: us-west-2\n  resources:\n    - { id: db, kind: rds-instance, instance: db }\nfaults: []\nrunbook: { steps: [{ id: v, action: probe-until-healthy }] }\n";
        let l = crate::scenario::load_str("t.yaml", text).expect("scenario");
        let plan = Plan::compile(&l.scenario);
        let mut tl = Timeline::new(false);
        tl.t_fault = Some(Time::from_secs(10.0));
        let acks: Vec<Time> = (0..20).map(|k| Time::from_secs(k as f64)).collect();
        let db = Ledger::Recorded {
            acks: acks.clone(),
            lost: vec![],
            indeterminate: 0,
        };
        // Sessions acked from 5 s on were lost: RPO 5 s against 2 s.
        let sessions = Ledger::Recorded {
            acks,
            lost: std::iter::once(6..11).collect(),
            indeterminate: 0,
        };
        let alone = measure(&plan, &tl, &db);
        assert_eq!(alone.rpo_met, Some(true));
        let m = measure_all(&plan, &tl, &db, &[("sessions".into(), sessions)]);
        assert_eq!(m.data.rpo, Some(Time::ZERO));
        assert_eq!(m.others[0].1.lost, 5);
        assert_eq!(m.others[0].1.rpo, Some(Time::from_secs(5.0)));
        assert_eq!(m.rpo_met, Some(false));
        let unmeasurable = measure_all(&plan, &tl, &Ledger::NotMeasurable("x".into()), &[]);
        assert_eq!(unmeasurable.rpo_met, None);
    }
}
