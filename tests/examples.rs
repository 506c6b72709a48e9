//! The CI examples (examples/github-actions.yml, examples/gitlab-ci.yml) run the same drillbit
//! commands, and those commands work: this test runs exactly the lines between the examples'
//! `drillbit-commands` markers, in a copy of the scenarios, with the binary under test first on
//! PATH, and checks the JUnit both CI systems publish.
#![cfg(feature = "aws")]

mod common;

use std::path::Path;

/// The drillbit command lines between the markers of an example, in order.
fn commands(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(common::root().join(file)).expect("example");
    let begin = text.find("drillbit-commands: begin").expect("begin marker");
    let end = text.find("drillbit-commands: end").expect("end marker");
    text[begin..end]
        .lines()
        .skip(1)
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("- ").trim();
            let l = l.strip_prefix("run:").map_or(l, str::trim);
            l.starts_with("drillbit ").then(|| l.to_string())
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn the_ci_examples_run_the_same_commands_and_they_work() {
    let github = commands("examples/github-actions.yml");
    let gitlab = commands("examples/gitlab-ci.yml");
    assert!(github.len() >= 4, "{github:#?}");
    assert_eq!(github, gitlab, "the two examples run the same commands");
    assert!(
        github.iter().any(|c| c.contains("--target emulator")),
        "a drill on the emulator"
    );
    assert!(
        github
            .iter()
            .any(|c| c.starts_with("drillbit simulate") && c.contains("--require")),
        "a gated simulation"
    );

    let work = tempfile::tempdir().expect("tmp");
    copy_dir(&common::root().join("scenarios"), &work.path().join("scenarios"));
    let bin = assert_cmd::cargo::cargo_bin("drillbit");
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for c in &github {
        let o = std::process::Command::new("sh")
            .args(["-c", c])
            .current_dir(work.path())
            .env("PATH", &path)
            .output()
            .expect("sh");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{c}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for junit in [
        "reports/emulator/backup-restore/junit.xml",
        "reports/sim/pilot-light/junit.xml",
    ] {
        let xml = std::fs::read_to_string(work.path().join(junit)).unwrap_or_else(|e| panic!("{junit}: {e}"));
        assert!(
            xml.contains("<testsuite") && xml.contains("failures=\"0\""),
            "{junit}: {xml}"
        );
    }
}
