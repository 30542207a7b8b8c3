//! The last known state of one watched resource, and the rules that keep the timeline honest
//! across dropped watches.
//!
//! A [`Tracker`] is fed the watcher's steps (already condensed into views) and answers with the
//! lifecycle events they imply. Live changes are diffed one object at a time. A re-list
//! (`Init` … `InitDone`, after 410 Gone or a failed resume) is buffered and diffed *as a whole*
//! against the last known state at `InitDone`: objects that changed while the watch was down
//! yield their events once, objects that did not yield nothing, and objects missing from the
//! re-list were deleted while nobody looked. The stretch from the watch's failure to the moment
//! it is known to be back is recorded as a `WatchGap`.
//!
//! Pure: no I/O and no clock; the caller passes the observation instant.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::clock::At;
use crate::model::event::{EventKind, LifecycleEvent};

/// One step of a watch, with objects condensed to views.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchStep<V> {
    /// A (re-)list begins.
    Init,
    /// An object of the (re-)list.
    InitApply(V),
    /// The (re-)list is complete.
    InitDone,
    /// An object was added or modified.
    Apply(V),
    /// An object was deleted.
    Delete(V),
    /// The watch failed (stream cut, 410 Gone, API error); it will recover by itself.
    Error(String),
}

/// Turns state changes of one resource into lifecycle events.
pub trait Differ<V> {
    /// Events implied by going from `before` to `after`, looking at `keys` (the objects that may
    /// have changed). `initial` is true for the very first list, which sets the baseline.
    fn diff(
        &mut self,
        before: &BTreeMap<String, V>,
        after: &BTreeMap<String, V>,
        keys: &BTreeSet<String>,
        initial: bool,
        now: At,
        out: &mut Vec<LifecycleEvent>,
    );
}

/// A view that knows its key (the object's name).
pub trait Keyed {
    fn key(&self) -> String;
}

/// Last known state of one resource plus the watch's health.
#[derive(Debug)]
pub struct Tracker<V, D> {
    resource: String,
    known: BTreeMap<String, V>,
    relist: Option<BTreeMap<String, V>>,
    listed: bool,
    down_since: Option<At>,
    last_error: Option<String>,
    pub differ: D,
}

impl<V: Keyed + Clone, D: Differ<V>> Tracker<V, D> {
    pub fn new(resource: impl Into<String>, differ: D) -> Self {
        Tracker {
            resource: resource.into(),
            known: BTreeMap::new(),
            relist: None,
            listed: false,
            down_since: None,
            last_error: None,
            differ,
        }
    }

    /// The last known state, by name.
    pub fn known(&self) -> &BTreeMap<String, V> {
        &self.known
    }

    /// The first list has completed.
    pub fn listed(&self) -> bool {
        self.listed
    }

    /// When the watch failed, if it has not been seen working since.
    pub fn down_since(&self) -> Option<At> {
        self.down_since
    }

    /// The watch's most recent failure, for messages when it never comes up.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Applies one watch step and returns the lifecycle events it implies.
    pub fn handle(&mut self, step: WatchStep<V>, now: At) -> Vec<LifecycleEvent> {
        let mut out = Vec::new();
        match step {
            WatchStep::Init => {
                // A re-list with no failure reported first still means the stream was lost.
                if self.listed && self.down_since.is_none() {
                    self.down_since = Some(now);
                }
                self.relist = Some(BTreeMap::new());
            }
            WatchStep::InitApply(v) => {
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(v.key(), v);
            }
            WatchStep::InitDone => {
                let after = self.relist.take().unwrap_or_default();
                self.close_gap(now, &mut out);
                let keys: BTreeSet<String> =
                    self.known.keys().chain(after.keys()).cloned().collect();
                let initial = !self.listed;
                self.differ
                    .diff(&self.known, &after, &keys, initial, now, &mut out);
                self.known = after;
                self.listed = true;
            }
            WatchStep::Apply(v) => {
                self.close_gap(now, &mut out);
                let mut after = self.known.clone();
                let key = v.key();
                after.insert(key.clone(), v);
                self.commit(after, key, now, &mut out);
            }
            WatchStep::Delete(v) => {
                self.close_gap(now, &mut out);
                let mut after = self.known.clone();
                let key = v.key();
                after.remove(&key);
                self.commit(after, key, now, &mut out);
            }
            WatchStep::Error(e) => {
                self.last_error = Some(e);
                if self.down_since.is_none() {
                    self.down_since = Some(now);
                }
            }
        }
        out
    }

    /// Records a gap still open (the watch failed and nothing has arrived since) as lasting
    /// until `now`: zerodrop cannot tell whether it came back, so it does not claim so.
    pub fn flush_gap(&mut self, now: At) -> Vec<LifecycleEvent> {
        let mut out = Vec::new();
        self.close_gap(now, &mut out);
        out
    }

    fn commit(
        &mut self,
        after: BTreeMap<String, V>,
        key: String,
        now: At,
        out: &mut Vec<LifecycleEvent>,
    ) {
        let keys = BTreeSet::from([key]);
        self.differ
            .diff(&self.known, &after, &keys, false, now, out);
        self.known = after;
    }

    fn close_gap(&mut self, now: At, out: &mut Vec<LifecycleEvent>) {
        if let Some(from) = self.down_since.take() {
            out.push(LifecycleEvent::workload(
                now,
                EventKind::WatchGap {
                    resource: self.resource.clone(),
                    from,
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A differ over plain strings: "created X", "changed X", "deleted X" as Notes.
    #[derive(Default)]
    struct Names;

    #[derive(Clone, Debug, PartialEq)]
    struct V(&'static str, u32);

    impl Keyed for V {
        fn key(&self) -> String {
            self.0.to_string()
        }
    }

    impl Differ<V> for Names {
        fn diff(
            &mut self,
            before: &BTreeMap<String, V>,
            after: &BTreeMap<String, V>,
            keys: &BTreeSet<String>,
            _initial: bool,
            now: At,
            out: &mut Vec<LifecycleEvent>,
        ) {
            for k in keys {
                let what = match (before.get(k), after.get(k)) {
                    (None, Some(_)) => "created",
                    (Some(_), None) => "deleted",
                    (Some(a), Some(b)) if a != b => "changed",
                    _ => continue,
                };
                out.push(LifecycleEvent::workload(
                    now,
                    EventKind::Note {
                        reason: what.into(),
                        message: k.clone(),
                    },
                ));
            }
        }
    }

    fn notes(evs: &[LifecycleEvent]) -> Vec<String> {
        evs.iter()
            .map(|e| match &e.kind {
                EventKind::Note { reason, message } => format!("{reason} {message}"),
                EventKind::WatchGap { resource, from } => format!("gap {resource} {}", from.0),
                other => other.name().to_string(),
            })
            .collect()
    }

    fn listed(items: &[V]) -> Tracker<V, Names> {
        let mut t = Tracker::new("pods", Names);
        t.handle(WatchStep::Init, At(0));
        for i in items {
            t.handle(WatchStep::InitApply(i.clone()), At(0));
        }
        t.handle(WatchStep::InitDone, At(0));
        t
    }

    #[test]
    fn the_first_list_reports_every_object_and_no_gap() {
        let mut t = Tracker::new("pods", Names);
        assert!(t.handle(WatchStep::Init, At(0)).is_empty());
        assert!(t.handle(WatchStep::InitApply(V("a", 1)), At(0)).is_empty());
        let evs = t.handle(WatchStep::InitDone, At(1));
        assert_eq!(notes(&evs), ["created a"]);
        assert!(t.listed());
    }

    #[test]
    fn live_changes_are_diffed_one_object_at_a_time() {
        let mut t = listed(&[V("a", 1), V("b", 1)]);
        assert_eq!(
            notes(&t.handle(WatchStep::Apply(V("a", 2)), At(2))),
            ["changed a"]
        );
        assert_eq!(
            notes(&t.handle(WatchStep::Apply(V("c", 1)), At(3))),
            ["created c"]
        );
        assert_eq!(
            notes(&t.handle(WatchStep::Delete(V("b", 1)), At(4))),
            ["deleted b"]
        );
        assert_eq!(t.known().len(), 2);
    }

    #[test]
    fn a_relist_after_a_failure_reports_only_what_changed_and_the_gap_first() {
        let mut t = listed(&[V("a", 1), V("b", 1), V("c", 1)]);
        assert!(
            t.handle(WatchStep::Error("stream cut".into()), At(10))
                .is_empty()
        );
        assert!(
            t.handle(WatchStep::Error("410 Gone".into()), At(12))
                .is_empty()
        );
        assert!(t.handle(WatchStep::Init, At(15)).is_empty());
        for v in [V("a", 1), V("b", 2), V("d", 1)] {
            assert!(t.handle(WatchStep::InitApply(v), At(16)).is_empty());
        }
        let evs = t.handle(WatchStep::InitDone, At(20));
        // Unchanged a: nothing. Changed b, new d, vanished c: once each. The gap runs from the
        // first failure to the moment the re-list made the state whole again.
        assert_eq!(
            notes(&evs),
            ["gap pods 10", "changed b", "deleted c", "created d"]
        );
        assert!(evs.iter().all(|e| e.at == At(20)));
        assert_eq!(t.down_since(), None);
    }

    #[test]
    fn a_resumed_watch_closes_the_gap_at_its_first_event() {
        let mut t = listed(&[V("a", 1)]);
        t.handle(WatchStep::Error("stream cut".into()), At(10));
        let evs = t.handle(WatchStep::Apply(V("a", 2)), At(30));
        assert_eq!(notes(&evs), ["gap pods 10", "changed a"]);
        // The gap is recorded once.
        assert_eq!(
            notes(&t.handle(WatchStep::Apply(V("a", 3)), At(31))),
            ["changed a"]
        );
    }

    #[test]
    fn a_gap_still_open_at_the_end_is_flushed_to_that_instant() {
        let mut t = listed(&[V("a", 1)]);
        t.handle(WatchStep::Error("stream cut".into()), At(10));
        assert_eq!(notes(&t.flush_gap(At(99))), ["gap pods 10"]);
        assert!(t.flush_gap(At(100)).is_empty());
    }

    #[test]
    fn a_relist_without_a_reported_failure_is_still_a_gap() {
        let mut t = listed(&[V("a", 1)]);
        t.handle(WatchStep::Init, At(5));
        let evs = t.handle(WatchStep::InitDone, At(6));
        assert_eq!(notes(&evs), ["gap pods 5", "deleted a"]);
    }
}
