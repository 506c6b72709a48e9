//! `drillbit verify DIR [--pub-key FILE] [--no-chain]`, `drillbit keygen --out FILE`, and the
//! sealing step `run` and `simulate` end with.

use std::path::{Path, PathBuf};

use drillbit::evidence::{self, SealOptions, Sealed, VerifyOptions};
use drillbit::exit;
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

/// Before a drill runs, so that a bad key or output directory costs nothing: loads
/// `--sign-key` and refuses an output directory that is a reports tree root.
pub fn prepare(dir: &Path, sign_key: Option<&Path>) -> Result<Option<SigningKey>, Failure> {
    if dir.join(evidence::CHAIN_DIR).exists() {
        return Err(Failure::Usage(format!(
            "{}: is a reports tree root (holds {}/); write drills into directories below it",
            dir.display(),
            evidence::CHAIN_DIR
        )));
    }
    sign_key
        .map(|p| evidence::load_signing_key(p).map_err(|e| Failure::Usage(format!("--sign-key: {e}"))))
        .transpose()
}

/// The last step of `run` and `simulate`: the inputs copied in, then the manifest (and the
/// signature). The default layout `reports/<scenario>/<run>` starts the tree at `reports/`
/// when no ancestor holds one; an `--out` directory outside any tree is sealed standalone.
pub fn seal(
    dir: &Path,
    loaded: &Loaded,
    kind: &str,
    default_layout: bool,
    key: Option<&SigningKey>,
    extra: Vec<(&str, String)>,
) -> Result<Sealed, Failure> {
    let mut inputs = vec![("scenario.yaml", loaded.source.clone())];
    inputs.extend(extra);
    let start = dir.parent().and_then(Path::parent).filter(|_| default_layout);
    evidence::seal(
        dir,
        &SealOptions {
            kind,
            scenario: &loaded.scenario.name,
            inputs,
            start_tree_at: start,
            key,
        },
    )
    .map_err(failure)
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
    let reports = evidence::verify(
        &a.dir,
        &VerifyOptions {
            pub_key: key.as_ref(),
            chain: !a.no_chain,
        },
    )
    .map_err(failure)?;
    let failed = reports.iter().filter(|r| !r.ok()).count();
    for r in &reports {
        if r.ok() {
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
    }
    if reports.len() > 1 && !a.quiet {
        println!("{} of {} verified", reports.len() - failed, reports.len());
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
