//! Reading a drill's directory: files hashed and read whole without following a link, the
//! recursive listing, and paths checked below a root.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{CHAIN_DIR, MANIFEST, MAX_META_BYTES, SIGNATURE};

/// SHA-256 and size of a file, streamed.
pub(super) fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
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
pub(super) enum Slurp {
    Bytes(Vec<u8>),
    Missing,
    Problem(String),
}

pub(super) fn read_regular(path: &Path) -> Slurp {
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
pub(super) enum Kind {
    File,
    Symlink,
    Other,
    /// A `.drillbit-chain` directory: a tree root inside a drill's directory.
    ChainDir,
}

#[derive(Debug)]
pub(super) struct Found {
    pub(super) rel: String,
    pub(super) utf8: bool,
    pub(super) kind: Kind,
}

/// Every entry below `dir` (recursing into directories), sorted by relative path, without the
/// manifest and its signature at the top level.
pub(super) fn walk(dir: &Path) -> std::io::Result<Vec<Found>> {
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

/// Whether `rel` (below `root`) can be read without following a symbolic link: none of its
/// components (the last included) is one.
pub(super) fn no_symlink_below(root: &Path, rel: &str) -> Result<(), String> {
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
