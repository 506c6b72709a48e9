//! One simulated drill with its full timeline, as a scorecard.

use crate::drill::run_on;
use crate::engine::{Engine, TargetError, Timeline};
use crate::scenario::Loaded;
use crate::scorecard::{self, Scorecard};

use super::{SimModel, SimTarget};

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
