//! The CLI contract other work depends on: files written, fields present, exit codes,
//! byte-identical Monte Carlo output whatever the thread count.

mod common;

use assert_cmd::Command;
use serde_json::Value;

fn drillbit() -> Command {
    let mut c = Command::cargo_bin("drillbit").expect("binary");
    c.current_dir(common::root());
    c
}

fn read_json(p: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

#[test]
fn run_writes_the_three_files_with_the_contract_fields() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = drillbit()
        .args(["run", "scenarios/pilot-light.yaml", "--seed", "1", "--out"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let sc = read_json(&dir.path().join("scorecard.json"));
    let code = out.status.code();
    assert_eq!(code, Some(if sc["verdict"]["overall"] == "pass" { 0 } else { 1 }));
    assert!(String::from_utf8_lossy(&out.stdout).contains("scorecard.json"));
    assert_eq!(sc["schema"], "drillbit.scorecard/v1");
    assert_eq!(sc["scenario"]["name"], "pilot-light");
    assert_eq!(sc["scenario"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(sc["target"], "sim");
    assert_eq!(sc["seed"], 1);
    assert_eq!(sc["targets"]["rto_s"], 1800.0);
    assert_eq!(sc["targets"]["rpo_s"], 300.0);
    // The measured RTO placed on the scenario's simulated distribution: a simulated drill of
    // the same scenario falls inside it, and the percentile agrees with the quantiles.
    let p = &sc["prediction"];
    let (pct, p50, p95) = (
        p["percentile"].as_f64().expect("percentile"),
        p["p50_s"].as_f64().expect("p50"),
        p["p95_s"].as_f64().expect("p95"),
    );
    let rto = sc["measured"]["rto_s"].as_f64().expect("rto");
    assert!(pct > 0.0 && pct < 100.0, "{p}");
    assert_eq!(rto <= p50, pct <= 52.0, "rto {rto}, p50 {p50}, percentile {pct}");
    assert!(rto <= p95 || pct >= 93.0, "{p}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("sits at p"), "the report says where the drill sits");
    for f in ["rto_s", "rpo_s", "acked_writes", "lost_writes"] {
        assert!(sc["measured"][f].is_number(), "measured.{f}: {}", sc["measured"][f]);
    }
    for f in ["rto", "rpo"] {
        assert!(matches!(sc["verdict"][f].as_str(), Some("met" | "missed")));
    }
    assert!(matches!(sc["verdict"]["overall"].as_str(), Some("pass" | "fail")));
    let phases = sc["phases"].as_array().expect("phases");
    assert!(phases.iter().any(|p| p["name"] == "detect"));
    for p in phases {
        assert!(p["start_s"].as_f64() <= p["end_s"].as_f64(), "{p}");
    }
    let steps = sc["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 5);
    for s in steps {
        assert!(matches!(
            s["outcome"].as_str(),
            Some("ok" | "failed" | "timed_out" | "skipped" | "unsupported")
        ));
        assert!(s["id"].is_string() && s["action"].is_string());
    }
    assert!(sc["critical_path"].as_array().is_some_and(|c| !c.is_empty()));
    assert_eq!(sc["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(dir.path().join("scorecard.md").exists());
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    assert!(junit.contains("<testsuite name=\"pilot-light\""));
    assert!(junit.contains("name=\"RTO\"") && junit.contains("name=\"RPO\""));
}

#[test]
fn a_missed_target_exits_1_and_fails_its_junit_case() {
    let dir = tempfile::tempdir().expect("tmp");
    drillbit()
        .args(["run", "scenarios/troubleshooting/dns-not-switching.yaml", "--out"])
        .arg(dir.path())
        .assert()
        .code(1);
    let sc = read_json(&dir.path().join("scorecard.json"));
    assert_eq!(sc["verdict"]["rto"], "missed");
    assert_eq!(sc["verdict"]["overall"], "fail");
    assert!(sc["margin"]["rto_s"].as_f64().is_some_and(|m| m < 0.0));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    assert!(junit.contains("<failure"), "{junit}");
    assert!(junit.contains("missed by"), "{junit}");
    // The fallback step ran because the wait timed out.
    let steps = sc["steps"].as_array().expect("steps");
    let by_id = |id: &str| steps.iter().find(|s| s["id"] == id).expect("step").clone();
    assert_eq!(by_id("wait-for-route53")["outcome"], "timed_out");
    assert_eq!(by_id("flip-dns")["outcome"], "ok");
    assert_eq!(by_id("verify")["outcome"], "ok");
}

#[test]
fn a_met_drill_exits_0() {
    let dir = tempfile::tempdir().expect("tmp");
    drillbit()
        .args(["run", "scenarios/active-active.yaml", "--out"])
        .arg(dir.path())
        .assert()
        .code(0);
    assert_eq!(
        read_json(&dir.path().join("scorecard.json"))["verdict"]["overall"],
        "pass"
    );
}

fn simulate(threads: &str, seed: &str, runs: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tmp");
    drillbit()
        .args([
            "simulate",
            "scenarios/warm-standby.yaml",
            "--runs",
            runs,
            "--seed",
            seed,
            "--threads",
            threads,
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .code(0);
    std::fs::read(dir.path().join("montecarlo.json")).expect("montecarlo.json")
}

#[test]
fn montecarlo_is_byte_identical_across_thread_counts() {
    let one = simulate("1", "7", "10000");
    assert_eq!(one, simulate("2", "7", "10000"));
    assert_eq!(one, simulate("5", "7", "10000"));
    assert_ne!(
        one,
        simulate("2", "8", "10000"),
        "a different seed must change the result"
    );
}

#[test]
fn montecarlo_has_the_contract_fields() {
    let v: Value = serde_json::from_slice(&simulate("2", "3", "5000")).expect("json");
    assert_eq!(v["schema"], "drillbit.montecarlo/v1");
    assert_eq!(v["runs"], 5000);
    assert_eq!(v["seed"], 3);
    for m in ["rto_s", "rpo_s"] {
        for q in ["p50", "p90", "p95", "p99", "mean", "max"] {
            assert!(v[m][q].is_number(), "{m}.{q}");
        }
        let s = &v[m];
        assert!(s["p50"].as_f64() <= s["p90"].as_f64() && s["p90"].as_f64() <= s["p95"].as_f64());
        assert!(s["p95"].as_f64() <= s["p99"].as_f64() && s["p99"].as_f64() <= s["max"].as_f64());
    }
    for p in ["p_meet_rto", "p_meet_rpo", "p_meet_all"] {
        let est = v[p]["estimate"].as_f64().expect("estimate");
        let ci = v[p]["ci95"].as_array().expect("ci95");
        let (lo, hi) = (ci[0].as_f64().expect("lo"), ci[1].as_f64().expect("hi"));
        assert!(
            lo <= est && est <= hi && (0.0..=1.0).contains(&lo) && hi <= 1.0,
            "{p}: {est} [{lo}, {hi}]"
        );
    }
    assert!(v["p_meet_all"]["estimate"].as_f64() <= v["p_meet_rto"]["estimate"].as_f64());
}

/// CI gates on a simulation: exit 1 when the Wilson lower bound of P(meet both) falls short
/// of the required probability (`--require`, else `targets.confidence`), with a failing JUnit
/// case that says which gate applied; exit 0 when it holds; no gate, no failure.
#[test]
fn simulate_gates_on_the_required_probability() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = std::fs::read_to_string(common::root().join("scenarios/pilot-light.yaml")).expect("scenario");
    let with = |confidence: &str| text.replacen("  rpo: 5m\n", &format!("  rpo: 5m\n  confidence: {confidence}\n"), 1);
    assert!(
        with("0.5").contains("confidence: 0.5"),
        "the fixture edit found its place"
    );
    let strict = dir.path().join("strict.yaml");
    std::fs::write(&strict, with("0.99")).expect("write");
    let run = |file: &std::path::Path, extra: &[&str], out: &str| {
        let o = drillbit()
            .arg("simulate")
            .arg(file)
            .args(["--runs", "2000", "-q", "--out"])
            .arg(dir.path().join(out))
            .args(extra)
            .output()
            .expect("runs");
        let junit = std::fs::read_to_string(dir.path().join(out).join("junit.xml")).unwrap_or_default();
        let mc = read_json(&dir.path().join(out).join("montecarlo.json"));
        (o.status.code(), junit, mc)
    };
    // The scenario's own gate: 99% is out of reach for pilot-light (P(meet both) ~94%).
    let (code, junit, mc) = run(&strict, &[], "strict");
    assert_eq!(code, Some(1), "{junit}");
    assert_eq!(mc["gate"]["source"], "targets.confidence");
    assert_eq!(mc["gate"]["passed"], false);
    let lower = mc["gate"]["lower_bound"].as_f64().expect("lower bound");
    assert_eq!(lower, mc["p_meet_all"]["ci95"][0].as_f64().expect("ci"));
    assert!(
        junit.contains("<testcase name=\"gate\"") && junit.contains("type=\"confidence gate missed\""),
        "{junit}"
    );
    assert!(
        junit.contains("at least 99.0%, judged on its 95% lower bound"),
        "{junit}"
    );
    // --require overrides it, as a percentage too; the estimate may pass where the bound does not.
    let (code, junit, mc) = run(&strict, &["--require", "50%"], "loose");
    assert_eq!(code, Some(0), "{junit}");
    assert_eq!(mc["gate"]["source"], "--require");
    assert!(!junit.contains("<failure"), "{junit}");
    let estimate = mc["p_meet_all"]["estimate"].as_f64().expect("estimate");
    let (code, _, mc) = run(
        &strict,
        &["--require", &format!("{}", (estimate + lower) / 2.0)],
        "bound",
    );
    assert_eq!(
        code,
        Some(1),
        "judged on the lower bound, not the estimate: {}",
        mc["gate"]
    );
    // No gate: exit 0, and the JUnit reports the probabilities without failing.
    let (code, junit, mc) = run(&common::root().join("scenarios/pilot-light.yaml"), &[], "none");
    assert_eq!(code, Some(0));
    assert!(mc.get("gate").is_none(), "{mc}");
    assert!(junit.contains("P(meet RTO)") && !junit.contains("<failure"), "{junit}");
    // A confidence that is no probability is refused where it is written.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, with("95")).expect("write");
    let o = drillbit().arg("validate").arg(&bad).output().expect("runs");
    let err = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid confidence 95: expected a fraction between 0 and 1"),
        "{err}"
    );
    assert!(err.contains("bad.yaml:"), "{err}");
}

#[test]
fn version_names_the_targets_built_in() {
    let o = drillbit().arg("--version").output().expect("runs");
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(&format!("drillbit {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    let want = if cfg!(feature = "aws") {
        "(targets: sim, local, emulator, aws)"
    } else {
        "(targets: sim, local; built without the `aws` feature"
    };
    assert!(out.contains(want), "{out}");
}

#[test]
fn usage_errors_exit_2() {
    drillbit().args(["run"]).assert().code(2);
    drillbit()
        .args(["run", "scenarios/pilot-light.yaml", "--bogus"])
        .assert()
        .code(2);
    drillbit()
        .args(["simulate", "scenarios/pilot-light.yaml"])
        .assert()
        .code(2);
    drillbit()
        .args(["simulate", "scenarios/pilot-light.yaml", "--runs", "0"])
        .assert()
        .code(2);
    drillbit()
        .args(["run", "scenarios/pilot-light.yaml", "--target", "mars"])
        .assert()
        .code(2);
    drillbit().args(["run", "no/such/file.yaml"]).assert().code(2);
    drillbit().args(["--help"]).assert().code(0);
}

#[test]
fn schema_command_prints_a_json_schema() {
    let out = drillbit().arg("schema").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["$schema"].as_str().is_some_and(|s| s.contains("json-schema.org")));
    assert!(v["properties"]["runbook"].is_object());
    assert!(jsonschema::validator_for(&v).is_ok());
}

#[test]
fn models_command_cites_a_source_for_every_model() {
    let out = drillbit().arg("models").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for name in drillbit::catalogue::models::names() {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(line.contains("docs/models.md") || line.contains("estimate"), "{line}");
    }
}

#[test]
fn run_on_an_invalid_file_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\n").expect("write");
    let out = dir.path().join("out");
    drillbit()
        .args(["run"])
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2);
    assert!(!out.exists());
}

#[test]
fn calibrate_compare_and_sensitivity_work_end_to_end_on_scorecards() {
    let dir = tempfile::tempdir().expect("tmp");
    for seed in 1..=6 {
        drillbit()
            .args([
                "run",
                "scenarios/pilot-light.yaml",
                "-q",
                "--seed",
                &seed.to_string(),
                "--out",
            ])
            .arg(dir.path().join("drills").join(seed.to_string()))
            .output()
            .expect("runs");
    }
    let models = dir.path().join("models.yaml");
    let out = drillbit()
        .args(["calibrate"])
        .arg(dir.path().join("drills"))
        .arg("--out")
        .arg(&models)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&models).expect("models file");
    assert!(text.contains("promote-db:") && text.contains("drills: 6"), "{text}");
    // The models file drives a simulation that says which steps are fitted.
    let mc_dir = dir.path().join("mc");
    drillbit()
        .args([
            "simulate",
            "scenarios/pilot-light.yaml",
            "--runs",
            "2000",
            "--sensitivity",
            "--models",
        ])
        .arg(&models)
        .arg("--out")
        .arg(&mc_dir)
        .assert()
        .code(0);
    let v = read_json(&mc_dir.join("montecarlo.json"));
    let fitted: Vec<&str> = v["models_fitted"]
        .as_array()
        .expect("fitted")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(
        fitted.contains(&"promote-db") && fitted.contains(&"scale-api"),
        "{fitted:?}"
    );
    let sens = v["sensitivity"].as_array().expect("sensitivity");
    assert!(sens.len() >= 3);
    let effect = |k: &Value| {
        k["delta_halved_s"]
            .as_f64()
            .unwrap_or(0.0)
            .abs()
            .max(k["delta_doubled_s"].as_f64().unwrap_or(0.0).abs())
    };
    assert!(
        sens.windows(2).all(|w| effect(&w[0]) >= effect(&w[1])),
        "ordered by effect"
    );
    // Doubling a step on the critical path cannot make p95 RTO shorter.
    assert!(
        sens.iter()
            .all(|k| k["delta_doubled_s"].as_f64().unwrap_or(0.0) >= -1.0),
        "{sens:?}"
    );
    let out = drillbit()
        .args(["compare", "scenarios/pilot-light.yaml", "--runs", "2000", "--models"])
        .arg(&models)
        .arg("--measured")
        .arg(dir.path().join("drills"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error of the median") && text.contains("6 drills"),
        "{text}"
    );
    // A scenario can name the models file itself (relative to the scenario file).
    let scenario = dir.path().join("calibrated.yaml");
    let base = std::fs::read_to_string(common::root().join("scenarios/pilot-light.yaml")).expect("read");
    std::fs::write(&scenario, format!("{base}\nmodels: models.yaml\n")).expect("write");
    drillbit().arg("validate").arg(&scenario).assert().code(0);
    let out = drillbit()
        .args(["run", "-q"])
        .arg(&scenario)
        .arg("--out")
        .arg(dir.path().join("c"))
        .output()
        .expect("runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(read_json(&dir.path().join("c/scorecard.json"))["models_overridden"]
        .as_array()
        .is_some_and(|m| !m.is_empty()));
    std::fs::write(&scenario, format!("{base}\nmodels: missing.yaml\n")).expect("write");
    let out = drillbit().arg("validate").arg(&scenario).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("models file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A models file naming a step the scenario lacks is refused.
    std::fs::write(&models, "drillbit_models: 1\nmodels:\n  no-such-step: 5m\n").expect("write");
    drillbit()
        .args(["simulate", "scenarios/pilot-light.yaml", "--runs", "10", "--models"])
        .arg(&models)
        .assert()
        .code(2);
}

// ---------------------------------------------------------------------------------------------
// The output directory contract: nothing lost, nothing left behind.

const QUICK: &str = "scenarios/pilot-light.yaml";

struct Ran {
    code: i32,
    stderr: String,
}

/// `drillbit ARGS...` with paths as given (absolute ones from the tests).
fn ran(args: &[&std::ffi::OsStr]) -> Ran {
    let o = drillbit().args(args).output().expect("runs");
    Ran {
        code: o.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// `run QUICK --seed SEED --out OUT -q`.
fn drill_into(out: &std::path::Path, seed: u64) -> Ran {
    let seed = seed.to_string();
    ran(&[
        os("run"),
        os(QUICK),
        os("-q"),
        os("--seed"),
        os(&seed),
        os("--out"),
        out.as_os_str(),
    ])
}

/// Every entry below `dir` (not following symlinks) with its contents or link target: a
/// byte-exact picture of a directory.
fn picture(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    fn go(base: &std::path::Path, d: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).expect("dir").flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).expect("below").to_string_lossy().into_owned();
            let ft = e.file_type().expect("type");
            if ft.is_symlink() {
                let t = std::fs::read_link(&p).expect("link");
                out.push((format!("{rel} ->"), t.to_string_lossy().as_bytes().to_vec()));
            } else if ft.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                go(base, &p, out);
            } else {
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

fn verify_ok(dir: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let o = drillbit()
        .arg("verify")
        .arg(dir)
        .args(extra)
        .output()
        .expect("verify runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Staging directories and lock files left beside `dir`.
fn leftovers(parent: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .expect("parent")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".drillbit-stage-") || n.contains(".drillbit-lock"))
        .collect()
}

#[test]
fn an_out_dir_drillbit_did_not_write_is_refused_and_left_byte_identical() {
    let tmp = tempfile::tempdir().expect("tmp");
    let t = tmp.path();
    // User files instead of a drill.
    let user = t.join("user");
    std::fs::create_dir_all(user.join("sub")).expect("mkdir");
    std::fs::write(user.join("notes.txt"), "my notes\n").expect("write");
    std::fs::write(user.join("sub/data.csv"), "a,b\n1,2\n").expect("write");
    // User files beside a drill drillbit wrote, and a symlink inside one.
    let beside = t.join("beside");
    assert!(matches!(drill_into(&beside, 1).code, 0 | 1));
    std::fs::write(beside.join("notes.txt"), "mine\n").expect("write");
    let linked = t.join("linked");
    assert!(matches!(drill_into(&linked, 1).code, 0 | 1));
    std::os::unix::fs::symlink(&user, linked.join("elsewhere")).expect("symlink");
    // The directory itself a symlink (to a drill), and a plain file.
    let drill = t.join("drill");
    assert!(matches!(drill_into(&drill, 1).code, 0 | 1));
    std::os::unix::fs::symlink(&drill, t.join("alias")).expect("symlink");
    std::fs::write(t.join("file"), "not a directory\n").expect("write");
    let cases: [(&str, &[&str]); 5] = [
        ("user", &["notes.txt", "sub/data.csv"]),
        ("beside", &["notes.txt"]),
        ("linked", &["elsewhere (symbolic link)"]),
        ("alias", &["symbolic link"]),
        ("file", &["not a directory"]),
    ];
    let before = picture(t);
    for (name, named) in cases {
        let out = t.join(name);
        for cmd in [
            &["run", QUICK, "-q"][..],
            &["simulate", QUICK, "--runs", "20", "-q"][..],
        ] {
            let mut args: Vec<&std::ffi::OsStr> = cmd.iter().map(|a| os(a)).collect();
            args.extend([os("--out"), out.as_os_str()]);
            let o = ran(&args);
            assert_eq!(o.code, 2, "{name} {cmd:?}: {}", o.stderr);
            assert!(o.stderr.contains("not writing a drill here"), "{name}: {}", o.stderr);
            for n in named {
                assert!(o.stderr.contains(n), "{name}: `{n}` not named: {}", o.stderr);
            }
            assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        }
    }
    assert_eq!(picture(t), before, "a refused drill touched something");
    // The drills drillbit wrote still verify; re-running into one replaces it.
    assert_eq!(verify_ok(&drill, &[]).0, 0);
    assert!(matches!(drill_into(&drill, 2).code, 0 | 1));
    assert_eq!(read_json(&drill.join("scorecard.json"))["seed"], 2);
    assert_eq!(verify_ok(&drill, &[]).0, 0);
    assert!(leftovers(t).is_empty(), "{:?}", leftovers(t));
}

/// A tiny deterministic generator for the crash tests' delays.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

/// The seed of the drill in `dir`, checked to be one drill's files: the scorecard and the
/// timeline agree, and `verify --no-chain` (its own files against its manifest) passes.
fn one_drill(dir: &std::path::Path) -> u64 {
    let sc = read_json(&dir.join("scorecard.json"));
    let tl = read_json(&dir.join("timeline.json"));
    assert_eq!(sc["seed"], tl["seed"], "files of two drills in {}", dir.display());
    let (code, out) = verify_ok(dir, &["--no-chain"]);
    assert_eq!(code, 0, "{out}");
    sc["seed"].as_u64().expect("seed")
}

#[test]
fn two_drills_aimed_at_one_directory_never_interleave() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("evidence");
    std::fs::create_dir_all(tree.join(".drillbit-chain")).expect("tree");
    let out = tree.join("d");
    let bin = assert_cmd::cargo::cargo_bin("drillbit");
    let (mut both, mut refused) = (0, 0);
    let pairs = 20;
    for i in 0..pairs {
        let (a, b) = (10 + 2 * i, 11 + 2 * i);
        let spawn = |seed: u64| {
            std::process::Command::new(&bin)
                .current_dir(common::root())
                .args(["run", QUICK, "-q", "--seed", &seed.to_string(), "--out"])
                .arg(&out)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (ca, cb) = (spawn(a), spawn(b));
        let (oa, ob) = (ca.wait_with_output().expect("a"), cb.wait_with_output().expect("b"));
        let codes = [oa.status.code(), ob.status.code()];
        let ok = |c: Option<i32>| matches!(c, Some(0 | 1));
        match codes {
            [x, y] if ok(x) && ok(y) => both += 1,
            [x, Some(2)] | [Some(2), x] if ok(x) => {
                refused += 1;
                let loser = if codes[0] == Some(2) { &oa } else { &ob };
                let err = String::from_utf8_lossy(&loser.stderr);
                assert!(err.contains("another drill is writing this directory"), "{err}");
            }
            _ => panic!(
                "pair {i}: {codes:?}: {} / {}",
                String::from_utf8_lossy(&oa.stderr),
                String::from_utf8_lossy(&ob.stderr)
            ),
        }
        let seed = one_drill(&out);
        assert!(seed == a || seed == b, "pair {i}: seed {seed}");
        assert!(leftovers(&tree).is_empty(), "{:?}", leftovers(&tree));
    }
    eprintln!("concurrent pairs: {pairs}; one refused: {refused}; both ran one after the other: {both}");
    let (code, text) = verify_ok(&tree, &[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn a_rerun_that_fills_the_disk_leaves_the_previous_drill_verifiable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&mnt)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and mount rights)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let tree = mnt.join("evidence");
    std::fs::create_dir_all(tree.join(".drillbit-chain")).expect("tree");
    let out = tree.join("d");
    assert!(matches!(drill_into(&out, 1).code, 0 | 1));
    let before = picture(&out);
    // Fill the file system to within a few KB: the next drill's report cannot be written.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let size = std::fs::metadata(&filler).expect("filler").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .and_then(|f| f.set_len(size.saturating_sub(8192)))
        .expect("shrink");
    let o = drill_into(&out, 2);
    assert_eq!(o.code, 3, "the re-run should fail on the full disk: {}", o.stderr);
    assert!(o.stderr.contains("No space left"), "{}", o.stderr);
    assert_eq!(picture(&out), before, "the previous drill changed");
    assert_eq!(one_drill(&out), 1);
    let (code, text) = verify_ok(&tree, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(leftovers(&tree).is_empty(), "{:?}", leftovers(&tree));
    // With room again, the re-run replaces it.
    std::fs::remove_file(&filler).expect("rm");
    assert!(matches!(drill_into(&out, 2).code, 0 | 1));
    assert_eq!(one_drill(&out), 2);
    assert_eq!(verify_ok(&tree, &[]).0, 0);
    // A read-only file system: the re-run is refused, the drill there is untouched.
    let before = picture(&out);
    let remount = |mode: &str| {
        std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(remount("ro"), "remount read-only");
    let o = drill_into(&out, 3);
    let code = o.code;
    assert!(remount("rw"), "remount read-write");
    assert!(
        matches!(code, 2 | 3),
        "a re-run on a read-only file system: exit {code}: {}",
        o.stderr
    );
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    assert_eq!(picture(&out), before, "the drill changed");
    assert_eq!(one_drill(&out), 2);
    assert_eq!(verify_ok(&tree, &[]).0, 0);
}

/// SIGKILL at random instants of re-runs into one directory: it always holds the old drill or
/// the new one, whole; the next run removes what the killed ones left; the tree verifies.
#[test]
fn killed_reruns_leave_the_old_drill_or_the_new_one_never_a_mix() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("evidence");
    std::fs::create_dir_all(tree.join(".drillbit-chain")).expect("tree");
    let out = tree.join("d");
    assert!(matches!(drill_into(&out, 1).code, 0 | 1));
    // Kills spread over twice a whole (warm) run, measured here (the median of three re-runs,
    // under whatever else the machine is doing), so that some land in the publish and some
    // after the run ended.
    let mut spans: Vec<u64> = (0..3)
        .map(|_| {
            let t0 = std::time::Instant::now();
            assert!(matches!(drill_into(&out, 1).code, 0 | 1));
            t0.elapsed().as_micros() as u64
        })
        .collect();
    spans.sort_unstable();
    let span = 2 * spans[1].max(1000);
    let bin = assert_cmd::cargo::cargo_bin("drillbit");
    let mut rng = 0x5eed_u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let (tries, mut old, mut new, mut finished, mut unindexed, mut stale_seen) = (30, 0, 0, 0, 0, 0);
    let mut current = 1u64;
    for i in 0..tries {
        let seed = 100 + i;
        let mut child = std::process::Command::new(&bin)
            .current_dir(common::root())
            .args(["run", QUICK, "-q", "--seed", &seed.to_string(), "--out"])
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_micros(lcg(&mut rng) % span));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if status.success() || status.code() == Some(1) {
            finished += 1;
        }
        let got = one_drill(&out);
        let published = got != current;
        if published {
            assert_eq!(got, seed, "try {i}: neither the old drill nor the new one");
            new += 1;
            current = seed;
        } else {
            old += 1;
        }
        stale_seen += leftovers(&tree).iter().filter(|n| n.contains("stage")).count();
        // A kill between the rename and the index's rename leaves a drill the index does not
        // list yet: named by verify, repaired by the next run into the directory.
        let (code, text) = verify_ok(&tree, &[]);
        if code != 0 {
            assert!(text.contains("is not in the chain index"), "try {i}: {text}");
            if published {
                unindexed += 1;
            }
        }
    }
    assert!(matches!(drill_into(&out, 7).code, 0 | 1));
    assert_eq!(one_drill(&out), 7);
    let left: Vec<String> = leftovers(&tree).into_iter().filter(|n| n.contains("stage")).collect();
    assert!(
        left.is_empty(),
        "stale staging directories survived the next run: {left:?}"
    );
    let (code, text) = verify_ok(&tree, &[]);
    assert_eq!(code, 0, "{text}");
    eprintln!(
        "kill -9 tries: {tries} (delays uniform in 0..{span} us); left the old drill: {old}; the new one: {new}; finished before the kill: {finished}; \
         mixed: 0; killed between the publish and the index rename (named by verify until the next run): {unindexed}; staging directories left by kills: {stale_seen} (removed by the next run)"
    );
}

// ---------------------------------------------------------------------------------------------
// Terminal hygiene: control characters from files are escaped; a closed pipe is not a panic.

#[test]
fn control_characters_from_a_scenario_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().expect("tmp");
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/pilot-light.yaml"))
            .expect("read")
            .replacen("description:", "description: \"\\e]0;owned\\a\\e[2J\\u202e\" #", 1);
    std::fs::write(dir.path().join("hostile.yaml"), &text).expect("write");
    // An invalid file whose offending line holds raw escapes (shown in the diagnostic's snippet).
    std::fs::write(
        dir.path().join("bad.yaml"),
        "name: x\nstrategy: \"\u{1b}[31mred\u{1b}]0;t\u{7}\"\n",
    )
    .expect("write");
    let bin = assert_cmd::cargo::cargo_bin("drillbit");
    for args in [
        vec!["validate", "hostile.yaml", "bad.yaml"],
        vec!["runbook", "hostile.yaml"],
        vec!["run", "hostile.yaml", "--out", "out"],
        vec!["lint", "hostile.yaml"],
    ] {
        let o = std::process::Command::new(&bin)
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("runs");
        let all = [o.stdout.as_slice(), o.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(!text.is_empty(), "{args:?} printed nothing");
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}'),
            "{args:?} printed a raw control character: {text:?}"
        );
        if matches!(args[0], "validate" | "runbook") {
            assert!(text.contains("\\u{1b}"), "{args:?} shows the escape: {text}");
        }
    }
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::Read;
    let bin = assert_cmd::cargo::cargo_bin("drillbit");
    // `drillbit schema | head -c 10`: more than a pipe buffer, and the reader goes away.
    let mut child = std::process::Command::new(&bin)
        .arg("schema")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).expect("read");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The conventions of a CLI in its ecosystem: completions and man pages from the clap
/// definitions, `-v` and RUST_LOG on stderr (stdout unchanged), one JSON shape for
/// `--format json`, `--version` naming the built targets, and errors that say what they are
/// with the right exit code.
#[test]
fn completions_man_logging_json_and_errors_follow_the_conventions() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = |args: &[&str]| {
        let o = drillbit().args(args).output().expect("runs");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    for (shell, marker) in [
        ("bash", "_drillbit()"),
        ("zsh", "#compdef drillbit"),
        ("fish", "complete -c drillbit"),
    ] {
        let (code, out, _) = text(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}");
        assert!(out.contains(marker) && out.contains("simulate"), "{shell}: {out:.300}");
    }
    let (code, out, _) = text(&["man"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(".TH drillbit 1") && out.contains("simulate"), "{out:.300}");
    let man = dir.path().join("man");
    drillbit().args(["man", "--out"]).arg(&man).assert().code(0);
    for page in [
        "drillbit.1",
        "drillbit-run.1",
        "drillbit-simulate.1",
        "drillbit-verify.1",
    ] {
        assert!(man.join(page).is_file(), "{page}");
    }
    assert!(!man.join("drillbit-guard.1").exists(), "hidden commands get no page");

    // -v: drillbit's steps on stderr; stdout is the same as without it.
    let (_, quiet_out, quiet_err) = text(&[
        "run",
        "scenarios/pilot-light.yaml",
        "-q",
        "--out",
        &dir.path().join("a").display().to_string(),
    ]);
    let (_, v_out, v_err) = text(&[
        "run",
        "scenarios/pilot-light.yaml",
        "-q",
        "-v",
        "--out",
        &dir.path().join("b").display().to_string(),
    ]);
    assert!(!quiet_err.contains("INFO"), "{quiet_err}");
    assert!(
        v_err.contains("INFO") && v_err.contains("injecting fault") && v_err.contains("starting step"),
        "{v_err}"
    );
    assert_eq!(quiet_out.replace("/a/", "/b/"), v_out);
    let o = drillbit()
        .env("RUST_LOG", "debug")
        .args(["validate", "scenarios/pilot-light.yaml"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&o.stderr).contains("DEBUG"));

    // --format json: one envelope, the command's fields inside.
    let (code, out, _) = text(&[
        "validate",
        "--format",
        "json",
        "scenarios/pilot-light.yaml",
        "nope.yaml",
    ]);
    assert_eq!(code, Some(2));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (v["command"].as_str(), v["ok"].as_bool()),
        (Some("validate"), Some(false))
    );
    assert_eq!(v["drillbit"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["files"][0]["scenario"], "pilot-light");
    assert_eq!(
        v["files"][1]["diagnostics"][0]["message"],
        "no such file: expected a scenario file"
    );
    let (code, out, _) = text(&[
        "lint",
        "--format",
        "json",
        "scenarios/troubleshooting/dns-not-switching.yaml",
    ]);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["command"], "lint");
    assert_eq!(code, Some(if v["ok"] == true { 0 } else { 1 }));
    assert!(v["findings"].is_array());
    let (code, out, _) = text(&["models", "--format", "json"]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert!(v["models"].as_array().is_some_and(|m| m.len() > 20), "{v}");
    let (code, out, _) = text(&["plan", "scenarios/pilot-light.yaml", "--format", "json"]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (v["command"].as_str(), v["target"].as_str()),
        (Some("plan"), Some("emulator"))
    );
    let runbook = v["sections"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["title"] == "Runbook"))
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        runbook["items"].as_array().is_some_and(|i| i
            .iter()
            .any(|i| i["text"] == "promote-db (rds.promote-read-replica):"
                && i["calls"][0] == "rds:PromoteReadReplica myapp-postgres-dr-replica (us-west-2)")),
        "{runbook}"
    );
    // A scenario that cannot run on aws: the plan says why, ok false, exit 2.
    let (code, out, _) = text(&[
        "plan",
        "scenarios/pilot-light.yaml",
        "--target",
        "aws",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(2));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["sections"][0]["title"], "Refused before any call", "{v}");

    // Errors say what they are.
    let (code, _, err) = text(&["validate", "nope.yaml"]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("nope.yaml: error: no such file"), "{err}");
    let (code, _, err) = text(&["run", "scenarios/pilot-light.yaml", "-q", "--out", "/proc/x"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/proc/x: cannot be used as an output directory"), "{err}");
    let (code, out, _) = text(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("targets: sim, local"), "{out}");
    #[cfg(feature = "aws")]
    {
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".aws")).expect("mkdir");
        std::fs::write(
            home.join(".aws/config"),
            "[default]\nregion = us-east-1\n[profile drills]\nregion = us-west-2\n",
        )
        .expect("write");
        let o = drillbit()
            .env("HOME", &home)
            .env_remove("AWS_CONFIG_FILE")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .args([
                "check",
                "scenarios/pilot-light.yaml",
                "--target",
                "aws",
                "--profile",
                "nope",
            ])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("--profile nope: no such profile in"), "{err}");
    }
}

/// The drill record an auditor asks for: who ran it, who approved it, scope, objectives against
/// results, deviations and lessons learned, in the scorecard and both reports.
#[test]
fn the_drill_record_says_who_what_and_how_it_deviated() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = drillbit()
        .args([
            "run",
            "scenarios/troubleshooting/dns-not-switching.yaml",
            "-q",
            "--approved-by",
            "Dana Ops",
            "--notes",
            "The health check was never attached: attach it.",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
    let sc = read_json(&dir.path().join("scorecard.json"));
    let r = &sc["record"];
    assert!(r["run_by"].as_str().is_some_and(|u| u.contains('@')), "{r}");
    assert_eq!(r["approved_by"], "Dana Ops");
    assert_eq!(r["lessons"], "The health check was never attached: attach it.");
    assert_eq!(r["scope"]["regions"], serde_json::json!(["us-east-1", "us-west-2"]));
    assert!(
        r["scope"]["systems"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x == "dns (route53-record)")),
        "{r}"
    );
    let deviations = r["deviations"].as_array().expect("deviations");
    assert!(
        deviations
            .iter()
            .any(|d| d.as_str().is_some_and(|d| d.contains("timed out"))),
        "{r}"
    );
    let md = std::fs::read_to_string(dir.path().join("scorecard.md")).expect("md");
    assert!(
        md.contains("## Drill record") && md.contains("**approved by**: Dana Ops"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("Drill record") && html.contains("attach it."), "html");
    // Without --approved-by nobody approved a simulated drill, and the record says so.
    let other = dir.path().join("b");
    drillbit()
        .args(["run", "scenarios/pilot-light.yaml", "-q", "--out"])
        .arg(&other)
        .assert()
        .code(0);
    let sc = read_json(&other.join("scorecard.json"));
    assert!(sc["record"]["approved_by"].is_null(), "{}", sc["record"]);
    assert_eq!(
        sc["record"]["deviations"].as_array().map(Vec::len),
        Some(1),
        "{}",
        sc["record"]
    );
}

#[test]
fn remediation_files_are_refused_for_simulations_and_checked_before_any_drill() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("r.yaml");
    let out = drillbit()
        .args(["run", "scenarios/pilot-light.yaml", "--remediation"])
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("sim"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a simulation tests no system"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!file.exists() && !dir.path().join("sim").exists());
    // A hand-edited file with a typo stops a local drill before it touches anything, at the
    // line and column of the typo, and is left as it was.
    let bad = "drillbit_remediation: 1\nscenario: local-async-kill9\nitems:\n  - id: R-1\n    check: rto\n    opened: 2026-12-01\n    due: 2026-12-31\n    status: fixed\n";
    std::fs::write(&file, bad).expect("write");
    let out = drillbit()
        .args([
            "run",
            "scenarios/local/async-kill9.yaml",
            "--target",
            "local",
            "--remediation",
        ])
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("local"))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("r.yaml:8:13:") && err.contains("status `fixed`"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), bad);
    assert!(!dir.path().join("local").exists());
    // Another scenario's file is refused too.
    std::fs::write(&file, "drillbit_remediation: 1\nscenario: other\nitems: []\n").expect("write");
    let out = drillbit()
        .args([
            "run",
            "scenarios/local/async-kill9.yaml",
            "--target",
            "local",
            "--remediation",
        ])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("of scenario `other`"));
}
