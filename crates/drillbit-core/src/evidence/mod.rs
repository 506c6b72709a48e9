//! Tamper-evident evidence: the manifest of a drill's output directory, the hash chain of a
//! reports tree, ed25519 signatures, and their verification.
//!
//! **Manifest.** [`seal`] runs last, after a drill (or a Monte Carlo run) has written all its
//! files. It hashes every regular file in the output directory, recursively, except
//! `manifest.json` and `manifest.json.sig`, and writes `manifest.json` (schema
//! `drillbit.manifest/v1`, canonical: the pretty JSON of [`Manifest`] with a final newline;
//! `verify` rejects any other spelling of the same content).
//!
//! **Reports tree and chain.** A reports tree is a directory holding `.drillbit-chain/`. A drill
//! joins the tree of the nearest ancestor of its output directory that holds one (searched
//! upwards, as git finds `.git`). When there is none, the caller may name where a tree starts
//! (the CLI does so for the default layout `reports/<scenario>/<run>`: `reports/`); otherwise
//! the drill is sealed standalone (no chain). `.drillbit-chain/` holds:
//! - `chain.json` (schema `drillbit.chain/v1`): every manifest ever sealed in the tree, in
//!   order: sequence number, path (relative to the tree root) and SHA-256;
//! - `manifests/NNNNNN.json`: a copy of manifest number N, so that the chain stays checkable
//!   after a re-run into the same directory replaced that drill's manifest;
//! - `lock`: held (flock) while a drill extends the chain, so two concurrent drills never fork
//!   it: each gets its own sequence number and links to the other;
//! - `head.json` (schema `drillbit.head/v1`, written when the chain is extended with a key): the
//!   index's last sequence number, the SHA-256 of that manifest and of the index, signed. With
//!   `--pub-key`, `verify` requires it, so that deleting the last drill with its index entry
//!   and archived copy (consistent otherwise) is detected; `--expect-head SEQ:HASH` pins a head
//!   an auditor recorded.
//!
//! **Staged seal.** `run` and `simulate` write into a staging directory (named
//! `.<name>.drillbit-stage-<pid>`, holding [`STAGE_MARKER`]; `crate::outdir` makes it);
//! [`seal_staged`] hashes it, records the final directory in the chain, and publishes it (one
//! rename) holding the tree's lock, before the index is renamed into place.
//!
//! Each manifest records its sequence number, the way up to the tree root (`chain_root`, e.g.
//! `../..`) and `previous`: the path and SHA-256 of the manifest sealed just before it. A re-run
//! into an existing directory is a new link pointing at the previous head; the replaced
//! manifest survives as its archived copy.
//!
//! **Signature.** With a key, `manifest.json.sig` holds the ed25519 signature of the exact bytes
//! of `manifest.json`, base64 (standard alphabet, padded) and a newline; the manifest records
//! the public key. `verify` with `--pub-key` requires a signature by that key.
//!
//! **Verify** reports every difference by name, follows no symbolic link (each one met is a
//! finding) and skips unpublished staging directories; the library does no terminal I/O.
//!
//! **Layout.** `manifest` (the manifest and index records, their canonical spelling and field
//! checks), `files` (reading a directory without following links, hashing), `keys` (ed25519,
//! PKCS#8/SPKI PEM), `seal`, `head` (the signed chain head), `verify` (one drill directory),
//! `chain` (a drill's links, a tree's index, the scan of a tree), `timeline` (`timeline.json`).

use std::path::Path;

mod chain;
mod files;
mod head;
mod keys;
mod manifest;
mod seal;
mod timeline;
mod verify;

pub use head::{parse_head, Head};
pub use keys::{keygen, load_signing_key, load_verifying_key, public_key_b64};
pub use manifest::{
    canonical, rfc3339_utc, sha256_hex, FileEntry, Index, IndexEntry, Link, Manifest, SigningInfo, ToolRef,
};
pub use seal::{find_tree, seal, seal_staged, SealOptions, Sealed};
pub use timeline::timeline_json;
pub use verify::{verify, Class, Report, VerifyOptions};

pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.json.sig";
pub const CHAIN_DIR: &str = ".drillbit-chain";
pub const INDEX: &str = "chain.json";
pub const ARCHIVE: &str = "manifests";
pub const MANIFEST_SCHEMA: &str = "drillbit.manifest/v1";
pub const CHAIN_SCHEMA: &str = "drillbit.chain/v1";
pub const TIMELINE_SCHEMA: &str = "drillbit.timeline/v1";
pub const HEAD: &str = "head.json";
pub const HEAD_SCHEMA: &str = "drillbit.head/v1";
/// A file in every staging directory: drillbit's own, removable by the next drill; not sealed.
pub const STAGE_MARKER: &str = ".drillbit-stage";
/// `<parent>/.<name>` + this + `<pid>`: a staging directory (`verify` skips it).
pub const STAGE_INFIX: &str = ".drillbit-stage-";

/// Manifests, indexes, signatures and keys larger than this are refused unread.
const MAX_META_BYTES: u64 = 64 << 20;
/// How long a drill waits for another one to finish extending the chain.
const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input or usage: a key file, a directory that cannot hold a drill.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing failed, or the tree's chain index is damaged.
    #[error("{0}")]
    Io(String),
}

fn io_err(what: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", what.display()))
}

/// Whether `name` (one path component) is a staging directory's: `.<base>.drillbit-stage-<pid>`.
/// Returns the base name.
pub fn stage_base(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(STAGE_INFIX)?;
    let (base, tail) = (&rest[..at], &rest[at + STAGE_INFIX.len()..]);
    (!base.is_empty() && !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        assert_eq!(stage_base(".run.drillbit-stage-123"), Some("run"));
        assert_eq!(stage_base(".a.b.drillbit-stage-1"), Some("a.b"));
        for no in [
            "run",
            ".run.drillbit-stage-",
            ".run.drillbit-stage-12x",
            "..drillbit-stage-1",
            ".run.drillbit-lock",
        ] {
            assert_eq!(stage_base(no), None, "{no}");
        }
    }
}
