//! Netcode configuration: timeouts, budgets and limits, with documented defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How connections and snapshots behave. Construct with `NetcodeConfig::default()`
/// and change fields; [`crate::Server::new`] calls [`NetcodeConfig::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetcodeConfig {
    /// A connection that sends no hello within this many milliseconds is closed.
    /// Default 5,000.
    pub hello_timeout_ms: u64,
    /// A connection heard from for this many milliseconds is closed with
    /// `IdleTimeout`. Default 10,000.
    pub idle_timeout_ms: u64,
    /// A client sends an acknowledgement at least this often even when no new
    /// snapshot arrived: the heartbeat. Default 1,000.
    pub heartbeat_interval_ms: u64,
    /// Snapshot bytes per client per second; a tick's share, capped by one datagram,
    /// is what the priority accumulator fills. Default 16,000.
    pub snapshot_bytes_per_second: u32,
    /// Datagrams a client may send per second (inputs and acks, two per tick at
    /// 20 Hz); more are dropped and counted. Default 120.
    pub datagrams_per_second: u32,
    /// Dropped datagrams or protocol violations a connection may accumulate
    /// (each forgiven after a second) before it is disconnected. Default 60.
    pub strikes_before_disconnect: u32,
    /// Most verified clients at once (a hello with a valid token was accepted);
    /// more are refused with `ServerFull`. Connections still waiting for their
    /// hello do not count: they are bounded by the two caps below. Default 5,000.
    pub max_clients: usize,
    /// Most connections at once that have not yet sent a verified hello (QUIC
    /// handshakes and silent connections, WebSockets included); a new one past
    /// it is refused at once and counted. Default 1,024.
    pub max_pending_connections: usize,
    /// Most such unverified connections at once from one IP address (an IPv6
    /// one by its /64, see `driver::admission::address_key`); a new one past
    /// it is refused at once and counted. Verified connections from an
    /// address are not capped here: each needs its own account's token, and
    /// players behind one NAT (or a bot swarm on one machine) share an address.
    /// Default 64, at most `max_pending_connections`.
    pub max_pending_per_address: usize,
    /// Once this many connections are pending, a new QUIC connection must
    /// first prove it can receive at its source address (a QUIC Retry: one more
    /// round trip, no state kept for it until it comes back), so spoofed source
    /// addresses cannot fill the pending slots. 0 asks every new connection; at
    /// or above `max_pending_connections` none is asked (they are refused
    /// first). Default 128.
    pub retry_at_pending: usize,
    /// Chat lines a client may send per ten seconds; more are dropped and counted.
    /// Default 10.
    pub chat_lines_per_10s: u32,
    /// Proximity chat reaches avatars within this many metres. Default 20.
    pub chat_hearing_radius: f32,
}

impl Default for NetcodeConfig {
    fn default() -> Self {
        Self {
            hello_timeout_ms: 5_000,
            idle_timeout_ms: 10_000,
            heartbeat_interval_ms: 1_000,
            snapshot_bytes_per_second: 16_000,
            datagrams_per_second: 120,
            strikes_before_disconnect: 60,
            max_clients: 5_000,
            max_pending_connections: 1_024,
            max_pending_per_address: 64,
            retry_at_pending: 128,
            chat_lines_per_10s: 10,
            chat_hearing_radius: 20.0,
        }
    }
}

/// A netcode setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NetcodeConfigError {
    /// The field must lie within the range given.
    #[error("`{field}` is out of range, it must be within {range}")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The allowed range, for humans.
        range: &'static str,
    },
}

fn check(field: &'static str, ok: bool, range: &'static str) -> Result<(), NetcodeConfigError> {
    if ok {
        Ok(())
    } else {
        Err(NetcodeConfigError::OutOfRange { field, range })
    }
}

impl NetcodeConfig {
    /// Checks every field; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), NetcodeConfigError> {
        check(
            "hello_timeout_ms",
            (100..=60_000).contains(&self.hello_timeout_ms),
            "100..=60000",
        )?;
        check(
            "idle_timeout_ms",
            (500..=600_000).contains(&self.idle_timeout_ms),
            "500..=600000",
        )?;
        check(
            "heartbeat_interval_ms",
            self.heartbeat_interval_ms >= 50
                && self.heartbeat_interval_ms * 2 <= self.idle_timeout_ms,
            "50..=idle_timeout_ms / 2",
        )?;
        check(
            "snapshot_bytes_per_second",
            (1_000..=10_000_000).contains(&self.snapshot_bytes_per_second),
            "1000..=10000000",
        )?;
        check(
            "datagrams_per_second",
            (10..=10_000).contains(&self.datagrams_per_second),
            "10..=10000",
        )?;
        check(
            "strikes_before_disconnect",
            (1..=100_000).contains(&self.strikes_before_disconnect),
            "1..=100000",
        )?;
        check(
            "max_clients",
            (1..=1_000_000).contains(&self.max_clients),
            "1..=1000000",
        )?;
        check(
            "max_pending_connections",
            (1..=100_000).contains(&self.max_pending_connections),
            "1..=100000",
        )?;
        check(
            "max_pending_per_address",
            (1..=self.max_pending_connections).contains(&self.max_pending_per_address),
            "1..=max_pending_connections",
        )?;
        check(
            "retry_at_pending",
            self.retry_at_pending <= 100_000,
            "0..=100000",
        )?;
        check(
            "chat_lines_per_10s",
            (1..=1_000).contains(&self.chat_lines_per_10s),
            "1..=1000",
        )?;
        check(
            "chat_hearing_radius",
            self.chat_hearing_radius > 0.0 && self.chat_hearing_radius <= 1_000.0,
            "0 < r <= 1000 metres",
        )?;
        Ok(())
    }

    pub(crate) fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// The heartbeat interval, for clients.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// A tick's snapshot budget in bytes at `tick_rate_hz`, before the datagram cap.
    pub(crate) fn snapshot_bytes_per_tick(&self, tick_rate_hz: u32) -> usize {
        (self.snapshot_bytes_per_second / tick_rate_hz.max(1)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(NetcodeConfig::default().validate(), Ok(()));
        let bad = NetcodeConfig {
            heartbeat_interval_ms: 9_000,
            ..NetcodeConfig::default()
        };
        assert_eq!(
            bad.validate(),
            Err(NetcodeConfigError::OutOfRange {
                field: "heartbeat_interval_ms",
                range: "50..=idle_timeout_ms / 2"
            })
        );
    }
}
