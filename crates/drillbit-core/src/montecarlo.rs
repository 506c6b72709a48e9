//! Monte Carlo: N independent simulated drills, streamed into histograms.
//!
//! Run i uses ChaCha8 stream i of the seed, and results are merged only through integer
//! counts and sums, which commute; so the output is byte-identical whatever the thread count
//! or scheduling. Nothing per run is kept: memory is the histograms, whatever N is.

use serde::Serialize;

use crate::engine::Time;
use crate::scorecard::{secs, Tool};

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
    pub fn of(h: &Histogram, scale: f64) -> Stats {
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
    pub fn of(k: u64, n: u64) -> Probability {
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
    /// The gate CI judges the simulation by, when one applies (`targets.confidence` or
    /// `simulate --require`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
}

/// A required probability of meeting both targets, judged on the Wilson 95% lower bound of
/// P(meet both): the estimate alone would pass a gate by luck on few runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Gate {
    pub required: f64,
    /// Where it came from: `targets.confidence` (the scenario) or `--require` (the command).
    pub source: &'static str,
    /// What it is judged on: the lower bound of the 95% Wilson interval of P(meet both).
    pub judged_on: &'static str,
    pub lower_bound: f64,
    pub passed: bool,
}

impl Gate {
    pub fn judge(required: f64, source: &'static str, p: &Probability) -> Gate {
        Gate {
            required,
            source,
            judged_on: "wilson-95-lower-bound of P(meet both)",
            lower_bound: p.ci95[0],
            passed: p.ci95[0] >= required,
        }
    }

    /// One line saying which gate applied and how it came out.
    pub fn describe(&self) -> String {
        format!(
            "gate ({}): P(meet both) at least {:.1}%, judged on its 95% lower bound {:.1}%: {}",
            self.source,
            self.required * 100.0,
            self.lower_bound * 100.0,
            if self.passed { "passed" } else { "FAILED" }
        )
    }
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

impl MonteCarlo {
    /// The share of simulated drills (0-100) whose RTO was at or below `rto_s`, read from the
    /// RTO histogram (linear within a bin).
    pub fn rto_percentile(&self, rto_s: f64) -> f64 {
        let total: u64 = self.rto_histogram.iter().map(|b| b.2).sum();
        if total == 0 {
            return 0.0;
        }
        let mut below = 0.0;
        for &(a, b, n) in &self.rto_histogram {
            if rto_s >= b {
                below += n as f64;
            } else if rto_s > a && b > a {
                below += n as f64 * (rto_s - a) / (b - a);
            }
        }
        (below / total as f64 * 100.0).clamp(0.0, 100.0)
    }
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
