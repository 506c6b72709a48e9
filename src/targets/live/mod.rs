//! AWS drivers on the official Rust SDK, shared by the `emulator` and `aws` targets.
//!
//! - [`Clients`]: one set of service clients per region (the runbook spans two), built from
//!   the standard credential chain, profile and region, with an optional endpoint override
//!   (`--endpoint-url`, or the SDK's own `AWS_ENDPOINT_URL`).
//! - Retries and timeouts are set here, deliberately: the SDK's standard mode retries
//!   throttling and transient errors with exponential backoff and jitter (4 attempts, 200 ms
//!   initial backoff, 5 s cap); an answer that says the endpoint does not serve the operation
//!   (HTTP 501, `NotImplemented`, LocalStack's licence answer) is never retried
//!   ([`NoRetryUnsupported`]) and becomes [`ApiError::Unsupported`].
//! - [`actions`]: each runbook action as SDK calls plus a wait for the resulting state.
//! - [`provision`]: stands the scenario's topology up in an emulator and tears it down.
//! - [`observe`]: reads which region serves clients, for the client probe.

pub mod actions;
pub mod adapter;
pub mod check;
pub mod data;
pub mod deprovision;
pub mod dns;
mod env;
pub mod experiment;
pub mod iac;
pub mod observe;
pub mod pgtls;
mod planned;
pub mod provision;
pub mod runbook;

use std::time::Duration;

use crate::catalogue::actions::{Action, ActionDef};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

/// How an AWS call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The endpoint does not serve this operation (an emulator's gap).
    Unsupported(String),
    /// Anything else, with the service's error code and message.
    Failed(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Unsupported(m) | ApiError::Failed(m) => f.write_str(m),
        }
    }
}

/// True when an answer means "this endpoint does not implement the operation".
pub fn is_unsupported(status: u16, code: &str, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    status == 501
        || code == "NotImplemented"
        || code == "NotImplementedException"
        || m.contains("not yet been implemented")
        || m.contains("has not been implemented")
        || m.contains("not included in your current license")
}

/// Converts an SDK error into an [`ApiError`] naming the operation, code and message.
pub fn api_error<E>(op: &str, e: aws_sdk_rds::error::SdkError<E, aws_smithy_runtime_api::http::Response>) -> ApiError
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_rds::error::ProvideErrorMetadata;
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    let code = e.code().unwrap_or("").to_string();
    let message = e.message().unwrap_or("").to_string();
    if let aws_sdk_rds::error::SdkError::DispatchFailure(_) | aws_sdk_rds::error::SdkError::TimeoutError(_) = &e {
        return ApiError::Failed(format!(
            "{op}: no answer from the endpoint (connection failed or timed out)"
        ));
    }
    let detail = if code.is_empty() && message.is_empty() {
        format!("{}", aws_sdk_rds::error::DisplayErrorContext(&e))
    } else {
        format!("{code}: {message}")
    };
    if is_unsupported(status, &code, &message) {
        ApiError::Unsupported(format!("{op}: unsupported by this endpoint ({detail})"))
    } else if status != 0 {
        ApiError::Failed(format!("{op}: HTTP {status} {detail}"))
    } else {
        ApiError::Failed(format!("{op}: {detail}"))
    }
}

/// Forbids retrying an answer that says the operation is not implemented.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRetryUnsupported;

impl ClassifyRetry for NoRetryUnsupported {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(resp) = ctx.response() else {
            return RetryAction::NoActionIndicated;
        };
        let status = resp.status().as_u16();
        let body = resp.body().bytes().unwrap_or(&[]);
        let text = String::from_utf8_lossy(&body[..body.len().min(2048)]);
        let code = if text.contains("NotImplemented") {
            "NotImplemented"
        } else {
            ""
        };
        if is_unsupported(status, code, &text) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }
    fn name(&self) -> &'static str {
        "drillbit: never retry an unsupported operation"
    }
}

/// Where the SDK sends its calls and with which credentials.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Endpoint override for every service (an emulator, or the fault layer in front of it).
    pub endpoint_url: Option<String>,
    /// Static test credentials (emulators accept any); `false`: the standard chain.
    pub test_credentials: bool,
    /// A named profile from the shared config files.
    pub profile: Option<String>,
}

/// The retry policy: throttling and transient errors retried with backoff, bounded.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(4)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5))
}

pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// Whose calls a set of clients makes. The user agent says it (`app/drillbit` or
/// `app/drillbit-observe`), so the emulator's call log can tell the runbook's calls from the
/// observer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The runbook, provisioning, discovery: retried.
    Act,
    /// Observation: one attempt, so a dropped region answers at once.
    Observe,
}

impl Role {
    fn attempts(self) -> u32 {
        match self {
            Role::Act => 4,
            Role::Observe => 1,
        }
    }

    pub fn app_name(self) -> &'static str {
        match self {
            Role::Act => "drillbit",
            Role::Observe => "drillbit-observe",
        }
    }
}

async fn sdk_config(region: &str, c: &Connection, role: Role) -> SdkConfig {
    let attempts = role.attempts();
    let mut l = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(retry_config().with_max_attempts(attempts))
        .timeout_config(timeout_config());
    if let Ok(app) = aws_config::AppName::new(role.app_name()) {
        l = l.app_name(app);
    }
    if let Some(u) = &c.endpoint_url {
        l = l.endpoint_url(u);
    }
    if let Some(p) = &c.profile {
        l = l.profile_name(p);
    }
    if c.test_credentials {
        l = l.credentials_provider(aws_sdk_sts::config::Credentials::new(
            "drillbit",
            "drillbit",
            None,
            None,
            "drillbit-emulator",
        ));
    }
    l.load().await
}

/// The clients of one region.
#[derive(Clone, Debug)]
pub struct Regional {
    pub region: String,
    pub rds: aws_sdk_rds::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub asg: aws_sdk_autoscaling::Client,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub fis: aws_sdk_fis::Client,
    pub backup: aws_sdk_backup::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub sts: aws_sdk_sts::Client,
}

macro_rules! client {
    ($krate:ident, $cfg:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($cfg)
                .retry_classifier(NoRetryUnsupported)
                .build(),
        )
    };
}

impl Regional {
    pub async fn new(region: &str, c: &Connection, role: Role) -> Regional {
        let cfg = sdk_config(region, c, role).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&cfg)
                .force_path_style(c.endpoint_url.is_some())
                .retry_classifier(NoRetryUnsupported)
                .build(),
        );
        Regional {
            region: region.to_string(),
            rds: client!(aws_sdk_rds, &cfg),
            ecs: client!(aws_sdk_ecs, &cfg),
            asg: client!(aws_sdk_autoscaling, &cfg),
            s3,
            dynamodb: client!(aws_sdk_dynamodb, &cfg),
            fis: client!(aws_sdk_fis, &cfg),
            backup: client!(aws_sdk_backup, &cfg),
            elasticache: client!(aws_sdk_elasticache, &cfg),
            cloudformation: client!(aws_sdk_cloudformation, &cfg),
            sts: client!(aws_sdk_sts, &cfg),
        }
    }
}

/// The clients of a drill: its primary and DR regions, and Route 53 (a global service signed
/// for us-east-1).
#[derive(Clone, Debug)]
pub struct Clients {
    pub primary: Regional,
    pub dr: Regional,
    pub route53: aws_sdk_route53::Client,
}

impl Clients {
    pub async fn new(primary: &str, dr: &str, c: &Connection) -> Clients {
        Clients::for_role(primary, dr, c, Role::Act).await
    }

    pub async fn for_role(primary: &str, dr: &str, c: &Connection, role: Role) -> Clients {
        let global = sdk_config("us-east-1", c, role).await;
        Clients {
            primary: Regional::new(primary, c, role).await,
            dr: Regional::new(dr, c, role).await,
            route53: client!(aws_sdk_route53, &global),
        }
    }

    /// Who the credentials are (STS GetCallerIdentity in the primary region): the account id
    /// and the caller's ARN, empty where the answer has none.
    pub async fn caller(&self) -> Result<(String, String), ApiError> {
        let ident = self
            .primary
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| api_error("GetCallerIdentity", e))?;
        Ok((
            ident.account().unwrap_or_default().to_string(),
            ident.arn().unwrap_or_default().to_string(),
        ))
    }

    pub fn region(&self, name: &str) -> &Regional {
        if name == self.dr.region {
            &self.dr
        } else {
            &self.primary
        }
    }
}

/// What an emulator serves of drillbit's actions, by name (`rds.promote-read-replica`), with
/// the reason when it does not. Calls outside the table are attempted; an answer that says
/// "not implemented" is still reported as unsupported.
pub struct Capabilities {
    pub emulator: &'static str,
    /// Whether DescribeDBInstances drops a promoted replica's source link (moto 5.2.5 keeps
    /// it: drillbit then trusts its own successful PromoteReadReplica call).
    pub promote_clears_source: bool,
    /// Why the emulator does not serve an action (None: it does), read off its catalogue row.
    pub gap: fn(&ActionDef) -> Option<&'static str>,
    /// Whether drillbit's moto extension runs: DynamoDB replicas, backup and copy jobs and
    /// global datastores exist, their data paths emulated (figures from them say "emulated").
    pub extended: bool,
}

fn moto_gap(d: &ActionDef) -> Option<&'static str> {
    d.moto
}

/// The actions drillbit's moto extension (`harness/moto-ext`) adds to moto 5.2.5.
pub const EXTENSION_SERVES: &[Action] = &[
    Action::AuroraFailoverGlobalCluster,
    Action::AuroraSwitchoverGlobalCluster,
    Action::DynamodbCheckGlobalTable,
    Action::BackupRestore,
    Action::ElasticacheFailoverGlobalDatastore,
];

fn moto_extended_gap(d: &ActionDef) -> Option<&'static str> {
    if EXTENSION_SERVES.contains(&d.action) {
        None
    } else {
        d.moto
    }
}

/// moto 5.2.5 alone, as measured: what it lacks is each action's `moto` in the catalogue.
pub const MOTO: Capabilities = Capabilities {
    emulator: "moto 5.2.5",
    promote_clears_source: false,
    gap: moto_gap,
    extended: false,
};

/// moto 5.2.5 with drillbit's extension (what drillbit starts): global database failover and
/// switchover, DynamoDB global tables, AWS Backup jobs, ElastiCache global datastores.
pub const MOTO_EXTENDED: Capabilities = Capabilities {
    emulator: "moto 5.2.5 with drillbit's extension",
    promote_clears_source: false,
    gap: moto_extended_gap,
    extended: true,
};

/// Whether a moto endpoint runs drillbit's extension: it serves AWS Backup jobs
/// (ListBackupJobs), which moto alone answers with 404.
pub async fn has_moto_extension(clients: &Clients) -> bool {
    clients.primary.backup.list_backup_jobs().send().await.is_ok()
}

impl Capabilities {
    pub fn why_unsupported(&self, action: &str) -> Option<&'static str> {
        Action::named(action).and_then(|a| (self.gap)(a.def()))
    }
}

/// The loaded scenario with its bindings applied, shared by the emulator and aws targets.
pub fn bound_scenario(loaded: &crate::scenario::Loaded) -> Result<std::sync::Arc<crate::scenario::Scenario>, String> {
    let mut s = loaded.scenario.clone();
    crate::scenario::binding::apply(&mut s)?;
    Ok(std::sync::Arc::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_answers_are_recognised() {
        assert!(is_unsupported(
            501,
            "InternalFailure",
            "not included in your current license plan"
        ));
        assert!(is_unsupported(500, "NotImplemented", ""));
        assert!(!is_unsupported(400, "Throttling", "Rate exceeded"));
        assert!(!is_unsupported(500, "InternalFailure", "oops"));
        assert!(MOTO.why_unsupported("aurora.failover-global-cluster").is_some());
        assert!(MOTO.why_unsupported("rds.promote-read-replica").is_none());
        for a in EXTENSION_SERVES {
            assert!(MOTO.why_unsupported(a.as_str()).is_some(), "{}", a.as_str());
            assert!(MOTO_EXTENDED.why_unsupported(a.as_str()).is_none(), "{}", a.as_str());
        }
    }
}
