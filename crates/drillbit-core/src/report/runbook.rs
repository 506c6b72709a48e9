//! The scenario's runbook as Markdown in the seed's template (trigger conditions, failover
//! steps with the exact AWS CLI commands for the scenario's resources, rollback steps, test
//! schedule), so the runbook people read and the one drillbit executes are the same file.

use std::collections::HashMap;
use std::fmt::Write;

use crate::scenario::duration::format_secs as f;
use crate::scenario::{Action, FaultType, Resource, Scenario, Side, Step, When};

/// Steps in an order that respects `after` (Kahn's algorithm, file order among equals).
fn ordered(steps: &[Step]) -> Vec<&Step> {
    let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let mut indegree: Vec<usize> = steps.iter().map(|s| s.after.len()).collect();
    let mut done = vec![false; steps.len()];
    let mut out = Vec::new();
    while out.len() < steps.len() {
        let Some(next) = (0..steps.len()).find(|&i| !done[i] && indegree[i] == 0) else {
            break;
        };
        done[next] = true;
        out.push(&steps[next]);
        for (i, s) in steps.iter().enumerate() {
            if s.after.iter().any(|a| index.get(a.as_str()) == Some(&next)) {
                indegree[i] = indegree[i].saturating_sub(1);
            }
        }
    }
    out
}

fn region(s: &Scenario, side: Option<Side>, default_dr: bool) -> &str {
    match side {
        Some(Side::Primary) => &s.topology.primary_region,
        Some(Side::Dr) => &s.topology.dr_region,
        None if default_dr => &s.topology.dr_region,
        None => &s.topology.primary_region,
    }
}

/// The AWS CLI command a step stands for, with the scenario's names filled in.
pub fn command(s: &Scenario, st: &Step) -> Option<String> {
    let res = st.resource.as_deref().and_then(|r| s.resource(r));
    let (primary, dr) = (&s.topology.primary_region, &s.topology.dr_region);
    let replica_of = |id: &str| {
        s.topology.resources.iter().find_map(|r| match r {
            Resource::RdsReadReplica(rr) if rr.source == id => Some(rr),
            _ => None,
        })
    };
    Some(match (st.action, res) {
        (Action::RdsPromoteReadReplica, Some(Resource::RdsReadReplica(rr))) => format!(
            "aws rds promote-read-replica --db-instance-identifier {} --region {}",
            rr.instance,
            region(s, rr.side, true)
        ),
        (Action::RdsPromoteReadReplica, Some(Resource::RdsInstance(db))) => {
            format!("aws rds promote-read-replica --db-instance-identifier {} --region {primary}", db.instance)
        }
        (Action::RdsCreateReadReplica, Some(Resource::RdsInstance(db))) => {
            let source = replica_of(&db.id).map_or(format!("{}-dr", db.instance), |rr| rr.instance.clone());
            format!(
                "aws rds create-db-instance-read-replica --db-instance-identifier {} \\\n    --source-db-instance-identifier arn:aws:rds:{dr}:ACCOUNT:db:{source} --region {primary}",
                db.instance
            )
        }
        (Action::RdsRebootForceFailover, Some(Resource::RdsInstance(db))) => {
            format!("aws rds reboot-db-instance --db-instance-identifier {} --force-failover", db.instance)
        }
        (Action::RdsRestoreFromSnapshot, Some(Resource::RdsInstance(db))) => format!(
            "aws rds restore-db-instance-from-db-snapshot --db-instance-identifier {i}-dr \\\n    --db-snapshot-arn <newest snapshot of {i} in {dr}>{class} --region {dr}",
            i = db.instance,
            class = db.class.as_ref().map(|c| format!(" --db-instance-class {c}")).unwrap_or_default()
        ),
        (Action::RdsRestorePointInTime, Some(Resource::RdsInstance(db))) => format!(
            "aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier {i} \\\n    --target-db-instance-identifier {i}-restored --restore-time <the last clean point>",
            i = db.instance
        ),
        (Action::RdsCreateSnapshot, Some(Resource::RdsInstance(db))) => format!(
            "aws rds create-db-snapshot --db-instance-identifier {i} --db-snapshot-identifier {i}-drill-$(date +%Y%m%d)",
            i = db.instance
        ),
        (Action::RdsStartBackupReplication, Some(Resource::RdsInstance(db))) => format!(
            "aws rds start-db-instance-automated-backups-replication \\\n    --source-db-instance-arn arn:aws:rds:{primary}:ACCOUNT:db:{} --region {dr}",
            db.instance
        ),
        (Action::AuroraFailoverGlobalCluster, Some(Resource::AuroraGlobal(a))) => format!(
            "aws rds failover-global-cluster --global-cluster-identifier {} --target-db-cluster-identifier {}{}",
            a.global_cluster,
            a.secondary_cluster,
            if st.allow_data_loss != Some(false) { " --allow-data-loss" } else { "" }
        ),
        (Action::AuroraSwitchoverGlobalCluster, Some(Resource::AuroraGlobal(a))) => format!(
            "aws rds switchover-global-cluster --global-cluster-identifier {} --target-db-cluster-identifier {}",
            a.global_cluster, a.primary_cluster
        ),
        (Action::AuroraFailoverDbCluster, Some(Resource::AuroraGlobal(a))) => {
            format!("aws rds failover-db-cluster --db-cluster-identifier {}", a.primary_cluster)
        }
        (Action::DynamodbCheckGlobalTable, Some(Resource::DynamodbGlobalTable(t))) => format!(
            "aws dynamodb describe-table --table-name {} --region {dr} --query 'Table.Replicas'",
            t.table
        ),
        (Action::S3CheckReplication, Some(Resource::S3Bucket(b))) => {
            format!("aws s3api get-bucket-replication --bucket {}", b.bucket)
        }
        (Action::EcsUpdateService, Some(Resource::EcsService(e))) => format!(
            "aws ecs update-service --cluster {} --service {} --desired-count {} --region {dr}",
            e.dr.cluster,
            e.dr.service,
            st.desired.unwrap_or(e.primary.desired)
        ),
        (Action::AutoscalingUpdateGroup, Some(Resource::AutoScalingGroup(g))) => format!(
            "aws autoscaling update-auto-scaling-group --auto-scaling-group-name {} --desired-capacity {}{} --region {dr}",
            g.dr.name,
            st.desired.unwrap_or(g.primary.desired),
            st.min.map(|m| format!(" --min-size {m}")).unwrap_or_default()
        ),
        (Action::Route53FailoverToSecondary | Action::Route53FailoverToPrimary, Some(Resource::Route53Record(r))) => {
            let to = if st.action == Action::Route53FailoverToSecondary { dr } else { primary };
            format!(
                "aws route53 change-resource-record-sets --hosted-zone-id {} \\\n    --change-batch file://{}-to-{to}.json   # UPSERT {} to the {to} endpoint",
                r.hosted_zone_id.as_deref().unwrap_or("ZONE_ID"),
                r.record,
                r.record
            )
        }
        (Action::BackupRestore, Some(Resource::BackupPlan(b))) => format!(
            "aws backup start-restore-job --recovery-point-arn <newest recovery point in {}> \\\n    --iam-role-arn <restore role> --metadata file://restore-{}.json --region {dr}",
            b.copy_to.as_ref().map_or(b.vault.as_str(), |c| c.vault.as_str()),
            b.id
        ),
        (Action::ElasticacheFailoverGlobalDatastore, Some(Resource::ElasticacheGlobal(c))) => format!(
            "aws elasticache failover-global-replication-group --global-replication-group-id {} --primary-region {dr} \\\n    --primary-replication-group-id <the {dr} member>",
            c.global_datastore
        ),
        (Action::IacDeploy, Some(r)) => {
            format!("# deploy the DR stack for `{}` from the IaC templates in {dr} (cloudformation deploy / terraform apply)", r.id())
        }
        (Action::Wait, _) => format!("sleep {}", st.duration.as_ref().map_or(0.0, |d| d.median_secs()) as u64),
        (Action::ProbeUntilHealthy, _) => {
            let host = s.topology.resources.iter().find_map(|r| match r {
                Resource::Route53Record(rec) => Some(rec.record.clone()),
                _ => None,
            });
            format!(
                "curl -fsS https://{}/health   # until {} consecutive successes",
                host.unwrap_or_else(|| "SERVICE".into()),
                s.workload.probe.healthy_after
            )
        }
        _ => return None,
    })
}

fn step_lines(o: &mut String, s: &Scenario, steps: &[Step]) {
    for (n, st) in ordered(steps).into_iter().enumerate() {
        let what = st.description.clone().unwrap_or_else(|| st.action.as_str().to_string());
        let mut meta = Vec::new();
        if !st.after.is_empty() {
            meta.push(format!("after {}", st.after.join(", ")));
        }
        match st.when {
            When::OnFailure => meta.push(format!("only if {} failed", st.after.join(" or "))),
            When::Always => meta.push("whatever the outcome before".into()),
            When::OnSuccess => {}
        }
        if let Some(t) = st.timeout {
            meta.push(format!("give up after {}", f(t.secs())));
        }
        if st.retries > 0 {
            meta.push(format!("retry {} time(s)", st.retries));
        }
        let meta = if meta.is_empty() {
            String::new()
        } else {
            format!(" ({})", meta.join("; "))
        };
        let _ = writeln!(o, "{}. **{}**: {what}{meta}", n + 1, st.id);
        if let Some(cmd) = command(s, st) {
            let _ = writeln!(o, "   ```sh\n   {}\n   ```", cmd.replace('\n', "\n   "));
        }
    }
}

pub fn render(s: &Scenario) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# DR Failover Runbook: {}\n", s.name);
    if !s.description.is_empty() {
        let _ = writeln!(o, "{}\n", s.description);
    }
    let _ = writeln!(
        o,
        "Strategy: {}. Primary region {}, DR region {}. Targets: RTO {}, RPO {}.\n",
        s.strategy.as_str(),
        s.topology.primary_region,
        s.topology.dr_region,
        f(s.targets.rto.secs()),
        f(s.targets.rpo.secs())
    );
    let _ = writeln!(o, "## Trigger Conditions\n");
    let wait = s.runbook.trigger.after_detection.secs();
    let mut triggers: Vec<String> = s
        .faults
        .iter()
        .filter(|fl| fl.kind.is_disruptive())
        .map(|fl| match fl.kind {
            FaultType::RegionOutage => format!(
                "Primary region ({}) unavailable{}",
                fl.region.as_deref().unwrap_or(&s.topology.primary_region),
                if wait > 0.0 {
                    format!(" for > {}", f(wait))
                } else {
                    String::new()
                }
            ),
            FaultType::AzOutage => format!("Availability zone {} unavailable", fl.az.as_deref().unwrap_or("?")),
            FaultType::DbPrimaryFailure => format!(
                "Database `{}` primary failure with automatic failover unsuccessful",
                fl.resource.as_deref().unwrap_or("?")
            ),
            _ => format!("Data corruption in `{}`", fl.resource.as_deref().unwrap_or("?")),
        })
        .collect();
    triggers.dedup();
    if triggers.is_empty() {
        triggers.push("Planned failover (no outage)".into());
    }
    for t in triggers {
        let _ = writeln!(o, "- {t}");
    }
    let _ = writeln!(
        o,
        "- Detected by: Route 53 health checks and client probes ({} failed probes at {} intervals)\n",
        s.workload.probe.failure_threshold,
        f(s.workload.probe.interval.secs())
    );
    let _ = writeln!(o, "## Failover Steps\n");
    step_lines(&mut o, s, &s.runbook.steps);
    if !s.runbook.rollback.is_empty() {
        let _ = writeln!(o, "\n## Rollback Steps\n");
        step_lines(&mut o, s, &s.runbook.rollback);
    }
    let _ = writeln!(o, "\n## Test Schedule\n");
    let _ = writeln!(
        o,
        "- Quarterly: full failover drill (`drillbit run` on a live target; non-business hours)"
    );
    let _ = writeln!(o, "- Monthly: backup restore verification");
    let _ = writeln!(o, "- Weekly: automated DR health check");
    let _ = writeln!(o, "- On every change: `drillbit simulate` and the emulator drill in CI");
    o
}
