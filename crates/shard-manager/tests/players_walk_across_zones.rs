//! Two zones in one process behind one gateway, with real netcode clients over
//! perfect in-memory links and the ledger model: a player walks east across the
//! border and is handed off. It keeps its network id and its connection; its
//! client decodes every snapshot; a watcher on the near side sees it the whole
//! way, as a ghost after the handoff; the ledger names the new zone.

use std::time::{Duration, Instant};

mod common;

use meridian_netcode::{
    Client, ClientEvent, ClientTransmit, ConnectionId, Payload, TokenAuthority,
};
use meridian_protocol::NetworkId;
use meridian_protocol::messages::{AnimationState, MovementIntent};
use meridian_shard_manager::ZoneHost;
use meridian_shard_manager::cluster::ClusterBorders;
use meridian_shard_manager::{EntityId, LedgerOp, LedgerReply, MemoryLedger, ZoneId};

struct Peer {
    connection: ConnectionId,
    client: Client,
    seen: Vec<(u32, Vec<NetworkId>)>,
    own_x: Vec<u32>,
}

struct World {
    now: Instant,
    ms: u64,
    host: ZoneHost<ClusterBorders>,
    ledger: MemoryLedger,
    peers: Vec<Peer>,
    authority: TokenAuthority,
}

impl World {
    fn new() -> Self {
        Self::grid(2, 1)
    }

    /// A world of `columns` × `rows` zones of 40 m.
    fn grid(columns: u32, rows: u32) -> Self {
        let common::Hosted {
            mut host,
            ledger,
            authority,
            now,
        } = common::hosted_world(columns, rows, 7);
        // Newcomers start in the middle of zone 0.
        host.set_spawn_area(meridian_sim::Vec2::new(20.0, 20.0), 0.5);
        Self {
            now,
            ms: 0,
            host,
            ledger,
            peers: Vec::new(),
            authority,
        }
    }

    fn connect(&mut self, account: u64) -> usize {
        let token = common::token(&self.authority, account, &format!("player{account}"));
        let connection = ConnectionId(account);
        self.host.server().handle_connected(self.now, connection);
        let client = Client::new(
            self.now,
            token,
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        self.peers.push(Peer {
            connection,
            client,
            seen: Vec::new(),
            own_x: Vec::new(),
        });
        self.peers.len() - 1
    }

    /// One 50 ms tick: client traffic in, the world ticks, the ledger answers,
    /// traffic out, clients decode.
    fn tick(&mut self, intents: &[(usize, MovementIntent)]) {
        self.now += Duration::from_millis(50);
        self.ms += 50;
        for (index, intent) in intents {
            self.peers[*index].client.send_input(self.now, *intent);
        }
        for peer in &mut self.peers {
            while let Some(transmit) = peer.client.poll_transmit() {
                let server = self.host.server();
                match transmit {
                    ClientTransmit::Stream(bytes) => {
                        server.handle_stream(self.now, peer.connection, &bytes);
                    }
                    ClientTransmit::Datagram(bytes) => {
                        server.handle_datagram(self.now, peer.connection, &bytes);
                    }
                    ClientTransmit::Close => {}
                }
            }
        }
        self.host.borders_mut().set_clock(self.ms);
        self.host.tick(self.now);
        // The ledger answers at once (the fault simulation covers the rest).
        loop {
            let requests = self.host.borders_mut().take_ledger_requests();
            if requests.is_empty() {
                break;
            }
            for (request, op) in requests {
                let reply = self.ledger.apply(self.ms, &op);
                self.host.borders_mut().on_ledger(request, &reply);
            }
        }
        while let Some(transmit) = self.host.server().poll_transmit() {
            let Some(peer) = self
                .peers
                .iter_mut()
                .find(|peer| peer.connection == transmit.connection)
            else {
                continue;
            };
            match transmit.payload {
                Payload::Stream(bytes) => peer.client.handle_stream(self.now, &bytes),
                Payload::Datagram(bytes) => peer.client.handle_datagram(self.now, &bytes),
                Payload::Close(_) => {}
            }
        }
        for peer in &mut self.peers {
            while let Some(event) = peer.client.poll_event() {
                if let ClientEvent::Snapshot { tick, .. } = event {
                    let view: Vec<NetworkId> =
                        peer.client.view().iter().map(|state| state.id).collect();
                    let me = peer.client.welcome().map(|w| w.avatar_id);
                    if let Some(own) = peer.client.view().iter().find(|s| Some(s.id) == me) {
                        peer.own_x.push(own.x);
                    }
                    peer.seen.push((tick, view));
                }
            }
        }
    }
}

fn east() -> MovementIntent {
    MovementIntent {
        move_x: 1.0,
        move_y: 0.0,
        speed: 4.0,
        heading: 0.0,
        animation: AnimationState::Run,
    }
}

#[test]
fn a_player_crosses_the_border_and_keeps_its_id_and_its_connection() {
    let mut world = World::new();
    let walker = world.connect(1);
    let watcher = world.connect(2);
    for _ in 0..10 {
        world.tick(&[]);
    }
    let walker_id = world.peers[walker]
        .client
        .welcome()
        .expect("welcomed")
        .avatar_id;
    assert_eq!(world.host.zone_of(1), Some(0));
    // Both start in the middle of zone 0 (x = 20 m); the border is at 40 m and
    // the handoff 2 m past it. The watcher first walks to x ≈ 34 m, near the
    // border; the walker goes on at 4 m/s.
    for _ in 0..70 {
        world.tick(&[(walker, east()), (watcher, east())]);
    }
    let mut handed_off_at = None;
    for _ in 0..200 {
        world.tick(&[(walker, east())]);
        if handed_off_at.is_none() && world.host.zone_of(1) == Some(1) {
            handed_off_at = Some(world.peers[watcher].seen.len());
        }
    }
    let handed_off_at = handed_off_at.expect("handed off");
    let owner = world.ledger.owner(EntityId(1)).expect("a row");
    assert_eq!(owner.zone, ZoneId(1));
    assert_eq!(owner.version, 1, "moved exactly once");
    let walking = &world.peers[walker];
    assert_eq!(walking.client.stats().decode_errors, 0);
    assert_eq!(
        walking.client.welcome().map(|w| w.avatar_id),
        Some(walker_id),
        "the same connection, the same avatar"
    );
    // It saw itself in every snapshot, moving east without a jump back.
    assert!(
        walking
            .seen
            .iter()
            .all(|(_, view)| view.contains(&walker_id))
    );
    assert!(
        walking.own_x.windows(2).all(|pair| pair[1] + 8 >= pair[0]),
        "no jump back: {:?}",
        walking.own_x
    );
    assert!(*walking.own_x.last().expect("seen") > 42 * 64);
    // The watcher, in zone 0 near the border, saw it until it walked out of
    // range, never losing it in between: across the handoff it is a ghost here.
    let watching = &world.peers[watcher];
    let first_gone = watching
        .seen
        .iter()
        .position(|(_, view)| !view.contains(&walker_id))
        .expect("it walked out of range in the end");
    assert!(
        watching.seen[first_gone..]
            .iter()
            .all(|(_, view)| !view.contains(&walker_id)),
        "lost once, not flickering"
    );
    assert!(
        first_gone > handed_off_at + 20,
        "seen for {} snapshots after the handoff (at {handed_off_at})",
        first_gone as i64 - handed_off_at as i64
    );
    // The walker reached zone 1's side only as the owner zone's avatar.
    assert_eq!(world.host.zones()[1].avatar_count(), 1);
    assert_eq!(world.host.zones()[0].avatar_count(), 1);
    assert_eq!(world.host.handoffs(), 1);
}

#[test]
fn a_player_the_ledger_places_elsewhere_is_moved_to_where_it_stands() {
    let mut world = World::new();
    // The ledger says zone 1 (a handoff the last checkpoint had not caught up
    // with before a restart); the player appears in zone 0.
    let lease = world.ledger.lease(ZoneId(1)).expect("held");
    let seeded = world.ledger.apply(
        1,
        &LedgerOp::Claim {
            entity: EntityId(1),
            zone: ZoneId(1),
            epoch: lease.epoch,
        },
    );
    assert!(matches!(seeded, LedgerReply::Claimed { claimed: true, .. }));
    let walker = world.connect(1);
    for _ in 0..10 {
        world.tick(&[]);
    }
    let owner = world.ledger.owner(EntityId(1)).expect("a row");
    assert_eq!(
        (owner.zone, owner.version),
        (ZoneId(0), 1),
        "moved to zone 0"
    );
    // And it is zone 0's to hand off like anyone else.
    for _ in 0..200 {
        world.tick(&[(walker, east())]);
    }
    assert_eq!(world.host.zone_of(1), Some(1));
    let owner = world.ledger.owner(EntityId(1)).expect("a row");
    assert_eq!((owner.zone, owner.version), (ZoneId(1), 2));
}
