//! PostgreSQL connections over TLS with libpq's `sslmode` meaning, for the aws target's
//! canary database (RDS for PostgreSQL 15 and later refuses plain connections by default:
//! `rds.force_ssl = 1`).
//!
//! tokio-postgres itself knows only `disable`, `prefer` and `require` and has no TLS of its
//! own. This module reads the whole libpq set from the connection string, key/value or URL
//! form:
//!
//! | sslmode | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | no | - |
//! | `prefer` (the default) | if the server offers TLS | no |
//! | `require` | yes | no; as `verify-ca` when `sslrootcert` is given (libpq does the same) |
//! | `verify-ca` | yes | chains to `sslrootcert` |
//! | `verify-full` | yes | chains to `sslrootcert` and names the host |
//!
//! `sslrootcert` is a PEM file (the RDS bundle, `global-bundle.pem`), or `system` for the
//! operating system's roots; without it the verifying modes use `~/.postgresql/root.crt`, as
//! libpq does. As in libpq, `PGSSLMODE`, `PGSSLROOTCERT` and `PGPASSWORD` stand in for
//! settings the string does not have, so a password need not be written in the scenario.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// A connection string read with the libpq TLS settings tokio-postgres does not know.
pub struct Settings {
    pub config: tokio_postgres::Config,
    pub mode: Mode,
    /// `sslrootcert` as written (a path, or `system`).
    pub root_cert: Option<String>,
}

/// Reads `conninfo` (key/value or `postgresql://` URL). Errors never repeat the string, which
/// may hold a password.
pub fn parse(conninfo: &str) -> Result<Settings, String> {
    parse_with(conninfo, &|k| std::env::var(k).ok())
}

/// [`parse`] with the environment given (`env` answers a variable's value).
pub fn parse_with(conninfo: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
    let url = conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://");
    let (rest, pairs) = if url {
        split_url(conninfo)
    } else {
        (String::new(), crate::conninfo::keyword_pairs(conninfo)?)
    };
    let mut mode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "sslmode" => {
                mode = Some(match v.as_str() {
                    "disable" => Mode::Disable,
                    // libpq's `allow` tries plain first; the nearest tokio-postgres offers.
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        ))
                    }
                })
            }
            "sslrootcert" => root_cert = Some(v),
            _ => kept.push((k, v)),
        }
    }
    // libpq's environment defaults, so secrets and paths can stay out of the scenario file
    // (which reports and evidence copy).
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    if mode.is_none() {
        if let Some(m) = env("PGSSLMODE") {
            let with = format!("{conninfo}{}sslmode={m}", separator(conninfo, url));
            return parse_with(&with, &|k| env(k));
        }
    }
    let root_cert = root_cert.or_else(|| env("PGSSLROOTCERT"));
    let mode = match (mode, &root_cert) {
        (Some(Mode::Require), Some(_)) => Mode::VerifyCa,
        (Some(m), _) => m,
        (None, _) => Mode::Prefer,
    };
    let text = if url {
        let query: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
        if query.is_empty() {
            rest
        } else {
            format!("{rest}?{}", query.join("&"))
        }
    } else {
        let parts: Vec<String> = kept.iter().map(|(k, v)| format!("{k}='{}'", quote(v))).collect();
        parts.join(" ")
    };
    let mut config: tokio_postgres::Config = text
        .parse()
        .map_err(|e: tokio_postgres::Error| format!("the connection string: {e}"))?;
    if config.get_password().is_none() {
        if let Some(p) = env("PGPASSWORD") {
            config.password(p);
        }
    }
    config.ssl_mode(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    Ok(Settings {
        config,
        mode,
        root_cert,
    })
}

/// What joins one more setting to a connection string.
fn separator(conninfo: &str, url: bool) -> &'static str {
    match (url, conninfo.contains('?')) {
        (true, true) => "&",
        (true, false) => "?",
        (false, _) => " ",
    }
}

/// Connects with the TLS `conninfo` asks for. The connection runs on the current runtime.
pub async fn connect(conninfo: &str) -> Result<tokio_postgres::Client, String> {
    let s = parse(conninfo)?;
    let tls = MakeRustls(Arc::new(client_config(s.mode, s.root_cert.as_deref())?));
    let (client, conn) = s
        .config
        .connect(tls)
        .await
        .map_err(|e| format!("{} (sslmode={})", error_chain(&e), s.mode.as_str()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls client for `mode`; the verifying modes load their roots here, so a missing or
/// empty CA file is named before any connection is tried.
pub fn client_config(mode: Mode, root_cert: Option<&str>) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let chain = match mode {
        Mode::Disable | Mode::Prefer | Mode::Require => None,
        Mode::VerifyCa | Mode::VerifyFull => {
            let roots = Arc::new(roots(mode, root_cert)?);
            Some(
                WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("TLS set-up: {e}"))?,
            )
        }
    };
    let verifier = Arc::new(Verifier {
        chain,
        names: mode == Mode::VerifyFull,
        provider,
    });
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn roots(mode: Mode, root_cert: Option<&str>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    if root_cert == Some("system") {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = store.add(cert);
        }
        if store.is_empty() {
            return Err(format!(
                "sslmode={}: sslrootcert=system found no certificates on this system",
                mode.as_str()
            ));
        }
        return Ok(store);
    }
    let path = match root_cert {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".postgresql/root.crt"),
            None => {
                return Err(format!(
                    "sslmode={} needs the CA certificate: set sslrootcert=FILE or sslrootcert=system",
                    mode.as_str()
                ))
            }
        },
    };
    let certs = CertificateDer::pem_file_iter(&path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "sslmode={} needs the CA certificate: {}: {e} (set sslrootcert=FILE or sslrootcert=system)",
                mode.as_str(),
                path.display()
            )
        })?;
    let (_, bad) = store.add_parsable_certificates(certs);
    if store.is_empty() {
        return Err(format!(
            "sslmode={}: {} holds no usable certificate{}",
            mode.as_str(),
            path.display(),
            if bad > 0 {
                format!(" ({bad} unparsable)")
            } else {
                String::new()
            }
        ));
    }
    Ok(store)
}

/// The server certificate check of a mode. Without `chain` (`prefer`, `require`) the
/// certificate is taken as it comes, libpq's meaning; with it the chain must reach a trusted
/// root, and with `names` (`verify-full`) the certificate must also name the host. The
/// handshake signatures are checked in every mode.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    names: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS hook, on rustls.
#[derive(Clone)]
struct MakeRustls(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Connect, io::Error> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("host `{domain}`: {e}")))?;
        Ok(Connect {
            config: self.0.clone(),
            name,
        })
    }
}

struct Connect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(Stream(tls))
        })
    }
}

struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding (tokio-postgres's `channel_binding=prefer` falls back).
        ChannelBinding::none()
    }
}

// ---------------------------------------------------------------------------------------------
// Connection strings
// ---------------------------------------------------------------------------------------------

fn quote(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A URL's part before `?`, and its query parameters, decoded.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), Vec::new());
    };
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (crate::conninfo::decoded(k), crate::conninfo::decoded(v))
        })
        .collect();
    (base.to_string(), pairs)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || b"-._~/".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libpq_modes_are_read_and_the_rest_is_kept() {
        let s = parse(
            "host=db.example.com port = 5433 user=app password='it\\'s x' sslmode=verify-full sslrootcert=/etc/rds.pem",
        )
        .expect("parses");
        assert_eq!(s.mode, Mode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some("/etc/rds.pem"));
        assert_eq!(s.config.get_ports(), &[5433]);
        assert_eq!(s.config.get_password(), Some(&b"it's x"[..]));
        assert_eq!(s.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(parse("host=h").unwrap().mode, Mode::Prefer);
        assert_eq!(
            parse("host=h sslmode=disable").unwrap().config.get_ssl_mode(),
            SslMode::Disable
        );
        // libpq: `require` with a root certificate checks the chain.
        assert_eq!(
            parse("host=h sslmode=require sslrootcert=ca.pem").unwrap().mode,
            Mode::VerifyCa
        );
        let Err(e) = parse("host=h sslmode=verify") else {
            panic!("accepted")
        };
        assert!(e.contains("`verify`") && e.contains("verify-full"), "{e}");
    }

    #[test]
    fn urls_keep_their_other_parameters() {
        let s = parse("postgresql://app:p%40ss@db.example.com:5432/orders?sslmode=verify-ca&sslrootcert=%2Ftmp%2Fca%20x.pem&application_name=drillbit")
            .expect("parses");
        assert_eq!(s.mode, Mode::VerifyCa);
        assert_eq!(s.root_cert.as_deref(), Some("/tmp/ca x.pem"));
        assert_eq!(s.config.get_application_name(), Some("drillbit"));
        assert_eq!(s.config.get_dbname(), Some("orders"));
        assert_eq!(s.config.get_password(), Some(&b"p@ss"[..]));
    }

    #[test]
    fn a_verifying_mode_names_a_missing_ca_file() {
        let Err(e) = client_config(Mode::VerifyFull, Some("/nonexistent/ca.pem")) else {
            panic!("accepted")
        };
        assert!(e.contains("/nonexistent/ca.pem") && e.contains("sslrootcert"), "{e}");
        assert!(client_config(Mode::Require, None).is_ok());
    }

    #[test]
    fn libpq_environment_fills_what_the_string_lacks() {
        let env = |k: &str| match k {
            "PGSSLMODE" => Some("verify-full".to_string()),
            "PGSSLROOTCERT" => Some("/etc/rds/global-bundle.pem".to_string()),
            "PGPASSWORD" => Some("from-env".to_string()),
            _ => None,
        };
        let s = parse_with("host=db user=app", &env).expect("parses");
        assert_eq!(s.mode, Mode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some("/etc/rds/global-bundle.pem"));
        assert_eq!(s.config.get_password(), Some(&b"from-env"[..]));
        // What the string says wins.
        let s = parse_with("postgresql://app:own@db/x?sslmode=disable", &env).expect("parses");
        assert_eq!(s.mode, Mode::Disable);
        assert_eq!(s.config.get_password(), Some(&b"own"[..]));
        let s = parse_with("postgresql://app@db/x", &env).expect("parses");
        assert_eq!(s.mode, Mode::VerifyFull);
    }

    #[test]
    fn errors_do_not_repeat_the_password() {
        let Err(e) = parse("host=h password=hunter2 port=notaport") else {
            panic!("accepted")
        };
        assert!(!e.contains("hunter2"), "{e}");
    }
}
