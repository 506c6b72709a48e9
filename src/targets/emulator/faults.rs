//! The scenario's faults made real on the emulator: rules for the fault layer (a region's
//! calls dropped, a database's calls refused, a DR resource "not found", a scale-out refused
//! or slowed) and the Route 53 health check status drillbit answers after detection.

use std::time::Duration;

use super::faultlayer::{Effect, Match};
use crate::engine::TargetError;
use crate::scenario::{Resource, Scenario};

/// How each scenario fault is carried out here.
#[derive(Debug, Clone)]
pub(super) enum FaultPlan {
    /// Rules for the fault layer, and the region whose health checks fail (after detection).
    Rules {
        rules: Vec<(Match, Effect)>,
        fails_health_of: Option<String>,
    },
    HealthCheckPasses,
}

pub(super) fn health_status_xml(region: &str) -> String {
    let now = crate::timestamp::format_utc(crate::timestamp::now());
    format!(
        "<?xml version=\"1.0\"?>\n<GetHealthCheckStatusResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><HealthCheckObservations><HealthCheckObservation><Region>{region}</Region><IPAddress>192.0.2.10</IPAddress><StatusReport><Status>Failure: Connection timed out. The endpoint or the internet connection is down (drillbit fault)</Status><CheckedTime>{now}</CheckedTime></StatusReport></HealthCheckObservation></HealthCheckObservations></GetHealthCheckStatusResponse>"
    )
}

pub(super) fn plan_faults(s: &Scenario) -> Result<Vec<FaultPlan>, TargetError> {
    let (p, d) = (&s.topology.primary_region, &s.topology.dr_region);
    let mut out = Vec::new();
    for f in &s.faults {
        let res = f.resource.as_deref().and_then(|r| s.resource(r));
        let err = |status: u16, code: &str, msg: String| Effect::Error {
            status,
            code: code.into(),
            message: msg,
        };
        let on = |region: &str, service: &str, contains: &str| Match {
            region: Some(region.to_string()),
            service: Some(service.to_string()),
            operation: None,
            contains: Some(contains.to_string()),
            except_services: Vec::new(),
        };
        let unsupported = |why: &str| {
            TargetError::Infrastructure(format!(
                "fault `{}` ({}) is unsupported on the emulator target: {why}",
                f.id,
                f.kind.as_str()
            ))
        };
        use crate::scenario::FaultType as F;
        let plan = match (f.kind, res) {
            (F::RegionOutage, _) => {
                let region = f.region.clone().unwrap_or(p.clone());
                FaultPlan::Rules {
                    // Route 53 is global: its DNS answers and health checks go on, and its API
                    // stays up (in AWS its control plane lives in us-east-1; drillbit models the
                    // data-plane failover AWS recommends, not a control-plane outage).
                    rules: vec![(
                        Match {
                            region: Some(region.clone()),
                            except_services: vec!["route53".into()],
                            ..Match::default()
                        },
                        Effect::Drop,
                    )],
                    fails_health_of: Some(region),
                }
            }
            (F::DbPrimaryFailure, Some(Resource::RdsInstance(db))) => FaultPlan::Rules {
                rules: vec![(
                    on(p, "rds", &db.instance),
                    err(
                        400,
                        "InvalidDBInstanceState",
                        format!("{} has failed (drillbit fault)", db.instance),
                    ),
                )],
                fails_health_of: Some(p.clone()),
            },
            (F::DbPrimaryFailure, Some(Resource::AuroraGlobal(a))) => FaultPlan::Rules {
                rules: vec![(
                    on(p, "rds", &a.primary_cluster),
                    err(
                        400,
                        "InvalidDBClusterStateFault",
                        format!("{} has failed (drillbit fault)", a.primary_cluster),
                    ),
                )],
                fails_health_of: Some(p.clone()),
            },
            (F::HealthCheckPassing, _) => FaultPlan::HealthCheckPasses,
            (F::DrDrift, Some(r)) => {
                let (service, id, status, code) = match r {
                    Resource::RdsReadReplica(rr) => ("rds", rr.instance.clone(), 404, "DBInstanceNotFound"),
                    Resource::RdsInstance(db) => ("rds", db.instance.clone(), 404, "DBInstanceNotFound"),
                    Resource::EcsService(e) => ("ecs", e.dr.service.clone(), 400, "ServiceNotFoundException"),
                    Resource::AutoScalingGroup(g) => ("autoscaling", g.dr.name.clone(), 400, "ValidationError"),
                    Resource::DynamodbGlobalTable(t) => ("dynamodb", t.table.clone(), 400, "ResourceNotFoundException"),
                    Resource::AuroraGlobal(a) => ("rds", a.secondary_cluster.clone(), 404, "DBClusterNotFoundFault"),
                    other => return Err(unsupported(&format!("no DR drift for a {}", other.kind()))),
                };
                FaultPlan::Rules {
                    rules: vec![(
                        on(d, service, &id),
                        err(
                            status,
                            code,
                            format!("{id} not found in {d} (drillbit fault: DR drift)"),
                        ),
                    )],
                    fails_health_of: None,
                }
            }
            (F::ScaleOutBlocked, Some(r)) => {
                let (service, op, id, code) = match r {
                    Resource::EcsService(e) => (
                        "ecs",
                        "UpdateService",
                        e.dr.service.clone(),
                        "CapacityUnavailableException",
                    ),
                    Resource::AutoScalingGroup(g) => (
                        "autoscaling",
                        "UpdateAutoScalingGroup",
                        g.dr.name.clone(),
                        "InsufficientInstanceCapacity",
                    ),
                    other => return Err(unsupported(&format!("no scale-out for a {}", other.kind()))),
                };
                let m = Match {
                    operation: Some(op.into()),
                    ..on(d, service, &id)
                };
                let effect = match &f.delay {
                    Some(delay) => Effect::Latency(Duration::from_secs_f64(delay.median_secs())),
                    None => err(400, code, format!("no capacity to scale {id} in {d} (drillbit fault)")),
                };
                FaultPlan::Rules {
                    rules: vec![(m, effect)],
                    fails_health_of: None,
                }
            }
            (kind, _) => {
                return Err(unsupported(match kind {
                    F::AzOutage => "an emulator has no availability zones to fail",
                    F::ReplicationPause | F::ReplicationLagSpike => "nothing replicates in an emulator",
                    F::DataCorruption => "an emulator holds no data to corrupt",
                    _ => "the fault names no resource the emulator holds",
                }))
            }
        };
        out.push(plan);
    }
    Ok(out)
}
