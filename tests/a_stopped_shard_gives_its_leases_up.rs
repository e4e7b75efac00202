//! A cluster shard that is stopped on purpose (SIGTERM) gives its zones'
//! leases up once it no longer simulates them, so its peer takes the zones
//! over at once instead of waiting for the leases to lapse as after a crash.
//! Two `meridian serve` shards, the real PostgreSQL (a database of the test's
//! own) and Redis; without them the test says it was skipped (under `CI=true`
//! it fails instead).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::services::PostgresDatabase;
use common::shard_link::{cluster_name, free_udp_address, redis_url, start_shard};
use loadbot::http;
use meridian_persistence::{DatabaseConfig, Lease, Store};

const TEST: &str = "a_stopped_shard_gives_its_leases_up";

fn metric(http_address: SocketAddr, series: &str) -> f64 {
    runtime()
        .block_on(http::get(http_address, "/metrics"))
        .ok()
        .and_then(|page| http::prometheus_value(&page, series))
        .unwrap_or(0.0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every zone's lease row.
fn leases(database_url: &str) -> HashMap<i64, Lease> {
    runtime().block_on(async {
        let store = Store::open(&DatabaseConfig::new(database_url))
            .await
            .expect("the test's database opens");
        let mut leases = HashMap::new();
        for zone in 0..16 {
            if let Some(lease) = store.lease(zone).await.expect("reads") {
                leases.insert(zone, lease);
            }
        }
        store.close().await;
        leases
    })
}

/// Waits (at most `limit`) until `done` holds.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_stopped_shard_gives_its_leases_up() {
    let Some(redis) = redis_url(TEST) else {
        return;
    };
    let Some(database) = PostgresDatabase::create(TEST, "meridian_drain") else {
        return;
    };
    let cluster = cluster_name(TEST);
    let (mut first, first_http) =
        start_shard(1, 2, &database.url, &redis, &cluster, free_udp_address());
    let (_second, second_http) =
        start_shard(2, 2, &database.url, &redis, &cluster, free_udp_address());
    let held = || {
        (
            metric(first_http, "meridian_zones_held"),
            metric(second_http, "meridian_zones_held"),
        )
    };
    assert!(
        wait_for(Duration::from_secs(60), || {
            let (one, two) = held();
            one > 0.0 && two > 0.0 && one + two == 9.0
        }),
        "the shards share the nine zones: {:?}",
        held()
    );
    let before = leases(&database.url);
    let ours: Vec<(i64, i64)> = before
        .values()
        .filter(|lease| lease.holder == "1")
        .map(|lease| (lease.zone, lease.epoch))
        .collect();
    assert!(!ours.is_empty(), "shard 1 holds zones: {before:?}");

    // A planned stop.
    let pid = first.0.id().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    assert!(
        wait_for(Duration::from_secs(30), || matches!(
            first.0.try_wait(),
            Ok(Some(_))
        )),
        "shard 1 stops"
    );

    // Each of its leases was given up (expired at once), or is already its
    // peer's under a newer epoch: none is left running out its time.
    let after = leases(&database.url);
    for (zone, epoch) in &ours {
        let lease = &after[zone];
        let given_up = lease.holder == "1" && lease.epoch == *epoch && lease.expires_at_ms == 0;
        let taken_over = lease.holder == "2" && lease.epoch > *epoch;
        assert!(
            given_up || taken_over,
            "zone {zone} (shard 1's, epoch {epoch}) after the stop: {lease:?}"
        );
    }
    // And the peer takes every zone.
    assert!(
        wait_for(Duration::from_secs(30), || metric(
            second_http,
            "meridian_zones_held"
        ) == 9.0),
        "shard 2 holds the nine zones: {}",
        metric(second_http, "meridian_zones_held")
    );
}
