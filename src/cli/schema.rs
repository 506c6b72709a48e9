//! `drillbit schema` and `drillbit models`.

use drillbit::catalogue::models::MODELS;
use drillbit::exit;

use super::Failure;

pub fn schema() -> Result<i32, Failure> {
    print!("{}", drillbit::scenario::json_schema());
    Ok(exit::TARGETS_MET)
}

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

pub fn models(a: ModelsArgs) -> Result<i32, Failure> {
    if a.format == super::Format::Json {
        let models: Vec<serde_json::Value> = MODELS
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "default": drillbit::models::sample::Sampler::of_spec(&m.spec).describe(),
                    "source": m.source,
                })
            })
            .collect();
        super::print_json(
            "models",
            true,
            serde_json::json!({ "models": models, "sources": "docs/models.md" }),
        );
        return Ok(exit::TARGETS_MET);
    }
    for m in MODELS {
        println!(
            "{:<40} {:<48} {}",
            m.name,
            drillbit::models::sample::Sampler::of_spec(&m.spec).describe(),
            m.source
        );
    }
    Ok(exit::TARGETS_MET)
}
