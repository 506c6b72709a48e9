//! The HTML reports and `drillbit report trend`: escaping, self-containment, the files `run`
//! and `simulate` write, the trend's regressions, freshness and errors; and a real browser
//! check: every shipped scenario's drill and Monte Carlo reports, and a trend, rendered in
//! headless Chromium (a screenshot decoded and checked not blank, the rendered DOM checked
//! for the verdict and the charts).
//!
//! Chromium comes from `harness/install-chromium.sh` (Debian's package). Without it the
//! browser test fails, unless `DRILLBIT_SKIP_BROWSER=1`. `DRILLBIT_SCREENSHOTS=DIR` keeps the
//! screenshots in DIR, to look at them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use drillbit::report;
use drillbit::scorecard::{FailbackVerdict, Overall, RpoVerdict, RtoVerdict, StepOutcome};
use serde_json::Value;

fn drillbit() -> Command {
    let mut c = Command::cargo_bin("drillbit").expect("binary");
    c.current_dir(common::root());
    c
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

fn write_json(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_string_pretty(v).expect("json")).expect("write");
}

/// Writes an edited scorecard and seals its directory again, as if the drill had recorded it
/// so: the trend verifies every drill's evidence and leaves out any that fails.
fn write_sealed(p: &Path, v: &Value) {
    write_json(p, v);
    let dir = p.parent().expect("drill directory");
    for f in ["manifest.json", "manifest.json.sig"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let opts = drillbit::evidence::SealOptions {
        kind: "drill",
        scenario: v["scenario"]["name"].as_str().unwrap_or("x"),
        inputs: Vec::new(),
        start_tree_at: None,
        key: None,
    };
    drillbit::evidence::seal(dir, &opts).expect("reseal");
}

/// What a self-contained report must never hold: scripts, external resources of any kind.
fn assert_self_contained(html: &str, what: &str) {
    // The one link a report may hold: to a drill's sealed manifest, by a relative path (a
    // navigation the reader chooses, never a fetch).
    let mut lower = String::new();
    let mut rest = html.to_ascii_lowercase();
    while let Some(i) = rest.find("<a href=\"") {
        let after = &rest[i + 9..];
        let end = after.find('"').unwrap_or_else(|| panic!("{what}: unterminated href"));
        let target = &after[..end];
        assert!(
            target.ends_with("manifest.json") && !target.contains(':') && !target.starts_with('/'),
            "{what}: a link to {target}"
        );
        lower.push_str(&rest[..i]);
        lower.push_str("<a>");
        rest = after[end + 1..].to_string();
    }
    lower.push_str(&rest);
    for bad in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "@import",
        "url(",
        "src=",
        "href=",
        "javascript:",
        "onload=",
        "onerror=",
    ] {
        assert!(!lower.contains(bad), "{what}: contains `{bad}`");
    }
    // The only URL is the SVG namespace, which is a name, not a fetch.
    let urls = lower.matches("://").count();
    let ns = lower.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(urls, ns, "{what}: a URL other than the SVG namespace");
    assert_eq!(
        html.matches("<svg").count(),
        html.matches("</svg>").count(),
        "{what}: unbalanced svg"
    );
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"),
        "{what}"
    );
    assert!(
        !html.contains("NaN") && !html.contains("inf\""),
        "{what}: a non-finite number"
    );
}

const EVIL: &str = "<script>alert(\"x\")</script>";

#[test]
fn script_in_scenario_text_is_escaped_in_every_report() {
    let mut sc = drillbit::targets::sim::simulate_once_with(&common::load("scenarios/pilot-light.yaml"), 1, true)
        .expect("drill");
    sc.scenario.name = EVIL.into();
    sc.scenario.description = format!("{EVIL} & more");
    sc.scenario.path = format!("/tmp/{EVIL}.yaml");
    sc.started_at = Some(EVIL.into());
    sc.steps[0].id = EVIL.into();
    sc.steps[0].detail = Some(EVIL.into());
    sc.steps[0].outcome = StepOutcome::Failed;
    sc.phases[2].name = format!("step:{EVIL}");
    sc.critical_path = vec![EVIL.into()];
    sc.models_overridden = vec![EVIL.into()];
    sc.events[0].event = EVIL.into();
    if let Some(fb) = sc.failback.as_mut() {
        fb.steps[0].id = EVIL.into();
    }
    let html = report::html::drill(&sc);
    assert_self_contained(&html, "drill");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(html.contains("<title>Drill report: &lt;script&gt;"));

    let mut mc = common::mc(&common::load("scenarios/pilot-light.yaml"), 500);
    mc.scenario.name = EVIL.into();
    mc.scenario.path = EVIL.into();
    mc.models_fitted = vec![EVIL.into()];
    mc.steps_on_default_models = vec![EVIL.into()];
    mc.sensitivity = vec![drillbit::montecarlo::Sensitivity {
        knob: EVIL.into(),
        p95_rto_s_halved: 1.0,
        p95_rto_s_doubled: 2.0,
        delta_halved_s: -1.0,
        delta_doubled_s: 1.0,
    }];
    let html = report::html::montecarlo(&mc);
    assert_self_contained(&html, "montecarlo");
    assert!(html.contains("<h1>&lt;script&gt;"));
}

#[test]
fn every_shipped_scenario_renders_self_contained_reports() {
    for f in common::shipped() {
        let l = drillbit::scenario::load_file(&f).expect("valid");
        let failback = !l.scenario.runbook.rollback.is_empty();
        let sc = drillbit::targets::sim::simulate_once_with(&l, 1, failback).expect("drill");
        let html = report::html::drill(&sc);
        let what = f.display().to_string();
        assert_self_contained(&html, &what);
        let (verdict, class) = if sc.verdict.overall == "pass" {
            ("PASS", "pass")
        } else {
            ("FAIL", "fail")
        };
        assert!(
            html.contains(&format!("<span class=\"badge {class}\">{verdict}</span>")),
            "{what}"
        );
        // Two target bars and the phase timeline, plus the failback timeline.
        assert_eq!(
            html.matches("<svg").count(),
            3 + usize::from(sc.failback.is_some()),
            "{what}"
        );
        for s in &sc.steps {
            assert!(html.contains(&format!("<b>{}</b>", s.id)), "{what}: step {}", s.id);
        }
        let mc = common::mc(&l, 300);
        let html = report::html::montecarlo(&mc);
        assert_self_contained(&html, &what);
        assert_eq!(html.matches("<svg").count(), 2, "{what}");
        assert!(
            html.contains(&format!("{:.1}%", mc.p_meet_rto.estimate * 100.0)),
            "{what}"
        );
    }
}

#[test]
fn run_and_simulate_write_report_html_beside_the_json() {
    let dir = tempfile::tempdir().expect("tmp");
    drillbit()
        .args(["run", "scenarios/pilot-light.yaml", "--out"])
        .arg(dir.path().join("drill"))
        .assert()
        .code(0);
    let sc = read_json(&dir.path().join("drill/scorecard.json"));
    let started = sc["started_at"].as_str().expect("started_at");
    assert!(drillbit::timestamp::parse(started).is_some(), "{started}");
    let html = std::fs::read_to_string(dir.path().join("drill/report.html")).expect("report.html");
    assert!(html.contains("pilot-light") && html.contains(">PASS</span>"));
    drillbit()
        .args(["simulate", "scenarios/pilot-light.yaml", "--runs", "300", "--out"])
        .arg(dir.path().join("mc"))
        .assert()
        .code(0);
    assert!(dir.path().join("mc/montecarlo.json").exists());
    let html = std::fs::read_to_string(dir.path().join("mc/report.html")).expect("report.html");
    assert!(html.contains("P(meet RTO)"));
}

/// A real drill's scorecard of `scenario` in `dir`, started on `day` (YYYY-MM-DD). No real
/// account is reachable here: a drill on the simulator stands in, relabelled as a drill on
/// aws and sealed again, so the trend's rules for real drills can be checked.
fn drill_on(dir: &Path, scenario: &str, seed: u64, day: &str) -> PathBuf {
    let p = sim_drill_on(dir, scenario, seed, day);
    let mut v = read_json(&p);
    v["target"] = Value::from("aws");
    v["drill_kind"] = Value::from("real");
    v["drilled"] = Value::from("a stand-in for a real drill (test fixture)");
    write_sealed(&p, &v);
    p
}

/// A drill on the simulator of `scenario` into `dir`, its `started_at` set to `day`.
fn sim_drill_on(dir: &Path, scenario: &str, seed: u64, day: &str) -> PathBuf {
    let o = drillbit()
        .args(["run", scenario, "-q", "--seed", &seed.to_string(), "--out"])
        .arg(dir)
        .output()
        .expect("runs");
    // `run` exits 0 or 1 by verdict; either is a drill that ran.
    assert!(matches!(o.status.code(), Some(0 | 1)), "{scenario}: {o:?}");
    let p = dir.join("scorecard.json");
    let mut v = read_json(&p);
    v["started_at"] = Value::String(format!("{day}T09:30:00Z"));
    write_sealed(&p, &v);
    p
}

/// A remediation file for pilot-light in `dir`, as people keep it: an item past due, one in
/// progress and due later, one closed by a retest.
fn remediation_fixture(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let p = dir.join("pilot-light.remediation.yaml");
    std::fs::write(
        &p,
        "drillbit_remediation: 1\nscenario: pilot-light\nitems:\n  \
         - { id: R-1, check: rto, finding: \"RTO missed: 41m against 30m\", opened: 2025-09-01, owner: platform-team, due: 2025-10-01, status: closed, closed: 2025-11-10, closed_in: reports/pilot-light/drill-aws-seed1 }\n  \
         - { id: R-2, check: \"step:flip-dns\", finding: \"runbook step `flip-dns` timed out\", opened: 2025-11-10, owner: unassigned, due: 2025-11-20, status: open }\n  \
         - { id: R-3, check: \"fault:region-down\", finding: \"fault showed no effect\", opened: 2025-11-10, owner: sre, due: 2026-01-10, status: in-progress }\n",
    )
    .expect("write");
    p
}

/// A sealed readiness record of `scenario`, as `drillbit check` leaves it, checked on `day`.
fn readiness_on(dir: &Path, scenario: &str, target: &str, day: &str, ready: bool) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let kind = if target == "aws" { "real" } else { "rehearsal" };
    let v = serde_json::json!({
        "schema": "drillbit.readiness/v1",
        "tool": { "name": "drillbit", "version": "0", "locked_crates": [] },
        "scenario": { "name": scenario, "path": "x.yaml", "sha256": "0" },
        "target": target,
        "drill_kind": kind,
        "started_at": format!("{day}T08:00:00Z"),
        "run_by": "test",
        "items": [{ "resource": "db", "what": "replica exists", "ready": ready }],
        "drift": usize::from(!ready),
        "ready": ready,
    });
    write_json(&dir.join("readiness.json"), &v);
    let opts = drillbit::evidence::SealOptions {
        kind: "check",
        scenario,
        inputs: Vec::new(),
        start_tree_at: None,
        key: None,
    };
    drillbit::evidence::seal(dir, &opts).expect("seal");
}

#[test]
fn programme_shows_every_scenario_its_remediation_and_evidence_and_gates_on_what_is_due() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let reports = d.join("reports");
    let pl = drill_on(&reports.join("pl/real"), "scenarios/pilot-light.yaml", 1, "2025-11-10");
    sim_drill_on(&reports.join("pl/sim"), "scenarios/pilot-light.yaml", 2, "2025-11-25");
    drill_on(
        &reports.join("br/real"),
        "scenarios/backup-restore.yaml",
        1,
        "2025-09-01",
    );
    // Weekly health checks of pilot-light: a real one found drift, then a real one was ready;
    // an emulator check counts for nothing.
    readiness_on(&reports.join("pl/check1"), "pilot-light", "aws", "2025-11-20", false);
    readiness_on(&reports.join("pl/check2"), "pilot-light", "aws", "2025-11-27", true);
    readiness_on(
        &reports.join("pl/check3"),
        "pilot-light",
        "emulator",
        "2025-11-29",
        true,
    );
    let tampered = drill_on(
        &reports.join("br/tampered"),
        "scenarios/backup-restore.yaml",
        1,
        "2025-11-28",
    );
    let mut t = read_json(&tampered);
    t["verdict"]["overall"] = Value::from("pass");
    t["measured"]["rto_s"] = Value::from(1.0);
    write_json(&tampered, &t);
    remediation_fixture(&d.join("scenarios"));
    let out = d.join("out");
    let o = drillbit()
        .args(["report", "programme"])
        .arg(&reports)
        .arg(d.join("scenarios"))
        .args(["--as-of", "2025-11-30", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "overdue, past due, evidence: {stdout}");
    assert!(
        stdout.contains(
            "programme: 2 scenarios; 1 overdue; 2 remediation items open (1 past due); 1 left out (evidence)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("past due: pilot-light R-2 (step:flip-dns): due 2025-11-20"),
        "{stdout}"
    );
    assert!(
        stdout.contains("overdue: backup-restore (monthly restore verification"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("programme.md")).expect("programme.md");
    // Each scenario's latest real drill, linked to its manifest by hash.
    let manifest = pl.parent().expect("dir").join("manifest.json");
    let sha = drillbit::evidence::sha256_hex(&std::fs::read(&manifest).expect("manifest"));
    let row = md
        .lines()
        .find(|l| l.starts_with("| pilot-light |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        row.contains("2025-11-10 09:30 UTC on aws") && row.contains(&sha),
        "{row}"
    );
    assert!(
        row.contains("last ready real check 2025-11-27 (2 days ago)") && row.contains("| fresh |"),
        "{row}"
    );
    let link = row
        .split("[manifest](")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("link");
    assert!(out.join(link).exists(), "the link resolves from the report: {link}");
    let br = md
        .lines()
        .find(|l| l.starts_with("| backup-restore |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        br.contains("2025-09-01") && br.contains("**OVERDUE**"),
        "the tampered drill is not its latest: {br}"
    );
    assert!(
        md.contains("| R-2 | pilot-light | `step:flip-dns` |") && md.contains("| OVERDUE |"),
        "{md}"
    );
    assert!(
        md.contains("| R-1 | pilot-light | `rto` |")
            && md.contains("| 2025-11-10 | `reports/pilot-light/drill-aws-seed1` |"),
        "{md}"
    );
    assert!(
        md.contains(&format!("`{}`: evidence does not verify", tampered.display())),
        "{md}"
    );
    for control in ["A1.3", "CC9.1", "8.5", "A.5.30", "Art. 11", "Art. 25", "VII.K", "12.10"] {
        assert!(md.contains(&format!("| {control} |")), "{control}: {md}");
    }
    let html = std::fs::read_to_string(out.join("programme.html")).expect("programme.html");
    assert_self_contained(&html, "programme");
    assert!(html.contains(&sha) && html.contains("@media print"));

    // Nothing due: every scenario fresh, no item past due, all evidence good.
    std::fs::remove_dir_all(reports.join("br")).expect("rm");
    let o = drillbit()
        .args(["report", "programme", "-q"])
        .arg(reports.join("pl"))
        .args(["--as-of", "2025-11-15", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    // A bad remediation file is bad input, with its position.
    std::fs::write(
        d.join("scenarios/x.remediation.yaml"),
        "drillbit_remediation: 1\nscenario: x\nitems: [ { id: R-1 } ]\n",
    )
    .expect("write");
    let o = drillbit()
        .args(["report", "programme"])
        .arg(d.join("scenarios"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("x.remediation.yaml:3:"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn trend_orders_drills_flags_regressions_and_overdue_scenarios() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // pilot-light: three passing drills, then one made slower by 50%, then one that misses.
    let mut files = Vec::new();
    for (i, day) in ["2025-02-10", "2025-05-12", "2025-08-11", "2025-11-10", "2025-11-20"]
        .iter()
        .enumerate()
    {
        files.push(drill_on(
            &d.join(format!("pl/{i}")),
            "scenarios/pilot-light.yaml",
            1,
            day,
        ));
    }
    let base = read_json(&files[2])["measured"]["rto_s"].as_f64().expect("rto");
    let mut slow = read_json(&files[3]);
    slow["measured"]["rto_s"] = Value::from(base * 1.5);
    write_sealed(&files[3], &slow);
    let mut miss = read_json(&files[4]);
    miss["measured"]["rto_s"] = Value::from(2000.0);
    miss["verdict"]["rto"] = Value::from("missed");
    miss["verdict"]["overall"] = Value::from("fail");
    write_sealed(&files[4], &miss);
    // backup-restore: restore verification, last passed 39.6 days before the report date. A
    // simulated pass since does not make it fresh.
    drill_on(&d.join("br/real"), "scenarios/backup-restore.yaml", 1, "2025-10-21");
    sim_drill_on(&d.join("br/sim"), "scenarios/backup-restore.yaml", 1, "2025-11-28");
    // A drill whose scorecard was edited after sealing is named and left out.
    let tampered = drill_on(&d.join("pl/tampered"), "scenarios/pilot-light.yaml", 1, "2025-11-25");
    let mut t = read_json(&tampered);
    t["measured"]["rto_s"] = Value::from(1.0);
    write_json(&tampered, &t);
    let out = d.join("out");
    let o = drillbit()
        .args(["report", "trend"])
        .arg(d.join("pl"))
        .arg(d.join("br"))
        .args(["--as-of", "2025-11-30", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "findings exit 1: {stdout}");
    assert!(
        stdout.contains("7 drills and 0 health checks of 2 scenarios; 2 regressions; 1 overdue; 1 left out (evidence)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("overdue: backup-restore (monthly restore verification"),
        "{stdout}"
    );
    assert!(stdout.contains("RTO +50% against the previous drill"), "{stdout}");
    assert!(
        stdout.contains(&format!("left out: {}: evidence does not verify", tampered.display())),
        "{stdout}"
    );
    assert!(stdout.contains("RTO target missed"), "{stdout}");
    let md = std::fs::read_to_string(out.join("trend.md")).expect("trend.md");
    assert!(
        md.contains(
            "| backup-restore | monthly restore verification (31 days) | 2025-10-21 on aws | 39 | **OVERDUE** |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| pilot-light | quarterly failover drill (92 days) | 2025-11-10 on aws | 19 | fresh |"),
        "{md}"
    );
    // Oldest first in the Markdown; the dates in order.
    let pos: Vec<usize> = ["2025-02-10", "2025-05-12", "2025-08-11", "2025-11-10", "2025-11-20"]
        .iter()
        .map(|day| md.find(&format!("| {day} 09:30 UTC")).expect(day))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    let html = std::fs::read_to_string(out.join("trend.html")).expect("trend.html");
    assert_self_contained(&html, "trend");
    assert_eq!(html.matches("<svg").count(), 4, "RTO and RPO charts per scenario");
    assert_eq!(html.matches(">REGRESSION<").count(), 2);
    assert!(html.contains(">OVERDUE<"));

    // A tighter schedule and a looser threshold change the verdicts.
    let o = drillbit()
        .args(["report", "trend", "-q"])
        .arg(d.join("pl"))
        .args([
            "--as-of",
            "2025-11-30",
            "--rto-threshold",
            "60",
            "--schedule",
            "pilot-light=weekly",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
    let md = std::fs::read_to_string(out.join("trend.md")).expect("trend.md");
    assert!(
        md.contains("weekly health check (7 days) | 2025-11-10 on aws | 19 | **OVERDUE**"),
        "{md}"
    );
    assert_eq!(
        md.matches("**regression**").count(),
        1,
        "only the missed target at 60%: {md}"
    );
}

#[test]
fn trend_reads_old_scorecards_by_file_time_and_escapes_names() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = drill_on(&dir.path().join("a"), "scenarios/pilot-light.yaml", 1, "2025-01-01");
    let mut v = read_json(&p);
    v.as_object_mut().expect("object").remove("started_at");
    v["scenario"]["name"] = Value::from(EVIL);
    write_sealed(&p, &v);
    let out = dir.path().join("out");
    drillbit()
        .args(["report", "trend", "-q"])
        .arg(dir.path().join("a"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    let html = std::fs::read_to_string(out.join("trend.html")).expect("trend.html");
    assert_self_contained(&html, "trend");
    assert!(html.contains("&lt;script&gt;") && html.contains("(file time)"));
}

#[test]
fn trend_bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = drill_on(&dir.path().join("ok"), "scenarios/pilot-light.yaml", 1, "2025-01-01");
    let cases: Vec<(&str, String)> = vec![
        ("not json", "{ nope".into()),
        ("not a scorecard", "{\"schema\": \"drillbit.scorecard/v1\"}".into()),
        ("wrong schema", {
            let mut v = read_json(&good);
            v["schema"] = Value::from("drillbit.montecarlo/v1");
            v.to_string()
        }),
        ("bad started_at", {
            let mut v = read_json(&good);
            v["started_at"] = Value::from("yesterday");
            v.to_string()
        }),
        ("negative RTO", {
            let mut v = read_json(&good);
            v["measured"]["rto_s"] = Value::from(-1.0);
            v.to_string()
        }),
    ];
    for (what, body) in cases {
        let bad_dir = dir.path().join(what.replace(' ', "-"));
        std::fs::create_dir_all(bad_dir.join("x")).expect("mkdir");
        let bad = bad_dir.join("x/scorecard.json");
        std::fs::write(&bad, body).expect("write");
        let o = drillbit()
            .args(["report", "trend"])
            .arg(dir.path().join("ok"))
            .arg(&bad_dir)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(&bad.display().to_string()), "{what}: {err}");
    }
    assert!(
        !dir.path().join("out/trend.html").exists(),
        "nothing written on bad input"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let o = drillbit().args(["report", "trend"]).arg(&empty).output().expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no scorecard.json or readiness.json under"));
    let o = drillbit()
        .args(["report", "trend"])
        .arg(dir.path().join("missing"))
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
    for args in [
        vec!["--as-of", "someday"],
        vec!["--schedule", "pilot-light"],
        vec!["--schedule", "pilot-light=often"],
        vec!["--rto-threshold", "-5"],
    ] {
        drillbit()
            .args(["report", "trend"])
            .arg(dir.path().join("ok"))
            .args(&args)
            .arg("--out")
            .arg(dir.path().join("out"))
            .assert()
            .code(2);
    }
}

// ---- the browser check ----

/// Chromium, or None when the browser test is to be skipped (DRILLBIT_SKIP_BROWSER=1).
fn chromium() -> Option<PathBuf> {
    if std::env::var("DRILLBIT_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("DRILLBIT_SKIP_BROWSER=1: browser check skipped");
        return None;
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("DRILLBIT_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(PathBuf::from("/usr/bin/chromium"));
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            candidates.push(d.join("chromium"));
            candidates.push(d.join("chromium-browser"));
        }
    }
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(p) => Some(p),
        None => panic!(
            "chromium not found: run harness/install-chromium.sh (CI installs it), \
             or set DRILLBIT_SKIP_BROWSER=1 to skip the browser check"
        ),
    }
}

struct Page {
    name: String,
    html: PathBuf,
    /// Strings the rendered DOM must contain.
    expect: Vec<String>,
    /// How many <svg> charts the rendered DOM must hold.
    charts: usize,
    /// SVG shapes the charts must have drawn.
    shapes: &'static [&'static str],
}

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2000;

/// Loads a page in headless Chromium: (dumped DOM, screenshot PNG bytes).
fn render(browser: &Path, page: &Page, work: &Path) -> Result<(String, Vec<u8>), String> {
    let profile = tempfile::tempdir_in(work).map_err(|e| e.to_string())?;
    let png = work.join(format!("{}.png", page.name));
    let mut child = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", browser.display()))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{}: chromium did not finish within 60 s", page.name));
            }
        }
    }
    let dom = reader.join().map_err(|_| "reader panicked")?;
    let bytes = std::fs::read(&png).map_err(|e| format!("{}: no screenshot: {e}", page.name))?;
    Ok((dom, bytes))
}

/// Decodes a PNG; checks its size and that it is not blank. Returns the distinct colours.
fn check_png(name: &str, bytes: &[u8]) -> Result<usize, String> {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = dec.read_info().map_err(|e| format!("{name}: not a PNG: {e}"))?;
    let size = reader.output_buffer_size().ok_or(format!("{name}: PNG too large"))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("{name}: bad PNG: {e}"))?;
    if (info.width, info.height) != (WIDTH, HEIGHT) {
        return Err(format!("{name}: screenshot is {}x{}", info.width, info.height));
    }
    let channels = match (info.color_type, info.bit_depth) {
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        other => return Err(format!("{name}: unexpected PNG format {other:?}")),
    };
    // A bit per 24-bit colour. Every other row: the test binary is unoptimized, and half the
    // rows of a page of text and charts say as much about blankness as all of them.
    let mut seen = vec![0u64; 1 << 18];
    let (mut ink, mut sampled) = (0usize, 0usize);
    for row in buf[..info.buffer_size()].chunks_exact(info.line_size).step_by(2) {
        for px in row.chunks_exact(channels) {
            let c = (usize::from(px[0]) << 16) | (usize::from(px[1]) << 8) | usize::from(px[2]);
            seen[c >> 6] |= 1 << (c & 63);
            sampled += 1;
            if px[0] < 200 || px[1] < 200 || px[2] < 200 {
                ink += 1;
            }
        }
    }
    let colours: usize = seen.iter().map(|w| w.count_ones() as usize).sum();
    let share = ink as f64 / sampled.max(1) as f64;
    if colours < 16 || share < 0.01 {
        return Err(format!(
            "{name}: looks blank ({colours} colours, {:.2}% ink)",
            share * 100.0
        ));
    }
    Ok(colours)
}

/// Runs `jobs` on `workers` threads; collects the errors.
fn parallel<T: Sync>(items: &[T], workers: usize, job: impl Fn(&T) -> Result<(), String> + Sync) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Err(e) = job(item) {
                    errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                }
            });
        }
    });
    errors.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// A unique name for a shipped scenario: its path under scenarios/, without the extension,
/// `/` as `-` (local/dns-not-switching and troubleshooting/dns-not-switching differ).
fn page_name(f: &Path) -> String {
    let rel = f.strip_prefix(common::root().join("scenarios")).unwrap_or(f);
    rel.with_extension("").to_string_lossy().replace(['/', '\\'], "-")
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("drillbit")
}

#[test]
fn every_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tmp");
    let work = tmp.path();
    let scenarios = common::shipped();
    assert!(scenarios.len() >= 5, "shipped scenarios: {scenarios:?}");

    // Reports of every shipped scenario, from the built binary.
    let gen_errors = parallel(&scenarios, 2, |f| {
        let stem = page_name(f);
        let rollback = std::fs::read_to_string(f)
            .map_err(|e| e.to_string())?
            .contains("rollback:");
        let mut run = std::process::Command::new(bin());
        run.current_dir(common::root())
            .arg("run")
            .arg(f)
            .arg("-q")
            .arg("--out")
            .arg(work.join(&stem));
        if rollback {
            run.arg("--failback");
        }
        let st = run.status().map_err(|e| e.to_string())?;
        if !matches!(st.code(), Some(0 | 1)) {
            return Err(format!("{stem}: run exited {st}"));
        }
        let st = std::process::Command::new(bin())
            .current_dir(common::root())
            .arg("simulate")
            .arg(f)
            .args(["--runs", "1000", "--threads", "1", "-q", "--out"])
            .arg(work.join(format!("{stem}-mc")))
            .status()
            .map_err(|e| e.to_string())?;
        if st.code() != Some(0) {
            return Err(format!("{stem}: simulate exited {st}"));
        }
        Ok(())
    });
    assert!(gen_errors.is_empty(), "{gen_errors:#?}");

    // A trend over them, with earlier pilot-light drills so its chart has a line.
    for (seed, day) in [(2, "2025-03-03"), (3, "2025-06-02"), (4, "2025-09-01")] {
        drill_on(
            &work.join(format!("history/pl{seed}")),
            "scenarios/pilot-light.yaml",
            seed,
            day,
        );
    }
    let st = std::process::Command::new(bin())
        .args(["report", "trend", "-q"])
        .arg(work)
        .arg("--out")
        .arg(work.join("trend"))
        .status()
        .expect("trend");
    assert!(matches!(st.code(), Some(0 | 1)), "trend exited {st}");
    // The programme over all of it, with remediation kept beside a scenario.
    remediation_fixture(&work.join("scenarios"));
    let st = std::process::Command::new(bin())
        .args(["report", "programme", "-q", "--as-of", "2025-11-30"])
        .arg(work)
        .arg("--out")
        .arg(work.join("programme"))
        .status()
        .expect("programme");
    assert!(matches!(st.code(), Some(0 | 1)), "programme exited {st}");
    let generated = started.elapsed();

    let mut pages = Vec::new();
    for f in &scenarios {
        let stem = page_name(f);
        let sc = read_json(&work.join(&stem).join("scorecard.json"));
        let upper = |v: &Value| v.as_str().unwrap_or("?").replace('_', " ").to_uppercase();
        let mut expect = vec![
            format!(">{}</span>", upper(&sc["verdict"]["overall"])),
            format!(">{}</p>", upper(&sc["verdict"]["rto"])),
            format!(">{}</p>", upper(&sc["verdict"]["rpo"])),
            "Phase timeline".to_string(),
            sc["scenario"]["name"].as_str().unwrap_or("?").to_string(),
        ];
        let failback = sc["failback"].is_object();
        if failback {
            expect.push(format!(">{}</p>", upper(&sc["verdict"]["failback"])));
        }
        pages.push(Page {
            name: stem.clone(),
            html: work.join(&stem).join("report.html"),
            expect,
            charts: 3 + usize::from(failback),
            shapes: &["<rect", "<line", "<text"],
        });
        let mc = read_json(&work.join(format!("{stem}-mc")).join("montecarlo.json"));
        let p = |k: &str| format!("{:.1}%", mc[k]["estimate"].as_f64().unwrap_or(-1.0) * 100.0);
        pages.push(Page {
            name: format!("{stem}-mc"),
            html: work.join(format!("{stem}-mc")).join("report.html"),
            expect: vec![
                format!(">{}</p>", p("p_meet_rto")),
                format!(">{}</p>", p("p_meet_rpo")),
                "RTO distribution".into(),
                "RPO distribution".into(),
            ],
            charts: 2,
            shapes: &["<rect", "<line", "<polyline", "<text"],
        });
    }
    let trend_md = std::fs::read_to_string(work.join("trend/trend.md")).expect("trend.md");
    let n_scenarios = trend_md.matches("\n## ").count() - 1; // minus the Freshness heading
    pages.push(Page {
        name: "trend".into(),
        html: work.join("trend/trend.html"),
        expect: vec!["Freshness".into(), "pilot-light".into(), "RTO per drill".into()],
        charts: 2 * n_scenarios,
        shapes: &["<circle", "<polyline", "<line", "<text"],
    });
    pages.push(Page {
        name: "programme".into(),
        html: work.join("programme/programme.html"),
        expect: vec![
            "DR test programme".into(),
            "pilot-light".into(),
            "Open remediation".into(),
            "SOC 2 (Trust Services Criteria)".into(),
            "manifest.json</a>".into(),
        ],
        charts: 0,
        shapes: &[],
    });
    let shots = std::env::var_os("DRILLBIT_SCREENSHOTS").map(PathBuf::from);
    let errors = parallel(&pages, 4, |page| {
        let (dom, png) = render(&browser, page, work)?;
        check_png(&page.name, &png)?;
        for e in &page.expect {
            if !dom.contains(e.as_str()) {
                return Err(format!("{}: rendered DOM lacks {e:?}", page.name));
            }
        }
        let charts = dom.matches("<svg").count();
        if charts != page.charts {
            return Err(format!(
                "{}: {charts} charts rendered, expected {}",
                page.name, page.charts
            ));
        }
        for shape in page.shapes {
            if !dom.contains(shape) {
                return Err(format!("{}: no {shape} in the rendered charts", page.name));
            }
        }
        if let Some(dir) = &shots {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(dir.join(format!("{}.png", page.name)), &png);
        }
        Ok(())
    });
    assert!(
        errors.is_empty(),
        "{} of {} pages failed:\n{}",
        errors.len(),
        pages.len(),
        errors.join("\n")
    );
    eprintln!(
        "{} pages rendered in chromium; generated in {:.1} s, total {:.1} s",
        pages.len(),
        generated.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The blankness check itself: a white page and a two-colour page fail, a page with text-like
/// variety passes.
#[test]
fn the_screenshot_check_rejects_blank_pages() {
    let encode = |pixel: &dyn Fn(u32, u32) -> [u8; 3], w: u32, h: u32| {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().expect("header");
            let data: Vec<u8> = (0..h).flat_map(|y| (0..w).flat_map(move |x| pixel(x, y))).collect();
            wr.write_image_data(&data).expect("data");
        }
        out
    };
    let white = encode(&|_, _| [255, 255, 255], WIDTH, HEIGHT);
    assert!(check_png("white", &white).is_err_and(|e| e.contains("blank")));
    let two = encode(&|x, _| if x < 200 { [0, 0, 0] } else { [255, 255, 255] }, WIDTH, HEIGHT);
    assert!(check_png("two colours", &two).is_err());
    let busy = encode(
        &|x, y| [(x % 97) as u8, (y % 89) as u8, ((x + y) % 83) as u8],
        WIDTH,
        HEIGHT,
    );
    assert!(check_png("busy", &busy).is_ok());
    let small = encode(&|x, y| [(x % 97) as u8, (y % 89) as u8, 0], 100, 100);
    assert!(check_png("small", &small).is_err_and(|e| e.contains("100x100")));
    assert!(check_png("garbage", b"not a png").is_err());
}

/// The shapes the shipped scenarios do not produce on the simulator: data loss not
/// measurable, a failed failback, a drill that never recovered.
#[test]
fn edge_cases_say_what_happened() {
    let mut sc = drillbit::targets::sim::simulate_once_with(&common::load("scenarios/pilot-light.yaml"), 1, true)
        .expect("drill");
    sc.measured.data_loss_note = Some("S3 has no local counterpart".into());
    sc.measured.rpo_s = None;
    sc.margin.rpo_s = None;
    sc.verdict.rpo = RpoVerdict::NotMeasured;
    sc.measured.recovered = false;
    sc.measured.rto_s = None;
    sc.margin.rto_s = None;
    sc.verdict.rto = RtoVerdict::Missed;
    sc.verdict.overall = Overall::Fail;
    sc.verdict.failback = FailbackVerdict::Failed;
    if let Some(fb) = sc.failback.as_mut() {
        fb.completed = false;
        fb.steps[1].outcome = StepOutcome::Failed;
        fb.steps[1].detail = Some("replica creation refused".into());
    }
    let html = report::html::drill(&sc);
    assert_self_contained(&html, "edge");
    for want in [
        ">FAIL</span>",
        "not recovered",
        "not recovered before the drill horizon",
        "<b>not measurable</b> on this target: S3 has no local counterpart",
        ">NOT MEASURED</p>",
        ">FAILED</p>",
        "finished in",
        "replica creation refused",
    ] {
        assert!(html.contains(want), "{want}");
    }
    if let Ok(p) = std::env::var("DRILLBIT_EDGE_HTML") {
        let _ = std::fs::write(p, &html);
    }
}
