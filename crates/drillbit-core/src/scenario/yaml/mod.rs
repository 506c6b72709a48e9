//! Position-aware YAML loading for scenario files.
//!
//! This module owns three things:
//! - **Positions**: [`parse`] turns YAML text into a [`Node`] tree in which every node remembers
//!   the 1-based line and column ([`Mark`]) where it starts, so that both schema errors and later
//!   semantic checks (via [`node_at`]) can point at the exact spot in the user's file.
//! - **Limits**: scenario files come from users, so parsing is bounded in input size, nesting depth
//!   and node count ([`Limits`]). Nodes are counted after alias expansion and the tree is built
//!   with an explicit stack, so depth bombs and "billion laughs" documents are refused early, with
//!   little memory and no deep recursion.
//! - **The deserializer**: [`from_node`] drives any `serde` type from a [`Node`] and returns a
//!   [`LoadError`] carrying the mark of the most specific node involved in the failure.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Tag};
use serde::de::{self, Expected, Unexpected};

/// A position in the source: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Mark {
    pub line: u32,
    pub col: u32,
}

impl Mark {
    fn from_marker(m: &Marker) -> Mark {
        // saphyr lines are 1-based but its columns are 0-based; users expect both 1-based.
        let to_u32 = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Mark {
            line: to_u32(m.line()),
            col: to_u32(m.col().saturating_add(1)),
        }
    }
}

/// On a `%` directive line the scanner counts the column in bytes, not characters; recount
/// it in characters. (A leading byte-order mark is not counted, as on every other line.)
fn directive_col(src: &str, mark: Mark) -> Mark {
    let Some(text) = (mark.line as usize).checked_sub(1).and_then(|n| src.split('\n').nth(n)) else {
        return mark;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.starts_with('%') {
        return mark;
    }
    let mut end = (mark.col.saturating_sub(1) as usize).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Mark {
        col: u32::try_from(text[..end].chars().count() + 1).unwrap_or(u32::MAX),
        ..mark
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Resource limits applied while parsing untrusted input.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Maximum input size in bytes.
    pub max_bytes: usize,
    /// Maximum nesting of sequences and mappings, aliases included.
    pub max_depth: usize,
    /// Maximum number of nodes, counting every alias expansion in full.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1024 * 1024,
            max_depth: 64,
            max_nodes: 100_000,
        }
    }
}

/// The resolved content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub mark: Mark,
    pub value: Value,
    /// The scalar's text as written (after unquoting), for scalars only; lets string fields accept
    /// `1` or `yes` verbatim.
    pub text: Option<String>,
}

impl Node {
    /// Looks up `key` in a mapping node by the key's scalar text.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.text.as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A human name for the node's YAML type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }
}

/// One step of a path into a node tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Follows `path` from `root`; lets semantic (post-deserialization) errors point at the source.
pub fn node_at<'a>(root: &'a Node, path: &[PathSeg]) -> Option<&'a Node> {
    path.iter().try_fold(root, |node, seg| match (seg, &node.value) {
        (PathSeg::Key(k), _) => node.get(k),
        (PathSeg::Index(i), Value::Seq(items)) => items.get(*i),
        (PathSeg::Index(_), _) => None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Empty,
    Syntax,
    TooLarge,
    TooDeep,
    TooManyNodes,
    Schema,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub kind: ErrorKind,
    pub mark: Option<Mark>,
    pub message: String,
}

type Res<T> = Result<T, LoadError>;

fn err(kind: ErrorKind, mark: Option<Mark>, message: impl Into<String>) -> LoadError {
    LoadError {
        kind,
        mark,
        message: message.into(),
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mark {
            Some(m) => write!(f, "{m}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for LoadError {}

impl de::Error for LoadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        err(ErrorKind::Schema, None, msg.to_string())
    }

    // Overridden so messages use YAML vocabulary ("a mapping", "null") rather than Rust's.
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        let found = match unexp {
            Unexpected::Seq => "a sequence".to_string(),
            Unexpected::Map => "a mapping".to_string(),
            Unexpected::Unit => "null".to_string(),
            other => other.to_string(),
        };
        de::Error::custom(format_args!("invalid type: expected {exp}, found {found}"))
    }
}

/// Gives an error the mark of `mark` unless a more specific (inner) node already claimed it.
fn at(mark: Mark) -> impl Fn(LoadError) -> LoadError {
    move |mut e| {
        e.mark.get_or_insert(mark);
        e
    }
}

/// A collection still being built; the explicit stack replaces recursion.
struct Frame {
    mark: Mark,
    anchor: usize,
    /// Node count and text bytes before this collection began, to learn its size when it closes.
    start_count: usize,
    start_bytes: usize,
    /// Nesting height of the subtree so far (1 = a collection of scalars).
    height: usize,
    /// Elements, or alternating keys and values for a mapping.
    items: Vec<Node>,
    /// Identities of the keys seen so far; `Some` exactly for mappings.
    keys: Option<HashSet<String>>,
}

/// An anchored subtree with the figures an alias needs to be checked before it is copied.
struct Anchored {
    node: Node,
    count: usize,
    bytes: usize,
    height: usize,
}

struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// Nodes in the tree, alias expansions included.
    count: usize,
    /// Scalar text bytes in the tree, alias expansions included.
    bytes: usize,
    /// Nodes held by anchor snapshots.
    snapshot_nodes: usize,
    /// Text bytes copied into anchor snapshots and alias expansions.
    copied_bytes: usize,
    root: Option<Node>,
}

impl Builder<'_> {
    fn count_nodes(&mut self, n: usize, mark: Mark) -> Res<()> {
        self.count = self.count.saturating_add(n);
        if self.count > self.limits.max_nodes {
            let msg = format!(
                "document has more than {} nodes (aliases count once per use)",
                self.limits.max_nodes
            );
            return Err(err(ErrorKind::TooManyNodes, Some(mark), msg));
        }
        Ok(())
    }

    /// Copies are what turn a small file into a huge tree (a short alias to a long string, or
    /// nested anchors around one big subtree), so copied text is held to the input size limit.
    fn charge_copy(&mut self, bytes: usize, mark: Mark) -> Res<()> {
        self.copied_bytes = self.copied_bytes.saturating_add(bytes);
        if self.copied_bytes > self.limits.max_bytes {
            let msg = format!(
                "anchors and aliases copy more than {} bytes of text",
                self.limits.max_bytes
            );
            return Err(err(ErrorKind::TooLarge, Some(mark), msg));
        }
        Ok(())
    }

    fn check_depth(&self, height: usize, mark: Mark) -> Res<()> {
        if self.stack.len().saturating_add(height) > self.limits.max_depth {
            let msg = format!("nesting deeper than {} levels", self.limits.max_depth);
            return Err(err(ErrorKind::TooDeep, Some(mark), msg));
        }
        Ok(())
    }

    fn open(&mut self, mark: Mark, anchor: usize, keys: Option<HashSet<String>>) -> Res<()> {
        self.check_depth(1, mark)?;
        let (start_count, start_bytes) = (self.count, self.bytes);
        self.count_nodes(1, mark)?;
        let (height, items) = (1, Vec::new());
        let frame = Frame {
            mark,
            anchor,
            start_count,
            start_bytes,
            height,
            items,
            keys,
        };
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self) -> Res<()> {
        let Some(frame) = self.stack.pop() else {
            return Err(err(ErrorKind::Syntax, None, "unbalanced collection end"));
        };
        let value = match frame.keys {
            None => Value::Seq(frame.items),
            Some(_) => {
                let mut items = frame.items.into_iter();
                Value::Map(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect())
            }
        };
        let node = Node {
            mark: frame.mark,
            value,
            text: None,
        };
        let count = self.count.saturating_sub(frame.start_count);
        let bytes = self.bytes.saturating_sub(frame.start_bytes);
        self.remember(frame.anchor, &node, count, bytes, frame.height)?;
        self.push(node, frame.height)
    }

    fn remember(&mut self, anchor: usize, node: &Node, count: usize, bytes: usize, height: usize) -> Res<()> {
        if anchor == 0 {
            return Ok(());
        }
        self.snapshot_nodes = self.snapshot_nodes.saturating_add(count);
        if self.snapshot_nodes > self.limits.max_nodes {
            let msg = format!("anchors hold more than {} nodes", self.limits.max_nodes);
            return Err(err(ErrorKind::TooManyNodes, Some(node.mark), msg));
        }
        self.charge_copy(bytes, node.mark)?;
        let node = node.clone();
        let anchored = Anchored {
            node,
            count,
            bytes,
            height,
        };
        self.anchors.insert(anchor, anchored);
        Ok(())
    }

    fn alias(&mut self, id: usize, mark: Mark) -> Res<()> {
        let Some(a) = self.anchors.get(&id) else {
            let msg = "alias refers to an unknown or unfinished anchor";
            return Err(err(ErrorKind::Syntax, Some(mark), msg));
        };
        let (count, bytes, height) = (a.count, a.bytes, a.height);
        // All checks come before the copy so an alias bomb never materialises.
        self.check_depth(height, mark)?;
        self.count_nodes(count, mark)?;
        self.charge_copy(bytes, mark)?;
        self.bytes = self.bytes.saturating_add(bytes);
        let Some(mut node) = self.anchors.get(&id).map(|a| a.node.clone()) else {
            return Err(err(ErrorKind::Syntax, Some(mark), "alias anchor vanished"));
        };
        // The copy starts where the alias is written; inner nodes keep the anchor's marks, which is
        // where their text actually is.
        node.mark = mark;
        self.push(node, height)
    }

    fn push(&mut self, node: Node, height: usize) -> Res<()> {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        frame.height = frame.height.max(height.saturating_add(1));
        let is_key = frame.items.len() % 2 == 0;
        if let (true, Some(keys)) = (is_key, &mut frame.keys) {
            if matches!(node.value, Value::Seq(_) | Value::Map(_)) {
                let msg = format!("mapping keys must be scalars, found a {}", node.type_name());
                return Err(err(ErrorKind::Schema, Some(node.mark), msg));
            }
            // The Debug form of a resolved scalar is a canonical identity, so `0x10` and `16`
            // collide as YAML says they should, and hashing keeps huge mappings linear.
            if !keys.insert(format!("{:?}", node.value)) {
                let text = node.text.as_deref().unwrap_or_default();
                let msg = format!("duplicate key `{text}`");
                return Err(err(ErrorKind::Schema, Some(node.mark), msg));
            }
        }
        frame.items.push(node);
        Ok(())
    }
}

/// Returns whether the tag forces a string; tags outside the core schema are refused so that
/// nobody expects `!!python/object`-style construction to happen.
fn check_tag(tag: Option<&Cow<'_, Tag>>, mark: Mark) -> Res<bool> {
    let Some(tag) = tag else { return Ok(false) };
    // The non-specific `!` tag means "do not resolve", i.e. a string.
    if tag.handle.is_empty() && tag.suffix == "!" {
        return Ok(true);
    }
    match format!("{}{}", tag.handle, tag.suffix).strip_prefix("tag:yaml.org,2002:") {
        Some("str") => Ok(true),
        Some("int" | "float" | "bool" | "null" | "seq" | "map") => Ok(false),
        _ => Err(err(ErrorKind::Schema, Some(mark), format!("unsupported tag `{tag}`"))),
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    // Out-of-range integers stay strings rather than silently losing precision as floats.
    let int = |t: &str, radix: u32| i64::from_str_radix(t, radix).ok().map(Value::Int);
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let resolved = if let Some(hex) = s.strip_prefix("0x").filter(|t| digits(t, 16)) {
        int(hex, 16)
    } else if let Some(oct) = s.strip_prefix("0o").filter(|t| digits(t, 8)) {
        int(oct, 8)
    } else if digits(unsigned, 10) {
        int(s, 10)
    } else {
        let (mantissa, exp) = unsigned.split_once(['e', 'E']).unwrap_or((unsigned, "0"));
        let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mantissa_ok = (digits(whole, 10) || digits(frac, 10))
            && (whole.is_empty() || digits(whole, 10))
            && (frac.is_empty() || digits(frac, 10));
        let exp_ok = digits(exp.strip_prefix(['+', '-']).unwrap_or(exp), 10);
        (mantissa_ok && exp_ok)
            .then(|| s.parse().ok().map(Value::Float))
            .flatten()
    };
    resolved.unwrap_or_else(|| Value::Str(s.to_string()))
}

/// Parses one YAML document into a position-annotated tree, enforcing `limits`.
pub fn parse(src: &str, limits: &Limits) -> Res<Node> {
    if src.len() > limits.max_bytes {
        let msg = format!(
            "file is {} bytes, larger than the limit of {} bytes",
            src.len(),
            limits.max_bytes
        );
        return Err(err(ErrorKind::TooLarge, None, msg));
    }
    let mut b = Builder {
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        count: 0,
        bytes: 0,
        snapshot_nodes: 0,
        copied_bytes: 0,
        root: None,
    };
    let mut documents = 0usize;
    for item in Parser::new_from_str(src) {
        let (event, span) = item.map_err(|e| {
            let mark = Some(directive_col(src, Mark::from_marker(e.marker())));
            // The scanner looks ahead through flow collections for possible keys, so on `[[[[...`
            // its own nesting cap (255) can trip before we see the level past `max_depth`.
            match e.info() {
                "recursion limit exceeded" => {
                    let msg = format!("nesting deeper than {} levels", limits.max_depth.min(255));
                    err(ErrorKind::TooDeep, mark, msg)
                }
                info => err(ErrorKind::Syntax, mark, info),
            }
        })?;
        let mark = Mark::from_marker(&span.start);
        match event {
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    let msg = "only one YAML document is allowed per file";
                    return Err(err(ErrorKind::Syntax, Some(mark), msg));
                }
            }
            Event::Alias(id) => b.alias(id, mark)?,
            Event::Scalar(text, style, anchor, tag) => {
                let force_str = check_tag(tag.as_ref(), mark)?;
                b.count_nodes(1, mark)?;
                let text_len = text.len();
                b.bytes = b.bytes.saturating_add(text_len);
                let value = if style == ScalarStyle::Plain && !force_str {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.to_string())
                };
                let node = Node {
                    mark,
                    value,
                    text: Some(text.into_owned()),
                };
                b.remember(anchor, &node, 1, text_len, 0)?;
                b.push(node, 0)?;
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_ref(), mark)?;
                b.open(mark, anchor, None)?;
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_ref(), mark)?;
                b.open(mark, anchor, Some(HashSet::new()))?;
            }
            Event::SequenceEnd | Event::MappingEnd => b.close()?,
        }
    }
    match b.root {
        // A document with no content at all (`---` alone) parses as an empty plain scalar.
        Some(root) if root.text.as_deref() != Some("") || root.value != Value::Null => Ok(root),
        _ => {
            let msg = "file is empty: expected a YAML mapping";
            Err(err(ErrorKind::Empty, None, msg))
        }
    }
}

mod node_de;
#[cfg(test)]
mod tests;

pub use node_de::from_node;
