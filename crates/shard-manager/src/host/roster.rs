//! Who is in a host: its members and the indexes that find them, kept in step
//! by one owner.
//!
//! A member is found by its connection, its account, its avatar's network id
//! and, while its avatar is simulated here, by the zone's client id. Every
//! change that touches an index goes through a method of [`Roster`], so the
//! indexes cannot drift from the members: the host's other parts read a
//! member as a copy and change only what no index covers (its zone, what it
//! has in flight, what a gateway last heard of it).

use std::collections::HashMap;

use meridian_protocol::NetworkId;
use meridian_sim::{ClientId, Vec2};

use meridian_netcode::server::ConnectionId;
use meridian_netcode::small_keys::SmallKeyMap;

/// One admitted client of the host, or one avatar it simulates for another
/// shard's client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) client: ClientId,
    pub(crate) avatar: NetworkId,
    pub(crate) account: u64,
    pub(crate) appearance: u32,
    pub(crate) inventory_in_flight: u8,
    /// The zone (index) that owns its avatar.
    pub(crate) zone: usize,
    /// Where its avatar is simulated and its client connected.
    pub(crate) at: At,
}

/// Where a member's avatar is simulated, and where its client is connected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum At {
    /// Here, for a client connected here.
    Here,
    /// Here, for a client connected to this other shard (its gateway).
    ForGateway(u32),
    /// By another shard, for a client connected here.
    Away(Away),
}

/// A client connected here whose avatar another shard simulates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Away {
    /// The shard that simulates it, as far as this gateway knows.
    pub(crate) shard: Option<u32>,
    /// Where it stood in the last frame.
    pub(crate) position: Vec2,
    /// Its facing then.
    pub(crate) heading: f32,
    /// The host tick of the last frame (or of the last attach asked).
    pub(crate) heard: u64,
}

/// The members of a host, by connection, account, avatar and zone client.
#[derive(Debug)]
pub(crate) struct Roster {
    members: SmallKeyMap<ConnectionId, Member>,
    by_account: HashMap<u64, ConnectionId>,
    by_avatar: SmallKeyMap<NetworkId, ConnectionId>,
    /// Only members whose avatar is simulated here (not [`At::Away`]).
    by_client: HashMap<ClientId, ConnectionId>,
    next_client: u64,
    /// Per zone: the connections of members simulated here, refilled by
    /// [`Self::group_by_zone`].
    by_zone: Vec<Vec<ConnectionId>>,
}

impl Roster {
    /// An empty roster for a host of `zones` zones.
    pub(crate) fn new(zones: usize) -> Self {
        Self {
            members: SmallKeyMap::default(),
            by_account: HashMap::new(),
            by_avatar: SmallKeyMap::default(),
            by_client: HashMap::new(),
            next_client: 1,
            by_zone: vec![Vec::new(); zones],
        }
    }

    /// A zone client id never handed out before by this host.
    pub(crate) fn fresh_client(&mut self) -> ClientId {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        client
    }

    /// Adds `member` behind `connection`, indexed by account, avatar and
    /// (unless it is simulated elsewhere) client.
    pub(crate) fn insert(&mut self, connection: ConnectionId, member: Member) {
        if let Some(old) = self.members.insert(connection, member) {
            self.unindex(connection, &old);
        }
        self.by_account.insert(member.account, connection);
        self.by_avatar.insert(member.avatar, connection);
        if !matches!(member.at, At::Away(_)) {
            self.by_client.insert(member.client, connection);
        }
    }

    /// Removes the member behind `connection` from every index.
    pub(crate) fn remove(&mut self, connection: ConnectionId) -> Option<Member> {
        let member = self.members.remove(&connection)?;
        self.unindex(connection, &member);
        Some(member)
    }

    /// Drops the index entries that lead to `connection` (a newer session
    /// of the same account keeps its own).
    fn unindex(&mut self, connection: ConnectionId, member: &Member) {
        if self.by_account.get(&member.account) == Some(&connection) {
            self.by_account.remove(&member.account);
        }
        if self.by_avatar.get(&member.avatar) == Some(&connection) {
            self.by_avatar.remove(&member.avatar);
        }
        if self.by_client.get(&member.client) == Some(&connection) {
            self.by_client.remove(&member.client);
        }
    }

    /// The member behind `connection`.
    pub(crate) fn get(&self, connection: &ConnectionId) -> Option<&Member> {
        self.members.get(connection)
    }

    /// The connection of `account`'s member.
    pub(crate) fn connection_of(&self, account: u64) -> Option<ConnectionId> {
        self.by_account.get(&account).copied()
    }

    /// `account`'s member and its connection.
    pub(crate) fn by_account(&self, account: u64) -> Option<(ConnectionId, &Member)> {
        let connection = self.connection_of(account)?;
        Some((connection, self.members.get(&connection)?))
    }

    /// The connection whose member's avatar is `avatar`.
    pub(crate) fn connection_of_avatar(&self, avatar: NetworkId) -> Option<ConnectionId> {
        self.by_avatar.get(&avatar).copied()
    }

    /// The connection whose avatar is simulated here as zone client `client`.
    pub(crate) fn connection_of_client(&self, client: ClientId) -> Option<ConnectionId> {
        self.by_client.get(&client).copied()
    }

    /// Members.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// Every member with its connection, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnectionId, &Member)> {
        self.members
            .iter()
            .map(|(connection, member)| (*connection, member))
    }

    /// Every member, in no order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// `connection`'s avatar is simulated here now, in `zone`, as `client`.
    pub(crate) fn simulate_here(
        &mut self,
        connection: ConnectionId,
        client: ClientId,
        zone: usize,
    ) {
        let Some(member) = self.members.get_mut(&connection) else {
            return;
        };
        if !matches!(member.at, At::Away(_)) {
            self.by_client.remove(&member.client);
        }
        member.client = client;
        member.zone = zone;
        member.at = At::Here;
        self.by_client.insert(client, connection);
    }

    /// `connection`'s avatar is no longer simulated here: its client id is
    /// forgotten and, given `then`, its client waits here for the avatar
    /// another shard simulates in that zone.
    pub(crate) fn stop_simulating(
        &mut self,
        connection: ConnectionId,
        then: Option<(usize, Away)>,
    ) {
        let Some(member) = self.members.get_mut(&connection) else {
            return;
        };
        self.by_client.remove(&member.client);
        if let Some((zone, away)) = then {
            member.zone = zone;
            member.at = At::Away(away);
        }
    }

    /// The avatar simulated here for a client of another shard is now for
    /// the client of `gateway`.
    pub(crate) fn serve_for(&mut self, connection: ConnectionId, gateway: u32) {
        if let Some(member) = self.members.get_mut(&connection)
            && let At::ForGateway(_) = member.at
        {
            member.at = At::ForGateway(gateway);
        }
    }

    /// What this gateway knows of the avatar another shard simulates for
    /// `connection`, to update it; `None` unless it is away.
    pub(crate) fn away_mut(&mut self, connection: ConnectionId) -> Option<&mut Away> {
        match &mut self.members.get_mut(&connection)?.at {
            At::Away(away) => Some(away),
            _ => None,
        }
    }

    /// `connection`'s avatar is owned by `zone` now.
    pub(crate) fn set_zone(&mut self, connection: ConnectionId, zone: usize) {
        if let Some(member) = self.members.get_mut(&connection) {
            member.zone = zone;
        }
    }

    /// `connection`'s inventory changes waiting for the database, to count
    /// one in or out.
    pub(crate) fn inventory_in_flight_mut(&mut self, connection: ConnectionId) -> Option<&mut u8> {
        Some(&mut self.members.get_mut(&connection)?.inventory_in_flight)
    }

    /// Shard `shard` is gone: no member's avatar is thought to be there.
    pub(crate) fn forget_shard(&mut self, shard: u32) {
        for member in self.members.values_mut() {
            if let At::Away(away) = &mut member.at
                && away.shard == Some(shard)
            {
                away.shard = None;
            }
        }
    }

    /// Sorts the members simulated here by zone, in one pass.
    pub(crate) fn group_by_zone(&mut self) {
        for members in &mut self.by_zone {
            members.clear();
        }
        for (&connection, member) in &self.members {
            if !matches!(member.at, At::Away(_)) {
                self.by_zone[member.zone].push(connection);
            }
        }
    }

    /// The connections of `zone`'s members at the last
    /// [`Self::group_by_zone`].
    pub(crate) fn in_zone(&self, zone: usize) -> &[ConnectionId] {
        &self.by_zone[zone]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(roster: &mut Roster, account: u64, at: At) -> Member {
        Member {
            client: roster.fresh_client(),
            avatar: NetworkId(account as u32 + 100),
            account,
            appearance: 0,
            inventory_in_flight: 0,
            zone: 0,
            at,
        }
    }

    fn away(shard: u32) -> Away {
        Away {
            shard: Some(shard),
            position: Vec2::new(1.0, 2.0),
            heading: 0.5,
            heard: 7,
        }
    }

    #[test]
    fn every_index_finds_a_member_until_it_is_removed() {
        let mut roster = Roster::new(1);
        let here = member(&mut roster, 1, At::Here);
        roster.insert(ConnectionId(10), here);
        assert_eq!(roster.connection_of(1), Some(ConnectionId(10)));
        assert_eq!(
            roster.connection_of_avatar(here.avatar),
            Some(ConnectionId(10))
        );
        assert_eq!(
            roster.connection_of_client(here.client),
            Some(ConnectionId(10))
        );
        assert_eq!(roster.remove(ConnectionId(10)).map(|m| m.account), Some(1));
        assert_eq!(roster.connection_of(1), None);
        assert_eq!(roster.connection_of_avatar(here.avatar), None);
        assert_eq!(roster.connection_of_client(here.client), None);
        assert_eq!(roster.len(), 0);
    }

    #[test]
    fn a_member_simulated_elsewhere_has_no_client_here() {
        let mut roster = Roster::new(2);
        let gone = member(&mut roster, 2, At::Away(away(3)));
        roster.insert(ConnectionId(20), gone);
        assert_eq!(roster.connection_of_client(gone.client), None);

        let client = roster.fresh_client();
        roster.simulate_here(ConnectionId(20), client, 1);
        assert_eq!(roster.connection_of_client(client), Some(ConnectionId(20)));
        let now = roster.get(&ConnectionId(20)).copied().unwrap();
        assert_eq!((now.at, now.zone), (At::Here, 1));

        roster.stop_simulating(ConnectionId(20), Some((0, away(4))));
        assert_eq!(roster.connection_of_client(client), None);
        assert_eq!(
            roster.away_mut(ConnectionId(20)).map(|a| a.shard),
            Some(Some(4))
        );
        // Still found by account and avatar: its client is connected here.
        assert_eq!(roster.connection_of(2), Some(ConnectionId(20)));
    }

    #[test]
    fn a_replaced_member_leaves_no_stale_index() {
        let mut roster = Roster::new(1);
        let first = member(&mut roster, 5, At::Here);
        roster.insert(ConnectionId(50), first);
        let second = Member {
            account: 6,
            ..member(&mut roster, 6, At::Here)
        };
        roster.insert(ConnectionId(50), second);
        assert_eq!(roster.connection_of(5), None);
        assert_eq!(roster.connection_of_client(first.client), None);
        assert_eq!(roster.connection_of(6), Some(ConnectionId(50)));
    }

    #[test]
    fn a_lost_shard_is_forgotten_by_its_away_members_only() {
        let mut roster = Roster::new(1);
        let to_three = member(&mut roster, 7, At::Away(away(3)));
        let to_four = member(&mut roster, 8, At::Away(away(4)));
        roster.insert(ConnectionId(70), to_three);
        roster.insert(ConnectionId(80), to_four);
        roster.forget_shard(3);
        assert_eq!(
            roster.away_mut(ConnectionId(70)).map(|a| a.shard),
            Some(None)
        );
        assert_eq!(
            roster.away_mut(ConnectionId(80)).map(|a| a.shard),
            Some(Some(4))
        );
    }

    #[test]
    fn zones_group_the_members_simulated_here() {
        let mut roster = Roster::new(2);
        let a = member(&mut roster, 1, At::Here);
        let b = Member {
            zone: 1,
            ..member(&mut roster, 2, At::ForGateway(9))
        };
        let c = member(&mut roster, 3, At::Away(away(2)));
        roster.insert(ConnectionId(1), a);
        roster.insert(ConnectionId(2), b);
        roster.insert(ConnectionId(3), c);
        roster.group_by_zone();
        assert_eq!(roster.in_zone(0), &[ConnectionId(1)]);
        assert_eq!(roster.in_zone(1), &[ConnectionId(2)]);
    }
}
