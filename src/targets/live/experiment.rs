//! The FIS experiment of a live drill: the template built from the scenario's faults
//! ([`crate::targets::fis`]) created in the account (or the emulator), the experiment started,
//! and stopped at the end. On the emulator FIS only records it (the fault layer makes faults
//! real); on aws it is the fault driver.

use super::actions::Env;
use super::api_error;

/// The statuses after which an experiment runs no more.
const FINISHED: [&str; 4] = ["completed", "stopped", "failed", "cancelled"];

/// One of a drill's experiments (one per region its faults act in): its region, its
/// template, the experiment once started, its last status.
#[derive(Debug, Default)]
pub struct Experiment {
    pub region: String,
    pub template: Option<String>,
    pub id: Option<String>,
    pub status: String,
    /// drillbit stopped it (so a stopped status is not the experiment stopping by itself).
    pub stopped_by_us: bool,
}

impl Experiment {
    pub fn new(region: &str, template: Option<String>) -> Experiment {
        Experiment {
            region: region.to_string(),
            template,
            ..Experiment::default()
        }
    }

    /// The experiment is over (by itself or stopped).
    pub fn finished(&self) -> bool {
        FINISHED.contains(&self.status.as_str())
    }

    /// Starts the experiment from the template; returns its id.
    pub fn start(&mut self, rt: &tokio::runtime::Runtime, env: &Env, token: String) -> Result<String, String> {
        let Some(tpl) = self.template.clone() else {
            return Err("no experiment template".into());
        };
        let out = rt
            .block_on(async {
                env.clients
                    .region(&self.region)
                    .fis
                    .start_experiment()
                    .experiment_template_id(&tpl)
                    .client_token(token)
                    .send()
                    .await
            })
            .map_err(|e| api_error("StartExperiment", e).to_string())?;
        let id = out.experiment().and_then(|e| e.id()).unwrap_or_default().to_string();
        self.id = Some(id.clone());
        Ok(id)
    }

    /// Stops the experiment if it was started and still runs (once). `Ok(true)`: stopped now.
    pub fn stop(&mut self, rt: &tokio::runtime::Runtime, env: &Env) -> Result<bool, String> {
        let Some(id) = self.id.clone() else {
            return Ok(false);
        };
        if self.finished() || self.stopped_by_us {
            return Ok(false);
        }
        self.stopped_by_us = true;
        rt.block_on(async {
            env.clients
                .region(&self.region)
                .fis
                .stop_experiment()
                .id(&id)
                .send()
                .await
        })
        .map(|_| true)
        .map_err(|e| api_error("StopExperiment", e).to_string())
    }

    /// Deletes the template drillbit created (once).
    pub fn delete_template(&mut self, rt: &tokio::runtime::Runtime, env: &Env) -> Result<(), String> {
        let Some(tpl) = self.template.take() else {
            return Ok(());
        };
        rt.block_on(async {
            env.clients
                .region(&self.region)
                .fis
                .delete_experiment_template()
                .id(&tpl)
                .send()
                .await
        })
        .map(|_| ())
        .map_err(|e| {
            format!(
                "FIS experiment template {tpl} not deleted: {}",
                api_error("DeleteExperimentTemplate", e)
            )
        })
    }
}

/// Creates the templates of `tpl`, one per region; the experiments, not started yet. On an
/// error the templates made so far are deleted again.
pub fn create_all(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    tpl: &crate::targets::fis::Template,
) -> Result<Vec<Experiment>, String> {
    let mut made: Vec<Experiment> = Vec::new();
    for part in &tpl.parts {
        match rt.block_on(create_template(env, &part.region, &part.json)) {
            Ok(id) => made.push(Experiment::new(&part.region, Some(id))),
            Err(e) => {
                for mut m in made {
                    let _ = m.delete_template(rt, env);
                }
                return Err(format!("in {}: {e}", part.region));
            }
        }
    }
    Ok(made)
}

/// Creates the FIS experiment template `tpl` in `region` (as [`crate::targets::fis::template`]
/// builds it).
pub async fn create_template(env: &Env, region: &str, tpl: &serde_json::Value) -> Result<String, String> {
    use aws_sdk_fis::types::{
        CreateExperimentTemplateActionInput, CreateExperimentTemplateStopConditionInput,
        CreateExperimentTemplateTargetInput,
    };
    let c = &env.clients.region(region).fis;
    let mut req = c
        .create_experiment_template()
        .client_token(format!("drillbit-{}", std::process::id()))
        .description(tpl["description"].as_str().unwrap_or("drillbit"))
        .role_arn(tpl["roleArn"].as_str().unwrap_or_default());
    for sc in tpl["stopConditions"].as_array().into_iter().flatten() {
        req = req.stop_conditions(
            CreateExperimentTemplateStopConditionInput::builder()
                .source(sc["source"].as_str().unwrap_or("none"))
                .set_value(sc["value"].as_str().map(String::from))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for (name, t) in tpl["targets"].as_object().into_iter().flatten() {
        let mut b = CreateExperimentTemplateTargetInput::builder()
            .resource_type(t["resourceType"].as_str().unwrap_or_default())
            .selection_mode(t["selectionMode"].as_str().unwrap_or("ALL"));
        for arn in t["resourceArns"].as_array().into_iter().flatten() {
            b = b.resource_arns(arn.as_str().unwrap_or_default());
        }
        for (k, v) in t["resourceTags"].as_object().into_iter().flatten() {
            b = b.resource_tags(k, v.as_str().unwrap_or_default());
        }
        for (k, v) in t["parameters"].as_object().into_iter().flatten() {
            b = b.parameters(k, v.as_str().unwrap_or_default());
        }
        req = req.targets(name, b.build().map_err(|e| e.to_string())?);
    }
    for (name, a) in tpl["actions"].as_object().into_iter().flatten() {
        let mut b =
            CreateExperimentTemplateActionInput::builder().action_id(a["actionId"].as_str().unwrap_or_default());
        for (k, v) in a["parameters"].as_object().into_iter().flatten() {
            b = b.parameters(k, v.as_str().unwrap_or_default());
        }
        for (k, v) in a["targets"].as_object().into_iter().flatten() {
            b = b.targets(k, v.as_str().unwrap_or_default());
        }
        for s in a["startAfter"].as_array().into_iter().flatten() {
            b = b.start_after(s.as_str().unwrap_or_default());
        }
        req = req.actions(name, b.build().map_err(|e| e.to_string())?);
    }
    for (k, v) in tpl["tags"].as_object().into_iter().flatten() {
        req = req.tags(k, v.as_str().unwrap_or_default());
    }
    let out = req
        .send()
        .await
        .map_err(|e| api_error("CreateExperimentTemplate", e).to_string())?;
    out.experiment_template()
        .and_then(|t| t.id())
        .map(String::from)
        .ok_or_else(|| "no template id in the answer".to_string())
}
