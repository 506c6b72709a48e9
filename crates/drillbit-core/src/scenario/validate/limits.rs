//! The bounds every scenario is held to, whatever the file says, and their check.

use super::{i, k, Ctx};
use crate::scenario::dist::Dist;
use crate::scenario::model::*;
use crate::scenario::yaml::PathSeg;

/// The documented upper bounds of a scenario (README, "Bounds"): what a drill may cost in time,
/// memory and output is bounded by them whatever the file says.
pub mod bounds {
    /// Longest drill: a week.
    pub const HORIZON_MAX_S: u64 = 7 * 86_400;
    /// Client probes: at least 100 ms apart (with the horizon: at most ~6 million per drill),
    /// at most an hour.
    pub const PROBE_INTERVAL_MIN_MS: u64 = 100;
    pub const PROBE_INTERVAL_MAX_S: u64 = 3_600;
    /// healthy_after and failure_threshold (probes and health checks).
    pub const PROBE_COUNT_MAX: u32 = 1_000;
    /// A health check: 100 ms to 1 h apart.
    pub const HEALTH_CHECK_INTERVAL_MAX_S: u64 = 3_600;
    /// A backup plan runs at least once a year and at most once a minute.
    pub const BACKUP_EVERY_MIN_S: u64 = 60;
    pub const BACKUP_EVERY_MAX_S: u64 = 366 * 86_400;
    /// Settle window and a local fault command's timeout: at most an hour.
    pub const SETTLE_MAX_S: u64 = 3_600;
    pub const COMMAND_TIMEOUT_MAX_S: u64 = 3_600;
    /// Counts.
    pub const RESOURCES_MAX: usize = 200;
    pub const FAULTS_MAX: usize = 100;
    pub const STEPS_MAX: usize = 500;
    pub const EMPIRICAL_SAMPLES_MAX: usize = 100_000;
}

pub(super) fn check_bounds(s: &Scenario, c: &mut Ctx) {
    use crate::scenario::duration::format_secs;
    use bounds::*;
    let secs = |us: u64| us as f64 / 1e6;
    let too_long = |what: &str, us: u64, max_s: u64| {
        format!(
            "{what} is {}: at most {} is supported",
            format_secs(secs(us)),
            format_secs(max_s as f64)
        )
    };
    let h = s.drill.horizon.0 .0;
    if h > HORIZON_MAX_S * 1_000_000 {
        c.err(
            &[k("drill"), k("horizon")],
            too_long("the drill horizon", h, HORIZON_MAX_S),
        );
    }
    let p = &s.workload.probe;
    let iv = p.interval.0 .0;
    if iv < PROBE_INTERVAL_MIN_MS * 1_000 {
        c.err(
            &[k("workload"), k("probe"), k("interval")],
            format!(
                "the probe interval is {}: at least {PROBE_INTERVAL_MIN_MS}ms is supported",
                format_secs(secs(iv))
            ),
        );
    } else if iv > PROBE_INTERVAL_MAX_S * 1_000_000 {
        c.err(
            &[k("workload"), k("probe"), k("interval")],
            too_long("the probe interval", iv, PROBE_INTERVAL_MAX_S),
        );
    }
    for (field, v) in [
        ("healthy_after", p.healthy_after),
        ("failure_threshold", p.failure_threshold),
    ] {
        if v > PROBE_COUNT_MAX {
            c.err(
                &[k("workload"), k("probe"), k(field)],
                format!("{field} is {v}: at most {PROBE_COUNT_MAX} is supported"),
            );
        }
    }
    let count = |c: &mut Ctx, path: &[PathSeg], what: &str, n: usize, max: usize| {
        if n > max {
            c.err(path, format!("{n} {what}: at most {max} are supported"));
        }
    };
    count(
        c,
        &[k("topology"), k("resources")],
        "resources",
        s.topology.resources.len(),
        RESOURCES_MAX,
    );
    count(c, &[k("faults")], "faults", s.faults.len(), FAULTS_MAX);
    for (list, steps) in [("steps", &s.runbook.steps), ("rollback", &s.runbook.rollback)] {
        count(c, &[k("runbook"), k(list)], "steps", steps.len(), STEPS_MAX);
        // (retries: at most 100, checked with the runbook)
        for (n, st) in steps.iter().enumerate() {
            if let Some(Dist::Empirical(v)) = &st.duration {
                count(
                    c,
                    &[k("runbook"), k(list), i(n), k("duration")],
                    "samples",
                    v.len(),
                    EMPIRICAL_SAMPLES_MAX,
                );
            }
        }
    }
    for (n, r) in s.topology.resources.iter().enumerate() {
        let at = |field: &str| [k("topology"), k("resources"), i(n), k(field)];
        match r {
            Resource::BackupPlan(b) => {
                let e = b.every.0 .0;
                if e < BACKUP_EVERY_MIN_S * 1_000_000 {
                    c.err(
                        &at("every"),
                        format!(
                            "backups every {}: at most once a minute is supported",
                            format_secs(secs(e))
                        ),
                    );
                } else if e > BACKUP_EVERY_MAX_S * 1_000_000 {
                    c.err(&at("every"), too_long("the backup interval", e, BACKUP_EVERY_MAX_S));
                }
            }
            Resource::Route53Record(r) => {
                if let Some(hc) = &r.health_check {
                    let path = [k("topology"), k("resources"), i(n), k("health_check"), k("interval")];
                    let iv = hc.interval.0 .0;
                    if iv < PROBE_INTERVAL_MIN_MS * 1_000 {
                        c.err(
                            &path,
                            format!("a health check runs at most once every {PROBE_INTERVAL_MIN_MS}ms"),
                        );
                    } else if iv > HEALTH_CHECK_INTERVAL_MAX_S * 1_000_000 {
                        c.err(
                            &path,
                            too_long("the health check interval", iv, HEALTH_CHECK_INTERVAL_MAX_S),
                        );
                    }
                    if hc.failure_threshold > PROBE_COUNT_MAX {
                        c.err(
                            &[
                                k("topology"),
                                k("resources"),
                                i(n),
                                k("health_check"),
                                k("failure_threshold"),
                            ],
                            format!(
                                "failure_threshold is {}: at most {PROBE_COUNT_MAX} is supported",
                                hc.failure_threshold
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(st) = s.drill.settle {
        if st.0 > SETTLE_MAX_S * 1_000_000 {
            c.err(
                &[k("drill"), k("settle")],
                too_long("the settle window", st.0, SETTLE_MAX_S),
            );
        }
    }
    for (n, f) in s.faults.iter().enumerate() {
        if let Some(LocalFaultSpec::Command { timeout: Some(t), .. }) = &f.local {
            if t.0 .0 > COMMAND_TIMEOUT_MAX_S * 1_000_000 {
                c.err(
                    &[k("faults"), i(n), k("local"), k("timeout")],
                    too_long("the command timeout", t.0 .0, COMMAND_TIMEOUT_MAX_S),
                );
            }
        }
    }
}
