//! Posture lint: the seed's "common mistakes" found in a scenario, each with the reason and the
//! fix. Checks read the validated scenario; the two that need figures (replication lag against
//! the RPO, reachable RTO) ask the simulator's models, seeded, so a lint is reproducible.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::models::ModelSet;
use crate::scenario::duration::format_secs as f;
use crate::scenario::{Action, Consistency, Replication, Resource, Scenario};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub message: String,
    pub fix: &'static str,
}

/// The geography of a region: `us-east-1` -> `us-east`.
fn geography(region: &str) -> &str {
    region.rsplit_once('-').map_or(region, |(g, _)| g)
}

/// The 95th percentile of a duration model, by seeded sampling (exact enough for a lint).
fn p95(m: &crate::models::sample::Sampler) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(95);
    let mut v: Vec<f64> = (0..20_000).map(|_| m.sample(&mut rng)).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() * 95 / 100]
}

pub fn lint(s: &Scenario, simulated_p50_rto: Option<f64>) -> Vec<Finding> {
    let mut out = Vec::new();
    let steps: Vec<_> = s.all_steps().collect();

    // 1. Backups without tested restores.
    let backups = s.topology.resources.iter().any(|r| match r {
        Resource::BackupPlan(_) => true,
        Resource::RdsInstance(db) => db.backups.as_ref().is_some_and(|b| b.replicate_to_dr),
        _ => false,
    });
    if backups && !steps.iter().any(|st| st.action.restores()) {
        out.push(Finding {
            rule: "untested-backups",
            message: "backups are configured but no runbook step restores one".into(),
            fix: "add a restore step (backup.restore or rds.restore-*) and drill it monthly: untested backups are wishful thinking",
        });
    }
    // 2. DR region in the same geography.
    let (p, d) = (&s.topology.primary_region, &s.topology.dr_region);
    if geography(p) == geography(d) {
        out.push(Finding {
            rule: "same-geography",
            message: format!("{p} and {d} are in the same geography and share its risks"),
            fix: "put the DR region in another geography (us-east-1 -> us-west-2)",
        });
    }
    // 3. No rollback.
    if s.runbook.rollback.is_empty() {
        out.push(Finding {
            rule: "no-rollback",
            message: "the runbook has no rollback (failback) steps".into(),
            fix: "add the seed's rollback steps: confirm the primary, resync data, scale DR back, repoint DNS, verify",
        });
    }
    // 4. Async replication where the RPO target is below the modelled lag.
    let models = ModelSet::new(&s.models);
    for r in &s.topology.resources {
        let lag = match r {
            Resource::RdsReadReplica(rr) if rr.replication == Replication::Async => {
                Some(("replication-lag.rds", r.id()))
            }
            Resource::AuroraGlobal(a) if a.rpo_cap.is_none_or(|c| c.0 > s.targets.rpo) => {
                Some(("replication-lag.aurora-global", r.id()))
            }
            Resource::DynamodbGlobalTable(t) if t.consistency == Consistency::Eventual => {
                Some(("replication-lag.dynamodb", r.id()))
            }
            _ => None,
        };
        if let Some((model, id)) = lag {
            let p95 = p95(&models.get(model));
            if s.targets.rpo.secs() < p95 {
                out.push(Finding {
                    rule: "rpo-below-lag",
                    message: format!(
                        "`{id}` replicates asynchronously with a modelled p95 lag of {} ({model}), above the RPO target {}",
                        f(p95),
                        f(s.targets.rpo.secs())
                    ),
                    fix: "replicate synchronously (or cap the lag, e.g. rds.global_db_rpo), or agree a larger RPO; monitor the lag with an alarm",
                });
            }
        }
    }
    // 5. A failover record without a health check.
    for r in &s.topology.resources {
        if let Resource::Route53Record(rec) = r {
            if rec.health_check.is_none() {
                out.push(Finding {
                    rule: "no-health-check",
                    message: format!(
                        "record `{}` has no health check: nothing fails it over or raises the alarm",
                        rec.record
                    ),
                    fix:
                        "attach a Route 53 health check (10 s interval, threshold 3) or a CloudWatch-alarm-based check",
                });
            }
        }
    }
    // 6. DR capacity that cannot serve without a scale step, and an RTO out of reach.
    for r in &s.topology.resources {
        let (dr, min, action) = match r {
            Resource::EcsService(e) => (e.dr.desired, e.min_healthy, Action::EcsUpdateService),
            Resource::AutoScalingGroup(g) => (g.dr.desired, g.min_healthy, Action::AutoscalingUpdateGroup),
            _ => continue,
        };
        let scaled = s
            .runbook
            .steps
            .iter()
            .any(|st| st.action == action && st.resource.as_deref() == Some(r.id()));
        if dr < min && !scaled {
            out.push(Finding {
                rule: "dr-capacity",
                message: format!(
                    "`{}` runs {dr} in DR, below the {min} it needs to serve, and no failover step scales it",
                    r.id()
                ),
                fix: "add a scale step to the runbook, or keep enough capacity warm in DR",
            });
        }
    }
    if let Some(p50) = simulated_p50_rto {
        if p50 > s.targets.rto.secs() {
            out.push(Finding {
                rule: "rto-unreachable",
                message: format!(
                    "the simulated median RTO {} is above the target {}",
                    f(p50),
                    f(s.targets.rto.secs())
                ),
                fix: "drillbit simulate --sensitivity shows which step to shorten; or pick a faster strategy",
            });
        }
    }
    // 7. Retention shorter than required.
    if let Some(required) = s.requirements.as_ref().and_then(|r| r.retention) {
        for r in &s.topology.resources {
            let kept = match r {
                Resource::BackupPlan(b) => {
                    Some(b.copy_to.as_ref().map_or(b.retention, |c| c.retention.max(b.retention)))
                }
                Resource::RdsInstance(db) => db.backups.as_ref().map(|b| b.retention),
                _ => None,
            };
            if let Some(kept) = kept {
                if kept < required {
                    out.push(Finding {
                        rule: "short-retention",
                        message: format!(
                            "`{}` keeps backups {}, less than the required {}",
                            r.id(),
                            f(kept.secs()),
                            f(required.secs())
                        ),
                        fix: "raise the retention (and move old recovery points to cold storage to keep it affordable)",
                    });
                }
            }
        }
    }
    // Static stability: a failover step that needs the failed region's API.
    for f in &s.faults {
        let Some(crate::scenario::FaultKind::RegionOutage { region }) = f.spec() else {
            continue;
        };
        for st in &s.runbook.steps {
            let Some(form) = crate::report::runbook::form(s, st) else {
                continue;
            };
            for c in form.calls {
                if crate::report::runbook::call_region(s, st, c.0) == Some(region.as_str()) {
                    let call = crate::report::runbook::fill(c.1, s, st).unwrap_or_else(|| c.1.to_string());
                    out.push(Finding {
                        rule: "failed-region-dependency",
                        message: format!(
                            "step `{}` calls {call} in {region}, the region fault `{}` takes down",
                            st.id, f.id
                        ),
                        fix: "fail over through the surviving region's API (a DR runbook must not depend on the failed region's control plane)",
                    });
                }
            }
        }
    }
    out
}
