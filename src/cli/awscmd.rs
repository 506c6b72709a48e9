//! `drillbit fis-template FILE` and `drillbit plan FILE --target emulator|aws`: what a live
//! drill would do, printed, with nothing called.

use std::path::PathBuf;

use drillbit::exit;

use super::{load, Failure};

#[derive(clap::Args, Debug)]
pub struct FisArgs {
    /// Scenario file.
    pub file: PathBuf,
    /// The AWS account id for the ARNs (default: the scenario's first allow-listed account,
    /// else moto's 123456789012).
    #[arg(long)]
    pub account: Option<String>,
}

fn account(s: &drillbit::scenario::Scenario, given: Option<String>) -> String {
    given
        .or_else(|| s.aws.as_ref().and_then(|a| a.accounts.first().cloned()))
        .unwrap_or_else(|| "123456789012".into())
}

pub fn fis_template(a: FisArgs) -> Result<i32, Failure> {
    let loaded = load(&a.file)?;
    let s = &loaded.scenario;
    let tpl = drillbit::targets::fis::template(s, &account(s, a.account));
    println!("{}", serde_json::to_string_pretty(&tpl.to_json()).unwrap_or_default());
    for (id, why) in &tpl.skipped {
        eprintln!("note: fault `{id}`: {why}");
    }
    Ok(exit::TARGETS_MET)
}

#[cfg(feature = "aws")]
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Scenario file.
    pub file: PathBuf,
    /// The target whose calls to print.
    #[arg(long, value_enum, default_value = "emulator")]
    pub target: super::TargetArg,
    #[arg(long)]
    pub account: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

/// A plan as it is printed: a title, then sections of items, each with its details (the
/// calls of a step). Text and `--format json` print the same content.
#[cfg(feature = "aws")]
#[derive(Default)]
struct PlanOut {
    title: String,
    sections: Vec<PlanSection>,
}

#[cfg(feature = "aws")]
struct PlanSection {
    title: String,
    items: Vec<PlanItem>,
    notes: Vec<String>,
}

#[cfg(feature = "aws")]
struct PlanItem {
    text: String,
    details: Vec<String>,
}

#[cfg(feature = "aws")]
impl PlanOut {
    fn section(&mut self, title: impl Into<String>) {
        self.sections.push(PlanSection {
            title: title.into(),
            items: Vec::new(),
            notes: Vec::new(),
        });
    }
    fn last(&mut self) -> &mut PlanSection {
        if self.sections.is_empty() {
            self.section("");
        }
        let n = self.sections.len() - 1;
        &mut self.sections[n]
    }
    fn item(&mut self, text: impl Into<String>) {
        self.last().items.push(PlanItem {
            text: text.into(),
            details: Vec::new(),
        });
    }
    fn detail(&mut self, text: String) {
        let s = self.last();
        match s.items.last_mut() {
            Some(i) => i.details.push(text),
            None => s.notes.push(text),
        }
    }
    fn note(&mut self, text: String) {
        self.last().notes.push(text);
    }
    /// Prints the plan as text or as the one JSON shape (`command: plan`).
    fn print(&self, format: super::Format, file: &std::path::Path, target: &str, ok: bool) {
        if format == super::Format::Json {
            super::print_json(
                "plan",
                ok,
                serde_json::json!({
                    "file": file.display().to_string(),
                    "target": target,
                    "title": self.title,
                    "sections": self.sections.iter().map(|s| serde_json::json!({
                        "title": s.title,
                        "items": s.items.iter().map(|i| serde_json::json!({ "text": i.text, "calls": i.details })).collect::<Vec<_>>(),
                        "notes": s.notes,
                    })).collect::<Vec<_>>(),
                }),
            );
            return;
        }
        println!("# {}", self.title);
        for s in &self.sections {
            println!("\n## {}", s.title);
            for i in &s.items {
                println!("- {}", i.text);
                for d in &i.details {
                    println!("    {d}");
                }
            }
            for n in &s.notes {
                println!("  note: {n}");
            }
        }
    }
}

#[cfg(feature = "aws")]
pub fn plan(a: PlanArgs) -> Result<i32, Failure> {
    use super::TargetArg;
    use drillbit::scenario::Resource;
    let loaded = load(&a.file)?;
    let s = &loaded.scenario;
    let (p, d) = (&s.topology.primary_region, &s.topology.dr_region);
    let live = match a.target {
        TargetArg::Emulator => false,
        TargetArg::Aws => true,
        other => {
            return Err(Failure::Usage(format!(
                "plan prints AWS calls: use --target emulator or aws (the {} target makes none)",
                other.as_str()
            )))
        }
    };
    if live {
        return plan_live(&loaded, &account(s, a.account), a.format, &a.file);
    }
    let mut o = PlanOut {
        title: format!(
            "drillbit plan: {} on the emulator ({p} primary, {d} DR); nothing is called",
            s.name
        ),
        ..PlanOut::default()
    };
    o.section("Set-up (the emulator only: drillbit never creates resources in a live account)");
    for r in &s.topology.resources {
        let what = match r {
            Resource::RdsInstance(db) => format!("rds:CreateDBInstance {} ({p})", db.instance),
            Resource::RdsReadReplica(rr) => format!("rds:CreateDBInstanceReadReplica {} ({d})", rr.instance),
            Resource::AuroraGlobal(g) => format!(
                "rds:CreateGlobalCluster {}; rds:CreateDBCluster {} ({p}), {} ({d})",
                g.global_cluster, g.primary_cluster, g.secondary_cluster
            ),
            Resource::DynamodbGlobalTable(t) => format!(
                "dynamodb:CreateTable {} ({}); UpdateTable ReplicaUpdates Create in the others of {}",
                t.table,
                t.regions.first().map_or("", |r| r.as_str()),
                t.regions.join(", ")
            ),
            Resource::S3Bucket(b) => format!("s3:CreateBucket {}; s3:PutBucketReplication", b.bucket),
            Resource::EcsService(e) => format!(
                "ecs:CreateCluster/CreateService {}/{} ({p}), {}/{} ({d})",
                e.primary.cluster, e.primary.service, e.dr.cluster, e.dr.service
            ),
            Resource::AutoScalingGroup(g) => format!(
                "autoscaling:CreateAutoScalingGroup {} ({p}), {} ({d})",
                g.primary.name, g.dr.name
            ),
            Resource::Route53Record(r) => format!(
                "route53:CreateHostedZone; CreateHealthCheck x2; ChangeResourceRecordSets {}",
                r.record
            ),
            Resource::BackupPlan(b) => format!(
                "backup:CreateBackupVault {}; CreateBackupPlan {}; StartBackupJob of {}{}",
                b.vault,
                b.plan,
                b.resources.join(", "),
                b.copy_to
                    .as_ref()
                    .map_or(String::new(), |c| format!("; StartCopyJob to {}", c.vault))
            ),
            Resource::ElasticacheGlobal(c) => format!(
                "elasticache:CreateReplicationGroup {} ({p}); CreateGlobalReplicationGroup {}; \
                 CreateReplicationGroup {} ({d}) in it",
                c.primary_group(),
                c.global_datastore,
                c.secondary_group()
            ),
        };
        o.item(format!("{}: {what}", r.id()));
    }
    o.section("Faults");
    let tpl = drillbit::targets::fis::template(s, &account(s, a.account));
    for part in &tpl.parts {
        o.item(format!(
            "fis:CreateExperimentTemplate in {} ({} actions); fis:StartExperiment at the first fault",
            part.region,
            part.json["actions"].as_object().map_or(0, |m| m.len())
        ));
    }
    for f in &s.faults {
        o.item(format!(
            "at {}s: {} `{}` (drillbit's fault layer)",
            f.at.secs(),
            f.kind.as_str(),
            f.id
        ));
    }
    for (id, why) in &tpl.skipped {
        o.note(format!("`{id}`: {why}"));
    }
    runbook_calls(&mut o, s, Some(&drillbit::targets::live::MOTO_EXTENDED));
    o.print(a.format, &a.file, "emulator", true);
    Ok(exit::TARGETS_MET)
}

/// The runbook's and rollback's calls, step by step (with the emulator's gaps, if any).
#[cfg(feature = "aws")]
fn runbook_calls(
    o: &mut PlanOut,
    s: &drillbit::scenario::Scenario,
    caps: Option<&drillbit::targets::live::Capabilities>,
) {
    for (title, rollback) in [
        ("Runbook", false),
        ("Rollback (--failback, and after an abort on aws)", true),
    ] {
        let steps: Vec<_> = if rollback {
            &s.runbook.rollback
        } else {
            &s.runbook.steps
        }
        .iter()
        .collect();
        if steps.is_empty() {
            continue;
        }
        o.section(title.to_string());
        for st in steps {
            o.item(format!("{} ({}):", st.id, st.action.as_str()));
            for c in drillbit::targets::live::actions::planned_calls(s, st) {
                o.detail(c.to_string());
            }
            if let Some((c, why)) = caps.and_then(|c| c.why_unsupported(st.action.as_str()).map(|w| (c, w))) {
                o.detail(format!("unsupported by {}: {why}", c.emulator));
            }
        }
    }
}

/// `plan --target aws`: the safety checks, every call and the FIS experiment of a live drill.
/// Exit 2 when the scenario could not run on aws (each reason listed).
#[cfg(feature = "aws")]
fn plan_live(
    loaded: &drillbit::scenario::Loaded,
    account: &str,
    format: super::Format,
    file: &std::path::Path,
) -> Result<i32, Failure> {
    let s = &loaded.scenario;
    let (p, d) = (&s.topology.primary_region, &s.topology.dr_region);
    let mut o = PlanOut {
        title: format!(
            "drillbit plan: {} on aws ({p} primary, {d} DR); nothing is called",
            s.name
        ),
        ..PlanOut::default()
    };
    let pf = match drillbit::targets::aws::preflight(s, account) {
        Ok(pf) => pf,
        Err(e) => {
            o.section("Refused before any call");
            for line in e.lines() {
                o.item(line.to_string());
            }
            o.print(format, file, "aws", false);
            return Err(Failure::Usage(format!(
                "{} cannot run on aws (see the plan above)",
                loaded.path
            )));
        }
    };
    o.section("Safety (before anything is created)");
    o.item(format!(
        "sts:GetCallerIdentity: the account must be one of {}",
        pf.accounts.join(", ")
    ));
    o.item(format!(
        "regions touched: {p}, {d} (allow-listed: {})",
        pf.regions.join(", ")
    ));
    o.item("confirmation: type the account id on the terminal, or --yes");
    o.section("Reads (no change)");
    o.item("route53:ListHostedZonesByName, ListResourceRecordSets: the failover record, its health checks");
    o.item(format!(
        "probe: GET {} every {}s before and during the drill",
        pf.probe_url,
        s.workload.probe.interval.secs()
    ));
    o.item("fis:GetExperiment, route53:GetHealthCheckStatus every second during the drill");
    o.section("Faults (AWS FIS)");
    if s.faults.is_empty() {
        o.item("none: a planned failover");
    } else {
        o.item(format!(
            "fis:CreateExperimentTemplate (role {}), fis:StartExperiment at the drill's start",
            s.aws
                .as_ref()
                .and_then(|a| a.fis_role_arn.clone())
                .unwrap_or(format!("arn:aws:iam::{account}:role/drillbit-fis"))
        ));
        for (f, action) in &pf.fis_actions {
            let at = s.faults.iter().find(|x| &x.id == f).map_or(0.0, |x| x.at.secs());
            o.item(format!("at {at}s: {action} (fault `{f}`)"));
        }
        o.item("fis:StopExperiment at the end, on error and on Ctrl-C; fis:DeleteExperimentTemplate");
    }
    let canaries = s.aws.as_ref().map(|a| a.canaries.clone()).unwrap_or_default();
    o.section("Canary writes");
    if canaries.is_empty() {
        o.item("none (`aws.canaries`): data loss is not measured");
    } else {
        o.item(format!(
            "{} per second round-robin to {}; read back from the DR copies after recovery, then deleted",
            s.aws.as_ref().and_then(|a| a.canary_rate).unwrap_or(5.0),
            canaries.join(", ")
        ));
    }
    runbook_calls(&mut o, s, None);
    o.print(format, file, "aws", true);
    Ok(exit::TARGETS_MET)
}

#[cfg(feature = "aws")]
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Scenario file.
    pub file: PathBuf,
    /// Where to check.
    #[arg(long, value_enum, default_value = "emulator")]
    pub target: super::TargetArg,
    /// An AWS-compatible endpoint whose topology to check (default: AWS_ENDPOINT_URL; without
    /// either, drillbit starts moto, provisions the scenario and checks that).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// aws: the named profile of the shared AWS config files.
    #[arg(long)]
    pub profile: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
    /// Where the sealed readiness record goes (default: reports/<scenario>/check-<target>).
    #[arg(long, conflicts_with = "no_record")]
    pub out: Option<PathBuf>,
    /// Leave no readiness record.
    #[arg(long)]
    pub no_record: bool,
    /// Sign the record's evidence manifest with this ed25519 private key (PKCS#8 PEM).
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
    #[arg(long, short)]
    pub quiet: bool,
}

/// Exit 0 ready, 1 drift found (listed). Leaves a sealed readiness record
/// (`drillbit::readiness`) unless `--no-record`.
#[cfg(feature = "aws")]
pub fn check(a: CheckArgs) -> Result<i32, Failure> {
    use super::TargetArg;
    if !matches!(a.target, TargetArg::Emulator | TargetArg::Aws) {
        return Err(Failure::Usage(format!(
            "check reads the DR side through the AWS API: use --target emulator or aws (the {} target has none)",
            a.target.as_str()
        )));
    }
    if a.target != TargetArg::Aws && a.profile.is_some() {
        return Err(Failure::Usage("--profile applies to --target aws".into()));
    }
    if let Some(p) = &a.profile {
        profile_exists(p)?;
    }
    let loaded = load(&a.file)?;
    let endpoint = a
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()));
    // The record's directory is claimed before anything is read: a bad one costs nothing.
    let default_layout = a.out.is_none();
    let dir = a.out.clone().unwrap_or_else(|| {
        std::path::Path::new("reports")
            .join(&loaded.scenario.name)
            .join(format!("check-{}", a.target.as_str()))
    });
    let mut prepared = if a.no_record {
        None
    } else {
        Some(super::evidence::prepare(&dir, a.sign_key.as_deref())?)
    };
    let started_at = drillbit::timestamp::format_utc(drillbit::timestamp::now());
    let (account, items) = if a.target == TargetArg::Aws {
        let (account, items) = drillbit::targets::aws::check(&loaded, endpoint.as_deref(), a.profile.as_deref())?;
        if !a.quiet {
            eprintln!("drillbit: checking account {account} (reads only)");
        }
        (Some(account), items)
    } else {
        let items = drillbit::targets::emulator::check(
            &loaded,
            endpoint.as_deref(),
            &super::operator::Terminal { quiet: a.quiet },
        )?;
        (None, items)
    };
    let drift: Vec<_> = items.iter().filter(|i| i.drift.is_some()).collect();
    let record_dir = match prepared.as_mut() {
        None => None,
        Some(p) => {
            let (kind, _) = drillbit::scorecard::DrillKind::of(a.target.as_str(), &loaded.scenario);
            let record = drillbit::readiness::Readiness {
                schema: drillbit::readiness::SCHEMA.into(),
                tool: drillbit::scorecard::Tool::current(),
                scenario: drillbit::readiness::ScenarioRef {
                    name: loaded.scenario.name.clone(),
                    path: loaded.path.clone(),
                    sha256: loaded.sha256.clone(),
                },
                target: a.target.as_str().into(),
                drill_kind: kind,
                started_at,
                run_by: super::run::os_user(),
                account,
                items: items
                    .iter()
                    .map(|i| drillbit::readiness::ReadinessItem {
                        resource: i.resource.clone(),
                        what: i.what.clone(),
                        ready: i.drift.is_none(),
                        drift: i.drift.clone(),
                    })
                    .collect(),
                drift: drift.len(),
                ready: drift.is_empty(),
            };
            let body = serde_json::to_string_pretty(&record).unwrap_or_default() + "\n";
            let file = p.claim.stage().join(drillbit::readiness::FILE);
            drillbit::report::write_atomic(&file, &body)
                .map_err(|e| Failure::Infrastructure(format!("cannot write {}: {e}", file.display())))?;
            let key = p.key.take();
            super::evidence::seal(&mut p.claim, &loaded, "check", default_layout, key.as_ref(), vec![])?;
            Some(dir.join(drillbit::readiness::FILE))
        }
    };
    if a.format == super::Format::Json {
        let list: Vec<serde_json::Value> = items
            .iter()
            .map(|i| serde_json::json!({ "resource": i.resource, "what": i.what, "ready": i.drift.is_none(), "drift": i.drift }))
            .collect();
        super::print_json(
            "check",
            drift.is_empty(),
            serde_json::json!({
                "file": a.file.display().to_string(),
                "target": a.target.as_str(),
                "items": list,
                "drift": drift.len(),
                "record": record_dir.as_ref().map(|p| p.display().to_string()),
            }),
        );
        return Ok(if drift.is_empty() {
            exit::TARGETS_MET
        } else {
            exit::TARGET_MISSED
        });
    }
    for i in &items {
        match &i.drift {
            None => println!("ok     {}: {}", i.resource, i.what),
            Some(d) => println!("DRIFT  {}: {}: {d}", i.resource, i.what),
        }
    }
    println!("{}: {} checked, {} drift", a.file.display(), items.len(), drift.len());
    if let Some(r) = &record_dir {
        println!("  readiness record: {}", r.display());
    }
    Ok(if drift.is_empty() {
        exit::TARGETS_MET
    } else {
        exit::TARGET_MISSED
    })
}

#[cfg(feature = "aws")]
/// `--profile NAME` names a profile of the shared config files (`AWS_CONFIG_FILE`, else
/// ~/.aws/config: `[profile NAME]` or `[default]`; `AWS_SHARED_CREDENTIALS_FILE`, else
/// ~/.aws/credentials: `[NAME]`), or the command stops with that, not a timeout later.
pub fn profile_exists(name: &str) -> Result<(), Failure> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let (config, credentials) = (
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    );
    let sections = |path: &Option<std::path::PathBuf>, config: bool| -> Vec<String> {
        let text = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let inner = l.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
                Some(match (config, inner.strip_prefix("profile ")) {
                    (true, Some(n)) => n.trim().to_string(),
                    _ => inner.to_string(),
                })
            })
            .collect()
    };
    if sections(&config, true)
        .iter()
        .chain(&sections(&credentials, false))
        .any(|s| s == name)
    {
        return Ok(());
    }
    let shown = |p: &Option<std::path::PathBuf>| p.as_ref().map_or("(no HOME)".into(), |p| p.display().to_string());
    Err(Failure::Usage(format!(
        "--profile {name}: no such profile in {} or {}",
        shown(&config),
        shown(&credentials)
    )))
}
