//! The manifest and the chain index: their records, their one canonical spelling, and the
//! checks of their fields.

use serde::{Deserialize, Serialize};

use super::{ARCHIVE, CHAIN_SCHEMA, MANIFEST, MANIFEST_SCHEMA, SIGNATURE};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRef {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the drill's directory, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// A link of the chain: the manifest sealed just before this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub sequence: u64,
    /// Relative to the reports tree root, `/`-separated, ending in `manifest.json`.
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningInfo {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The raw 32-byte public key, base64.
    pub public_key: String,
}

/// `manifest.json`, schema `drillbit.manifest/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub tool: ToolRef,
    /// UTC, RFC 3339 (`2026-05-01T12:00:00Z`).
    pub created: String,
    pub scenario: String,
    /// `drill` or `montecarlo`.
    pub kind: String,
    /// Position in the tree's chain, from 1; 1 for a standalone drill.
    pub sequence: u64,
    /// From this directory up to the reports tree root (`../..`); null when standalone.
    pub chain_root: Option<String>,
    /// The manifest sealed before this one in the tree; null for the first (or standalone).
    pub previous: Option<Link>,
    /// Every file of the directory but the manifest and its signature, sorted by path.
    pub files: Vec<FileEntry>,
    /// Present when `manifest.json.sig` holds a signature of this file.
    pub signing: Option<SigningInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    pub sequence: u64,
    pub path: String,
    pub sha256: String,
}

/// `.drillbit-chain/chain.json`, schema `drillbit.chain/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub schema: String,
    pub entries: Vec<IndexEntry>,
}

/// The one spelling of a manifest or index: pretty JSON and a newline.
pub fn canonical<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::scenario::sha256_hex(bytes)
}

/// A relative, `/`-separated path with only normal components: nothing that leaves the
/// directory it is relative to.
pub(super) fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.contains('\\')
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

pub(super) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// UTC, RFC 3339, whole seconds.
pub fn rfc3339_utc(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::timestamp::format_utc(secs as i64)
}

/// Parses an index strictly (schema, canonical spelling, sequences 1..n).
pub(super) fn parse_index(bytes: &[u8]) -> Result<Index, String> {
    let index: Index = serde_json::from_slice(bytes).map_err(|e| format!("not a chain index ({e})"))?;
    if index.schema != CHAIN_SCHEMA {
        return Err(format!("schema is `{}`, expected `{CHAIN_SCHEMA}`", index.schema));
    }
    if canonical(&index).as_bytes() != bytes {
        return Err("not in canonical form (edited by hand?)".into());
    }
    for (i, e) in index.entries.iter().enumerate() {
        if e.sequence != i as u64 + 1 {
            return Err(format!("entry {} has sequence {}", i + 1, e.sequence));
        }
        if !safe_rel(&e.path) || !(e.path == MANIFEST || e.path.ends_with(&format!("/{MANIFEST}"))) {
            return Err(format!("entry {}: bad path `{}`", i + 1, e.path));
        }
        if !is_hex64(&e.sha256) {
            return Err(format!("entry {}: bad sha256 `{}`", i + 1, e.sha256));
        }
    }
    Ok(index)
}

pub(super) fn archive_path(chain_dir: &Path, seq: u64) -> PathBuf {
    chain_dir.join(ARCHIVE).join(format!("{seq:06}.json"))
}

/// Checks the manifest's own structure; returns what is wrong.
pub(super) fn check_structure(m: &Manifest) -> Vec<String> {
    let mut bad = Vec::new();
    if m.schema != MANIFEST_SCHEMA {
        bad.push(format!("schema is `{}`, expected `{MANIFEST_SCHEMA}`", m.schema));
    }
    if !is_rfc3339_utc(&m.created) {
        bad.push(format!("created `{}` is not a UTC RFC 3339 time", m.created));
    }
    if !matches!(m.kind.as_str(), "drill" | "montecarlo" | "check") {
        bad.push(format!("kind `{}` is not drill, montecarlo or check", m.kind));
    }
    if m.sequence == 0 {
        bad.push("sequence is 0".into());
    }
    match (&m.chain_root, &m.previous) {
        (None, Some(_)) => bad.push("previous is set but chain_root is null".into()),
        (None, None) if m.sequence != 1 => bad.push(format!("standalone but sequence is {}", m.sequence)),
        (Some(r), _) if r.is_empty() || !r.split('/').all(|c| c == "..") => {
            bad.push(format!("chain_root `{r}` is not a path of `..`"));
        }
        _ => {}
    }
    match &m.previous {
        None if m.chain_root.is_some() && m.sequence != 1 => {
            bad.push(format!("sequence {} but no previous manifest", m.sequence));
        }
        Some(l) => {
            if l.sequence.checked_add(1) != Some(m.sequence) {
                bad.push(format!(
                    "previous.sequence {} does not precede {}",
                    l.sequence, m.sequence
                ));
            }
            if !safe_rel(&l.path) || !l.path.ends_with(MANIFEST) {
                bad.push(format!("previous.path `{}` is not a manifest path in the tree", l.path));
            }
            if !is_hex64(&l.sha256) {
                bad.push(format!("previous.sha256 `{}` is not a SHA-256", l.sha256));
            }
        }
        None => {}
    }
    let mut last: Option<&str> = None;
    for f in &m.files {
        if !safe_rel(&f.path) {
            bad.push(format!("file path `{}` leaves the directory or is empty", f.path));
        }
        if f.path == MANIFEST || f.path == SIGNATURE {
            bad.push(format!("lists `{}`", f.path));
        }
        if !is_hex64(&f.sha256) {
            bad.push(format!("{}: sha256 `{}` is not a SHA-256", f.path, f.sha256));
        }
        if last.is_some_and(|l| l >= f.path.as_str()) {
            bad.push(format!("files are not sorted and unique at `{}`", f.path));
        }
        last = Some(&f.path);
    }
    if let Some(s) = &m.signing {
        if s.algorithm != "ed25519" {
            bad.push(format!("signing.algorithm `{}` is not ed25519", s.algorithm));
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(crate::timestamp::civil_from_days(0), (1970, 1, 1));
        assert_eq!(crate::timestamp::civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(crate::timestamp::civil_from_days(-1), (1969, 12, 31));
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339_utc(t), "2024-02-29T12:34:56Z");
        assert!(is_rfc3339_utc(&rfc3339_utc(std::time::SystemTime::now())));
    }

    #[test]
    fn safe_paths_only() {
        for ok in ["a", "a/b.json", ".hidden"] {
            assert!(safe_rel(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b", "a/"] {
            assert!(!safe_rel(bad), "{bad}");
        }
    }
}
