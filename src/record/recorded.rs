//! [`Recorded`]: what a load run recorded, as the recorder finishes it and a result saves it.

use serde::{Deserialize, Serialize};

use super::{ConnectionLoad, Second, Sessions, SpanStats};
use crate::model::connection::ConnectionLife;
use crate::model::request::RequestRecord;

/// What a load run recorded: the input of analysis and reports, mergeable across generators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// One entry per second of the run that had requests due, by due time.
    pub series: Vec<Second>,
    /// One entry per phase, in order.
    pub phases: Vec<SpanStats>,
    /// The whole run.
    pub overall: SpanStats,
    /// Failed requests in full detail, in due order, up to the log's limit.
    pub failures: Vec<RequestRecord>,
    /// Failures beyond the log's limit: counted, not kept.
    pub failures_not_kept: u64,
    /// WebSocket sessions (`--ws`); absent from HTTP runs' results.
    #[serde(default, skip_serializing_if = "Sessions::is_empty")]
    pub sessions: Sessions,
    /// The lives of the connections that can tie requests to pods (see
    /// [`Recorder`](super::Recorder)'s sink), in the order they opened, up to
    /// [`CONNECTION_LOG_LIMIT`](super::CONNECTION_LOG_LIMIT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionLife>,
    /// Connection lives beyond the limit: counted, not kept.
    #[serde(default)]
    pub connections_not_kept: u64,
    /// Requests per connection per second (runs over a few long-lived connections: gRPC), for
    /// each pod's load; at most [`CONNECTIONS_LIMIT`](super::CONNECTIONS_LIMIT) connections.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_by_connection: Vec<ConnectionLoad>,
    /// Requests on connections past that limit: counted, not kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub load_by_connection_not_kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Recorded {
    pub fn phase(&self, name: &str) -> Option<&SpanStats> {
        self.phases.iter().find(|p| p.name == name)
    }
}
