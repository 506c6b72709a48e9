//! The Monte Carlo runner: the simulated drill repeated with independent seeded streams
//! across threads; results are merged by addition only, so they do not depend on the thread
//! count. What it produces (histograms, statistics, the Wilson interval) is
//! [`crate::montecarlo`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::drill;
use crate::engine::{Engine, Time, Timeline};
use crate::montecarlo::*;
use crate::scenario::Loaded;
use crate::scorecard::{secs, Tool};
use crate::targets::sim::{SimModel, SimTarget};

/// What one worker accumulates; merged by addition only.
#[derive(Debug, Clone, Default)]
struct Acc {
    rto: Histogram,
    rpo: Histogram,
    lost: Histogram,
    meet_rto: u64,
    meet_rpo: u64,
    meet_all: u64,
    unrecovered: u64,
    runs: u64,
}

impl Acc {
    fn merge(&mut self, o: &Acc) {
        self.rto.merge(&o.rto);
        self.rpo.merge(&o.rpo);
        self.lost.merge(&o.lost);
        self.meet_rto += o.meet_rto;
        self.meet_rpo += o.meet_rpo;
        self.meet_all += o.meet_all;
        self.unrecovered += o.unrecovered;
        self.runs += o.runs;
    }
}

/// Sets one sensitivity knob of a model to a factor.
type Knob = Box<dyn Fn(&mut SimModel, f64)>;

/// Halves and doubles each knob (every failover step's duration, the health check's timing,
/// the DNS client cache) and measures p95 RTO with the same seed and runs.
pub fn sensitivity(
    loaded: &Loaded,
    base: &MonteCarlo,
    runs: u64,
    seed: u64,
    threads: usize,
) -> Result<Vec<Sensitivity>, crate::engine::TargetError> {
    let never = std::sync::atomic::AtomicBool::new(false);
    let compiled = SimModel::compile(&loaded.scenario);
    let mut knobs: Vec<(String, Knob)> = Vec::new();
    for (i, st) in compiled.plan.steps.iter().enumerate().filter(|(_, s)| !s.rollback) {
        if st.action == crate::scenario::Action::ProbeUntilHealthy {
            continue;
        }
        knobs.push((
            format!("step {} ({})", st.id, st.action.as_str()),
            Box::new(move |m: &mut SimModel, f| m.step_scale[i] = f),
        ));
    }
    for r in &loaded.scenario.topology.resources {
        if let crate::scenario::Resource::Route53Record(rec) = r {
            if rec.health_check.is_some() {
                knobs.push((
                    "health check interval".into(),
                    Box::new(|m: &mut SimModel, f| m.hc_scale = f),
                ));
            }
            knobs.push((
                "DNS TTL and client cache".into(),
                Box::new(|m: &mut SimModel, f| m.ttl_scale = f),
            ));
            break;
        }
    }
    let mut out = Vec::new();
    for (name, set) in knobs {
        let mut p95 = [0.0; 2];
        for (slot, factor) in [(0, 0.5), (1, 2.0)] {
            let mut m = compiled.clone();
            set(&mut m, factor);
            p95[slot] = simulate_model(&m, loaded, runs, seed, threads, &|_| {}, &never)?
                .rto_s
                .p95;
        }
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        out.push(Sensitivity {
            knob: name,
            p95_rto_s_halved: p95[0],
            p95_rto_s_doubled: p95[1],
            delta_halved_s: r(p95[0] - base.rto_s.p95),
            delta_doubled_s: r(p95[1] - base.rto_s.p95),
        });
    }
    out.sort_by(|a, b| {
        let ea = a.delta_halved_s.abs().max(a.delta_doubled_s.abs());
        let eb = b.delta_halved_s.abs().max(b.delta_doubled_s.abs());
        eb.total_cmp(&ea).then_with(|| a.knob.cmp(&b.knob))
    });
    Ok(out)
}

/// Runs in one work unit; small enough to balance two cores, large enough to amortize.
const CHUNK: u64 = 2048;

/// Runs `runs` simulated drills on `threads` threads. `progress` is called with the number of
/// runs finished so far (from worker threads).
pub fn simulate(
    loaded: &Loaded,
    runs: u64,
    seed: u64,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<MonteCarlo, crate::engine::TargetError> {
    simulate_with_abort(
        loaded,
        runs,
        seed,
        threads,
        progress,
        &std::sync::atomic::AtomicBool::new(false),
    )
}

/// As [`simulate`], stopping early when `abort` is set; the caller must then discard the
/// result (it covers fewer runs than asked).
pub fn simulate_with_abort(
    loaded: &Loaded,
    runs: u64,
    seed: u64,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
    abort: &std::sync::atomic::AtomicBool,
) -> Result<MonteCarlo, crate::engine::TargetError> {
    let model = SimModel::compile(&loaded.scenario);
    simulate_model(&model, loaded, runs, seed, threads, progress, abort)
}

/// Runs the batch on an already compiled (possibly adjusted) model.
pub fn simulate_model(
    model: &SimModel,
    loaded: &Loaded,
    runs: u64,
    seed: u64,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
    abort: &std::sync::atomic::AtomicBool,
) -> Result<MonteCarlo, crate::engine::TargetError> {
    let chunks = runs.div_ceil(CHUNK) as usize;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = Mutex::new(Acc::default());
    let error: Mutex<Option<crate::engine::TargetError>> = Mutex::new(None);
    let threads = threads.max(1).min(chunks.max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut acc = Acc::default();
                let mut target = SimTarget::new(model);
                let mut engine = Engine::new();
                let mut tl = Timeline::new(false);
                loop {
                    let c = next.fetch_add(1, Ordering::Relaxed);
                    if c >= chunks || abort.load(Ordering::Relaxed) || error.lock().map(|e| e.is_some()).unwrap_or(true)
                    {
                        break;
                    }
                    let (a, b) = (c as u64 * CHUNK, ((c as u64 + 1) * CHUNK).min(runs));
                    for run in a..b {
                        target.reset(seed, run);
                        match drill::run_on(&mut engine, &model.plan, &mut target, &mut tl) {
                            Ok(m) => {
                                acc.runs += 1;
                                acc.rto.record(m.rto.unwrap_or(model.plan.horizon).0);
                                if m.rto.is_none() {
                                    acc.unrecovered += 1;
                                }
                                acc.rpo.record(m.data.rpo.unwrap_or(Time::ZERO).0);
                                acc.lost.record(m.data.lost);
                                acc.meet_rto += u64::from(m.rto_met);
                                acc.meet_rpo += u64::from(m.rpo_met == Some(true));
                                acc.meet_all += u64::from(m.passed());
                            }
                            Err(e) => {
                                if let Ok(mut slot) = error.lock() {
                                    slot.get_or_insert(e);
                                }
                                return;
                            }
                        }
                    }
                    let n = done.fetch_add((b - a) as usize, Ordering::Relaxed) + (b - a) as usize;
                    progress(n as u64);
                }
                if let Ok(mut t) = total.lock() {
                    t.merge(&acc);
                }
            });
        }
    });
    if let Some(e) = error.into_inner().ok().flatten() {
        return Err(e);
    }
    let acc = total.into_inner().unwrap_or_default();
    let s = &loaded.scenario;
    Ok(MonteCarlo {
        schema: SCHEMA,
        tool: Tool::current(),
        scenario: ScenarioRef {
            name: s.name.clone(),
            path: loaded.path.clone(),
            sha256: loaded.sha256.clone(),
            strategy: s.strategy.as_str(),
        },
        target: "sim",
        runs: acc.runs,
        seed,
        targets: TargetsOut {
            rto_s: secs(model.plan.rto),
            rpo_s: secs(model.plan.rpo),
        },
        rto_s: Stats::of(&acc.rto, 1e-6),
        rpo_s: Stats::of(&acc.rpo, 1e-6),
        lost_writes: Stats::of(&acc.lost, 1.0),
        unrecovered_runs: acc.unrecovered,
        p_meet_rto: Probability::of(acc.meet_rto, acc.runs),
        p_meet_rpo: Probability::of(acc.meet_rpo, acc.runs),
        p_meet_all: Probability::of(acc.meet_all, acc.runs),
        rto_histogram: acc.rto.coarse(40),
        rpo_histogram: acc.rpo.coarse(40),
        models_overridden: model.overridden_models.clone(),
        models_fitted: Vec::new(),
        steps_on_default_models: s
            .runbook
            .steps
            .iter()
            .filter(|st| st.duration.is_none() && !s.models.contains_key(&st.id))
            .filter(|st| st.action != crate::scenario::Action::ProbeUntilHealthy)
            .map(|st| st.id.clone())
            .collect(),
        sensitivity: Vec::new(),
        gate: None,
    })
}
