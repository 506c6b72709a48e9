//! The aws target's background observers: the client probes, and every second the FIS
//! experiment's state, the primary region's health check and the DNS record's answer, each
//! sent to the target stamped with when it was seen.

use std::time::{Duration, Instant};

use super::{probe, AwsTarget, Msg};
use crate::targets::live::adapter::Msg::Own;
use crate::targets::live::observe;

/// The background observers: client probes, and (every second) the FIS experiment, the
/// primary region's health check and the DNS record's answer.
pub(super) fn spawn_observers(
    t: &mut AwsTarget,
    prober: probe::Prober,
    interval: Duration,
    timeout: Duration,
    record: Option<String>,
    first_probe: crate::engine::Time,
) {
    let tx = t.core.tx.clone();
    let phase = Duration::from_micros(first_probe.0);
    t.backend.background.push(t.core.rt.spawn(async move {
        tokio::time::sleep(phase).await;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sent = Instant::now();
            let ok = prober.probe(timeout).await.is_ok();
            if tx.send((Instant::now(), Own(Msg::Probe { ok, sent }))).is_err() {
                break;
            }
        }
    }));
    let tx = t.core.tx.clone();
    let env = t.core.observe_env.clone();
    let exps: Vec<(String, String)> = t
        .core
        .fis
        .iter()
        .filter_map(|x| x.id.clone().map(|id| (x.region.clone(), id)))
        .collect();
    let primary = env.scenario.topology.primary_region.clone();
    let hc = record
        .as_ref()
        .and_then(|r| env.names().health_check.get(&(r.clone(), primary.clone())).cloned());
    t.backend.background.push(t.core.rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (region, id) in &exps {
                if let Ok(out) = env.clients.region(region).fis.get_experiment().id(id).send().await {
                    if let Some(e) = out.experiment() {
                        let (status, reason) = e
                            .state()
                            .map(|s| {
                                (
                                    s.status().map_or("", |x| x.as_str()).to_string(),
                                    s.reason().unwrap_or_default().to_string(),
                                )
                            })
                            .unwrap_or_default();
                        let started = e
                            .actions()
                            .into_iter()
                            .flatten()
                            .filter(|(_, a)| {
                                a.state()
                                    .and_then(|s| s.status())
                                    .is_some_and(|s| matches!(s.as_str(), "running" | "completed"))
                            })
                            .map(|(k, _)| k.clone())
                            .collect();
                        let _ = tx.send((
                            Instant::now(),
                            Own(Msg::Fis {
                                region: region.clone(),
                                status,
                                reason,
                                started,
                            }),
                        ));
                    }
                }
            }
            if let Some(id) = &hc {
                if let Ok(ok) = observe::health_check_ok(&env, id).await {
                    let _ = tx.send((Instant::now(), Own(Msg::Health { failing: !ok })));
                }
            }
            if let Some(r) = &record {
                if let Ok(region) = observe::dns_answer(&env, r).await {
                    if tx.send((Instant::now(), Own(Msg::Dns { region }))).is_err() {
                        break;
                    }
                }
            }
        }
    }));
}
