//! Exit codes: the one place they are named. Scripts and CI depend on these values.

/// Every target (RTO, RPO) was met; or `validate` found every file valid.
pub const TARGETS_MET: i32 = 0;
/// A target was missed (the drill ran and measured a miss; `simulate`: its gate failed).
pub const TARGET_MISSED: i32 = 1;
/// Invalid input or usage: a bad scenario file, an unknown flag, a missing argument.
pub const INVALID_INPUT: i32 = 2;
/// The target or its infrastructure failed: drillbit could not carry out the drill.
pub const INFRASTRUCTURE: i32 = 3;
/// The drill was aborted (Ctrl-C, SIGTERM, a stop condition).
pub const ABORTED: i32 = 4;
