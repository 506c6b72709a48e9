//! Durations as scenario authors write them: `90s`, `15m`, `4h`, `1h30m`, `500ms`, `35d`, `7y`.
//!
//! Owns parsing, display and the JSON Schema of the two duration types: [`Dur`] (zero allowed)
//! and [`PosDur`] (strictly positive). Keeping positivity in the type means the error carries
//! the position of the offending scalar without a second validation pass.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The regular expression the JSON Schema uses for durations; the parser accepts exactly this.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w|y))+$";

const UNITS: &[(&str, f64)] = &[
    ("ms", 0.001),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
    ("d", 86_400.0),
    ("w", 604_800.0),
    ("y", 31_536_000.0),
];

/// A non-negative duration, stored in whole microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub u64);

/// A strictly positive duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PosDur(pub Dur);

impl Dur {
    pub const ZERO: Dur = Dur(0);
    pub fn from_secs_f64(s: f64) -> Dur {
        Dur((s * 1e6).round().max(0.0) as u64)
    }
    pub fn secs(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn micros(self) -> u64 {
        self.0
    }
}

impl PosDur {
    pub fn dur(self) -> Dur {
        self.0
    }
    pub fn secs(self) -> f64 {
        self.0.secs()
    }
}

/// Parses `1h30m`, `90s`, `0.5s`. Errors say what was expected.
/// The longest duration any scenario field accepts (100 years, in seconds).
pub const MAX_DURATION_S: f64 = 100.0 * 365.25 * 86_400.0;

pub fn parse_duration(text: &str) -> Result<Dur, String> {
    let t = text.trim();
    let expected = "expected a duration like 90s, 15m, 4h or 1h30m (units ms, s, m, h, d, w, y)";
    if t.is_empty() {
        return Err(format!("empty duration: {expected}"));
    }
    if t.contains(char::is_whitespace) {
        let joined: String = t.split_whitespace().collect();
        let hint = match (
            joined.trim_end_matches(char::is_alphabetic),
            joined.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.'),
        ) {
            (num, unit) if !num.is_empty() && unit.starts_with("min") => format!(" (e.g. {num}m)"),
            (num, unit) if !num.is_empty() && unit.starts_with("sec") => format!(" (e.g. {num}s)"),
            (num, unit) if !num.is_empty() && unit.starts_with("hour") => format!(" (e.g. {num}h)"),
            (num, unit) if !num.is_empty() && unit.starts_with("day") => format!(" (e.g. {num}d)"),
            _ => String::new(),
        };
        return Err(format!(
            "`{t}` is not a duration: write a number and a one-letter unit with no space{hint}; {expected}"
        ));
    }
    if t.starts_with('-') {
        return Err(format!("negative duration `{t}`: {expected}"));
    }
    let bytes = t.as_bytes();
    let mut i = 0;
    let mut total = 0f64;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(format!("`{t}` is not a duration: {expected}"));
        }
        let num: f64 = t[start..i]
            .parse()
            .map_err(|_| format!("`{t}` is not a duration: {expected}"))?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &t[ustart..i];
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("`{t}` has no unit: {expected}")
            } else {
                format!("`{t}` has an unknown unit `{unit}`: {expected}")
            });
        };
        total += num * scale;
    }
    // A century: retention periods are years; every other duration is bounded far below.
    if !total.is_finite() || total > MAX_DURATION_S {
        return Err(format!("`{t}` is too long a duration: at most 100 years"));
    }
    Ok(Dur::from_secs_f64(total))
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_secs(self.secs()))
    }
}

impl fmt::Display for PosDur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Human form of a number of seconds: `1h 02m 03s`, `4m 05s`, `12.3s`, `250ms`.
pub fn format_secs(s: f64) -> String {
    if !s.is_finite() {
        return "n/a".into();
    }
    if s < 1.0 && s > 0.0 {
        return format!("{:.0}ms", s * 1000.0);
    }
    if s < 60.0 {
        let r = (s * 10.0).round() / 10.0;
        return if r.fract() == 0.0 {
            format!("{}s", r as u64)
        } else {
            format!("{r:.1}s")
        };
    }
    let total = s.round() as u64;
    let (d, h, m, sec) = (total / 86_400, (total / 3600) % 24, (total / 60) % 60, total % 60);
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else {
        format!("{m}m {sec:02}s")
    }
}

struct DurVisitor {
    positive: bool,
}

impl Visitor<'_> for DurVisitor {
    type Value = Dur;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration like 90s, 15m, 4h")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
        let d = parse_duration(v).map_err(E::custom)?;
        if self.positive && d.0 == 0 {
            return Err(E::custom(format!(
                "`{v}` is zero: expected a positive duration like 90s"
            )));
        }
        Ok(d)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
        Err(E::custom(format!(
            "`{v}` has no unit: expected a duration like 90s, 15m, 4h"
        )))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
        self.visit_i64(v as i64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
        Err(E::custom(format!(
            "`{v}` has no unit: expected a duration like 90s, 15m, 4h"
        )))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurVisitor { positive: false })
    }
}

impl<'de> Deserialize<'de> for PosDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurVisitor { positive: true }).map(PosDur)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&compact(*self))
    }
}

impl Serialize for PosDur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Machine form that round-trips through [`parse_duration`].
pub fn compact(d: Dur) -> String {
    let us = d.0;
    if us % 1000 != 0 || us == 0 {
        return format!("{}ms", us as f64 / 1000.0);
    }
    let ms = us / 1000;
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    for (unit, secs) in [("d", 86_400u64), ("h", 3600), ("m", 60)] {
        if s % secs == 0 {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

fn duration_schema(positive: bool) -> Schema {
    let desc = if positive {
        "A positive duration: a number and a unit (ms, s, m, h, d, w, y), e.g. 90s, 15m, 4h, 1h30m."
    } else {
        "A duration: a number and a unit (ms, s, m, h, d, w, y), e.g. 0s, 90s, 15m, 4h, 1h30m."
    };
    json_schema!({
        "type": "string",
        "pattern": DURATION_PATTERN,
        "description": desc,
    })
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        duration_schema(false)
    }
}

impl JsonSchema for PosDur {
    fn schema_name() -> Cow<'static, str> {
        "PositiveDuration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        duration_schema(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("90s").unwrap(), Dur(90_000_000));
        assert_eq!(parse_duration("15m").unwrap().secs(), 900.0);
        assert_eq!(parse_duration("4h").unwrap().secs(), 14_400.0);
        assert_eq!(parse_duration("1h30m").unwrap().secs(), 5_400.0);
        assert_eq!(parse_duration("500ms").unwrap().secs(), 0.5);
        assert_eq!(parse_duration("0.5s").unwrap().secs(), 0.5);
        assert_eq!(parse_duration("7y").unwrap().secs(), 7.0 * 365.0 * 86_400.0);
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        assert!(parse_duration("90").unwrap_err().contains("no unit"));
        assert!(parse_duration("-5m").unwrap_err().contains("negative"));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("5q").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("1e999s").is_err());
    }

    #[test]
    fn compact_round_trips() {
        for text in ["90s", "15m", "4h", "2d", "250ms", "1500ms", "0.5ms"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&compact(d)).unwrap(), d, "{text}");
        }
    }

    #[test]
    fn human_format() {
        assert_eq!(format_secs(0.25), "250ms");
        assert_eq!(format_secs(12.34), "12.3s");
        assert_eq!(format_secs(245.0), "4m 05s");
        assert_eq!(format_secs(3723.0), "1h 02m 03s");
    }
}
