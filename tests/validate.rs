//! `drillbit validate` (and `drillbit run`) on invalid scenario files, through the real binary.
//!
//! Each case has one small fixture under `tests/fixtures/invalid/`, derived from the same minimal
//! valid scenario (a comment line, then `name: mini` on line 2; see `MINIMAL` below). Every test
//! checks the exit code (2), the exact `FILE:LINE:COL` of the offending node (computed by hand from
//! the fixture), a message fragment saying what was expected, and the source snippet with its caret.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The scenario every fixture is based on, as it appears after the fixture's first (comment)
/// line: `name: mini` is line 2 of each fixture.
const MINIMAL: &str = "\
name: mini
strategy: pilot-light
targets:
  rto: 30m
  rpo: 5m
topology:
  primary_region: us-east-1
  dr_region: us-west-2
  resources:
    - id: db
      kind: rds-instance
      instance: myapp-db
    - id: api
      kind: ecs-service
      primary: { cluster: prod, service: api, desired: 2 }
      dr: { cluster: dr, service: api, desired: 0 }
runbook:
  steps:
    - id: notify
      action: manual
    - id: scale
      action: ecs.update-service
      resource: api
      desired: 2
      after: [notify]
";

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures_dir() -> PathBuf {
    crate_dir().join("tests").join("fixtures").join("invalid")
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `drillbit ARGS...` in `dir`.
fn drillbit_in(dir: &Path, args: &[&str]) -> Outcome {
    let out = Command::cargo_bin("drillbit")
        .expect("the drillbit binary is built")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("drillbit runs");
    Outcome {
        code: out.status.code().expect("drillbit exited normally (not by a signal)"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `drillbit validate NAME` run in the fixtures directory, so diagnostics start with `NAME:`.
fn validate_fixture(name: &str) -> Outcome {
    drillbit_in(&fixtures_dir(), &["validate", name])
}

/// The `FILE:LINE:COL: error: ...` lines of stderr.
fn diagnostics(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(": error: ")).collect()
}

/// Asserts that `out` is exit 2 with exactly `count` diagnostics, one of which is at
/// `file:line:col` and contains `fragment`; when the line exists in `source`, also asserts the
/// snippet (the line, then a caret under the column).
fn assert_diagnostic(out: &Outcome, file: &str, source: Option<&str>, at: (u32, u32), fragment: &str, count: usize) {
    let (line, col) = at;
    assert_eq!(
        out.code, 2,
        "exit code; stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout for an invalid file, got:\n{}",
        out.stdout
    );
    let diags = diagnostics(&out.stderr);
    assert_eq!(diags.len(), count, "number of diagnostics in:\n{}", out.stderr);
    // Line 0: about the whole file, shown without a position.
    let prefix = if line == 0 {
        format!("{file}: error: ")
    } else {
        format!("{file}:{line}:{col}: error: ")
    };
    let Some(diag) = diags.iter().find(|d| d.starts_with(&prefix)) else {
        panic!("no diagnostic at {prefix:?} in:\n{}", out.stderr)
    };
    assert!(diag.contains(fragment), "{diag:?} does not contain {fragment:?}");
    let text = source.and_then(|s| s.lines().nth((line as usize).checked_sub(1)?));
    if let Some(text) = text {
        let text: String = text.chars().take(160).collect();
        let pad = " ".repeat((col.max(1) - 1).min(160) as usize);
        let snippet = format!("{diag}\n  | {text}\n  | {pad}^\n");
        assert!(
            out.stderr.contains(&snippet),
            "snippet {snippet:?} not in:\n{}",
            out.stderr
        );
    }
    let summary = "file(s) invalid";
    assert!(out.stderr.contains(summary), "no summary line in:\n{}", out.stderr);
}

/// Validates fixture `name` and asserts its single diagnostic is at `line:col` and contains
/// `fragment`.
fn assert_invalid(name: &str, line: u32, col: u32, fragment: &str) -> Outcome {
    let source = std::fs::read_to_string(fixtures_dir().join(name)).ok();
    let out = validate_fixture(name);
    assert_diagnostic(&out, name, source.as_deref(), (line, col), fragment, 1);
    out
}

// ---------------------------------------------------------------------------------------------
// The base scenario itself.

#[test]
fn minimal_scenario_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mini.yaml"), MINIMAL).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "mini.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "mini.yaml: ok (mini)\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn every_fixture_is_refused() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "{names:?}");
    for name in names {
        let out = validate_fixture(&name);
        assert_eq!(out.code, 2, "{name} should be invalid; stdout: {}", out.stdout);
        assert!(
            !diagnostics(&out.stderr).is_empty(),
            "{name}: no diagnostic:\n{}",
            out.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Unknown fields: the diagnostic points at the key itself.

#[test]
fn unknown_top_level_field() {
    assert_invalid(
        "unknown_top_level_field.yaml",
        4,
        1,
        "unknown field `colour`, expected one of `name`, `description`, `strategy`",
    );
}

#[test]
fn unknown_field_in_resource_points_at_the_key() {
    let out = assert_invalid(
        "unknown_resource_field.yaml",
        14,
        7,
        "unknown field `multi_azz`, expected one of",
    );
    assert!(
        out.stderr.contains("`multi_az`"),
        "the message lists the valid field:\n{}",
        out.stderr
    );
}

#[test]
fn unknown_field_in_nested_resource_mapping_points_at_the_key() {
    assert_invalid(
        "unknown_resource_nested_field.yaml",
        16,
        59,
        "unknown field `extra`, expected one of `cluster`",
    );
}

#[test]
fn unknown_field_in_step_points_at_the_key() {
    let out = assert_invalid(
        "unknown_step_field.yaml",
        22,
        7,
        "unknown field `retires`, expected one of",
    );
    assert!(out.stderr.contains("`retries`"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// Wrong types and bad values: the diagnostic points at the value.

#[test]
fn mapping_where_a_string_is_expected() {
    assert_invalid(
        "wrong_type_mapping_for_string.yaml",
        2,
        7,
        "invalid type: expected a string, found a mapping",
    );
}

#[test]
fn string_where_a_number_is_expected() {
    assert_invalid(
        "wrong_type_string_for_number.yaml",
        25,
        16,
        "invalid type: expected u32, found string \"many\"",
    );
}

#[test]
fn duration_in_words_is_refused() {
    assert_invalid(
        "bad_duration_words.yaml",
        5,
        8,
        "`15 minutes` is not a duration: write a number and a one-letter unit with no space (e.g. 15m)",
    );
}

#[test]
fn duration_in_words_message_names_the_problem() {
    let out = assert_invalid("bad_duration_words.yaml", 5, 8, "expected a duration like 90s");
    let diag = diagnostics(&out.stderr)[0];
    assert!(!diag.contains("has no unit"), "misleading: {diag}");
    assert!(diag.contains("minutes"), "{diag}");
}

#[test]
fn duration_without_unit_is_refused() {
    assert_invalid(
        "bad_duration_no_unit.yaml",
        6,
        8,
        "`60` has no unit: expected a duration like 90s",
    );
}

#[test]
fn duration_without_unit_in_resource_points_at_the_value() {
    assert_invalid(
        "bad_duration_no_unit_in_resource.yaml",
        21,
        12,
        "`60` has no unit: expected a duration like 90s",
    );
}

#[test]
fn negative_duration_is_refused() {
    assert_invalid(
        "bad_duration_negative.yaml",
        5,
        8,
        "negative duration `-5m`: expected a duration like 90s",
    );
}

#[test]
fn zero_rto_is_refused() {
    assert_invalid("zero_rto.yaml", 5, 8, "`0s` is zero: expected a positive duration");
}

#[test]
fn zero_probe_interval_is_refused() {
    assert_invalid(
        "zero_probe_interval.yaml",
        28,
        22,
        "`0s` is zero: expected a positive duration",
    );
}

#[test]
fn negative_desired_in_step_is_refused() {
    assert_invalid(
        "negative_desired.yaml",
        25,
        16,
        "invalid value: integer `-1`, expected u32",
    );
}

#[test]
fn negative_desired_in_resource_points_at_the_value() {
    assert_invalid(
        "negative_desired_in_resource.yaml",
        17,
        49,
        "invalid value: integer `-1`, expected u32",
    );
}

#[test]
fn negative_writes_per_second_is_refused() {
    assert_invalid(
        "negative_writes_per_second.yaml",
        28,
        22,
        "writes_per_second is -5: expected a number >= 0",
    );
}

#[test]
fn numeric_scalar_for_a_string_field_in_a_resource_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let src = MINIMAL.replace("primary: { cluster: prod,", "primary: { cluster: 2024,");
    assert_ne!(src, MINIMAL);
    std::fs::write(dir.path().join("numeric.yaml"), src).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "numeric.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "numeric.yaml: ok (mini)\n");
}

// ---------------------------------------------------------------------------------------------
// References, ids and the runbook graph.

#[test]
fn unknown_resource_kind() {
    assert_invalid(
        "unknown_resource_kind.yaml",
        12,
        13,
        "unknown variant `rds-cluster`, expected one of `rds-instance`",
    );
}

#[test]
fn step_naming_an_unknown_resource() {
    assert_invalid("step_unknown_resource.yaml", 24, 17, "unknown resource `apii`");
}

#[test]
fn after_naming_an_unknown_step() {
    assert_invalid(
        "step_after_unknown.yaml",
        26,
        15,
        "unknown step `notfy`: expected one of the steps ids (notify, scale)",
    );
}

#[test]
fn two_step_dependency_cycle() {
    assert_invalid(
        "cycle_two.yaml",
        27,
        14,
        "dependency cycle in the runbook: notify -> scale -> notify",
    );
}

#[test]
fn three_step_dependency_cycle() {
    assert_invalid(
        "cycle_three.yaml",
        25,
        14,
        "dependency cycle in the runbook: a -> c -> b -> a",
    );
}

#[test]
fn step_depending_on_itself() {
    assert_invalid("self_dependency.yaml", 26, 15, "step `scale` depends on itself");
}

#[test]
fn duplicate_step_ids() {
    assert_invalid(
        "duplicate_step_id.yaml",
        22,
        11,
        "duplicate step id `notify`: ids must be unique",
    );
}

#[test]
fn duplicate_resource_ids() {
    assert_invalid(
        "duplicate_resource_id.yaml",
        14,
        11,
        "duplicate resource id `api`: ids must be unique",
    );
}

#[test]
fn action_not_fitting_the_resource_kind() {
    assert_invalid(
        "action_wrong_resource_kind.yaml",
        24,
        17,
        "`db` is an rds-instance: action ecs.update-service acts on ecs-service",
    );
}

#[test]
fn action_missing_its_resource() {
    assert_invalid(
        "action_missing_resource.yaml",
        22,
        7,
        "action ecs.update-service needs `resource`: the id of a",
    );
}

// ---------------------------------------------------------------------------------------------
// Faults and models.

#[test]
fn fault_missing_a_required_parameter() {
    assert_invalid(
        "fault_missing_region.yaml",
        28,
        5,
        "a region-outage fault needs `region`",
    );
}

#[test]
fn fault_parameter_not_accepted_points_at_the_key() {
    assert_invalid(
        "fault_param_not_accepted.yaml",
        32,
        5,
        "`lag` is not a parameter of a region-outage fault: expected region",
    );
}

#[test]
fn fault_region_not_in_the_topology() {
    assert_invalid(
        "fault_region_not_in_topology.yaml",
        30,
        13,
        "region `eu-west-1` is not in the topology: expected one of us-east-1, us-west-2",
    );
}

#[test]
fn models_key_neither_step_nor_model() {
    let out = assert_invalid(
        "unknown_model_key.yaml",
        28,
        3,
        "`scale-up` is neither a step id nor a model name: expected a step id or one of",
    );
    assert!(
        out.stderr.contains("api-call"),
        "the message lists model names:\n{}",
        out.stderr
    );
}

#[test]
fn lognormal_p95_below_median() {
    assert_invalid(
        "lognormal_p95_below_median.yaml",
        28,
        13,
        "lognormal p95 5m 00s is below its median 10m 00s: expected p95 >= median",
    );
}

#[test]
fn uniform_min_above_max() {
    assert_invalid(
        "uniform_min_above_max.yaml",
        28,
        13,
        "uniform min 10s is greater than max 5s",
    );
}

#[test]
fn empirical_list_empty() {
    assert_invalid(
        "empirical_empty.yaml",
        28,
        13,
        "empirical list is empty: expected at least one measured duration",
    );
}

// ---------------------------------------------------------------------------------------------
// Files that are not scenarios at all.

#[test]
fn empty_file() {
    assert_invalid("empty.yaml", 0, 0, "file is empty: expected a YAML mapping");
}

#[test]
fn whitespace_and_comments_only_file() {
    assert_invalid("comments_only.yaml", 0, 0, "file is empty: expected a YAML mapping");
}

#[test]
fn file_that_is_not_yaml() {
    // `foo: [bar\n`: the flow sequence is still open at the end of the input (line 2, column 1).
    assert_invalid(
        "not_yaml.yaml",
        2,
        1,
        "not valid YAML: while parsing a flow sequence, expected ',' or ']'",
    );
}

#[test]
fn top_level_list() {
    assert_invalid(
        "top_level_list.yaml",
        2,
        1,
        "expected a mapping with a scenario (name, strategy, targets, topology, runbook), found sequence",
    );
}

#[test]
fn tab_used_for_indentation() {
    // `\trto: 30m` on line 5: the diagnostic points at the tab itself.
    assert_invalid("tab_indentation.yaml", 5, 1, "not valid YAML: tabs disallowed");
}

#[test]
fn tab_after_a_plain_scalar_points_at_the_tab() {
    assert_invalid("tab_after_scalar.yaml", 6, 1, "tab");
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let start = Instant::now();
    let out = validate_fixture("alias_bomb.yaml");
    let elapsed = start.elapsed();
    let source = std::fs::read_to_string(fixtures_dir().join("alias_bomb.yaml")).unwrap();
    // The first `*e` in `f: &f [*e, ...]` (line 7) is the alias that crosses the node limit.
    let fragment = "document has more than 100000 nodes";
    assert_diagnostic(&out, "alias_bomb.yaml", Some(&source), (7, 8), fragment, 1);
    assert!(elapsed < Duration::from_secs(2), "refused in {elapsed:?}");
}

#[test]
fn ten_megabyte_file_is_refused_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = String::from(MINIMAL);
    let pad = "# padding padding padding padding padding padding padding padding\n";
    while src.len() < 10 * 1024 * 1024 {
        src.push_str(pad);
    }
    std::fs::write(dir.path().join("big.yaml"), &src).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "big.yaml"]);
    let fragment = "file is larger than the limit of 1048576 bytes".to_string();
    assert_diagnostic(&out, "big.yaml", None, (0, 0), &fragment, 1);
}

#[test]
fn deep_nesting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deep.yaml"), "[".repeat(100_000)).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "deep.yaml"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let diags = diagnostics(&out.stderr);
    assert_eq!(diags.len(), 1, "{}", out.stderr);
    // The YAML scanner trips its own cap (255 levels) before the 65th level reaches the tree
    // builder, so the column is somewhere in the run of brackets, between 65 and 256.
    let rest = diags[0].strip_prefix("deep.yaml:1:").expect("line 1");
    let (col, message) = rest.split_once(": error: ").unwrap();
    let col: u32 = col.parse().unwrap();
    assert!((65..=256).contains(&col), "column {col}");
    assert_eq!(message, "nesting deeper than 64 levels");
}

#[test]
fn non_utf8_file_is_refused() {
    // The Latin-1 `é` of `caf\xe9` is byte 70: 43 bytes of comment line, 11 of `name: mini\n`,
    // 16 of `description: caf`.
    assert_invalid("not_utf8.yaml", 0, 0, "not UTF-8 text (invalid byte at offset 70)");
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = drillbit_in(dir.path(), &["validate", "does-not-exist.yaml"]);
    assert_diagnostic(&out, "does-not-exist.yaml", None, (0, 0), "no such file", 1);
}

#[test]
fn directory_passed_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scenes.yaml")).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "scenes.yaml"]);
    assert_diagnostic(
        &out,
        "scenes.yaml",
        None,
        (0, 0),
        "is a directory, expected a scenario file",
        1,
    );
}

/// Runs `cmd` with a time limit; a killed (timed-out) process has no exit code.
#[cfg(unix)]
fn output_within(cmd: &mut Command, limit: Duration) -> (Option<i32>, String) {
    let out = cmd.timeout(limit).output().expect("the command runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[cfg(unix)]
#[test]
fn endless_file_is_refused_as_too_large() {
    // The address-space cap keeps this test from exhausting the machine while the bug is there.
    let script = format!(
        "ulimit -v 524288; exec '{}' validate /dev/zero",
        env!("CARGO_BIN_EXE_drillbit")
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    let (code, stderr) = output_within(&mut cmd, Duration::from_secs(10));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("/dev/zero: error: file is"), "{stderr}");
    assert!(stderr.contains("1048576 bytes"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn invalid_named_pipe_is_reported_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("piped.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // The writer blocks until drillbit opens the pipe; it is not joined, so a drillbit that never
    // opens it cannot hang the test.
    let writer_path = fifo.clone();
    std::thread::spawn(move || std::fs::write(writer_path, "foo: [bar\n"));
    let mut cmd = Command::cargo_bin("drillbit").unwrap();
    cmd.current_dir(dir.path()).args(["validate", "piped.yaml"]);
    let (code, stderr) = output_within(&mut cmd, Duration::from_secs(5));
    assert_eq!(code, Some(2), "timed out or wrong exit; stderr: {stderr}");
    assert!(
        stderr.contains("piped.yaml:2:1: error: not valid YAML: while parsing a flow sequence"),
        "{stderr}"
    );
}

#[test]
fn validate_without_files_is_a_usage_error() {
    let out = drillbit_in(crate_dir(), &["validate"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("required"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// Several files, several problems, shipped scenarios, `run`.

#[test]
fn several_files_one_good_one_bad() {
    let good = "scenarios/pilot-light.yaml";
    let bad = "tests/fixtures/invalid/step_after_unknown.yaml";
    let bad2 = "tests/fixtures/invalid/duplicate_step_id.yaml";
    let out = drillbit_in(crate_dir(), &["validate", bad, good, bad2]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stdout, format!("{good}: ok (pilot-light)\n"));
    let diags = diagnostics(&out.stderr);
    assert_eq!(diags.len(), 2, "{}", out.stderr);
    assert!(
        diags[0].starts_with(&format!("{bad}:26:15: error: unknown step `notfy`")),
        "{}",
        diags[0]
    );
    assert!(
        diags[1].starts_with(&format!("{bad2}:22:11: error: duplicate step id")),
        "{}",
        diags[1]
    );
    assert!(!out.stderr.contains(good), "{}", out.stderr);
    assert!(out.stderr.contains("2 of 3 file(s) invalid"), "{}", out.stderr);
}

fn shipped_scenarios(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            shipped_scenarios(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            found.push(path);
        }
    }
}

#[test]
fn every_shipped_scenario_validates() {
    let mut files = Vec::new();
    shipped_scenarios(&crate_dir().join("scenarios"), &mut files);
    files.sort();
    assert!(!files.is_empty());
    let rel: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(crate_dir()).unwrap().display().to_string())
        .collect();
    let mut args = vec!["validate"];
    args.extend(rel.iter().map(String::as_str));
    let out = drillbit_in(crate_dir(), &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    for f in &rel {
        assert!(
            out.stdout.contains(&format!("{f}: ok (")),
            "{f} not ok in:\n{}",
            out.stdout
        );
    }
}

#[test]
fn two_independent_problems_are_both_reported() {
    let name = "two_problems.yaml";
    let source = std::fs::read_to_string(fixtures_dir().join(name)).unwrap();
    let out = validate_fixture(name);
    let dup = "duplicate resource id `api`: ids must be unique";
    assert_diagnostic(&out, name, Some(&source), (14, 11), dup, 2);
    assert_diagnostic(&out, name, Some(&source), (26, 15), "unknown step `notfy`", 2);
    // In file order.
    let diags = diagnostics(&out.stderr);
    assert!(
        diags[0].contains(":14:11:") && diags[1].contains(":26:15:"),
        "{diags:?}"
    );
}

#[test]
fn run_on_an_invalid_file_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let fixture = fixtures_dir().join("cycle_two.yaml");
    let args = ["run", fixture.to_str().unwrap(), "--out", out_dir.to_str().unwrap()];
    let out = drillbit_in(dir.path(), &args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let prefix = format!("{}:27:14: error: dependency cycle", fixture.display());
    assert!(out.stderr.contains(&prefix), "{}", out.stderr);
    assert!(!out_dir.exists(), "run wrote {}", out_dir.display());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "run wrote into the working directory"
    );
}

#[test]
fn a_bound_arn_of_the_wrong_kind_points_at_the_arn() {
    assert_invalid(
        "bind_arn_wrong_kind.yaml",
        14,
        20,
        "is not of the form arn:aws:rds:REGION:ACCOUNT:db:NAME",
    );
}

// ---------------------------------------------------------------------------------------------
// Bounds: every count and duration has a documented upper bound, named with its position.

#[test]
fn a_scenario_asking_for_unbounded_work_is_refused_at_every_bound() {
    let name = "unbounded.yaml";
    let source = std::fs::read_to_string(fixtures_dir().join(name)).ok();
    let out = validate_fixture(name);
    assert_eq!(out.code, 2);
    for (at, fragment) in [
        ((10, 76), "the backup interval is 400d 00h 00m: at most 366d"),
        ((13, 22), "the probe interval is 1ms: at least 100ms"),
        ((13, 42), "healthy_after is 2147483647: at most 1000"),
        ((13, 73), "failure_threshold is 5000: at most 1000"),
        ((16, 46), "retries 1000 is too many"),
        ((17, 19), "the drill horizon is 365d 00h 00m: at most 7d"),
        ((17, 33), "the settle window is 2h 00m 00s: at most 1h"),
    ] {
        assert_diagnostic(&out, name, source.as_deref(), at, fragment, 7);
    }
    // A duration past a century is refused by the parser itself, wherever it is.
    let dir = tempfile::tempdir().unwrap();
    let text = MINIMAL.replace("rpo: 5m", "rpo: 31709y");
    std::fs::write(dir.path().join("long.yaml"), text).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "long.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("long.yaml:5:8: error: `31709y` is too long a duration"),
        "{}",
        out.stderr
    );
}

/// The worst valid scenario for a drill's cost: the longest horizon, the fastest probes and the
/// largest probe counts, and a service that never recovers, so the drill runs to the horizon.
/// Its output stays small (probes are stored as runs); the README's "Bounds" gives the measured
/// time and memory.
#[test]
fn the_worst_valid_scenario_runs_to_its_horizon_with_bounded_output() {
    let dir = tempfile::tempdir().unwrap();
    let text = MINIMAL.replace(
        "runbook:",
        "workload: { writes_per_second: 1000, probe: { interval: 100ms, healthy_after: 1000, failure_threshold: 1 } }\n\
         faults:\n  - { id: down, kind: region-outage, region: us-east-1, at: 1m }\n\
         drill: { horizon: 7d }\n\
         runbook:",
    );
    std::fs::write(dir.path().join("worst.yaml"), text).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "worst.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = drillbit_in(dir.path(), &["run", "worst.yaml", "--out", "out", "-q"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let sc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/scorecard.json")).unwrap()).unwrap();
    assert!(sc["measured"]["rto_s"].is_null(), "never recovers: {}", sc["measured"]);
    let last = sc["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "drill horizon reached", "{last}");
    let total: u64 = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total < 1 << 20, "output of a week-long drill: {total} bytes");
}

/// An error at the end of input, after a last line with no line break (and a lone CR, which YAML
/// counts as a line break), points at the end of that last line and shows it, never at a line
/// past the end of the file.
#[test]
fn an_error_at_the_end_of_input_points_at_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{MINIMAL}drill: \r{{ horizon: 7d }}");
    std::fs::write(dir.path().join("eof.yaml"), &text).unwrap();
    let out = drillbit_in(dir.path(), &["validate", "eof.yaml"]);
    let normalized = text.replace('\r', "\n");
    let last = normalized.lines().count() as u32;
    let diags = diagnostics(&out.stderr);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(diags.len(), 1, "{}", out.stderr);
    assert!(
        diags[0].starts_with(&format!("eof.yaml:{last}:16: error: not valid YAML")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("  | { horizon: 7d }\n"), "{}", out.stderr);
}
