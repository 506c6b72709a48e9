//! A models file (`models_file:` in a scenario), as `drillbit calibrate` writes it: fitted
//! distributions by model name.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{yaml, Dist};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    drillbit_models: u32,
    #[serde(default)]
    scenario: Option<String>,
    #[serde(default)]
    drills: Option<u64>,
    models: BTreeMap<String, Dist>,
    #[serde(default)]
    phases: BTreeMap<String, Dist>,
}

/// Reads a models file written by `drillbit calibrate`; errors carry FILE:LINE:COL.
pub fn load_models(path: &Path) -> Result<BTreeMap<String, Dist>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let root = yaml::parse(&text, &yaml::Limits::default()).map_err(|e| format!("{}:{}", path.display(), e))?;
    let f: ModelsFile = yaml::from_node(&root).map_err(|e| format!("{}:{}", path.display(), e))?;
    if f.drillbit_models != 1 {
        return Err(format!(
            "{}: unknown models file version {}",
            path.display(),
            f.drillbit_models
        ));
    }
    let _ = (f.scenario, f.drills, f.phases);
    Ok(f.models)
}
