//! Property tests of the scenario loader (`drillbit::scenario::load_str`) and of durations.
//!
//! Whatever the input, loading must not panic, and every diagnostic must point inside the text
//! (or carry no position at all, as 0:0).

use drillbit::scenario::duration::{compact, parse_duration, Dur};
use drillbit::scenario::{load_file, load_str, Diagnostic};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

const PILOT_LIGHT: &str = include_str!("../scenarios/pilot-light.yaml");
const NAME: &str = "input.yaml";

/// `cases` by default; `PROPTEST_CASES=N` runs N instead (for a deeper search by hand).
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        // Keep failures in the report only: no regression files next to the tests.
        failure_persistence: None,
        ..Config::default()
    }
}

/// The lines of `src` as YAML counts them: `\n`, `\r\n` and a lone `\r` all end a line. Like
/// `str::lines`, a final line break does not start another line.
fn yaml_lines(src: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = src;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

/// Every diagnostic names the file and has a position inside `src`: line 1..=lines+1 (the line
/// after the last is where an unexpected end of input is reported) with a column at most one past
/// the end of that line, or 0:0 when the problem has no position.
fn check_diagnostics(src: &str, diags: &[Diagnostic]) -> Result<(), TestCaseError> {
    prop_assert!(!diags.is_empty(), "an error without any diagnostic");
    let lines = yaml_lines(src);
    for d in diags {
        prop_assert_eq!(&d.file, NAME);
        prop_assert!(!d.message.is_empty(), "empty message: {:?}", d);
        if d.line == 0 {
            prop_assert_eq!(d.col, 0, "no line but a column: {:?}", d);
            continue;
        }
        let line = d.line as usize;
        prop_assert!(
            line <= lines.len() + 1,
            "line past the end ({} lines): {:?} in {:?}",
            lines.len(),
            d,
            src
        );
        let text = lines.get(line - 1).copied().unwrap_or_default();
        let width = text.chars().count();
        prop_assert!(d.col >= 1, "column 0 with a line: {:?}", d);
        prop_assert!(
            d.col as usize <= width + 1,
            "column past the end of line {} ({} chars): {:?} in {:?}",
            line,
            width,
            d,
            src
        );
    }
    Ok(())
}

/// Loads `src`; any panic fails the property, errors must be well-positioned.
fn load_checked(src: &str) -> Result<(), TestCaseError> {
    match load_str(NAME, src) {
        Ok(loaded) => {
            prop_assert_eq!(loaded.source.as_str(), src);
            Ok(())
        }
        Err(diags) => check_diagnostics(src, &diags),
    }
}

#[test]
fn pilot_light_loads() {
    let loaded = load_str("pilot-light.yaml", PILOT_LIGHT).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(loaded.scenario.name, "pilot-light");
    assert_eq!(loaded.scenario.runbook.steps.len(), 5);
    assert_eq!(loaded.scenario.topology.resources.len(), 4);
}

#[test]
fn directive_line_column_counts_characters() {
    // `%ééé` is four characters, so the NUL is at column 5 (the line has 5 characters).
    let diags = load_str(NAME, "%ééé\0").unwrap_err();
    assert_eq!((diags[0].line, diags[0].col), (1, 5), "{diags:?}");
    // The same after a byte-order mark, which no column counts (found by the property below).
    let diags = load_str(NAME, "\u{feff}%\u{e000}¡¡¡\0\0\0\n").unwrap_err();
    assert_eq!((diags[0].line, diags[0].col), (1, 6), "{diags:?}");
}

#[test]
fn yaml_lines_counts_like_yaml() {
    assert_eq!(yaml_lines(""), Vec::<&str>::new());
    assert_eq!(yaml_lines("a"), ["a"]);
    assert_eq!(yaml_lines("a\n"), ["a"]);
    assert_eq!(yaml_lines("a\r\nb\rc\n\nd"), ["a", "b", "c", "", "d"]);
}

/// Characters that make up YAML structure, so random text often gets past the first token.
fn yamlish_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        " ",
        "  ",
        "\n",
        "\n  ",
        "\n    - ",
        "\t",
        "\r\n",
        "\r",
        ": ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "#",
        "&a ",
        "*a",
        "!!str ",
        "!x ",
        "|",
        ">",
        "'",
        "\"",
        "? ",
        "---",
        "...",
        "%YAML 1.2",
        "name",
        "mini",
        "rto",
        "30m",
        "0s",
        "-1",
        "~",
        "é",
        "日本",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "\\",
        "1e999",
        "0x1F",
        "steps",
        "id",
        "after",
    ]);
    prop::collection::vec(pieces, 0..300).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let src = String::from_utf8_lossy(&bytes);
        load_checked(&src)?;
    }

    #[test]
    fn arbitrary_unicode_never_panics(chars in prop::collection::vec(any::<char>(), 0..2048)) {
        let src: String = chars.into_iter().collect();
        load_checked(&src)?;
    }

    #[test]
    fn yamlish_text_never_panics(src in yamlish_text()) {
        load_checked(&src)?;
    }

    #[test]
    fn yamlish_text_inside_a_scenario_never_panics(at in any::<Index>(), inserted in yamlish_text()) {
        let mut src = PILOT_LIGHT.to_string();
        let mut cut = at.index(src.len() + 1);
        while !src.is_char_boundary(cut) {
            cut -= 1;
        }
        src.insert_str(cut, &inserted);
        load_checked(&src)?;
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// The file path: bytes on disk, UTF-8 or not.
    #[test]
    fn arbitrary_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096), utf8 in any::<bool>()) {
        let bytes = if utf8 { String::from_utf8_lossy(&bytes).into_owned().into_bytes() } else { bytes };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        std::fs::write(&path, &bytes).unwrap();
        if let Err(diags) = load_file(&path) {
            let src = String::from_utf8_lossy(&bytes);
            let file = path.display().to_string();
            let renamed: Vec<Diagnostic> = diags
                .into_iter()
                .inspect(|d| assert_eq!(d.file, file))
                .map(|d| Diagnostic { file: NAME.into(), ..d })
                .collect();
            check_diagnostics(&src, &renamed)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations of the shipped pilot-light scenario.

const TOKENS: &[&str] = &[
    "-1",
    "0s",
    "[]",
    "{}",
    "yes",
    "~",
    "1e999",
    "\"x\"",
    "90",
    "15 minutes",
    "",
    "-5m",
    ".nan",
    "*nope",
    "&a",
    "[notify",
    "{ a: 1",
    "'",
    "#",
    "\t",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    ReplaceScalar(Index, &'static str),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::DeleteLine),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), prop::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::ReplaceScalar(i, t)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// Byte ranges of the scalar values in `src`: what follows `: ` (or an opening `[` or a `, ` in a
/// flow collection) up to the next `,`, `]`, `}`, ` #` or end of line.
fn scalar_ranges(src: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut line_start = 0;
    for line in src.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let bytes = content.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let start = if content[i..].starts_with(": ") || content[i..].starts_with(", ") {
                i + 2
            } else if bytes[i] == b'[' {
                i + 1
            } else {
                i += 1;
                continue;
            };
            let start = start + (content[start..].len() - content[start..].trim_start().len());
            let rest = &content[start..];
            let mut end = rest.find([',', ']', '}']).unwrap_or(rest.len());
            if let Some(c) = rest[..end].find(" #") {
                end = c;
            }
            let value = rest[..end].trim_end();
            // After `, ` in a flow mapping comes a key (`d: ...`); its value is found later.
            if !value.is_empty() && !value.starts_with(['{', '[']) && !value.contains(": ") {
                ranges.push(line_start + start..line_start + start + value.len());
            }
            i = start.max(i + 1);
        }
        line_start += line.len();
    }
    ranges
}

fn apply(src: &str, m: &Mutation) -> String {
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    match m {
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            let n = i.index(lines.len());
            lines
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != n)
                .map(|(_, l)| *l)
                .collect()
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let n = i.index(lines.len());
            let mut out = String::new();
            for (j, l) in lines.iter().enumerate() {
                out.push_str(l);
                if j == n {
                    if !l.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(l);
                }
            }
            out
        }
        Mutation::ReplaceScalar(i, token) => {
            let ranges = scalar_ranges(src);
            if ranges.is_empty() {
                return src.to_string();
            }
            let r = ranges[i.index(ranges.len())].clone();
            format!("{}{}{}", &src[..r.start], token, &src[r.end..])
        }
        Mutation::Truncate(i) => {
            let mut cut = i.index(src.len() + 1);
            while !src.is_char_boundary(cut) {
                cut -= 1;
            }
            src[..cut].to_string()
        }
        _ => src.to_string(),
    }
}

#[test]
fn scalar_ranges_find_values() {
    let src = "a: 1\nb: { c: x y, d: [p, q] }  # note\ne: \"s\" # c\n";
    let found: Vec<&str> = scalar_ranges(src).into_iter().map(|r| &src[r]).collect();
    assert_eq!(found, ["1", "x y", "p", "q", "\"s\""]);
    let ranges = scalar_ranges(PILOT_LIGHT);
    let values: Vec<&str> = ranges.into_iter().map(|r| &PILOT_LIGHT[r]).collect();
    for v in [
        "pilot-light",
        "30m",
        "us-east-1",
        "myapp-postgres",
        "35d",
        "notify",
        "scale-api",
        "60s",
        "3",
    ] {
        assert!(values.contains(&v), "{v} not among {values:?}");
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_pilot_light_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        let mut src = PILOT_LIGHT.to_string();
        for m in &mutations {
            src = apply(&src, m);
        }
        load_checked(&src)?;
    }

    #[test]
    fn one_replaced_scalar_never_panics(i in any::<Index>(), token in prop::sample::select(TOKENS)) {
        let src = apply(PILOT_LIGHT, &Mutation::ReplaceScalar(i, token));
        load_checked(&src)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Durations.

const UNITS: &[(&str, u64)] = &[
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
    ("w", 604_800_000_000),
    ("y", 31_536_000_000_000),
];

/// Keeps values within what an f64 of microseconds holds exactly (about nine years), far beyond
/// any RTO, RPO or retention a scenario states.
const MAX_MICROS: u64 = 1 << 48;

/// A number of thousandths (`1234` is `1.234`) and a unit, as (text, microseconds).
fn term() -> impl Strategy<Value = (String, u64)> {
    (prop::sample::select(UNITS), any::<bool>()).prop_flat_map(|((unit, per), decimal)| {
        let max_thousandths = (MAX_MICROS / 8 / per).saturating_mul(1000).max(1);
        (0..=max_thousandths).prop_map(move |t| {
            let (whole, frac) = (t / 1000, t % 1000);
            // Only whole numbers when `decimal` is off, so both forms are exercised.
            let (text, micros) = if decimal {
                (format!("{whole}.{frac:03}{unit}"), t * per / 1000)
            } else {
                (format!("{whole}{unit}"), whole * per)
            };
            (text, micros)
        })
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn value_and_unit_parse_to_value_times_unit((text, micros) in term()) {
        let d = parse_duration(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(d, Dur(micros), "{}", text);
        prop_assert_eq!(parse_duration(&compact(d)).map_err(TestCaseError::fail)?, d, "compact {}", compact(d));
    }

    #[test]
    fn compound_durations_add_up(terms in prop::collection::vec(term(), 1..4)) {
        let text: String = terms.iter().map(|(t, _)| t.as_str()).collect();
        let micros: u64 = terms.iter().map(|(_, m)| m).sum();
        let d = parse_duration(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(d, Dur(micros), "{}", text);
    }

    #[test]
    fn compact_round_trips(micros in 0..MAX_MICROS) {
        let d = Dur(micros);
        let text = compact(d);
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }

    #[test]
    fn compact_round_trips_whole_units(
        (n, per) in prop::sample::select(UNITS).prop_flat_map(|(_, per)| (0..=MAX_MICROS / per, Just(per)))
    ) {
        let d = Dur(n * per);
        let text = compact(d);
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }

    #[test]
    fn parse_duration_never_panics_and_explains(text in "[0-9.a-z \\-+e]{0,12}|\\PC{0,12}") {
        if let Err(msg) = parse_duration(&text) {
            prop_assert!(msg.contains("expected") || msg.contains("too long"), "{}", msg);
        }
    }
}

#[test]
fn negative_and_unitless_durations_are_refused() {
    for (text, fragment) in [
        ("-5m", "negative"),
        ("60", "no unit"),
        ("5q", "unknown unit `q`"),
        ("", "empty"),
        ("1e999s", "unknown unit `e`"),
    ] {
        let msg = parse_duration(text).unwrap_err();
        assert!(msg.contains(fragment), "{text:?}: {msg}");
    }
}
