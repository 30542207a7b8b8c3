//! Requests per connection per second: what load each pod carried is built from this, since a
//! long-lived connection stays on one pod (the analysis ties each connection to its pod).
//!
//! Kept only when the run asks (gRPC: a fixed pool of long-lived connections, so a handful of
//! series), and bounded: past [`CONNECTIONS_LIMIT`] connections the rest are only counted.
//! A series grows by one entry per second in which its connection carried something.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::model::request::RequestRecord;

/// Connections whose load is kept at most.
pub const CONNECTIONS_LIMIT: usize = 4_096;

/// One second of one connection: requests due in it that rode the connection, and how many
/// of them failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnSecond {
    pub second: u64,
    pub requests: u32,
    pub failed: u32,
}

/// The load one connection carried, second by second (by due time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionLoad {
    /// The engine's number for it (`ConnId::id`).
    pub id: u64,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// The identity header's value it last carried (`--pod-header`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    pub seconds: Vec<ConnSecond>,
}

impl ConnectionLoad {
    pub fn requests(&self) -> u64 {
        self.seconds.iter().map(|s| u64::from(s.requests)).sum()
    }
}

/// Builds the per-connection series as records arrive.
#[derive(Debug, Default)]
pub(super) struct ByConnection {
    index: HashMap<u64, usize>,
    loads: Vec<ConnectionLoad>,
    /// Requests on connections past the limit.
    pub(super) not_kept: u64,
}

impl ByConnection {
    pub(super) fn add(&mut self, r: &RequestRecord) {
        let Some(c) = r.conn else { return };
        let i = match self.index.get(&c.id) {
            Some(&i) => i,
            None if self.loads.len() < CONNECTIONS_LIMIT => {
                self.loads.push(ConnectionLoad {
                    id: c.id,
                    local: c.local,
                    peer: c.peer,
                    identity: None,
                    seconds: Vec::new(),
                });
                self.index.insert(c.id, self.loads.len() - 1);
                self.loads.len() - 1
            }
            None => {
                self.not_kept += 1;
                return;
            }
        };
        let load = &mut self.loads[i];
        if let Some(id) = &r.identity
            && load.identity.as_deref() != Some(&**id)
        {
            load.identity = Some(id.to_string());
        }
        let second = r.due.second();
        let failed = u32::from(r.class.is_failure());
        // Records arrive about in due order; a late one finds its second near the end.
        match load
            .seconds
            .iter_mut()
            .rev()
            .take(8)
            .find(|s| s.second == second)
        {
            Some(s) => {
                s.requests += 1;
                s.failed += failed;
            }
            None => {
                let at = load.seconds.partition_point(|s| s.second < second);
                load.seconds.insert(
                    at,
                    ConnSecond {
                        second,
                        requests: 1,
                        failed,
                    },
                );
            }
        }
    }

    pub(super) fn finish(self) -> Vec<ConnectionLoad> {
        self.loads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::At;
    use crate::model::outcome::{ConnId, OutcomeClass};

    fn rec(conn: u64, due_ms: u64, class: OutcomeClass) -> RequestRecord {
        RequestRecord {
            seq: due_ms,
            due: At(due_ms * 1000),
            sent: At(due_ms * 1000),
            end: At(due_ms * 1000 + 500),
            class,
            status: None,
            conn: Some(ConnId {
                id: conn,
                local: SocketAddr::from(([127, 0, 0, 1], 40_000 + conn as u16)),
                peer: SocketAddr::from(([127, 0, 0, 1], 8080)),
                reused: true,
            }),
            dialed: None,
            error: None,
            identity: Some(format!("pod-{conn}").into()),
        }
    }

    #[test]
    fn each_connection_counts_its_requests_and_failures_per_second_even_out_of_order() {
        let mut b = ByConnection::default();
        for (conn, ms, class) in [
            (0, 100, OutcomeClass::Ok),
            (1, 200, OutcomeClass::Ok),
            (0, 1_100, OutcomeClass::Ok),
            (0, 900, OutcomeClass::ConnectionReset),
            (0, 1_200, OutcomeClass::Ok),
        ] {
            b.add(&rec(conn, ms, class));
        }
        let loads = b.finish();
        assert_eq!(loads.len(), 2);
        let secs: Vec<(u64, u32, u32)> = loads[0]
            .seconds
            .iter()
            .map(|s| (s.second, s.requests, s.failed))
            .collect();
        assert_eq!(secs, vec![(0, 2, 1), (1, 2, 0)]);
        assert_eq!(loads[0].requests(), 4);
        assert_eq!(loads[1].identity.as_deref(), Some("pod-1"));
    }

    #[test]
    fn requests_without_a_connection_are_not_anyones_load() {
        let mut b = ByConnection::default();
        let mut r = rec(0, 1, OutcomeClass::ConnectRefused);
        r.conn = None;
        b.add(&r);
        assert!(b.finish().is_empty());
    }
}
