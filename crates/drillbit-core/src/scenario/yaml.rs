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
use serde::de::{self, DeserializeSeed, Deserializer, Expected, Unexpected, Visitor};

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

/// Deserializes `node` into `T`; errors carry the mark of the innermost node involved.
pub fn from_node<T: de::DeserializeOwned>(node: &Node) -> Res<T> {
    T::deserialize(NodeDe(node)).map_err(at(node.mark))
}

fn unexpected(n: &Node) -> Unexpected<'_> {
    match &n.value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Int(i) => Unexpected::Signed(*i),
        Value::Float(f) => Unexpected::Float(*f),
        Value::Str(s) => Unexpected::Str(s),
        Value::Seq(_) => Unexpected::Seq,
        Value::Map(_) => Unexpected::Map,
    }
}

fn wrong_type<T>(n: &Node, exp: &dyn Expected) -> Res<T> {
    Err(de::Error::invalid_type(unexpected(n), exp))
}

fn visit_seq<'de, V: Visitor<'de>>(items: &[Node], v: V) -> Res<V::Value> {
    let mut acc = SeqAcc(items.iter());
    let out = v.visit_seq(&mut acc)?;
    match acc.0.len() {
        0 => Ok(out),
        // Fixed-size targets (tuples) stop reading early; extra elements are a user mistake.
        rest => {
            let want = format!("{} elements", items.len() - rest);
            Err(de::Error::invalid_length(items.len(), &want.as_str()))
        }
    }
}

struct NodeDe<'a>(&'a Node);

/// Generates methods that accept only the listed value shapes; anything else becomes an
/// `invalid_type` naming the YAML type found. Every error leaving gets this node's mark unless an
/// inner node already set one.
macro_rules! accept {
    ($($method:ident($n:ident, $v:ident) { $($pat:pat => $body:expr),+ })*) => {$(
        fn $method<V: Visitor<'de>>(self, $v: V) -> Res<V::Value> {
            let $n = self.0;
            let r = match &$n.value { $($pat => $body,)+ _ => wrong_type($n, &$v) };
            r.map_err(at($n.mark))
        }
    )*};
}

/// Generates methods that only delegate to `$to`, ignoring the extra arguments.
macro_rules! forward {
    ($to:ident: $($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* v: V) -> Res<V::Value> {
            self.$to(v)
        }
    )*};
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = LoadError;

    accept! {
        deserialize_bool(n, v) { Value::Bool(b) => v.visit_bool(*b) }
        deserialize_i64(n, v) { Value::Int(i) => v.visit_i64(*i) }
        deserialize_f64(n, v) {
            Value::Float(f) => v.visit_f64(*f),
            Value::Int(i) => v.visit_f64(*i as f64) // Users write `2` for 2.0.
        }
        // Non-string scalars are accepted as written, so `region: 1` fills a string field. Null is
        // not: a blank value silently becoming "" would hide a forgotten value.
        deserialize_str(n, v) {
            Value::Str(s) => v.visit_str(s),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) =>
                v.visit_str(n.text.as_deref().unwrap_or_default())
        }
        deserialize_unit(n, v) { Value::Null => v.visit_unit() }
        deserialize_seq(n, v) { Value::Seq(items) => visit_seq(items, v) }
        deserialize_map(n, v) {
            Value::Map(entries) => v.visit_map(MapAcc { iter: entries.iter(), value: None })
        }
    }
    forward!(deserialize_i64: deserialize_i8() deserialize_i16() deserialize_i32() deserialize_i128()
        deserialize_u8() deserialize_u16() deserialize_u32() deserialize_u64() deserialize_u128());
    forward!(deserialize_f64: deserialize_f32());
    forward!(deserialize_str: deserialize_string() deserialize_identifier() deserialize_char());
    forward!(deserialize_any: deserialize_bytes() deserialize_byte_buf());
    forward!(deserialize_unit: deserialize_unit_struct(_name: &'static str));
    forward!(deserialize_seq: deserialize_tuple(_len: usize)
        deserialize_tuple_struct(_name: &'static str, _len: usize));
    forward!(deserialize_map: deserialize_struct(_name: &'static str, _f: &'static [&'static str]));

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Res<V::Value> {
        let n = self.0;
        let r = match &n.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Int(i) => v.visit_i64(*i),
            Value::Float(f) => v.visit_f64(*f),
            Value::Str(s) => v.visit_str(s),
            Value::Seq(items) => visit_seq(items, v),
            Value::Map(_) => return self.deserialize_map(v),
        };
        r.map_err(at(n.mark))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Res<V::Value> {
        let n = self.0;
        let r = match n.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        };
        r.map_err(at(n.mark))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Res<V::Value> {
        let mark = self.0.mark;
        v.visit_newtype_struct(self).map_err(at(mark))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Res<V::Value> {
        let n = self.0;
        let r = match &n.value {
            Value::Map(entries) => match entries.as_slice() {
                [(key, value)] => v.visit_enum(EnumAcc(key, Some(value))),
                _ => Err(bad_enum(variants)),
            },
            Value::Null | Value::Seq(_) => Err(bad_enum(variants)),
            _ => v.visit_enum(EnumAcc(n, None)),
        };
        r.map_err(at(n.mark))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Res<V::Value> {
        v.visit_unit()
    }
}

fn bad_enum(variants: &[&str]) -> LoadError {
    let names: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
    let names = names.join(", ");
    de::Error::custom(format_args!(
        "expected a string or a single-key mapping naming one of {names}"
    ))
}

struct SeqAcc<'a>(std::slice::Iter<'a, Node>);

impl<'de> de::SeqAccess<'de> for SeqAcc<'_> {
    type Error = LoadError;

    fn next_element_seed<S>(&mut self, seed: S) -> Res<Option<S::Value>>
    where
        S: DeserializeSeed<'de>,
    {
        let Some(n) = self.0.next() else {
            return Ok(None);
        };
        seed.deserialize(NodeDe(n)).map(Some).map_err(at(n.mark))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapAcc<'a> {
    iter: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de> de::MapAccess<'de> for MapAcc<'_> {
    type Error = LoadError;

    fn next_key_seed<S>(&mut self, seed: S) -> Res<Option<S::Value>>
    where
        S: DeserializeSeed<'de>,
    {
        let Some((k, v)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(v);
        seed.deserialize(NodeDe(k)).map(Some).map_err(at(k.mark))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Res<S::Value> {
        match self.value.take() {
            Some(v) => seed.deserialize(NodeDe(v)).map_err(at(v.mark)),
            None => Err(de::Error::custom("mapping value requested before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The variant key, and its content (`None` when written as a bare scalar, i.e. a unit variant).
struct EnumAcc<'a>(&'a Node, Option<&'a Node>);

impl<'de, 'a> de::EnumAccess<'de> for EnumAcc<'a> {
    type Error = LoadError;
    type Variant = VariantAcc<'a>;

    fn variant_seed<S>(self, seed: S) -> Res<(S::Value, VariantAcc<'a>)>
    where
        S: DeserializeSeed<'de>,
    {
        let variant = seed.deserialize(NodeDe(self.0)).map_err(at(self.0.mark))?;
        Ok((variant, VariantAcc(self.1)))
    }
}

struct VariantAcc<'a>(Option<&'a Node>);

impl<'de> de::VariantAccess<'de> for VariantAcc<'_> {
    type Error = LoadError;

    fn unit_variant(self) -> Res<()> {
        match self.0 {
            Some(n) if n.value != Value::Null => wrong_type(n, &"nothing").map_err(at(n.mark)),
            _ => Ok(()),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Res<S::Value> {
        match self.0 {
            Some(n) => seed.deserialize(NodeDe(n)).map_err(at(n.mark)),
            None => {
                let exp = "a variant with a value";
                Err(de::Error::invalid_type(Unexpected::UnitVariant, &exp))
            }
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Res<V::Value> {
        match self.0 {
            Some(n) => NodeDe(n).deserialize_seq(v),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &v)),
        }
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], v: V) -> Res<V::Value> {
        match self.0 {
            Some(n) => NodeDe(n).deserialize_map(v),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn load(src: &str) -> Res<Node> {
        parse(src, &Limits::default())
    }

    /// The value of key `v` in `src`.
    fn val(src: &str) -> Value {
        load(src).unwrap().get("v").unwrap().value.clone()
    }

    fn err_of<T: de::DeserializeOwned + fmt::Debug>(src: &str) -> LoadError {
        from_node::<T>(&load(src).unwrap()).unwrap_err()
    }

    fn mark(line: u32, col: u32) -> Option<Mark> {
        Some(Mark { line, col })
    }

    /// Seconds written as `90s`, `5m` or `1h`; its own errors must still get a position.
    #[derive(Debug, PartialEq)]
    struct Duration(u64);

    impl<'de> Deserialize<'de> for Duration {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Duration;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a duration like 90s")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
                    let units = [("s", 1), ("m", 60), ("h", 3600)];
                    let secs = units
                        .iter()
                        .find_map(|(unit, scale)| Some(s.strip_suffix(unit)?.parse::<u64>().ok()? * scale));
                    let bad = || E::custom(format!("bad duration `{s}`"));
                    secs.map(Duration).ok_or_else(bad)
                }
            }
            d.deserialize_str(V)
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scenario {
        name: String,
        region: String,
        replicas: u32,
        timeout: Duration,
        db: Db,
        steps: Vec<Step>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Db {
        engine: String,
        ratio: f64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Step {
        action: Action,
        after: Option<Duration>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Action {
        Failover,
        KillNode { node: String, count: u32 },
        Wait(Duration),
    }

    const GOOD: &str = "\
name: yes
region: 1
replicas: 3
timeout: 90s
db:
  engine: postgres
  ratio: 2
steps:
  - action: failover
  - action:
      kill_node: {node: db-1, count: 2}
    after: 5m
  - action: {wait: 1h}
";

    /// The error from deserializing GOOD with `from` replaced by `to`, as `line:col: message`.
    fn bad(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        let e = err_of::<Scenario>(&GOOD.replace(from, to));
        assert_eq!(e.kind, ErrorKind::Schema);
        e.to_string()
    }

    #[test]
    fn good_document_deserializes() {
        let s: Scenario = from_node(&load(GOOD).unwrap()).unwrap();
        assert_eq!((s.name, s.region), ("yes".into(), "1".into()));
        assert_eq!((s.replicas, s.timeout), (3, Duration(90)));
        assert_eq!((s.db.engine.as_str(), s.db.ratio), ("postgres", 2.0));
        let [first, second, third] = &s.steps[..] else {
            panic!("{:?}", s.steps)
        };
        assert_eq!((&first.action, &first.after), (&Action::Failover, &None));
        let kill = Action::KillNode {
            node: "db-1".into(),
            count: 2,
        };
        assert_eq!((&second.action, &second.after), (&kill, &Some(Duration(300))));
        assert_eq!(third.action, Action::Wait(Duration(3600)));
    }

    #[test]
    fn schema_errors_point_at_the_right_node() {
        // Each case: what to replace in GOOD | its replacement | expected start of the error.
        let cases = [
            // An unknown field points at its key.
            "ratio: 2|ratio: 2\n  extra: 1|8:3: unknown field `extra`",
            // A wrong type points at the value.
            "replicas: 3|replicas: [3]|3:11: invalid type: expected u32, found a sequence",
            "replicas: 3|replicas: -5|3:11: invalid value: integer `-5`, expected u32",
            "90s|{a: 1}|4:10: invalid type: expected a duration like 90s, found a mapping",
            // A missing field points at the mapping that lacks it.
            "engine: postgres\n  ||6:3: missing field `engine`",
            // A custom impl's own error points at the scalar it rejected.
            "timeout: 90s|timeout: soon|4:10: bad duration `soon`",
            // Errors in the third element of `steps` point inside that element.
            "{wait: 1h}|{wait: 1y}|13:20: bad duration `1y`",
            "{wait: 1h}|{sleep: 1h}|13:14: unknown variant `sleep`",
            "{wait: 1h}|[wait]|13:13: expected a string or a single-key mapping naming one of",
            "{wait: 1h}|{wait: 1h}\n    then: x|14:5: unknown field `then`",
        ];
        for case in cases {
            let fields: Vec<&str> = case.split('|').collect();
            let got = bad(fields[0], fields[1]);
            assert!(got.starts_with(fields[2]), "{case:?}: got {got}");
        }
    }

    #[test]
    fn empty_and_syntax_errors() {
        for src in ["", "   \n\n", "# just a comment\n# another\n", "---\n"] {
            let e = load(src).unwrap_err();
            assert_eq!((e.kind, e.mark), (ErrorKind::Empty, None), "{src:?}");
            assert_eq!(e.message, "file is empty: expected a YAML mapping");
        }
        let cases = [
            ("foo: [bar", mark(2, 1)),
            ("a: b: c", mark(1, 5)),
            ("a:\n\tb: 1\n", mark(2, 2)),
            ("a: 1\n b: 2\n", mark(2, 3)),
            ("a: *nope\n", mark(1, 4)),
            ("a: 1\n---\nb: 2\n", mark(2, 1)),
        ];
        for (src, at) in cases {
            let e = load(src).unwrap_err();
            assert_eq!((e.kind, e.mark), (ErrorKind::Syntax, at), "{src:?}: {e}");
        }
        // `: : :` is valid YAML 1.2 (nested null keys), so the schema is what refuses it.
        let e = err_of::<Scenario>(": : :");
        assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(1, 1)), "{e}");
    }

    #[test]
    fn depth_bombs_are_refused() {
        let e = load(&"[".repeat(100)).unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::TooDeep, mark(1, 65)), "{e}");
        let e = load(&"[".repeat(100_000)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooDeep);
        let limits = Limits {
            max_bytes: 10_000_000,
            ..Limits::default()
        };
        let e = parse(&"[".repeat(5_000_000), &limits).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooDeep);
        let e = load(&"- ".repeat(400_000)).unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::TooDeep, mark(1, 129)), "{e}");
        let block: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        assert_eq!(load(&block).unwrap_err().kind, ErrorKind::TooDeep);
        // Aliases must not smuggle extra depth past the limit.
        let mut chain = String::from("a0: &a0 [x]\n");
        for i in 1..80 {
            chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        assert_eq!(load(&chain).unwrap_err().kind, ErrorKind::TooDeep);
    }

    #[test]
    fn alias_bomb_is_refused_and_modest_aliases_work() {
        let mut bomb = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (prev, cur) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            bomb.push_str(&format!("{cur}: &{cur} [{refs}]\n"));
        }
        let e = load(&bomb).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooManyNodes, "{e}");
        assert!(e.mark.is_some_and(|m| m.line > 1));

        let src = "base: &b {engine: pg, ratio: 1.5}\none: *b\ntwo: *b\nthree: *b\n";
        let root = load(src).unwrap();
        let base = &root.get("base").unwrap().value;
        for k in ["one", "two", "three"] {
            assert_eq!(&root.get(k).unwrap().value, base);
        }
        assert_eq!(root.get("two").unwrap().mark, Mark { line: 3, col: 6 });
        let db: Db = from_node(root.get("three").unwrap()).unwrap();
        assert_eq!((db.engine.as_str(), db.ratio), ("pg", 1.5));
        assert_eq!(load("a: &x [*x]\n").unwrap_err().kind, ErrorKind::Syntax);

        // Few nodes but much text: a short alias to a long string is a memory bomb too.
        let src = format!("a: &a {}\nb: [*a, *a, *a]\n", "x".repeat(400_000));
        let e = load(&src).unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::TooLarge, mark(2, 9)), "{e}");
        // Nested anchors around one big subtree would each keep a snapshot of it.
        let inner = vec!["x"; 2_000].join(", ");
        let nested = format!("{}[{inner}]{}", "[&a ".repeat(60), "]".repeat(60));
        assert_eq!(load(&nested).unwrap_err().kind, ErrorKind::TooManyNodes);
    }

    #[test]
    fn keys_limits_and_tags() {
        let e = load("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(3, 1)));
        assert_eq!(e.message, "duplicate key `a`");
        let e = load("0x10: a\n16: b\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Schema);
        let e = load("x: 1\n? [a]\n: 2\n").unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(2, 3)), "{e}");

        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        let e = parse("name: far too long\n", &limits).unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::TooLarge, None));
        let want = "file is 19 bytes, larger than the limit of 10 bytes";
        assert_eq!(e.message, want);
        let limits = Limits {
            max_nodes: 5,
            ..Limits::default()
        };
        let e = parse("[1, 2, 3, 4, 5]", &limits).unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::TooManyNodes, mark(1, 14)));

        let e = load("a: !!python/object foo\n").unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(1, 4)), "{e}");
        assert!(e.message.starts_with("unsupported tag"));
        assert_eq!(val("v: !!str 12"), Value::Str("12".into()));
        assert_eq!(val("v: !!int 12"), Value::Int(12));
    }

    #[test]
    fn scalar_resolution() {
        let cases = r#"1=Int(1) 1.5=Float(1.5) "1"=Str("1") true=Bool(true) ~=Null yes=Str("yes")
            90s=Str("90s") -7=Int(-7) 0x1F=Int(31) 0o17=Int(15) 1e3=Float(1000.0) .inf=Float(inf)
            -.inf=Float(-inf) .5=Float(0.5) 2.=Float(2.0) null=Null ''=Str("") 1.2.3=Str("1.2.3")
            +3=Int(3) False=Bool(false) 0x=Str("0x") 1e=Str("1e") .=Str(".") inf=Str("inf")
            99999999999999999999=Str("99999999999999999999") 0o8=Str("0o8") +0x1=Str("+0x1")"#;
        for case in cases.split_whitespace() {
            let (src, want) = case.split_once('=').unwrap();
            let root = load(&format!("v: {src}")).unwrap();
            let node = root.get("v").unwrap();
            assert_eq!(format!("{:?}", node.value), want, "{src}");
            let text = src.trim_matches(['"', '\'']);
            assert_eq!(node.text.as_deref(), Some(text), "{src}");
        }
        assert!(matches!(val("v: .nan"), Value::Float(f) if f.is_nan()));
        assert_eq!(val("v: |\n  x\n  y\n"), Value::Str("x\ny\n".into()));
        assert_eq!(val("v: >\n  1\n"), Value::Str("1\n".into()));
    }

    #[test]
    fn node_at_finds_nested_nodes() {
        let root = load(GOOD).unwrap();
        let key = |k: &str| PathSeg::Key(k.into());
        let path = [key("steps"), PathSeg::Index(1), key("after")];
        let n = node_at(&root, &path).unwrap();
        assert_eq!((n.mark, n.type_name()), (Mark { line: 12, col: 12 }, "string"));
        assert!(node_at(&root, &[key("steps"), PathSeg::Index(9)]).is_none());
        assert!(node_at(&root, &[key("name"), PathSeg::Index(0)]).is_none());
        assert_eq!(node_at(&root, &[]), Some(&root));
    }

    #[test]
    fn other_serde_shapes() {
        #[derive(Debug, Deserialize)]
        struct Misc {
            pair: (u8, String),
            flag: bool,
            unit: (),
            #[serde(default)]
            absent: Option<u8>,
            map: std::collections::BTreeMap<String, i64>,
            other: Kind,
        }
        #[derive(Debug, Deserialize, PartialEq)]
        enum Kind {
            A,
            #[serde(other)]
            Unknown,
        }
        let src = "pair: [7, x]\nflag: true\nunit: ~\nmap: {1: 2, b: -3}\nother: zzz\n";
        let m: Misc = from_node(&load(src).unwrap()).unwrap();
        assert_eq!((m.pair, m.flag, m.unit), ((7, "x".into()), true, ()));
        assert_eq!((m.absent, m.map.get("1")), (None, Some(&2)));
        assert_eq!(m.other, Kind::Unknown);
        let cases = [
            "[7, x]|[7, x, 9]|1:7: invalid length 3, expected 2 elements",
            "[7, x]|[300, x]|1:8: invalid value: integer `300`, expected u8",
            "true|yes|2:7: invalid type: expected a boolean, found string \"yes\"",
            "unit: ~|unit: 0|3:7: invalid type: expected unit, found integer `0`",
        ];
        for case in cases {
            let fields: Vec<&str> = case.split('|').collect();
            let e = err_of::<Misc>(&src.replace(fields[0], fields[1]));
            assert_eq!(e.to_string(), fields[2]);
        }
        let _: de::IgnoredAny = from_node(&load(GOOD).unwrap()).unwrap();
    }
}
