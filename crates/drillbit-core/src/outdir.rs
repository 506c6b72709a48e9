//! The output directory contract of `run` and `simulate`: what a drill may write into, and how
//! it gets there.
//!
//! **What may be replaced.** The output directory must be absent, an empty directory, or a
//! directory drillbit wrote: its `manifest.json` parses as a drillbit manifest and every entry
//! in it is a file the manifest lists (or `manifest.json`, `manifest.json.sig`, or a directory
//! holding listed files). Anything else (a user's file beside or instead of a manifest, a
//! symbolic link as the directory or anywhere inside it, a non-directory) is refused before
//! anything is touched, naming the offending entries.
//!
//! **How.** [`Claim::acquire`] takes `<parent>/.<name>.drillbit-lock` (flock, non-blocking: a
//! second drill aimed at the same directory is refused at once, never interleaved), removes
//! the staging directories of that name that dead drills left, and creates a private staging
//! directory `<parent>/.<name>.drillbit-stage-<pid>` (mode 0700, holding [`STAGE_MARKER`]).
//! The drill writes there; [`Claim::publish`] puts it in place with one rename: an atomic
//! `renameat2(RENAME_EXCHANGE)` when a previous drill is there (the old copy, now at the
//! staging name, is removed after), a plain rename onto an absent or empty directory. A crash,
//! a full disk or a kill therefore leaves the previous drill (or nothing), never a mix; on any
//! error the staging directory is removed when the claim is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};

// The evidence layer defines the files (the manifest) and the staging names `verify` skips;
// this module, above it, decides what may be replaced and writes through a staging directory.
pub use crate::evidence::{stage_base, STAGE_INFIX, STAGE_MARKER};
use crate::evidence::{Manifest, MANIFEST, SIGNATURE};

/// `<parent>/.<name>` + this: the lock of one output directory.
pub const LOCK_SUFFIX: &str = ".drillbit-lock";

/// At most this many offending entries are named in a refusal.
const SHOWN: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory cannot be used (exit 2): user files, a symlink, a drill running there.
    #[error("{0}")]
    Refused(String),
    /// Creating, writing or renaming failed (exit 3).
    #[error("{0}")]
    Io(String),
}

fn io(what: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", what.display()))
}

/// Creating the directory or its lock failed: a path the user cannot write there (missing,
/// not a directory, read-only, not permitted, /proc) is a bad `--out` (exit 2), anything
/// else an infrastructure failure (exit 3).
fn unusable(dir: &Path, what: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let bad_path = matches!(
        e.kind(),
        K::NotFound | K::PermissionDenied | K::ReadOnlyFilesystem | K::NotADirectory | K::AlreadyExists
    ) || e.raw_os_error() == Some(libc::EROFS);
    if bad_path {
        Error::Refused(format!(
            "{}: cannot be used as an output directory: cannot create {}: {e}",
            dir.display(),
            what.display()
        ))
    } else {
        io(what, e)
    }
}

/// What the output directory holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Absent,
    Empty,
    /// A directory drillbit wrote (a previous drill).
    Drill,
}

#[derive(Debug)]
struct Entry {
    rel: String,
    kind: &'static str,
}

/// Every entry below `dir`, without following symbolic links: (relative path, kind) where kind
/// is `file`, `dir`, `symlink` or `special`.
fn entries(dir: &Path) -> Result<Vec<Entry>, String> {
    fn go(base: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<(), String> {
        let rd = std::fs::read_dir(base).map_err(|e| format!("cannot list {}: {e}", base.display()))?;
        for e in rd {
            let e = e.map_err(|e| format!("cannot list {}: {e}", base.display()))?;
            let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
            let ft = e
                .file_type()
                .map_err(|err| format!("cannot read {}: {err}", e.path().display()))?;
            if ft.is_dir() {
                out.push(Entry {
                    rel: rel.clone(),
                    kind: "dir",
                });
                go(&e.path(), &format!("{rel}/"), out)?;
            } else {
                let kind = if ft.is_file() {
                    "file"
                } else if ft.is_symlink() {
                    "symlink"
                } else {
                    "special"
                };
                out.push(Entry { rel, kind });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(dir, "", &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Whether `dir` (a real directory) is one drillbit wrote: `Ok(())`, or the offending entries
/// and why (an empty list: the manifest is missing or does not parse, said in the string).
fn judge(dir: &Path) -> Result<State, (String, Vec<String>)> {
    let found = entries(dir).map_err(|e| (e, Vec::new()))?;
    if found.is_empty() {
        return Ok(State::Empty);
    }
    let manifest = match found.iter().find(|e| e.rel == MANIFEST) {
        Some(e) if e.kind == "file" => std::fs::read(dir.join(MANIFEST))
            .map_err(|e| format!("{MANIFEST}: cannot read: {e}"))
            .and_then(|b| {
                serde_json::from_slice::<Manifest>(&b)
                    .map_err(|e| format!("{MANIFEST} is not a drillbit manifest ({e})"))
            }),
        Some(_) => Err(format!("{MANIFEST} is not a regular file")),
        None => Err(format!("no {MANIFEST}: not a directory drillbit wrote")),
    };
    let listed: Vec<&str> = match &manifest {
        Ok(m) => m.files.iter().map(|f| f.path.as_str()).collect(),
        Err(_) => Vec::new(),
    };
    let mut bad = Vec::new();
    for e in &found {
        let ok = match e.kind {
            "file" => e.rel == MANIFEST || e.rel == SIGNATURE || listed.contains(&e.rel.as_str()),
            "dir" => {
                let prefix = format!("{}/", e.rel);
                listed.iter().any(|l| l.starts_with(&prefix))
            }
            _ => false,
        };
        if !ok {
            bad.push(match e.kind {
                "file" => e.rel.clone(),
                "dir" => format!("{}/", e.rel),
                "symlink" => format!("{} (symbolic link)", e.rel),
                _ => format!("{} (not a regular file)", e.rel),
            });
        }
    }
    match manifest {
        Err(why) => Err((why, bad)),
        Ok(_) if bad.is_empty() => Ok(State::Drill),
        Ok(_) => Err((format!("holds entries its {MANIFEST} does not list"), bad)),
    }
}

fn refusal(dir: &Path, why: &str, bad: &[String]) -> Error {
    let mut m = format!(
        "{}: not writing a drill here: {why}; drillbit replaces only an empty directory or one it wrote itself",
        dir.display()
    );
    if !bad.is_empty() {
        m.push_str(&format!(
            "; {} {} it did not write:",
            bad.len(),
            if bad.len() == 1 { "entry" } else { "entries" }
        ));
        for b in bad.iter().take(SHOWN) {
            m.push_str(&format!("\n  {b}"));
        }
        if bad.len() > SHOWN {
            m.push_str(&format!("\n  ... and {} more", bad.len() - SHOWN));
        }
    }
    m.push_str("\nchoose another --out, or move those entries away");
    Error::Refused(m)
}

/// What `dir` holds, or why a drill must not be written there. Reads only.
pub fn inspect(dir: &Path) -> Result<State, Error> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::Absent),
        Err(e) => return Err(Error::Refused(format!("{}: cannot inspect: {e}", dir.display()))),
    };
    if meta.file_type().is_symlink() {
        return Err(refusal(dir, "it is a symbolic link (drillbit follows none)", &[]));
    }
    if !meta.is_dir() {
        return Err(refusal(dir, "it exists and is not a directory", &[]));
    }
    judge(dir).map_err(|(why, bad)| refusal(dir, &why, &bad))
}

/// The parent directory and the final component of `dir`.
fn split(dir: &Path) -> Result<(PathBuf, String), Error> {
    let name = match dir.file_name().and_then(|n| n.to_str()) {
        Some(n) if stage_base(n).is_none() => n.to_string(),
        _ => {
            return Err(Error::Refused(format!(
            "{}: an output directory must be named by a final UTF-8 name (not `.`, `..` or `/`, nor a staging name)",
            dir.display()
        )))
        }
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Holds an output directory for one drill: its lock, and its staging directory until
/// published. Dropping it removes the staging directory (if not published) and the lock file.
#[derive(Debug)]
pub struct Claim {
    dir: PathBuf,
    parent: PathBuf,
    stage: PathBuf,
    lock_path: PathBuf,
    lock: Option<File>,
    published: bool,
    /// After an exchange: the previous drill, now at the staging name, to remove.
    old: Option<PathBuf>,
    /// Stale staging directories removed when the claim was taken.
    pub removed_stale: Vec<PathBuf>,
}

#[cfg(unix)]
fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(unix)]
fn take_lock(dir: &Path, path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    // The holder removes the file when done: a lock taken on a file that is no longer at
    // `path` is no lock; open it again.
    for _ in 0..100 {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| unusable(dir, path, e))?;
        let r = loop {
            // SAFETY: flock on a descriptor this function owns; no memory is passed.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            let e = std::io::Error::last_os_error();
            if r == 0 || e.kind() != std::io::ErrorKind::Interrupted {
                break if r == 0 { Ok(()) } else { Err(e) };
            }
        };
        match r {
            Ok(()) if same_file(&f, path) => return Ok(f),
            Ok(()) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::Refused(format!(
                    "{}: another drill is writing this directory now (it holds {}); two drills never share one output directory: wait for it, or choose another --out",
                    dir.display(),
                    path.display()
                )))
            }
            Err(e) => return Err(io(path, e)),
        }
    }
    Err(Error::Io(format!("{}: the lock file keeps changing", path.display())))
}

/// Removes the staging directories of `name` in `parent` that drillbit left (marked, or
/// holding a whole drill); called holding the lock, so none of them belongs to a live drill.
fn remove_stale(parent: &Path, name: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(parent) else {
        return removed;
    };
    for e in rd.flatten() {
        let fname = e.file_name();
        let Some(fname) = fname.to_str() else { continue };
        if stage_base(fname) != Some(name) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        let marked = std::fs::symlink_metadata(p.join(STAGE_MARKER)).is_ok_and(|m| m.is_file());
        let ours = marked || matches!(judge(&p), Ok(State::Drill | State::Empty));
        if ours && std::fs::remove_dir_all(&p).is_ok() {
            removed.push(p);
        }
    }
    removed.sort();
    removed
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(|e| io(dir, e))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: two NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

impl Claim {
    /// Checks `dir` (refusing before anything is touched), takes its lock, removes stale
    /// staging directories of it and creates a fresh one.
    pub fn acquire(dir: &Path) -> Result<Claim, Error> {
        let (parent, name) = split(dir)?;
        inspect(dir)?;
        std::fs::create_dir_all(&parent).map_err(|e| unusable(dir, &parent, e))?;
        let lock_path = parent.join(format!(".{name}{LOCK_SUFFIX}"));
        #[cfg(unix)]
        let lock = take_lock(dir, &lock_path)?;
        #[cfg(not(unix))]
        let lock = File::create(&lock_path).map_err(|e| io(&lock_path, e))?;
        let stage = parent.join(format!(".{name}{STAGE_INFIX}{}", std::process::id()));
        let mut claim = Claim {
            dir: dir.to_path_buf(),
            parent: parent.clone(),
            stage: stage.clone(),
            lock_path,
            lock: Some(lock),
            published: true, // nothing to remove until the staging directory exists
            old: None,
            removed_stale: Vec::new(),
        };
        // Another drill may have published while this one waited for the lock.
        inspect(dir)?;
        claim.removed_stale = remove_stale(&parent, &name);
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&stage).map_err(|e| io(&stage, e))?;
        claim.published = false;
        std::fs::write(
            stage.join(STAGE_MARKER),
            format!("drillbit staging directory of {name}\n"),
        )
        .map_err(|e| io(&stage, e))?;
        Ok(claim)
    }

    /// Where the drill writes its files.
    pub fn stage(&self) -> &Path {
        &self.stage
    }

    /// The output directory as named.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Puts the staging directory in place of the output directory, atomically.
    pub fn publish(&mut self) -> Result<(), Error> {
        if self.published {
            return Err(Error::Io(format!("{}: published already", self.dir.display())));
        }
        // The destination is checked again: a person may have put files there meanwhile.
        let state = inspect(&self.dir)?;
        // The drill keeps the mode of the directory it replaces (else rwxr-xr-x), not the
        // staging directory's private 0700.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::symlink_metadata(&self.dir)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o755);
            std::fs::set_permissions(&self.stage, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io(&self.stage, e))?;
        }
        match std::fs::remove_file(self.stage.join(STAGE_MARKER)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&self.stage, e)),
        }
        match state {
            // rename(2) replaces an empty directory.
            State::Absent | State::Empty => std::fs::rename(&self.stage, &self.dir).map_err(|e| io(&self.dir, e))?,
            State::Drill => match exchange(&self.stage, &self.dir) {
                Ok(()) => {
                    // The old drill is at the staging name now, removed by `finish` (or when
                    // the claim is dropped); a crash before that leaves a whole drill there,
                    // which the next drill removes.
                    self.old = Some(self.stage.clone());
                }
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
                        || e.kind() == std::io::ErrorKind::Unsupported =>
                {
                    // No atomic exchange on this file system: the old drill moves aside
                    // first (to a staging name, removed after), then the new one in.
                    let aside = self.parent.join(format!(
                        "{}.{}",
                        self.stage.file_name().and_then(|n| n.to_str()).unwrap_or("stage"),
                        "0"
                    ));
                    std::fs::rename(&self.dir, &aside).map_err(|e| io(&self.dir, e))?;
                    if let Err(e) = std::fs::rename(&self.stage, &self.dir) {
                        let _ = std::fs::rename(&aside, &self.dir);
                        return Err(io(&self.dir, e));
                    }
                    let _ = std::fs::remove_dir_all(&aside);
                }
                Err(e) => return Err(io(&self.dir, e)),
            },
        }
        self.published = true;
        Ok(())
    }

    /// After the publish has been recorded (the chain index): removes the replaced drill and
    /// syncs the parent directory. Kept out of [`Claim::publish`] so that the window between
    /// the rename and the index's rename stays a few system calls.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(old) = self.old.take() {
            let _ = std::fs::remove_dir_all(&old);
        }
        sync_dir(&self.parent)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.published || self.old.is_some() {
            let _ = std::fs::remove_dir_all(&self.stage);
        }
        if let Some(f) = self.lock.take() {
            #[cfg(unix)]
            if same_file(&f, &self.lock_path) {
                let _ = std::fs::remove_file(&self.lock_path);
            }
            drop(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, body: &str) {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, body).expect("write");
    }

    /// A directory drillbit wrote: a manifest listing its files.
    fn drill_dir(dir: &Path, files: &[&str]) {
        let mut listed = Vec::new();
        for f in files {
            write(&dir.join(f), f);
            listed.push(crate::evidence::FileEntry {
                path: f.to_string(),
                sha256: "0".repeat(64),
                size: f.len() as u64,
            });
        }
        listed.sort_by(|a, b| a.path.cmp(&b.path));
        let m = Manifest {
            schema: crate::evidence::MANIFEST_SCHEMA.into(),
            tool: crate::evidence::ToolRef {
                name: "drillbit".into(),
                version: "0".into(),
            },
            created: "2026-01-01T00:00:00Z".into(),
            scenario: "s".into(),
            kind: "drill".into(),
            sequence: 1,
            chain_root: None,
            previous: None,
            files: listed,
            signing: None,
        };
        write(&dir.join(MANIFEST), &crate::evidence::canonical(&m));
    }

    fn refused(dir: &Path) -> String {
        match inspect(dir) {
            Err(Error::Refused(m)) => m,
            other => panic!("{}: expected a refusal, got {other:?}", dir.display()),
        }
    }

    #[test]
    fn absent_empty_and_drillbit_directories_are_accepted() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert_eq!(inspect(&tmp.path().join("new")).expect("absent"), State::Absent);
        assert_eq!(
            inspect(&tmp.path().join("no/such/parent")).expect("absent"),
            State::Absent
        );
        std::fs::create_dir(tmp.path().join("empty")).expect("mkdir");
        assert_eq!(inspect(&tmp.path().join("empty")).expect("empty"), State::Empty);
        let d = tmp.path().join("drill");
        drill_dir(&d, &["scorecard.json", "sub/ledger.csv"]);
        write(&d.join(SIGNATURE), "sig\n");
        assert_eq!(inspect(&d).expect("drill"), State::Drill);
        // A drill missing one of its files is still drillbit's.
        std::fs::remove_file(d.join("sub/ledger.csv")).expect("rm");
        assert_eq!(inspect(&d).expect("drill"), State::Drill);
    }

    #[test]
    fn user_files_symlinks_and_non_directories_are_refused_by_name() {
        let tmp = tempfile::tempdir().expect("tmp");
        let user = tmp.path().join("user");
        write(&user.join("notes.txt"), "mine");
        write(&user.join("sub/data.csv"), "1,2");
        let m = refused(&user);
        assert!(m.contains("no manifest.json"), "{m}");
        for name in ["notes.txt", "sub/data.csv"] {
            assert!(m.lines().any(|l| l.trim() == name), "{name}: {m}");
        }
        // Beside a manifest.
        let beside = tmp.path().join("beside");
        drill_dir(&beside, &["scorecard.json"]);
        write(&beside.join("notes.txt"), "mine");
        std::fs::create_dir(beside.join("empty-sub")).expect("mkdir");
        let m = refused(&beside);
        assert!(m.contains("2 entries it did not write"), "{m}");
        assert!(m.contains("\n  notes.txt") && m.contains("\n  empty-sub/"), "{m}");
        // A manifest that is not drillbit's.
        let fake = tmp.path().join("fake");
        write(&fake.join(MANIFEST), "{\"name\": \"my-npm-package\"}");
        assert!(refused(&fake).contains("not a drillbit manifest"));
        // Symbolic links: the directory itself, and inside.
        let target = tmp.path().join("drill");
        drill_dir(&target, &["scorecard.json"]);
        std::os::unix::fs::symlink(&target, tmp.path().join("link")).expect("symlink");
        assert!(refused(&tmp.path().join("link")).contains("symbolic link"));
        let inside = tmp.path().join("inside");
        drill_dir(&inside, &["scorecard.json", "x/y.txt"]);
        std::fs::remove_file(inside.join("x/y.txt")).expect("rm");
        std::os::unix::fs::symlink("/etc/passwd", inside.join("x/y.txt")).expect("symlink");
        let m = refused(&inside);
        assert!(m.contains("x/y.txt (symbolic link)"), "{m}");
        // A file.
        write(&tmp.path().join("file"), "x");
        assert!(refused(&tmp.path().join("file")).contains("not a directory"));
        // Names that are not a directory's.
        assert!(matches!(Claim::acquire(Path::new("/")), Err(Error::Refused(_))));
    }

    #[test]
    fn a_claim_stages_publishes_and_cleans_up() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("a/out");
        let lock = tmp.path().join("a/.out.drillbit-lock");
        {
            let mut c = Claim::acquire(&dir).expect("claim");
            assert!(lock.exists());
            assert!(c.stage().join(STAGE_MARKER).is_file());
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(c.stage()).expect("stage").permissions().mode();
                assert_eq!(mode & 0o777, 0o700);
            }
            // A second claim is refused while this one holds the lock.
            let m = Claim::acquire(&dir).expect_err("locked").to_string();
            assert!(m.contains("another drill is writing"), "{m}");
            drill_dir(c.stage(), &["one.txt"]);
            c.publish().expect("publish");
            c.finish().expect("finish");
            assert!(dir.join("one.txt").is_file() && !dir.join(STAGE_MARKER).exists());
        }
        assert!(!lock.exists(), "the lock file is removed when done");
        // A re-run swaps atomically; the old copy is gone.
        {
            let mut c = Claim::acquire(&dir).expect("claim");
            drill_dir(c.stage(), &["two.txt"]);
            c.publish().expect("publish");
            // Not finished: dropping the claim removes the old copy too.
        }
        assert!(dir.join("two.txt").is_file() && !dir.join("one.txt").exists());
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("a"))
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("out")]);
        // An unpublished claim leaves the previous drill and no staging directory.
        {
            let c = Claim::acquire(&dir).expect("claim");
            write(&c.stage().join("half.txt"), "half");
        }
        assert!(dir.join("two.txt").is_file() && !dir.join("half.txt").exists());
        assert_eq!(std::fs::read_dir(tmp.path().join("a")).expect("dir").count(), 1);
        // Stale staging directories of dead drills (marked, or whole drills) are removed; a
        // user's look-alike is not.
        let dead = tmp.path().join("a/.out.drillbit-stage-999999");
        write(&dead.join(STAGE_MARKER), "x");
        write(&dead.join("partial"), "x");
        let old = tmp.path().join("a/.out.drillbit-stage-999998");
        drill_dir(&old, &["old.txt"]);
        let alike = tmp.path().join("a/.out.drillbit-stage-999997");
        write(&alike.join("mine"), "x");
        let c = Claim::acquire(&dir).expect("claim");
        assert_eq!(c.removed_stale, vec![old, dead]);
        assert!(alike.join("mine").exists());
    }
}
