//! The Deployment controller's arithmetic for a rolling update, as pure functions.
//!
//! This module owns the rules, not the processes: how `maxSurge` / `maxUnavailable` resolve
//! against the replica count (Kubernetes rounds a surge percentage *up* and an unavailable
//! percentage *down*; if both resolve to zero, one pod may be unavailable so the rollout can
//! move), and how many new pods to create or old pods to delete given the counts right now.
//! It never spawns, signals or sleeps, so the state machine is tested with plain numbers.
//!
//! Counting follows the Deployment controller: terminating pods count towards nothing (neither
//! the surge nor availability), which is why a real rollout can briefly run more processes than
//! `replicas + maxSurge` while old pods drain.

pub use crate::model::units::CountOrPercent;

/// Why a `maxSurge` / `maxUnavailable` value was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StrategyError {
    /// Both were given as zero: no pod could ever be replaced (the API server rejects this too).
    #[error("maxSurge and maxUnavailable may not both be 0")]
    BothZero,
}

/// `maxSurge` and `maxUnavailable` resolved against the replica count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fenceposts {
    pub max_surge: u32,
    pub max_unavailable: u32,
}

/// Resolves the strategy the way the Deployment controller does (`ResolveFenceposts`): surge
/// rounds up, unavailable rounds down, and if both come out zero, unavailable becomes one.
/// Both *given* as zero is an error, as the API server's validation says.
pub fn resolve_fenceposts(
    replicas: u32,
    max_surge: CountOrPercent,
    max_unavailable: CountOrPercent,
) -> Result<Fenceposts, StrategyError> {
    if max_surge.is_zero() && max_unavailable.is_zero() {
        return Err(StrategyError::BothZero);
    }
    let surge = max_surge.resolve(replicas, true);
    let mut unavailable = max_unavailable.resolve(replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok(Fenceposts {
        max_surge: surge,
        max_unavailable: unavailable,
    })
}

/// The pods of the rollout right now, as the controller counts them. Terminating pods are in
/// none of these numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Desired replicas.
    pub desired: u32,
    /// New-revision pods (created, not terminating).
    pub new: u32,
    /// New-revision pods available (ready for at least minReadySeconds).
    pub new_available: u32,
    /// Old-revision pods (not terminating).
    pub old: u32,
    /// Old-revision pods available (the others are deleted first: they serve nobody).
    pub old_available: u32,
}

/// What the controller does next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// New pods to create.
    pub create: u32,
    /// Old pods to delete (unavailable ones first).
    pub delete_old: u32,
}

/// One reconcile of a rolling update (the controller's `reconcileNewReplicaSet` and
/// `reconcileOldReplicaSets`, both applied to the same snapshot).
pub fn step(c: Counts, f: Fenceposts) -> Step {
    // Scale up: never more than desired + maxSurge pods counted, never more new than desired.
    let max_total = c.desired.saturating_add(f.max_surge);
    let current = c.new + c.old;
    let create = max_total
        .saturating_sub(current)
        .min(c.desired.saturating_sub(c.new));

    // Scale down: keep at least desired - maxUnavailable available, counting the new pods that
    // are not yet available against the budget.
    let min_available = c.desired.saturating_sub(f.max_unavailable);
    let new_unavailable = c.new.saturating_sub(c.new_available);
    let all = c.new + c.old;
    let max_scaled_down = i64::from(all) - i64::from(min_available) - i64::from(new_unavailable);
    let mut delete_old = 0;
    if max_scaled_down > 0 && c.old > 0 {
        // Unavailable old pods go first, within that budget: deleting them costs nothing.
        let budget = u32::try_from(max_scaled_down).unwrap_or(u32::MAX);
        let unhealthy = c.old.saturating_sub(c.old_available).min(budget);
        delete_old += unhealthy;
        // Then available ones, only while availability stays at or above the minimum.
        let available = c.new_available + c.old_available;
        delete_old += available
            .saturating_sub(min_available)
            .min(c.old - unhealthy);
    }
    Step { create, delete_old }
}

/// The rollout is complete: every desired pod is new and available, and no old pod is left
/// (terminating ones are waited for separately).
pub fn is_complete(c: Counts) -> bool {
    c.new == c.desired && c.new_available == c.desired && c.old == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> CountOrPercent {
        crate::model::units::count_or_percent(s).expect("valid")
    }

    #[test]
    fn surge_percentage_rounds_up_and_unavailable_rounds_down() {
        // 25% of 3 = 0.75: surge 1, unavailable 0 (the Kubernetes defaults on 3 replicas).
        let f = resolve_fenceposts(3, p("25%"), p("25%")).expect("valid");
        assert_eq!(
            f,
            Fenceposts {
                max_surge: 1,
                max_unavailable: 0
            }
        );
        // 25% of 10 = 2.5: surge 3, unavailable 2.
        let f = resolve_fenceposts(10, p("25%"), p("25%")).expect("valid");
        assert_eq!((f.max_surge, f.max_unavailable), (3, 2));
    }

    #[test]
    fn both_resolving_to_zero_allows_one_unavailable() {
        let f = resolve_fenceposts(3, p("0"), p("10%")).expect("valid");
        assert_eq!((f.max_surge, f.max_unavailable), (0, 1));
    }

    #[test]
    fn both_given_as_zero_is_rejected() {
        assert_eq!(
            resolve_fenceposts(3, p("0"), p("0%")),
            Err(StrategyError::BothZero)
        );
    }

    #[test]
    fn surge_one_unavailable_zero_creates_one_and_deletes_none_until_it_is_available() {
        let f = Fenceposts {
            max_surge: 1,
            max_unavailable: 0,
        };
        let start = Counts {
            desired: 3,
            old: 3,
            old_available: 3,
            ..Counts::default()
        };
        assert_eq!(
            step(start, f),
            Step {
                create: 1,
                delete_old: 0
            }
        );
        let created = Counts { new: 1, ..start };
        assert_eq!(step(created, f), Step::default());
        let available = Counts {
            new_available: 1,
            ..created
        };
        assert_eq!(
            step(available, f),
            Step {
                create: 0,
                delete_old: 1
            }
        );
    }

    #[test]
    fn unavailable_one_surge_zero_deletes_first_then_creates() {
        let f = Fenceposts {
            max_surge: 0,
            max_unavailable: 1,
        };
        let start = Counts {
            desired: 3,
            old: 3,
            old_available: 3,
            ..Counts::default()
        };
        assert_eq!(
            step(start, f),
            Step {
                create: 0,
                delete_old: 1
            }
        );
        let after_delete = Counts {
            old: 2,
            old_available: 2,
            ..start
        };
        assert_eq!(
            step(after_delete, f),
            Step {
                create: 1,
                delete_old: 0
            }
        );
    }

    #[test]
    fn unavailable_old_pods_are_deleted_even_when_availability_is_at_the_minimum() {
        let f = Fenceposts {
            max_surge: 1,
            max_unavailable: 0,
        };
        // Two old pods available, one old pod never ready, one new pod available.
        let c = Counts {
            desired: 3,
            new: 1,
            new_available: 1,
            old: 3,
            old_available: 2,
        };
        assert_eq!(step(c, f).delete_old, 1);
    }

    #[test]
    fn a_whole_rollout_of_the_state_machine_converges() {
        // Drive the controller with pods that become available as soon as they are created
        // and vanish as soon as they are deleted; it must end complete for every strategy.
        for (surge, unavailable) in [("1", "0"), ("0", "1"), ("25%", "25%"), ("100%", "0")] {
            for desired in 1..=6 {
                let f = resolve_fenceposts(desired, p(surge), p(unavailable)).expect("valid");
                let mut c = Counts {
                    desired,
                    old: desired,
                    old_available: desired,
                    ..Counts::default()
                };
                let mut steps = 0;
                while !is_complete(c) {
                    let s = step(c, f);
                    assert_ne!(s, Step::default(), "stuck at {c:?} with {f:?}");
                    // Availability never drops below desired - maxUnavailable.
                    let after = c.new_available + c.old_available - s.delete_old;
                    assert!(after + f.max_unavailable >= desired, "{c:?} {s:?} {f:?}");
                    c.new += s.create;
                    c.new_available += s.create;
                    c.old -= s.delete_old;
                    c.old_available -= s.delete_old;
                    assert!(c.new + c.old <= desired + f.max_surge);
                    steps += 1;
                    assert!(steps < 100);
                }
            }
        }
    }
}
