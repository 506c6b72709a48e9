//! Monte Carlo: N independent simulated drills, streamed into histograms.
//!
//! Run i uses ChaCha8 stream i of the seed, and results are merged only through integer
//! counts and sums, which commute; so the output is byte-identical whatever the thread count
//! or scheduling. Nothing per run is kept: memory is the histograms, whatever N is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::drill;
use crate::engine::{Engine, Time, Timeline};
use crate::scenario::Loaded;
use crate::scorecard::{secs, Tool};
use crate::targets::sim::{SimModel, SimTarget};

pub const SCHEMA: &str = "drillbit.montecarlo/v1";

/// Log-linear histogram over microseconds: exact below 2^SUB_BITS, then 2^SUB_BITS buckets per
/// power of two (relative error < 0.1%).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
    min: u64,
}

const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;
const MAX_EXP: u32 = 48; // 2^48 us = 8.9 years: beyond any horizon

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; (SUB + (MAX_EXP - SUB_BITS) as u64 * SUB) as usize],
            total: 0,
            sum: 0,
            max: 0,
            min: u64::MAX,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // >= SUB_BITS
        let exp = exp.min(MAX_EXP - 1);
        let shift = exp - SUB_BITS;
        let mantissa = (v >> shift).min(2 * SUB - 1) - SUB;
        (SUB + (exp - SUB_BITS) as u64 * SUB + mantissa) as usize
    }

    /// Lower bound and width of a bucket.
    fn bucket(i: usize) -> (u64, u64) {
        let i = i as u64;
        if i < SUB {
            return (i, 1);
        }
        let exp = (i - SUB) / SUB + SUB_BITS as u64;
        let mantissa = (i - SUB) % SUB;
        let shift = exp - SUB_BITS as u64;
        ((SUB + mantissa) << shift, 1 << shift)
    }

    pub fn record(&mut self, v: u64) {
        let i = Self::index(v).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.sum += v as u128;
        self.max = self.max.max(v);
        self.min = self.min.min(v);
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
        self.min = self.min.min(o.min);
    }

    /// The value at quantile q (nearest rank), as the middle of its bucket, clamped to the
    /// observed range.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, w) = Self::bucket(i);
                return (lo + w / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// `bins` equal-width bins between min and max, for charts: (start_s, end_s, count).
    pub fn coarse(&self, bins: usize) -> Vec<(f64, f64, u64)> {
        if self.total == 0 || bins == 0 {
            return Vec::new();
        }
        let (lo, hi) = (self.min, self.max.max(self.min + 1));
        let width = (hi - lo).div_ceil(bins as u64).max(1);
        let mut out: Vec<(f64, f64, u64)> = (0..bins as u64)
            .map(|b| (secs(Time(lo + b * width)), secs(Time(lo + (b + 1) * width)), 0))
            .collect();
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let (b_lo, w) = Self::bucket(i);
            let mid = (b_lo + w / 2).clamp(self.min, self.max);
            let b = (((mid - lo) / width) as usize).min(bins - 1);
            out[b].2 += c;
        }
        out
    }
}

/// Wilson score interval at 95% for k successes in n trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    // At k = 0 and k = n the bounds are exactly 0 and 1; floating point lands a hair off.
    let lo = if k == 0 { 0.0 } else { (center - half).max(0.0) };
    let hi = if k as f64 == n { 1.0 } else { (center + half).min(1.0) };
    (lo, hi)
}

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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    fn of(h: &Histogram, scale: f64) -> Stats {
        let r = |v: u64| (v as f64 * scale * 1000.0).round() / 1000.0;
        Stats {
            p50: r(h.quantile(0.50)),
            p90: r(h.quantile(0.90)),
            p95: r(h.quantile(0.95)),
            p99: r(h.quantile(0.99)),
            mean: (h.mean() * scale * 1000.0).round() / 1000.0,
            min: if h.total() == 0 { 0.0 } else { r(h.min) },
            max: r(h.max),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Probability {
    pub estimate: f64,
    pub ci95: [f64; 2],
    pub successes: u64,
}

impl Probability {
    fn of(k: u64, n: u64) -> Probability {
        let (lo, hi) = wilson(k, n);
        let r = |x: f64| (x * 1e6).round() / 1e6;
        Probability {
            estimate: r(if n == 0 { 0.0 } else { k as f64 / n as f64 }),
            ci95: [r(lo), r(hi)],
            successes: k,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioRef {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub strategy: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetsOut {
    pub rto_s: f64,
    pub rpo_s: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MonteCarlo {
    pub schema: &'static str,
    pub tool: Tool,
    pub scenario: ScenarioRef,
    pub target: &'static str,
    pub runs: u64,
    pub seed: u64,
    pub targets: TargetsOut,
    /// RTO over all runs; a run that never recovered counts at the drill horizon.
    pub rto_s: Stats,
    pub rpo_s: Stats,
    pub lost_writes: Stats,
    pub unrecovered_runs: u64,
    pub p_meet_rto: Probability,
    pub p_meet_rpo: Probability,
    pub p_meet_all: Probability,
    /// 40 equal-width bins over the observed RTO range: [start_s, end_s, runs].
    pub rto_histogram: Vec<(f64, f64, u64)>,
    pub rpo_histogram: Vec<(f64, f64, u64)>,
    pub models_overridden: Vec<String>,
    /// Models fitted from measured drills (`--models`), applied over the defaults.
    pub models_fitted: Vec<String>,
    /// Runbook steps whose duration comes from a default model (neither fitted, nor set by the
    /// scenario).
    pub steps_on_default_models: Vec<String>,
    /// With `--sensitivity`: how p95 RTO moves when each knob is halved or doubled, largest
    /// effect first.
    pub sensitivity: Vec<Sensitivity>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sensitivity {
    pub knob: String,
    pub p95_rto_s_halved: f64,
    pub p95_rto_s_doubled: f64,
    /// Change of p95 RTO against the baseline (negative: faster).
    pub delta_halved_s: f64,
    pub delta_doubled_s: f64,
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [(0.5, 50_000_000.0), (0.95, 95_000_000.0), (0.99, 99_000_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got / want - 1.0).abs() < 0.002, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max, 100_000_000);
        assert!((h.mean() - 50_000_500.0).abs() < 1.0);
    }

    #[test]
    fn histogram_merge_is_order_free() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..5000u64 {
            let x = v * v * 37 % 1_000_003;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, all);
        assert_eq!(ba, all);
    }

    #[test]
    fn bucket_index_round_trip() {
        for v in [0u64, 1, 1023, 1024, 1025, 4096, 123_456_789, 1 << 40] {
            let (lo, w) = Histogram::bucket(Histogram::index(v));
            assert!(lo <= v && v < lo + w, "{v}: [{lo}, {})", lo + w);
        }
    }

    #[test]
    fn wilson_interval_known_values() {
        let (lo, hi) = wilson(50, 100);
        assert!((lo - 0.4038).abs() < 1e-3 && (hi - 0.5962).abs() < 1e-3, "{lo} {hi}");
        let (lo, hi) = wilson(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3);
        let (lo, hi) = wilson(10, 10);
        assert!((lo - 0.7225).abs() < 1e-3 && hi == 1.0);
    }
}
