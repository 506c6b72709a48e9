//! Scenario files: from bytes on disk to a validated [`Scenario`].
//!
//! Pipeline: `yaml::parse` (positions, size/depth/alias limits) -> `yaml::from_node` (typed,
//! positioned errors) -> `validate` (references, cycles, parameters). Every problem becomes a
//! [`Diagnostic`] with FILE:LINE:COL; nothing here panics on user input.

pub mod dist;
pub mod duration;
pub mod model;
pub mod validate;
pub mod yaml;

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use dist::Dist;
pub use duration::{Dur, PosDur};
pub use model::*;

/// One problem in a scenario file, with its position (1-based; 0 when the file has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: {}", self.file, self.line, self.col, self.message)
    }
}

/// A scenario that parsed and validated, with what the scorecard records about its source.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: String,
    pub sha256: String,
    pub source: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and validates a scenario file. All problems found are returned, not only the first.
pub fn load_file(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let limits = yaml::Limits::default();
    let diag = |message: String| {
        vec![Diagnostic {
            file: name.clone(),
            line: 0,
            col: 0,
            message,
        }]
    };
    // Refuse oversized files before reading them whole.
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(diag("is a directory, expected a scenario file".into())),
        Ok(m) if m.len() > limits.max_bytes as u64 => {
            return Err(diag(format!(
                "file is {} bytes; the limit is {} bytes",
                m.len(),
                limits.max_bytes
            )))
        }
        Ok(_) => {}
        Err(e) => return Err(diag(format!("cannot read: {e}"))),
    }
    let bytes = std::fs::read(path).map_err(|e| diag(format!("cannot read: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|e| {
        diag(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    load_str(&name, &source)
}

/// Parses and validates scenario text; `name` is used in diagnostics.
pub fn load_str(name: &str, source: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let limits = yaml::Limits::default();
    let at = |mark: Option<yaml::Mark>, message: String| Diagnostic {
        file: name.to_string(),
        line: mark.map_or(0, |m| m.line),
        col: mark.map_or(0, |m| m.col),
        message,
    };
    let root = yaml::parse(source, &limits).map_err(|e| vec![at(e.mark, describe_load_error(&e))])?;
    if !matches!(root.value, yaml::Value::Map(_)) {
        return Err(vec![at(
            Some(root.mark),
            format!(
                "expected a mapping with a scenario (name, strategy, targets, topology, runbook), found {}",
                root.type_name()
            ),
        )]);
    }
    let scenario: Scenario = yaml::from_node(&root).map_err(|e| {
        let mark = refine_mark(&root, &e).or(e.mark);
        vec![at(mark, e.message.clone())]
    })?;
    let problems = validate::validate(&scenario, &root);
    if !problems.is_empty() {
        return Err(problems.into_iter().map(|(mark, msg)| at(mark, msg)).collect());
    }
    Ok(Loaded {
        scenario,
        path: name.to_string(),
        sha256: sha256_hex(source.as_bytes()),
        source: source.to_string(),
    })
}

fn describe_load_error(e: &yaml::LoadError) -> String {
    match e.kind {
        yaml::ErrorKind::Syntax => format!("not valid YAML: {}", e.message),
        _ => e.message.clone(),
    }
}

/// serde's internally tagged enums (resource kinds) buffer their content, so an unknown-field
/// error comes back marked at the mapping; point it at the offending key instead.
fn refine_mark(root: &yaml::Node, e: &yaml::LoadError) -> Option<yaml::Mark> {
    let mark = e.mark?;
    let field = e.message.strip_prefix("unknown field `")?.split('`').next()?;
    fn find(n: &yaml::Node, mark: yaml::Mark) -> Option<&yaml::Node> {
        if n.mark == mark && matches!(n.value, yaml::Value::Map(_)) {
            return Some(n);
        }
        match &n.value {
            yaml::Value::Seq(items) => items.iter().find_map(|c| find(c, mark)),
            yaml::Value::Map(entries) => entries.iter().find_map(|(_, v)| find(v, mark)),
            _ => None,
        }
    }
    let map = find(root, mark)?;
    if let yaml::Value::Map(entries) = &map.value {
        for (k, _) in entries {
            if k.text.as_deref() == Some(field) || matches!(&k.value, yaml::Value::Str(s) if s == field) {
                return Some(k.mark);
            }
        }
    }
    Some(mark)
}

/// The JSON Schema of the scenario format, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON value of a parsed YAML tree (for validating scenario files against the schema).
pub fn yaml_to_json(node: &yaml::Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        yaml::Value::Null => J::Null,
        yaml::Value::Bool(b) => J::Bool(*b),
        yaml::Value::Int(i) => J::from(*i),
        yaml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        yaml::Value::Str(s) => J::String(s.clone()),
        yaml::Value::Seq(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        yaml::Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k.text.clone().unwrap_or_else(|| match &k.value {
                        yaml::Value::Str(s) => s.clone(),
                        _ => String::new(),
                    });
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
    }
}
