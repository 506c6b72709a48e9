//! The scenario types whose YAML or JSON Schema form is not what `derive` gives: the
//! `models:` section (a mapping or a file), a local fault's `spec` (a method name, a pidfile or
//! a command), and resources (read `kind` first so every position inside survives).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::dist::Dist;
use super::duration::PosDur;
use super::model::*;

impl<'de> Deserialize<'de> for Models {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Models;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of model overrides, or the path of a models file")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Models, E> {
                Ok(Models {
                    map: BTreeMap::new(),
                    file: Some(v.to_string()),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Models, A::Error> {
                let map = BTreeMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Models { map, file: None })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Models {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Models".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let dist = generator.subschema_for::<Dist>();
        schemars::json_schema!({
            "description": "Model overrides by step id or model name, or the path of a models file from `drillbit calibrate`.",
            "oneOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": dist}
            ]
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PidfileSpec {
    pidfile: String,
    #[serde(default)]
    signal: Signal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandSpec {
    command: String,
    #[serde(default)]
    repair: Option<String>,
    #[serde(default)]
    timeout: Option<PosDur>,
}

impl<'de> Deserialize<'de> for LocalFaultSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "a method (kill-postmaster, kill-all, stop, cut-link, slow-link), { pidfile, signal } or { command, repair, timeout }";
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = LocalFaultSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LocalFaultSpec, E> {
                LocalFault::deserialize(serde::de::value::StrDeserializer::<E>::new(v)).map(LocalFaultSpec::Method)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<LocalFaultSpec, A::Error> {
                // Decide by the first key; the rest is read by the matching struct, positions intact.
                let mut map = map;
                let Some(first) = map.next_key::<String>()? else {
                    return Err(serde::de::Error::custom(format!("empty mapping: expected {EXPECTED}")));
                };
                let rest = FirstKeyThen {
                    first: Some(first.clone()),
                    map,
                };
                let d = serde::de::value::MapAccessDeserializer::new(rest);
                match first.as_str() {
                    "pidfile" | "signal" => {
                        let p = PidfileSpec::deserialize(d)?;
                        Ok(LocalFaultSpec::Pidfile {
                            pidfile: p.pidfile,
                            signal: p.signal,
                        })
                    }
                    "command" | "repair" | "timeout" => {
                        let c = CommandSpec::deserialize(d)?;
                        Ok(LocalFaultSpec::Command {
                            command: c.command,
                            repair: c.repair,
                            timeout: c.timeout,
                        })
                    }
                    other => Err(serde::de::Error::unknown_field(
                        other,
                        &["pidfile", "signal", "command", "repair", "timeout"],
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A map access that hands out an already-read first key before the rest of the mapping.
struct FirstKeyThen<A> {
    first: Option<String>,
    map: A,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for FirstKeyThen<A> {
    type Error = A::Error;
    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(k) => seed
                .deserialize(serde::de::value::StringDeserializer::<A::Error>::new(k))
                .map(Some),
            None => self.map.next_key_seed(seed),
        }
    }
    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

impl JsonSchema for LocalFaultSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LocalFaultSpec".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let method = generator.subschema_for::<LocalFault>();
        let signal = generator.subschema_for::<Signal>();
        schemars::json_schema!({
            "description": "How the local target carries out the fault.",
            "oneOf": [
                method,
                {"type": "object", "additionalProperties": false, "required": ["pidfile"],
                 "properties": {"pidfile": {"type": "string"}, "signal": signal}},
                {"type": "object", "additionalProperties": false, "required": ["command"],
                 "properties": {"command": {"type": "string"}, "repair": {"type": "string"}}}
            ]
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ResourceKind {
    RdsInstance,
    RdsReadReplica,
    AuroraGlobal,
    DynamodbGlobalTable,
    S3Bucket,
    EcsService,
    AutoScalingGroup,
    Route53Record,
    BackupPlan,
    ElasticacheGlobal,
}

/// Reads `kind` first, then the kind's own struct straight from the rest of the mapping.
/// serde's derived internally tagged enums buffer the whole mapping instead, which loses every
/// position inside it. The scenario loader moves `kind` to the front of each resource mapping.
impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Resource;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a resource: a mapping with `kind` and `id`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Resource, A::Error> {
                if map.next_key::<String>()?.as_deref() != Some("kind") {
                    return Err(serde::de::Error::missing_field("kind"));
                }
                let kind: ResourceKind = map.next_value()?;
                let d = serde::de::value::MapAccessDeserializer::new(map);
                Ok(match kind {
                    ResourceKind::RdsInstance => Resource::RdsInstance(RdsInstance::deserialize(d)?),
                    ResourceKind::RdsReadReplica => Resource::RdsReadReplica(RdsReadReplica::deserialize(d)?),
                    ResourceKind::AuroraGlobal => Resource::AuroraGlobal(AuroraGlobal::deserialize(d)?),
                    ResourceKind::DynamodbGlobalTable => {
                        Resource::DynamodbGlobalTable(DynamodbGlobalTable::deserialize(d)?)
                    }
                    ResourceKind::S3Bucket => Resource::S3Bucket(S3Bucket::deserialize(d)?),
                    ResourceKind::EcsService => Resource::EcsService(EcsService::deserialize(d)?),
                    ResourceKind::AutoScalingGroup => Resource::AutoScalingGroup(AutoScalingGroup::deserialize(d)?),
                    ResourceKind::Route53Record => Resource::Route53Record(Route53Record::deserialize(d)?),
                    ResourceKind::BackupPlan => Resource::BackupPlan(BackupPlan::deserialize(d)?),
                    ResourceKind::ElasticacheGlobal => Resource::ElasticacheGlobal(ElasticacheGlobal::deserialize(d)?),
                })
            }
        }
        d.deserialize_map(V)
    }
}
