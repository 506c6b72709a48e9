//! The chain's verification: a drill's links walked back to the first manifest, a tree's index
//! against its archived copies and live manifests, and the scan of a tree.

use std::path::{Path, PathBuf};

use super::files::{no_symlink_below, read_regular, Slurp};
use super::head::check_head;
use super::manifest::{archive_path, parse_index, safe_rel, sha256_hex, Index, Link, Manifest};
use super::seal::rel_below;
use super::verify::{
    is_staging, staging_report, symlink_report, tidy, unreadable_report, verify_drill, ChainCheck, Report,
    VerifyOptions,
};
use super::{Error, CHAIN_DIR, INDEX, MANIFEST};

/// Reads the chain index of a tree root.
pub(super) fn load_index(root: &Path) -> Result<Index, String> {
    let p = root.join(CHAIN_DIR).join(INDEX);
    match read_regular(&p) {
        Slurp::Bytes(b) => parse_index(&b),
        Slurp::Missing => Err("missing".into()),
        Slurp::Problem(p) => Err(p),
    }
}

/// Where the manifest of chain entry `seq` (linked as `link`) is: the live file when it is
/// unchanged, else the archived copy when a later re-run replaced the live one.
pub(super) fn resolve_link(root: &Path, index: &Index, link: &Link) -> Result<(Vec<u8>, Option<String>), String> {
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
pub(super) fn check_chain(
    dir: &Path,
    up: &str,
    m: &Manifest,
    bytes: &[u8],
    opts: &VerifyOptions,
    r: &mut Report,
) -> String {
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
pub(super) struct Scan {
    roots: Vec<PathBuf>,
    drills: Vec<PathBuf>,
    others: Vec<Report>,
}

pub(super) fn scan(path: &Path) -> std::io::Result<Scan> {
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

/// A reports tree: each chain's index and archived copies, then every drill in it.
pub(super) fn verify_tree(path: &Path, opts: &VerifyOptions) -> Result<Vec<Report>, Error> {
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
pub(super) fn check_index(root: &Path, index: &Index, r: &mut Report, current: &mut Vec<(PathBuf, String)>) {
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
