//! What drillbit knows of DR operations, as data the rest of the crate derives from: the
//! runbook actions ([`actions`]) and the default timing models ([`models`]). Depends on
//! nothing else in the crate.

pub mod actions;
pub mod models;
