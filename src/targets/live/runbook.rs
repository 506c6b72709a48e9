//! How the live targets (emulator, aws) carry out runbook steps: an API action as SDK calls on
//! the runtime, a manual step by the operator (game day), at once (auto-approve) or after its
//! modelled duration, and probe-until-healthy from the client probes. Each in-flight step
//! reports its end through the `done` callback the target gives it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::actions::{self, Done, Env};
use crate::engine::{ActionResult, Operator, StepAnswer};
use crate::scenario::{Action, Step};

/// How a manual step (a human decision, a notification, an approval) is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualPolicy {
    /// The step's duration from the scenario (its median), on the modelled clock.
    Scenario,
    /// Approved at once (`--auto-approve`).
    AutoApprove,
    /// The operator carries the step out and says so; the wait is measured (`--game-day`).
    Prompt,
}

impl From<Done> for ActionResult {
    fn from(d: Done) -> ActionResult {
        match d {
            Done::Ok => ActionResult::Ok,
            Done::Failed(why) => ActionResult::Failed(Cow::Owned(why)),
            Done::Unsupported(why) => ActionResult::Unsupported(Cow::Owned(why)),
        }
    }
}

/// A live target's runbook: the steps (of the plan being run), how manual steps end, and the
/// attempts in flight.
pub struct Runbook {
    pub steps: Vec<Step>,
    manual: ManualPolicy,
    operator: Arc<dyn Operator>,
    running: HashMap<usize, tokio::task::JoinHandle<()>>,
}

impl Runbook {
    pub fn new(steps: Vec<Step>, manual: ManualPolicy, operator: Arc<dyn Operator>) -> Runbook {
        Runbook {
            steps,
            manual,
            operator,
            running: HashMap::new(),
        }
    }

    /// Starts an attempt of `step`. Returns `Some(secs)` for a step that ends by itself that
    /// long from now (a wait, a manual step's duration: the caller sets its timer); an action
    /// or the operator's answer reports through `done`; probe-until-healthy ends on the probes.
    pub fn start(
        &mut self,
        rt: &tokio::runtime::Runtime,
        env: &Env,
        step: usize,
        done: impl FnOnce(Done) + Send + 'static,
    ) -> Option<f64> {
        let st = self.steps[step].clone();
        let handle = match (st.action, self.manual) {
            (Action::ProbeUntilHealthy, _) => return None,
            (Action::Manual, ManualPolicy::Prompt) => {
                let what = st.description.clone().unwrap_or_else(|| st.id.clone());
                let operator = self.operator.clone();
                rt.spawn_blocking(move || {
                    done(match operator.manual_step(&st.id, &what) {
                        StepAnswer::Done => Done::Ok,
                        StepAnswer::Failed(why) => Done::Failed(why),
                    })
                })
            }
            (Action::Manual, ManualPolicy::AutoApprove) => return Some(0.0),
            (Action::Manual | Action::Wait, _) => return Some(st.duration.as_ref().map_or(0.0, |d| d.median_secs())),
            _ => {
                let env = env.clone();
                rt.spawn(async move { done(actions::run(&env, &st).await) })
            }
        };
        self.running.insert(step, handle);
        None
    }

    /// The attempt of `step` reported its end.
    pub fn finished(&mut self, step: usize) {
        self.running.remove(&step);
    }

    /// Abandons the attempt in flight of `step` (a timeout).
    pub fn cancel(&mut self, step: usize) {
        if let Some(h) = self.running.remove(&step) {
            h.abort();
        }
    }

    /// Abandons every attempt in flight.
    pub fn cancel_all(&mut self) {
        for (_, h) in self.running.drain() {
            h.abort();
        }
    }

    /// Whether a real call (or the operator's answer) is in flight.
    pub fn in_flight(&self) -> bool {
        !self.running.is_empty()
    }

    /// Switches to other steps (the rollback after an abort); what is in flight is abandoned.
    pub fn replace(&mut self, steps: Vec<Step>) {
        self.cancel_all();
        self.steps = steps;
    }
}

impl Drop for Runbook {
    fn drop(&mut self) {
        self.cancel_all();
    }
}
