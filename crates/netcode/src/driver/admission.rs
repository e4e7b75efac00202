//! Who may open a connection: the caps on connections that have not yet sent a
//! verified hello, shared by every transport that feeds one zone thread (QUIC
//! and WebTransport here, the WebSocket fallback in `meridian serve`).
//!
//! A transport asks [`Admission::admit`] before it spends anything on a new
//! connection (a QUIC handshake, a WebSocket task) and holds the returned
//! [`AdmissionTicket`] for the connection's life. The connection is *pending*
//! from then until the zone thread reports its hello verified
//! ([`Admission::verified`]) or the ticket is dropped (the connection ended,
//! e.g. at the hello timeout). Pending connections are capped in total and per
//! client address ([`address_key`]: IPv4 alone, IPv6 by /64;
//! [`NetcodeConfig::max_pending_connections`],
//! [`NetcodeConfig::max_pending_per_address`]); past a cap a new connection is
//! refused at once, and counted. Verified clients are counted by the server
//! against [`NetcodeConfig::max_clients`], so silent connections never take a
//! player's slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::server::DriverCounters;
use crate::config::NetcodeConfig;
use crate::server::ConnectionId;

/// Why a new connection was refused before its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionRefusal {
    /// [`NetcodeConfig::max_pending_connections`] connections are pending.
    #[error("too many connections are waiting for their hello")]
    TooManyPending,
    /// [`NetcodeConfig::max_pending_per_address`] connections from this
    /// address are pending.
    #[error("too many connections from this address are waiting for their hello")]
    TooManyFromAddress,
}

impl AdmissionRefusal {
    /// A short snake_case label, for metrics and close reasons.
    pub fn label(self) -> &'static str {
        match self {
            Self::TooManyPending => "too_many_pending",
            Self::TooManyFromAddress => "too_many_from_address",
        }
    }
}

#[derive(Debug, Default)]
struct Pending {
    /// Each pending connection and its address.
    connections: HashMap<ConnectionId, IpAddr>,
    /// Pending connections per address (no entry for zero).
    per_address: HashMap<IpAddr, usize>,
}

impl Pending {
    /// Forgets a pending connection; `false` if it was not pending.
    fn release(&mut self, connection: ConnectionId) -> bool {
        let Some(address) = self.connections.remove(&connection) else {
            return false;
        };
        if let Some(count) = self.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
        true
    }
}

/// The pending-connection caps of one zone thread's transports.
#[derive(Debug)]
pub struct Admission {
    max_pending: usize,
    max_per_address: usize,
    retry_at: usize,
    pending: Mutex<Pending>,
    counters: Arc<DriverCounters>,
}

impl Admission {
    /// Caps from `config` (validated by the caller, as [`crate::Server::new`]
    /// does); refusals, retries and the pending count go to `counters`.
    pub fn new(config: &NetcodeConfig, counters: Arc<DriverCounters>) -> Self {
        Self {
            max_pending: config.max_pending_connections,
            max_per_address: config.max_pending_per_address,
            retry_at: config.retry_at_pending,
            pending: Mutex::new(Pending::default()),
            counters,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // The critical sections only move counts; a panic inside one cannot
        // leave them half-done, so a poisoned lock is still consistent.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections pending now.
    pub fn pending(&self) -> usize {
        self.lock().connections.len()
    }

    /// Whether a new QUIC connection whose address is not validated yet should
    /// be answered with a Retry (the pending count reached
    /// [`NetcodeConfig::retry_at_pending`]).
    pub fn wants_retry(&self) -> bool {
        self.pending() >= self.retry_at
    }

    /// Counts a Retry sent.
    pub fn retried(&self) {
        self.counters.quic_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Admits `connection` from `address` as pending, or refuses it (counted).
    pub fn admit(
        self: &Arc<Self>,
        connection: ConnectionId,
        address: IpAddr,
    ) -> Result<AdmissionTicket, AdmissionRefusal> {
        let address = address_key(address);
        let mut pending = self.lock();
        let refusal = if pending.connections.len() >= self.max_pending {
            Some(AdmissionRefusal::TooManyPending)
        } else if pending.per_address.get(&address).copied().unwrap_or(0) >= self.max_per_address {
            Some(AdmissionRefusal::TooManyFromAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            drop(pending);
            let counter = match refusal {
                AdmissionRefusal::TooManyPending => &self.counters.refused_too_many_pending,
                AdmissionRefusal::TooManyFromAddress => {
                    &self.counters.refused_too_many_from_address
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return Err(refusal);
        }
        pending.connections.insert(connection, address);
        *pending.per_address.entry(address).or_insert(0) += 1;
        self.counters
            .pending_connections
            .store(pending.connections.len() as u64, Ordering::Relaxed);
        Ok(AdmissionTicket {
            admission: self.clone(),
            connection,
        })
    }

    /// The zone thread verified `connection`'s hello (or closed it): it is no
    /// longer pending. Nothing happens if it was not.
    pub fn verified(&self, connection: ConnectionId) {
        self.release(connection);
    }

    fn release(&self, connection: ConnectionId) {
        let mut pending = self.lock();
        if pending.release(connection) {
            self.counters
                .pending_connections
                .store(pending.connections.len() as u64, Ordering::Relaxed);
        }
    }
}

/// The key under which a client address is counted by every per-address limit
/// (pending connections here; logins and HTTP connections in `meridian serve`):
/// IPv4 as is (also when seen through an IPv6 socket), IPv6 by its /64 (one
/// host usually owns a whole /64, so single addresses would be free to rotate).
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// Held by a transport for one connection's life; dropping it ends the
/// connection's pending state if its hello was never verified.
#[derive(Debug)]
pub struct AdmissionTicket {
    admission: Arc<Admission>,
    connection: ConnectionId,
}

impl AdmissionTicket {
    /// The connection this ticket admitted.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }
}

impl Drop for AdmissionTicket {
    fn drop(&mut self) {
        self.admission.release(self.connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(total: usize, per_address: usize, retry_at: usize) -> Arc<Admission> {
        let config = NetcodeConfig {
            max_pending_connections: total,
            max_pending_per_address: per_address,
            retry_at_pending: retry_at,
            ..NetcodeConfig::default()
        };
        Arc::new(Admission::new(&config, Arc::default()))
    }

    fn address(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn pending_connections_are_capped_per_address_and_in_total() {
        let admission = admission(3, 2, 2);
        let first = admission.admit(ConnectionId(1), address(1)).expect("room");
        let _second = admission.admit(ConnectionId(2), address(1)).expect("room");
        assert_eq!(
            admission.admit(ConnectionId(3), address(1)).err(),
            Some(AdmissionRefusal::TooManyFromAddress)
        );
        assert!(admission.wants_retry(), "two pending reach the retry mark");
        let _third = admission.admit(ConnectionId(4), address(2)).expect("room");
        assert_eq!(
            admission.admit(ConnectionId(5), address(3)).err(),
            Some(AdmissionRefusal::TooManyPending)
        );
        // A verified hello frees the slot; its ticket's drop changes nothing.
        admission.verified(ConnectionId(1));
        drop(first);
        assert_eq!(admission.pending(), 2);
        let _fourth = admission
            .admit(ConnectionId(6), address(1))
            .expect("room again");
        let counters = &admission.counters;
        assert_eq!(counters.refused_too_many_pending.load(Ordering::Relaxed), 1);
        assert_eq!(
            counters
                .refused_too_many_from_address
                .load(Ordering::Relaxed),
            1
        );
        assert_eq!(counters.pending_connections.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_dropped_ticket_frees_its_address() {
        let admission = admission(4, 1, 4);
        let ticket = admission.admit(ConnectionId(1), address(1)).expect("room");
        assert!(admission.admit(ConnectionId(2), address(1)).is_err());
        drop(ticket);
        assert!(admission.admit(ConnectionId(3), address(1)).is_ok());
        let mapped = IpAddr::from(std::net::Ipv4Addr::from([10, 0, 0, 1]).to_ipv6_mapped());
        assert_eq!(address_key(mapped), address(1));
    }

    #[test]
    fn addresses_in_one_ipv6_64_share_the_per_address_cap() {
        let admission = admission(8, 2, 8);
        let host = |last: u16| IpAddr::from([0x2001, 0xdb8, 7, 1, 0, 0, 0, last]);
        let _first = admission.admit(ConnectionId(1), host(1)).expect("room");
        let _second = admission.admit(ConnectionId(2), host(2)).expect("room");
        assert_eq!(
            admission.admit(ConnectionId(3), host(3)).err(),
            Some(AdmissionRefusal::TooManyFromAddress),
            "a third address of the same /64 is the same client"
        );
        let neighbour = IpAddr::from([0x2001, 0xdb8, 7, 2, 0, 0, 0, 1]);
        assert!(
            admission.admit(ConnectionId(4), neighbour).is_ok(),
            "another /64 is not"
        );
    }
}
