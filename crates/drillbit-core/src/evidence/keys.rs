//! Keys: ed25519, the private key as PKCS#8 v1 PEM and the public key as SPKI PEM (both read
//! by OpenSSL), and the raw public key a manifest or head records.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::files::{read_regular, Slurp};
use super::manifest::SigningInfo;
use super::{io_err, Error};

pub(super) fn read_key_file(path: &Path) -> Result<String, Error> {
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
pub(super) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
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

/// The key a manifest records.
pub(super) fn recorded_key(s: &SigningInfo) -> Result<VerifyingKey, String> {
    let raw = Base64::decode_vec(&s.public_key).map_err(|_| "signing.public_key is not base64".to_string())?;
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| "signing.public_key is not 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&raw).map_err(|_| "signing.public_key is not an ed25519 key".to_string())
}
