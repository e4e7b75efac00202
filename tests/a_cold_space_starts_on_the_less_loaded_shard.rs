//! Placement by load: a join that would start an instance is sent to the
//! least loaded live shard (by the signed load entries shards publish in
//! Redis), and that shard starts it. Shard 1 runs one instance with a
//! player in it; a join of another space asked of shard 1 is answered 421
//! naming shard 2's gateway, and the join asked there is seated on shard 2,
//! which holds the new room's lease. Two `meridian serve` shards on the real
//! PostgreSQL (a database of the test's own) and Redis; without them the
//! test says it was skipped (under `CI=true` it fails instead).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::instance_shards::{TwoShards, account, join, join_once, runtime, space};
use common::players::Player;
use common::shard_link::{hints, link_key};
use meridian_shard_manager::ShardId;

const TEST: &str = "a_cold_space_starts_on_the_less_loaded_shard";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[test]
fn a_cold_space_starts_on_the_less_loaded_shard() {
    let Some(cluster) = TwoShards::start(TEST) else {
        return;
    };
    let (first, second) = (cluster.http(1), cluster.http(2));
    runtime().block_on(async {
        let alice = account(first, "alice").await;
        let bob = account(first, "bob").await;
        let busy = space(first, &alice, "busy").await;
        let quiet = space(first, &bob, "quiet").await;

        // Both idle: alice's join starts its instance where she asked.
        let (alice_joined, gateway) = join(first, &alice, busy).await;
        assert_eq!(gateway, first);
        let _alice_player = Player::connect("alice", &alice_joined).await;
        // Shard 1 says so in its load entry.
        let redis = hints(&cluster.redis, &cluster.cluster).await;
        let key = link_key(&redis, ShardId(1)).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut load = None;
        while Instant::now() < deadline {
            load = redis
                .shard_load(ShardId(1), &key, now_ms())
                .await
                .expect("a signed entry");
            if load.is_some_and(|load| load.instances == 1 && load.players == 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let load = load.expect("shard 1 publishes its load");
        assert_eq!(
            (load.instances, load.players, load.gateway),
            (1, 1, first),
            "{load:?}"
        );

        // Bob's join of another space, asked of shard 1, goes to shard 2.
        let (status, answer) = join_once(first, &bob, quiet).await;
        assert_eq!(status, 421, "{answer}");
        assert_eq!(answer["gateway"], second.to_string(), "{answer}");
        let (bob_joined, bob_gateway) = join(first, &bob, quiet).await;
        assert_eq!(bob_gateway, second, "seated on shard 2");
        let lease = cluster.lease(quiet).await.expect("leased");
        assert_eq!(lease.holder, "2", "{lease:?}");
        let bob_player = Player::connect("bob", &bob_joined).await;
        bob_player.stop();
    });
}
