//! `iac.deploy` on an emulator: the DR side of a compute resource, deployed as a CloudFormation
//! stack in the DR region from a template drillbit renders from the scenario (what the team's
//! own templates would hold: the cluster, task definition and service, or the launch
//! configuration and Auto Scaling group), waited for until `CREATE_COMPLETE`. On a real
//! account the team's own tool deploys its own templates: there the step is not drillbit's.

use serde_json::{json, Value};

use super::actions::Env;
use super::deprovision::{created, Created};
use super::{api_error, ApiError};
use crate::scenario::Resource;

/// The stack's name: `<scenario>-<resource>-dr`, in the characters CloudFormation allows.
pub fn stack_name(scenario: &str, resource: &str) -> String {
    let raw = format!("{scenario}-{resource}-dr");
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "dr-");
    }
    name.truncate(128);
    name
}

/// The template of `r`'s DR side, or why drillbit renders none for its kind.
pub fn template(r: &Resource, dr: &str) -> Result<Value, String> {
    let description = format!("DR side of `{}`, deployed by drillbit's iac.deploy", r.id());
    match r {
        Resource::EcsService(e) => {
            let family = e.dr.task_definition.clone().unwrap_or(e.dr.service.clone());
            let family = family.split(':').next().unwrap_or(&family).to_string();
            Ok(json!({
                "AWSTemplateFormatVersion": "2010-09-09",
                "Description": description,
                "Resources": {
                    "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": e.dr.cluster}},
                    "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
                        "Family": family,
                        "ContainerDefinitions": [{"Name": "app", "Image": "public.ecr.aws/docker/library/nginx:stable", "Memory": 512}]
                    }},
                    "Service": {"Type": "AWS::ECS::Service", "Properties": {
                        "ServiceName": e.dr.service,
                        "Cluster": {"Ref": "Cluster"},
                        "TaskDefinition": {"Ref": "Task"},
                        "DesiredCount": e.dr.desired
                    }}
                }
            }))
        }
        Resource::AutoScalingGroup(g) => {
            let min = g.dr.min.unwrap_or(0);
            let max = g.dr.max.unwrap_or(g.dr.desired.max(min).max(1) * 4);
            Ok(json!({
                "AWSTemplateFormatVersion": "2010-09-09",
                "Description": description,
                "Resources": {
                    "LaunchConfig": {"Type": "AWS::AutoScaling::LaunchConfiguration", "Properties": {
                        "LaunchConfigurationName": format!("{}-lc", g.dr.name),
                        "ImageId": "ami-12c6146b",
                        "InstanceType": "t3.medium"
                    }},
                    "Group": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": {
                        "AutoScalingGroupName": g.dr.name,
                        "LaunchConfigurationName": {"Ref": "LaunchConfig"},
                        "MinSize": min.to_string(),
                        "MaxSize": max.to_string(),
                        "DesiredCapacity": g.dr.desired.to_string(),
                        "AvailabilityZones": [format!("{dr}a")]
                    }}
                }
            }))
        }
        other => Err(format!(
            "drillbit renders DR stacks for ecs-service and auto-scaling-group resources, not for `{}` ({}): \
             deploy it with its own IaC",
            other.id(),
            other.kind()
        )),
    }
}

/// Whether a runbook step deploys `resource`'s DR side (then provisioning leaves it out).
pub fn deployed_by_runbook(s: &crate::scenario::Scenario, resource: &str) -> bool {
    s.all_steps()
        .any(|st| st.action == crate::scenario::Action::IacDeploy && st.resource.as_deref() == Some(resource))
}

pub async fn deploy(env: &Env, r: &Resource) -> Result<(), ApiError> {
    if env.caps.is_none() {
        return Err(ApiError::Unsupported(
            "an IaC deployment in a real account is run by the team's own tool (cloudformation deploy, terraform apply), \
             not by drillbit"
                .into(),
        ));
    }
    let dr = env.dr().to_string();
    let body = template(r, &dr).map_err(ApiError::Unsupported)?;
    let name = stack_name(&env.scenario.name, r.id());
    let cf = env.clients.dr.cloudformation.clone();
    cf.create_stack()
        .stack_name(&name)
        .template_body(body.to_string())
        .send()
        .await
        .map_err(|e| api_error("CreateStack", e))?;
    created(
        env,
        Created::Stack {
            region: dr.clone(),
            name: name.clone(),
        },
    );
    loop {
        let out = cf
            .describe_stacks()
            .stack_name(&name)
            .send()
            .await
            .map_err(|e| api_error("DescribeStacks", e))?;
        let status = out
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if status == "CREATE_COMPLETE" {
            break;
        }
        if status.contains("FAILED") || status.contains("ROLLBACK") {
            let why = out
                .stacks()
                .first()
                .and_then(|s| s.stack_status_reason())
                .unwrap_or("")
                .to_string();
            return Err(ApiError::Failed(
                format!("stack {name} is {status} {why}").trim().to_string(),
            ));
        }
        tokio::time::sleep(env.poll).await;
    }
    // What the stack made is drillbit's too: an emulator's stack deletion may leave some of it
    // (moto keeps ECS resources), so each goes on its own at teardown, before the stack.
    let res = cf
        .list_stack_resources()
        .stack_name(&name)
        .send()
        .await
        .map_err(|e| api_error("ListStackResources", e))?;
    for x in res.stack_resource_summaries() {
        let (Some(kind), Some(id)) = (x.resource_type(), x.physical_resource_id()) else {
            continue;
        };
        let item = match (kind, r) {
            ("AWS::ECS::Cluster", _) => Created::EcsCluster {
                region: dr.clone(),
                name: id.rsplit('/').next().unwrap_or(id).to_string(),
            },
            ("AWS::ECS::TaskDefinition", _) => Created::TaskFamily {
                region: dr.clone(),
                family: id
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.split(':').next())
                    .unwrap_or(id)
                    .to_string(),
                arn: id.to_string(),
            },
            ("AWS::ECS::Service", Resource::EcsService(e)) => Created::EcsService {
                region: dr.clone(),
                cluster: e.dr.cluster.clone(),
                name: e.dr.service.clone(),
            },
            ("AWS::AutoScaling::LaunchConfiguration", _) => Created::LaunchConfiguration {
                region: dr.clone(),
                name: id.to_string(),
            },
            ("AWS::AutoScaling::AutoScalingGroup", _) => Created::AutoScalingGroup {
                region: dr.clone(),
                name: id.to_string(),
            },
            _ => continue,
        };
        created(env, item);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dr_side_is_rendered_for_compute_and_refused_with_the_reason_otherwise() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/backup-restore.yaml"))
            .expect("the shipped scenario");
        let loaded = crate::scenario::load_str("backup-restore.yaml", &text).expect("scenario");
        let s = &loaded.scenario;
        let api = s.resource("api").expect("api");
        let t = template(api, "us-west-2").expect("an ECS template");
        let r = &t["Resources"];
        assert_eq!(r["Cluster"]["Properties"]["ClusterName"], "dr-production");
        assert_eq!(r["Service"]["Properties"]["ServiceName"], "myapp-service");
        assert_eq!(r["Service"]["Properties"]["DesiredCount"], 0);
        assert_eq!(r["Service"]["Properties"]["Cluster"]["Ref"], "Cluster");
        assert!(deployed_by_runbook(s, "api"));
        assert!(!deployed_by_runbook(s, "db"));
        let why = template(s.resource("db").expect("db"), "us-west-2").unwrap_err();
        assert!(why.contains("not for `db` (rds-instance)"), "{why}");
    }

    #[test]
    fn stack_names_are_valid() {
        assert_eq!(stack_name("backup-restore", "api"), "backup-restore-api-dr");
        assert_eq!(stack_name("9 lives", "a_b"), "dr-9-lives-a-b-dr");
    }
}
