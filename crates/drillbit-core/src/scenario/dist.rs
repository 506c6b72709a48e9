//! Duration distributions as written in scenarios: `5m` (fixed), `{ fixed: 5m }`,
//! `{ uniform: { min: 5s, max: 60s } }`, `{ lognormal: { median: 5m, p95: 15m } }` and
//! `{ empirical: [3m, 4m10s, 6m] }` (samples from measured drills).
//!
//! Owns the scenario-side spec, its parsing with positioned errors and its JSON Schema. Sampling
//! lives in the simulator (`sim::sample`), which compiles a [`Dist`] into a sampler once.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::duration::{parse_duration, Dur, PosDur};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dist {
    Fixed(Dur),
    Uniform { min: Dur, max: Dur },
    Lognormal { median: PosDur, p95: PosDur },
    Empirical(Vec<Dur>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UniformSpec {
    min: Dur,
    max: Dur,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LognormalSpec {
    median: PosDur,
    p95: PosDur,
}

impl Dist {
    /// The median, used where one representative figure is needed (docs, lint, plans).
    pub fn median_secs(&self) -> f64 {
        match self {
            Dist::Fixed(d) => d.secs(),
            Dist::Uniform { min, max } => (min.secs() + max.secs()) / 2.0,
            Dist::Lognormal { median, .. } => median.secs(),
            Dist::Empirical(v) => {
                let mut s: Vec<f64> = v.iter().map(|d| d.secs()).collect();
                s.sort_by(f64::total_cmp);
                s.get(s.len() / 2).copied().unwrap_or(0.0)
            }
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dist::Fixed(d) => write!(f, "{d}"),
            Dist::Uniform { min, max } => write!(f, "uniform({min}, {max})"),
            Dist::Lognormal { median, p95 } => write!(f, "lognormal(median {median}, p95 {p95})"),
            Dist::Empirical(v) => write!(f, "empirical({} samples)", v.len()),
        }
    }
}

struct DistVisitor;

const EXPECTED: &str = "a duration (5m) or a mapping with one of `fixed`, `uniform`, `lognormal`, `empirical`";

impl<'de> Visitor<'de> for DistVisitor {
    type Value = Dist;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dist, E> {
        parse_duration(v).map(Dist::Fixed).map_err(E::custom)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dist, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!("empty mapping: expected {EXPECTED}")));
        };
        let dist = match key.as_str() {
            "fixed" => Dist::Fixed(map.next_value()?),
            "uniform" => {
                let u: UniformSpec = map.next_value()?;
                if u.min > u.max {
                    return Err(de::Error::custom(format!(
                        "uniform min {} is greater than max {}",
                        u.min, u.max
                    )));
                }
                Dist::Uniform { min: u.min, max: u.max }
            }
            "lognormal" => {
                let l: LognormalSpec = map.next_value()?;
                if l.p95 < l.median {
                    return Err(de::Error::custom(format!(
                        "lognormal p95 {} is below its median {}: expected p95 >= median",
                        l.p95, l.median
                    )));
                }
                Dist::Lognormal {
                    median: l.median,
                    p95: l.p95,
                }
            }
            "empirical" => {
                let v: Vec<Dur> = map.next_value()?;
                if v.is_empty() {
                    return Err(de::Error::custom(
                        "empirical list is empty: expected at least one measured duration",
                    ));
                }
                Dist::Empirical(v)
            }
            other => {
                return Err(de::Error::unknown_variant(
                    other,
                    &["fixed", "uniform", "lognormal", "empirical"],
                ))
            }
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "unexpected key `{extra}`: a distribution has exactly one of fixed, uniform, lognormal, empirical"
            )));
        }
        Ok(dist)
    }
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DistVisitor)
    }
}

impl JsonSchema for Dist {
    fn schema_name() -> Cow<'static, str> {
        "Distribution".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let d = generator.subschema_for::<Dur>();
        let pd = generator.subschema_for::<PosDur>();
        json_schema!({
            "description": "A duration distribution: a fixed duration, or one of fixed / uniform / lognormal (median, p95) / empirical (measured samples).",
            "oneOf": [
                d,
                {"type": "object", "additionalProperties": false, "required": ["fixed"], "properties": {"fixed": d}},
                {"type": "object", "additionalProperties": false, "required": ["uniform"], "properties": {"uniform": {
                    "type": "object", "additionalProperties": false, "required": ["min", "max"],
                    "properties": {"min": d, "max": d}}}},
                {"type": "object", "additionalProperties": false, "required": ["lognormal"], "properties": {"lognormal": {
                    "type": "object", "additionalProperties": false, "required": ["median", "p95"],
                    "properties": {"median": pd, "p95": pd}}}},
                {"type": "object", "additionalProperties": false, "required": ["empirical"], "properties": {"empirical": {
                    "type": "array", "minItems": 1, "items": d}}}
            ]
        })
    }
}
