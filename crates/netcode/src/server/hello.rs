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

/// A connection whose hello named a space served elsewhere behind the same
/// transport; the driver hands it to that space's server with
/// [`Server::handle_redirected`].
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The connection.
    pub connection: ConnectionId,
    /// The space its token names.
    pub space: u32,
    /// Its hello, to be checked again there.
    pub hello: Hello,
}

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
        if self.redirected(connection, hello, unix) {
            return;
        }
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

    /// Hands the connection over if its token is good and names one of the
    /// spaces served elsewhere behind this transport (see
    /// [`Server::serve_elsewhere`]): it is forgotten here, silently, and a
    /// [`Redirect`] waits in [`Server::poll_redirect`]. Its token is not
    /// spent here: the server that takes it over checks everything again.
    fn redirected(&mut self, connection: ConnectionId, hello: &Hello, unix: u64) -> bool {
        if self.elsewhere.is_empty() {
            return false;
        }
        let Ok(claims) = self
            .authority
            .verify_claims::<RealtimeClaims>(&hello.auth_token)
        else {
            return false;
        };
        if claims.space == self.space
            || !self.elsewhere.contains(&claims.space)
            || claims.gateway != self.gateway
            || claims.exp <= unix
        {
            return false;
        }
        self.remove(connection);
        self.metrics.hellos_redirected += 1;
        self.redirects.push_back(Redirect {
            connection,
            space: claims.space,
            hello: hello.clone(),
        });
        true
    }

    /// Serves hellos for `space` elsewhere: from now on a connection whose
    /// token names it is handed over (see [`Server::poll_redirect`]).
    pub fn serve_elsewhere(&mut self, space: u32) {
        self.elsewhere.insert(space);
    }

    /// No longer hands over hellos for `space`: they are refused as for
    /// another space.
    pub fn stop_serving_elsewhere(&mut self, space: u32) {
        self.elsewhere.remove(&space);
    }

    /// The next connection handed over to the server of another space.
    pub fn poll_redirect(&mut self) -> Option<Redirect> {
        self.redirects.pop_front()
    }

    /// A connection handed over by the server that took its hello (see
    /// [`Server::poll_redirect`]): opened here and its hello checked as if it
    /// had just arrived.
    pub fn handle_redirected(&mut self, now: Instant, redirect: &Redirect) {
        self.handle_connected(now, redirect.connection);
        self.on_hello(now, redirect.connection, &redirect.hello);
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

#[cfg(test)]
mod tests {
    use meridian_protocol::framing::write_frame;
    use meridian_protocol::messages::ClientMessage;

    use super::*;
    use crate::config::NetcodeConfig;
    use crate::token::TokenAuthority;

    const START_UNIX: u64 = 1_800_000_000;
    const PLAZA: u32 = 1;
    const ROOM: u32 = 2;

    fn framed_hello(authority: &TokenAuthority, account: u64, space: u32) -> Vec<u8> {
        let claims = RealtimeClaims::new(account, format!("p{account}"), space, START_UNIX + 60);
        let message = ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            auth_token: authority.mint(&claims),
        });
        let mut framed = Vec::new();
        write_frame(&message.to_bytes().expect("encodes"), &mut framed).expect("frames");
        framed
    }

    fn server(authority: &TokenAuthority, space: u32, now: Instant) -> Server {
        Server::new(
            NetcodeConfig::default(),
            authority.clone(),
            space,
            now,
            START_UNIX,
        )
        .expect("valid")
    }

    #[test]
    fn a_hello_for_a_space_served_elsewhere_is_handed_over_and_admitted_there() {
        let authority = TokenAuthority::new(b"a test key that is long enough!!");
        let now = Instant::now();
        let mut plaza = server(&authority, PLAZA, now);
        let mut room = server(&authority, ROOM, now);
        // Before the room is announced its hellos are refused as for another space.
        plaza.handle_connected(now, ConnectionId(1));
        plaza.handle_stream(now, ConnectionId(1), &framed_hello(&authority, 7, ROOM));
        assert_eq!(plaza.metrics().refusals_for(RefusalReason::WrongSpace), 1);
        assert!(plaza.poll_redirect().is_none());

        plaza.serve_elsewhere(ROOM);
        plaza.handle_connected(now, ConnectionId(2));
        plaza.handle_stream(now, ConnectionId(2), &framed_hello(&authority, 8, ROOM));
        // A plaza token still joins the plaza.
        plaza.handle_connected(now, ConnectionId(3));
        plaza.handle_stream(now, ConnectionId(3), &framed_hello(&authority, 9, PLAZA));
        let redirect = plaza.poll_redirect().expect("handed over");
        assert_eq!(
            (redirect.connection, redirect.space),
            (ConnectionId(2), ROOM)
        );
        assert!(plaza.poll_redirect().is_none());
        assert!(!plaza.awaiting_hello(ConnectionId(2)), "forgotten here");
        assert_eq!(plaza.connection_count(), 1);
        assert_eq!(plaza.metrics().hellos_redirected, 1);
        // Nothing was said to the client on the plaza's side.
        assert!(
            std::iter::from_fn(|| plaza.poll_transmit())
                .all(|transmit| transmit.connection != ConnectionId(2))
        );

        room.handle_redirected(now, &redirect);
        match room.poll_event() {
            Some(ServerEvent::Joined { connection, claims }) => {
                assert_eq!((connection, claims.sub), (ConnectionId(2), 8));
            }
            other => panic!("the room takes the hello: {other:?}"),
        }

        // Announced no longer: refused again.
        plaza.stop_serving_elsewhere(ROOM);
        plaza.handle_connected(now, ConnectionId(4));
        plaza.handle_stream(now, ConnectionId(4), &framed_hello(&authority, 10, ROOM));
        assert!(plaza.poll_redirect().is_none());
        assert_eq!(plaza.metrics().refusals_for(RefusalReason::WrongSpace), 2);
    }

    #[test]
    fn a_forged_or_expired_token_for_another_space_is_refused_not_handed_over() {
        let authority = TokenAuthority::new(b"a test key that is long enough!!");
        let forger = TokenAuthority::new(b"another key, also long enough!!!");
        let now = Instant::now();
        let mut plaza = server(&authority, PLAZA, now);
        plaza.serve_elsewhere(ROOM);
        plaza.handle_connected(now, ConnectionId(1));
        plaza.handle_stream(now, ConnectionId(1), &framed_hello(&forger, 7, ROOM));
        let late = now + std::time::Duration::from_secs(120);
        plaza.handle_connected(late, ConnectionId(2));
        plaza.handle_stream(late, ConnectionId(2), &framed_hello(&authority, 8, ROOM));
        assert!(plaza.poll_redirect().is_none());
        assert_eq!(plaza.metrics().refusals_for(RefusalReason::BadToken), 1);
        assert_eq!(plaza.metrics().refusals_for(RefusalReason::TokenExpired), 1);
    }
}
