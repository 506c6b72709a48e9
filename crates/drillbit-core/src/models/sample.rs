//! Samplers: distributions compiled for fast, deterministic sampling from a seeded ChaCha8
//! stream. All arithmetic is in f64 seconds; the simulator rounds to microseconds.

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use crate::catalogue::models::Spec;
use crate::scenario::Dist;

/// A compiled distribution over seconds (or, for rates, over plain numbers).
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    Fixed(f64),
    Uniform(f64, f64),
    /// ln X ~ Normal(mu, sigma).
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    Empirical(Vec<f64>),
    /// With probability `p` sample `tail`, otherwise `body`.
    Mixture {
        p: f64,
        body: Box<Sampler>,
        tail: Box<Sampler>,
    },
}

/// z-score of the 95th percentile of a standard normal.
pub const Z95: f64 = 1.644_853_626_951_472_2;

impl Sampler {
    /// The sampler of a default model of the catalogue.
    pub fn of_spec(spec: &Spec) -> Sampler {
        match *spec {
            Spec::Fixed(x) => Sampler::Fixed(x),
            Spec::Uniform(a, b) => Sampler::Uniform(a, b),
            Spec::Ln(m, p) => Sampler::lognormal(m, p),
            Spec::Mix(p, body, tail) => Sampler::Mixture {
                p,
                body: Box::new(Sampler::of_spec(body)),
                tail: Box::new(Sampler::of_spec(tail)),
            },
        }
    }
    /// Lognormal from a median and a 95th percentile (docs/models.md#how-to-read-this-page:
    /// mu = ln(median), sigma = ln(p95/median)/1.645).
    pub fn lognormal(median: f64, p95: f64) -> Sampler {
        let median = median.max(1e-9);
        let sigma = (p95.max(median) / median).ln() / Z95;
        Sampler::LogNormal { mu: median.ln(), sigma }
    }

    pub fn from_dist(d: &Dist) -> Sampler {
        match d {
            Dist::Fixed(x) => Sampler::Fixed(x.secs()),
            Dist::Uniform { min, max } => Sampler::Uniform(min.secs(), max.secs()),
            Dist::Lognormal { median, p95 } => Sampler::lognormal(median.secs(), p95.secs()),
            Dist::Empirical(v) => Sampler::Empirical(v.iter().map(|d| d.secs()).collect()),
        }
    }

    pub fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Sampler::Fixed(x) => *x,
            Sampler::Uniform(a, b) => a + (b - a) * unit(rng),
            Sampler::LogNormal { mu, sigma } => (mu + sigma * normal(rng)).exp(),
            Sampler::Empirical(v) => {
                if v.is_empty() {
                    return 0.0;
                }
                let i = ((unit(rng) * v.len() as f64) as usize).min(v.len() - 1);
                v[i]
            }
            Sampler::Mixture { p, body, tail } => {
                if unit(rng) < *p {
                    tail.sample(rng)
                } else {
                    body.sample(rng)
                }
            }
        }
    }

    /// The median (exact for every form but a mixture, where it is the body's).
    pub fn median(&self) -> f64 {
        match self {
            Sampler::Fixed(x) => *x,
            Sampler::Uniform(a, b) => (a + b) / 2.0,
            Sampler::LogNormal { mu, .. } => mu.exp(),
            Sampler::Empirical(v) => {
                let mut s = v.clone();
                s.sort_by(f64::total_cmp);
                s.get(s.len() / 2).copied().unwrap_or(0.0)
            }
            Sampler::Mixture { body, .. } => body.median(),
        }
    }

    pub fn describe(&self) -> String {
        use crate::scenario::duration::format_secs as f;
        match self {
            Sampler::Fixed(x) => f(*x),
            Sampler::Uniform(a, b) => format!("uniform({}, {})", f(*a), f(*b)),
            Sampler::LogNormal { mu, sigma } => {
                format!("lognormal(median {}, p95 {})", f(mu.exp()), f((mu + sigma * Z95).exp()))
            }
            Sampler::Empirical(v) => format!("empirical({} samples)", v.len()),
            Sampler::Mixture { p, body, tail } => {
                format!("{} ({:.2}% tail: {})", body.describe(), p * 100.0, tail.describe())
            }
        }
    }
}

/// Uniform in [0, 1) with 53 random bits.
#[inline]
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal by Box-Muller (one value per call: simple and reproducible).
#[inline]
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - unit(rng); // (0, 1]: ln is finite
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * q) as usize]
    }

    #[test]
    fn lognormal_hits_its_median_and_p95() {
        let s = Sampler::lognormal(300.0, 900.0);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let v: Vec<f64> = (0..200_000).map(|_| s.sample(&mut rng)).collect();
        let (m, p) = (quantile(v.clone(), 0.5), quantile(v, 0.95));
        assert!((m / 300.0 - 1.0).abs() < 0.02, "median {m}");
        assert!((p / 900.0 - 1.0).abs() < 0.03, "p95 {p}");
    }

    #[test]
    fn uniform_stays_in_range_and_mixture_mixes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let u = Sampler::Uniform(5.0, 60.0);
        assert!((0..10_000)
            .map(|_| u.sample(&mut rng))
            .all(|x| (5.0..60.0).contains(&x)));
        let m = Sampler::Mixture {
            p: 0.25,
            body: Box::new(Sampler::Fixed(1.0)),
            tail: Box::new(Sampler::Fixed(2.0)),
        };
        let tails = (0..40_000).filter(|_| m.sample(&mut rng) == 2.0).count();
        assert!((tails as f64 / 40_000.0 - 0.25).abs() < 0.01, "{tails}");
    }

    #[test]
    fn same_seed_same_stream() {
        let s = Sampler::lognormal(10.0, 30.0);
        let mut a = ChaCha8Rng::seed_from_u64(42);
        let mut b = ChaCha8Rng::seed_from_u64(42);
        for _ in 0..100 {
            assert_eq!(s.sample(&mut a).to_bits(), s.sample(&mut b).to_bits());
        }
    }
}
