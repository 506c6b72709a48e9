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
//! **Staged seal.** `run` and `simulate` write into a staging directory ([`crate::outdir`]);
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

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use base64ct::{Base64, Encoding};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::report::write_atomic;
use crate::scorecard::{EventOut, FailbackOut, PhaseOut, Scorecard, StepOut};

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

/// SHA-256 and size of a file, streamed.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((h.finalize().iter().map(|b| format!("{b:02x}")).collect(), size))
}

/// A file read whole, refused when it is not a regular file or is too large.
enum Slurp {
    Bytes(Vec<u8>),
    Missing,
    Problem(String),
}

fn read_regular(path: &Path) -> Slurp {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Slurp::Missing,
        Err(e) => return Slurp::Problem(format!("cannot read: {e}")),
    };
    if !meta.is_file() {
        return Slurp::Problem("not a regular file".into());
    }
    if meta.len() > MAX_META_BYTES {
        return Slurp::Problem(format!("larger than {MAX_META_BYTES} bytes"));
    }
    let mut bytes = Vec::new();
    match std::fs::File::open(path).and_then(|f| f.take(MAX_META_BYTES + 1).read_to_end(&mut bytes)) {
        Ok(_) => Slurp::Bytes(bytes),
        Err(e) => Slurp::Problem(format!("cannot read: {e}")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Symlink,
    Other,
    /// A `.drillbit-chain` directory: a tree root inside a drill's directory.
    ChainDir,
}

#[derive(Debug)]
struct Found {
    rel: String,
    utf8: bool,
    kind: Kind,
}

/// Every entry below `dir` (recursing into directories), sorted by relative path, without the
/// manifest and its signature at the top level.
fn walk(dir: &Path) -> std::io::Result<Vec<Found>> {
    fn go(base: &Path, prefix: &str, out: &mut Vec<Found>) -> std::io::Result<()> {
        for e in std::fs::read_dir(base)? {
            let e = e?;
            let name = e.file_name();
            let (name, utf8) = match name.to_str() {
                Some(n) => (n.to_string(), true),
                None => (name.to_string_lossy().into_owned(), false),
            };
            if prefix.is_empty() && (name == MANIFEST || name == SIGNATURE) {
                continue;
            }
            let rel = format!("{prefix}{name}");
            let ft = e.file_type()?;
            if ft.is_dir() {
                if name == CHAIN_DIR {
                    out.push(Found {
                        rel,
                        utf8,
                        kind: Kind::ChainDir,
                    });
                } else {
                    go(&e.path(), &format!("{rel}/"), out)?;
                }
            } else {
                let kind = if ft.is_file() {
                    Kind::File
                } else if ft.is_symlink() {
                    Kind::Symlink
                } else {
                    Kind::Other
                };
                out.push(Found { rel, utf8, kind });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(dir, "", &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// A relative, `/`-separated path with only normal components: nothing that leaves the
/// directory it is relative to.
fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.contains('\\')
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_rfc3339_utc(s: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------
// Keys

fn read_key_file(path: &Path) -> Result<String, Error> {
    let bytes = match read_regular(path) {
        Slurp::Bytes(b) => b,
        Slurp::Missing => return Err(Error::Invalid(format!("{}: no such file", path.display()))),
        Slurp::Problem(p) => return Err(Error::Invalid(format!("{}: {p}", path.display()))),
    };
    String::from_utf8(bytes).map_err(|_| Error::Invalid(format!("{}: not a PEM file (not text)", path.display())))
}

/// An ed25519 private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as written by
/// `drillbit keygen` or `openssl genpkey -algorithm ed25519`.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, Error> {
    let text = read_key_file(path)?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        Error::Invalid(format!(
            "{}: not an ed25519 private key in PKCS#8 PEM ({e}); make one with `drillbit keygen --out FILE`",
            path.display()
        ))
    })
}

/// An ed25519 public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as written by
/// `drillbit keygen` (FILE.pub) or `openssl pkey -pubout`.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, Error> {
    let text = read_key_file(path)?;
    VerifyingKey::from_public_key_pem(&text).map_err(|e| {
        Error::Invalid(format!(
            "{}: not an ed25519 public key in PEM ({e}); `drillbit keygen` writes one beside the private key",
            path.display()
        ))
    })
}

pub fn public_key_b64(k: &VerifyingKey) -> String {
    Base64::encode_string(k.as_bytes())
}

/// Writes a new private key to `out` (PKCS#8 PEM, mode 0600) and its public key to
/// `out` + `.pub` (SPKI PEM). Refuses to overwrite either.
pub fn keygen(out: &Path) -> Result<(PathBuf, VerifyingKey), Error> {
    let mut pub_name = out.as_os_str().to_owned();
    pub_name.push(".pub");
    let pub_path = PathBuf::from(pub_name);
    for p in [out, pub_path.as_path()] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(Error::Invalid(format!(
                "{}: already exists; not overwriting a key",
                p.display()
            )));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io(format!("no randomness from the OS: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    // PKCS#8 v1 (RFC 8410: the seed only). The v2 form with the public key that
    // `SigningKey::to_pkcs8_pem` writes is refused by OpenSSL 3.0 (`openssl pkey` says
    // "unsupported"); both forms are read back.
    let private = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
    .map_err(|e| Error::Io(format!("encoding the key: {e}")))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| Error::Io(format!("encoding the public key: {e}")))?;
    write_new(out, private.as_bytes(), 0o600)?;
    write_new(&pub_path, public.as_bytes(), 0o644)?;
    Ok((pub_path, key.verifying_key()))
}

/// Creates a file that must not exist yet, with `mode` from the start (unix), and syncs it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o
        .open(path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(path, e))
}

// ---------------------------------------------------------------------------------------------
// Timeline

#[derive(Serialize)]
struct TimelineFile<'a> {
    schema: &'static str,
    scenario: &'a str,
    target: &'a str,
    seed: u64,
    /// Seconds since the start of the drill.
    t_fault_s: Option<f64>,
    /// Seconds since the start of the drill.
    events: &'a [EventOut],
    /// Seconds since t_fault.
    phases: &'a [PhaseOut],
    /// Seconds since t_fault.
    steps: &'a [StepOut],
    failback: &'a Option<FailbackOut>,
}

/// `timeline.json`: the drill's timeline (every event, the phases and step spans), the same
/// data as in the scorecard, on its own for readers that want only the timeline.
pub fn timeline_json(sc: &Scorecard) -> String {
    canonical(&TimelineFile {
        schema: TIMELINE_SCHEMA,
        scenario: &sc.scenario.name,
        target: &sc.target,
        seed: sc.seed,
        t_fault_s: sc.measured.t_fault_s,
        events: &sc.events,
        phases: &sc.phases,
        steps: &sc.steps,
        failback: &sc.failback,
    })
}

// ---------------------------------------------------------------------------------------------
// Seal

pub struct SealOptions<'a> {
    /// `drill` or `montecarlo`.
    pub kind: &'a str,
    pub scenario: &'a str,
    /// Files written into the directory before it is sealed: (name, contents), e.g. the
    /// scenario's source as `scenario.yaml`.
    pub inputs: Vec<(&'a str, String)>,
    /// Where a tree starts when no ancestor of the directory holds one; must be an ancestor.
    /// None: seal standalone then.
    pub start_tree_at: Option<&'a Path>,
    pub key: Option<&'a SigningKey>,
}

#[derive(Debug)]
pub struct Sealed {
    pub manifest: PathBuf,
    pub sequence: u64,
    /// The reports tree root (canonical), when chained.
    pub root: Option<PathBuf>,
    pub files: usize,
    pub signed: bool,
}

/// The nearest ancestor of `dir` (canonical) that holds `.drillbit-chain/`.
pub fn find_tree(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .skip(1)
        .find(|a| a.join(CHAIN_DIR).is_dir())
        .map(Path::to_path_buf)
}

/// `/`-joined path of `dir` below `root` (both canonical).
fn rel_below(root: &Path, dir: &Path) -> Result<String, Error> {
    let rel = dir.strip_prefix(root).map_err(|_| {
        Error::Invalid(format!(
            "{} is not below the reports tree {}",
            dir.display(),
            root.display()
        ))
    })?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) if s == CHAIN_DIR => {
                return Err(Error::Invalid(format!(
                    "{}: inside the tree's own {CHAIN_DIR}/",
                    dir.display()
                )))
            }
            Component::Normal(s) => parts.push(
                s.to_str()
                    .ok_or_else(|| Error::Invalid(format!("{}: path is not UTF-8", dir.display())))?
                    .to_string(),
            ),
            _ => return Err(Error::Invalid(format!("{}: unexpected path", dir.display()))),
        }
    }
    if parts.is_empty() {
        return Err(Error::Invalid(format!(
            "{} is the reports tree root itself",
            dir.display()
        )));
    }
    Ok(parts.join("/"))
}

/// Holds the tree's lock file; released when dropped (the file is closed).
struct TreeLock(#[allow(dead_code)] std::fs::File);

fn lock_tree(chain_dir: &Path) -> Result<TreeLock, Error> {
    let path = chain_dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        let start = std::time::Instant::now();
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is passed.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock if start.elapsed() < LOCK_TIMEOUT => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                std::io::ErrorKind::WouldBlock => {
                    return Err(Error::Io(format!(
                        "{}: still locked by another drill after {}s",
                        path.display(),
                        LOCK_TIMEOUT.as_secs()
                    )))
                }
                _ => return Err(io_err(&path, e)),
            }
        }
    }
    Ok(TreeLock(f))
}

/// Parses an index strictly (schema, canonical spelling, sequences 1..n).
fn parse_index(bytes: &[u8]) -> Result<Index, String> {
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

fn archive_path(chain_dir: &Path, seq: u64) -> PathBuf {
    chain_dir.join(ARCHIVE).join(format!("{seq:06}.json"))
}

/// Seals `dir` in place: writes `opts.inputs`, hashes every file, writes `manifest.json` (and
/// `manifest.json.sig` with a key) and, in a reports tree, extends the tree's chain.
pub fn seal(dir: &Path, opts: &SealOptions) -> Result<Sealed, Error> {
    seal_staged(dir, dir, opts, &mut || Ok(()))
}

/// The absolute, symlink-resolved path `dest` will have: its parent canonical, its own name.
fn final_path(dest: &Path) -> Result<PathBuf, Error> {
    if let Ok(c) = dest.canonicalize() {
        return Ok(c);
    }
    let name = dest
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a directory's name", dest.display())))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(parent.canonicalize().map_err(|e| io_err(parent, e))?.join(name))
}

/// Seals the drill written in `stage` that `publish` will put at `dest`: the files are hashed
/// and the manifest written in `stage`; the chain records `dest`. In a reports tree, `publish`
/// runs holding the tree's lock, after the manifest (and its archived copy) is written and
/// before the index is extended: a crash before the rename leaves the previous drill and the
/// index as they were (the archived copy of the unused sequence number is overwritten by the
/// next seal); a crash after it leaves a manifest the index does not list, which `verify`
/// names ("not in the chain index"). A top-level [`crate::outdir::STAGE_MARKER`] is not
/// listed: `publish` removes it.
pub fn seal_staged(
    stage: &Path,
    dest: &Path,
    opts: &SealOptions,
    publish: &mut dyn FnMut() -> Result<(), Error>,
) -> Result<Sealed, Error> {
    let stage_canon = stage.canonicalize().map_err(|e| io_err(stage, e))?;
    let dir_canon = if stage == dest {
        stage_canon.clone()
    } else {
        final_path(dest)?
    };
    if stage_canon.join(CHAIN_DIR).exists() || dir_canon.join(CHAIN_DIR).exists() {
        return Err(Error::Invalid(format!(
            "{}: is a reports tree root (holds {CHAIN_DIR}/); write drills into directories below it",
            dest.display()
        )));
    }
    for (name, body) in &opts.inputs {
        let p = stage.join(name);
        write_atomic(&p, body).map_err(|e| io_err(&p, e))?;
    }
    // The manifest and signature of an earlier seal of this directory (a re-run) describe
    // files that have just been replaced: remove them first, so a seal that fails leaves an
    // unsealed directory rather than a stale manifest.
    let sig_path = stage.join(SIGNATURE);
    let manifest_path = stage.join(MANIFEST);
    for p in [&sig_path, &manifest_path] {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(p, e)),
        }
    }
    let mut files = Vec::new();
    for f in walk(&stage_canon).map_err(|e| io_err(stage, e))? {
        if f.rel == crate::outdir::STAGE_MARKER && stage != dest {
            continue;
        }
        let shown = dest.join(&f.rel);
        if !f.utf8 {
            return Err(Error::Invalid(format!("{}: file name is not UTF-8", shown.display())));
        }
        match f.kind {
            Kind::File => {}
            Kind::Symlink => {
                return Err(Error::Invalid(format!(
                    "{}: is a symbolic link; evidence holds regular files only",
                    shown.display()
                )))
            }
            Kind::Other => {
                return Err(Error::Invalid(format!(
                    "{}: not a regular file; evidence holds regular files only",
                    shown.display()
                )))
            }
            Kind::ChainDir => {
                return Err(Error::Invalid(format!(
                    "{}: a reports tree inside a drill's directory",
                    shown.display()
                )))
            }
        }
        let (sha256, size) = hash_file(&stage_canon.join(&f.rel)).map_err(|e| io_err(&shown, e))?;
        files.push(FileEntry {
            path: f.rel,
            sha256,
            size,
        });
    }
    let root = match find_tree(&dir_canon) {
        Some(r) => Some(r),
        None => match opts.start_tree_at {
            Some(start) => {
                let chain = start.join(CHAIN_DIR);
                std::fs::create_dir_all(&chain).map_err(|e| io_err(&chain, e))?;
                let start = start.canonicalize().map_err(|e| io_err(start, e))?;
                if !dir_canon.starts_with(&start) || dir_canon == start {
                    return Err(Error::Invalid(format!(
                        "{} is not below {}",
                        dest.display(),
                        start.display()
                    )));
                }
                Some(start)
            }
            None => None,
        },
    };
    let mut manifest = Manifest {
        schema: MANIFEST_SCHEMA.into(),
        tool: ToolRef {
            name: "drillbit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        created: rfc3339_utc(std::time::SystemTime::now()),
        scenario: opts.scenario.into(),
        kind: opts.kind.into(),
        sequence: 1,
        chain_root: None,
        previous: None,
        files,
        signing: opts.key.map(|k| SigningInfo {
            algorithm: "ed25519".into(),
            public_key: public_key_b64(&k.verifying_key()),
        }),
    };
    let n_files = manifest.files.len();
    let write_sealed = |manifest: &Manifest| -> Result<String, Error> {
        let text = canonical(manifest);
        write_atomic(&manifest_path, &text).map_err(|e| io_err(&manifest_path, e))?;
        if let Some(k) = opts.key {
            let sig: Signature = k.sign(text.as_bytes());
            let body = format!("{}\n", Base64::encode_string(&sig.to_bytes()));
            write_atomic(&sig_path, &body).map_err(|e| io_err(&sig_path, e))?;
        }
        Ok(text)
    };
    let Some(root) = root else {
        write_sealed(&manifest)?;
        publish()?;
        return Ok(Sealed {
            manifest: dest.join(MANIFEST),
            sequence: 1,
            root: None,
            files: n_files,
            signed: opts.key.is_some(),
        });
    };
    let rel = rel_below(&root, &dir_canon)?;
    let chain = root.join(CHAIN_DIR);
    let archive = chain.join(ARCHIVE);
    std::fs::create_dir_all(&archive).map_err(|e| io_err(&archive, e))?;
    let _lock = lock_tree(&chain)?;
    let index_path = chain.join(INDEX);
    let mut index = match read_regular(&index_path) {
        Slurp::Missing => Index {
            schema: CHAIN_SCHEMA.into(),
            entries: Vec::new(),
        },
        Slurp::Bytes(b) => parse_index(&b).map_err(|e| {
            Error::Io(format!(
                "{}: {e}; not extending a damaged chain (`drillbit verify {}` says what changed)",
                index_path.display(),
                root.display()
            ))
        })?,
        Slurp::Problem(p) => return Err(Error::Io(format!("{}: {p}", index_path.display()))),
    };
    let seq = index.entries.len() as u64 + 1;
    manifest.sequence = seq;
    manifest.chain_root = Some(vec![".."; rel.split('/').count()].join("/"));
    manifest.previous = index.entries.last().map(|e| Link {
        sequence: e.sequence,
        path: e.path.clone(),
        sha256: e.sha256.clone(),
    });
    let text = canonical(&manifest);
    // Order: archived copy, manifest (and signature), the new index written and synced beside
    // the old one, publish, then the index renamed into place and the signed head. A crash
    // before the publish leaves the previous drill and index; the next drill takes the same
    // sequence number and overwrites the archived copy. A crash between the two renames (a
    // few microseconds) leaves a published manifest the index does not list: verify names it
    // ("not in the chain index") until the next drill into that directory replaces it.
    let copy = archive_path(&chain, seq);
    write_atomic(&copy, &text).map_err(|e| io_err(&copy, e))?;
    write_sealed(&manifest)?;
    let sha = sha256_hex(text.as_bytes());
    index.entries.push(IndexEntry {
        sequence: seq,
        path: format!("{rel}/{MANIFEST}"),
        sha256: sha.clone(),
    });
    let index_text = canonical(&index);
    let pending = Pending::write(&index_path, &index_text).map_err(|e| io_err(&index_path, e))?;
    publish()?;
    pending.commit().map_err(|e| io_err(&index_path, e))?;
    if let Some(k) = opts.key {
        let head = sign_head(k, seq, &sha, &sha256_hex(index_text.as_bytes()));
        let p = chain.join(HEAD);
        write_atomic(&p, &canonical(&head)).map_err(|e| io_err(&p, e))?;
    }
    Ok(Sealed {
        manifest: dest.join(MANIFEST),
        sequence: seq,
        root: Some(root),
        files: n_files,
        signed: opts.key.is_some(),
    })
}

/// A file written and synced under a temporary name, renamed into place by `commit`; removed
/// when dropped uncommitted.
struct Pending {
    tmp: PathBuf,
    path: PathBuf,
    done: bool,
}

impl Pending {
    fn write(path: &Path, contents: &str) -> std::io::Result<Pending> {
        use std::io::Write;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
        let p = Pending {
            tmp,
            path: path.to_path_buf(),
            done: false,
        };
        let mut f = std::fs::File::create(&p.tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        Ok(p)
    }

    fn commit(mut self) -> std::io::Result<()> {
        std::fs::rename(&self.tmp, &self.path)?;
        self.done = true;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// What a signed head signs: the canonical JSON of this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadBody {
    pub schema: String,
    /// The number of entries of the index (its last sequence number).
    pub sequence: u64,
    /// SHA-256 of the last entry's manifest.
    pub manifest_sha256: String,
    /// SHA-256 of `chain.json` as written with this entry.
    pub index_sha256: String,
    /// UTC, RFC 3339.
    pub created: String,
    /// The raw 32-byte ed25519 public key, base64.
    pub public_key: String,
}

/// `.drillbit-chain/head.json`, schema `drillbit.head/v1`: the chain's head, signed. The
/// signature covers the canonical JSON of [`HeadBody`] (every field here but `signature`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub schema: String,
    pub sequence: u64,
    pub manifest_sha256: String,
    pub index_sha256: String,
    pub created: String,
    pub public_key: String,
    /// ed25519 signature of the canonical JSON of the body, base64.
    pub signature: String,
}

impl Head {
    pub fn body(&self) -> HeadBody {
        HeadBody {
            schema: self.schema.clone(),
            sequence: self.sequence,
            manifest_sha256: self.manifest_sha256.clone(),
            index_sha256: self.index_sha256.clone(),
            created: self.created.clone(),
            public_key: self.public_key.clone(),
        }
    }
}

fn sign_head(k: &SigningKey, seq: u64, manifest_sha: &str, index_sha: &str) -> Head {
    let body = HeadBody {
        schema: HEAD_SCHEMA.into(),
        sequence: seq,
        manifest_sha256: manifest_sha.into(),
        index_sha256: index_sha.into(),
        created: rfc3339_utc(std::time::SystemTime::now()),
        public_key: public_key_b64(&k.verifying_key()),
    };
    let sig: Signature = k.sign(canonical(&body).as_bytes());
    Head {
        schema: body.schema,
        sequence: body.sequence,
        manifest_sha256: body.manifest_sha256,
        index_sha256: body.index_sha256,
        created: body.created,
        public_key: body.public_key,
        signature: Base64::encode_string(&sig.to_bytes()),
    }
}

// ---------------------------------------------------------------------------------------------
// Verify

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

/// Parses `SEQ:HASH` (`verify --expect-head`).
pub fn parse_head(s: &str) -> Result<(u64, String), Error> {
    let bad = || {
        Error::Invalid(format!(
            "--expect-head `{s}`: expected SEQ:SHA256 as `verify` prints it (`head: 7:ab12...`)"
        ))
    };
    let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    let hash = hash.to_ascii_lowercase();
    if seq == 0 || !is_hex64(&hash) {
        return Err(bad());
    }
    Ok((seq, hash))
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
fn tidy(p: &Path) -> PathBuf {
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

fn is_staging(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| crate::outdir::stage_base(n).is_some())
}

fn symlink_report(p: &Path) -> Report {
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

fn unreadable_report(p: &Path, e: &std::io::Error) -> Report {
    Report {
        subject: p.display().to_string(),
        findings: vec![format!("unreadable ({e}); not verified")],
        class: Class::Unreadable,
        ..Report::default()
    }
}

fn staging_report(p: &Path) -> Report {
    Report {
        subject: p.display().to_string(),
        summary: "unpublished staging directory (a drill writing, or one that died); the next drill into that directory removes it"
            .into(),
        class: Class::Staging,
        ..Report::default()
    }
}

/// Whether `rel` (below `root`) can be read without following a symbolic link: none of its
/// components (the last included) is one.
fn no_symlink_below(root: &Path, rel: &str) -> Result<(), String> {
    let mut p = root.to_path_buf();
    for c in rel.split('/') {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!("goes through a symbolic link ({}), not followed", p.display()))
            }
            Ok(_) => {}
            Err(_) => return Ok(()), // missing: the caller says so
        }
    }
    Ok(())
}

/// Checks the manifest's own structure; returns what is wrong.
fn check_structure(m: &Manifest) -> Vec<String> {
    let mut bad = Vec::new();
    if m.schema != MANIFEST_SCHEMA {
        bad.push(format!("schema is `{}`, expected `{MANIFEST_SCHEMA}`", m.schema));
    }
    if !is_rfc3339_utc(&m.created) {
        bad.push(format!("created `{}` is not a UTC RFC 3339 time", m.created));
    }
    if m.kind != "drill" && m.kind != "montecarlo" {
        bad.push(format!("kind `{}` is neither drill nor montecarlo", m.kind));
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

/// The key a manifest records.
fn recorded_key(s: &SigningInfo) -> Result<VerifyingKey, String> {
    let raw = Base64::decode_vec(&s.public_key).map_err(|_| "signing.public_key is not base64".to_string())?;
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| "signing.public_key is not 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&raw).map_err(|_| "signing.public_key is not an ed25519 key".to_string())
}

/// How a drill's place in its chain is checked.
enum ChainCheck<'a> {
    /// Walk the chain back to #1 (when `VerifyOptions::chain`).
    Walk,
    /// The caller checked the chain: this manifest is the current one of that index.
    Known(&'a str),
}

/// One drill directory.
fn verify_drill(dir: &Path, opts: &VerifyOptions, check: ChainCheck) -> Report {
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

/// Reads the chain index of a tree root.
fn load_index(root: &Path) -> Result<Index, String> {
    let p = root.join(CHAIN_DIR).join(INDEX);
    match read_regular(&p) {
        Slurp::Bytes(b) => parse_index(&b),
        Slurp::Missing => Err("missing".into()),
        Slurp::Problem(p) => Err(p),
    }
}

/// Where the manifest of chain entry `seq` (linked as `link`) is: the live file when it is
/// unchanged, else the archived copy when a later re-run replaced the live one.
fn resolve_link(root: &Path, index: &Index, link: &Link) -> Result<(Vec<u8>, Option<String>), String> {
    no_symlink_below(root, &link.path)?;
    let live = match read_regular(&root.join(&link.path)) {
        Slurp::Bytes(b) => Some(b),
        Slurp::Missing => None,
        Slurp::Problem(p) => return Err(format!("is unreadable ({p})")),
    };
    if let Some(b) = &live {
        if sha256_hex(b) == link.sha256 {
            return Ok((b.clone(), None));
        }
    }
    // A later entry at the same path whose manifest is the live one: a re-run replaced it.
    let live_sha = live.as_deref().map(sha256_hex);
    let replaced_by = index
        .entries
        .iter()
        .filter(|e| e.sequence > link.sequence && e.path == link.path)
        .find(|e| Some(&e.sha256) == live_sha.as_ref())
        .map(|e| e.sequence);
    let Some(by) = replaced_by else {
        return Err(match live_sha {
            None => "is missing".into(),
            Some(found) => format!("changed (expected sha256 {}, found {found})", link.sha256),
        });
    };
    let copy = archive_path(&root.join(CHAIN_DIR), link.sequence);
    match read_regular(&copy) {
        Slurp::Bytes(b) if sha256_hex(&b) == link.sha256 => Ok((
            b,
            Some(format!(
                "#{} ({}) was replaced by a re-run, #{by}; linked through its archived copy",
                link.sequence, link.path
            )),
        )),
        _ => Err(format!(
            "was replaced by a re-run (#{by}) and its archived copy {} does not match",
            copy.display()
        )),
    }
}

/// Walks the chain from manifest `m` (in `dir`, `up` to the root) back to the first one.
fn check_chain(dir: &Path, up: &str, m: &Manifest, bytes: &[u8], opts: &VerifyOptions, r: &mut Report) -> String {
    let root_shown = tidy(&dir.join(up));
    let root = match dir.join(up).canonicalize() {
        Ok(p) => p,
        Err(e) => {
            r.findings
                .push(format!("chain: tree root {} unreadable: {e}", root_shown.display()));
            return String::new();
        }
    };
    let index_shown = root_shown.join(CHAIN_DIR).join(INDEX);
    let index = match load_index(&root) {
        Ok(i) => i,
        Err(e) => {
            r.findings.push(format!("chain: index {}: {e}", index_shown.display()));
            return String::new();
        }
    };
    let head = check_head(&root, &root_shown, &index, opts, r);
    // This manifest is the one the index recorded, at this place.
    let here = dir
        .canonicalize()
        .ok()
        .and_then(|d| rel_below(&root, &d).ok())
        .map(|rel| format!("{rel}/{MANIFEST}"));
    let sha = sha256_hex(bytes);
    if m.sequence == 0 {
        return head; // reported with the structure
    }
    match index.entries.get(m.sequence as usize - 1) {
        None => r.findings.push(format!(
            "{MANIFEST}: #{} is not in the chain index {} (it has {} entries)",
            m.sequence,
            index_shown.display(),
            index.entries.len()
        )),
        Some(e) => {
            if Some(&e.path) != here.as_ref() {
                r.findings.push(format!(
                    "chain: index {} records #{} at {}, not here",
                    index_shown.display(),
                    m.sequence,
                    e.path
                ));
            }
            if e.sha256 != sha {
                r.findings.push(format!(
                    "{MANIFEST}: sha256 mismatch with chain entry #{} in {} (expected {}, found {sha})",
                    m.sequence,
                    index_shown.display(),
                    e.sha256
                ));
            }
        }
    }
    let mut link = m.previous.clone();
    let mut expect = m.sequence - 1;
    while let Some(l) = link {
        if !safe_rel(&l.path) {
            r.findings.push(format!(
                "chain: a link path `{}` leaves the tree (#{})",
                l.path, l.sequence
            ));
            return String::new();
        }
        let shown = root_shown.join(&l.path);
        if l.sequence != expect || expect == 0 {
            r.findings.push(format!(
                "chain: link to {} has sequence {}, expected {expect}",
                shown.display(),
                l.sequence
            ));
            return String::new();
        }
        let indexed = index.entries.get(l.sequence as usize - 1);
        if indexed.is_none_or(|e| e.path != l.path || e.sha256 != l.sha256) {
            r.findings.push(format!(
                "chain: index entry #{} disagrees with the link to {}",
                l.sequence,
                shown.display()
            ));
        }
        let (b, note) = match resolve_link(&root, &index, &l) {
            Ok(x) => x,
            Err(why) => {
                r.findings
                    .push(format!("chain: previous manifest {} {why}", shown.display()));
                return String::new();
            }
        };
        if let Some(n) = note {
            r.notes.push(n);
        }
        match serde_json::from_slice::<Manifest>(&b) {
            Ok(pm) if pm.sequence == l.sequence => link = pm.previous,
            Ok(pm) => {
                r.findings.push(format!(
                    "chain: {} says it is #{}, the link says #{}",
                    shown.display(),
                    pm.sequence,
                    l.sequence
                ));
                return String::new();
            }
            Err(e) => {
                r.findings
                    .push(format!("chain: {} is not a manifest ({e})", shown.display()));
                return String::new();
            }
        }
        expect -= 1;
    }
    if expect != 0 {
        r.findings
            .push(format!("chain: ends at #{} without reaching #1", expect + 1));
    }
    head
}

/// Every chain index and every drill directory under `path`, and what was not followed: a
/// symbolic link, an unreadable directory, a staging directory.
struct Scan {
    roots: Vec<PathBuf>,
    drills: Vec<PathBuf>,
    others: Vec<Report>,
}

fn scan(path: &Path) -> std::io::Result<Scan> {
    fn go(d: &Path, top: bool, out: &mut Scan) -> std::io::Result<()> {
        match std::fs::symlink_metadata(d.join(CHAIN_DIR)) {
            Ok(m) if m.file_type().is_symlink() => out.others.push(symlink_report(&d.join(CHAIN_DIR))),
            Ok(m) if m.is_dir() => out.roots.push(d.to_path_buf()),
            _ => {}
        }
        if std::fs::symlink_metadata(d.join(MANIFEST)).is_ok() {
            out.drills.push(d.to_path_buf());
            return Ok(());
        }
        let rd = match std::fs::read_dir(d) {
            Ok(rd) => rd,
            Err(e) if top => return Err(e),
            Err(e) => {
                out.others.push(unreadable_report(d, &e));
                return Ok(());
            }
        };
        let mut subs: Vec<PathBuf> = Vec::new();
        for e in rd {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    out.others.push(unreadable_report(d, &err));
                    continue;
                }
            };
            let ft = match e.file_type() {
                Ok(ft) => ft,
                Err(err) => {
                    out.others.push(unreadable_report(&e.path(), &err));
                    continue;
                }
            };
            if ft.is_symlink() {
                out.others.push(symlink_report(&e.path()));
            } else if ft.is_dir() && e.file_name() != CHAIN_DIR {
                if is_staging(&e.path()) {
                    out.others.push(staging_report(&e.path()));
                } else {
                    subs.push(e.path());
                }
            }
        }
        subs.sort();
        for s in subs {
            go(&s, false, out)?;
        }
        Ok(())
    }
    let mut out = Scan {
        roots: Vec::new(),
        drills: Vec::new(),
        others: Vec::new(),
    };
    go(path, true, &mut out)?;
    out.others.sort_by(|a, b| a.subject.cmp(&b.subject));
    Ok(out)
}

/// The head of a tree's chain: its signed head (required with `--pub-key`; one that is ahead
/// of the index means the history was truncated) and the head an auditor pinned. Sets
/// `r.head`; returns what to add to the summary.
fn check_head(root: &Path, root_shown: &Path, index: &Index, opts: &VerifyOptions, r: &mut Report) -> String {
    let (n, last_sha) = index
        .entries
        .last()
        .map(|e| (e.sequence, e.sha256.clone()))
        .unwrap_or((0, String::new()));
    if n > 0 {
        r.head = Some(format!("{n}:{last_sha}"));
    }
    let shown = root_shown.join(CHAIN_DIR).join(HEAD);
    let mut summary = String::new();
    match read_regular(&root.join(CHAIN_DIR).join(HEAD)) {
        Slurp::Missing => {
            if opts.pub_key.is_some() {
                r.findings.push(format!(
                    "chain: {}: missing: the tree has no signed head (drills sealed without --sign-key?), so a truncated history would go unnoticed; --pub-key requires one",
                    shown.display()
                ));
            }
        }
        Slurp::Problem(p) => r.findings.push(format!("chain: {}: {p}", shown.display())),
        Slurp::Bytes(b) => match serde_json::from_slice::<Head>(&b) {
            Err(e) => r
                .findings
                .push(format!("chain: {}: not a signed head ({e})", shown.display())),
            Ok(h) => {
                let before = r.findings.len();
                if canonical(&h).as_bytes() != b.as_slice() {
                    r.findings
                        .push(format!("chain: {}: not in canonical form (edited?)", shown.display()));
                }
                if h.schema != HEAD_SCHEMA {
                    r.findings.push(format!(
                        "chain: {}: schema is `{}`, expected `{HEAD_SCHEMA}`",
                        shown.display(),
                        h.schema
                    ));
                }
                let recorded = recorded_key(&SigningInfo {
                    algorithm: "ed25519".into(),
                    public_key: h.public_key.clone(),
                });
                let sig = Base64::decode_vec(&h.signature)
                    .ok()
                    .and_then(|raw| <[u8; 64]>::try_from(raw).ok())
                    .map(|raw| Signature::from_bytes(&raw));
                match (recorded, sig) {
                    (Err(e), _) => r.findings.push(format!("chain: {}: {e}", shown.display())),
                    (_, None) => r.findings.push(format!(
                        "chain: {}: signature is not base64 of 64 bytes",
                        shown.display()
                    )),
                    (Ok(key), Some(sig)) => {
                        if let Some(want) = opts.pub_key {
                            if want != &key {
                                r.findings.push(format!(
                                    "chain: {}: signed by another key ({}), not the --pub-key ({})",
                                    shown.display(),
                                    public_key_b64(&key),
                                    public_key_b64(want)
                                ));
                            }
                        }
                        if key.verify_strict(canonical(&h.body()).as_bytes(), &sig).is_err() {
                            r.findings.push(format!(
                                "chain: {}: signature does not verify with key {}",
                                shown.display(),
                                public_key_b64(&key)
                            ));
                        }
                    }
                }
                let index_sha = sha256_hex(canonical(index).as_bytes());
                if h.sequence > n {
                    r.findings.push(format!(
                        "chain: the signed head is #{} but the index ends at #{n}: the history was truncated (entries after #{n} removed)",
                        h.sequence
                    ));
                } else if h.sequence < n {
                    let m = format!(
                        "chain: the signed head is #{}, the index has #{n}: #{}..#{n} were sealed without a signing key",
                        h.sequence,
                        h.sequence + 1
                    );
                    if opts.pub_key.is_some() {
                        r.findings.push(m);
                    } else {
                        r.notes.push(m.trim_start_matches("chain: ").to_string());
                    }
                } else if h.manifest_sha256 != last_sha || h.index_sha256 != index_sha {
                    r.findings.push(format!(
                        "chain: the signed head #{n} does not match the index (manifest sha256 {}, index sha256 {}; signed {} and {})",
                        last_sha, index_sha, h.manifest_sha256, h.index_sha256
                    ));
                }
                if r.findings.len() == before && h.sequence == n {
                    summary = format!(", signed head #{n} ({})", h.created);
                }
            }
        },
    }
    if let Some((seq, hash)) = &opts.expect_head {
        if n != *seq || &last_sha != hash {
            let why = if n < *seq {
                "shorter than recorded: the history was truncated".to_string()
            } else if n > *seq {
                match index.entries.get(*seq as usize - 1) {
                    Some(e) if &e.sha256 == hash => {
                        format!("extended after the recorded head: #{}..#{n} are new", seq + 1)
                    }
                    _ => format!("another history: #{seq} is not the recorded manifest"),
                }
            } else {
                "the head manifest was replaced".to_string()
            };
            r.findings
                .push(format!("chain: head is {n}:{last_sha}, expected {seq}:{hash} ({why})"));
        } else {
            summary.push_str(&format!(", head {n} as expected"));
        }
    }
    summary
}

/// A reports tree: each chain's index and archived copies, then every drill in it.
fn verify_tree(path: &Path, opts: &VerifyOptions) -> Result<Vec<Report>, Error> {
    let Scan { roots, drills, others } = scan(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    if opts.expect_head.is_some() && roots.len() > 1 {
        return Err(Error::Invalid(format!(
            "--expect-head: {} holds {} reports trees; name one",
            path.display(),
            roots.len()
        )));
    }
    if roots.is_empty() && drills.is_empty() && others.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: nothing to verify: no {MANIFEST} (a drill's output directory) and no {CHAIN_DIR}/ (a reports tree) in it",
            path.display()
        )));
    }
    let mut reports = Vec::new();
    // (canonical path of a manifest, the index that has it as the current one there)
    let mut current: Vec<(PathBuf, String)> = Vec::new();
    for root in &roots {
        let index_shown = root.join(CHAIN_DIR).join(INDEX);
        let mut r = Report {
            subject: format!("chain {}", index_shown.display()),
            ..Report::default()
        };
        match load_index(root) {
            Err(e) => r.findings.push(format!("{}: {e}", index_shown.display())),
            Ok(index) if opts.chain => {
                check_index(root, &index, &mut r, &mut current);
                let head = check_head(root, root, &index, opts, &mut r);
                r.summary = format!(
                    "{} manifests linked from #1 to #{}{head}",
                    index.entries.len(),
                    index.entries.len()
                );
            }
            Ok(index) => {
                for e in &index.entries {
                    if let Ok(p) = root.join(&e.path).canonicalize() {
                        current.push((p, index_shown.display().to_string()));
                    }
                }
                r.summary = format!("{} manifests (chain not checked)", index.entries.len());
            }
        }
        reports.push(r);
    }
    for d in &drills {
        let canon = d.join(MANIFEST).canonicalize().ok();
        let chain = canon
            .as_ref()
            .and_then(|c| current.iter().find(|(p, _)| p == c))
            .map(|(_, s)| s.as_str());
        // A drill whose chain index is not under `path` (a subtree was named) walks its own.
        let check = chain.map_or(ChainCheck::Walk, ChainCheck::Known);
        reports.push(verify_drill(d, opts, check));
    }
    reports.extend(others);
    Ok(reports)
}

/// The index of one tree: every archived copy as indexed and linked to its predecessor, every
/// live manifest either current or replaced by a later re-run.
fn check_index(root: &Path, index: &Index, r: &mut Report, current: &mut Vec<(PathBuf, String)>) {
    let chain = root.join(CHAIN_DIR);
    let subject = chain.join(INDEX).display().to_string();
    for (i, e) in index.entries.iter().enumerate() {
        let copy = archive_path(&chain, e.sequence);
        match read_regular(&copy) {
            Slurp::Bytes(b) if sha256_hex(&b) == e.sha256 => match serde_json::from_slice::<Manifest>(&b) {
                Ok(m) => {
                    let want = i.checked_sub(1).map(|p| {
                        let pe = &index.entries[p];
                        Link {
                            sequence: pe.sequence,
                            path: pe.path.clone(),
                            sha256: pe.sha256.clone(),
                        }
                    });
                    if m.sequence != e.sequence || m.previous != want {
                        r.findings
                            .push(format!("#{}: {} does not link to #{}", e.sequence, copy.display(), i));
                    }
                }
                Err(err) => r
                    .findings
                    .push(format!("#{}: {}: not a manifest ({err})", e.sequence, copy.display())),
            },
            Slurp::Bytes(b) => r.findings.push(format!(
                "#{}: archived copy {}: sha256 mismatch (expected {}, found {})",
                e.sequence,
                copy.display(),
                e.sha256,
                sha256_hex(&b)
            )),
            Slurp::Missing => r
                .findings
                .push(format!("#{}: archived copy {} is missing", e.sequence, copy.display())),
            Slurp::Problem(p) => r.findings.push(format!("#{}: {}: {p}", e.sequence, copy.display())),
        }
        let live = root.join(&e.path);
        let replaced = index.entries[i + 1..].iter().find(|l| l.path == e.path);
        let read = match no_symlink_below(root, &e.path) {
            Ok(()) => read_regular(&live),
            Err(why) => Slurp::Problem(why),
        };
        match (read, replaced) {
            (_, Some(by)) => r.notes.push(format!(
                "#{} ({}) was replaced by a re-run, #{}",
                e.sequence, e.path, by.sequence
            )),
            (Slurp::Bytes(b), None) if sha256_hex(&b) == e.sha256 => {
                if let Ok(p) = live.canonicalize() {
                    current.push((p, subject.clone()));
                }
            }
            (Slurp::Bytes(b), None) => r.findings.push(format!(
                "#{}: {}: changed (expected sha256 {}, found {})",
                e.sequence,
                live.display(),
                e.sha256,
                sha256_hex(&b)
            )),
            (Slurp::Missing, None) => r.findings.push(format!(
                "#{}: {}: missing (the drill's directory was deleted or moved, or a re-run into it did not finish)",
                e.sequence,
                live.display()
            )),
            (Slurp::Problem(p), None) => r.findings.push(format!("#{}: {}: {p}", e.sequence, live.display())),
        }
    }
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

    fn sealed_dir(tmp: &Path) -> (PathBuf, PathBuf) {
        let root = tmp.join("reports");
        let dir = root.join("s/run");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("scorecard.json"), "{}\n").expect("write");
        seal(&dir, &opts(&root)).expect("seal");
        (root, dir)
    }

    fn opts(root: &Path) -> SealOptions<'_> {
        SealOptions {
            kind: "drill",
            scenario: "s",
            inputs: vec![("scenario.yaml", "name: s\n".into())],
            start_tree_at: Some(root),
            key: None,
        }
    }

    fn check(dir: &Path) -> Report {
        let v = verify(
            dir,
            &VerifyOptions {
                pub_key: None,
                chain: true,
                expect_head: None,
            },
        )
        .expect("verify");
        assert_eq!(v.len(), 1);
        v.into_iter().next().expect("one")
    }

    #[test]
    fn an_interrupted_manifest_write_leaves_the_manifest_whole() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (root, dir) = sealed_dir(tmp.path());
        let before = std::fs::read(dir.join(MANIFEST)).expect("manifest");
        assert!(check(&dir).ok());
        // A crash while the next manifest was being written leaves write_atomic's temporary
        // file, half written; manifest.json is the complete earlier one.
        let stale = dir.join(format!(".{MANIFEST}.tmp4242"));
        std::fs::write(&stale, &before[..before.len() / 2]).expect("write");
        assert_eq!(std::fs::read(dir.join(MANIFEST)).expect("manifest"), before);
        let r = check(&dir);
        assert_eq!(
            r.findings,
            vec![format!(
                ".{MANIFEST}.tmp4242: not in the manifest (added after sealing)"
            )],
            "only the leftover is reported; the manifest is intact"
        );
        // The next seal writes a whole manifest again (the leftover is listed: it is there).
        let sealed = seal(&dir, &opts(&root)).expect("seal");
        assert_eq!(sealed.sequence, 2);
        let m: Manifest = serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).expect("m")).expect("parses");
        assert!(m.files.iter().any(|f| f.path == format!(".{MANIFEST}.tmp4242")));
        assert!(check(&dir).ok(), "{:?}", check(&dir).findings);
    }

    #[test]
    fn a_failed_atomic_write_keeps_the_old_file_and_removes_its_temporary() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (_, dir) = sealed_dir(tmp.path());
        let before = std::fs::read(dir.join(MANIFEST)).expect("manifest");
        // The rename cannot replace a non-empty directory: the write fails after the
        // temporary file was written in full.
        let target = dir.join("occupied");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("x"), "x").expect("write");
        assert!(write_atomic(&target, "new contents").is_err());
        assert!(target.join("x").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(std::fs::read(dir.join(MANIFEST)).expect("manifest"), before);
    }

    #[test]
    fn a_damaged_index_is_never_extended() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (root, dir) = sealed_dir(tmp.path());
        let index = root.join(CHAIN_DIR).join(INDEX);
        let text = std::fs::read_to_string(&index).expect("index");
        std::fs::write(&index, text.replace("\"sequence\": 1", "\"sequence\": 7")).expect("write");
        let e = seal(&dir, &opts(&root)).expect_err("damaged chain");
        assert!(e.to_string().contains("not extending a damaged chain"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&index)
                .expect("index")
                .matches("sequence")
                .count(),
            1
        );
    }

    #[test]
    fn tidy_paths() {
        assert_eq!(
            tidy(Path::new("r/a/b/../../x/manifest.json")),
            PathBuf::from("r/x/manifest.json")
        );
        assert_eq!(tidy(Path::new("./../../x")), PathBuf::from("../../x"));
    }
}
