//! A connection many requests share at once (HTTP/2, gRPC): what it carried, and its life as
//! its frames and reads tell it.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::sync::Arc;

use super::request::Exchange;
use super::sniff::Seen;
use super::state::{Heard, RunState};
use crate::model::clock::At;
use crate::model::connection::{ConnectionEnd, ConnectionLife};
use crate::model::outcome::ConnId;

/// A connection many requests share at once (HTTP/2, gRPC): who it is, what it carried, and
/// the identity and version headers it last carried.
pub(super) struct SharedConn {
    pub(super) id: u64,
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
    opened: At,
    uses: Cell<u64>,
    failures: Cell<u32>,
    first_sent: Cell<Option<At>>,
    last_sent: Cell<Option<At>>,
    identity: RefCell<Option<Arc<str>>>,
    version: RefCell<Option<Arc<str>>>,
}

impl SharedConn {
    pub(super) fn new(id: u64, local: SocketAddr, peer: SocketAddr, opened: At) -> SharedConn {
        SharedConn {
            id,
            local,
            peer,
            opened,
            uses: Cell::new(0),
            failures: Cell::new(0),
            first_sent: Cell::new(None),
            last_sent: Cell::new(None),
            identity: RefCell::new(None),
            version: RefCell::new(None),
        }
    }

    /// Counts one more request on it, sent at `sent`; true if it had carried one before.
    pub(super) fn take_turn(&self, sent: At) -> bool {
        let n = self.uses.get();
        self.uses.set(n + 1);
        if self.first_sent.get().is_none() {
            self.first_sent.set(Some(sent));
        }
        self.last_sent.set(Some(sent));
        n > 0
    }

    /// Records the request of template `template` it carried (sent at `sent`; `reused` from
    /// [`Self::take_turn`]) and ends it.
    pub(super) fn end(
        &self,
        sh: &RunState,
        (seq, due, sent, template): (u64, At, At, u16),
        reused: bool,
        mut ex: Exchange,
    ) {
        use super::request::remember_identity;
        remember_identity(&mut self.identity.borrow_mut(), ex.identity.take());
        remember_identity(&mut self.version.borrow_mut(), ex.version.take());
        if ex.class.is_failure() {
            self.failures.set(self.failures.get().saturating_add(1));
        }
        let id = ConnId {
            id: self.id,
            local: self.local,
            peer: self.peer,
            reused,
        };
        let heard = Heard {
            identity: self.identity.borrow().clone(),
            version: self.version.borrow().clone(),
        };
        sh.record(sh.completed(seq, due, sent, template, id, heard, ex));
        sh.finish_request();
    }

    /// Reports its life once it is let go: how the peer ended it as `seen` (its frames and
    /// reads) says, or else by us (`at_end`: the load is over and it was still open).
    pub(super) fn report_seen(&self, sh: &RunState, seen: &Seen, at_end: bool) {
        let ended = seen.ended(&sh.clock).unwrap_or_else(|| sh.now());
        let end = seen.peer_end().unwrap_or(if at_end {
            ConnectionEnd::OpenAtEnd
        } else {
            ConnectionEnd::LocalClose
        });
        self.report(sh, ended, end);
    }

    /// Reports its life to the sink: it ended at `ended`, as `end` says.
    fn report(&self, sh: &RunState, ended: At, end: ConnectionEnd) {
        let life = ConnectionLife {
            id: self.id,
            local: self.local,
            peer: self.peer,
            opened: self.opened,
            first_request: self.first_sent.get(),
            last_request: self.last_sent.get(),
            requests: u32::try_from(self.uses.get()).unwrap_or(u32::MAX),
            failures: self.failures.get(),
            ended,
            end,
        };
        sh.ended(&life);
    }
}
