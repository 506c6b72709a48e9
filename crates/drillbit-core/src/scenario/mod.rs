//! Scenario files: from bytes on disk to a validated [`Scenario`].
//!
//! Pipeline: `yaml::parse` (positions, size/depth/alias limits) -> `yaml::from_node` (typed,
//! positioned errors) -> `validate` (references, cycles, parameters). Every problem becomes a
//! [`Diagnostic`] with FILE:LINE:COL; nothing here panics on user input.

pub mod binding;
pub mod dist;
pub mod duration;
pub mod model;
mod model_serde;
pub mod models_file;
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
    /// The source line the position is on, for display (the file is never read twice: it
    /// may be a pipe).
    pub snippet: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: about the file as a whole (missing, unreadable), no position in it.
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}:{}: error: {}", self.file, self.line, self.col, self.message)
        }
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
            snippet: None,
        }]
    };
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(diag("is a directory, expected a scenario file".into()));
    }
    // Read at most one byte more than the limit: a huge file, /dev/zero or an endless pipe is
    // refused without reading it whole (metadata cannot be trusted for the last two).
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|e| {
            diag(match e.kind() {
                std::io::ErrorKind::NotFound => "no such file: expected a scenario file".to_string(),
                std::io::ErrorKind::PermissionDenied => "cannot read: permission denied".to_string(),
                _ => format!("cannot read: {e}"),
            })
        })?;
        file.take(limits.max_bytes as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| diag(format!("cannot read: {e}")))?;
    }
    if bytes.len() > limits.max_bytes {
        return Err(diag(format!(
            "file is larger than the limit of {} bytes",
            limits.max_bytes
        )));
    }
    let source = String::from_utf8(bytes).map_err(|e| {
        diag(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    load_str(&name, &source)
}

/// A scanner position clamped to the text: the end of input after a last line without a line
/// break is reported one line past it, which no editor can show; it is the end of that line.
/// (After a final line break, the empty line that follows is real.)
fn within(source: &str, line: u32, col: u32) -> (u32, u32) {
    let count = source.lines().count() as u32;
    let last = count + u32::from(source.is_empty() || source.ends_with('\n'));
    if line == 0 || line <= last {
        return (line, col);
    }
    match source.lines().last() {
        Some(last) => (count, last.chars().count() as u32 + 1),
        None => (1, 1),
    }
}

/// Parses and validates scenario text; `name` is used in diagnostics.
pub fn load_str(name: &str, original: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let limits = yaml::Limits::default();
    // YAML breaks lines at CR, LF and CRLF; the scanner's positions only agree with a reader's
    // (and with `str::lines`) when every break is a LF.
    let normalized;
    let source = if original.contains('\r') {
        normalized = original.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        original
    };
    let at = |mark: Option<yaml::Mark>, message: String| {
        let (line, col) = mark.map_or((0, 0), |m| within(source, m.line, m.col));
        Diagnostic {
            file: name.to_string(),
            line,
            col,
            message,
            snippet: (line > 0)
                .then(|| source.lines().nth(line as usize - 1))
                .flatten()
                .map(str::to_string),
        }
    };
    let mut root = yaml::parse(source, &limits).map_err(|e| {
        let mark = if e.kind == yaml::ErrorKind::Syntax && e.message.contains("tab") {
            first_tab(source, e.mark).or(e.mark)
        } else {
            e.mark
        };
        vec![at(mark, describe_load_error(&e))]
    })?;
    if !matches!(root.value, yaml::Value::Map(_)) {
        return Err(vec![at(
            Some(root.mark),
            format!(
                "expected a mapping with a scenario (name, strategy, targets, topology, runbook), found {}",
                root.type_name()
            ),
        )]);
    }
    kind_first(&mut root);
    let scenario: Scenario = yaml::from_node(&root).map_err(|e| vec![at(e.mark, e.message.clone())])?;
    let mut scenario = scenario;
    if let Some(file) = scenario.models.file.take() {
        // Relative to the scenario file, as a reader of the scenario would resolve it.
        let base = Path::new(name).parent().unwrap_or(Path::new(""));
        let path = base.join(&file);
        let mark = root.get("models").map(|n| n.mark);
        let models = models_file::load_models(&path).map_err(|e| vec![at(mark, format!("models file: {e}"))])?;
        scenario.models.map = models;
    }
    let problems = validate::validate(&scenario, &root);
    if !problems.is_empty() {
        return Err(problems.into_iter().map(|(mark, msg)| at(mark, msg)).collect());
    }
    Ok(Loaded {
        scenario,
        path: name.to_string(),
        sha256: sha256_hex(original.as_bytes()),
        source: original.to_string(),
    })
}

fn describe_load_error(e: &yaml::LoadError) -> String {
    match e.kind {
        yaml::ErrorKind::Syntax => format!("not valid YAML: {}", e.message),
        _ => e.message.clone(),
    }
}

/// Moves `kind` to the front of every resource mapping: `Resource`'s deserializer reads it
/// first and then the kind's struct from the rest, with every position intact.
fn kind_first(root: &mut yaml::Node) {
    let yaml::Value::Map(top) = &mut root.value else { return };
    let Some((_, topology)) = top.iter_mut().find(|(k, _)| k.text.as_deref() == Some("topology")) else {
        return;
    };
    let yaml::Value::Map(topo) = &mut topology.value else {
        return;
    };
    let Some((_, resources)) = topo.iter_mut().find(|(k, _)| k.text.as_deref() == Some("resources")) else {
        return;
    };
    let yaml::Value::Seq(items) = &mut resources.value else {
        return;
    };
    for item in items {
        if let yaml::Value::Map(entries) = &mut item.value {
            if let Some(i) = entries.iter().position(|(k, _)| k.text.as_deref() == Some("kind")) {
                let e = entries.remove(i);
                entries.insert(0, e);
            }
        }
    }
}

/// The YAML scanner reports a tab where it gave up scanning, often the line before; point at
/// the tab itself.
fn first_tab(source: &str, mark: Option<yaml::Mark>) -> Option<yaml::Mark> {
    let from = mark.map_or(1, |m| m.line.max(1)) as usize;
    source.lines().enumerate().skip(from - 1).take(3).find_map(|(n, line)| {
        let col = line.chars().position(|c| c == '\t')?;
        Some(yaml::Mark {
            line: n as u32 + 1,
            col: col as u32 + 1,
        })
    })
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
