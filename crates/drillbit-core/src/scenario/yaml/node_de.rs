//! The serde `Deserializer` over a positioned tree: every error carries the position of the
//! offending node.

use serde::de::{self, DeserializeSeed, Deserializer, Expected, Unexpected, Visitor};

use super::*;

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
