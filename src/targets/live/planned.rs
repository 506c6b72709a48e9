//! `drillbit plan`: the AWS calls each runbook step would make, and the region each goes to,
//! without making any. Derived from the action catalogue's rows.

use crate::report::runbook::{call_region, fill, form};
use crate::scenario::{Scenario, Step};

/// The AWS API calls an action makes, for `drillbit plan` (nothing is called).
pub fn planned_calls(s: &Scenario, step: &Step) -> Vec<String> {
    let def = step.action.def();
    let calls = form(s, step).map_or(&[][..], |f| f.calls);
    if calls.is_empty() {
        return vec![def.plan.map_or_else(
            || format!("({} is not driven through the AWS API)", def.name),
            str::to_string,
        )];
    }
    calls
        .iter()
        .map(|c| {
            let text = fill(c.1, s, step).unwrap_or_else(|| c.1.to_string());
            match call_region(s, step, c.0) {
                Some(region) => format!("{text} ({region})"),
                None => text,
            }
        })
        .collect()
}
