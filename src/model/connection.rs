//! The life of one connection the load engine opened: when it opened, what it carried, and how
//! it ended.
//!
//! Through a Service ClusterIP, an ingress or a load balancer the socket's peer is a virtual
//! address, never the pod; but a keep-alive connection still lives on one pod from its first
//! byte to its close, and a pod's exit closes every connection pinned to it within
//! milliseconds. So a connection's end, set beside the pods' exits on the same clock, says
//! which pod it was on. The engine records each connection's life here (once per connection,
//! off the per-request path) and the analysis draws that inference.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::clock::At;

/// How a connection ended, as our side saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionEnd {
    /// The peer closed it (FIN): while idle, or under a request.
    PeerClosed,
    /// The peer reset it (RST).
    PeerReset,
    /// The peer answered with `Connection: close` (or HTTP/1.0) and closed after the response:
    /// a close it announced.
    PeerAnnounced,
    /// We closed it: a request timed out on it, it could not be reused, or we stopped.
    LocalClose,
    /// Still open when the load ended.
    OpenAtEnd,
}

impl ConnectionEnd {
    /// The peer ended it without announcing it first: the evidence of a pod going away.
    pub fn by_peer(self) -> bool {
        matches!(self, ConnectionEnd::PeerClosed | ConnectionEnd::PeerReset)
    }

    pub fn name(self) -> &'static str {
        match self {
            ConnectionEnd::PeerClosed => "peer_closed",
            ConnectionEnd::PeerReset => "peer_reset",
            ConnectionEnd::PeerAnnounced => "peer_announced",
            ConnectionEnd::LocalClose => "local_close",
            ConnectionEnd::OpenAtEnd => "open_at_end",
        }
    }
}

/// One connection's life, recorded once when it ends (or when the load ends).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionLife {
    /// The engine's number for it (`ConnId::id` of the requests it carried).
    pub id: u64,
    /// Our side of the TCP connection.
    pub local: SocketAddr,
    /// The address we connected to (a Service's virtual address, or a pod's).
    pub peer: SocketAddr,
    /// When the connection was established.
    pub opened: At,
    /// Send instant of the first and of the last request it carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_request: Option<At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<At>,
    /// Requests it carried, and how many of them failed.
    pub requests: u32,
    pub failures: u32,
    /// When it ended (for `OpenAtEnd`, the load's end).
    pub ended: At,
    pub end: ConnectionEnd,
}
