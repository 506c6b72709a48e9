//! Remediation items: the findings of drills, each with an owner, a due date and a status,
//! kept in a YAML file beside the scenario (`<scenario>.remediation.yaml`), and closed by the
//! retest: a later drill that passes the same check.
//!
//! A drill's scorecard carries its checks by stable keys (`rto`, `rpo`, `rpo:<data set>`,
//! `step:<id>`, `fault:<id>`, `failback`, `split-brain`, `settled`, `completed`; see
//! [`crate::scorecard::CheckOut`]). [`apply`] folds one drill's checks into the file:
//!
//! - a check that **failed** opens an item, unless an item for it is already open or in
//!   progress (then that item is *still open*: its `last_seen` moves on, nothing is duplicated)
//!   or accepted (a risk someone accepted is left alone). A check failing again after its item
//!   was closed opens a new item that names the one it reopens.
//! - a check that **passed** closes every open or in-progress item for it (the retest), with
//!   the date and the drill that closed it. A rehearsal (the emulator, drillbit's own local
//!   topology) closes only what a rehearsal opened: it says nothing about production.
//! - a check the drill did **not test** changes nothing.
//!
//! People edit `owner`, `due`, `status` (open, in-progress, accepted, closed) and may add keys
//! of their own (a ticket link): drillbit keeps every key it does not know, in each item and at
//! the top, but not YAML comments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scenario::yaml::{self, PathSeg};
use crate::scorecard::{CheckOut, CheckResult, DrillKind, RemediationOut, RemediationRef};
use crate::timestamp;

/// The file format's version (`drillbit_remediation: 1`).
pub const VERSION: u32 = 1;
/// Days from a finding to its default due date.
pub const DUE_DAYS: i64 = 30;
/// The owner of a new item until someone takes it.
pub const UNASSIGNED: &str = "unassigned";

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    InProgress,
    /// The risk was accepted: drills neither reopen nor close it.
    Accepted,
    Closed,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Open, Status::InProgress, Status::Accepted, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in-progress",
            Status::Accepted => "accepted",
            Status::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Open or in progress: work remains.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::InProgress)
    }
}

/// One remediation item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `R-1`, `R-2`, ...: never reused within a file.
    pub id: String,
    /// The check's key (see the module documentation).
    pub check: String,
    pub finding: String,
    /// The date it was opened (YYYY-MM-DD).
    pub opened: String,
    /// The drill directory that opened it.
    pub opened_in: String,
    /// The kind of drill that opened it: `real` or `rehearsal`.
    pub opened_kind: String,
    pub owner: String,
    /// YYYY-MM-DD.
    pub due: String,
    pub status: Status,
    /// The last drill that failed the check again.
    pub last_seen: Option<String>,
    pub last_seen_in: Option<String>,
    pub closed: Option<String>,
    pub closed_in: Option<String>,
    /// The closed item this one reopens.
    pub reopens: Option<String>,
    /// Keys drillbit does not know, kept as found (JSON values, written back as YAML flow).
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A remediation file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub scenario: String,
    pub items: Vec<Item>,
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl File {
    /// A new, empty file for `scenario`.
    pub fn new(scenario: &str) -> File {
        File {
            scenario: scenario.to_string(),
            ..File::default()
        }
    }

    /// Items whose work remains (open or in progress).
    pub fn active(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.status.is_active())
    }
}

impl Item {
    /// Open or in progress with a due date before `as_of` (seconds since the epoch).
    pub fn overdue(&self, as_of: i64) -> bool {
        self.status.is_active() && timestamp::parse(&self.due).is_some_and(|d| d + 86_400 <= as_of)
    }

    fn as_ref(&self) -> RemediationRef {
        RemediationRef {
            id: self.id.clone(),
            check: self.check.clone(),
            finding: self.finding.clone(),
            owner: self.owner.clone(),
            due: self.due.clone(),
        }
    }
}

/// `<dir>/<stem>.remediation.yaml` beside a scenario file `<dir>/<stem>.yaml`.
pub fn default_path(scenario: &Path) -> PathBuf {
    let stem = scenario
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    scenario.with_file_name(format!("{stem}.remediation.yaml"))
}

#[derive(Deserialize)]
struct RawFile {
    drillbit_remediation: u32,
    scenario: String,
    #[serde(default)]
    items: Vec<RawItem>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawItem {
    id: String,
    check: String,
    #[serde(default)]
    finding: String,
    opened: String,
    #[serde(default)]
    opened_in: String,
    #[serde(default = "real")]
    opened_kind: String,
    #[serde(default = "unassigned")]
    owner: String,
    due: String,
    status: String,
    #[serde(default)]
    last_seen: Option<String>,
    #[serde(default)]
    last_seen_in: Option<String>,
    #[serde(default)]
    closed: Option<String>,
    #[serde(default)]
    closed_in: Option<String>,
    #[serde(default)]
    reopens: Option<String>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

fn real() -> String {
    DrillKind::Real.as_str().into()
}

fn unassigned() -> String {
    UNASSIGNED.into()
}

/// Parses a remediation file; every error is `FILE:LINE:COL: what was expected`.
pub fn parse(text: &str, file: &Path) -> Result<File, String> {
    let shown = file.display();
    let root = yaml::parse(text, &yaml::Limits::default()).map_err(|e| format!("{shown}:{e}"))?;
    let raw: RawFile = yaml::from_node(&root).map_err(|e| format!("{shown}:{e}"))?;
    let at = |path: &[PathSeg], msg: String| {
        let mark = yaml::node_at(&root, path).map_or(root.mark, |n| n.mark);
        format!("{shown}:{mark}: {msg}")
    };
    if raw.drillbit_remediation != VERSION {
        return Err(at(
            &[PathSeg::Key("drillbit_remediation".into())],
            format!(
                "unknown remediation file version {}: expected {VERSION}",
                raw.drillbit_remediation
            ),
        ));
    }
    let mut items = Vec::with_capacity(raw.items.len());
    for (n, r) in raw.items.into_iter().enumerate() {
        let key = |k: &str| [PathSeg::Key("items".into()), PathSeg::Index(n), PathSeg::Key(k.into())];
        let status = Status::parse(&r.status).ok_or_else(|| {
            at(
                &key("status"),
                format!("status `{}`: expected open, in-progress, accepted or closed", r.status),
            )
        })?;
        let date = |k: &str, v: &str| {
            if timestamp::parse(v).is_some() {
                Ok(())
            } else {
                Err(at(&key(k), format!("{k} `{v}`: expected a date like 2026-12-04")))
            }
        };
        date("opened", &r.opened)?;
        date("due", &r.due)?;
        if let Some(c) = &r.closed {
            date("closed", c)?;
        }
        if r.id.trim().is_empty() || r.check.trim().is_empty() {
            return Err(at(
                &[PathSeg::Key("items".into()), PathSeg::Index(n)],
                "an item needs an id and a check".into(),
            ));
        }
        if items.iter().any(|i: &Item| i.id == r.id) {
            return Err(at(&key("id"), format!("id `{}` is used twice", r.id)));
        }
        items.push(Item {
            id: r.id,
            check: r.check,
            finding: r.finding,
            opened: r.opened,
            opened_in: r.opened_in,
            opened_kind: r.opened_kind,
            owner: r.owner,
            due: r.due,
            status,
            last_seen: r.last_seen,
            last_seen_in: r.last_seen_in,
            closed: r.closed,
            closed_in: r.closed_in,
            reopens: r.reopens,
            extra: r.extra,
        });
    }
    Ok(File {
        scenario: raw.scenario,
        items,
        extra: raw.extra,
    })
}

/// Reads a remediation file; a file that does not exist is a new, empty one for `scenario`.
/// A file kept for another scenario is an error.
pub fn load(path: &Path, scenario: &str) -> Result<File, String> {
    let f = match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::new(scenario)),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    if f.scenario != scenario {
        return Err(format!(
            "{}: holds the remediation items of scenario `{}`, not `{scenario}`",
            path.display(),
            f.scenario
        ));
    }
    Ok(f)
}

/// Folds one drill's checks into the file (see the module documentation). `drill` names the
/// drill's directory; `today` is seconds since the epoch.
pub fn apply(f: &mut File, checks: &[CheckOut], kind: DrillKind, drill: &str, today: i64) -> RemediationOut {
    let date = timestamp::format_date(today);
    let mut out = RemediationOut {
        file: String::new(),
        opened: Vec::new(),
        closed: Vec::new(),
        still_open: Vec::new(),
    };
    if kind == DrillKind::Simulated {
        return out;
    }
    for c in checks {
        match c.result {
            CheckResult::NotTested => {}
            CheckResult::Pass => {
                for it in f.items.iter_mut().filter(|i| i.check == c.key && i.status.is_active()) {
                    // A rehearsal says nothing about production: it closes only its own kind.
                    if kind != DrillKind::Real && it.opened_kind == DrillKind::Real.as_str() {
                        continue;
                    }
                    it.status = Status::Closed;
                    it.closed = Some(date.clone());
                    it.closed_in = Some(drill.to_string());
                    out.closed.push(it.as_ref());
                }
            }
            CheckResult::Fail => {
                let finding = c.finding.clone().unwrap_or_else(|| format!("check `{}` failed", c.key));
                if let Some(it) = f.items.iter_mut().find(|i| i.check == c.key && i.status.is_active()) {
                    it.last_seen = Some(date.clone());
                    it.last_seen_in = Some(drill.to_string());
                    out.still_open.push(it.as_ref());
                    continue;
                }
                if f.items.iter().any(|i| i.check == c.key && i.status == Status::Accepted) {
                    continue;
                }
                let reopens = f
                    .items
                    .iter()
                    .rev()
                    .find(|i| i.check == c.key && i.status == Status::Closed)
                    .map(|i| i.id.clone());
                let it = Item {
                    id: next_id(f),
                    check: c.key.clone(),
                    finding,
                    opened: date.clone(),
                    opened_in: drill.to_string(),
                    opened_kind: kind.as_str().into(),
                    owner: UNASSIGNED.into(),
                    due: timestamp::format_date(today + DUE_DAYS * 86_400),
                    status: Status::Open,
                    last_seen: None,
                    last_seen_in: None,
                    closed: None,
                    closed_in: None,
                    reopens,
                    extra: BTreeMap::new(),
                };
                out.opened.push(it.as_ref());
                f.items.push(it);
            }
        }
    }
    out
}

/// `R-<n>` one past the highest number in use.
fn next_id(f: &File) -> String {
    let max = f
        .items
        .iter()
        .filter_map(|i| i.id.strip_prefix("R-").and_then(|n| n.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    format!("R-{}", max + 1)
}

/// The file as YAML, in a stable order, that [`parse`] reads back to the same [`File`].
pub fn render(f: &File) -> String {
    let mut o = String::new();
    o.push_str(
        "# drillbit remediation items: drills open an item when a check fails and close it when a\n\
         # later drill passes the same check. Edit owner, due and status (open, in-progress,\n\
         # accepted, closed) and add keys of your own; drillbit keeps them, but not comments.\n",
    );
    o.push_str(&format!("drillbit_remediation: {VERSION}\n"));
    o.push_str(&format!("scenario: {}\n", scalar(&f.scenario)));
    for (k, v) in &f.extra {
        o.push_str(&format!("{}: {}\n", key(k), json(v)));
    }
    if f.items.is_empty() {
        o.push_str("items: []\n");
        return o;
    }
    o.push_str("items:\n");
    for it in &f.items {
        let mut first = true;
        let mut line = |k: &str, v: String| {
            o.push_str(if first { "  - " } else { "    " });
            first = false;
            o.push_str(&format!("{k}: {v}\n"));
        };
        line("id", scalar(&it.id));
        line("check", scalar(&it.check));
        line("finding", scalar(&it.finding));
        line("opened", scalar(&it.opened));
        if !it.opened_in.is_empty() {
            line("opened_in", scalar(&it.opened_in));
        }
        line("opened_kind", scalar(&it.opened_kind));
        line("owner", scalar(&it.owner));
        line("due", scalar(&it.due));
        line("status", it.status.as_str().into());
        let opt = [
            ("last_seen", &it.last_seen),
            ("last_seen_in", &it.last_seen_in),
            ("closed", &it.closed),
            ("closed_in", &it.closed_in),
            ("reopens", &it.reopens),
        ];
        for (k, v) in opt {
            if let Some(v) = v {
                line(k, scalar(v));
            }
        }
        for (k, v) in &it.extra {
            line(&key(k), json(v));
        }
    }
    o
}

/// A string as a YAML scalar: plain when it cannot be read as anything else, else
/// double-quoted (JSON's escapes are YAML's).
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '@' | '+' | '-'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        && s.parse::<f64>().is_err()
        && !s.starts_with("0x")
        && !s.starts_with("0o");
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_default()
    }
}

fn json(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, result: CheckResult) -> CheckOut {
        CheckOut {
            key: key.into(),
            result,
            finding: (result == CheckResult::Fail).then(|| format!("{key} failed")),
        }
    }

    const DAY: i64 = 86_400;

    #[test]
    fn a_failed_check_opens_once_and_a_passing_retest_closes_it() {
        let mut f = File::new("s");
        let d1 = [check("rto", CheckResult::Fail), check("rpo", CheckResult::Pass)];
        let r1 = apply(&mut f, &d1, DrillKind::Real, "reports/s/d1", 100 * DAY);
        assert_eq!(r1.opened.len(), 1);
        assert_eq!(f.items[0].id, "R-1");
        assert_eq!(f.items[0].due, timestamp::format_date(130 * DAY));
        let r2 = apply(&mut f, &d1, DrillKind::Real, "reports/s/d2", 101 * DAY);
        assert_eq!((r2.opened.len(), r2.still_open.len()), (0, 1), "no duplicate");
        assert_eq!(f.items.len(), 1);
        assert_eq!(f.items[0].last_seen_in.as_deref(), Some("reports/s/d2"));
        let not_tested = [check("rto", CheckResult::NotTested)];
        apply(&mut f, &not_tested, DrillKind::Real, "reports/s/d3", 102 * DAY);
        assert_eq!(f.items[0].status, Status::Open, "an untested check changes nothing");
        let pass = [check("rto", CheckResult::Pass)];
        let r4 = apply(&mut f, &pass, DrillKind::Real, "reports/s/d4", 103 * DAY);
        assert_eq!(r4.closed.len(), 1);
        assert_eq!(f.items[0].status, Status::Closed);
        assert_eq!(f.items[0].closed_in.as_deref(), Some("reports/s/d4"));
        let r5 = apply(&mut f, &d1, DrillKind::Real, "reports/s/d5", 104 * DAY);
        assert_eq!(r5.opened[0].id, "R-2");
        assert_eq!(f.items[1].reopens.as_deref(), Some("R-1"));
    }

    #[test]
    fn rehearsals_do_not_close_real_findings_and_accepted_risks_stay() {
        let mut f = File::new("s");
        apply(&mut f, &[check("rto", CheckResult::Fail)], DrillKind::Real, "d1", DAY);
        let pass = [check("rto", CheckResult::Pass)];
        let r = apply(&mut f, &pass, DrillKind::Rehearsal, "r1", 2 * DAY);
        assert!(r.closed.is_empty() && f.items[0].status == Status::Open);
        assert!(apply(&mut f, &pass, DrillKind::Simulated, "s1", 2 * DAY)
            .closed
            .is_empty());
        f.items[0].status = Status::Accepted;
        let r = apply(
            &mut f,
            &[check("rto", CheckResult::Fail)],
            DrillKind::Real,
            "d2",
            3 * DAY,
        );
        assert!(r.opened.is_empty() && r.still_open.is_empty());
        assert_eq!(f.items.len(), 1);
    }

    #[test]
    fn renders_and_reads_back_with_unknown_keys_kept() {
        let text = "drillbit_remediation: 1\nscenario: s\nteam: payments\nitems:\n  - id: R-7\n    check: \"step:promote-db\"\n    finding: 'RTO missed: 6m against 5m # not a comment'\n    opened: 2026-12-01\n    owner: Jo Bloggs\n    due: 2026-12-31\n    status: in-progress\n    ticket: {system: jira, id: OPS-12}\n";
        let p = Path::new("s.remediation.yaml");
        let f = parse(text, p).expect("parses");
        assert_eq!(f.items[0].status, Status::InProgress);
        assert_eq!(f.items[0].extra["ticket"]["id"], "OPS-12");
        assert_eq!(f.extra["team"], "payments");
        let again = parse(&render(&f), p).expect("reads back");
        assert_eq!(again, f);
        let mut g = f.clone();
        apply(&mut g, &[check("rto", CheckResult::Fail)], DrillKind::Real, "d", DAY);
        assert_eq!(g.items[1].id, "R-8");
        assert_eq!(parse(&render(&g), p).expect("reads back"), g);
    }

    #[test]
    fn bad_files_say_where() {
        let p = Path::new("x.yaml");
        let e = parse(
            "drillbit_remediation: 1\nscenario: s\nitems:\n  - id: R-1\n    check: rto\n    opened: 2026-12-01\n    due: 2026-12-31\n    status: done\n",
            p,
        )
        .unwrap_err();
        assert!(e.starts_with("x.yaml:8:13:") && e.contains("expected open"), "{e}");
        let e = parse(
            "drillbit_remediation: 1\nscenario: s\nitems:\n  - id: R-1\n    check: rto\n    opened: soon\n    due: 2026-12-31\n    status: open\n",
            p,
        )
        .unwrap_err();
        assert!(e.starts_with("x.yaml:6:13:"), "{e}");
        assert!(parse("drillbit_remediation: 2\nscenario: s\n", p)
            .unwrap_err()
            .contains("version 2"));
        assert!(parse("scenario: [\n", p).unwrap_err().starts_with("x.yaml:"));
    }

    #[test]
    fn overdue_is_past_the_due_day() {
        let mut f = File::new("s");
        apply(&mut f, &[check("rto", CheckResult::Fail)], DrillKind::Real, "d", 0);
        assert!(!f.items[0].overdue(DUE_DAYS * DAY + 100));
        assert!(f.items[0].overdue((DUE_DAYS + 1) * DAY));
    }
}
