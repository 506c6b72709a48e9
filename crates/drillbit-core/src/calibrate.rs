//! Calibration: fit the simulator's step models from drills that really ran, and read fitted
//! models back. Each runbook step's measured duration (steps that ended `ok`) and the traffic
//! switch phase (as `dns.client-cache`) get a lognormal fitted by maximum likelihood when a
//! Kolmogorov-Smirnov test at 5% accepts it, else the empirical samples.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::models::sample::Z95;
use crate::scenario::duration::{compact, format_secs, Dur, PosDur};
use crate::scenario::Dist;

/// One fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub name: String,
    pub samples: Vec<f64>,
    pub dist: Dist,
    /// "lognormal" or "empirical", and why.
    pub how: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub scenario: Option<String>,
    pub targets: Vec<String>,
    pub drills: usize,
    pub fits: Vec<Fit>,
    /// Every RTO phase (detect, decide, traffic-switch, client-healthy), fitted the same way.
    /// Written for the record: the simulator derives these from the scenario, not from models.
    pub phases: Vec<Fit>,
    /// Restore steps left to the size-scaled model instead of a fit by id.
    pub size_scaled: Vec<String>,
}

/// ln X ~ N(mu, sigma): the maximum-likelihood estimates.
pub fn lognormal_mle(samples: &[f64]) -> Option<(f64, f64)> {
    if samples.len() < 2 || samples.iter().any(|&x| !(x > 0.0 && x.is_finite())) {
        return None;
    }
    let n = samples.len() as f64;
    let mu = samples.iter().map(|x| x.ln()).sum::<f64>() / n;
    let var = samples.iter().map(|x| (x.ln() - mu).powi(2)).sum::<f64>() / n;
    Some((mu, var.sqrt()))
}

/// Standard normal CDF (Abramowitz and Stegun 7.1.26 for erf; error below 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Kolmogorov-Smirnov distance between the samples and a lognormal(mu, sigma).
pub fn ks_lognormal(samples: &[f64], mu: f64, sigma: f64) -> f64 {
    let mut v: Vec<f64> = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut d: f64 = 0.0;
    for (i, x) in v.iter().enumerate() {
        let f = if sigma > 0.0 {
            normal_cdf((x.ln() - mu) / sigma)
        } else if x.ln() >= mu {
            1.0
        } else {
            0.0
        };
        d = d.max((f - i as f64 / n).abs()).max(((i + 1) as f64 / n - f).abs());
    }
    d
}

/// Fits one set of samples (seconds).
pub fn fit(name: &str, samples: &[f64]) -> Fit {
    let empirical = |why: String| Fit {
        name: name.to_string(),
        samples: samples.to_vec(),
        dist: Dist::Empirical(samples.iter().map(|&s| Dur::from_secs_f64(s)).collect()),
        how: format!("empirical: {why}"),
    };
    let Some((mu, sigma)) = lognormal_mle(samples) else {
        return empirical(if samples.len() < 2 {
            "fewer than 2 samples".into()
        } else {
            "a zero duration".into()
        });
    };
    let d = ks_lognormal(samples, mu, sigma);
    let critical = 1.36 / (samples.len() as f64).sqrt();
    if d > critical || sigma <= 0.0 {
        return empirical(format!("Kolmogorov-Smirnov D {d:.3} > {critical:.3}"));
    }
    let median = Dur::from_secs_f64(mu.exp()).max(Dur(1));
    let p95 = Dur::from_secs_f64((mu + sigma * Z95).exp()).max(median);
    Fit {
        name: name.to_string(),
        samples: samples.to_vec(),
        dist: Dist::Lognormal { median: PosDur(median), p95: PosDur(p95) },
        how: format!("lognormal by maximum likelihood (mu {mu:.4}, sigma {sigma:.4}); Kolmogorov-Smirnov D {d:.3} <= {critical:.3}"),
    }
}

/// Fits every step that ended `ok` and the traffic-switch phase, across the scorecards (read
/// with [`crate::scorecard::read_files`]).
pub fn calibrate(cards: &[crate::scorecard::Recorded]) -> Calibration {
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut phase_samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut names = std::collections::BTreeSet::new();
    let mut targets = std::collections::BTreeSet::new();
    let mut size_scaled = std::collections::BTreeSet::new();
    for c in cards {
        names.insert(c.scenario.name.clone());
        targets.insert(c.target.clone());
        for s in &c.steps {
            // probe-until-healthy is measured by the engine, not modelled.
            if s.outcome != Some(crate::scorecard::StepOutcome::Ok) || s.action == "probe-until-healthy" {
                continue;
            }
            if let (Some(id), Some(a), Some(b)) = (&s.id, s.start_s, s.end_s) {
                samples.entry(id.clone()).or_default().push((b - a).max(0.0));
            }
        }
        // A restore's time scales with the size restored: its throughput is fitted as seconds
        // per GiB, and the step is not fitted by id (that would fix its duration at the drilled
        // size).
        for r in c.restores.iter().filter(|r| r.mib > 0.0 && r.seconds > 0.0) {
            samples
                .entry(crate::catalogue::models::RESTORE_SECONDS_PER_GIB.into())
                .or_default()
                .push(r.seconds / (r.mib / 1024.0));
            size_scaled.insert(r.step.clone());
        }
        for p in &c.phases {
            let name = p.name.as_str();
            if !name.starts_with("step:") {
                if let (Some(a), Some(b)) = (p.start_s, p.end_s) {
                    phase_samples
                        .entry(name.to_string())
                        .or_default()
                        .push((b - a).max(0.0));
                }
            }
            if p.name == "traffic-switch" {
                if let (Some(a), Some(b)) = (p.start_s, p.end_s) {
                    samples
                        .entry("dns.client-cache".into())
                        .or_default()
                        .push((b - a).max(0.0));
                }
            }
        }
    }
    for id in &size_scaled {
        samples.remove(id);
    }
    Calibration {
        size_scaled: size_scaled.into_iter().collect(),
        scenario: (names.len() == 1).then(|| names.into_iter().next().unwrap_or_default()),
        targets: targets.into_iter().collect(),
        drills: cards.len(),
        fits: samples.iter().map(|(k, v)| fit(k, v)).collect(),
        phases: phase_samples.iter().map(|(k, v)| fit(k, v)).collect(),
    }
}

fn dist_yaml(d: &Dist) -> String {
    match d {
        Dist::Fixed(x) => compact(*x),
        Dist::Uniform { min, max } => format!("{{ uniform: {{ min: {}, max: {} }} }}", compact(*min), compact(*max)),
        Dist::Lognormal { median, p95 } => {
            format!(
                "{{ lognormal: {{ median: {}, p95: {} }} }}",
                compact(median.0),
                compact(p95.0)
            )
        }
        Dist::Empirical(v) => format!(
            "{{ empirical: [{}] }}",
            v.iter().map(|x| compact(*x)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The models file: readable YAML a scenario can name (`models: FILE`) or `--models` can apply.
pub fn render(c: &Calibration) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# drillbit calibrated models, fitted from {} measured drill(s)",
        c.drills
    );
    let _ = writeln!(
        o,
        "# (targets: {}). Lognormal by maximum likelihood where a",
        c.targets.join(", ")
    );
    let _ = writeln!(
        o,
        "# Kolmogorov-Smirnov test at 5% accepts it, else the measured samples."
    );
    let _ = writeln!(o, "drillbit_models: 1");
    if let Some(s) = &c.scenario {
        let _ = writeln!(o, "scenario: {s}");
    }
    let _ = writeln!(o, "drills: {}", c.drills);
    let _ = writeln!(o, "models:");
    for f in &c.fits {
        let med = {
            let mut v = f.samples.clone();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        let _ = writeln!(
            o,
            "  # {}: n = {}, measured median {}; {}",
            f.name,
            f.samples.len(),
            format_secs(med),
            f.how
        );
        let _ = writeln!(o, "  {}: {}", f.name, dist_yaml(&f.dist));
    }
    for id in &c.size_scaled {
        let _ = writeln!(
            o,
            "  # {id}: not fitted by id: it restores, and a restore scales with the database's size \
             ({} x storage_gib)",
            crate::catalogue::models::RESTORE_SECONDS_PER_GIB
        );
    }
    if !c.phases.is_empty() {
        let _ = writeln!(
            o,
            "# Measured RTO phases, for the record (the simulator derives them from the scenario)."
        );
        let _ = writeln!(o, "phases:");
        for f in &c.phases {
            let _ = writeln!(o, "  # {}: n = {}; {}", f.name, f.samples.len(), f.how);
            let _ = writeln!(o, "  {}: {}", f.name, dist_yaml(&f.dist));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::sample::Sampler;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    #[test]
    fn recovers_known_lognormal_parameters() {
        let truth = Sampler::lognormal(300.0, 900.0);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let xs: Vec<f64> = (0..2000).map(|_| truth.sample(&mut rng)).collect();
        let f = fit("promote", &xs);
        let Dist::Lognormal { median, p95 } = f.dist else {
            panic!("expected lognormal: {}", f.how)
        };
        assert!((median.secs() / 300.0 - 1.0).abs() < 0.05, "median {}", median.secs());
        assert!((p95.secs() / 900.0 - 1.0).abs() < 0.08, "p95 {}", p95.secs());
    }

    #[test]
    fn zero_durations_and_bimodal_samples_stay_empirical() {
        assert!(matches!(fit("switch", &[0.0, 0.001, 0.0]).dist, Dist::Empirical(_)));
        let mut xs = vec![1.0; 50];
        xs.extend(vec![1000.0; 50]);
        let f = fit("bimodal", &xs);
        assert!(matches!(f.dist, Dist::Empirical(_)), "{}", f.how);
    }

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-9);
        assert!((normal_cdf(1.644_853_6) - 0.95).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn rendered_models_load_back() {
        let c = Calibration {
            scenario: Some("x".into()),
            targets: vec!["local".into()],
            drills: 3,
            fits: vec![
                fit("promote", &[0.03, 0.035, 0.04, 0.05]),
                fit("switch", &[0.0, 0.0, 0.001]),
            ],
            phases: vec![fit("detect", &[0.2, 0.25, 0.3])],
            size_scaled: vec!["restore-db".into()],
        };
        let dir = std::env::temp_dir().join(format!("drillbit-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.yaml");
        std::fs::write(&p, render(&c)).unwrap();
        let m = crate::scenario::models_file::load_models(&p).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["promote"], c.fits[0].dist);
        assert_eq!(m["switch"], c.fits[1].dist);
    }
}
