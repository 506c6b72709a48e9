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
    for name in drillbit::sim::models::MODEL_NAMES {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(line.contains("aws-timings.md") || line.contains("estimate"), "{line}");
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
