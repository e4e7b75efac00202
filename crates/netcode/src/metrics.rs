//! Counters the server keeps; the binary renders them for Prometheus.

use meridian_protocol::messages::{DisconnectReason, RefusalReason};

/// Every disconnect reason, in a fixed order for counters.
pub const DISCONNECT_REASONS: [DisconnectReason; 8] = [
    DisconnectReason::ClientQuit,
    DisconnectReason::ServerShutdown,
    DisconnectReason::IdleTimeout,
    DisconnectReason::Kicked,
    DisconnectReason::ProtocolViolation,
    DisconnectReason::RateLimited,
    DisconnectReason::SessionReplaced,
    DisconnectReason::Moved,
];

/// Every refusal reason, in a fixed order for counters.
pub const REFUSAL_REASONS: [RefusalReason; 8] = [
    RefusalReason::VersionMismatch,
    RefusalReason::BadToken,
    RefusalReason::TokenExpired,
    RefusalReason::WrongSpace,
    RefusalReason::Banned,
    RefusalReason::ServerFull,
    RefusalReason::TooManyConnections,
    RefusalReason::Draining,
];

/// A short snake_case label for a disconnect reason.
pub fn disconnect_label(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::ClientQuit => "client_quit",
        DisconnectReason::ServerShutdown => "server_shutdown",
        DisconnectReason::IdleTimeout => "idle_timeout",
        DisconnectReason::Kicked => "kicked",
        DisconnectReason::ProtocolViolation => "protocol_violation",
        DisconnectReason::RateLimited => "rate_limited",
        DisconnectReason::SessionReplaced => "session_replaced",
        DisconnectReason::Moved => "moved",
    }
}

/// A short snake_case label for a refusal reason.
pub fn refusal_label(reason: RefusalReason) -> &'static str {
    match reason {
        RefusalReason::VersionMismatch => "version_mismatch",
        RefusalReason::BadToken => "bad_token",
        RefusalReason::TokenExpired => "token_expired",
        RefusalReason::WrongSpace => "wrong_space",
        RefusalReason::Banned => "banned",
        RefusalReason::ServerFull => "server_full",
        RefusalReason::TooManyConnections => "too_many_connections",
        RefusalReason::Draining => "draining",
    }
}

/// The server's counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetcodeMetrics {
    /// Connections the transport reported.
    pub connections_opened: u64,
    /// Connections admitted now.
    pub clients_connected: u64,
    /// Hellos refused, by [`REFUSAL_REASONS`] index.
    pub refusals: [u64; REFUSAL_REASONS.len()],
    /// Connections ended, by [`DISCONNECT_REASONS`] index.
    pub disconnects: [u64; DISCONNECT_REASONS.len()],
    /// Connections the transport lost without a goodbye.
    pub transport_losses: u64,
    /// Datagrams that did not decode (malformed, oversized, wrong channel).
    pub malformed_datagrams: u64,
    /// Stream messages that did not decode, or came out of order.
    pub malformed_stream_messages: u64,
    /// Datagrams to clients dropped because their send queue was full.
    pub datagrams_dropped: u64,
    /// Datagrams dropped by the per-connection rate limit.
    pub datagrams_rate_limited: u64,
    /// Acknowledgements of ticks never sent or no longer held.
    pub bad_acks: u64,
    /// Chat lines dropped by the chat rate limit.
    pub chat_rate_limited: u64,
    /// Bytes received (datagrams and stream).
    pub bytes_in: u64,
    /// Bytes queued for sending (datagrams and stream).
    pub bytes_out: u64,
    /// Snapshots sent.
    pub snapshots_sent: u64,
    /// Snapshots skipped because their tick was no newer than the last one
    /// sent to that client (a handoff between zones a tick apart).
    pub stale_snapshots_skipped: u64,
    /// Of those, keyframes.
    pub keyframes_sent: u64,
    /// Entity changes that did not fit a client's byte budget and waited.
    pub changes_deferred_by_budget: u64,
    /// Entity changes written into snapshots.
    pub changes_sent: u64,
    /// Hellos handed to the server of another instance behind the same
    /// transport.
    pub hellos_redirected: u64,
}

impl NetcodeMetrics {
    pub(crate) fn count_refusal(&mut self, reason: RefusalReason) {
        if let Some(index) = REFUSAL_REASONS.iter().position(|r| *r == reason) {
            self.refusals[index] += 1;
        }
    }

    pub(crate) fn count_disconnect(&mut self, reason: DisconnectReason) {
        if let Some(index) = DISCONNECT_REASONS.iter().position(|r| *r == reason) {
            self.disconnects[index] += 1;
        }
    }

    /// How many connections ended for `reason`.
    pub fn disconnects_for(&self, reason: DisconnectReason) -> u64 {
        DISCONNECT_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |index| self.disconnects[index])
    }

    /// How many hellos were refused for `reason`.
    pub fn refusals_for(&self, reason: RefusalReason) -> u64 {
        REFUSAL_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |index| self.refusals[index])
    }
}
