//! A cluster shard whose instance lease is refused at renewal (here: the
//! test gives it up in the ledger under the shard's name and epoch, then
//! takes it, as a shard that took over after a partition would) stops
//! simulating that instance and tells its players to join again
//! (`ServerShutdown`), and counts the loss. Two `meridian serve` shards on
//! the real PostgreSQL (a database of the test's own) and Redis; without
//! them the test says it was skipped (under `CI=true` it fails instead).

mod common;

use std::time::Duration;

use common::instance_shards::{TwoShards, account, join, runtime, space};
use common::players::Player;
use meridian_persistence::{DatabaseConfig, InstanceLeaseOutcome, InstanceRoom, Store};
use meridian_protocol::messages::DisconnectReason;

const TEST: &str = "a_shard_that_loses_an_instance_lease_stops_it";

/// `series` on the metrics page at `http` (0 if absent).
async fn metric(http: std::net::SocketAddr, series: &str) -> f64 {
    loadbot::http::get(http, "/metrics")
        .await
        .ok()
        .and_then(|page| loadbot::http::prometheus_value(&page, series))
        .unwrap_or(0.0)
}

#[test]
fn a_shard_that_loses_an_instance_lease_stops_it() {
    let Some(cluster) = TwoShards::start(TEST) else {
        return;
    };
    let first = cluster.http(1);
    runtime().block_on(async {
        let alice = account(first, "alice").await;
        let created = space(first, &alice, "studio").await;
        let (joined, gateway) = join(first, &alice, created).await;
        assert_eq!(gateway, first);
        let mut player = Player::connect("alice", &joined).await;
        assert_eq!(
            metric(first, "meridian_instance_leases_held").await,
            1.0,
            "one lease held"
        );

        // Someone else gets the lease: shard 1's next renewal is refused.
        let store = Store::open(&DatabaseConfig::new(&cluster.database.url))
            .await
            .expect("the test's database opens");
        let room = InstanceRoom {
            space_id: created,
            room_number: 1,
        };
        let lease = store.instance_lease(room).await.unwrap().expect("leased");
        assert!(
            store
                .release_instance_lease(room, &lease.holder, lease.epoch)
                .await
                .unwrap()
        );
        let taken = store
            .acquire_instance_lease(room, "thief", "127.0.0.1:9", 0, i64::MAX / 2)
            .await
            .unwrap();
        assert!(
            matches!(taken, InstanceLeaseOutcome::Granted(_)),
            "{taken:?}"
        );
        store.close().await;

        // Fenced: alice is told to join again, and the loss is counted.
        let reason = tokio::time::timeout(Duration::from_secs(20), player.disconnected())
            .await
            .expect("alice is disconnected within 20 s");
        assert_eq!(reason, Some(DisconnectReason::ServerShutdown));
        assert_eq!(
            metric(first, "meridian_instance_leases_total{outcome=\"lost\"}").await,
            1.0,
            "the loss is counted"
        );
        assert_eq!(metric(first, "meridian_instance_leases_held").await, 0.0);
        player.stop();
    });
}
