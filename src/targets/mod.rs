//! The targets a drill runs on. Each is an adapter of [`crate::engine::Target`]:
//!
//! - [`sim`]: the seeded simulator (modelled durations; Monte Carlo repeats it).
//! - [`local`]: real processes on this machine (PostgreSQL, services, a TCP router).
//! - [`emulator`]: the AWS SDK against a local AWS API emulator behind drillbit's fault layer.
//! - [`aws`]: a live AWS account, faults through an FIS experiment.
//!
//! [`live`] is what the emulator and aws targets share: the SDK clients, the runbook's AWS
//! actions, provisioning, discovery and observation. [`fis`] builds the FIS experiment
//! template from a scenario (the aws target's fault driver; `plan` prints it).

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod emulator;
pub mod fis;
#[cfg(feature = "aws")]
pub mod live;
pub mod local;
pub mod sim;
