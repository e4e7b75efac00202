//! Who is called what: every client learns each avatar's display name once,
//! when that avatar first comes into its view (or speaks to it), a few names
//! per tick so a newcomer in a crowd does not overflow its outbox.

use meridian_protocol::NetworkId;
use meridian_protocol::limits::MAX_NAME_BYTES;
use meridian_protocol::messages::{Presence, ServerMessage};

use crate::server::{ConnectionId, Server};
use crate::small_keys::{SmallKeyMap, SmallKeySet};

/// Names one client is sent per tick at most.
pub const MAX_PRESENCE_PER_TICK: usize = 32;

/// The names of a host's avatars and which client was told which.
#[derive(Debug, Default)]
pub struct NameBook {
    names: SmallKeyMap<NetworkId, String>,
    told: SmallKeyMap<ConnectionId, SmallKeySet<NetworkId>>,
    /// Each client's view last tick, sorted.
    seen: SmallKeyMap<ConnectionId, Vec<NetworkId>>,
    /// Avatars that came into a client's view and may still need naming.
    queue: SmallKeyMap<ConnectionId, Vec<NetworkId>>,
}

impl NameBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// A member joined: its avatar is called `name` (made presentable), and
    /// its connection starts knowing no names.
    pub fn join(&mut self, connection: ConnectionId, avatar: NetworkId, name: &str, account: u64) {
        self.names.insert(avatar, display_name(name, account));
        self.told.insert(connection, SmallKeySet::default());
    }

    /// A member left: forget its name and what it was told.
    pub fn leave(&mut self, connection: ConnectionId, avatar: NetworkId) {
        self.names.remove(&avatar);
        self.told.remove(&connection);
        self.seen.remove(&connection);
        self.queue.remove(&connection);
        for told in self.told.values_mut() {
            told.remove(&avatar);
        }
    }

    /// An avatar whose client is connected to another shard is called `name`
    /// (already made presentable there).
    pub fn name_remote(&mut self, avatar: NetworkId, name: &str) {
        self.names.insert(avatar, name.to_owned());
    }

    /// An avatar left the world: forget its name.
    pub fn forget_avatar(&mut self, avatar: NetworkId) {
        self.names.remove(&avatar);
    }

    /// What an avatar is called, if known.
    pub fn name_of(&self, avatar: NetworkId) -> Option<&str> {
        self.names.get(&avatar).map(String::as_str)
    }

    /// A connection stops being a member here (its avatar carries on
    /// elsewhere): forget what it was told, keep the avatar's name.
    pub fn detach(&mut self, connection: ConnectionId) {
        self.told.remove(&connection);
        self.seen.remove(&connection);
        self.queue.remove(&connection);
    }

    /// After a client's view is computed (sorted): queue the names of avatars
    /// that just came into view and send up to [`MAX_PRESENCE_PER_TICK`].
    pub fn after_view(
        &mut self,
        server: &mut Server,
        connection: ConnectionId,
        visible: &[NetworkId],
    ) {
        let seen = self.seen.entry(connection).or_default();
        let queue = self.queue.entry(connection).or_default();
        // Most ticks nobody comes into view and nothing waits for a name:
        // nothing to do (the zone asks this of every member every tick).
        if queue.is_empty() && seen.as_slice() == visible {
            return;
        }
        let mut before = seen.iter().peekable();
        for avatar in visible {
            while before.next_if(|old| *old < avatar).is_some() {}
            if before.next_if(|old| *old == avatar).is_none() {
                queue.push(*avatar);
            }
        }
        seen.clear();
        seen.extend_from_slice(visible);
        let mut sent = 0;
        let mut unnamed = Vec::new();
        while sent < MAX_PRESENCE_PER_TICK {
            let Some(avatar) = self.queue.get_mut(&connection).and_then(Vec::pop) else {
                break;
            };
            if !self.names.contains_key(&avatar) {
                unnamed.push(avatar);
            } else if self.tell(server, connection, avatar) {
                sent += 1;
            }
        }
        // An avatar in view whose name has not arrived yet (its client is
        // connected to another shard, whose name notice can come after the
        // avatar's first frame) is asked about again next tick while it stays
        // in view, so the name is sent once it is known.
        if let (Some(queue), Some(seen)) =
            (self.queue.get_mut(&connection), self.seen.get(&connection))
        {
            queue.extend(
                unnamed
                    .into_iter()
                    .filter(|avatar| seen.binary_search(avatar).is_ok()),
            );
        }
    }

    /// Sends `connection` the name of `avatar` unless it was sent before;
    /// `true` if it sent one.
    pub fn tell(
        &mut self,
        server: &mut Server,
        connection: ConnectionId,
        avatar: NetworkId,
    ) -> bool {
        let (Some(told), Some(name)) = (self.told.get_mut(&connection), self.names.get(&avatar))
        else {
            return false;
        };
        if !told.insert(avatar) {
            return false;
        }
        let presence = ServerMessage::Presence(Presence {
            avatar,
            name: name.clone(),
        });
        // Only admitted members have a set of names.
        let _ = server.send_admitted(connection, &presence);
        true
    }
}

/// A name that fits a presence message: at most [`MAX_NAME_BYTES`] bytes, no
/// control characters, never blank.
pub fn display_name(name: &str, account: u64) -> String {
    let mut shown = String::new();
    for character in name.chars().filter(|c| !c.is_control()) {
        if shown.len() + character.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        shown.push(character);
    }
    if shown.trim().is_empty() {
        format!("player {account}")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use meridian_protocol::PROTOCOL_VERSION;
    use meridian_protocol::framing::write_frame;
    use meridian_protocol::messages::{ClientMessage, Hello, Welcome};

    use super::*;
    use crate::config::NetcodeConfig;
    use crate::server::{Payload, ServerEvent};
    use crate::token::{RealtimeClaims, TokenAuthority};

    /// A server with one admitted client on connection 1.
    fn server_with_a_client() -> Server {
        let authority = TokenAuthority::new(b"a test key that is long enough!!");
        let now = Instant::now();
        let mut server =
            Server::new(NetcodeConfig::default(), authority.clone(), 1, now, 1_000).expect("valid");
        let token = authority.mint(&RealtimeClaims::new(7, "ada".into(), 1, 2_000));
        let hello = ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            auth_token: token,
        });
        let mut framed = Vec::new();
        write_frame(&hello.to_bytes().expect("encodes"), &mut framed).expect("frames");
        server.handle_connected(now, ConnectionId(1));
        server.handle_stream(now, ConnectionId(1), &framed);
        assert!(matches!(
            server.poll_event(),
            Some(ServerEvent::Joined { .. })
        ));
        let welcome = Welcome {
            protocol_version: PROTOCOL_VERSION,
            avatar_id: NetworkId(1),
            zone_id: 1,
            tick_rate_hz: 20,
            tick: 0,
            zone_width: 100.0,
            zone_height: 100.0,
            limits: crate::session_limits(
                &meridian_sim::SimConfig::default(),
                &NetcodeConfig::default(),
            ),
        };
        server.admit(ConnectionId(1), welcome).expect("admitted");
        while server.poll_transmit().is_some() {}
        server
    }

    fn streams_sent(server: &mut Server) -> usize {
        std::iter::from_fn(|| server.poll_transmit())
            .filter(|transmit| matches!(transmit.payload, Payload::Stream(_)))
            .count()
    }

    #[test]
    fn a_name_that_arrives_after_the_avatar_is_told_while_it_is_in_view() {
        let mut server = server_with_a_client();
        let mut book = NameBook::new();
        book.join(ConnectionId(1), NetworkId(1), "ada", 7);
        let remote = NetworkId(40);
        // The avatar comes into view before its gateway's name notice.
        book.after_view(&mut server, ConnectionId(1), &[NetworkId(1), remote]);
        let first = streams_sent(&mut server);
        assert_eq!(first, 1, "only ada's own name is known yet");
        book.after_view(&mut server, ConnectionId(1), &[NetworkId(1), remote]);
        assert_eq!(streams_sent(&mut server), 0, "nothing new to tell");
        // The notice arrives: told at the next view, once.
        book.name_remote(remote, "walker-a");
        book.after_view(&mut server, ConnectionId(1), &[NetworkId(1), remote]);
        assert_eq!(streams_sent(&mut server), 1, "the late name is told");
        book.after_view(&mut server, ConnectionId(1), &[NetworkId(1), remote]);
        assert_eq!(streams_sent(&mut server), 0, "and only once");
        // An unnamed avatar that left view is not kept waiting for.
        let passer_by = NetworkId(41);
        book.after_view(
            &mut server,
            ConnectionId(1),
            &[NetworkId(1), remote, passer_by],
        );
        book.after_view(&mut server, ConnectionId(1), &[NetworkId(1), remote]);
        book.name_remote(passer_by, "passer-by");
        book.after_view(&mut server, ConnectionId(1), &[NetworkId(1), remote]);
        assert_eq!(streams_sent(&mut server), 0, "out of view: not told");
    }
}
