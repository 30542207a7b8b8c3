//! `--via endpoints`: new connections go straight to the addresses the caller feeds (a
//! Service's routable endpoints), balanced by the engine the way a gRPC client balances over a
//! headless Service, instead of to the target's name looked up in DNS.
//!
//! - Each new connection goes to the fed address carrying the fewest of this engine's open
//!   connections (ties taken in turn), so a pool spreads evenly over the endpoints and a
//!   connection replaced during a rollout lands on the emptiest pod, as gRPC's round robin
//!   (one subchannel per address) keeps every address busy.
//! - A connection whose address left the feed is retired: it takes no new request, finishes
//!   what it carries and is let go, as a gRPC client shuts a subchannel whose address its
//!   resolver dropped. Each client module asks [`Fed::retired`] before it uses a connection.
//! - When an endpoint joins, the busiest address's newest connections are retired one at a
//!   time until the pool would be even (within one), so connections move to new pods after a
//!   rollout instead of staying pinned where they landed. A pool smaller than the endpoint
//!   count leaves some endpoints without a connection (gRPC's round robin would open one to
//!   each): give `--connections` at least the replica count.
//!
//! The engine knows only addresses: which of them are routable (ready; serving-terminating
//! when none is ready) is the caller's business (`run::flow`), read off the timeline.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::rc::Rc;

use super::engine::AddressFeed;
use super::state::RunState;

/// What a dial finds when the feed is empty.
pub(super) const NO_ENDPOINT: &str = "no routable endpoint to send to";

/// The engine's side of a fed run: its open connections by address, and those to let go.
#[derive(Debug, Default)]
pub(super) struct Fed {
    /// Open connections (their numbers) by the address they went to.
    open: RefCell<HashMap<SocketAddr, Vec<u64>>>,
    /// Connections that take no new request: their address left the feed, or carries more
    /// than its share while another carries less.
    retired: RefCell<HashSet<u64>>,
}

impl Fed {
    /// Connections to `a` that stay (not retired).
    fn staying(&self, a: &SocketAddr) -> usize {
        let retired = self.retired.borrow();
        self.open.borrow().get(a).map_or(0, |ids| {
            ids.iter().filter(|id| !retired.contains(id)).count()
        })
    }

    /// The address for the next connection: the one of `addrs` with the fewest connections
    /// staying; among equals, the first at or after `turn` (taken in turn).
    pub(super) fn pick(&self, addrs: &[SocketAddr], turn: usize) -> Option<SocketAddr> {
        let n = addrs.len();
        (0..n)
            .map(|k| addrs[(turn + k) % n])
            .min_by_key(|a| self.staying(a))
    }

    /// Connection `id` to `peer` opened.
    pub(super) fn opened(&self, id: u64, peer: SocketAddr) {
        self.open.borrow_mut().entry(peer).or_default().push(id);
    }

    /// Connection `id` to `peer` was let go.
    pub(super) fn closed(&self, id: u64, peer: SocketAddr) {
        let mut open = self.open.borrow_mut();
        if let Some(ids) = open.get_mut(&peer) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                open.remove(&peer);
            }
        }
        self.retired.borrow_mut().remove(&id);
    }

    /// Connection `id` must take no new request.
    #[inline]
    pub(super) fn retired(&self, id: u64) -> bool {
        self.retired.borrow().contains(&id)
    }

    /// The feed changed to `addrs`: retires every connection to an address no longer in it,
    /// then, one at a time, the newest connection of the busiest address while it would still
    /// carry two more than the emptiest once the retired ones are dialled again (each to the
    /// emptiest): connections move to new endpoints without a storm of dials.
    pub(super) fn rebalance(&self, addrs: &[SocketAddr]) {
        if addrs.is_empty() {
            return;
        }
        {
            let open = self.open.borrow();
            let mut retired = self.retired.borrow_mut();
            for (a, ids) in open.iter() {
                if !addrs.contains(a) {
                    retired.extend(ids.iter().copied());
                }
            }
        }
        loop {
            let staying: Vec<usize> = addrs.iter().map(|a| self.staying(a)).collect();
            let total: usize = self.open.borrow().values().map(Vec::len).sum();
            let moving = total - staying.iter().sum::<usize>();
            let mut after = staying.clone();
            for _ in 0..moving {
                if let Some(m) = after.iter_mut().min() {
                    *m += 1;
                }
            }
            let (Some(&hi), Some(&lo)) = (after.iter().max(), after.iter().min()) else {
                return;
            };
            if hi <= lo + 1 {
                return;
            }
            // The busiest address's newest staying connection.
            let busiest = staying
                .iter()
                .enumerate()
                .max_by_key(|(_, n)| **n)
                .map(|(i, _)| addrs[i]);
            let newest = busiest.and_then(|a| {
                let retired = self.retired.borrow();
                self.open
                    .borrow()
                    .get(&a)?
                    .iter()
                    .rev()
                    .find(|id| !retired.contains(id))
                    .copied()
            });
            match newest {
                Some(id) => {
                    self.retired.borrow_mut().insert(id);
                }
                None => return,
            }
        }
    }
}

/// Follows the feed until its sender is gone: new connections go to the latest addresses
/// (none: dials fail until some come back), and connections are retired to follow them.
pub(super) async fn follow(sh: Rc<RunState>, mut feed: AddressFeed) {
    while feed.changed().await.is_ok() {
        let now = feed.borrow_and_update().clone();
        *sh.resolve_error.borrow_mut() = now.is_empty().then(|| NO_ENDPOINT.to_string());
        if let Some(fed) = sh.fed() {
            fed.rebalance(&now);
        }
        *sh.addrs.borrow_mut() = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn new_connections_go_to_the_address_with_the_fewest_open_and_take_turns_among_equals() {
        let fed = Fed::default();
        let addrs = [a(1), a(2), a(3)];
        let mut got = Vec::new();
        for id in 0..6 {
            let p = fed.pick(&addrs, id as usize).expect("an address");
            fed.opened(id, p);
            got.push(p.port());
        }
        assert_eq!(got, [1, 2, 3, 1, 2, 3]);
        // Both connections to :2 go away: the next two land there.
        fed.closed(1, a(2));
        fed.closed(4, a(2));
        assert_eq!(fed.pick(&addrs, 7), Some(a(2)));
        fed.opened(6, a(2));
        assert_eq!(fed.pick(&addrs, 0), Some(a(2)));
        assert_eq!(fed.pick(&[], 0), None);
    }

    #[test]
    fn connections_to_an_address_that_left_the_feed_are_retired_and_replaced_where_fewest_are() {
        let fed = Fed::default();
        for (id, p) in [(0, 1), (1, 1), (2, 2), (3, 2)] {
            fed.opened(id, a(p));
        }
        // :1 left the feed; :3 joined.
        let addrs = [a(2), a(3)];
        fed.rebalance(&addrs);
        assert!(fed.retired(0) && fed.retired(1));
        assert!(!fed.retired(2) && !fed.retired(3));
        // Their replacements go to :3 (:2 keeps its two).
        fed.closed(0, a(1));
        let first = fed.pick(&addrs, 0).expect("an address");
        fed.opened(4, first);
        fed.closed(1, a(1));
        let second = fed.pick(&addrs, 1).expect("an address");
        assert_eq!((first, second), (a(3), a(3)));
        assert!(!fed.retired(0), "a connection let go is forgotten");
    }

    #[test]
    fn a_new_endpoint_takes_connections_from_the_busiest_until_they_are_even() {
        let fed = Fed::default();
        // All three connections ended up on :1 (the first new pod ready).
        for id in 0..3 {
            fed.opened(id, a(1));
        }
        fed.rebalance(&[a(1)]);
        assert!(
            (0..3).all(|id| !fed.retired(id)),
            "one endpoint: nothing moves"
        );
        fed.rebalance(&[a(1), a(2)]);
        // 3 over 2 endpoints: one moves (2 + 1), the newest.
        assert_eq!((0..3).filter(|id| fed.retired(*id)).count(), 1);
        assert!(fed.retired(2));
        fed.closed(2, a(1));
        fed.opened(3, fed.pick(&[a(1), a(2)], 0).expect("an address"));
        fed.rebalance(&[a(1), a(2), a(3)]);
        // 2 + 1 + 0 → one more moves from :1 to :3.
        assert!(fed.retired(1));
        assert!(!fed.retired(0) && !fed.retired(3));
        assert_eq!(fed.pick(&[a(1), a(2), a(3)], 0), Some(a(3)));
        // Even already: nothing more moves.
        fed.closed(1, a(1));
        fed.opened(4, a(3));
        fed.rebalance(&[a(1), a(2), a(3)]);
        assert!((0..5).all(|id| !fed.retired(id)));
    }
}
