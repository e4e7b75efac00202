//! Who is called what: every client learns each avatar's display name once,
//! when that avatar first comes into its view (or speaks to it), a few names
//! per tick so a newcomer in a crowd does not overflow its outbox.

use std::collections::{HashMap, HashSet};

use meridian_protocol::NetworkId;
use meridian_protocol::limits::MAX_NAME_BYTES;
use meridian_protocol::messages::{Presence, ServerMessage};

use crate::server::{ConnectionId, Server};

/// Names one client is sent per tick at most.
pub const MAX_PRESENCE_PER_TICK: usize = 32;

/// The names of a host's avatars and which client was told which.
#[derive(Debug, Default)]
pub struct NameBook {
    names: HashMap<NetworkId, String>,
    told: HashMap<ConnectionId, HashSet<NetworkId>>,
    /// Each client's view last tick, sorted.
    seen: HashMap<ConnectionId, Vec<NetworkId>>,
    /// Avatars that came into a client's view and may still need naming.
    queue: HashMap<ConnectionId, Vec<NetworkId>>,
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
        self.told.insert(connection, HashSet::new());
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
        while sent < MAX_PRESENCE_PER_TICK {
            let Some(avatar) = self.queue.get_mut(&connection).and_then(Vec::pop) else {
                break;
            };
            if self.tell(server, connection, avatar) {
                sent += 1;
            }
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
