//! Turns classified failures and the run's measurements into findings: evidence, a one-line
//! title, the likely cause in one sentence, and the fix (with a YAML snippet where one
//! applies). One file per family; this one gathers each cause's failures and orders the
//! result. Findings never count a failure twice: the classifier gave each one cause.

mod capacity;
mod connections;
mod other;
mod shutdown;
mod startup;
mod ws;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::analysis::classify::Explained;
use crate::analysis::endpoints::Window;
use crate::analysis::fixes::Target;
use crate::analysis::overload::Overload;
use crate::analysis::pods::PodLife;
use crate::analysis::{AnalysisInput, AttributionMethod, LagStats};
use crate::model::clock::At;
use crate::model::finding::{Evidence, Finding, FindingId, Severity};
use crate::model::request::RequestRecord;
use crate::record::Recorded;
use crate::timeline::Timeline;

/// Examples quoted per finding.
const EXAMPLES: usize = 5;

/// Everything the finding builders may quote.
pub struct Facts<'a> {
    pub recorded: &'a Recorded,
    pub timeline: &'a Timeline,
    pub input: &'a AnalysisInput,
    pub pods: &'a BTreeMap<String, PodLife>,
    pub lag: &'a LagStats,
    pub zero: &'a [Window],
    pub dips: &'a [Window],
    pub overload: &'a [Overload],
    pub p99_ratio: Option<f64>,
    pub target: Target,
    /// The pod of each WebSocket session, by (client, attempt).
    pub session_pods:
        &'a std::collections::HashMap<(u64, u32), crate::analysis::sessions::SessionPod>,
}

/// The failures one cause explains.
pub struct Group<'a> {
    pub items: Vec<(&'a RequestRecord, &'a Explained)>,
}

impl<'a> Group<'a> {
    pub fn len(&self) -> u64 {
        self.items.len() as u64
    }

    /// Pods the failures were tied to, sorted.
    pub fn pods(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .items
            .iter()
            .filter_map(|(_, e)| e.pod.as_deref())
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Counts, window, pods, classes and examples; details are the builder's.
    pub fn evidence(&self) -> Evidence {
        let mut classes = BTreeMap::new();
        for (f, _) in &self.items {
            *classes.entry(f.class).or_insert(0) += 1;
        }
        let window = self
            .items
            .iter()
            .map(|(f, _)| f.sent)
            .min()
            .zip(self.items.iter().map(|(f, _)| f.end).max());
        let mut details = Vec::new();
        if let Some(line) = self.attribution_line() {
            details.push(line);
        }
        Evidence {
            failures: self.len(),
            window,
            pods: self.pods(),
            classes,
            examples: self
                .items
                .iter()
                .take(EXAMPLES)
                .map(|(f, _)| f.seq)
                .collect(),
            details,
        }
    }

    /// How the failures were tied to pods, so no reader takes a guess for a fact.
    fn attribution_line(&self) -> Option<String> {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, e) in &self.items {
            let how = match e.method {
                Some(AttributionMethod::ProxyRoute) => "exactly, by the proxy's connection map",
                Some(AttributionMethod::PeerAddress) => "exactly, by the pod's address",
                Some(AttributionMethod::IdentityHeader) => "by the pod's identity header",
                Some(AttributionMethod::ConnectionEnd) => {
                    "inferred from how their connection ended (the pod's exit closed it)"
                }
                Some(AttributionMethod::SoleCandidate) => {
                    "inferred: the only pod that could have refused a new connection then"
                }
                Some(AttributionMethod::TimeWindow) => {
                    "by timing only (the pod whose lifecycle matched; not certain)"
                }
                None => "to no pod",
            };
            *by.entry(how).or_default() += 1;
        }
        if by.is_empty() || (by.len() == 1 && by.contains_key("to no pod")) {
            return None;
        }
        let parts: Vec<String> = by.iter().map(|(how, n)| format!("{n} {how}")).collect();
        Some(format!("attributed: {}", parts.join("; ")))
    }

    /// The failures tied to `pod`.
    pub fn of_pod<'b>(&'b self, pod: &'b str) -> impl Iterator<Item = &'a RequestRecord> + 'b {
        self.items
            .iter()
            .filter(move |(_, e)| e.pod.as_deref() == Some(pod))
            .map(|(f, _)| *f)
    }
}

/// Seconds with millisecond precision, as findings quote durations.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// "web-1", "web-1 and web-2", "web-1, web-2 and 3 more".
pub fn pod_list(pods: &[String]) -> String {
    match pods {
        [] => "unidentified pods".into(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [a, b, rest @ ..] => format!("{a}, {b} and {} more", rest.len()),
    }
}

/// "1 request" / "3 requests".
pub fn requests(n: u64) -> String {
    if n == 1 {
        "1 request".into()
    } else {
        format!("{n} requests")
    }
}

/// Builds every finding, ordered by the failures each explains (most first), with the
/// unexplained remainder last.
pub fn build(
    failures: &[RequestRecord],
    explained: &[Explained],
    facts: &Facts<'_>,
) -> Vec<Finding> {
    let mut groups: BTreeMap<FindingId, Group<'_>> = BTreeMap::new();
    for (f, e) in failures.iter().zip(explained) {
        groups
            .entry(e.cause)
            .or_insert_with(|| Group { items: Vec::new() })
            .items
            .push((f, e));
    }
    let mut out: Vec<Finding> = Vec::new();
    if let Some(g) = groups.remove(&FindingId::TrafficToTerminatingPod) {
        out.push(shutdown::traffic_to_terminating(&g, facts));
    }
    if let Some(g) = groups.remove(&FindingId::UngracefulShutdown) {
        out.push(shutdown::ungraceful(&g, facts));
    }
    if let Some(g) = groups.remove(&FindingId::KeepaliveCloseRace) {
        out.push(shutdown::keepalive_race(&g, facts));
    }
    if let Some(g) = groups.remove(&FindingId::KilledAtGraceDeadline) {
        out.push(shutdown::killed(&g, facts));
    }
    if let Some(g) = groups.remove(&FindingId::NoGoawayOnShutdown) {
        out.push(connections::no_goaway(&g, facts));
    }
    if let Some(g) = groups.remove(&FindingId::EarlyTraffic) {
        out.push(startup::early_traffic(&g, facts));
    }
    let empty = Group { items: Vec::new() };
    let dip = groups.remove(&FindingId::CapacityDip);
    out.extend(capacity::capacity_dip(
        dip.as_ref().unwrap_or(&empty),
        facts,
    ));
    let zero = groups.remove(&FindingId::NoEndpoints);
    out.extend(capacity::no_endpoints(
        zero.as_ref().unwrap_or(&empty),
        facts,
    ));
    out.extend(capacity::latency_regression(facts));
    out.extend(connections::not_rebalanced(facts));
    if let Some(g) = groups.remove(&FindingId::BaselineErrors) {
        out.push(other::baseline(&g, facts));
    }
    if let Some(g) = groups.remove(&FindingId::Overload) {
        out.push(other::overload(&g, facts));
    }
    let dropped = groups.remove(&FindingId::WsDroppedWithoutClose);
    out.extend(ws::dropped_without_close(
        dropped.as_ref().unwrap_or(&empty),
        facts,
    ));
    if let Some(g) = groups.remove(&FindingId::WsMessagesLostAtClose) {
        out.push(ws::lost_at_close(&g, facts));
    }
    out.sort_by(|a, b| {
        b.evidence
            .failures
            .cmp(&a.evidence.failures)
            .then(b.severity.cmp(&a.severity))
            .then(a.id.cmp(&b.id))
    });
    let rest = groups.remove(&FindingId::Unexplained);
    out.extend(other::unexplained(rest.as_ref().unwrap_or(&empty), facts));
    out
}

/// A finding with the fields every builder fills the same way.
pub fn finding(
    id: FindingId,
    severity: Severity,
    title: String,
    evidence: Evidence,
    cause: &str,
    fix: String,
    fix_yaml: Option<String>,
) -> Finding {
    Finding {
        id,
        severity,
        title,
        evidence,
        cause: cause.to_string(),
        fix,
        fix_yaml,
    }
}

/// The part of `w` that overlaps `[from, to)`, if any.
pub fn clip(w: &Window, from: At, to: At) -> Option<Window> {
    let start = w.start.max(from);
    let end = w.end.min(to);
    (end > start).then(|| Window {
        start,
        end,
        ..w.clone()
    })
}
