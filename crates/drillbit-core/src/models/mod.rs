//! The timing models of one scenario, ready to sample: the catalogue's defaults
//! ([`crate::catalogue::models`]) with the scenario's overrides applied.

pub mod sample;

use std::collections::BTreeMap;

use crate::catalogue::models::MODELS;
use crate::scenario::Dist;
use sample::Sampler;

/// The resolved models of one scenario: defaults with its overrides applied.
#[derive(Debug, Clone)]
pub struct ModelSet {
    by_name: BTreeMap<&'static str, Sampler>,
    overridden: Vec<String>,
}

impl ModelSet {
    pub fn new(overrides: &BTreeMap<String, Dist>) -> ModelSet {
        let mut by_name = BTreeMap::new();
        let mut overridden = Vec::new();
        for m in MODELS {
            let s = match overrides.get(m.name) {
                Some(d) => {
                    overridden.push(m.name.to_string());
                    Sampler::from_dist(d)
                }
                None => Sampler::of_spec(&m.spec),
            };
            by_name.insert(m.name, s);
        }
        ModelSet { by_name, overridden }
    }

    pub fn get(&self, name: &str) -> Sampler {
        self.by_name.get(name).cloned().unwrap_or(Sampler::Fixed(0.0))
    }

    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_list_matches_table() {
        assert!(MODELS.iter().all(|m| !m.source.is_empty()));
        assert!(MODELS
            .iter()
            .all(|m| ModelSet::new(&BTreeMap::new()).get(m.name) == Sampler::of_spec(&m.spec)));
    }

    #[test]
    fn override_replaces_default() {
        let mut o = BTreeMap::new();
        o.insert("api-call".to_string(), Dist::Fixed(crate::scenario::Dur(2_000_000)));
        let m = ModelSet::new(&o);
        assert_eq!(m.get("api-call"), Sampler::Fixed(2.0));
        assert_eq!(m.overridden(), ["api-call"]);
        assert_eq!(m.get("ec2.launch"), Sampler::lognormal(30.0, 60.0));
    }
}
