//! The signed chain head (`head.json`): written when a key extends the chain, checked by
//! `verify`, and the head an auditor pins (`--expect-head`).

use std::path::Path;

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use super::files::{read_regular, Slurp};
use super::keys::{public_key_b64, recorded_key};
use super::manifest::{canonical, is_hex64, rfc3339_utc, sha256_hex, Index, SigningInfo};
use super::verify::{Report, VerifyOptions};
use super::{Error, CHAIN_DIR, HEAD, HEAD_SCHEMA};

/// `.drillbit-chain/head.json`, schema `drillbit.head/v1`: the chain's head, signed. The
/// signature covers [`Head::signed_bytes`]: the canonical JSON of this record without its
/// `signature` (every other field, in this order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
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
    /// ed25519 signature of [`Head::signed_bytes`], base64. Required in `head.json`; None
    /// only while the head is being signed (then it is left out of the JSON).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "required")]
    pub signature: Option<String>,
}

/// A field that must be present (serde takes a missing `Option` as None otherwise).
fn required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

impl Head {
    /// What the signature covers: the canonical JSON of the head without its signature.
    pub fn signed_bytes(&self) -> String {
        canonical(&Head {
            signature: None,
            ..self.clone()
        })
    }
}

pub(super) fn sign_head(k: &SigningKey, seq: u64, manifest_sha: &str, index_sha: &str) -> Head {
    let mut head = Head {
        schema: HEAD_SCHEMA.into(),
        sequence: seq,
        manifest_sha256: manifest_sha.into(),
        index_sha256: index_sha.into(),
        created: rfc3339_utc(std::time::SystemTime::now()),
        public_key: public_key_b64(&k.verifying_key()),
        signature: None,
    };
    let sig: Signature = k.sign(head.signed_bytes().as_bytes());
    head.signature = Some(Base64::encode_string(&sig.to_bytes()));
    head
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

/// The head of a tree's chain: its signed head (required with `--pub-key`; one that is ahead
/// of the index means the history was truncated) and the head an auditor pinned. Sets
/// `r.head`; returns what to add to the summary.
pub(super) fn check_head(
    root: &Path,
    root_shown: &Path,
    index: &Index,
    opts: &VerifyOptions,
    r: &mut Report,
) -> String {
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
                let sig = Base64::decode_vec(h.signature.as_deref().unwrap_or_default())
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
                        if key.verify_strict(h.signed_bytes().as_bytes(), &sig).is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes a head signs are those the former separate body record had: every field but
    /// the signature, in order, pretty JSON and a newline; `head.json` adds the signature.
    #[test]
    fn a_head_signs_its_fields_without_the_signature_and_requires_one() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let h = sign_head(&key, 3, &"a".repeat(64), &"b".repeat(64));
        let body = format!(
            "{{\n  \"schema\": \"drillbit.head/v1\",\n  \"sequence\": 3,\n  \"manifest_sha256\": \"{}\",\n  \"index_sha256\": \"{}\",\n  \"created\": \"{}\",\n  \"public_key\": \"{}\"\n}}\n",
            "a".repeat(64),
            "b".repeat(64),
            h.created,
            public_key_b64(&key.verifying_key())
        );
        assert_eq!(h.signed_bytes(), body);
        let sig = h.signature.clone().expect("signed");
        let raw = <[u8; 64]>::try_from(Base64::decode_vec(&sig).expect("base64")).expect("64 bytes");
        assert!(key
            .verifying_key()
            .verify_strict(body.as_bytes(), &Signature::from_bytes(&raw))
            .is_ok());
        let file = canonical(&h);
        let fields = body.strip_suffix("\n}\n").expect("an object");
        assert_eq!(file, format!("{fields},\n  \"signature\": \"{sig}\"\n}}\n"));
        assert_eq!(serde_json::from_str::<Head>(&file).expect("parses"), h);
        let unsigned = file.replace(&format!(",\n  \"signature\": \"{sig}\""), "");
        let e = serde_json::from_str::<Head>(&unsigned).expect_err("no signature");
        assert!(e.to_string().contains("missing field `signature`"), "{e}");
        assert!(serde_json::from_str::<Head>(&file.replace(&format!("\"{sig}\""), "null")).is_err());
    }
}
