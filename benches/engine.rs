//! Benchmarks: the engine on one simulated drill (events per second), and a whole Monte Carlo
//! batch. The goal (1,000,000 warm-standby runs in at most 10 s on 2 cores) is checked
//! with the documented command in README.md; these track regressions.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drillbit::engine::{Engine, Timeline};
use drillbit::targets::sim::{SimModel, SimTarget};

fn scenario(name: &str) -> drillbit::scenario::Loaded {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
    drillbit::scenario::load_file(&p).expect("valid scenario")
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    for name in ["warm-standby.yaml", "pilot-light.yaml", "backup-restore.yaml"] {
        let l = scenario(name);
        let model = SimModel::compile(&l.scenario);
        // Count the events of one drill with the full timeline on, to express throughput.
        let mut target = SimTarget::new(&model);
        target.reset(1, 0);
        let mut tl = Timeline::new(true);
        drillbit::drill::run_on(&mut Engine::new(), &model.plan, &mut target, &mut tl).expect("drill");
        g.throughput(Throughput::Elements(tl.entries.len() as u64));
        let mut engine = Engine::new();
        let mut tl = Timeline::new(false);
        let mut run = 0u64;
        g.bench_with_input(BenchmarkId::new("drill", name), &model, |b, model| {
            let mut target = SimTarget::new(model);
            b.iter(|| {
                run += 1;
                target.reset(1, run);
                drillbit::drill::run_on(&mut engine, &model.plan, &mut target, &mut tl).expect("drill")
            })
        });
    }
    g.finish();
}

fn montecarlo(c: &mut Criterion) {
    let mut g = c.benchmark_group("montecarlo");
    g.sample_size(10);
    let l = scenario("warm-standby.yaml");
    let runs = 100_000u64;
    g.throughput(Throughput::Elements(runs));
    g.bench_function("warm-standby/100k-runs/2-threads", |b| {
        b.iter(|| drillbit::targets::sim::montecarlo::simulate(&l, runs, 1, 2, &|_| {}).expect("mc"))
    });
    g.finish();
}

criterion_group!(benches, engine, montecarlo);
criterion_main!(benches);
