//! In a cluster, the instance of a created space runs on one shard, placed
//! through the ledger: a join asked of either shard lands in the same
//! instance (the other shard answers 421 naming the holder's gateway, and
//! the join asked again there is seated), and two native clients joined
//! through different shards see each other. Two `meridian serve` shards on
//! the real PostgreSQL (a database of the test's own) and Redis; without
//! them the test says it was skipped (under `CI=true` it fails instead).

mod common;

use common::instance_shards::{TwoShards, account, join, join_once, runtime, space};
use common::players::Player;

const TEST: &str = "instances_of_a_space_run_on_one_shard";

#[test]
fn instances_of_a_space_run_on_one_shard() {
    let Some(cluster) = TwoShards::start(TEST) else {
        return;
    };
    let (first, second) = (cluster.http(1), cluster.http(2));
    runtime().block_on(async {
        let alice = account(first, "alice").await;
        let bob = account(second, "bob").await;
        let created = space(first, &alice, "cafe").await;

        // Alice's join through shard 1 starts the instance there, under a
        // lease shard 1 holds.
        let (alice_joined, alice_gateway) = join(first, &alice, created).await;
        assert_eq!(alice_gateway, first, "the answering shard starts it");
        let lease = cluster.lease(created).await.expect("the room is leased");
        assert_eq!(
            (lease.holder.as_str(), lease.epoch, lease.gateway.as_str()),
            ("1", 1, first.to_string().as_str()),
            "{lease:?}"
        );

        // Bob asks shard 2, which sends him to shard 1's gateway.
        let (status, answer) = join_once(second, &bob, created).await;
        assert_eq!(status, 421, "{answer}");
        assert_eq!(answer["gateway"], first.to_string(), "{answer}");
        let (bob_joined, bob_gateway) = join(second, &bob, created).await;
        assert_eq!(bob_gateway, first, "bob is seated on shard 1");
        let instance =
            |joined: &common::Joined| common::token_claims(&joined.token)["space"].clone();
        assert_eq!(
            instance(&alice_joined),
            instance(&bob_joined),
            "one instance"
        );
        assert_eq!(alice_joined.game, bob_joined.game, "one game address");

        // They see each other there.
        let alice_player = Player::connect("alice", &alice_joined).await;
        let bob_player = Player::connect("bob", &bob_joined).await;
        let alice_avatar = alice_player.avatar().expect("welcomed");
        let bob_avatar = bob_player.avatar().expect("welcomed");
        assert!(alice_player.sees(bob_avatar).await, "alice sees bob");
        assert!(bob_player.sees(alice_avatar).await, "bob sees alice");

        // Still one lease, renewed by shard 1 under its first epoch.
        let later = cluster.lease(created).await.expect("still leased");
        assert_eq!((later.holder.as_str(), later.epoch), ("1", 1), "{later:?}");
        alice_player.stop();
        bob_player.stop();
    });
}
