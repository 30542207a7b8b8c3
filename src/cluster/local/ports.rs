//! Loopback ports for replicas: free, below the kernel's ephemeral range, and never handed out
//! twice by this process.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::cluster::ClusterError;

/// Ports handed to replicas by this process (several runtimes may live in one process, as in
/// tests): a port is never handed out twice, even before its replica has bound it.
static ALLOCATED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free loopback port below the ephemeral range, so no outgoing connection of the load
/// engine can take it between this check and the replica's bind.
pub(super) fn allocate_port() -> Result<u16, ClusterError> {
    let low = ephemeral_low();
    let lo = low.saturating_sub(12_000).max(1024);
    let span = u32::from(low.saturating_sub(lo)).max(1);
    let mut taken = ALLOCATED.lock().unwrap_or_else(|p| p.into_inner());
    // Start somewhere different in every process, so concurrent zerodrops rarely probe the same
    // ports in the same order.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id().wrapping_mul(7919) ^ nanos;
    for k in 0..span {
        let port = lo + ((seed.wrapping_add(k)) % span) as u16;
        if taken.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            taken.insert(port);
            return Ok(port);
        }
    }
    Err(ClusterError::CouldNotRun(format!(
        "no free port between {lo} and {low} for a replica"
    )))
}

/// Reads the low end of the kernel's ephemeral port range (32768 when unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32768)
}
