//! The hello: a new connection's first message names the protocol version and
//! carries a realtime token. It is verified (signature, space, expiry, the
//! gateway it was minted for), the server's capacity is checked, the token is
//! spent (each works once), and the game side then admits or refuses the
//! client. Every refusal tells the client why and is counted by reason.

use std::time::Instant;

use meridian_protocol::PROTOCOL_VERSION;
use meridian_protocol::messages::{
    DisconnectReason, Hello, Refusal, RefusalReason, ServerMessage, Welcome,
};

use super::{ConnectionError, ConnectionId, Payload, Phase, Server, ServerEvent, Transmit};
use crate::token::{RealtimeClaims, TokenError};
use crate::used_tokens::ClaimError;

impl Server {
    /// Verifies a hello that arrived while the connection awaited one.
    pub(super) fn on_hello(&mut self, now: Instant, connection: ConnectionId, hello: &Hello) {
        if hello.protocol_version != PROTOCOL_VERSION {
            let detail = format!(
                "this server speaks protocol {PROTOCOL_VERSION}, the client {}",
                hello.protocol_version
            );
            self.refuse_now(connection, RefusalReason::VersionMismatch, &detail);
            return;
        }
        let unix = self.unix_seconds(now);
        match self.authority.verify(&hello.auth_token, self.space, unix) {
            Ok(claims) if claims.gateway != self.gateway => {
                let detail = TokenError::WrongGateway.to_string();
                self.refuse_now(connection, RefusalReason::BadToken, &detail);
            }
            Ok(_) if self.verified_count() >= self.config.max_clients => {
                // Only verified clients hold slots: silent connections
                // cannot fill the server (they are capped by the driver's
                // admission and time out).
                self.refuse_now(connection, RefusalReason::ServerFull, "the server is full");
            }
            // Spent last, so a hello refused for another reason
            // does not use its token up; refused here if spent before.
            Ok(claims) if !self.spend_token(connection, &claims, unix) => {}
            Ok(claims) => {
                if let Some(state) = self.connections.get_mut(&connection) {
                    state.phase = Phase::Verified;
                    self.verified += 1;
                }
                self.events
                    .push_back(ServerEvent::Joined { connection, claims });
            }
            Err(error) => {
                let reason = match error {
                    TokenError::Expired => RefusalReason::TokenExpired,
                    TokenError::WrongSpace => RefusalReason::WrongSpace,
                    _ => RefusalReason::BadToken,
                };
                self.refuse_now(connection, reason, &error.to_string());
            }
        }
    }

    /// Admits a verified connection with this welcome.
    pub fn admit(
        &mut self,
        connection: ConnectionId,
        welcome: Welcome,
    ) -> Result<(), ConnectionError> {
        let state = self
            .connections
            .get_mut(&connection)
            .ok_or(ConnectionError::Unknown)?;
        if state.phase != Phase::Verified {
            return Err(ConnectionError::WrongState);
        }
        state.phase = Phase::Admitted;
        self.metrics.clients_connected += 1;
        self.send_stream(connection, &ServerMessage::Welcome(welcome));
        Ok(())
    }

    /// Refuses a verified connection (the game side's decision: full, banned...).
    pub fn refuse(
        &mut self,
        connection: ConnectionId,
        reason: RefusalReason,
        detail: &str,
    ) -> Result<(), ConnectionError> {
        let state = self
            .connections
            .get(&connection)
            .ok_or(ConnectionError::Unknown)?;
        if state.phase != Phase::Verified {
            return Err(ConnectionError::WrongState);
        }
        self.refuse_now(connection, reason, detail);
        Ok(())
    }

    pub(super) fn refuse_now(
        &mut self,
        connection: ConnectionId,
        reason: RefusalReason,
        detail: &str,
    ) {
        self.metrics.count_refusal(reason);
        tracing::debug!(connection = connection.0, ?reason, detail, "refused");
        let mut detail = detail.to_owned();
        let max = meridian_protocol::limits::MAX_DETAIL_BYTES;
        while detail.len() > max {
            detail.pop();
        }
        self.send_stream(
            connection,
            &ServerMessage::Refusal(Refusal { reason, detail }),
        );
        self.remove(connection);
        self.transmits.push_back(Transmit {
            connection,
            payload: Payload::Close(DisconnectReason::ProtocolViolation),
        });
    }

    /// Records the token of `claims` as used; if it was used before (or too
    /// many unexpired tokens are recorded), refuses the connection and says
    /// `false`.
    fn spend_token(
        &mut self,
        connection: ConnectionId,
        claims: &RealtimeClaims,
        unix: u64,
    ) -> bool {
        match self.used_tokens.claim(&claims.jti, claims.exp, unix) {
            Ok(()) => true,
            Err(ClaimError::Replayed) => {
                let detail = TokenError::Replayed.to_string();
                self.refuse_now(connection, RefusalReason::BadToken, &detail);
                false
            }
            Err(ClaimError::Full) => {
                self.refuse_now(
                    connection,
                    RefusalReason::ServerFull,
                    "too many joins lately; try again shortly",
                );
                false
            }
        }
    }
}
