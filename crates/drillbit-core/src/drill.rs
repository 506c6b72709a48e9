//! One drill, end to end on any target: engine run, ledger, measurement, scorecard. The CLI and
//! the Monte Carlo runner call these; no target-specific measurement lives here.

use crate::engine::{Engine, Ledger, Plan, Target, TargetError, Timeline};
use crate::measure::{self, Measurement};

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
            let others = target.other_ledgers();
            return Ok(measure::measure_all(plan, tl, &ledger, &others));
        }
        Err(e) => return Err(e),
    }
    let ledger = target.ledger(tl.end)?;
    let others = target.other_ledgers();
    Ok(measure::measure_all(plan, tl, &ledger, &others))
}
