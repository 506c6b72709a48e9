//! `drillbit schema` and `drillbit models`.

use drillbit::catalogue::models::MODELS;
use drillbit::exit;

use super::Failure;

pub fn schema() -> Result<i32, Failure> {
    print!("{}", drillbit::scenario::json_schema());
    Ok(exit::TARGETS_MET)
}

pub fn models() -> Result<i32, Failure> {
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
