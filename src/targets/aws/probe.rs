//! The aws target's client probe: an HTTP GET of the service's health URL, through the real
//! DNS, as the service's clients reach it. A 2xx or 3xx answer within the timeout is a good
//! probe; anything else (refused, reset, timed out, 4xx, 5xx) is a failed one.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A reusable HTTP(S) client for the probe. Connections are not pooled: each probe resolves
/// the name and connects anew, as a client whose cached DNS answer expired would.
#[derive(Clone)]
pub struct Prober {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    url: hyper::Uri,
}

impl Prober {
    pub fn new(url: &str) -> Result<Prober, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("probe_url `{url}`: {e}"))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("TLS roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https);
        Ok(Prober { client, url: uri })
    }

    /// One probe: Ok(status) on a good answer, Err(why) otherwise.
    pub async fn probe(&self, timeout: Duration) -> Result<u16, String> {
        let req = hyper::Request::get(self.url.clone())
            .header(
                "user-agent",
                concat!("drillbit/", env!("CARGO_PKG_VERSION"), " (DR drill probe)"),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| format!("{e}"))?;
            let status = resp.status().as_u16();
            // Read the body so the answer is complete, not only its head.
            let _ = resp.into_body().collect().await;
            Ok::<u16, String>(status)
        };
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            Ok(Err(e)) => Err(e),
            Ok(Ok(s)) if (200..400).contains(&s) => Ok(s),
            Ok(Ok(s)) => Err(format!("HTTP {s}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn serve(status: &'static str) -> String {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        format!("http://{addr}/health")
    }

    #[test]
    fn good_and_bad_answers() {
        let rt = tokio::runtime::Runtime::new().expect("rt");
        let ok = Prober::new(&serve("200 OK")).expect("prober");
        assert_eq!(rt.block_on(ok.probe(Duration::from_secs(2))), Ok(200));
        let bad = Prober::new(&serve("503 Service Unavailable")).expect("prober");
        assert_eq!(rt.block_on(bad.probe(Duration::from_secs(2))), Err("HTTP 503".into()));
        // A port nobody listens on: refused, a failed probe, not a panic.
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let gone = Prober::new(&format!("http://127.0.0.1:{port}/")).expect("prober");
        assert!(rt.block_on(gone.probe(Duration::from_secs(2))).is_err());
        assert!(Prober::new("not a url").is_err());
    }
}
