//! Tamper-evident evidence through the binary: manifests, the hash chain of a reports tree,
//! signatures, and `drillbit verify` catching every single-byte change.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const SCENARIO: &str = "scenarios/pilot-light.yaml";

fn scenario() -> PathBuf {
    common::root().join(SCENARIO)
}

/// The binary, run in `cwd` (so the default output lands in `cwd/reports/`).
fn drillbit(cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("drillbit").expect("binary");
    c.current_dir(cwd);
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cwd: &Path, args: &[&str]) -> Out {
    let o = drillbit(cwd).args(args).output().expect("runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A simulated drill of pilot-light into the default layout under `cwd`.
fn drill(cwd: &Path, seed: u64, extra: &[&str]) -> PathBuf {
    let s = scenario();
    let seed_s = seed.to_string();
    let mut args = vec!["run", s.to_str().expect("utf8"), "-q", "--seed", &seed_s];
    args.extend_from_slice(extra);
    let o = run(cwd, &args);
    assert!(matches!(o.code, 0 | 1), "drill failed: {}", o.stderr);
    cwd.join(format!("reports/pilot-light/drill-sim-seed{seed}"))
}

/// `drillbit verify DIR`, with DIR relative to `cwd` as a user would type it.
fn verify(cwd: &Path, dir: &Path, extra: &[&str]) -> Out {
    let rel = dir.strip_prefix(cwd).unwrap_or(dir);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let mut args = vec!["verify", rel.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    run(cwd, &args)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

fn sha256(bytes: &[u8]) -> String {
    drillbit::scenario::sha256_hex(bytes)
}

/// Every regular file below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn go(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                go(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).expect("below").to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

/// A finding line of `verify` that names `file` as its subject.
fn names(stdout: &str, file: &str) -> bool {
    stdout.lines().any(|l| l.trim_start().starts_with(&format!("{file}:")))
}

fn keygen(cwd: &Path, name: &str) -> (PathBuf, PathBuf) {
    let o = run(cwd, &["keygen", "--out", name]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    (cwd.join(name), cwd.join(format!("{name}.pub")))
}

#[test]
fn two_drills_form_a_chain_that_verifies() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d1 = drill(tmp.path(), 1, &[]);
    let d2 = drill(tmp.path(), 2, &[]);
    let m1 = read_json(&d1.join("manifest.json"));
    let m2 = read_json(&d2.join("manifest.json"));
    assert_eq!(m1["schema"], "drillbit.manifest/v1");
    assert_eq!(m1["scenario"], "pilot-light");
    assert_eq!(m1["kind"], "drill");
    assert_eq!(m1["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m1["sequence"], 1);
    assert_eq!(m1["previous"], Value::Null);
    assert_eq!(m1["chain_root"], "../..");
    assert_eq!(m2["sequence"], 2);
    assert_eq!(m2["previous"]["path"], "pilot-light/drill-sim-seed1/manifest.json");
    let m1_bytes = std::fs::read(d1.join("manifest.json")).expect("read");
    assert_eq!(m2["previous"]["sha256"], sha256(&m1_bytes));
    assert!(m2["created"]
        .as_str()
        .is_some_and(|c| c.len() == 20 && c.ends_with('Z')));
    // Every file of the directory, sorted, with its hash and size; the scenario copied in.
    let listed: Vec<&str> = m2["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(
        listed,
        [
            "junit.xml",
            "report.html",
            "scenario.yaml",
            "scorecard.json",
            "scorecard.md",
            "timeline.json"
        ]
    );
    for f in m2["files"].as_array().expect("files") {
        let bytes = std::fs::read(d2.join(f["path"].as_str().expect("path"))).expect("read");
        assert_eq!(f["sha256"], sha256(&bytes));
        assert_eq!(f["size"], bytes.len());
    }
    let copied = std::fs::read(d2.join("scenario.yaml")).expect("scenario copy");
    assert_eq!(copied, std::fs::read(scenario()).expect("scenario"));
    assert_eq!(
        read_json(&d2.join("scorecard.json"))["scenario"]["sha256"],
        sha256(&copied)
    );
    let tl = read_json(&d2.join("timeline.json"));
    assert_eq!(tl["schema"], "drillbit.timeline/v1");
    assert!(tl["events"].as_array().is_some_and(|e| !e.is_empty()));
    // The index at the tree root lists both.
    let index = read_json(&tmp.path().join("reports/.drillbit-chain/chain.json"));
    assert_eq!(index["entries"].as_array().map(Vec::len), Some(2));

    for d in [&d1, &d2] {
        let o = verify(tmp.path(), d, &[]);
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        assert!(o.stdout.starts_with("ok "), "{}", o.stdout);
    }
    assert!(verify(tmp.path(), &d2, &[]).stdout.contains("chain #2 back to #1"));
    let o = verify(tmp.path(), &tmp.path().join("reports"), &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("3 of 3 verified"), "{}", o.stdout);
}

#[test]
fn every_single_byte_change_in_a_drill_directory_is_detected() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (key, _) = keygen(tmp.path(), "drill.key");
    let d1 = drill(tmp.path(), 1, &[]);
    let d2 = drill(tmp.path(), 2, &["--sign-key", key.to_str().expect("utf8")]);
    let mut checked = 0;
    for dir in [&d1, &d2] {
        let all = files(dir);
        assert!(all.contains(&"manifest.json".to_string()));
        if dir == &d2 {
            assert!(all.contains(&"manifest.json.sig".to_string()), "{all:?}");
        }
        for name in all {
            let p = dir.join(&name);
            let original = std::fs::read(&p).expect("read");
            assert!(!original.is_empty(), "{name} is empty");
            for at in [0, original.len() / 2, original.len() - 1] {
                let mut changed = original.clone();
                changed[at] ^= 0x01;
                std::fs::write(&p, &changed).expect("write");
                let o = verify(tmp.path(), dir, &[]);
                assert_eq!(
                    o.code, 1,
                    "{name} byte {at} flipped: verify exited {}\n{}{}",
                    o.code, o.stdout, o.stderr
                );
                assert!(
                    names(&o.stdout, &name),
                    "{name} byte {at} flipped: not named\n{}",
                    o.stdout
                );
                checked += 1;
            }
            std::fs::write(&p, &original).expect("restore");
        }
        let o = verify(tmp.path(), dir, &[]);
        assert_eq!(o.code, 0, "after restoring: {}", o.stdout);
    }
    assert!(checked >= 3 * 13, "{checked}");
}

#[test]
fn deleted_and_added_files_are_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = drill(tmp.path(), 1, &[]);
    let gone = d.join("scorecard.md");
    let kept = std::fs::read(&gone).expect("read");
    std::fs::remove_file(&gone).expect("rm");
    let o = verify(tmp.path(), &d, &[]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("scorecard.md: missing"), "{}", o.stdout);
    std::fs::write(&gone, kept).expect("restore");

    std::fs::write(d.join("extra.txt"), "x").expect("write");
    std::fs::create_dir(d.join("sub")).expect("mkdir");
    std::fs::write(d.join("sub/hidden.json"), "{}").expect("write");
    let o = verify(tmp.path(), &d, &[]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("extra.txt: not in the manifest"), "{}", o.stdout);
    assert!(
        o.stdout.contains("sub/hidden.json: not in the manifest"),
        "{}",
        o.stdout
    );
    std::fs::remove_file(d.join("extra.txt")).expect("rm");
    std::fs::remove_dir_all(d.join("sub")).expect("rm");

    // An empty file added, and a signature added to an unsigned drill.
    std::fs::write(d.join("manifest.json.sig"), "").expect("write");
    let o = verify(tmp.path(), &d, &[]);
    assert_eq!(o.code, 1);
    assert!(names(&o.stdout, "manifest.json.sig"), "{}", o.stdout);
    std::fs::remove_file(d.join("manifest.json.sig")).expect("rm");
    assert_eq!(verify(tmp.path(), &d, &[]).code, 0);
}

#[test]
fn a_changed_earlier_manifest_breaks_the_chain() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d1 = drill(tmp.path(), 1, &[]);
    let d2 = drill(tmp.path(), 2, &[]);
    let d3 = drill(tmp.path(), 3, &[]);
    // A careful forger: drill 1's scorecard changed and its manifest rewritten to match, in
    // canonical form, so drill 1's own files check out.
    let sc = d1.join("scorecard.json");
    let text = std::fs::read_to_string(&sc)
        .expect("read")
        .replace("\"pass\"", "\"fail\"");
    std::fs::write(&sc, &text).expect("write");
    let mp = d1.join("manifest.json");
    let mut m: drillbit::evidence::Manifest =
        serde_json::from_slice(&std::fs::read(&mp).expect("read")).expect("manifest");
    for f in &mut m.files {
        if f.path == "scorecard.json" {
            f.sha256 = sha256(text.as_bytes());
            f.size = text.len() as u64;
        }
    }
    std::fs::write(&mp, drillbit::evidence::canonical(&m)).expect("write");
    let o = verify(tmp.path(), &d1, &["--no-chain"]);
    assert_eq!(o.code, 0, "the forged directory is consistent in itself: {}", o.stdout);
    // The next drill's link and the tree's index both catch it, and so does the last drill's
    // walk back through the chain.
    for later in [&d2, &d3] {
        let o = verify(tmp.path(), later, &[]);
        assert_eq!(o.code, 1, "{}", o.stdout);
        assert!(
            o.stdout
                .contains("chain: previous manifest reports/pilot-light/drill-sim-seed1/manifest.json changed"),
            "{}",
            o.stdout
        );
        // --no-chain checks only the directory, which is intact.
        assert_eq!(verify(tmp.path(), later, &["--no-chain"]).code, 0);
    }
    let o = verify(tmp.path(), &d1, &[]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("manifest.json: sha256 mismatch with chain entry #1"),
        "{}",
        o.stdout
    );
    let o = verify(tmp.path(), &tmp.path().join("reports"), &[]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("drill-sim-seed1/manifest.json: changed"),
        "{}",
        o.stdout
    );

    // A drill directory deleted from the tree is named too.
    std::fs::remove_dir_all(&d2).expect("rm");
    let o = verify(tmp.path(), &d3, &[]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout
            .contains("chain: previous manifest reports/pilot-light/drill-sim-seed2/manifest.json is missing"),
        "{}",
        o.stdout
    );
    let o = verify(tmp.path(), &tmp.path().join("reports"), &[]);
    assert!(
        o.stdout.contains("drill-sim-seed2/manifest.json: missing"),
        "{}",
        o.stdout
    );
}

#[test]
fn signatures_by_another_key_or_tampered_fail() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (key_a, pub_a) = keygen(tmp.path(), "a.key");
    let (key_b, pub_b) = keygen(tmp.path(), "b.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_a).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (pub_a, pub_b) = (pub_a.to_str().expect("utf8"), pub_b.to_str().expect("utf8"));
    let d = drill(tmp.path(), 1, &["--sign-key", key_a.to_str().expect("utf8")]);
    let m = read_json(&d.join("manifest.json"));
    assert_eq!(m["signing"]["algorithm"], "ed25519");
    assert_eq!(verify(tmp.path(), &d, &[]).code, 0);
    let o = verify(tmp.path(), &d, &["--pub-key", pub_a]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("signed by"), "{}", o.stdout);

    // Verified against another key: fails.
    let o = verify(tmp.path(), &d, &["--pub-key", pub_b]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("manifest.json.sig: signed by another key"),
        "{}",
        o.stdout
    );

    // A valid signature of the same manifest by key B: the manifest records key A.
    let sig_path = d.join("manifest.json.sig");
    let original_sig = std::fs::read(&sig_path).expect("sig");
    let b = drillbit::evidence::load_signing_key(&key_b).expect("key b");
    let manifest = std::fs::read(d.join("manifest.json")).expect("manifest");
    let forged = {
        use base64ct::Encoding;
        use ed25519_dalek::Signer;
        format!("{}\n", base64ct::Base64::encode_string(&b.sign(&manifest).to_bytes()))
    };
    std::fs::write(&sig_path, forged).expect("write");
    for extra in [&[][..], &["--pub-key", pub_a][..], &["--pub-key", pub_b][..]] {
        let o = verify(tmp.path(), &d, extra);
        assert_eq!(o.code, 1, "{extra:?}: {}", o.stdout);
        assert!(names(&o.stdout, "manifest.json.sig"), "{}", o.stdout);
    }

    // A well-formed signature of nothing in particular.
    let zeros = {
        use base64ct::Encoding;
        format!("{}\n", base64ct::Base64::encode_string(&[0u8; 64]))
    };
    std::fs::write(&sig_path, zeros).expect("write");
    let o = verify(tmp.path(), &d, &[]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("manifest.json.sig: signature does not verify"),
        "{}",
        o.stdout
    );

    // Deleted: the manifest says it is signed.
    std::fs::remove_file(&sig_path).expect("rm");
    let o = verify(tmp.path(), &d, &[]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("manifest.json.sig: missing"), "{}", o.stdout);
    std::fs::write(&sig_path, original_sig).expect("restore");
    assert_eq!(verify(tmp.path(), &d, &["--pub-key", pub_a]).code, 0);
}

#[test]
fn pub_key_requires_a_signature() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, pub_a) = keygen(tmp.path(), "a.key");
    let d = drill(tmp.path(), 1, &[]);
    assert_eq!(verify(tmp.path(), &d, &[]).code, 0);
    let o = verify(tmp.path(), &d, &["--pub-key", pub_a.to_str().expect("utf8")]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("manifest.json.sig: missing"), "{}", o.stdout);
    let o = verify(
        tmp.path(),
        &tmp.path().join("reports"),
        &["--pub-key", pub_a.to_str().expect("utf8")],
    );
    assert_eq!(o.code, 1, "{}", o.stdout);
}

#[test]
fn keys_made_by_openssl_sign_and_verify() {
    let tmp = tempfile::tempdir().expect("tmp");
    let fixtures = common::root().join("tests/fixtures/evidence");
    let key = fixtures.join("openssl-test-key.pem");
    let public = fixtures.join("openssl-test-key.pub");
    let s = scenario();
    let out = tmp.path().join("mc");
    let o = run(
        tmp.path(),
        &[
            "simulate",
            s.to_str().expect("utf8"),
            "--runs",
            "50",
            "-q",
            "--sign-key",
            key.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["kind"], "montecarlo");
    assert_eq!(m["chain_root"], Value::Null, "an --out outside any tree is standalone");
    let o = verify(tmp.path(), &out, &["--pub-key", public.to_str().expect("utf8")]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("standalone"), "{}", o.stdout);
}

#[test]
fn bad_keys_and_bad_arguments_exit_2_before_any_drill() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = scenario();
    let s = s.to_str().expect("utf8");
    std::fs::write(tmp.path().join("garbage.pem"), "not a key\n").expect("write");
    std::fs::write(tmp.path().join("binary.pem"), [0xffu8, 0xfe, 0x00, 0x01]).expect("write");
    let (_, public) = keygen(tmp.path(), "k");
    for bad in [
        "garbage.pem",
        "binary.pem",
        "missing.pem",
        public.to_str().expect("utf8"),
        ".",
    ] {
        for cmd in [&["run", s][..], &["simulate", s, "--runs", "10"][..]] {
            let mut args = cmd.to_vec();
            args.extend(["--sign-key", bad]);
            let o = run(tmp.path(), &args);
            assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
            assert!(o.stderr.contains("--sign-key"), "{}", o.stderr);
            assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        }
    }
    assert!(!tmp.path().join("reports").exists(), "a drill ran with a bad key");
    let d = drill(tmp.path(), 1, &[]);
    for bad in ["garbage.pem", "missing.pem", "k"] {
        let o = verify(tmp.path(), &d, &["--pub-key", bad]);
        assert_eq!(o.code, 2, "{bad}: {}", o.stderr);
    }
    // Nothing to verify, or not a directory.
    std::fs::create_dir(tmp.path().join("empty")).expect("mkdir");
    for bad in ["empty", "missing-dir", "garbage.pem"] {
        let o = verify(tmp.path(), &tmp.path().join(bad), &[]);
        assert_eq!(o.code, 2, "{bad}: {}{}", o.stdout, o.stderr);
    }
    // keygen never overwrites a key.
    assert_eq!(run(tmp.path(), &["keygen", "--out", "k"]).code, 2);
    assert_eq!(run(tmp.path(), &["keygen", "--out", "no/such/dir/k"]).code, 2);
    // A drill's output cannot be a reports tree root.
    let o = run(tmp.path(), &["run", s, "-q", "--out", "reports"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn a_rerun_into_the_same_directory_extends_the_chain() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d1 = drill(tmp.path(), 1, &[]);
    let d2 = drill(tmp.path(), 2, &[]);
    drill(tmp.path(), 1, &[]);
    let m = read_json(&d1.join("manifest.json"));
    assert_eq!(m["sequence"], 3);
    assert_eq!(m["previous"]["path"], "pilot-light/drill-sim-seed2/manifest.json");
    // Drill 2 links to the replaced #1, which survives as its archived copy.
    let o = verify(tmp.path(), &d2, &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("replaced by a re-run"), "{}", o.stdout);
    assert_eq!(verify(tmp.path(), &d1, &[]).code, 0);
    let o = verify(tmp.path(), &tmp.path().join("reports"), &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    // A signed drill re-run unsigned loses its stale signature.
    let (key, _) = keygen(tmp.path(), "k");
    drill(tmp.path(), 2, &["--sign-key", key.to_str().expect("utf8")]);
    assert!(d2.join("manifest.json.sig").exists());
    drill(tmp.path(), 2, &[]);
    assert!(!d2.join("manifest.json.sig").exists());
    assert_eq!(verify(tmp.path(), &tmp.path().join("reports"), &[]).code, 0);
    // The archived copy of a replaced manifest is evidence too.
    let copy = tmp.path().join("reports/.drillbit-chain/manifests/000001.json");
    let mut bytes = std::fs::read(&copy).expect("copy");
    bytes[10] ^= 1;
    std::fs::write(&copy, &bytes).expect("write");
    let o = verify(tmp.path(), &d2, &[]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("archived copy"), "{}", o.stdout);
    assert_eq!(verify(tmp.path(), &tmp.path().join("reports"), &[]).code, 1);
}

#[test]
fn concurrent_drills_never_fork_the_chain() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = scenario();
    let children: Vec<_> = (1..=6)
        .map(|seed| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("drillbit"))
                .current_dir(tmp.path())
                .args(["run", s.to_str().expect("utf8"), "-q", "--seed", &seed.to_string()])
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        let code = c.wait().expect("wait").code();
        assert!(matches!(code, Some(0 | 1)), "{code:?}");
    }
    let index = read_json(&tmp.path().join("reports/.drillbit-chain/chain.json"));
    let entries = index["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 6);
    let mut paths: Vec<&str> = entries.iter().filter_map(|e| e["path"].as_str()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 6, "every drill has its own entry");
    let o = verify(tmp.path(), &tmp.path().join("reports"), &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("7 of 7 verified"), "{}", o.stdout);
}

#[test]
fn out_dirs_join_the_nearest_tree_or_stand_alone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = scenario();
    let s = s.to_str().expect("utf8");
    // Outside any tree: standalone, and nothing written outside the output directory.
    let o = run(tmp.path(), &["run", s, "-q", "--out", "loose"]);
    assert!(matches!(o.code, 0 | 1), "{}", o.stderr);
    assert_eq!(
        read_json(&tmp.path().join("loose/manifest.json"))["chain_root"],
        Value::Null
    );
    assert!(!tmp.path().join(".drillbit-chain").exists());
    assert_eq!(verify(tmp.path(), &tmp.path().join("loose"), &[]).code, 0);
    // A tree made by hand: drills anywhere below it chain there.
    std::fs::create_dir_all(tmp.path().join("evidence/.drillbit-chain")).expect("mkdir");
    for (n, out) in ["evidence/q1/a", "evidence/q1/b", "evidence/c"].iter().enumerate() {
        let o = run(tmp.path(), &["run", s, "-q", "--out", out]);
        assert!(matches!(o.code, 0 | 1), "{}", o.stderr);
        let m = read_json(&tmp.path().join(out).join("manifest.json"));
        assert_eq!(m["sequence"], n as u64 + 1);
    }
    let m = read_json(&tmp.path().join("evidence/c/manifest.json"));
    assert_eq!(m["chain_root"], "..");
    assert_eq!(m["previous"]["path"], "q1/b/manifest.json");
    let o = verify(tmp.path(), &tmp.path().join("evidence/c"), &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("chain #3 back to #1"), "{}", o.stdout);
    // Verifying a directory above everything finds the tree and the standalone drill.
    let o = verify(tmp.path(), tmp.path(), &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("5 of 5 verified"), "{}", o.stdout);
    // A subtree without its own index: each drill walks its own chain.
    let o = verify(tmp.path(), &tmp.path().join("evidence/q1"), &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("2 of 2 verified"), "{}", o.stdout);
}

/// SIGKILL at spread-out instants of drills re-running into one directory: whenever the
/// process dies, `manifest.json` is absent or whole, the chain index and every archived copy
/// parse, and once a drill completes the whole tree verifies.
#[cfg(unix)]
#[test]
fn killed_drills_never_leave_a_half_written_manifest_or_index() {
    use drillbit::evidence::{Index, Manifest};
    let tmp = tempfile::tempdir().expect("tmp");
    let d = drill(tmp.path(), 1, &[]);
    let s = scenario();
    let chain = tmp.path().join("reports/.drillbit-chain");
    let whole = |p: &Path| -> Option<Vec<u8>> {
        match std::fs::read(p) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("{}: {e}", p.display()),
        }
    };
    let (mut absent, mut whole_manifests) = (0, 0);
    for i in 0..40u64 {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("drillbit"))
            .current_dir(tmp.path())
            .args(["run", s.to_str().expect("utf8"), "-q", "--seed", "1"])
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_micros(500 * i));
        let _ = child.kill();
        let _ = child.wait();
        match whole(&d.join("manifest.json")) {
            None => absent += 1,
            Some(b) => {
                serde_json::from_slice::<Manifest>(&b)
                    .unwrap_or_else(|e| panic!("kill at {i}: half-written manifest ({e})"));
                whole_manifests += 1;
            }
        }
        let index = whole(&chain.join("chain.json")).expect("index");
        let index: Index = serde_json::from_slice(&index).expect("whole index");
        for e in &index.entries {
            let copy = chain.join(format!("manifests/{:06}.json", e.sequence));
            serde_json::from_slice::<Manifest>(&whole(&copy).expect("archived copy")).expect("whole copy");
        }
    }
    assert!(whole_manifests > 0, "no kill landed after a seal ({absent} absent)");
    drill(tmp.path(), 1, &[]);
    let o = verify(tmp.path(), &tmp.path().join("reports"), &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
}

/// A key in the form drillbit wrote before it switched to PKCS#8 v1: v2 with the public key,
/// which OpenSSL 3.0 refuses. drillbit still signs with it.
const OLD_DRILLBIT_KEY: &str = "-----BEGIN PRIVATE KEY-----
MFECAQEwBQYDK2VwBCIEIHD6eUiYGJYa9Q2QoCLFcr6pT/ZeGsMdA7ju0A6wtAgQ
gSEArYT90jnxuxGjRZHBhib2dQKlDv8KYH92n1JSYuyoZnI=
-----END PRIVATE KEY-----
";

#[test]
fn keygen_writes_keys_openssl_reads_and_old_keys_still_sign() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (key, public) = keygen(tmp.path(), "k");
    let openssl = |args: &[&str], file: &Path| {
        std::process::Command::new("openssl")
            .arg("pkey")
            .args(args)
            .arg("-in")
            .arg(file)
            .arg("-noout")
            .output()
    };
    match openssl(&[], &key) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped the OpenSSL checks: no `openssl` binary ({e})");
        }
        Err(e) => panic!("openssl: {e}"),
        Ok(o) => {
            assert!(
                o.status.success(),
                "openssl pkey -in KEY: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let o = openssl(&["-pubin"], &public).expect("openssl");
            assert!(
                o.status.success(),
                "openssl pkey -pubin: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            // The public key OpenSSL derives from the private key is the one keygen wrote.
            let derived = std::process::Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(&key)
                .output()
                .expect("openssl");
            assert_eq!(
                String::from_utf8_lossy(&derived.stdout),
                std::fs::read_to_string(&public).expect("pub")
            );
        }
    }
    // The old v2 form is read back, signs, and verifies against its recorded key.
    std::fs::write(tmp.path().join("old.key"), OLD_DRILLBIT_KEY).expect("write");
    let d = drill(tmp.path(), 1, &["--sign-key", "old.key"]);
    let o = verify(tmp.path(), &d, &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("signed by rYT90jnx"), "{}", o.stdout);
}

/// The head line `verify` prints: `SEQ:HASH`.
fn head_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("head: "))
        .and_then(|h| h.split_whitespace().next())
        .unwrap_or_else(|| panic!("no head printed: {stdout}"))
        .to_string()
}

/// Removes the last drill of a tree the way a forger would: its directory, its index entry
/// (the index rewritten canonically) and its archived manifest.
fn truncate_last(tree: &Path) {
    use drillbit::evidence::{canonical, Index};
    let chain = tree.join(".drillbit-chain");
    let mut index: Index =
        serde_json::from_slice(&std::fs::read(chain.join("chain.json")).expect("index")).expect("index");
    let last = index.entries.pop().expect("an entry");
    let dir = tree.join(&last.path);
    std::fs::remove_dir_all(dir.parent().expect("drill dir")).expect("rm drill");
    std::fs::remove_file(chain.join(format!("manifests/{:06}.json", last.sequence))).expect("rm copy");
    std::fs::write(chain.join("chain.json"), canonical(&index)).expect("index");
}

#[test]
fn a_truncated_history_passes_unsigned_and_fails_signed_and_pinned() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (key, public) = keygen(tmp.path(), "k");
    let k = key.to_str().expect("utf8");
    let p = public.to_str().expect("utf8");
    for seed in 1..=3 {
        drill(tmp.path(), seed, &["--sign-key", k]);
    }
    let tree = tmp.path().join("reports");
    let o = verify(tmp.path(), &tree, &["--pub-key", p]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("signed head #3"), "{}", o.stdout);
    let head = head_of(&o.stdout);
    assert!(head.starts_with("3:") && head.len() == 66, "{head}");
    assert_eq!(verify(tmp.path(), &tree, &["--expect-head", &head]).code, 0);
    truncate_last(&tree);
    // Unsigned: the shorter tree is internally consistent, and verify says so (README).
    let o = verify(tmp.path(), &tree, &[]);
    assert_eq!(
        o.code, 1,
        "a signed head ahead of the index is named even unsigned: {}",
        o.stdout
    );
    std::fs::rename(tree.join(".drillbit-chain/head.json"), tmp.path().join("head.json")).expect("mv");
    let o = verify(tmp.path(), &tree, &[]);
    assert_eq!(o.code, 0, "unsigned verify cannot see a truncation: {}", o.stdout);
    std::fs::rename(tmp.path().join("head.json"), tree.join(".drillbit-chain/head.json")).expect("mv");
    // Signed: the head signature covers sequence 3.
    let o = verify(tmp.path(), &tree, &["--pub-key", p]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stdout.contains("the signed head is #3 but the index ends at #2"),
        "{}",
        o.stdout
    );
    // Signed, with the head deleted too: --pub-key requires one.
    std::fs::remove_file(tree.join(".drillbit-chain/head.json")).expect("rm head");
    let o = verify(tmp.path(), &tree, &["--pub-key", p]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("head.json: missing"), "{}", o.stdout);
    // Pinned: the recorded head.
    let o = verify(tmp.path(), &tree, &["--expect-head", &head]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("shorter than recorded"), "{}", o.stdout);
    // A bad --expect-head is a usage error.
    assert_eq!(verify(tmp.path(), &tree, &["--expect-head", "3"]).code, 2);
}

#[test]
fn forged_extensions_and_edits_fail_signed_and_pinned() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (key, public) = keygen(tmp.path(), "k");
    let k = key.to_str().expect("utf8");
    let p = public.to_str().expect("utf8");
    drill(tmp.path(), 1, &["--sign-key", k]);
    let d2 = drill(tmp.path(), 2, &["--sign-key", k]);
    let tree = tmp.path().join("reports");
    let head = head_of(&verify(tmp.path(), &tree, &[]).stdout);
    // A forger without the key appends a drill: consistent unsigned, not signed, not pinned.
    let (forger, _) = keygen(tmp.path(), "forger");
    drill(tmp.path(), 3, &["--sign-key", forger.to_str().expect("utf8")]);
    assert_eq!(verify(tmp.path(), &tree, &[]).code, 0);
    let o = verify(tmp.path(), &tree, &["--pub-key", p]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("head.json: signed by another key"), "{}", o.stdout);
    let o = verify(tmp.path(), &tree, &["--expect-head", &head]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("extended after the recorded head"), "{}", o.stdout);
    // An unsigned drill appended: the signed head falls behind.
    drill(tmp.path(), 4, &[]);
    let o = verify(tmp.path(), &tree, &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("sealed without a signing key"), "{}", o.stdout);
    // An edited scorecard fails in every mode.
    let sc = d2.join("scorecard.json");
    let text = std::fs::read_to_string(&sc).expect("scorecard");
    std::fs::write(&sc, text.replacen("\"seed\": 2", "\"seed\": 9", 1)).expect("write");
    for extra in [&[][..], &["--pub-key", p][..], &["--expect-head", &head][..]] {
        let o = verify(tmp.path(), &tree, extra);
        assert_eq!(o.code, 1, "{extra:?}: {}", o.stdout);
        assert!(o.stdout.contains("scorecard.json: sha256 mismatch"), "{}", o.stdout);
    }
}

#[cfg(unix)]
#[test]
fn verify_follows_no_symlink_and_counts_what_it_checked_and_skipped() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d1 = drill(tmp.path(), 1, &[]);
    drill(tmp.path(), 2, &[]);
    let tree = tmp.path().join("reports");
    // A drill elsewhere, linked into the tree: not followed, named, a failure.
    let outside = tmp.path().join("outside");
    let o = run(
        tmp.path(),
        &["run", scenario().to_str().expect("utf8"), "-q", "--out", "outside"],
    );
    assert!(matches!(o.code, 0 | 1), "{}", o.stderr);
    std::os::unix::fs::symlink(&outside, tree.join("pilot-light/linked")).expect("symlink");
    // A staging directory (a drill in progress or a dead one): skipped, not failed.
    std::fs::create_dir(tree.join("pilot-light/.drill-sim-seed9.drillbit-stage-4242")).expect("mkdir");
    let o = verify(tmp.path(), &tree, &[]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("FAILED  reports/pilot-light/linked"), "{}", o.stdout);
    assert!(o.stdout.contains("not followed"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("skipped reports/pilot-light/.drill-sim-seed9.drillbit-stage-4242"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("3 of 4 verified; 1 symlink not followed; 1 staging directory skipped (unpublished)"),
        "{}",
        o.stdout
    );
    // Named directly, a symlinked drill is not followed either.
    let o = verify(tmp.path(), &tree.join("pilot-light/linked"), &[]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    std::fs::remove_file(tree.join("pilot-light/linked")).expect("rm");
    let o = verify(tmp.path(), &tree, &[]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(
        o.stdout.contains("3 of 3 verified; 1 staging directory skipped"),
        "{}",
        o.stdout
    );
    // A file of a drill replaced by a symlink to an identical copy, and a symlinked
    // subdirectory: both named.
    let copy = tmp.path().join("copy.json");
    std::fs::copy(d1.join("scorecard.json"), &copy).expect("copy");
    std::fs::remove_file(d1.join("scorecard.json")).expect("rm");
    std::os::unix::fs::symlink(&copy, d1.join("scorecard.json")).expect("symlink");
    std::os::unix::fs::symlink(tmp.path(), d1.join("more")).expect("symlink");
    for dir in [&d1, &tree] {
        let o = verify(tmp.path(), dir, &[]);
        assert_eq!(o.code, 1, "{}", o.stdout);
        assert!(names(&o.stdout, "scorecard.json"), "{}", o.stdout);
        assert!(o.stdout.contains("more: symbolic link"), "{}", o.stdout);
    }
}
