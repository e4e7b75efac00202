//! The gateway and owner roles of a cluster's hosts, on the seeded cluster
//! stepper (two shards in one process, the link a queue, the ledger the
//! model, real netcode clients): a join in another shard's zone is simulated
//! there and seen through the gateway; a player walking into its gateway's
//! zone is handed across shards with its id and connection; a crashed
//! shard's zone is taken over and its players are attached again.

mod cluster_stepper;
mod common;

use cluster_stepper::Cluster;
use meridian_protocol::messages::{AnimationState, MovementIntent};
use meridian_shard_manager::{EntityId, ZoneId, ZoneOwner};
use meridian_sim::Vec2;

/// The middle of zone 1 (x 40-80 m) of a 2 × 1 world: shard 2's.
fn in_zone_1() -> Vec2 {
    Vec2::new(60.0, 20.0)
}

fn walk(move_x: f32) -> MovementIntent {
    MovementIntent {
        move_x,
        move_y: 0.0,
        speed: 4.0,
        heading: 0.0,
        animation: AnimationState::Run,
    }
}

/// Two shards, every lease taken and announced (a second of ticks).
fn two_shards() -> Cluster {
    let mut cluster = Cluster::new(2, 2, 1, in_zone_1());
    cluster.run(20, &[]);
    assert_eq!(
        cluster.host(1).borders().held().len(),
        1,
        "shard 1 holds zone 0"
    );
    assert_eq!(
        cluster.host(2).borders().held().len(),
        1,
        "shard 2 holds zone 1"
    );
    use meridian_shard_manager::Borders;
    assert_eq!(cluster.host(1).borders().owner(1), ZoneOwner::Shard(2));
    assert_eq!(cluster.host(2).borders().owner(0), ZoneOwner::Shard(1));
    cluster
}

#[test]
fn a_join_in_another_shards_zone_is_simulated_there_and_seen_through_the_gateway() {
    let mut cluster = two_shards();
    let ada = cluster.join(1, 1);
    cluster.run(40, &[]);
    let ada_id = cluster.players[ada]
        .client
        .welcome()
        .expect("welcomed")
        .avatar_id;
    // Simulated by the owner of zone 1, not by the gateway.
    assert_eq!(cluster.host(2).avatar_count(), 1);
    assert_eq!(cluster.host(1).avatar_count(), 0);
    let player = &cluster.players[ada];
    assert!(
        player.seen.len() >= 20,
        "snapshots through the gateway: {}",
        player.seen.len()
    );
    assert!(
        player.seen.iter().all(|(_, view)| view.contains(&ada_id)),
        "it sees itself in every snapshot"
    );
    assert_eq!(player.client.stats().decode_errors, 0);
    // Its inputs reach the owner through the gateway: it moves east.
    let before = cluster.players[ada].own.last().expect("a position").0;
    cluster.run(20, &[(ada, walk(1.0))]);
    let after = cluster.players[ada].own.last().expect("a position").0;
    assert!(after > before, "moved east: {before} -> {after}");
    assert!(cluster.carried > 0);
}

#[test]
fn a_player_walking_into_its_gateways_zone_is_handed_across_shards_with_its_id() {
    let mut cluster = two_shards();
    let ada = cluster.join(1, 1);
    let bob = cluster.join(2, 2);
    cluster.run(40, &[]);
    let ada_id = cluster.players[ada]
        .client
        .welcome()
        .expect("welcomed")
        .avatar_id;
    assert_eq!(
        cluster.host(2).avatar_count(),
        2,
        "both start in shard 2's zone"
    );
    // Ada walks west from x = 60 m, across the border at 40 m (handoff 2 m
    // past it), into zone 0, which her gateway simulates.
    let mut crossed_at = None;
    for tick in 0..200 {
        cluster.tick(&[(ada, walk(-1.0))]);
        if crossed_at.is_none() && cluster.host(1).avatar_count() == 1 {
            crossed_at = Some(tick);
        }
    }
    assert!(crossed_at.is_some(), "handed to shard 1");
    assert_eq!(cluster.host(1).zone_of(1), Some(0));
    assert_eq!(
        cluster.host(2).avatar_count(),
        1,
        "only Bob is left in zone 1"
    );
    let owner = cluster.ledger.owner(EntityId(1)).expect("a row");
    assert_eq!(owner.zone, ZoneId(0));
    let player = &cluster.players[ada];
    assert_eq!(player.client.stats().decode_errors, 0);
    assert_eq!(
        player.client.welcome().map(|welcome| welcome.avatar_id),
        Some(ada_id),
        "the same connection, the same avatar"
    );
    assert!(
        player.seen.iter().all(|(_, view)| view.contains(&ada_id)),
        "she sees herself in every snapshot, across the handoff"
    );
    assert!(
        player.own.windows(2).all(|pair| pair[1].0 <= pair[0].0 + 8),
        "no jump back east: {:?}",
        player.own
    );
    // Bob, on the other shard, saw her leave his view only by walking away:
    // his client never failed to decode.
    assert_eq!(cluster.players[bob].client.stats().decode_errors, 0);
}

#[test]
fn a_crashed_shards_zone_is_taken_over_and_its_players_attached_again() {
    let mut cluster = two_shards();
    let ada = cluster.join(1, 1);
    // Past BACKUP_AFTER (5 s): shard 1 also wants shard 2's zone.
    cluster.run(120, &[]);
    let ada_id = cluster.players[ada]
        .client
        .welcome()
        .expect("welcomed")
        .avatar_id;
    assert_eq!(cluster.host(2).avatar_count(), 1);
    let seen_before = cluster.players[ada].seen.len();
    cluster.crash(2);
    // The lease (5 s) lapses in the ledger; shard 1 takes the zone and
    // attaches Ada again, where she stood.
    let mut back_at = None;
    for tick in 0..300 {
        cluster.tick(&[]);
        if back_at.is_none() && cluster.host(1).avatar_count() == 1 {
            back_at = Some(tick);
        }
    }
    let back_at = back_at.expect("taken over");
    assert!(back_at <= 160, "within the lease and 3 s: tick {back_at}");
    assert_eq!(
        cluster.host(1).borders().held().len(),
        2,
        "shard 1 holds both zones"
    );
    assert_eq!(cluster.host(1).zone_of(1), Some(1));
    let player = &cluster.players[ada];
    assert_eq!(
        player.client.welcome().map(|welcome| welcome.avatar_id),
        Some(ada_id),
        "the same connection, the same avatar"
    );
    let after: Vec<_> = player.seen[seen_before..].iter().collect();
    assert!(
        after
            .iter()
            .rev()
            .take(20)
            .all(|(_, view)| view.contains(&ada_id)),
        "snapshots again, with her in them"
    );
    assert_eq!(player.client.stats().decode_errors, 0);
    // Where she stood: still in the middle of zone 1.
    let (x, _) = *player.own.last().expect("a position");
    let (x_before, _) = player.own[seen_before.min(player.own.len()) - 1];
    assert!(
        x.abs_diff(x_before) < 64,
        "where she stood: {x_before} -> {x}"
    );
}
