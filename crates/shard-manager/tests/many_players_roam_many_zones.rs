//! Nine zones in one process (`ZoneHost` as a cluster of one), twenty real
//! netcode clients wandering for a simulated minute, and a ledger whose answers
//! come late and are sometimes lost (applied or not). Every tick: every player
//! is an avatar in exactly one zone, the one the host routes it to, and its
//! client sees itself in every snapshot. At the end, with answers flowing again,
//! the ledger names each player's zone.

use std::collections::VecDeque;
use std::time::Duration;

mod common;

use meridian_netcode::{Client, ClientEvent, ClientTransmit, ConnectionId, Payload};
use meridian_protocol::messages::{AnimationState, MovementIntent};
use meridian_shard_manager::{EntityId, LedgerOp};
use meridian_sim::agents::SplitMix64;
use meridian_sim::{Vec2, Zone};

const PLAYERS: u64 = 20;

struct Roamer {
    connection: ConnectionId,
    client: Client,
    heading: f32,
    snapshots: u64,
    without_self: u64,
}

/// A ledger request on its way: when it arrives, and whether its answer
/// (or the request itself) is lost.
struct InFlight {
    at: u64,
    request: u64,
    op: LedgerOp,
    fate: Fate,
}

#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Answered,
    /// Applied, but the answer is lost.
    AnswerLost,
    /// Never reached the ledger.
    RequestLost,
}

#[test]
fn twenty_players_roam_nine_zones_and_each_is_always_in_exactly_one() {
    let common::Hosted {
        mut host,
        mut ledger,
        authority,
        mut now,
    } = common::hosted_world(3, 3, 11);
    host.set_spawn_area(Vec2::new(60.0, 60.0), 20.0);
    let mut random = SplitMix64::new(2026);
    let mut roamers: Vec<Roamer> = (1..=PLAYERS)
        .map(|account| {
            let connection = ConnectionId(account);
            host.server().handle_connected(now, connection);
            let token = common::token(&authority, account, &format!("roamer{account}"));
            Roamer {
                connection,
                client: Client::new(now, token, Duration::from_secs(1), Duration::from_secs(10)),
                heading: random.next_f32() * std::f32::consts::TAU,
                snapshots: 0,
                without_self: 0,
            }
        })
        .collect();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let ticks = 1_400u64;
    let faults_until = 1_000u64;
    let walk_until = 1_200u64;
    for tick in 0..ticks {
        now += Duration::from_millis(50);
        let ms = tick * 50;
        for roamer in &mut roamers {
            if tick < walk_until && roamer.client.welcome().is_some() {
                if random.range_u32(0, 40) == 0 {
                    roamer.heading += 1.7;
                }
                roamer.client.send_input(
                    now,
                    MovementIntent {
                        move_x: roamer.heading.cos(),
                        move_y: roamer.heading.sin(),
                        speed: 4.0,
                        heading: roamer.heading,
                        animation: AnimationState::Run,
                    },
                );
            }
            while let Some(transmit) = roamer.client.poll_transmit() {
                let server = host.server();
                match transmit {
                    ClientTransmit::Stream(bytes) => {
                        server.handle_stream(now, roamer.connection, &bytes);
                    }
                    ClientTransmit::Datagram(bytes) => {
                        server.handle_datagram(now, roamer.connection, &bytes);
                    }
                    ClientTransmit::Close => {}
                }
            }
        }
        host.borders_mut().set_clock(ms);
        host.tick(now);
        // The ledger: each request arrives 0 to 3 ticks later; under faults 5%
        // of answers and 5% of requests are lost.
        for (request, op) in host.borders_mut().take_ledger_requests() {
            let faulty = tick < faults_until;
            let fate = match random.range_u32(0, 20) {
                0 if faulty => Fate::AnswerLost,
                1 if faulty => Fate::RequestLost,
                _ => Fate::Answered,
            };
            in_flight.push_back(InFlight {
                at: tick + u64::from(random.range_u32(0, 4)),
                request,
                op,
                fate,
            });
        }
        let (due, later): (Vec<InFlight>, Vec<InFlight>) =
            in_flight.drain(..).partition(|flight| flight.at <= tick);
        in_flight.extend(later);
        for flight in due {
            match flight.fate {
                Fate::Answered => {
                    let reply = ledger.apply(ms, &flight.op);
                    host.borders_mut().on_ledger(flight.request, &reply);
                }
                Fate::AnswerLost => {
                    ledger.apply(ms, &flight.op);
                    host.borders_mut().on_ledger_lost(flight.request);
                }
                Fate::RequestLost => host.borders_mut().on_ledger_lost(flight.request),
            }
        }
        while let Some(transmit) = host.server().poll_transmit() {
            let Some(roamer) = roamers
                .iter_mut()
                .find(|roamer| roamer.connection == transmit.connection)
            else {
                continue;
            };
            match transmit.payload {
                Payload::Stream(bytes) => roamer.client.handle_stream(now, &bytes),
                Payload::Datagram(bytes) => roamer.client.handle_datagram(now, &bytes),
                Payload::Close(reason) => panic!("roamer disconnected: {reason:?}"),
            }
        }
        for roamer in &mut roamers {
            while let Some(event) = roamer.client.poll_event() {
                if let ClientEvent::Snapshot { .. } = event {
                    roamer.snapshots += 1;
                    let me = roamer.client.welcome().map(|welcome| welcome.avatar_id);
                    if !roamer
                        .client
                        .view()
                        .iter()
                        .any(|state| Some(state.id) == me)
                    {
                        roamer.without_self += 1;
                    }
                }
            }
        }
        // Every player is an avatar in exactly one zone: the one it is routed to.
        if tick > 5 {
            let total: usize = host.zones().iter().map(Zone::avatar_count).sum();
            assert_eq!(total, PLAYERS as usize, "tick {tick}");
            for (index, zone) in host.zones().iter().enumerate() {
                let routed = (1..=PLAYERS)
                    .filter(|account| host.zone_of(*account) == Some(index))
                    .count();
                assert_eq!(zone.avatar_count(), routed, "zone {index} at tick {tick}");
            }
        }
    }
    assert!(host.handoffs() > 40, "players crossed: {}", host.handoffs());
    for roamer in &roamers {
        assert_eq!(roamer.client.stats().decode_errors, 0);
        assert_eq!(roamer.without_self, 0, "a roamer lost sight of itself");
        assert!(roamer.snapshots > 1_300, "{}", roamer.snapshots);
    }
    // Settled: the ledger names the zone each player is in.
    for account in 1..=PLAYERS {
        let owner = ledger.owner(EntityId(account)).expect("claimed");
        assert_eq!(
            Some(owner.zone.0 as usize),
            host.zone_of(account),
            "player {account}"
        );
    }
    println!("{} handoffs", host.handoffs());
}
