//! A cluster of shards in one process, stepped: each shard is a [`Shard`]
//! driven through its `handle_*` / `poll_*` surface, the shard link is a queue per
//! shard (a message sent in one tick is handled at the next), the ledger is
//! the model, and players are real netcode clients over perfect in-memory
//! links to the shard they joined through (their gateway). Nothing here reads
//! a clock: the time is 50 ms a tick, and the wall clock goes with it.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use meridian_netcode::{
    Client, ClientEvent, ClientTransmit, ConnectionId, Payload, TokenAuthority,
};
use meridian_protocol::NetworkId;
use meridian_protocol::messages::MovementIntent;
use meridian_shard_manager::cluster::ClusterBorders;
use meridian_shard_manager::peers::{first_avatar_id, shard_borders};
use meridian_shard_manager::{
    LeaseTiming, LedgerReply, LinkMessage, MemoryLedger, Peers, Shard, ZoneHost,
};
use meridian_sim::Vec2;

use crate::common::{self, UNIX};

/// Milliseconds a tick.
pub(crate) const TICK_MS: u64 = 50;

/// One shard, and what the link brought it.
pub(crate) struct ShardNode {
    pub(crate) shard: Shard,
    inbox: VecDeque<(u32, LinkMessage)>,
    /// The shards it has a link to.
    linked: BTreeSet<u32>,
}

/// A player: its client, the shard it joined through, what it saw.
pub(crate) struct Player {
    pub(crate) account: u64,
    pub(crate) gateway: u32,
    pub(crate) client: Client,
    /// Per snapshot: its tick and the ids in view.
    pub(crate) seen: Vec<(u32, Vec<NetworkId>)>,
    /// Per snapshot: its own position (quantized), when it saw itself.
    pub(crate) own: Vec<(u32, u32)>,
}

/// The shards (index `i` is shard `i + 1`; `None` once stopped), the ledger and
/// the players.
pub(crate) struct Cluster {
    pub(crate) now: Instant,
    /// The wall clock and the ledger's clock, Unix milliseconds.
    pub(crate) ms: u64,
    pub(crate) shards: Vec<Option<ShardNode>>,
    pub(crate) ledger: MemoryLedger,
    pub(crate) players: Vec<Player>,
    pub(crate) authority: TokenAuthority,
    /// Link messages carried.
    pub(crate) carried: u64,
}

impl Cluster {
    /// `count` shards over `columns` × `rows` zones of 40 m (interest radius
    /// 15 m); zone `z` is shard `z mod count + 1`'s. Newcomers appear around
    /// `spawn`. Every link is up from the start.
    pub(crate) fn new(count: u32, columns: u32, rows: u32, spawn: Vec2) -> Self {
        let map = common::world_map(columns, rows);
        let now = Instant::now();
        let ms = UNIX * 1_000;
        let authority = TokenAuthority::new(b"cluster stepper secret, not for production");
        let mut shards = Vec::new();
        for me in 1..=count {
            let server = common::server(&authority, now);
            let zones = common::world_zones(&map);
            let borders = shard_borders(map, me, count, LeaseTiming::default());
            let mut host = ZoneHost::with_borders(zones, borders, server, 0, u64::from(me) * 7_919);
            host.link_as(me, first_avatar_id(&map));
            host.set_spawn_area(spawn, 0.5);
            let peers = Peers::new(now, &map, me, count, Duration::from_millis(TICK_MS));
            shards.push(Some(ShardNode {
                shard: Shard::new(host, peers),
                inbox: VecDeque::new(),
                linked: BTreeSet::new(),
            }));
        }
        let mut cluster = Self {
            now,
            ms,
            shards,
            ledger: MemoryLedger::new(),
            players: Vec::new(),
            authority,
            carried: 0,
        };
        for a in 1..=count {
            for b in 1..=count {
                if a != b {
                    cluster.link_up(a, b);
                }
            }
        }
        cluster
    }

    /// Shard `me`.
    pub(crate) fn shard(&mut self, me: u32) -> &mut ShardNode {
        self.shards[me as usize - 1].as_mut().expect("running")
    }

    /// Shard `me`'s host.
    pub(crate) fn host(&mut self, me: u32) -> &mut ZoneHost<ClusterBorders> {
        self.shard(me).shard.host_mut()
    }

    /// Shard `me` learns that its link to `other` is up.
    fn link_up(&mut self, me: u32, other: u32) {
        let node = self.shard(me);
        node.linked.insert(other);
        node.shard.handle_link_up(other);
    }

    /// Shard `me` stops at once (a crash): its links go down on every other
    /// shard, its leases lapse in the ledger, its clients lose their server.
    pub(crate) fn crash(&mut self, me: u32) {
        self.shards[me as usize - 1] = None;
        for node in self.shards.iter_mut().flatten() {
            if node.linked.remove(&me) {
                node.shard.handle_link_down(me);
            }
        }
    }

    /// A player `account` joins through shard `gateway`.
    pub(crate) fn join(&mut self, account: u64, gateway: u32) -> usize {
        let token = common::token(&self.authority, account, &format!("player{account}"));
        let now = self.now;
        self.host(gateway)
            .server()
            .handle_connected(now, ConnectionId(account));
        let client = Client::new(now, token, Duration::from_secs(1), Duration::from_secs(10));
        self.players.push(Player {
            account,
            gateway,
            client,
            seen: Vec::new(),
            own: Vec::new(),
        });
        self.players.len() - 1
    }

    /// `ticks` ticks with the same intents.
    pub(crate) fn run(&mut self, ticks: u32, intents: &[(usize, MovementIntent)]) {
        for _ in 0..ticks {
            self.tick(intents);
        }
    }

    /// One tick: players send, every shard handles what its link brought,
    /// ticks and answers the ledger, what shards said is carried, players
    /// receive and decode.
    pub(crate) fn tick(&mut self, intents: &[(usize, MovementIntent)]) {
        self.now += Duration::from_millis(TICK_MS);
        self.ms += TICK_MS;
        let (now, ms) = (self.now, self.ms);
        for (index, intent) in intents {
            self.players[*index].client.send_input(now, *intent);
        }
        for index in 0..self.players.len() {
            let gateway = self.players[index].gateway;
            let connection = ConnectionId(self.players[index].account);
            while let Some(transmit) = self.players[index].client.poll_transmit() {
                let Some(node) = self.shards[gateway as usize - 1].as_mut() else {
                    continue;
                };
                let server = node.shard.host_mut().server();
                match transmit {
                    ClientTransmit::Stream(bytes) => server.handle_stream(now, connection, &bytes),
                    ClientTransmit::Datagram(bytes) => {
                        server.handle_datagram(now, connection, &bytes);
                    }
                    ClientTransmit::Close => {}
                }
            }
        }
        for me in 1..=self.shards.len() as u32 {
            if self.shards[me as usize - 1].is_none() {
                continue;
            }
            self.shard(me).shard.handle_time(now, ms);
            // What the link brought; a handoff message is answered first.
            while let Some((from, message)) = self.shard(me).inbox.pop_front() {
                if self.shard(me).shard.handle_link_message(from, message) {
                    self.answer_ledger(me);
                    self.carry(me);
                }
            }
            let mut report = self.shard(me).shard.step(now);
            self.answer_ledger(me);
            self.carry(me);
            self.shard(me).shard.replicate(&mut report);
            self.answer_ledger(me);
            self.carry(me);
        }
        for (index, node) in self.shards.iter_mut().enumerate() {
            let Some(node) = node.as_mut() else {
                continue;
            };
            let gateway = index as u32 + 1;
            while let Some(transmit) = node.shard.host_mut().server().poll_transmit() {
                let Some(player) = self.players.iter_mut().find(|player| {
                    player.gateway == gateway && ConnectionId(player.account) == transmit.connection
                }) else {
                    continue;
                };
                deliver(&mut player.client, now, transmit.payload);
            }
        }
        for player in &mut self.players {
            while let Some(event) = player.client.poll_event() {
                if let ClientEvent::Snapshot { tick, .. } = event {
                    let view: Vec<NetworkId> =
                        player.client.view().iter().map(|state| state.id).collect();
                    let me = player.client.welcome().map(|welcome| welcome.avatar_id);
                    if let Some(own) = player.client.view().iter().find(|s| Some(s.id) == me) {
                        player.own.push((own.x, own.y));
                    }
                    player.seen.push((tick, view));
                }
            }
        }
    }

    /// Shard `me`'s ledger requests, answered by the model at once.
    fn answer_ledger(&mut self, me: u32) {
        let ms = self.ms;
        while let Some((request, op)) = self.shards[me as usize - 1]
            .as_mut()
            .expect("running")
            .shard
            .poll_ledger()
        {
            let reply: LedgerReply = self.ledger.apply(ms, &op);
            self.shard(me).shard.handle_ledger(request, Some(&reply));
        }
    }

    /// What shard `me` has for others, into their inboxes (to every shard it
    /// has a link to, for `None`).
    fn carry(&mut self, me: u32) {
        let now = self.now;
        let node = self.shard(me);
        let mut outgoing = Vec::new();
        while let Some(message) = node.shard.poll_link(now) {
            outgoing.push(message);
        }
        let linked = node.linked.clone();
        for (to, message) in outgoing {
            let targets: Vec<u32> = match to {
                Some(shard) => vec![shard],
                None => linked.iter().copied().collect(),
            };
            for target in targets {
                if !linked.contains(&target) {
                    continue;
                }
                if let Some(node) = self.shards[target as usize - 1].as_mut() {
                    node.inbox.push_back((me, message.clone()));
                    self.carried += 1;
                }
            }
        }
    }
}

fn deliver(client: &mut Client, now: Instant, payload: Payload) {
    match payload {
        Payload::Stream(bytes) => client.handle_stream(now, &bytes),
        Payload::Datagram(bytes) => client.handle_datagram(now, &bytes),
        Payload::Close(_) => {}
    }
}
