//! Verification of one drill directory, or of everything in a reports tree: every difference
//! named, no symbolic link followed.

use std::path::{Component, Path, PathBuf};

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Signature, VerifyingKey};

use super::chain::{check_chain, verify_tree};
use super::files::{hash_file, read_regular, walk, Kind, Slurp};
use super::keys::{public_key_b64, recorded_key};
use super::manifest::{canonical, check_structure, safe_rel, Manifest};
use super::{stage_base, Error, MANIFEST, SIGNATURE};

pub struct VerifyOptions<'a> {
    /// Require a signature by this key on every manifest checked.
    pub pub_key: Option<&'a VerifyingKey>,
    /// Walk the chain back to its first manifest (a drill directory); check the tree's index.
    pub chain: bool,
    /// The head an auditor recorded (`SEQ`, SHA-256 of manifest #SEQ): the chain's head must be
    /// exactly this (not shorter, not longer, not another manifest).
    pub expect_head: Option<(u64, String)>,
}

/// What a report is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Class {
    /// A drill directory or a chain index, checked.
    #[default]
    Checked,
    /// A symbolic link met in the tree, not followed (a finding).
    Symlink,
    /// An entry that could not be read (a finding).
    Unreadable,
    /// An unpublished staging directory (a drill in progress or one that died): skipped.
    Staging,
}

/// What `verify` found about one drill directory or one chain.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The directory (or chain index) as the user named it.
    pub subject: String,
    /// What changed, one line each, naming the file; empty when verified.
    pub findings: Vec<String>,
    /// What was checked, for the success line.
    pub summary: String,
    /// Facts worth telling that are not failures (a superseded drill, a standalone one).
    pub notes: Vec<String>,
    pub class: Class,
    /// A chain's head, `SEQ:SHA256` of its last manifest (for `--expect-head`).
    pub head: Option<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Lexical normalisation for display: `a/b/../c` -> `a/c`.
pub(super) fn tidy(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let can_pop = matches!(out.components().next_back(), Some(Component::Normal(_)));
                if can_pop {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Verifies a drill directory (it holds `manifest.json`) or every drill and chain in a reports
/// tree. `Err` only for usage: nothing there to verify.
pub fn verify(path: &Path, opts: &VerifyOptions) -> Result<Vec<Report>, Error> {
    let lmeta = std::fs::symlink_metadata(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    if lmeta.file_type().is_symlink() {
        return Ok(vec![symlink_report(path)]);
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: not a directory (give a drill's output directory or a reports tree)",
            path.display()
        )));
    }
    if is_staging(path) {
        return Ok(vec![staging_report(path)]);
    }
    if std::fs::symlink_metadata(path.join(MANIFEST)).is_ok() {
        return Ok(vec![verify_drill(path, opts, ChainCheck::Walk)]);
    }
    verify_tree(path, opts)
}

pub(super) fn is_staging(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| stage_base(n).is_some())
}

pub(super) fn symlink_report(p: &Path) -> Report {
    let to = std::fs::read_link(p)
        .map(|t| format!(" (to {})", t.display()))
        .unwrap_or_default();
    Report {
        subject: p.display().to_string(),
        findings: vec![format!(
            "symbolic link{to}, not followed: verify reads nothing outside the tree, so what it points to is not verified"
        )],
        class: Class::Symlink,
        ..Report::default()
    }
}

pub(super) fn unreadable_report(p: &Path, e: &std::io::Error) -> Report {
    Report {
        subject: p.display().to_string(),
        findings: vec![format!("unreadable ({e}); not verified")],
        class: Class::Unreadable,
        ..Report::default()
    }
}

pub(super) fn staging_report(p: &Path) -> Report {
    Report {
        subject: p.display().to_string(),
        summary: "unpublished staging directory (a drill writing, or one that died); the next drill into that directory removes it"
            .into(),
        class: Class::Staging,
        ..Report::default()
    }
}

/// How a drill's place in its chain is checked.
pub(super) enum ChainCheck<'a> {
    /// Walk the chain back to #1 (when `VerifyOptions::chain`).
    Walk,
    /// The caller checked the chain: this manifest is the current one of that index.
    Known(&'a str),
}

/// One drill directory.
pub(super) fn verify_drill(dir: &Path, opts: &VerifyOptions, check: ChainCheck) -> Report {
    let mut r = Report {
        subject: dir.display().to_string(),
        ..Report::default()
    };
    let bytes = match read_regular(&dir.join(MANIFEST)) {
        Slurp::Bytes(b) => b,
        Slurp::Missing => {
            r.findings.push(format!("{MANIFEST}: missing"));
            return r;
        }
        Slurp::Problem(p) => {
            r.findings.push(format!("{MANIFEST}: {p}"));
            return r;
        }
    };
    let m: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            r.findings.push(format!("{MANIFEST}: not a valid manifest ({e})"));
            return r;
        }
    };
    if canonical(&m).as_bytes() != bytes.as_slice() {
        r.findings
            .push(format!("{MANIFEST}: not in canonical form (changed after sealing)"));
    }
    for b in check_structure(&m) {
        r.findings.push(format!("{MANIFEST}: {b}"));
    }
    // Files: every listed one as sealed, nothing else there.
    for f in &m.files {
        if !safe_rel(&f.path) {
            continue; // reported above; never read outside the directory
        }
        let p = dir.join(&f.path);
        match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                r.findings.push(format!("{}: missing", f.path));
                continue;
            }
            Err(e) => {
                r.findings.push(format!("{}: cannot read: {e}", f.path));
                continue;
            }
            Ok(meta) if !meta.is_file() => {
                r.findings.push(format!("{}: not a regular file", f.path));
                continue;
            }
            Ok(_) => {}
        }
        match hash_file(&p) {
            Err(e) => r.findings.push(format!("{}: cannot read: {e}", f.path)),
            Ok((sha, size)) => {
                if sha != f.sha256 {
                    let sizes = if size != f.size {
                        format!("; size {} bytes, sealed {}", size, f.size)
                    } else {
                        String::new()
                    };
                    r.findings.push(format!(
                        "{}: sha256 mismatch (expected {}, found {sha}){sizes}",
                        f.path, f.sha256
                    ));
                } else if size != f.size {
                    r.findings
                        .push(format!("{}: size {} bytes, manifest says {}", f.path, size, f.size));
                }
            }
        }
    }
    match walk(dir) {
        Err(e) => r.findings.push(format!("cannot list {}: {e}", dir.display())),
        Ok(found) => {
            for f in found {
                if m.files.iter().any(|l| l.path == f.rel) && f.utf8 {
                    continue;
                }
                let what = match f.kind {
                    Kind::File => "not in the manifest (added after sealing)",
                    Kind::Symlink => "symbolic link not in the manifest (added after sealing)",
                    Kind::Other => "special file not in the manifest (added after sealing)",
                    Kind::ChainDir => "a reports tree inside a drill directory, not in the manifest",
                };
                r.findings.push(format!("{}: {what}", f.rel));
            }
        }
    }
    // Signature.
    let mut signer = None;
    match (&m.signing, read_regular(&dir.join(SIGNATURE))) {
        (None, Slurp::Missing) => {
            if opts.pub_key.is_some() {
                r.findings.push(format!(
                    "{SIGNATURE}: missing: the drill is unsigned and --pub-key requires a signature"
                ));
            }
        }
        (None, _) => r.findings.push(format!(
            "{SIGNATURE}: present but the manifest records no signing key (added after sealing)"
        )),
        (Some(_), Slurp::Missing) => r
            .findings
            .push(format!("{SIGNATURE}: missing (the manifest says it is signed)")),
        (Some(_), Slurp::Problem(p)) => r.findings.push(format!("{SIGNATURE}: {p}")),
        (Some(info), Slurp::Bytes(sig_bytes)) => {
            let sig = std::str::from_utf8(&sig_bytes)
                .ok()
                .and_then(|s| s.strip_suffix('\n'))
                .and_then(|s| Base64::decode_vec(s).ok().map(|raw| (s, raw)))
                .filter(|(s, raw)| Base64::encode_string(raw) == *s)
                .and_then(|(_, raw)| <[u8; 64]>::try_from(raw).ok())
                .map(|raw| Signature::from_bytes(&raw));
            match (sig, recorded_key(info)) {
                (None, _) => r.findings.push(format!(
                    "{SIGNATURE}: not a signature (expected base64 of 64 bytes and a newline)"
                )),
                (_, Err(e)) => r.findings.push(format!("{MANIFEST}: {e}")),
                (Some(sig), Ok(recorded)) => {
                    let key = opts.pub_key.unwrap_or(&recorded);
                    if let Some(want) = opts.pub_key {
                        if want != &recorded {
                            r.findings.push(format!(
                                "{SIGNATURE}: signed by another key ({}), not the --pub-key ({})",
                                public_key_b64(&recorded),
                                public_key_b64(want)
                            ));
                        }
                    }
                    if key.verify_strict(&bytes, &sig).is_err() {
                        r.findings.push(format!(
                            "{SIGNATURE}: signature does not verify against {MANIFEST} with key {}",
                            public_key_b64(key)
                        ));
                    } else {
                        signer = Some(public_key_b64(key));
                    }
                }
            }
        }
    }
    let mut summary = format!("{} files", m.files.len());
    match (&m.chain_root, check) {
        (None, _) => {
            summary.push_str(", standalone (no chain)");
        }
        (Some(_), ChainCheck::Known(chain)) => summary.push_str(&format!(", #{} of {chain}", m.sequence)),
        (Some(_), ChainCheck::Walk) if !opts.chain => {
            summary.push_str(&format!(", #{} (chain not checked)", m.sequence))
        }
        (Some(up), ChainCheck::Walk) if up.is_empty() || !up.split('/').all(|c| c == "..") => {
            // Reported with the structure; never follow it.
        }
        (Some(up), ChainCheck::Walk) => {
            let n = r.findings.len();
            let head = check_chain(dir, up, &m, &bytes, opts, &mut r);
            if r.findings.len() == n {
                summary.push_str(&format!(", chain #{} back to #1{head}", m.sequence));
            }
        }
    }
    if let Some(k) = signer {
        summary.push_str(&format!(", signed by {k}"));
    }
    r.summary = summary;
    // The manifest itself and the chain first: when the manifest changed, the file "mismatches"
    // that follow are its doing.
    r.findings.sort_by_key(|f| {
        if f.starts_with(&format!("{MANIFEST}:")) {
            0
        } else if f.starts_with(&format!("{SIGNATURE}:")) {
            1
        } else if f.starts_with("chain:") {
            2
        } else {
            3
        }
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_paths() {
        assert_eq!(
            tidy(Path::new("r/a/b/../../x/manifest.json")),
            PathBuf::from("r/x/manifest.json")
        );
        assert_eq!(tidy(Path::new("./../../x")), PathBuf::from("../../x"));
    }
}
