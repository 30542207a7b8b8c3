//! The phases of a rollout run, named once. Reports, thresholds (`rollout:p(99)<300ms`) and the
//! analysis refer to a phase by these names; a request belongs to the phase in force at its due
//! instant. A plain `load` run names its phases after its stages instead.

/// Before the rollout is triggered: the service under the offered load, untouched. Failures
/// here are not the rollout's.
pub const BASELINE: &str = "baseline";
/// From the trigger until the rollout is complete and every old pod is gone.
pub const ROLLOUT: &str = "rollout";
/// After the rollout: the new version under the same load.
pub const SETTLE: &str = "settle";
