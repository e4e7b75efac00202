//! What a transport driver tells about its connections, as one trait: the
//! [`Server`] of a zone takes them itself, a router in front of several
//! servers (one per instance behind one transport) passes each on.

use std::time::Instant;

use super::{ConnectionId, Server};

/// What a transport driver tells about its connections: a [`Server`], or a
/// router in front of several (one per instance behind one transport).
pub trait ConnectionEvents {
    /// The transport accepted a connection.
    fn handle_connected(&mut self, now: Instant, connection: ConnectionId);
    /// Bytes arrived on the connection's reliable stream.
    fn handle_stream(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]);
    /// A datagram arrived on the connection.
    fn handle_datagram(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]);
    /// A datagram arrived on the connection, handed over owned: a router
    /// passes it on to another thread without copying it. By default it is
    /// [`Self::handle_datagram`].
    #[cfg(feature = "quic")]
    fn handle_datagram_bytes(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        bytes: bytes::Bytes,
    ) {
        self.handle_datagram(now, connection, &bytes);
    }
    /// The transport lost the connection.
    fn handle_closed(&mut self, now: Instant, connection: ConnectionId);
    /// Is the connection still waiting for its hello (pending for the
    /// transport's admission caps)?
    fn awaiting_hello(&self, connection: ConnectionId) -> bool;
}

impl ConnectionEvents for Server {
    fn handle_connected(&mut self, now: Instant, connection: ConnectionId) {
        Server::handle_connected(self, now, connection);
    }
    fn handle_stream(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        Server::handle_stream(self, now, connection, bytes);
    }
    fn handle_datagram(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        Server::handle_datagram(self, now, connection, bytes);
    }
    fn handle_closed(&mut self, now: Instant, connection: ConnectionId) {
        Server::handle_closed(self, now, connection);
    }
    fn awaiting_hello(&self, connection: ConnectionId) -> bool {
        Server::awaiting_hello(self, connection)
    }
}
