//! The `aws` target: a live drill in a real AWS account, through the same engine as every
//! other target.
//!
//! - **Safety first** ([`preflight`], [`run`]): the scenario must allow-list the account ids
//!   and regions (`aws.accounts`, `aws.regions`); the caller identity (STS) must be one of those
//!   accounts; every fault must have an FIS action; and a person confirms on the terminal by
//!   typing the account id (or `--yes` in automation). Nothing is created before that.
//! - **Faults** run as one AWS FIS experiment built from the scenario (`crate::targets::fis`): created,
//!   started at the drill's zero, polled, and stopped at the end, on error and on Ctrl-C; the
//!   template drillbit created is deleted. A fault is active when FIS reports its action
//!   started (never before its scheduled time). An experiment that stops by itself (a stop
//!   condition's alarm fired) aborts the drill.
//! - **Runbook** actions are the shared SDK actions (`aws::actions`), on the wall clock.
//! - **Observation**: client probes GET the service's health URL (`aws.probe_url`) through the
//!   real DNS ([`probe`]); the Route 53 health check of the primary region raises the alarm; the
//!   record's answer, after its TTL, marks the traffic switch.
//! - **Data loss** from canary writes ([`canary`]) read back from the DR copies; without
//!   canaries the scorecard says data loss was not measured.
//! - After an abort, the scenario's rollback steps run (a second, planned engine run), so
//!   what the drill changed is put back as the runbook says.

pub mod canary;
mod observers;
mod preflight;
pub mod probe;

use observers::spawn_observers;
use preflight::confirm;
pub use preflight::{preflight, Preflight};

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Ledger;
use crate::engine::{AlarmSource, Engine, Event, Operator, Plan, TargetError, Time, Timeline, Watch};
use crate::targets::live::adapter::{self, Backend, Clock, Core, LiveTarget, Parts};
use crate::targets::live::experiment;
use crate::targets::live::runbook::{ManualPolicy, Runbook};
use crate::targets::live::Connection;

pub struct AwsOptions {
    pub out_dir: PathBuf,
    /// An endpoint for every service instead of AWS's own (AWS_ENDPOINT_URL works too).
    pub endpoint_url: Option<String>,
    /// A named profile of the shared config files.
    pub profile: Option<String>,
    pub abort: Arc<AtomicBool>,
    pub failback: bool,
    pub seed: u64,
    pub manual: ManualPolicy,
    /// The live view: the drill's timeline as it is recorded (game day).
    pub live: Option<Watch>,
    /// Who confirms the drill, answers game-day steps and is told the progress.
    pub operator: Arc<dyn Operator>,
    /// Skip the confirmation prompt (`--yes`).
    pub yes: bool,
}

/// What the background observers see.
#[derive(Debug)]
pub enum Msg {
    Probe {
        ok: bool,
        sent: Instant,
    },
    /// An experiment's state (by its region) and the actions FIS reports started.
    Fis {
        region: String,
        status: String,
        reason: String,
        started: Vec<String>,
    },
    /// The primary region's Route 53 health check.
    Health {
        failing: bool,
    },
    /// The region the record answers with.
    Dns {
        region: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// A disruptive fault's FIS action started this long ago and clients saw nothing.
    NoEffect(usize),
}

/// How long a disruptive fault may take to reach clients after FIS starts its action; past
/// that it counts as active from then, and the scorecard says it had no visible effect.
const EFFECT_WAIT: Time = Time(60_000_000);

/// The aws target's fault driver (an FIS experiment), observer (client probes, the health
/// check, the record's answer, the experiment's state) and ledger (canary writes).
pub struct Aws {
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Per fault: its FIS action name, whether the engine injected it, whether it was reported active.
    fault_action: Vec<String>,
    due: Vec<bool>,
    active: Vec<bool>,
    disruptive: Vec<bool>,
    /// Disruptive faults whose FIS action started: from when their effect is awaited.
    effect_from: Vec<Option<Time>>,
    fis_started: Vec<String>,
    fis_abort: Option<String>,
    health_failing: bool,
    canary: Option<canary::Writer>,
    out_dir: PathBuf,
}

pub type AwsTarget = LiveTarget<Aws>;

fn infra(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Infrastructure(format!("{what}: {e}"))
}

impl Aws {
    /// A fault whose time has come (the engine injected it) and whose FIS action started
    /// waits for its effect; one that does not disrupt clients is active at once.
    fn activate_due(&mut self, c: &mut Core<Self>, at: Time) {
        for f in 0..self.fault_action.len() {
            if self.due[f]
                && !self.active[f]
                && self.effect_from[f].is_none()
                && self.fis_started.contains(&self.fault_action[f])
            {
                if self.disruptive[f] {
                    self.effect_from[f] = Some(at);
                    c.timer(at.plus(EFFECT_WAIT), Timer::NoEffect(f));
                } else {
                    self.active[f] = true;
                    c.emit(at, Event::FaultActive { fault: f });
                }
            }
        }
    }

    /// The fault took effect: the first failed probe sent (or health-check failure seen) after
    /// its FIS action started. FIS reports an action running before its effect reaches
    /// clients (a reboot takes seconds), so the action's start is not the fault's instant.
    fn took_effect(&mut self, c: &mut Core<Self>, at: Time, how: &'static str) {
        for f in 0..self.fault_action.len() {
            if !self.active[f] && self.effect_from[f].is_some_and(|from| at >= from) {
                self.active[f] = true;
                c.emit(at, Event::FaultActive { fault: f });
                c.emit(
                    at,
                    Event::FaultEffect {
                        fault: f,
                        how: Cow::Borrowed(how),
                    },
                );
            }
        }
    }
}

impl AwsTarget {
    /// Stops what drillbit started: background tasks, the experiment, the template it created,
    /// the canary writer (canaries are deleted after the read-back, in `ledger`).
    pub fn teardown(&mut self) {
        let (c, a) = (&mut self.core, &mut self.backend);
        for h in a.background.drain(..) {
            h.abort();
        }
        c.runbook.cancel_all();
        c.take_action_notes();
        c.stop_experiments();
        for x in &mut c.fis {
            if let Err(e) = x.delete_template(&c.rt, &c.env) {
                c.notes.push(e);
            }
        }
        if let Some(mut w) = a.canary.take() {
            let env = c.env.clone();
            let operator = c.operator.clone();
            c.rt.block_on(async {
                w.stop().await;
                for what in w.clean(&env).await {
                    operator.warn(&format!("left behind: {what}"));
                }
            });
        }
    }

    /// Switches the target to the rollback steps (after an abort).
    fn rollback_steps(&mut self) {
        // The failover's actions still in flight are abandoned: their reports would name
        // steps of the other plan.
        self.core.replace_steps(self.core.env.scenario.runbook.rollback.clone());
    }
}

impl Drop for Aws {
    fn drop(&mut self) {
        for h in self.background.drain(..) {
            h.abort();
        }
    }
}

impl Backend for Aws {
    type Timer = Timer;
    type Msg = Msg;
    const NAME: &'static str = "aws";

    fn inject(&mut self, c: &mut Core<Self>, fault: usize, now: Time) -> Result<(), TargetError> {
        // FIS carries the fault out on its own schedule (the template's waits); the fault is
        // active once FIS reports its action started.
        self.due[fault] = true;
        self.activate_due(c, now.max(c.clock.floor()));
        Ok(())
    }

    fn repair(&mut self, c: &mut Core<Self>, fault: usize, now: Time) -> Result<(), TargetError> {
        // FIS ends an action after its duration; at the end of the drill the experiment is
        // stopped, which ends every action still running.
        c.stop_experiments();
        if self.active[fault] {
            c.emit(now.max(c.clock.floor()), Event::FaultRepaired { fault });
        }
        Ok(())
    }

    fn observe(&mut self, _c: &mut Core<Self>) -> Result<(), TargetError> {
        match self.fis_abort.take() {
            Some(why) => Err(TargetError::Aborted(why)),
            None => Ok(()),
        }
    }

    fn on_timer(&mut self, c: &mut Core<Self>, at: Time, t: Timer) {
        match t {
            Timer::NoEffect(f) => {
                if !self.active[f] {
                    c.notes.push(format!(
                        "fault `{}`: no failed probe or health check within {} s of its FIS action starting; counted as active from then",
                        c.env.scenario.faults[f].id,
                        EFFECT_WAIT.secs()
                    ));
                    self.active[f] = true;
                    c.emit(at, Event::FaultActive { fault: f });
                }
            }
        }
    }

    fn on_msg(&mut self, c: &mut Core<Self>, at: Time, m: Msg) {
        match m {
            Msg::Probe { ok, sent } => {
                // Stamped when it was sent: the instant the client tried.
                let sent = c.clock.at(sent).max(c.clock.floor());
                if !ok {
                    self.took_effect(c, sent, "a client probe of the service failed");
                }
                c.emit(sent, Event::Probe { ok });
            }
            Msg::Fis {
                region,
                status,
                reason,
                started,
            } => {
                let Some(x) = c.fis.iter_mut().find(|x| x.region == region) else {
                    return;
                };
                if status != x.status {
                    c.notes.push(format!(
                        "FIS experiment {} ({region}) at {at}: {status} ({reason})",
                        x.id.as_deref().unwrap_or("?")
                    ));
                    x.status = status.clone();
                }
                let by_itself = matches!(status.as_str(), "stopped" | "failed" | "cancelled") && !x.stopped_by_us;
                let id = x.id.clone().unwrap_or_else(|| "?".into());
                for a in started {
                    if !self.fis_started.contains(&a) {
                        self.fis_started.push(a);
                    }
                }
                self.activate_due(c, at);
                if by_itself {
                    self.fis_abort = Some(format!(
                        "the FIS experiment {id} ({region}) {status} by itself: {reason} (a stop condition fired or FIS could not act)"
                    ));
                }
            }
            Msg::Health { failing } => {
                if failing {
                    self.took_effect(c, at, "the Route 53 health check of the primary reported failure");
                }
                if failing && !self.health_failing && self.active.iter().any(|a| *a) {
                    c.emit(
                        at,
                        Event::Alarm {
                            source: AlarmSource::HealthCheck,
                        },
                    );
                }
                self.health_failing = failing;
            }
            // Clients follow a change once their cached answer expires.
            Msg::Dns { region } => c.dns_answered(at, Some(region)),
        }
    }

    fn ledger(&mut self, c: &mut Core<Self>, _end: Time) -> Result<Ledger, TargetError> {
        let Some(mut w) = self.canary.take() else {
            return Ok(Ledger::NotMeasurable(
                "no canary store (`aws.canaries`): data loss was not measured on this drill".into(),
            ));
        };
        let env = c.env.clone();
        let operator = c.operator.clone();
        let survived = c.rt.block_on(async {
            w.stop().await;
            let s = w.survivors(&env).await;
            for what in w.clean(&env).await {
                operator.warn(&format!("left behind: {what}"));
            }
            s
        });
        let log = std::mem::take(&mut *w.log.lock().unwrap_or_else(|e| e.into_inner()));
        let stores: Vec<String> = w.stores.iter().map(|s| s.id().to_string()).collect();
        c.notes.push(format!(
            "canaries: {} acknowledged, {} indeterminate, {} refused (last error: {}) across {} (drill id {})",
            log.acked.len(),
            log.indeterminate,
            log.errors,
            log.last_error.as_deref().unwrap_or("none"),
            stores.join(", "),
            w.drill
        ));
        let mut csv = String::from("seq,store,ack_s,survived\n");
        for (seq, n, t) in &log.acked {
            csv.push_str(&format!(
                "{seq},{},{:.6},{}\n",
                stores.get(*n).map_or("?", |s| s.as_str()),
                c.clock.at(*t).secs(),
                match &survived {
                    Ok(s) =>
                        if s.contains(seq) {
                            "yes"
                        } else {
                            "no"
                        },
                    Err(_) => "unknown",
                }
            ));
        }
        crate::report::write_atomic(&self.out_dir.join("ledger.csv"), &csv)
            .map_err(|e| infra("writing ledger.csv", e))?;
        let survived = match survived {
            Ok(s) => s,
            Err(e) => {
                return Ok(Ledger::NotMeasurable(format!(
                    "the DR copy could not be read back, so data loss is unknown: {e}"
                )))
            }
        };
        let lost = crate::engine::ledger::lost_runs(log.acked.len(), |i| !survived.contains(&log.acked[i].0));
        Ok(Ledger::Recorded {
            acks: log.acked.iter().map(|(_, _, t)| c.clock.at(*t)).collect(),
            lost,
            indeterminate: log.indeterminate,
        })
    }
}

/// `drillbit check --target aws`: the readiness check of a live account, reading only. The
/// credentials' account must be allow-listed when the scenario lists accounts (a check of the
/// wrong account would report drift that is not there). Returns the account and the items.
pub fn check(
    loaded: &crate::scenario::Loaded,
    endpoint_url: Option<&str>,
    profile: Option<&str>,
) -> Result<(String, Vec<crate::targets::live::check::Item>), TargetError> {
    let s = crate::targets::live::bound_scenario(loaded)
        .map_err(|e| TargetError::Infrastructure(format!("bindings: {e}")))?;
    let rt = adapter::runtime()?;
    let conn = Connection {
        endpoint_url: endpoint_url.map(String::from),
        test_credentials: false,
        profile: profile.map(String::from),
    };
    let (env, _) = adapter::envs(&rt, &s, &conn, None, Duration::from_secs(2));
    rt.block_on(crate::targets::live::check::discover(&env))
        .map_err(|e| infra("reading the live topology", e))?;
    let account = env.names().account.clone();
    let allowed = s.aws.as_ref().map(|a| a.accounts.clone()).unwrap_or_default();
    if !allowed.is_empty() && !allowed.contains(&account) {
        return Err(TargetError::Infrastructure(format!(
            "the credentials are for account {account}, which `aws.accounts` of {} does not allow ({})",
            loaded.path,
            allowed.join(", ")
        )));
    }
    let mut items = rt.block_on(crate::targets::live::check::check(&env));
    if s.aws.as_ref().is_some_and(|a| !a.canaries.is_empty()) {
        items.extend(rt.block_on(canary::readiness(&env)));
    }
    Ok((account, items))
}

/// A live drill in an AWS account, end to end, as a scorecard. The FIS experiment is stopped
/// and its template deleted whatever happens; after an abort the rollback steps run.
pub fn run(
    loaded: &crate::scenario::Loaded,
    seed: u64,
    opts: &AwsOptions,
) -> Result<crate::scorecard::Scorecard, TargetError> {
    let started = Instant::now();
    let s = crate::targets::live::bound_scenario(loaded)
        .map_err(|e| TargetError::Infrastructure(format!("bindings: {e}")))?;
    let pf =
        preflight(&s, "").map_err(|e| TargetError::Infrastructure(format!("the scenario cannot run on aws:\n{e}")))?;
    let say = |m: &str| opts.operator.say(m);
    let rt = adapter::runtime()?;
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| infra("creating the output directory", e))?;
    let conn = Connection {
        endpoint_url: opts.endpoint_url.clone(),
        test_credentials: false,
        profile: opts.profile.clone(),
    };
    // An endpoint that is moto (recognised by its own API) brings moto's capability table.
    let caps = opts
        .endpoint_url
        .as_deref()
        .and_then(|u| u.trim_start_matches("http://").trim_end_matches('/').parse().ok())
        .filter(|a| crate::targets::emulator::moto::answers_moto_api(*a))
        .map(|_| &crate::targets::live::MOTO);
    let (mut env, mut observe_env) = adapter::envs(&rt, &s, &conn, caps, Duration::from_secs(2));
    if caps.is_some() && rt.block_on(crate::targets::live::has_moto_extension(&env.clients)) {
        env.caps = Some(&crate::targets::live::MOTO_EXTENDED);
        observe_env.caps = env.caps;
    }
    // Who are we? Refuse any account the scenario does not allow-list.
    let (account, caller) = rt
        .block_on(env.clients.caller())
        .map_err(|e| infra("the caller identity", e))?;
    if !pf.accounts.contains(&account) {
        return Err(TargetError::Infrastructure(format!(
            "refusing to drill: the credentials are for account {account}, which `aws.accounts` of {} does not allow ({})",
            loaded.path,
            pf.accounts.join(", ")
        )));
    }
    if !opts.yes {
        confirm(opts.operator.as_ref(), &pf, &account, &caller, &s, &opts.abort)?;
    }
    rt.block_on(crate::targets::live::check::discover(&env))
        .map_err(|e| infra("reading the live topology", e))?;
    for r in &s.topology.resources {
        if let crate::scenario::Resource::Route53Record(rec) = r {
            if let Some(why) = crate::targets::live::check::failed_over(&env, rec) {
                return Err(infra("the drill cannot start", why));
            }
        }
    }
    let mut notes = vec![format!("account {account}, caller {caller}")];
    if let Some(u) = &opts.endpoint_url {
        notes.push(format!(
            "endpoint {u}{}",
            if caps.is_some() {
                " (moto, recognised by its /moto-api/)"
            } else {
                ""
            }
        ));
    }
    // The steady state must hold before any fault, or the drill measures nothing.
    let prober = probe::Prober::new(&pf.probe_url).map_err(|e| infra("the probe", e))?;
    let interval = Duration::from_micros(s.workload.probe.interval.0 .0);
    let probe_timeout = interval.clamp(Duration::from_millis(200), Duration::from_secs(5));
    if let Err(e) = rt.block_on(prober.probe(Duration::from_secs(10))) {
        return Err(infra(
            "the service does not answer its probe before the fault",
            format!("{}: {e}", pf.probe_url),
        ));
    }
    let stores = rt
        .block_on(canary::resolve(&env))
        .map_err(|e| infra("the canary stores", e))?;
    let mut plan = Plan::compile(&s);
    plan.failback = opts.failback;
    // The FIS experiment template: created now, the experiment started at the drill's zero.
    let tpl = crate::targets::fis::template(&s, &account);
    let experiments =
        experiment::create_all(&rt, &env, &tpl).map_err(|e| infra("creating the FIS experiment templates", e))?;
    for x in &experiments {
        notes.push(format!(
            "FIS experiment template {} created in {}",
            x.template.as_deref().unwrap_or("?"),
            x.region
        ));
    }
    let record = adapter::record(&s);
    let mut t = LiveTarget {
        core: Core::new(Parts {
            rt,
            env: env.clone(),
            observe_env,
            runbook: Runbook::new(s.all_steps().cloned().collect(), opts.manual, opts.operator.clone()),
            clock: Clock::wall(),
            abort: opts.abort.clone(),
            operator: opts.operator.clone(),
            fis: experiments,
            notes,
        }),
        backend: Aws {
            background: Vec::new(),
            fault_action: s.faults.iter().map(|f| crate::targets::fis::slug(&f.id)).collect(),
            due: vec![false; s.faults.len()],
            active: vec![false; s.faults.len()],
            disruptive: s.faults.iter().map(|f| f.kind.is_disruptive()).collect(),
            effect_from: vec![None; s.faults.len()],
            fis_started: Vec::new(),
            fis_abort: None,
            health_failing: false,
            canary: None,
            out_dir: opts.out_dir.clone(),
        },
    };
    let result = (|| {
        if !stores.is_empty() {
            let rate = s.aws.as_ref().and_then(|a| a.canary_rate).unwrap_or(5.0);
            let drill = format!("{}-{}", s.name, crate::timestamp::now());
            let w = t
                .core
                .rt
                .block_on(canary::Writer::start(&env, stores.clone(), rate, drill))
                .map_err(|e| infra("starting the canary writes", e))?;
            t.backend.canary = Some(w);
        }
        let token = format!("drillbit-start-{}-{}", std::process::id(), seed);
        for (region, r) in t.core.start_experiments(&token) {
            let id = r.map_err(|e| infra(&format!("starting the FIS experiment in {region}"), e))?;
            say(&format!("FIS experiment {id} started in {region}"));
        }
        t.core.clock.restart();
        let first = plan.first_probe(seed);
        spawn_observers(&mut t, prober, interval, probe_timeout, record.map(|r| r.0), first);
        let mut tl = Timeline::new(true);
        tl.watch = opts.live.clone();
        let measured = crate::drill::run_on(&mut Engine::new(), &plan, &mut t, &mut tl);
        Ok((tl, measured))
    })();
    let (tl, measured) = match result {
        Ok(x) => x,
        Err(e) => {
            t.teardown();
            return Err(e);
        }
    };
    let m = match measured {
        Ok(m) => m,
        Err(TargetError::Aborted(why)) => {
            // Stop the faults first, then put back what the runbook changed.
            t.core.stop_experiments();
            let summary = if s.runbook.rollback.is_empty() {
                "no rollback steps to run".to_string()
            } else {
                opts.abort.store(false, Ordering::SeqCst);
                t.backend.fis_abort = None;
                t.rollback_steps();
                let rb = plan.rollback_only();
                let mut rtl = Timeline::new(true);
                rtl.watch = opts.live.clone();
                let r = Engine::new().run(&rb, &mut t, &mut rtl);
                let outcomes: Vec<String> = rtl
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(n, st)| format!("{} {}", rb.steps[n].id, st.outcome.map_or("not run", |o| o.as_str())))
                    .collect();
                match r {
                    Ok(()) => format!("rollback steps run: {}", outcomes.join(", ")),
                    Err(e) => format!("rollback interrupted ({e}): {}", outcomes.join(", ")),
                }
            };
            t.teardown();
            for n in &t.core.notes {
                opts.operator.warn(n);
            }
            return Err(TargetError::Aborted(format!(
                "{why}; FIS experiment stopped; {summary}"
            )));
        }
        Err(e) => {
            t.teardown();
            return Err(e);
        }
    };
    t.teardown();
    let notes = std::mem::take(&mut t.core.notes);
    let mut sc = adapter::scorecard(
        loaded,
        &plan,
        "aws",
        seed,
        (&tl, &m),
        notes,
        ("identity check", started),
    );
    sc.record.run_by = caller;
    sc.record.scope.accounts = vec![account];
    if !opts.yes {
        sc.record.approval = "confirmed at the live drill's prompt by typing the account id".into();
    }
    Ok(sc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "name: t\nstrategy: pilot-light\ntargets: {{ rto: 10m, rpo: 1m }}\ntopology:\n  primary_region: us-east-1\n  dr_region: us-west-2\n  resources:\n    - {{ id: db, kind: rds-instance, instance: app }}\n    - {{ id: r, kind: rds-read-replica, instance: app-dr, source: db }}\n{extra}\nfaults:\n  - {{ id: db-down, kind: db-primary-failure, resource: db, at: 2m }}\nrunbook:\n  steps:\n    - {{ id: promote, action: rds.promote-read-replica, resource: r }}\n"
        );
        crate::scenario::load_str("t.yaml", &text).expect("valid").scenario
    }

    #[test]
    fn preflight_names_every_missing_safety_setting() {
        let e = preflight(&scenario(""), "").unwrap_err();
        assert!(e.contains("aws.accounts"), "{e}");
        assert!(e.contains("aws.probe_url"), "{e}");
        let ok = preflight(
            &scenario("aws: { accounts: ['123456789012'], probe_url: 'https://api.example.com/health' }"),
            "123456789012",
        )
        .expect("ok");
        assert_eq!(ok.regions, vec!["us-east-1", "us-west-2"]);
        assert_eq!(
            ok.fis_actions,
            vec![("db-down".to_string(), "aws:rds:reboot-db-instances".to_string())]
        );
        let e = preflight(
            &scenario("aws: { accounts: ['123456789012'], regions: [us-east-1], probe_url: 'https://x/h' }"),
            "",
        )
        .unwrap_err();
        assert!(e.contains("region us-west-2 is not allow-listed"), "{e}");
        // A fault FIS cannot time (its waits last a minute at least) is refused, with the reason.
        let s = scenario("aws: { accounts: ['123456789012'], probe_url: 'https://x/h' }");
        let mut soon = s.clone();
        soon.faults[0].at = crate::scenario::duration::Dur::from_secs_f64(10.0);
        let e = preflight(&soon, "").unwrap_err();
        assert!(e.contains("cannot be an FIS wait"), "{e}");
    }

    #[test]
    fn rollback_only_keeps_the_rollback_graph() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/pilot-light.yaml")).expect("read");
        let l = crate::scenario::load_str("pilot-light.yaml", &text).expect("valid");
        let plan = Plan::compile(&l.scenario);
        let rb = plan.rollback_only();
        assert_eq!(rb.steps.len(), l.scenario.runbook.rollback.len());
        assert!(rb.faults.is_empty() && !rb.has_disruptive_fault() && rb.end_when_steps_done);
        assert!(rb.steps.iter().all(|st| !st.rollback));
        let ids: Vec<&str> = rb.steps.iter().map(|st| st.id.as_str()).collect();
        for (n, st) in rb.steps.iter().enumerate() {
            for &d in &st.deps {
                assert!(d < rb.steps.len());
                assert!(rb.steps[d].dependents.contains(&n));
            }
            let want: Vec<&str> = l.scenario.runbook.rollback[n]
                .after
                .iter()
                .map(String::as_str)
                .collect();
            let got: Vec<&str> = st.deps.iter().map(|&d| ids[d]).collect();
            assert_eq!(got, want);
        }
    }
}
