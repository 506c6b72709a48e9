//! The programme report (`templates/programme.html`): every scenario's DR testing on one
//! printable page.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::{render, Card};
use crate::programme::{self, ItemRow, Programme, Row, CONTROLS};
use crate::report::text::opt;
use crate::scenario::duration::format_secs as f;
use crate::timestamp;

#[derive(Serialize)]
struct Page {
    as_of: String,
    inputs: String,
    summary: Vec<Card>,
    row_count: usize,
    rows: Vec<RowOut>,
    open: Vec<ItemOut>,
    closed: Vec<ItemOut>,
    excluded: Vec<(String, String)>,
    later: usize,
    controls: Vec<[&'static str; 4]>,
    version: &'static str,
}

#[derive(Serialize)]
struct RowOut {
    scenario: String,
    strategy: String,
    /// The latest real drill: when, where, its figures against the objectives.
    latest: Option<Latest>,
    drills: String,
    schedule: String,
    days_since: String,
    overdue: bool,
    health: Option<(String, bool)>,
    open_items: usize,
    overdue_items: usize,
}

#[derive(Serialize)]
struct Latest {
    started: String,
    target: String,
    rto: String,
    rto_objective: String,
    rto_met: bool,
    rpo: String,
    rpo_objective: String,
    rpo_verdict: String,
    verdict: &'static str,
    class: &'static str,
    /// The manifest, as a link from the report's directory, and its hash.
    href: String,
    manifest: String,
    sha256: String,
}

#[derive(Serialize)]
struct ItemOut {
    id: String,
    scenario: String,
    check: String,
    finding: String,
    owner: String,
    opened: String,
    due: String,
    status: &'static str,
    class: &'static str,
    closed: String,
    closed_in: String,
    file: String,
}

/// `to` as seen from directory `from`: relative when both resolve, else absolute.
pub fn link(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).ok();
    let (Some(a), Some(b)) = (abs(from), abs(to)) else {
        return to.display().to_string();
    };
    let (fa, fb): (Vec<Component>, Vec<Component>) = (a.components().collect(), b.components().collect());
    let common = fa.iter().zip(&fb).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..fa.len() {
        rel.push("..");
    }
    for c in &fb[common..] {
        rel.push(c.as_os_str());
    }
    rel.display().to_string()
}

fn row(r: &Row, out_dir: &Path) -> RowOut {
    RowOut {
        scenario: r.scenario.clone(),
        strategy: r.strategy.clone(),
        latest: r.latest_real.as_ref().map(|e| {
            let d = &e.drill;
            let (verdict, class) = if d.passed { ("PASS", "pass") } else { ("FAIL", "fail") };
            Latest {
                started: timestamp::format_human(d.at),
                target: d.target.clone(),
                rto: d.rto.map_or("not recovered".into(), f),
                rto_objective: f(d.rto_target),
                rto_met: d.rto_met,
                rpo: opt(d.rpo),
                rpo_objective: f(d.rpo_target),
                rpo_verdict: d.rpo_verdict.as_str().replace('_', " "),
                verdict,
                class,
                href: link(out_dir, &e.manifest),
                manifest: e.manifest.display().to_string(),
                sha256: e.manifest_sha256.clone(),
            }
        }),
        drills: format!(
            "{} drill{} ({} real)",
            r.drills,
            if r.drills == 1 { "" } else { "s" },
            r.drills - r.rehearsals
        ),
        schedule: format!("{} ({} days)", r.cadence.name, r.cadence.days),
        days_since: r.days_since_pass.map_or("never".into(), |d| d.to_string()),
        overdue: r.overdue,
        health: r.health.clone(),
        open_items: r.open_items,
        overdue_items: r.overdue_items,
    }
}

fn item(i: &ItemRow) -> ItemOut {
    let status = programme::status_word(i);
    ItemOut {
        id: i.item.id.clone(),
        scenario: i.scenario.clone(),
        check: i.item.check.clone(),
        finding: i.item.finding.clone(),
        owner: i.item.owner.clone(),
        opened: i.item.opened.clone(),
        due: i.item.due.clone(),
        status,
        class: match status {
            "OVERDUE" => "missed",
            "closed" => "met",
            _ => "na",
        },
        closed: i.item.closed.clone().unwrap_or_default(),
        closed_in: i.item.closed_in.clone().unwrap_or_default(),
        file: i.file.display().to_string(),
    }
}

/// The programme report; `out_dir` is where it is written (evidence links are relative to it).
pub fn programme(p: &Programme, out_dir: &Path) -> String {
    let page = Page {
        as_of: timestamp::format_date(p.as_of),
        inputs: p.inputs.join(", "),
        summary: vec![
            Card::either(
                "Scenarios overdue",
                format!("{} of {}", p.overdue(), p.rows.len()),
                "no passing real drill (or ready real health check) within the schedule".into(),
                p.overdue() == 0,
                "ALL FRESH",
                "OVERDUE",
            ),
            Card::either(
                "Open remediation",
                p.open_items().to_string(),
                format!("{} past its due date", p.overdue_items()),
                p.overdue_items() == 0,
                "NONE PAST DUE",
                "PAST DUE",
            ),
            Card::either(
                "Evidence",
                p.excluded.len().to_string(),
                "drills or checks left out: their evidence does not verify".into(),
                p.excluded.is_empty(),
                "ALL VERIFIED",
                "LEFT OUT",
            ),
        ],
        row_count: p.rows.len(),
        rows: p.rows.iter().map(|r| row(r, out_dir)).collect(),
        open: p.items.iter().filter(|i| i.item.status.is_active()).map(item).collect(),
        closed: p
            .items
            .iter()
            .filter(|i| !i.item.status.is_active())
            .map(item)
            .collect(),
        excluded: p
            .excluded
            .iter()
            .map(|(f, why)| (f.display().to_string(), why.clone()))
            .collect(),
        later: p.later,
        controls: CONTROLS
            .iter()
            .map(|c| [c.framework, c.control, c.asks, c.shown_by])
            .collect(),
        version: env!("CARGO_PKG_VERSION"),
    };
    render("programme.html", page)
}
