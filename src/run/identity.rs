//! Finding, before the load starts, a response header in which the app names the pod that
//! answered — discovered, not configured. zerodrop knows every pod's name and address from its
//! watches (or the local runtime); a few requests, each on a new connection, show whether some
//! header's value names one of them (`X-Served-By: web-7d9f-x2`, a hostname echo, a pod IP).
//! If one does, the load reads that header as `--pod-header` would, and every failure on a
//! connection is tied to its pod by the app's own word.

use std::collections::{BTreeMap, BTreeSet};

use crate::load::sample::{Headers, Sampled};
use crate::model::event::{EventKind, LifecycleEvent};

/// Requests sampled for the search.
pub const SAMPLES: usize = 12;

/// The reason of the timeline note that records a discovered header (its message is the
/// header's name).
pub const DISCOVERED: &str = "PodHeaderDiscovered";

/// The reason of the timeline note that records the search itself: how many requests it
/// sent before the load (they reached the service, outside the run's counts) and what it found.
pub const SEARCHED: &str = "PodHeaderSearch";

/// The search's note: "12 requests sent before the load, each on a new connection, 12
/// answered; …".
pub fn searched(sampled: &Sampled, found: Option<&Discovered>) -> String {
    format!(
        "{} requests sent before the load, each on a new connection, {} answered; {}",
        sampled.sent,
        sampled.answered.len(),
        found.map_or_else(
            || "no response header names a pod".to_string(),
            |d| format!("`{}` names the pod", d.header)
        )
    )
}

/// The header a run discovered, from its timeline.
pub fn discovered(events: &[LifecycleEvent]) -> Option<String> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Note { reason, message } if reason == DISCOVERED => Some(message.clone()),
        _ => None,
    })
}

/// A header found to name pods.
#[derive(Clone, Debug, PartialEq)]
pub struct Discovered {
    /// Its name, lower-cased.
    pub header: String,
    /// Sampled responses that carried it naming a known pod, of all answered.
    pub matched: usize,
    pub answered: usize,
    /// The pods it named.
    pub pods: BTreeSet<String>,
}

impl Discovered {
    /// What the run says about it.
    pub fn describe(&self) -> String {
        format!(
            "responses name the pod that answered in `{}` ({} of {} sampled, {} pods): used as \
             --pod-header, so failures are tied to pods by the app's own word",
            self.header,
            self.matched,
            self.answered,
            self.pods.len()
        )
    }
}

/// Every pod's name and the addresses it is known by, from lifecycle events.
pub fn known_pods(events: &[LifecycleEvent]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in events {
        let Some(pod) = &e.pod else { continue };
        let addrs = out.entry(pod.clone()).or_default();
        let address = match &e.kind {
            EventKind::PodStarted { address } => address.clone(),
            kind => kind.endpoint().map(|(a, _)| a.to_string()),
        };
        if let Some(a) = address {
            // An endpoint is ip:port; an app names itself by its bare IP as often.
            if let Some((ip, _)) = a.rsplit_once(':') {
                addrs.insert(ip.trim_start_matches('[').trim_end_matches(']').to_string());
            }
            addrs.insert(a);
        }
    }
    out
}

/// The pod a header value names, if any: its name, one of its addresses, or a hostname whose
/// first label is the pod's name.
fn names(value: &str, pods: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    let v = value.trim();
    let first_label = v.split('.').next().unwrap_or(v);
    pods.iter()
        .find(|(name, addrs)| {
            v.eq_ignore_ascii_case(name)
                || first_label.eq_ignore_ascii_case(name)
                || addrs.contains(v)
        })
        .map(|(name, _)| name.clone())
}

/// The header that names a known pod in at least 80 % of the answered samples (and in at least
/// two of them), the one naming the most if several do.
pub fn discover(
    samples: &[Headers],
    pods: &BTreeMap<String, BTreeSet<String>>,
) -> Option<Discovered> {
    let answered = samples.len();
    let mut by_header: BTreeMap<&str, (usize, BTreeSet<String>)> = BTreeMap::new();
    for headers in samples {
        // A header counts once per response, even if repeated.
        let mut seen = BTreeSet::new();
        for (name, value) in headers {
            if !seen.insert(name.as_str()) {
                continue;
            }
            if let Some(pod) = names(value, pods) {
                let slot = by_header.entry(name.as_str()).or_default();
                slot.0 += 1;
                slot.1.insert(pod);
            }
        }
    }
    by_header
        .into_iter()
        .filter(|(_, (matched, _))| *matched >= 2 && *matched * 5 >= answered * 4)
        .max_by_key(|(name, (matched, pods))| (*matched, pods.len(), std::cmp::Reverse(*name)))
        .map(|(header, (matched, pods))| Discovered {
            header: header.to_string(),
            matched,
            answered,
            pods,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> BTreeMap<String, BTreeSet<String>> {
        let mut m = BTreeMap::new();
        for (i, name) in ["web-7d9f-a", "web-7d9f-b", "web-7d9f-c"]
            .iter()
            .enumerate()
        {
            let ip = format!("10.0.0.{}", i + 1);
            m.insert(
                name.to_string(),
                BTreeSet::from([ip.clone(), format!("{ip}:8080")]),
            );
        }
        m
    }

    fn response(extra: &[(&str, &str)]) -> Headers {
        let mut h = vec![
            (
                "date".to_string(),
                "Mon, 07 Dec 2026 10:00:00 GMT".to_string(),
            ),
            ("content-type".to_string(), "text/plain".to_string()),
        ];
        h.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        h
    }

    #[test]
    fn a_header_naming_the_pods_is_found_among_ordinary_ones() {
        let samples: Vec<Headers> = ["web-7d9f-a", "web-7d9f-b", "web-7d9f-a", "web-7d9f-c"]
            .iter()
            .map(|p| response(&[("x-served-by", p)]))
            .collect();
        let d = discover(&samples, &pods()).expect("found");
        assert_eq!(d.header, "x-served-by");
        assert_eq!((d.matched, d.answered, d.pods.len()), (4, 4, 3));
    }

    #[test]
    fn a_pod_ip_or_a_hostname_echo_names_the_pod_too() {
        let by_ip: Vec<Headers> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|v| response(&[("x-pod-ip", v)]))
            .collect();
        assert_eq!(discover(&by_ip, &pods()).expect("ip").header, "x-pod-ip");
        let by_host: Vec<Headers> = ["web-7d9f-a.shop.svc.cluster.local", "web-7d9f-b.shop.svc"]
            .iter()
            .map(|v| response(&[("x-hostname", v)]))
            .collect();
        assert_eq!(
            discover(&by_host, &pods()).expect("host").header,
            "x-hostname"
        );
    }

    #[test]
    fn no_header_is_claimed_when_responses_do_not_name_pods() {
        let samples: Vec<Headers> = (0..6).map(|_| response(&[("server", "nginx")])).collect();
        assert_eq!(discover(&samples, &pods()), None);
    }

    #[test]
    fn a_header_that_names_a_pod_only_now_and_then_is_not_trusted() {
        let mut samples: Vec<Headers> = (0..8).map(|_| response(&[("x-note", "hello")])).collect();
        samples.push(response(&[("x-note", "web-7d9f-a")]));
        samples.push(response(&[("x-note", "web-7d9f-b")]));
        assert_eq!(discover(&samples, &pods()), None);
    }

    #[test]
    fn pods_are_known_by_their_names_and_addresses_from_events() {
        let events = vec![
            LifecycleEvent::pod(
                crate::model::clock::At(0),
                "web-1",
                EventKind::PodStarted {
                    address: Some("10.1.2.3:8080".into()),
                },
            ),
            LifecycleEvent::pod(crate::model::clock::At(1), "web-2", EventKind::PodReady),
        ];
        let known = known_pods(&events);
        assert!(known["web-1"].contains("10.1.2.3") && known["web-1"].contains("10.1.2.3:8080"));
        assert!(known.contains_key("web-2"));
    }
}
