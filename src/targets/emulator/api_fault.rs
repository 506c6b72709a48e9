//! `--api-fault`: API errors, throttling or latency the fault layer adds per service,
//! region and operation, beside the scenario's faults.

use std::time::Duration;

use super::faultlayer::{Effect, Match};

/// An API fault from the command line: `service=rds,operation=PromoteReadReplica,
/// error=Throttling,count=2` (also `region=`, `status=`, `latency=500ms`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFault {
    pub matches: Match,
    pub effect: Effect,
    pub count: Option<u32>,
}

impl std::str::FromStr for ApiFault {
    type Err = String;
    fn from_str(s: &str) -> Result<ApiFault, String> {
        let mut m = Match::default();
        let (mut error, mut status, mut latency, mut count) = (None, None, None, None);
        for kv in s.split(',').map(str::trim).filter(|kv| !kv.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("`{kv}`: expected key=value"))?;
            let v = v.trim().to_string();
            match k.trim() {
                "service" => m.service = Some(v),
                "region" => m.region = Some(v),
                "operation" => m.operation = Some(v),
                "resource" => m.contains = Some(v),
                "error" => error = Some(v),
                "status" => status = Some(v.parse::<u16>().map_err(|_| format!("status `{v}`: expected an HTTP status"))?),
                "latency" => {
                    let d = crate::scenario::duration::parse_duration(&v).map_err(|e| format!("latency `{v}`: {e}"))?;
                    latency = Some(Duration::from_micros(d.0));
                }
                "count" => count = Some(v.parse::<u32>().map_err(|_| format!("count `{v}`: expected a number"))?),
                other => {
                    return Err(format!(
                        "unknown key `{other}` (expected service, region, operation, resource, error, status, latency, count)"
                    ))
                }
            }
        }
        if m.service.is_none() && m.region.is_none() {
            return Err("an API fault needs at least `service=` or `region=`".into());
        }
        let effect = match (error, latency) {
            (Some(code), None) => {
                let status = status.unwrap_or(if code.contains("Unavailable") { 503 } else { 400 });
                Effect::Error {
                    status,
                    message: format!("injected by drillbit: {code}"),
                    code,
                }
            }
            (None, Some(d)) => Effect::Latency(d),
            (None, None) => Effect::Drop,
            (Some(_), Some(_)) => return Err("give `error=` or `latency=`, not both".into()),
        };
        Ok(ApiFault {
            matches: m,
            effect,
            count,
        })
    }
}
