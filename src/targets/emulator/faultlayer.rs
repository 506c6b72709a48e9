//! drillbit's fault layer: an HTTP proxy in front of any AWS-compatible endpoint (moto,
//! LocalStack, ...) that makes faults real for the drill where the emulator cannot.
//!
//! Every call the AWS SDK makes is classified by region and service (from the SigV4 credential
//! scope of its `Authorization` header) and by operation (the query protocol's `Action=`, the
//! JSON protocols' `X-Amz-Target`, or the REST method and path). Rules then decide per call:
//! - **drop** the connection (the region is unreachable: a region outage);
//! - answer with an **error** in the service's own wire format (throttling, 503, a capacity
//!   error, a resource that does not exist: DR drift);
//! - add **latency** before forwarding;
//! - **respond** with a fixed body (a state override the emulator lacks: a Route 53 health check
//!   that reports failure).
//!
//! Everything else is forwarded unchanged. Each call is recorded (service, region, operation,
//! status, whether a rule acted) so a drill can show what it did and tests can check that a
//! command made no state-changing call.
//!
//! Connections are one request each (`Connection: close`): simple, and the SDK reconnects.

use crate::conninfo::decoded;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (AWS control-plane calls are small).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What a rule does to a matching call.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Close the connection without an answer: the endpoint is unreachable.
    Drop,
    /// Answer with an error in the service's protocol.
    Error { status: u16, code: String, message: String },
    /// Wait, then forward.
    Latency(Duration),
    /// Answer with this body (status 200) instead of asking the emulator.
    Respond { content_type: String, body: String },
}

/// Which calls a rule matches; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub region: Option<String>,
    pub service: Option<String>,
    pub operation: Option<String>,
    /// A string the request path or body must contain (a resource identifier).
    pub contains: Option<String>,
    /// Services the rule never matches (global services in a region outage).
    pub except_services: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: u64,
    pub matches: Match,
    pub effect: Effect,
    /// Acts on this many calls, then lapses (`None`: until removed).
    pub remaining: Option<u32>,
    /// A label for the call log (e.g. the scenario's fault id).
    pub label: String,
}

/// One call seen by the layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub region: String,
    pub service: String,
    pub operation: String,
    /// The HTTP status returned to the client (0 when the connection was dropped).
    pub status: u16,
    /// The label of the rule that acted on the call, if any.
    pub rule: Option<String>,
    /// Whose call it was, from the SDK's user agent: `act` (drillbit's runbook, provisioning
    /// and discovery), `observe` (drillbit's observer), `other` (any other client).
    pub client: &'static str,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    next_id: u64,
    calls: Vec<Call>,
}

/// A running fault layer. Dropping it stops the listener.
pub struct FaultLayer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FaultLayer {
    /// Listens on a free loopback port and forwards to `upstream` (host:port).
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultLayer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, upstream, st).await;
                });
            }
        });
        Ok(FaultLayer {
            addr,
            state,
            stop,
            task: Some(task),
        })
    }

    /// The endpoint URL clients use instead of the emulator's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, label: &str, matches: Match, effect: Effect, remaining: Option<u32>) -> u64 {
        let mut s = lock(&self.state);
        s.next_id += 1;
        let id = s.next_id;
        s.rules.push(Rule {
            id,
            matches,
            effect,
            remaining,
            label: label.to_string(),
        });
        id
    }

    /// Removes every rule with this label; true when one was removed.
    pub fn remove_label(&self, label: &str) -> bool {
        let mut s = lock(&self.state);
        let before = s.rules.len();
        s.rules.retain(|r| r.label != label);
        s.rules.len() != before
    }

    pub fn clear(&self) {
        lock(&self.state).rules.clear();
    }

    pub fn rules(&self) -> Vec<Rule> {
        lock(&self.state).rules.clone()
    }

    /// Every call seen so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// The calls seen after the first `n`, in order.
    pub fn calls_since(&self, n: usize) -> Vec<Call> {
        lock(&self.state)
            .calls
            .get(n..)
            .map(<[Call]>::to_vec)
            .unwrap_or_default()
    }
}

impl Drop for FaultLayer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A parsed request head.
#[derive(Debug, Default)]
pub struct RequestInfo {
    pub method: String,
    pub path: String,
    pub region: String,
    pub service: String,
    pub operation: String,
    json_target: bool,
    /// Whose call it is (see [`Call::client`]).
    pub client: &'static str,
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Region and service from a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/rds/aws4_request, ...`.
fn credential_scope(auth: &str) -> Option<(String, String)> {
    let cred = auth.split("Credential=").nth(1)?;
    let cred = cred.split([',', ' ']).next()?;
    let mut parts = cred.split('/');
    let _key = parts.next()?;
    let _date = parts.next()?;
    let region = parts.next()?;
    let service = parts.next()?;
    Some((region.to_string(), service.to_string()))
}

fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// The operation of a REST call, for the services drillbit drives; else `METHOD /first/segments`.
fn rest_operation(service: &str, method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let op = match (service, method, segs.as_slice()) {
        ("route53", "POST", [_, "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("route53", "GET", [_, "hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("route53", "POST", [_, "hostedzone"]) => "CreateHostedZone",
        ("route53", "GET", [_, "hostedzone"]) => "ListHostedZones",
        ("route53", "GET", [_, "hostedzonesbyname"]) => "ListHostedZonesByName",
        ("route53", "GET", [_, "hostedzone", _]) => "GetHostedZone",
        ("route53", "POST", [_, "healthcheck"]) => "CreateHealthCheck",
        ("route53", "GET", [_, "healthcheck", _, "status"]) => "GetHealthCheckStatus",
        ("route53", "GET", [_, "healthcheck", _]) => "GetHealthCheck",
        ("route53", "POST", [_, "healthcheck", _]) => "UpdateHealthCheck",
        ("route53", "GET", [_, "change", _]) => "GetChange",
        ("fis", "POST", ["experimentTemplates"]) => "CreateExperimentTemplate",
        ("fis", "POST", ["experiments"]) => "StartExperiment",
        ("fis", "GET", ["experiments", _]) => "GetExperiment",
        ("fis", "DELETE", ["experiments", _]) => "StopExperiment",
        ("fis", "DELETE", ["experimentTemplates", _]) => "DeleteExperimentTemplate",
        ("s3", "GET", [_]) if path.contains("replication") => "GetBucketReplication",
        _ => {
            let short: Vec<&str> = segs.iter().take(2).copied().collect();
            return format!("{method} /{}", short.join("/"));
        }
    };
    op.to_string()
}

/// Classifies a request from its head and body.
pub fn classify(head: &str, body: &[u8]) -> RequestInfo {
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let (region, service) = header(head, "authorization")
        .and_then(credential_scope)
        .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
    let target = header(head, "x-amz-target");
    let operation = if let Some(t) = target {
        t.rsplit('.').next().unwrap_or(t).to_string()
    } else if let Some(a) = form_value(&String::from_utf8_lossy(body), "Action") {
        a
    } else if let Some(a) = path.split("Action=").nth(1) {
        a.split('&').next().unwrap_or(a).to_string()
    } else {
        rest_operation(&service, &method, &path)
    };
    RequestInfo {
        method,
        path,
        region,
        service,
        operation,
        json_target: target.is_some(),
        client: client_of(head),
    }
}

/// Whose call a request is, from the app name the SDK puts in its user agent
/// (`targets::live::Role`).
fn client_of(head: &str) -> &'static str {
    let ua = |name| header(head, name).unwrap_or("");
    let agents = [ua("x-amz-user-agent"), ua("user-agent")];
    let has = |app: &str| {
        agents
            .iter()
            .any(|a| a.split(' ').any(|part| part == format!("app/{app}")))
    };
    if has("drillbit-observe") {
        "observe"
    } else if has("drillbit") {
        "act"
    } else {
        "other"
    }
}

fn matches(m: &Match, req: &RequestInfo, body: &[u8]) -> bool {
    let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have));
    !m.except_services.iter().any(|x| x.eq_ignore_ascii_case(&req.service))
        && eq(&m.region, &req.region)
        && eq(&m.service, &req.service)
        && eq(&m.operation, &req.operation)
        && m.contains.as_deref().is_none_or(|c| {
            req.path.contains(c) || String::from_utf8_lossy(body).contains(c) || decoded(&req.path).contains(c)
        })
}

/// An error response in the wire format the service's SDK parses.
pub fn error_response(req: &RequestInfo, status: u16, code: &str, message: &str) -> Vec<u8> {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let (ctype, body) = match req.service.as_str() {
        _ if req.json_target => (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        ),
        "rds" | "autoscaling" | "sts" | "elasticache" | "ec2" => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>drillbit-fault-layer</RequestId></ErrorResponse>",
                esc(code),
                esc(message)
            ),
        ),
        "route53" => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>drillbit-fault-layer</RequestId></ErrorResponse>",
                esc(code),
                esc(message)
            ),
        ),
        "s3" => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>drillbit-fault-layer</RequestId></Error>",
                esc(code),
                esc(message)
            ),
        ),
        _ => (
            "application/json",
            serde_json::json!({ "message": message, "code": code }).to_string(),
        ),
    };
    let reason = match status {
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\nx-amzn-errortype: {code}\r\nx-amzn-requestid: drillbit-fault-layer\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An HTML page where an AWS error document was expected (a Python traceback page).
fn not_implemented_page(resp: &[u8]) -> bool {
    let Some(end) = find_head_end(resp) else {
        return false;
    };
    let body = String::from_utf8_lossy(&resp[end..resp.len().min(end + 512)]).to_ascii_lowercase();
    body.trim_start().starts_with("<!doctype html") || body.contains("has not been implemented")
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

async fn read_request(sock: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(e) = find_head_end(&buf) {
            break e;
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if len > MAX_BODY {
        return Ok(None);
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Some((head, body)))
}

/// The request head with `Connection: close` in place of any connection header.
fn close_head(head: &str) -> String {
    let mut out = String::with_capacity(head.len() + 20);
    for l in head.trim_end_matches("\r\n").split("\r\n") {
        let name = l.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    out
}

async fn serve(mut sock: TcpStream, upstream: SocketAddr, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some((head, body)) = read_request(&mut sock).await? else {
        return Ok(());
    };
    let req = classify(&head, &body);
    // The first matching rule acts (latency rules let later ones act too).
    let mut delay = Duration::ZERO;
    let mut acted: Option<(String, Effect)> = None;
    {
        let mut s = lock(&state);
        for r in s.rules.iter_mut() {
            if r.remaining == Some(0) || !matches(&r.matches, &req, &body) {
                continue;
            }
            if let Some(n) = r.remaining.as_mut() {
                *n -= 1;
            }
            if let Effect::Latency(d) = r.effect {
                delay += d;
                if acted.is_none() {
                    acted = Some((r.label.clone(), r.effect.clone()));
                }
                continue;
            }
            acted = Some((r.label.clone(), r.effect.clone()));
            break;
        }
        s.rules.retain(|r| r.remaining != Some(0));
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let record = |status: u16| {
        lock(&state).calls.push(Call {
            region: req.region.clone(),
            service: req.service.clone(),
            operation: req.operation.clone(),
            status,
            rule: acted.as_ref().map(|(l, _)| l.clone()),
            client: req.client,
        });
    };
    match acted.as_ref().map(|(_, e)| e) {
        Some(Effect::Drop) => {
            record(0);
            // An unreachable endpoint: the connection closes without an answer.
            return Ok(());
        }
        Some(Effect::Error { status, code, message }) => {
            record(*status);
            sock.write_all(&error_response(&req, *status, code, message)).await?;
            return sock.shutdown().await;
        }
        Some(Effect::Respond { content_type, body }) => {
            record(200);
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-amzn-requestid: drillbit-fault-layer\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(resp.as_bytes()).await?;
            return sock.shutdown().await;
        }
        Some(Effect::Latency(_)) | None => {}
    }
    let forwarded = async {
        let mut up = TcpStream::connect(upstream).await?;
        up.write_all(close_head(&head).as_bytes()).await?;
        up.write_all(&body).await?;
        let mut resp = Vec::new();
        up.read_to_end(&mut resp).await?;
        Ok::<_, std::io::Error>(resp)
    };
    match tokio::time::timeout(Duration::from_secs(60), forwarded).await {
        Ok(Ok(resp)) => {
            let status = String::from_utf8_lossy(&resp[..resp.len().min(16)])
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if status == 500 && not_implemented_page(&resp) {
                // moto raises NotImplementedError for operations it lacks and answers with an
                // HTML error page; say so in the service's own format, as a 501.
                record(501);
                let msg = format!("the emulator does not implement {}", req.operation);
                sock.write_all(&error_response(&req, 501, "NotImplemented", &msg))
                    .await?;
            } else {
                record(status);
                sock.write_all(&resp).await?;
            }
        }
        _ => {
            record(502);
            sock.write_all(&error_response(
                &req,
                503,
                "ServiceUnavailable",
                "the emulator did not answer",
            ))
            .await?;
        }
    }
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_query_json_and_rest_calls() {
        let auth = "Authorization: AWS4-HMAC-SHA256 Credential=test/20261125/us-west-2/rds/aws4_request, SignedHeaders=host, Signature=x";
        let head = format!("POST / HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n");
        let r = classify(
            &head,
            b"Action=PromoteReadReplica&Version=2014-10-31&DBInstanceIdentifier=db-dr",
        );
        assert_eq!((r.region.as_str(), r.service.as_str()), ("us-west-2", "rds"));
        assert_eq!(r.operation, "PromoteReadReplica");

        let head = "POST / HTTP/1.1\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.UpdateService\r\nauthorization: AWS4-HMAC-SHA256 Credential=k/20261125/us-west-2/ecs/aws4_request\r\n\r\n";
        let r = classify(head, b"{}");
        assert_eq!((r.service.as_str(), r.operation.as_str()), ("ecs", "UpdateService"));
        assert!(error_response(&r, 400, "ThrottlingException", "slow").starts_with(b"HTTP/1.1 400"));

        let head = "GET /2013-04-01/healthcheck/abc/status HTTP/1.1\r\nauthorization: AWS4-HMAC-SHA256 Credential=k/20261125/us-east-1/route53/aws4_request\r\n\r\n";
        assert_eq!(classify(head, b"").operation, "GetHealthCheckStatus");
        let head = "GET /foo HTTP/1.1\r\n\r\n";
        let r = classify(head, b"");
        assert_eq!((r.region.as_str(), r.operation.as_str()), ("unknown", "GET /foo"));
        assert_eq!(r.client, "other");
    }

    #[test]
    fn the_user_agent_says_whose_call_it_is() {
        let with = |ua: &str| classify(&format!("GET / HTTP/1.1\r\nx-amz-user-agent: {ua}\r\n\r\n"), b"").client;
        assert_eq!(with("aws-sdk-rust/1.3 ua/2.1 api/rds/1.9 app/drillbit"), "act");
        assert_eq!(
            with("aws-sdk-rust/1.3 ua/2.1 api/rds/1.9 app/drillbit-observe"),
            "observe"
        );
        assert_eq!(with("Boto3/1.35 md/Botocore#1.35 app/drillbitx"), "other");
        assert_eq!(with("Boto3/1.35 md/Botocore#1.35"), "other");
    }

    #[test]
    fn rules_match_by_region_service_operation_and_identifier() {
        let r = RequestInfo {
            method: "POST".into(),
            path: "/".into(),
            region: "us-west-2".into(),
            service: "rds".into(),
            operation: "PromoteReadReplica".into(),
            json_target: false,
            client: "act",
        };
        let m = |region: Option<&str>, op: Option<&str>, c: Option<&str>| Match {
            region: region.map(String::from),
            service: Some("rds".into()),
            operation: op.map(String::from),
            contains: c.map(String::from),
            except_services: Vec::new(),
        };
        assert!(matches(&m(Some("us-west-2"), None, None), &r, b""));
        assert!(!matches(&m(Some("us-east-1"), None, None), &r, b""));
        assert!(matches(
            &m(None, Some("promotereadreplica"), Some("db-dr")),
            &r,
            b"DBInstanceIdentifier=db-dr"
        ));
        assert!(!matches(
            &m(None, None, Some("other")),
            &r,
            b"DBInstanceIdentifier=db-dr"
        ));
        assert_eq!(decoded("a%3Ab%2F"), "a:b/");
        assert_eq!(decoded("100%"), "100%");
    }

    #[test]
    fn the_close_head_replaces_keep_alive() {
        let h = close_head("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(h, "GET / HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n");
    }
}
