//! WebSocket sessions: how each one ended, and the record of one session the load engine emits
//! beside its message records.
//!
//! A session is one WebSocket connection of one simulated client, from its handshake to its
//! end. A client that reconnects (`--reconnect`) opens a new session each time, numbered by
//! `attempt`. The messages a session carried are request records like any other (their
//! classes are `OutcomeClass::Ws*` or `ok`), so their latency goes through the same
//! histograms; how the session itself ended is a [`SessionClass`], never folded into the
//! request classes: a close frame with its code (RFC 6455 §7.4) is not a drop.
//!
//! - 1000 normal closure, 1001 going away (a server shutting down), 1012 service restart:
//!   the server said goodbye; a client reconnects and nothing it sent is lost unless it was
//!   in flight at that instant.
//! - 1006 is never sent on the wire: it is the name for a connection that ended *without* a
//!   close frame (the TCP connection closed or reset under the session) — a pod that exited
//!   without closing its sessions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::At;
use super::outcome::{ConnId, OutcomeClass};

/// How a session ended. `ClientClose` and the three goodbye codes are graceful; the others
/// fail the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionClass {
    /// We closed it (its `--session-duration` ran out, or the load ended): close 1000.
    ClientClose,
    /// The server closed it with 1000 (normal closure).
    #[serde(rename = "close_1000")]
    Close1000,
    /// The server closed it with 1001 (going away): a graceful server shutdown.
    #[serde(rename = "close_1001")]
    Close1001,
    /// The server closed it with 1012 (service restart).
    #[serde(rename = "close_1012")]
    Close1012,
    /// The server closed it with another code (1002 protocol error, 1011 internal error, 1013
    /// try again later, …; the code is kept in the record), or with no code at all.
    CloseOther,
    /// The connection ended without a close frame (EOF or reset under the session): 1006.
    #[serde(rename = "abnormal_1006")]
    Abnormal1006,
    /// The session never opened: the connect failed, or the server refused the upgrade.
    HandshakeFailed,
    /// A protocol violation (a malformed frame, an oversized message) ended it on our side.
    ProtocolError,
}

impl SessionClass {
    pub const ALL: [SessionClass; 8] = [
        SessionClass::ClientClose,
        SessionClass::Close1000,
        SessionClass::Close1001,
        SessionClass::Close1012,
        SessionClass::CloseOther,
        SessionClass::Abnormal1006,
        SessionClass::HandshakeFailed,
        SessionClass::ProtocolError,
    ];

    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            SessionClass::ClientClose => "client_close",
            SessionClass::Close1000 => "close_1000",
            SessionClass::Close1001 => "close_1001",
            SessionClass::Close1012 => "close_1012",
            SessionClass::CloseOther => "close_other",
            SessionClass::Abnormal1006 => "abnormal_1006",
            SessionClass::HandshakeFailed => "handshake_failed",
            SessionClass::ProtocolError => "protocol_error",
        }
    }

    pub fn from_name(name: &str) -> Option<SessionClass> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The class of a close frame the server sent (`None`: a close frame without a code).
    pub fn of_close_code(code: Option<u16>) -> SessionClass {
        match code {
            Some(1000) => SessionClass::Close1000,
            Some(1001) => SessionClass::Close1001,
            Some(1012) => SessionClass::Close1012,
            _ => SessionClass::CloseOther,
        }
    }

    /// Ended with a goodbye: closed by us, or by the server with 1000, 1001 or 1012.
    pub fn is_graceful(self) -> bool {
        matches!(
            self,
            SessionClass::ClientClose
                | SessionClass::Close1000
                | SessionClass::Close1001
                | SessionClass::Close1012
        )
    }

    /// Dropped: the connection went away under the session without a close frame (1006).
    /// What the `sessions_dropped` threshold counts.
    pub fn is_dropped(self) -> bool {
        self == SessionClass::Abnormal1006
    }

    /// Anything but a graceful end fails the run.
    pub fn is_failure(self) -> bool {
        !self.is_graceful()
    }

    /// The session was ended by the server's side (a close frame or a drop), not by us and not
    /// before it opened: a well-behaved client reconnects after these.
    pub fn ended_by_server(self) -> bool {
        matches!(
            self,
            SessionClass::Close1000
                | SessionClass::Close1001
                | SessionClass::Close1012
                | SessionClass::CloseOther
                | SessionClass::Abnormal1006
        )
    }
}

impl std::fmt::Display for SessionClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Messages a session's client got answered, per second of the run (by due time), from
/// `first_second` on: what the report sums per pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerSecond {
    pub first_second: u64,
    pub counts: Vec<u32>,
}

impl PerSecond {
    /// Counts one message in `second`; seconds before `first_second` (none, as the engine
    /// emits them) are counted in the first.
    pub fn add(&mut self, second: u64) {
        if self.counts.is_empty() {
            self.first_second = second;
        }
        let i = second.saturating_sub(self.first_second) as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
    }

    /// `(second, count)` for every second with a count.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (self.first_second + i as u64, *n))
    }
}

/// Everything known about one session when it ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The simulated client (stable across its reconnects; unique across generators).
    pub client: u64,
    /// 0 for the client's first session, n for its n-th reconnect.
    pub attempt: u32,
    /// When the session was due to open (the client's arrival, or the end of a reconnect
    /// backoff).
    pub due: At,
    /// When the handshake completed (`None`: it never opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened: Option<At>,
    /// When it ended: the close frame or the drop was seen, or our close was answered.
    pub ended: At,
    pub class: SessionClass,
    /// The close code the server sent, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The close reason, the error chain of a drop, or why the handshake failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How the connect failed, for a session that never opened (`connect_refused`,
    /// `connect_timeout`, `connection_reset`, `http_5xx`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<OutcomeClass>,
    /// The HTTP status of a refused upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The session's TCP connection, when one was established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnId>,
    /// The address dialled, when no connection was established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialed: Option<SocketAddr>,
    /// The identity header (`--pod-header`) of the handshake response: who accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Arc<str>>,
    /// When the client's previous session ended, for a reconnect: the gap to `opened` is the
    /// time to reconnect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_end: Option<At>,
    /// Messages sent on this session, answered on it, and lost with it (sent, unanswered
    /// when it ended).
    pub sent: u32,
    pub answered: u32,
    pub lost: u32,
    /// Answered messages per second of the run (by due time).
    #[serde(default)]
    pub per_second: PerSecond,
}

impl SessionRecord {
    /// How long the client was without a session before this one opened (a reconnect only).
    pub fn reconnect_time(&self) -> Option<Duration> {
        Some(self.opened?.saturating_sub(self.previous_end?))
    }

    /// How long the session was open.
    pub fn open_for(&self) -> Option<Duration> {
        Some(self.ended.saturating_sub(self.opened?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_class_round_trips_through_its_name() {
        for c in SessionClass::ALL {
            assert_eq!(SessionClass::from_name(c.name()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.name())
            );
        }
    }

    #[test]
    fn goodbye_codes_are_graceful_and_only_1006_is_a_drop() {
        assert_eq!(
            SessionClass::of_close_code(Some(1000)),
            SessionClass::Close1000
        );
        assert_eq!(
            SessionClass::of_close_code(Some(1001)),
            SessionClass::Close1001
        );
        assert_eq!(
            SessionClass::of_close_code(Some(1012)),
            SessionClass::Close1012
        );
        assert_eq!(
            SessionClass::of_close_code(Some(1011)),
            SessionClass::CloseOther
        );
        assert_eq!(SessionClass::of_close_code(None), SessionClass::CloseOther);
        let graceful: Vec<_> = SessionClass::ALL
            .into_iter()
            .filter(|c| c.is_graceful())
            .collect();
        assert_eq!(
            graceful,
            [
                SessionClass::ClientClose,
                SessionClass::Close1000,
                SessionClass::Close1001,
                SessionClass::Close1012
            ]
        );
        let dropped: Vec<_> = SessionClass::ALL
            .into_iter()
            .filter(|c| c.is_dropped())
            .collect();
        assert_eq!(dropped, [SessionClass::Abnormal1006]);
    }

    #[test]
    fn answered_messages_are_counted_per_second_from_the_first() {
        let mut p = PerSecond::default();
        p.add(5);
        p.add(5);
        p.add(7);
        assert_eq!(p.first_second, 5);
        assert_eq!(p.iter().collect::<Vec<_>>(), [(5, 2), (7, 1)]);
    }
}
