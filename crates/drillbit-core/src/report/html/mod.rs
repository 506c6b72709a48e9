//! Self-contained HTML reports: a drill, a Monte Carlo batch, a trend over drills. One file
//! each, inline CSS and inline SVG (charts from [`super::svg`]), no scripts, no fonts, no
//! fetches of any kind; printable (white background, sections kept on one page where they
//! fit).
//!
//! Every page is rendered from the templates in `src/report/templates/` (embedded in the
//! binary), with auto-escaping on for all of them: whatever a template prints is escaped by
//! [`svg::esc`], except the style sheet and the charts, which are passed as [`trusted`]
//! markup because the code that builds them escapes its own text. The Rust side of each
//! report (`drill`, `montecarlo`, `trend`) only decides what the page says, as plain values.

mod drill;
mod montecarlo;
mod programme;
mod trend;

use std::borrow::Cow;
use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};
use serde::Serialize;

use super::svg;
use crate::scenario::duration::format_secs as f;
use crate::scorecard::{StepOut, StepOutcome};

pub use drill::drill;
pub use montecarlo::montecarlo;
pub use programme::{link, programme};
pub use trend::trend;

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("page.html", include_str!("../templates/page.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("drill.html", include_str!("../templates/drill.html")),
    ("montecarlo.html", include_str!("../templates/montecarlo.html")),
    ("trend.html", include_str!("../templates/trend.html")),
    ("programme.html", include_str!("../templates/programme.html")),
];

const CSS: &str = include_str!("../templates/report.css");

/// The auto-escaping of every template: [`svg::esc`], through [`format`]. A mode of its own
/// rather than the engine's `Html`, so that every escape the engine makes (printing, `|e`,
/// joining markup to text) goes through [`format`], never through the engine's own HTML
/// escaping (which writes `'` and `/` differently).
const ESCAPE: &str = "drillbit-html";

static TEMPLATE_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Block tags on lines of their own leave no blank lines; the files end as the pages do.
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build();
    env.set_syntax(syntax.expect("the default delimiters"));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::Custom(Cow::Borrowed(ESCAPE)));
    env.set_formatter(format);
    env.add_global("css", trusted(CSS.to_string()));
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            panic!("template {name}: {e:#}");
        }
    }
    env
});

/// Prints a value into a page: trusted markup as it is, anything else escaped. A missing
/// value (`none`) is an error, not the word "none".
fn format(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let text = if value.is_safe() {
        value.to_string()
    } else if value.is_none() || value.is_undefined() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "a template printed a missing value",
        ));
    } else if *state.auto_escape() == AutoEscape::Custom(Cow::Borrowed(ESCAPE)) {
        svg::esc(&value.to_string())
    } else {
        return Err(Error::new(ErrorKind::InvalidOperation, "a template without escaping"));
    };
    out.write_str(&text).map_err(Error::from)
}

/// Markup built by code that escapes its own text (a chart from [`svg`]), printed as it is.
fn trusted(markup: String) -> Value {
    Value::from_safe_string(markup)
}

/// Renders one of the templates. The templates are part of the binary and every value they
/// print is a plain string or number, so an error here is a bug in a template.
fn render(name: &str, context: impl Serialize) -> String {
    TEMPLATE_ENV
        .get_template(name)
        .and_then(|t| t.render(Serde(context)))
        .unwrap_or_else(|e| panic!("template {name}: {e:#}"))
}

/// The tool that wrote a report.
#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    version: &'a str,
}

/// Text and CSS class of a verdict word from the scorecard.
fn verdict(v: &str) -> (&'static str, &'static str) {
    match v {
        "met" => ("MET", "met"),
        "missed" => ("MISSED", "missed"),
        "ok" => ("OK", "met"),
        "failed" => ("FAILED", "missed"),
        "pass" => ("PASS", "pass"),
        "fail" => ("FAIL", "fail"),
        "inconclusive" => ("INCONCLUSIVE", "na"),
        "error" => ("ERROR", "fail"),
        "not_measured" => ("NOT MEASURED", "na"),
        "not_run" => ("NOT RUN", "na"),
        _ => ("UNKNOWN", "na"),
    }
}

/// A verdict card: a label, a big value, a line under it, and the verdict in its colour.
#[derive(Serialize)]
struct Card {
    label: &'static str,
    big: String,
    sub: String,
    /// The card's colour: `met`, `missed` or `na`.
    card_class: &'static str,
    /// The verdict's colour (see [`verdict`]).
    class: &'static str,
    text: &'static str,
}

impl Card {
    /// A card that says the verdict word `v` (a scorecard verdict) in its own words.
    fn new(label: &'static str, big: String, sub: String, v: &str) -> Card {
        Card::with_text(label, big, sub, v, verdict(v).0)
    }

    /// A card coloured by the verdict word `v` that says `text`.
    fn with_text(label: &'static str, big: String, sub: String, v: &str, text: &'static str) -> Card {
        let (_, class) = verdict(v);
        let card_class = match class {
            "met" | "pass" => "met",
            "missed" | "fail" => "missed",
            _ => "na",
        };
        Card {
            label,
            big,
            sub,
            card_class,
            class,
            text,
        }
    }

    /// A card green when `ok`, red otherwise, that says `good` or `bad`.
    fn either(label: &'static str, big: String, sub: String, ok: bool, good: &'static str, bad: &'static str) -> Card {
        if ok {
            Card::with_text(label, big, sub, "met", good)
        } else {
            Card::with_text(label, big, sub, "missed", bad)
        }
    }
}

/// A row of a definition list (scenario and environment, models).
#[derive(Serialize)]
struct Definition {
    key: &'static str,
    value: String,
    /// In monospace: paths, hashes, crate versions.
    mono: bool,
}

impl Definition {
    fn new(key: &'static str, value: String) -> Definition {
        let mono = matches!(key, "file" | "sha256" | "locked crates");
        Definition { key, value, mono }
    }
}

/// A row of a table of runbook or rollback steps.
#[derive(Serialize)]
struct StepRow<'a> {
    id: &'a str,
    action: &'a str,
    resource: &'a str,
    start: String,
    end: String,
    duration: String,
    outcome: String,
    outcome_class: &'static str,
    detail: Option<&'a str>,
    attempts: u32,
    critical: bool,
}

/// The rows of a table of steps; `critical` are the ids on the critical path.
fn steps_table<'a>(steps: &'a [StepOut], critical: &[String]) -> Vec<StepRow<'a>> {
    steps
        .iter()
        .map(|s| StepRow {
            id: &s.id,
            action: &s.action,
            resource: s.resource.as_deref().unwrap_or(""),
            start: s.start_s.map_or(String::new(), f),
            end: if s.start_s.is_some() {
                s.end_s.map_or(String::new(), f)
            } else {
                String::new()
            },
            duration: match (s.start_s, s.end_s) {
                (Some(a), Some(b)) => f((b - a).max(0.0)),
                _ => "".into(),
            },
            outcome: s.outcome.as_str().replace('_', " "),
            outcome_class: match s.outcome {
                StepOutcome::Ok => "met",
                StepOutcome::Skipped => "na",
                _ => "missed",
            },
            detail: s.detail.as_deref(),
            attempts: s.attempts,
            critical: critical.contains(&s.id),
        })
        .collect()
}

fn margin(x: Option<f64>) -> String {
    match x {
        Some(m) if m >= 0.0 => format!("{} to spare", f(m)),
        Some(m) => format!("{} over", f(-m)),
        None => "no margin".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_str(source: &str, context: Value) -> Result<String, Error> {
        TEMPLATE_ENV.render_str(source, context)
    }

    #[test]
    fn templates_escape_every_value_as_esc_does_and_print_trusted_markup_as_it_is() {
        let evil = "<script>alert(\"x\" & 'y')</script>/\u{1}";
        let out = render_str(
            "<p title=\"{{ t }}\">{{ t }}</p>{{ chart }}",
            minijinja::context! { t => evil, chart => trusted("<svg><text>a &amp; b</text></svg>".into()) },
        )
        .expect("renders");
        assert_eq!(
            out,
            format!(
                "<p title=\"{0}\">{0}</p><svg><text>a &amp; b</text></svg>",
                svg::esc(evil)
            )
        );
    }

    #[test]
    fn the_engines_own_escaping_is_esc_too() {
        let ctx = || minijinja::context! { t => "<b>'/", chart => trusted("<svg/>".into()) };
        let esc = svg::esc("<b>'/");
        for (source, want) in [
            ("{{ t|e }}", esc.clone()),
            ("{{ t|e|e }}", esc.clone()),
            ("{{ t ~ chart }}", format!("{esc}<svg/>")),
        ] {
            assert_eq!(render_str(source, ctx()).expect(source), want, "{source}");
        }
    }

    #[test]
    fn a_missing_value_is_an_error_not_a_word() {
        for source in ["{{ nothing }}", "{{ none }}", "{{ t.nothing }}"] {
            let r = render_str(source, minijinja::context! { t => "x" });
            assert!(r.is_err(), "{source}: {r:?}");
        }
    }

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(TEMPLATE_ENV.get_template(name).is_ok(), "{name}");
        }
    }
}
