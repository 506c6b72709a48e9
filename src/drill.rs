//! One drill, end to end on any target: engine run, ledger, measurement, scorecard. The CLI and
//! the Monte Carlo runner call these; no target-specific measurement lives here.

use crate::engine::{Engine, Plan, Target, TargetError, Timeline};
use crate::measure::{self, Ledger, Measurement};
use crate::scenario::Loaded;
use crate::scorecard::{self, Scorecard};
use crate::targets::sim::{SimModel, SimTarget};

/// Runs the engine against a target and measures the result.
///
/// A drill that a failing fault or repair command (or any other infrastructure failure) ended
/// early is still measured as far as it got: the failure is in `tl.error`, and the caller
/// reports it beside what was measured (exit 3). An abort is returned as an error.
pub fn run_on(
    engine: &mut Engine,
    plan: &Plan,
    target: &mut dyn Target,
    tl: &mut Timeline,
) -> Result<Measurement, TargetError> {
    match engine.run(plan, target, tl) {
        Ok(()) => {}
        Err(TargetError::Infrastructure(e)) => {
            tl.error.get_or_insert(e);
            let ledger = target
                .ledger(tl.end)
                .unwrap_or_else(|e| Ledger::NotMeasurable(format!("the drill ended early and {e}")));
            return Ok(measure::measure(plan, tl, &ledger));
        }
        Err(e) => return Err(e),
    }
    let ledger = target.ledger(tl.end)?;
    Ok(measure::measure(plan, tl, &ledger))
}

/// A single simulated drill with its full timeline, as a scorecard.
pub fn simulate_once(loaded: &Loaded, seed: u64) -> Result<Scorecard, TargetError> {
    simulate_once_with(loaded, seed, false)
}

/// As [`simulate_once`]; with `failback`, the drill goes on after recovery: the primary side is
/// restored and the scenario's rollback steps run.
pub fn simulate_once_with(loaded: &Loaded, seed: u64, failback: bool) -> Result<Scorecard, TargetError> {
    let mut model = SimModel::compile(&loaded.scenario);
    model.plan.failback = failback;
    let mut target = SimTarget::new(&model);
    target.reset(seed, 0);
    let mut tl = Timeline::new(true);
    let m = run_on(&mut Engine::new(), &model.plan, &mut target, &mut tl)?;
    let cx = scorecard::Context {
        loaded,
        plan: &model.plan,
        target: "sim",
        seed,
        models_overridden: model.overridden_models.clone(),
    };
    Ok(scorecard::build(&cx, &tl, &m))
}
