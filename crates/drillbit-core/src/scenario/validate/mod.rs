//! Semantic checks a schema cannot express: unique ids, references between resources, faults
//! and steps, runbook cycles, which parameters an action or fault kind takes, model names.
//!
//! Every problem is collected (not only the first) with the position of the node at fault,
//! looked up in the positioned YAML tree by path.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::model::*;
use super::yaml::{node_at, Mark, Node, PathSeg};

pub type Problem = (Option<Mark>, String);

struct Ctx<'a> {
    root: &'a Node,
    problems: Vec<Problem>,
}

fn k(s: &str) -> PathSeg {
    PathSeg::Key(s.to_string())
}
fn i(n: usize) -> PathSeg {
    PathSeg::Index(n)
}

impl Ctx<'_> {
    /// Records a problem at the deepest node of `path` that exists.
    fn err(&mut self, path: &[PathSeg], msg: impl Into<String>) {
        let mut mark = None;
        for len in (0..=path.len()).rev() {
            if let Some(n) = node_at(self.root, &path[..len]) {
                mark = Some(n.mark);
                break;
            }
        }
        self.problems.push((mark, msg.into()));
    }

    /// Mark of the key itself (not its value), for "this field is not used here" problems.
    fn err_key(&mut self, parent: &[PathSeg], key: &str, msg: impl Into<String>) {
        let key_mark = node_at(self.root, parent).and_then(|n| match &n.value {
            super::yaml::Value::Map(entries) => entries
                .iter()
                .find(|(kn, _)| kn.text.as_deref() == Some(key))
                .map(|(kn, _)| kn.mark),
            _ => None,
        });
        match key_mark {
            Some(m) => self.problems.push((Some(m), msg.into())),
            None => {
                let mut p = parent.to_vec();
                p.push(k(key));
                self.err(&p, msg)
            }
        }
    }
}

pub fn validate(s: &Scenario, root: &Node) -> Vec<Problem> {
    let mut c = Ctx {
        root,
        problems: Vec::new(),
    };
    check_header(s, &mut c);
    let kinds = check_resources(s, &mut c);
    check_workload(s, &kinds, &mut c);
    check_faults(s, &kinds, &mut c);
    check_runbook(s, &kinds, &mut c);
    check_models(s, &mut c);
    check_aws(s, &kinds, &mut c);
    check_bounds(s, &mut c);
    if let Some(cost) = &s.cost {
        for (field, v) in [
            ("dr_monthly_usd", Some(cost.dr_monthly_usd)),
            ("primary_monthly_usd", cost.primary_monthly_usd),
        ] {
            if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                c.err(&[k("cost"), k(field)], format!("{field} must be a number >= 0"));
            }
        }
    }
    c.problems.sort_by_key(|(m, _)| m.map(|m| (m.line, m.col)));
    c.problems
}

mod limits;
pub use limits::bounds;
use limits::check_bounds;

fn check_header(s: &Scenario, c: &mut Ctx) {
    let ok_name = !s.name.is_empty()
        && s.name.len() <= 64
        && s.name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !ok_name {
        c.err(
            &[k("name")],
            format!(
                "invalid name `{}`: expected 1-64 lowercase letters, digits and dashes",
                s.name
            ),
        );
    }
    let t = &s.topology;
    for (field, region) in [("primary_region", &t.primary_region), ("dr_region", &t.dr_region)] {
        if !valid_region(region) {
            c.err(
                &[k("topology"), k(field)],
                format!("invalid region `{region}`: expected an AWS region name like us-east-1"),
            );
        }
    }
    if t.primary_region == t.dr_region {
        c.err(
            &[k("topology"), k("dr_region")],
            format!(
                "dr_region is the same as primary_region ({}): a DR region must be a different region",
                t.dr_region
            ),
        );
    }
    if s.targets.rpo.0 > s.drill.horizon.0 .0 || s.targets.rto.0 > s.drill.horizon.0 {
        c.err(&[k("targets")], "targets exceed the drill horizon: raise drill.horizon");
    }
    if let Some(p) = s.targets.confidence {
        if !(p > 0.0 && p < 1.0) {
            c.err(
                &[k("targets"), k("confidence")],
                format!("invalid confidence {p}: expected a fraction between 0 and 1 (0.95 for 95%)"),
            );
        }
    }
}

/// The `aws:` section: allow-listed accounts and regions, the probe URL, the canary stores.
fn check_aws(s: &Scenario, kinds: &HashMap<&str, &Resource>, c: &mut Ctx) {
    let Some(a) = &s.aws else { return };
    for (n, acct) in a.accounts.iter().enumerate() {
        if acct.len() != 12 || !acct.chars().all(|ch| ch.is_ascii_digit()) {
            c.err(
                &[k("aws"), k("accounts"), i(n)],
                format!("invalid account id `{acct}`: expected 12 digits"),
            );
        }
    }
    for (n, r) in a.regions.iter().enumerate() {
        if !valid_region(r) {
            c.err(
                &[k("aws"), k("regions"), i(n)],
                format!("invalid region `{r}`: expected an AWS region name like us-east-1"),
            );
        }
    }
    if let Some(u) = &a.probe_url {
        let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            c.err(
                &[k("aws"), k("probe_url")],
                format!("invalid probe_url `{u}`: expected an http:// or https:// URL with a host"),
            );
        }
    }
    if let Some(rate) = a.canary_rate {
        if !(rate.is_finite() && rate > 0.0 && rate <= 1000.0) {
            c.err(
                &[k("aws"), k("canary_rate")],
                format!("canary_rate is {rate}: expected a number above 0 and at most 1000"),
            );
        }
    }
    let mut seen = HashSet::new();
    for (n, id) in a.canaries.iter().enumerate() {
        let path = [k("aws"), k("canaries"), i(n)];
        if !seen.insert(id.as_str()) {
            c.err(&path, format!("`{id}` is listed twice"));
            continue;
        }
        match kinds.get(id.as_str()) {
            None => c.err(&path, format!("unknown resource `{id}`")),
            Some(Resource::DynamodbGlobalTable(_)) => {}
            Some(Resource::S3Bucket(b)) if b.replication.is_some() => {}
            Some(Resource::S3Bucket(_)) => c.err(
                &path,
                format!("`{id}` has no replication: a canary needs a DR copy to read back"),
            ),
            Some(Resource::RdsInstance(db)) if db.bind.as_ref().is_some_and(|b| b.connection.is_some()) => {}
            Some(Resource::AuroraGlobal(db)) if db.bind.as_ref().is_some_and(|b| b.connection.is_some()) => {}
            Some(Resource::RdsInstance(_) | Resource::AuroraGlobal(_)) => c.err(
                &path,
                format!("`{id}` has no `bind: {{ connection: ... }}`: the canary writes through a PostgreSQL connection"),
            ),
            Some(r) => c.err(
                &path,
                format!(
                    "`{id}` is {} {}: canaries go to a database bound by connection, a dynamodb-global-table or a replicated s3-bucket",
                    article(r.kind()),
                    r.kind()
                ),
            ),
        }
    }
}

fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|ch| ch.is_ascii_digit()))
}

fn check_id(id: &str, path: &[PathSeg], what: &str, seen: &mut HashSet<String>, c: &mut Ctx) {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    if !ok {
        c.err(
            path,
            format!("invalid {what} id `{id}`: expected letters, digits, `-` or `_`"),
        );
    } else if !seen.insert(id.to_string()) {
        c.err(path, format!("duplicate {what} id `{id}`: ids must be unique"));
    }
}

fn check_resources<'a>(s: &'a Scenario, c: &mut Ctx) -> HashMap<&'a str, &'a Resource> {
    let mut seen = HashSet::new();
    let mut kinds = HashMap::new();
    for (n, r) in s.topology.resources.iter().enumerate() {
        check_id(
            r.id(),
            &[k("topology"), k("resources"), i(n), k("id")],
            "resource",
            &mut seen,
            c,
        );
        kinds.insert(r.id(), r);
    }
    if s.topology.resources.is_empty() {
        c.err(&[k("topology"), k("resources")], "no resources: expected at least one");
    }
    for (n, r) in s.topology.resources.iter().enumerate() {
        let base = [k("topology"), k("resources"), i(n)];
        let at = |f: &str| {
            let mut p = base.to_vec();
            p.push(k(f));
            p
        };
        if let Some(why) = super::binding::arn_problem(r) {
            let mut p = at("bind");
            p.push(k("arn"));
            c.err(&p, why);
        }
        match r {
            Resource::RdsReadReplica(rr) => match kinds.get(rr.source.as_str()) {
                Some(Resource::RdsInstance(_)) => {}
                Some(other) => c.err(
                    &at("source"),
                    format!(
                        "source `{}` is {} {}: expected an rds-instance",
                        rr.source,
                        article(other.kind()),
                        other.kind()
                    ),
                ),
                None => c.err(
                    &at("source"),
                    format!("unknown resource `{}`: expected the id of an rds-instance", rr.source),
                ),
            },
            Resource::BackupPlan(b) => {
                for (j, id) in b.resources.iter().enumerate() {
                    if !kinds.contains_key(id.as_str()) {
                        let mut p = at("resources");
                        p.push(i(j));
                        c.err(&p, format!("unknown resource `{id}` in backup plan"));
                    }
                }
            }
            Resource::DynamodbGlobalTable(d) => {
                for region in [&s.topology.primary_region, &s.topology.dr_region] {
                    if !d.regions.contains(region) {
                        c.err(&at("regions"), format!(
                            "replica regions do not include {region}: a global table must have a replica in the primary and the DR region"
                        ));
                    }
                }
            }
            Resource::Route53Record(rec) => {
                if let Some(hc) = &rec.health_check {
                    if !(1..=10).contains(&hc.failure_threshold) {
                        let mut p = at("health_check");
                        p.push(k("failure_threshold"));
                        c.err(
                            &p,
                            format!(
                                "failure_threshold {} out of range: expected 1 to 10",
                                hc.failure_threshold
                            ),
                        );
                    }
                }
                if rec.automatic == Some(true) && rec.health_check.is_none() {
                    c.err(&at("automatic"), "automatic failover needs a health_check");
                }
            }
            Resource::RdsInstance(RdsInstance {
                storage_gib: Some(g), ..
            })
            | Resource::AuroraGlobal(AuroraGlobal {
                storage_gib: Some(g), ..
            }) if !(g.is_finite() && *g > 0.0) => {
                c.err(&at("storage_gib"), "storage_gib must be a positive number");
            }
            Resource::EcsService(EcsService { image_gib: Some(g), .. }) if !(g.is_finite() && *g > 0.0) => {
                c.err(&at("image_gib"), "image_gib must be a positive number");
            }
            _ => {}
        }
    }
    kinds
}

fn check_workload(s: &Scenario, kinds: &HashMap<&str, &Resource>, c: &mut Ctx) {
    let w = &s.workload;
    if !(w.writes_per_second.is_finite() && w.writes_per_second >= 0.0) {
        c.err(
            &[k("workload"), k("writes_per_second")],
            format!("writes_per_second is {}: expected a number >= 0", w.writes_per_second),
        );
    } else if w.writes_per_second > 1e6 {
        c.err(
            &[k("workload"), k("writes_per_second")],
            "writes_per_second above 1,000,000 is not supported",
        );
    }
    if let Some(g) = w.data_gib {
        if !(g.is_finite() && g > 0.0 && g <= 1024.0) {
            c.err(
                &[k("workload"), k("data_gib")],
                format!("data_gib is {g}: expected a size in GiB above 0 and at most 1024"),
            );
        }
    }
    if w.probe.healthy_after == 0 {
        c.err(
            &[k("workload"), k("probe"), k("healthy_after")],
            "healthy_after is 0: expected at least 1 good probe",
        );
    }
    if w.probe.failure_threshold == 0 {
        c.err(
            &[k("workload"), k("probe"), k("failure_threshold")],
            "failure_threshold is 0: expected at least 1",
        );
    }
    if let Some(id) = &w.writes_to {
        match kinds.get(id.as_str()) {
            Some(r) if r.is_data_store() => {}
            Some(r) => c.err(
                &[k("workload"), k("writes_to")],
                format!(
                    "`{id}` is {} {}: writes go to a database (rds-instance, aurora-global, dynamodb-global-table)",
                    article(r.kind()),
                    r.kind()
                ),
            ),
            None => c.err(&[k("workload"), k("writes_to")], format!("unknown resource `{id}`")),
        }
    }
}

fn check_faults(s: &Scenario, kinds: &HashMap<&str, &Resource>, c: &mut Ctx) {
    let mut seen = HashSet::new();
    let mut regions: Vec<&str> = vec![&s.topology.primary_region, &s.topology.dr_region];
    for r in &s.topology.resources {
        if let Resource::DynamodbGlobalTable(d) = r {
            regions.extend(d.regions.iter().map(String::as_str));
        }
    }
    for (n, f) in s.faults.iter().enumerate() {
        let base = vec![k("faults"), i(n)];
        let at = |field: &str| {
            let mut p = base.clone();
            p.push(k(field));
            p
        };
        check_id(&f.id, &at("id"), "fault", &mut seen, c);
        let (required, accepted) = f.kind.params();
        let present: [(&str, bool); 6] = [
            ("region", f.region.is_some()),
            ("az", f.az.is_some()),
            ("resource", f.resource.is_some()),
            ("lag", f.lag.is_some()),
            ("delay", f.delay.is_some()),
            ("detail", f.detail.is_some()),
        ];
        for (name, is_set) in present {
            if is_set && !accepted.contains(&name) {
                c.err_key(
                    &base,
                    name,
                    format!(
                        "`{name}` is not a parameter of a {} fault: expected {}",
                        f.kind.as_str(),
                        accepted.join(", ")
                    ),
                );
            }
            if !is_set && required.contains(&name) {
                c.err(&base, format!("a {} fault needs `{name}`", f.kind.as_str()));
            }
        }
        if f.at.0 >= s.drill.horizon.0 .0 {
            c.err(
                &at("at"),
                format!("fault at {} is after the drill horizon {}", f.at, s.drill.horizon),
            );
        }
        if let Some(region) = &f.region {
            if !regions.contains(&region.as_str()) {
                c.err(
                    &at("region"),
                    format!(
                        "region `{region}` is not in the topology: expected one of {}",
                        regions.join(", ")
                    ),
                );
            }
        }
        if let (Some(az), Some(region)) = (&f.az, &f.region) {
            if !az.starts_with(region.as_str()) || az.len() != region.len() + 1 {
                c.err(
                    &at("az"),
                    format!("availability zone `{az}` is not in {region}: expected e.g. {region}a"),
                );
            }
        }
        if let Some(id) = &f.resource {
            let allowed: &[&str] = match f.kind {
                FaultType::DbPrimaryFailure => &["rds-instance", "aurora-global"],
                FaultType::DataCorruption => &["rds-instance", "aurora-global", "dynamodb-global-table"],
                FaultType::ReplicationPause | FaultType::ReplicationLagSpike => &[
                    "rds-read-replica",
                    "aurora-global",
                    "dynamodb-global-table",
                    "s3-bucket",
                ],
                FaultType::HealthCheckPassing => &["route53-record"],
                FaultType::ScaleOutBlocked => &["ecs-service", "auto-scaling-group"],
                _ => &[],
            };
            match kinds.get(id.as_str()) {
                None => c.err(&at("resource"), format!("unknown resource `{id}`")),
                Some(r) if !allowed.is_empty() && !allowed.contains(&r.kind()) => c.err(
                    &at("resource"),
                    format!(
                        "`{id}` is {} {}: a {} fault acts on {}",
                        article(r.kind()),
                        r.kind(),
                        f.kind.as_str(),
                        allowed.join(", ")
                    ),
                ),
                Some(Resource::Route53Record(rec)) if rec.health_check.is_none() => c.err(
                    &at("resource"),
                    format!("`{id}` has no health_check for the fault to keep passing"),
                ),
                _ => {}
            }
        }
    }
    if !s.faults.is_empty() && !s.faults.iter().any(|f| f.kind.is_disruptive()) {
        c.err(&[k("faults")], "no disruptive fault (region-outage, az-outage, db-primary-failure, data-corruption): nothing starts the outage the drill measures");
    }
}

fn check_runbook(s: &Scenario, kinds: &HashMap<&str, &Resource>, c: &mut Ctx) {
    let mut seen = HashSet::new();
    for (list_name, steps) in [("steps", &s.runbook.steps), ("rollback", &s.runbook.rollback)] {
        for (n, st) in steps.iter().enumerate() {
            let base = vec![k("runbook"), k(list_name), i(n)];
            check_step(st, &base, kinds, &mut seen, c);
        }
        check_graph(steps, list_name, c);
    }
    if s.runbook.steps.is_empty() {
        c.err(
            &[k("runbook"), k("steps")],
            "the runbook has no steps: expected at least one",
        );
    }
}

fn check_step(st: &Step, base: &[PathSeg], kinds: &HashMap<&str, &Resource>, seen: &mut HashSet<String>, c: &mut Ctx) {
    let at = |field: &str| {
        let mut p = base.to_vec();
        p.push(k(field));
        p
    };
    check_id(&st.id, &at("id"), "step", seen, c);
    let def = st.action.def();
    match (def.kinds(), &st.resource) {
        (None, Some(_)) => c.err_key(
            base,
            "resource",
            format!("action {} takes no resource", st.action.as_str()),
        ),
        (Some(allowed), None) => c.err(
            base,
            format!(
                "action {} needs `resource`: the id of {} {}",
                st.action.as_str(),
                article(allowed[0]),
                allowed.join(" or ")
            ),
        ),
        (Some(allowed), Some(id)) => match kinds.get(id.as_str()) {
            None => c.err(&at("resource"), format!("unknown resource `{id}`")),
            Some(r) if !allowed.contains(&r.kind()) => c.err(
                &at("resource"),
                format!(
                    "`{id}` is {} {}: action {} acts on {}",
                    article(r.kind()),
                    r.kind(),
                    st.action.as_str(),
                    allowed.join(" or ")
                ),
            ),
            _ => {}
        },
        (None, None) => {}
    }
    use crate::catalogue::actions::Param;
    for (param, set) in [
        (Param::Desired, st.desired.is_some()),
        (Param::Min, st.min.is_some()),
        (Param::AllowDataLoss, st.allow_data_loss.is_some()),
    ] {
        if set && !def.params.contains(&param) {
            c.err_key(
                base,
                param.key(),
                format!("`{}` is not used by action {}", param.key(), st.action.as_str()),
            );
        }
    }
    if def.needs_duration && st.duration.is_none() {
        c.err(base, format!("a {} step needs `duration`", st.action.as_str()));
    }
    if st.when == When::OnFailure && st.after.is_empty() {
        c.err(
            &at("when"),
            "when: on-failure needs `after`: the steps whose failure it handles",
        );
    }
    if st.retries > 100 {
        c.err(
            &at("retries"),
            format!("retries {} is too many: expected at most 100", st.retries),
        );
    }
    if let (Some(min), Some(desired)) = (st.min, st.desired) {
        if min > desired {
            c.err(&at("min"), format!("min {min} is above desired {desired}"));
        }
    }
}

/// Unknown `after` references and dependency cycles, within one list (steps or rollback).
fn check_graph(steps: &[Step], list_name: &str, c: &mut Ctx) {
    let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(n, s)| (s.id.as_str(), n)).collect();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (n, st) in steps.iter().enumerate() {
        for (j, dep) in st.after.iter().enumerate() {
            let path = [k("runbook"), k(list_name), i(n), k("after"), i(j)];
            match index.get(dep.as_str()) {
                Some(&d) if d == n => c.err(&path, format!("step `{}` depends on itself", st.id)),
                Some(&d) => deps[n].push(d),
                None => c.err(
                    &path,
                    format!(
                        "unknown step `{dep}`: expected one of the {list_name} ids ({})",
                        steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
        }
    }
    // Depth-first search with colours; report each cycle once, at the step that closes it.
    let mut colour = vec![0u8; steps.len()];
    let mut stack: Vec<usize> = Vec::new();
    let mut reported = false;
    for start in 0..steps.len() {
        if colour[start] != 0 || reported {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        stack.push(start);
        while let Some(&mut (node, ref mut next)) = work.last_mut() {
            if let Some(&d) = deps[node].get(*next) {
                *next += 1;
                if colour[d] == 1 {
                    let pos = stack.iter().position(|&x| x == d).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[pos..].iter().map(|&x| steps[x].id.as_str()).collect();
                    cycle.push(&steps[d].id);
                    c.err(
                        &[k("runbook"), k(list_name), i(node), k("after")],
                        format!("dependency cycle in the runbook: {}", cycle.join(" -> ")),
                    );
                    reported = true;
                    break;
                } else if colour[d] == 0 {
                    colour[d] = 1;
                    stack.push(d);
                    work.push((d, 0));
                }
            } else {
                colour[node] = 2;
                stack.pop();
                work.pop();
            }
        }
        stack.clear();
    }
}

fn check_models(s: &Scenario, c: &mut Ctx) {
    let step_ids: BTreeMap<&str, ()> = s
        .runbook
        .steps
        .iter()
        .chain(&s.runbook.rollback)
        .map(|st| (st.id.as_str(), ()))
        .collect();
    for name in s.models.keys() {
        if !step_ids.contains_key(name.as_str())
            && !crate::catalogue::models::is_known(name.as_str())
            && !crate::catalogue::models::COMPUTED_MODEL_NAMES.contains(&name.as_str())
        {
            c.err_key(
                &[k("models")],
                name,
                format!(
                    "`{name}` is neither a step id nor a model name: expected a step id or one of {}",
                    crate::catalogue::models::names().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
}
