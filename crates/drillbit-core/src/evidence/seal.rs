//! Sealing: the inputs written in, every file hashed, the manifest (and its signature) written
//! and, in a reports tree, the chain extended under the tree's lock.

use std::path::{Component, Path, PathBuf};

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Signature, Signer, SigningKey};

use super::files::{hash_file, read_regular, walk, Kind, Slurp};
use super::head::sign_head;
use super::keys::public_key_b64;
use super::manifest::{
    archive_path, canonical, parse_index, rfc3339_utc, sha256_hex, FileEntry, Index, IndexEntry, Link, Manifest,
    SigningInfo, ToolRef,
};
use super::{
    io_err, Error, ARCHIVE, CHAIN_DIR, CHAIN_SCHEMA, HEAD, INDEX, LOCK_TIMEOUT, MANIFEST, MANIFEST_SCHEMA, SIGNATURE,
    STAGE_MARKER,
};
use crate::report::write_atomic;

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
pub(super) fn rel_below(root: &Path, dir: &Path) -> Result<String, Error> {
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
pub(super) struct TreeLock(#[allow(dead_code)] std::fs::File);

pub(super) fn lock_tree(chain_dir: &Path) -> Result<TreeLock, Error> {
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

/// Seals `dir` in place: writes `opts.inputs`, hashes every file, writes `manifest.json` (and
/// `manifest.json.sig` with a key) and, in a reports tree, extends the tree's chain.
pub fn seal(dir: &Path, opts: &SealOptions) -> Result<Sealed, Error> {
    seal_staged(dir, dir, opts, &mut || Ok(()))
}

/// The absolute, symlink-resolved path `dest` will have: its parent canonical, its own name.
pub(super) fn final_path(dest: &Path) -> Result<PathBuf, Error> {
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
/// names ("not in the chain index"). A top-level [`STAGE_MARKER`] is not
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
        if f.rel == STAGE_MARKER && stage != dest {
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
pub(super) struct Pending {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::verify::{verify, Report, VerifyOptions};

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
}
