//! A deterministic client/server stepper: one [`ZoneHost`] and many [`Client`]s in
//! one process, on a stepped clock, joined by seeded [`Link`]s.

#![allow(dead_code, reason = "each test file uses a different part")]

pub(crate) mod event_loop;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use meridian_netcode::emulator::{Lane, Link, LinkConditions};
use meridian_netcode::{
    Client, ClientEvent, ClientTransmit, ConnectionId, NetcodeConfig, Payload, RealtimeClaims,
    Server, TokenAuthority, token::REALTIME_SCOPE,
};
use meridian_protocol::messages::{Channel, ClientMessage};
use meridian_protocol::snapshot::EntityState;
use meridian_shard_manager::ZoneHost;
use meridian_sim::{SimConfig, Zone};

pub(crate) const SPACE: u32 = 1;
pub(crate) const SECRET: &[u8] = b"stepper secret, not for production";
/// Unix time at the stepper's start.
pub(crate) const START_UNIX: u64 = 1_800_000_000;

pub(crate) fn token(authority: &TokenAuthority, account: u64) -> String {
    authority.mint(&RealtimeClaims {
        sub: account,
        name: format!("bot{account}"),
        space: SPACE,
        exp: START_UNIX + 3_600,
        scope: REALTIME_SCOPE.into(),
        jti: meridian_netcode::token::random_token_id(),
        gateway: 0,
    })
}

pub(crate) struct Peer {
    pub(crate) connection: ConnectionId,
    pub(crate) client: Client,
    pub(crate) up: Link,
    pub(crate) down: Link,
    pub(crate) events: Vec<ClientEvent>,
    /// Each decoded snapshot's tick and the view right after it.
    pub(crate) decoded: Vec<(u32, Vec<EntityState>)>,
    pub(crate) server_closed: bool,
    /// Per flush that carried datagrams: how many were inputs and how many
    /// acks (one flush is what a transport would pack into one packet).
    pub(crate) datagram_flushes: Vec<(usize, usize)>,
}

impl Peer {
    fn collect_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            if let ClientEvent::Snapshot { tick, .. } = event {
                self.decoded.push((tick, self.client.view().to_vec()));
            }
            self.events.push(event);
        }
    }
}

pub(crate) struct Stepper {
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    pub(crate) step: Duration,
    pub(crate) tick_interval: Duration,
    pub(crate) next_tick: Instant,
    pub(crate) host: ZoneHost,
    pub(crate) peers: Vec<Peer>,
    pub(crate) authority: TokenAuthority,
    next_connection: u64,
    /// Per peer, per tick: the view the server meant it to have (its visible set
    /// plus itself), recorded after each tick.
    pub(crate) truth: HashMap<(usize, u32), Vec<EntityState>>,
}

impl Stepper {
    pub(crate) fn new(sim: SimConfig, netcode: NetcodeConfig) -> Self {
        let start = Instant::now();
        let authority = TokenAuthority::new(SECRET);
        let tick_interval = Duration::from_secs_f32(sim.tick_seconds());
        let zone = Zone::new(sim).expect("valid sim config");
        let server = Server::new(netcode, authority.clone(), SPACE, start, START_UNIX)
            .expect("valid netcode config");
        Self {
            start,
            now: start,
            step: Duration::from_millis(5),
            tick_interval,
            next_tick: start + tick_interval,
            host: ZoneHost::new(zone, server, 1, 7),
            peers: Vec::new(),
            authority,
            next_connection: 1,
            truth: HashMap::new(),
        }
    }

    /// Connects a client with this token over links with these conditions.
    pub(crate) fn connect(
        &mut self,
        token: String,
        conditions: LinkConditions,
        seed: u64,
    ) -> usize {
        let connection = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.host.server().handle_connected(self.now, connection);
        let config = self.host.server_ref().config().clone();
        let client = Client::new(
            self.now,
            token,
            config.heartbeat_interval(),
            Duration::from_millis(config.idle_timeout_ms),
        );
        self.peers.push(Peer {
            connection,
            client,
            up: Link::new(conditions, seed * 2 + 1),
            down: Link::new(conditions, seed * 2 + 2),
            events: Vec::new(),
            decoded: Vec::new(),
            server_closed: false,
            datagram_flushes: Vec::new(),
        });
        self.peers.len() - 1
    }

    /// Advances the clock by one step: deliveries both ways, the tick when due,
    /// timeouts. `on_tick` runs just before each zone tick (to send inputs).
    pub(crate) fn advance(&mut self, mut on_tick: impl FnMut(usize, &mut Client, Instant)) {
        self.now += self.step;
        let now = self.now;
        for peer in &mut self.peers {
            while let Some((lane, bytes)) = peer.up.receive(now) {
                if peer.server_closed {
                    continue;
                }
                match lane {
                    Lane::Stream => self
                        .host
                        .server()
                        .handle_stream(now, peer.connection, &bytes),
                    Lane::Datagram => {
                        self.host
                            .server()
                            .handle_datagram(now, peer.connection, &bytes)
                    }
                }
            }
        }
        if now >= self.next_tick {
            self.next_tick += self.tick_interval;
            for (index, peer) in self.peers.iter_mut().enumerate() {
                on_tick(index, &mut peer.client, now);
            }
            self.flush_clients(now);
            let report = self.host.tick(now);
            self.record_truth(report.tick as u32);
        } else {
            self.host.server().handle_timeout(now);
        }
        self.flush_server(now);
        for peer in &mut self.peers {
            while let Some((lane, bytes)) = peer.down.receive(now) {
                match lane {
                    Lane::Stream => peer.client.handle_stream(now, &bytes),
                    Lane::Datagram => peer.client.handle_datagram(now, &bytes),
                }
                // Per delivery, so each decoded view is captured as it was.
                peer.collect_events();
            }
            peer.client.handle_timeout(now);
            peer.collect_events();
        }
        self.flush_clients(now);
    }

    fn record_truth(&mut self, tick: u32) {
        let zone = self.host.zone();
        let states = zone.replicated_states();
        for (index, peer) in self.peers.iter().enumerate() {
            let Some(client) = self.host.client_of(peer.connection) else {
                continue;
            };
            let Some(me) = zone.avatar(client) else {
                continue;
            };
            let mut ids: Vec<_> = zone.visible(client).unwrap_or_default().to_vec();
            ids.push(me.id);
            ids.sort_unstable();
            ids.dedup();
            let view = ids
                .iter()
                .filter_map(|id| {
                    states
                        .binary_search_by_key(id, |state| state.id)
                        .ok()
                        .map(|at| states[at])
                })
                .collect();
            self.truth.insert((index, tick), view);
        }
    }

    fn flush_server(&mut self, now: Instant) {
        let by_connection: HashMap<ConnectionId, usize> = self
            .peers
            .iter()
            .enumerate()
            .map(|(index, peer)| (peer.connection, index))
            .collect();
        while let Some(transmit) = self.host.server().poll_transmit() {
            let Some(&index) = by_connection.get(&transmit.connection) else {
                continue;
            };
            let peer = &mut self.peers[index];
            match transmit.payload {
                Payload::Datagram(bytes) => peer.down.send(now, Lane::Datagram, bytes),
                Payload::Stream(bytes) => peer.down.send(now, Lane::Stream, bytes),
                Payload::Close(_) => peer.server_closed = true,
            }
        }
    }

    fn flush_clients(&mut self, now: Instant) {
        for peer in &mut self.peers {
            let (mut inputs, mut acks, mut datagrams) = (0, 0, 0);
            while let Some(transmit) = peer.client.poll_transmit() {
                match transmit {
                    ClientTransmit::Datagram(bytes) => {
                        datagrams += 1;
                        match ClientMessage::decode(&bytes, Channel::Datagram) {
                            Ok(ClientMessage::Input(_)) => inputs += 1,
                            Ok(ClientMessage::Ack(_)) => acks += 1,
                            _ => {}
                        }
                        peer.up.send(now, Lane::Datagram, bytes);
                    }
                    ClientTransmit::Stream(bytes) => peer.up.send(now, Lane::Stream, bytes),
                    ClientTransmit::Close => {}
                }
            }
            if datagrams > 0 {
                peer.datagram_flushes.push((inputs, acks));
            }
        }
    }

    /// Runs `ticks` zone ticks.
    pub(crate) fn run_ticks(
        &mut self,
        ticks: u32,
        mut on_tick: impl FnMut(usize, &mut Client, Instant),
    ) {
        let until = self.next_tick + self.tick_interval * ticks;
        while self.now + self.step < until {
            self.advance(&mut on_tick);
        }
    }

    /// The zone's current tick.
    pub(crate) fn tick(&self) -> u32 {
        self.host.zone().tick() as u32
    }
}
