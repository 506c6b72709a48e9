//! The scenario's runbook as Markdown in the seed's template (trigger conditions, failover
//! steps with the exact AWS CLI commands for the scenario's resources, rollback steps, test
//! schedule), so the runbook people read and the one drillbit executes are the same file.

use std::collections::HashMap;
use std::fmt::Write;

use crate::catalogue::actions::{At, Form};
use crate::scenario::duration::format_secs as f;
use crate::scenario::{FaultType, Resource, Scenario, Step, When};

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

/// The region of a resource: its `side`, else the primary region (a read replica's, the DR
/// region).
pub fn own_region<'a>(s: &'a Scenario, r: Option<&Resource>) -> &'a str {
    let (side, default_dr) = match r {
        Some(Resource::RdsInstance(db)) => (db.side, false),
        Some(Resource::RdsReadReplica(rr)) => (rr.side, true),
        _ => (None, false),
    };
    s.side_region(side, default_dr)
}

/// The region a catalogue call goes to (None: a global service).
pub fn call_region<'a>(s: &'a Scenario, st: &Step, at: At) -> Option<&'a str> {
    let res = st.resource.as_deref().and_then(|r| s.resource(r));
    match at {
        At::Primary => Some(&s.topology.primary_region),
        At::Dr => Some(&s.topology.dr_region),
        At::Own => Some(own_region(s, res)),
        At::Global => None,
        At::Toward => Some(toward(s, st)),
    }
}

/// The region a step moves the service to: DR in the runbook, primary in the rollback.
pub fn toward<'a>(s: &'a Scenario, st: &Step) -> &'a str {
    if s.runbook.rollback.iter().any(|r| r.id == st.id) {
        &s.topology.primary_region
    } else {
        &s.topology.dr_region
    }
}

/// The value of one catalogue placeholder for a step, or None when the step's resource has
/// no such value.
fn value(name: &str, s: &Scenario, st: &Step) -> Option<String> {
    let res = st.resource.as_deref().and_then(|r| s.resource(r));
    let (primary, dr) = (&s.topology.primary_region, &s.topology.dr_region);
    let flag = |on: bool, text: &str| if on { text.to_string() } else { String::new() };
    Some(match (name, res) {
        ("primary", _) => primary.clone(),
        ("dr", _) => dr.clone(),
        ("toward", _) => toward(s, st).to_string(),
        ("region", r) => own_region(s, r).to_string(),
        ("id", Some(r)) => r.id().to_string(),
        ("instance", Some(Resource::RdsInstance(db))) => db.instance.clone(),
        ("instance", Some(Resource::RdsReadReplica(rr))) => rr.instance.clone(),
        ("replica", Some(Resource::RdsInstance(db))) => s
            .topology
            .resources
            .iter()
            .find_map(|r| match r {
                Resource::RdsReadReplica(rr) if rr.source == db.id => Some(rr.instance.clone()),
                _ => None,
            })
            .unwrap_or(format!("{}-dr", db.instance)),
        ("class_flag", Some(Resource::RdsInstance(db))) => db
            .class
            .as_ref()
            .map(|c| format!(" --db-instance-class {c}"))
            .unwrap_or_default(),
        ("multi_az", Some(Resource::RdsInstance(db))) => db.multi_az.to_string(),
        ("global_cluster", Some(Resource::AuroraGlobal(a))) => a.global_cluster.clone(),
        ("primary_cluster", Some(Resource::AuroraGlobal(a))) => a.primary_cluster.clone(),
        ("secondary_cluster", Some(Resource::AuroraGlobal(a))) => a.secondary_cluster.clone(),
        ("allow_data_loss_flag", _) => flag(st.allow_data_loss != Some(false), " --allow-data-loss"),
        ("table", Some(Resource::DynamodbGlobalTable(t))) => t.table.clone(),
        ("table_regions", Some(Resource::DynamodbGlobalTable(t))) => t.regions.join(", "),
        ("bucket", Some(Resource::S3Bucket(b))) => b.bucket.clone(),
        ("replica_bucket", Some(Resource::S3Bucket(b))) => b.replication.as_ref()?.replica_bucket().to_string(),
        ("dr_cluster", Some(Resource::EcsService(e))) => e.dr.cluster.clone(),
        ("dr_service", Some(Resource::EcsService(e))) => e.dr.service.clone(),
        ("dr_group", Some(Resource::AutoScalingGroup(g))) => g.dr.name.clone(),
        ("desired", Some(Resource::EcsService(e))) => st.desired.unwrap_or(e.primary.desired).to_string(),
        ("desired", Some(Resource::AutoScalingGroup(g))) => st.desired.unwrap_or(g.primary.desired).to_string(),
        ("min_size_flag", _) => st.min.map(|m| format!(" --min-size {m}")).unwrap_or_default(),
        ("min_size_param", _) => st.min.map(|m| format!(" MinSize={m}")).unwrap_or_default(),
        ("zone", Some(Resource::Route53Record(r))) => r.hosted_zone_id.as_deref().unwrap_or("ZONE_ID").to_string(),
        ("record", Some(Resource::Route53Record(r))) => r.record.clone(),
        ("dr_vault", Some(Resource::BackupPlan(b))) => b
            .copy_to
            .as_ref()
            .map_or(b.vault.as_str(), |c| c.vault.as_str())
            .to_string(),
        ("global_datastore", Some(Resource::ElasticacheGlobal(c))) => c.global_datastore.clone(),
        ("seconds", _) => (st.duration.as_ref().map_or(0.0, |d| d.median_secs()) as u64).to_string(),
        ("service_host", _) => s
            .topology
            .resources
            .iter()
            .find_map(|r| match r {
                Resource::Route53Record(rec) => Some(rec.record.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "SERVICE".into()),
        ("healthy_after", _) => s.workload.probe.healthy_after.to_string(),
        _ => return None,
    })
}

/// A catalogue template with the step's values filled in (None when one has no value).
pub fn fill(template: &str, s: &Scenario, st: &Step) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        out.push_str(&value(&rest[open + 1..close], s, st)?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The catalogue form for a step (its action on its resource's kind).
pub fn form(s: &Scenario, st: &Step) -> Option<&'static Form> {
    let kind = st.resource.as_deref().and_then(|r| s.resource(r)).map(Resource::kind);
    st.action.def().form(kind)
}

/// The AWS CLI command a step stands for, with the scenario's names filled in.
pub fn command(s: &Scenario, st: &Step) -> Option<String> {
    fill(form(s, st)?.cli?, s, st)
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
