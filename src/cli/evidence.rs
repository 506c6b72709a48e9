//! `drillbit verify DIR [--pub-key FILE] [--no-chain]`, `drillbit keygen --out FILE`, and the
//! sealing step `run` and `simulate` end with.

use std::path::{Path, PathBuf};

use drillbit::evidence::{self, Class, SealOptions, Sealed, VerifyOptions};
use drillbit::exit;
use drillbit::outdir::{self, Claim};
use drillbit::scenario::Loaded;
use ed25519_dalek::SigningKey;

use super::Failure;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A drill's output directory (holds manifest.json), or a reports tree (every drill in it).
    pub dir: PathBuf,
    /// Require a signature by this ed25519 public key (PEM, as `drillbit keygen` writes it).
    #[arg(long)]
    pub pub_key: Option<PathBuf>,
    /// Check only the directory's own files and signature, not the chain of earlier drills.
    #[arg(long)]
    pub no_chain: bool,
    /// Fail unless the chain's head is exactly this (`SEQ:SHA256`, as an earlier `verify`
    /// printed it): detects a truncated, extended or replaced history.
    #[arg(long, value_name = "SEQ:HASH", conflicts_with = "no_chain")]
    pub expect_head: Option<String>,
    /// Print only what failed.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Private key file to create (PKCS#8 PEM, mode 0600); the public key goes to FILE.pub.
    #[arg(long)]
    pub out: PathBuf,
}

fn failure(e: evidence::Error) -> Failure {
    match e {
        evidence::Error::Invalid(m) => Failure::Usage(m),
        evidence::Error::Io(m) => Failure::Infrastructure(format!("evidence: {m}")),
    }
}

/// What a drill needs before it runs: the signing key and its claim on the output directory.
pub struct Prepared {
    pub key: Option<SigningKey>,
    /// The output directory's lock and the staging directory the drill writes into.
    pub claim: Claim,
}

fn outdir_failure(e: outdir::Error) -> Failure {
    match e {
        outdir::Error::Refused(m) => Failure::Usage(m),
        outdir::Error::Io(m) => Failure::Infrastructure(format!("output directory: {m}")),
    }
}

/// Before a drill runs, so that a bad key or output directory costs nothing: refuses an
/// output directory that is a reports tree root or holds anything drillbit did not write
/// (nothing touched then), loads `--sign-key`, and claims the directory (its lock, a fresh
/// staging directory; a second drill aimed at it is refused).
pub fn prepare(dir: &Path, sign_key: Option<&Path>) -> Result<Prepared, Failure> {
    if std::fs::symlink_metadata(dir.join(evidence::CHAIN_DIR)).is_ok() {
        return Err(Failure::Usage(format!(
            "{}: is a reports tree root (holds {}/); write drills into directories below it",
            dir.display(),
            evidence::CHAIN_DIR
        )));
    }
    outdir::inspect(dir).map_err(outdir_failure)?;
    let key = sign_key
        .map(|p| evidence::load_signing_key(p).map_err(|e| Failure::Usage(format!("--sign-key: {e}"))))
        .transpose()?;
    let claim = Claim::acquire(dir).map_err(outdir_failure)?;
    Ok(Prepared { key, claim })
}

/// The last step of `run` and `simulate`: the inputs copied in, then the manifest (and the
/// signature). The default layout `reports/<scenario>/<run>` starts the tree at `reports/`
/// when no ancestor holds one; an `--out` directory outside any tree is sealed standalone.
pub fn seal(
    claim: &mut Claim,
    loaded: &Loaded,
    kind: &str,
    default_layout: bool,
    key: Option<&SigningKey>,
    extra: Vec<(&str, String)>,
) -> Result<Sealed, Failure> {
    let mut inputs = vec![("scenario.yaml", loaded.source.clone())];
    inputs.extend(extra);
    let dir: PathBuf = claim.dir().to_path_buf();
    let stage: PathBuf = claim.stage().to_path_buf();
    let start = dir.parent().and_then(Path::parent).filter(|_| default_layout);
    // The drill was written into the staging directory; it is published (one rename) while
    // the tree's lock is held, before the chain index records it at `dir`.
    let mut publish = || {
        claim.publish().map_err(|e| match e {
            outdir::Error::Refused(m) => evidence::Error::Invalid(m),
            outdir::Error::Io(m) => evidence::Error::Io(m),
        })
    };
    let sealed = evidence::seal_staged(
        &stage,
        &dir,
        &SealOptions {
            kind,
            scenario: &loaded.scenario.name,
            inputs,
            start_tree_at: start,
            key,
        },
        &mut publish,
    )
    .map_err(failure)?;
    claim
        .finish()
        .map_err(|e| Failure::Infrastructure(format!("output directory: {e}")))?;
    Ok(sealed)
}

/// One line for the terminal: where the evidence is and what it links to.
pub fn describe(s: &Sealed) -> String {
    let chain = match &s.root {
        Some(root) => format!("chain #{} of {}", s.sequence, root.display()),
        None => "standalone".to_string(),
    };
    let signed = if s.signed { ", signed" } else { "" };
    format!(
        "  evidence: {} ({} files, {chain}{signed})",
        s.manifest.display(),
        s.files
    )
}

pub fn verify(a: VerifyArgs) -> Result<i32, Failure> {
    let key = a
        .pub_key
        .as_deref()
        .map(|p| evidence::load_verifying_key(p).map_err(|e| Failure::Usage(format!("--pub-key: {e}"))))
        .transpose()?;
    let expect_head = a
        .expect_head
        .as_deref()
        .map(evidence::parse_head)
        .transpose()
        .map_err(failure)?;
    let reports = evidence::verify(
        &a.dir,
        &VerifyOptions {
            pub_key: key.as_ref(),
            chain: !a.no_chain,
            expect_head,
        },
    )
    .map_err(failure)?;
    let count = |c: Class| reports.iter().filter(|r| r.class == c).count();
    let checked = reports.iter().filter(|r| r.class != Class::Staging).count();
    let failed = reports.iter().filter(|r| !r.ok()).count();
    for r in &reports {
        if r.class == Class::Staging {
            if !a.quiet {
                println!("skipped {}: {}", r.subject, r.summary);
            }
        } else if r.ok() {
            if !a.quiet {
                println!("ok      {}: {}", r.subject, r.summary);
                for n in &r.notes {
                    println!("          note: {n}");
                }
            }
        } else {
            println!("FAILED  {}", r.subject);
            for f in &r.findings {
                println!("  {f}");
            }
        }
        if let Some(h) = &r.head {
            if !a.quiet || !r.ok() {
                println!("  head: {h} (record it: `verify --expect-head {h}` fails on a later truncation or rewrite)");
            }
        }
    }
    if (reports.len() > 1 || checked != 1) && !a.quiet || checked != reports.len() {
        let mut line = format!("{} of {checked} verified", checked - failed);
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let links = count(Class::Symlink);
        if links > 0 {
            line.push_str(&format!("; {} not followed", plural(links, "symlink", "symlinks")));
        }
        let unreadable = count(Class::Unreadable);
        if unreadable > 0 {
            line.push_str(&format!("; {unreadable} unreadable"));
        }
        let staging = count(Class::Staging);
        if staging > 0 {
            line.push_str(&format!(
                "; {} skipped (unpublished)",
                plural(staging, "staging directory", "staging directories")
            ));
        }
        println!("{line}");
    }
    Ok(if failed == 0 {
        exit::TARGETS_MET
    } else {
        exit::TARGET_MISSED
    })
}

pub fn keygen(a: KeygenArgs) -> Result<i32, Failure> {
    let (pub_path, key) = evidence::keygen(&a.out).map_err(failure)?;
    println!("private key: {} (keep it secret)", a.out.display());
    println!(
        "public key:  {} ({})",
        pub_path.display(),
        evidence::public_key_b64(&key)
    );
    Ok(exit::TARGETS_MET)
}
