//! Before a live drill makes any call: what the scenario allows (accounts, regions, FIS
//! coverage of every fault, the probe URL), and the person's typed confirmation.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::{Operator, TargetError};
use crate::scenario::{Action, Scenario};

/// What the scenario allows and what the drill would do, checked before any call.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub probe_url: String,
    /// The FIS actions, one per fault (fault id, FIS action id).
    pub fis_actions: Vec<(String, String)>,
}

/// The checks a live drill needs from the scenario alone (no call is made). Each problem is a
/// line of the error.
pub fn preflight(s: &Scenario, account_hint: &str) -> Result<Preflight, String> {
    let mut problems = Vec::new();
    let a = s.aws.clone().unwrap_or_default();
    if a.accounts.is_empty() {
        problems.push("`aws.accounts` is empty: a live drill runs only in allow-listed account ids".to_string());
    }
    let regions = if a.regions.is_empty() {
        vec![s.topology.primary_region.clone(), s.topology.dr_region.clone()]
    } else {
        a.regions.clone()
    };
    let mut touched = vec![s.topology.primary_region.clone(), s.topology.dr_region.clone()];
    touched.extend(s.faults.iter().filter_map(|f| f.region.clone()));
    for r in touched {
        if !regions.contains(&r) {
            problems.push(format!(
                "region {r} is not allow-listed in `aws.regions` ({})",
                regions.join(", ")
            ));
        }
    }
    let probe_url = a.probe_url.clone().unwrap_or_default();
    if probe_url.is_empty() {
        problems.push(
            "`aws.probe_url` is missing: the RTO is measured by client probes of the service's health URL".into(),
        );
    }
    let tpl = crate::targets::fis::template(s, account_hint);
    for (id, why) in &tpl.skipped {
        problems.push(format!("fault `{id}` cannot be injected on aws: {why}"));
    }
    for st in s.all_steps() {
        if st.action == Action::IacDeploy {
            problems.push(format!(
                "step `{}` ({}) is outside the AWS API drillbit drives: make it a manual step",
                st.id,
                st.action.as_str()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let fis_actions = s
        .faults
        .iter()
        .map(|f| {
            let id = tpl.action_of(&f.id).to_string();
            (f.id.clone(), id)
        })
        .collect();
    Ok(Preflight {
        accounts: a.accounts,
        regions,
        probe_url,
        fis_actions,
    })
}

/// The operator confirms a live drill by typing the account id; Ctrl-C (the `abort` flag)
/// cancels too.
pub(super) fn confirm(
    operator: &dyn Operator,
    pf: &Preflight,
    account: &str,
    caller: &str,
    s: &Scenario,
    abort: &AtomicBool,
) -> Result<(), TargetError> {
    let mut summary = vec![
        format!("LIVE drill `{}` in AWS account {account} as {caller}", s.name),
        format!("  regions: {}", pf.regions.join(", ")),
    ];
    summary.extend(pf.fis_actions.iter().map(|(f, a)| format!("  fault {f}: FIS {a}")));
    summary.extend(
        s.runbook
            .steps
            .iter()
            .map(|st| format!("  step {}: {}", st.id, st.action.as_str())),
    );
    if operator.confirm(&summary, account, abort) {
        Ok(())
    } else if abort.load(Ordering::SeqCst) {
        Err(TargetError::Aborted(
            "the live drill was not confirmed (interrupted)".into(),
        ))
    } else {
        Err(TargetError::Aborted("the live drill was not confirmed".into()))
    }
}
