//! A cluster shard stopped on purpose (SIGTERM) gives the leases of the
//! instances it ran up once it no longer simulates them: the ledger shows
//! them expired at once, under the same holder and epoch, and the next join
//! through the other shard starts the instance there under the next epoch.
//! Two `meridian serve` shards on the real PostgreSQL (a database of the
//! test's own) and Redis; without them the test says it was skipped (under
//! `CI=true` it fails instead).

mod common;

use std::process::Command;
use std::time::Duration;

use common::instance_shards::{TwoShards, account, join, runtime, space, wait_for};
use common::players::Player;

const TEST: &str = "a_stopped_shard_gives_its_instance_leases_up";

#[test]
fn a_stopped_shard_gives_its_instance_leases_up() {
    let Some(mut cluster) = TwoShards::start(TEST) else {
        return;
    };
    let (first, second) = (cluster.http(1), cluster.http(2));
    let (access, created) = runtime().block_on(async {
        let alice = account(first, "alice").await;
        let created = space(first, &alice, "library").await;
        let (joined, gateway) = join(first, &alice, created).await;
        assert_eq!(gateway, first, "the answering shard starts it");
        let player = Player::connect("alice", &joined).await;
        player.stop();
        (alice, created)
    });
    let held = runtime()
        .block_on(cluster.lease(created))
        .expect("the room is leased");
    assert_eq!((held.holder.as_str(), held.epoch), ("1", 1), "{held:?}");

    // A planned stop.
    let pid = cluster.shards[0].0.0.id().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    assert!(
        wait_for(Duration::from_secs(30), || matches!(
            cluster.shards[0].0.0.try_wait(),
            Ok(Some(_))
        ))
        .is_some(),
        "shard 1 stops"
    );

    // Given up, not left to run out its time.
    let after = runtime()
        .block_on(cluster.lease(created))
        .expect("still a row");
    assert_eq!(
        (after.holder.as_str(), after.epoch, after.expires_at_ms),
        ("1", 1, 0),
        "released at once: {after:?}"
    );
    // So a join through shard 2 starts it there at once, under epoch 2.
    runtime().block_on(async {
        let (_, gateway) = join(second, &access, created).await;
        assert_eq!(gateway, second, "shard 2 runs it now");
    });
    let taken = runtime()
        .block_on(cluster.lease(created))
        .expect("leased again");
    assert_eq!((taken.holder.as_str(), taken.epoch), ("2", 2), "{taken:?}");
}
