//! The dashboard of a cluster: two `meridian serve` shards share a world of
//! 3 × 3 zones through the real PostgreSQL and Redis. Each shard's
//! `GET /api/v1/admin/dashboard` names itself, marks the zones it simulates
//! `here` (as many as its `meridian_zones_held`) and every other zone as the
//! other shard's, so the two maps agree on who owns what.
//!
//! Without PostgreSQL or Redis the test says it was skipped; under `CI=true`
//! it fails instead.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::api::{call, log_in};
use common::create_admin;
use common::services::PostgresDatabase;
use common::shard_link::{cluster_name, free_udp_address, redis_url, start_shard};
use serde_json::Value;

/// Zone id → (owner, owner shard) on one shard's dashboard.
fn owners(dashboard: &Value) -> BTreeMap<u64, (String, Option<u64>)> {
    dashboard["world"]["zones"]
        .as_array()
        .expect("zones")
        .iter()
        .map(|zone| {
            (
                zone["id"].as_u64().expect("id"),
                (
                    zone["owner"].as_str().expect("owner").to_owned(),
                    zone["ownerShard"].as_u64(),
                ),
            )
        })
        .collect()
}

async fn dashboard(shard: SocketAddr, token: &str) -> Value {
    let (status, answer) = call(shard, "GET", "/api/v1/admin/dashboard", None, Some(token)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn zones_held(shard: SocketAddr) -> f64 {
    let text = loadbot::http::get(shard, "/metrics")
        .await
        .expect("/metrics");
    text.lines()
        .find_map(|line| line.strip_prefix("meridian_zones_held "))
        .and_then(|value| value.parse().ok())
        .expect("meridian_zones_held")
}

#[test]
fn each_shards_dashboard_names_the_owner_of_every_zone() {
    let test = "dashboard_names_each_zones_shard";
    let Some(redis) = redis_url(test) else {
        return;
    };
    let Some(database) = PostgresDatabase::create(test, "dashboard_shards") else {
        return;
    };
    create_admin(&database.url, "boss", "boss password");
    let cluster = cluster_name(test);
    let shards: Vec<_> = (1..=2)
        .map(|id| start_shard(id, 2, &database.url, &redis, &cluster, free_udp_address()))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // One secret: an access token from one shard is good on the other.
        let token = log_in(shards[0].1, "boss", "boss password").await;

        // Once every zone is placed and announced, each map has all nine
        // with an owner and the two agree.
        let deadline = Instant::now() + Duration::from_secs(60);
        let (first, second) = loop {
            let first = dashboard(shards[0].1, &token).await;
            let second = dashboard(shards[1].1, &token).await;
            let (one, two) = (owners(&first), owners(&second));
            let settled = [&one, &two]
                .iter()
                .all(|map| map.len() == 9 && map.values().all(|(owner, _)| owner != "nobody"));
            let held = (zones_held(shards[0].1).await, zones_held(shards[1].1).await);
            let here = |map: &BTreeMap<u64, (String, Option<u64>)>| {
                map.values().filter(|(owner, _)| owner == "here").count() as f64
            };
            if settled && held.0 + held.1 == 9.0 && (here(&one), here(&two)) == held {
                break (first, second);
            }
            assert!(
                Instant::now() < deadline,
                "never settled: shard 1 {one:?}, shard 2 {two:?}, held {held:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(first["world"]["shard"], 1);
        assert_eq!(second["world"]["shard"], 2);
        let (one, two) = (owners(&first), owners(&second));
        for zone in 0..9 {
            match (&one[&zone], &two[&zone]) {
                ((here, Some(1)), (there, Some(1))) if here == "here" && there == "shard" => {}
                ((there, Some(2)), (here, Some(2))) if here == "here" && there == "shard" => {}
                other => panic!("zone {zone}: shard 1 and shard 2 say {other:?}"),
            }
        }
        // Both shards hold some of the world.
        assert!(one.values().any(|(owner, _)| owner == "here"), "{one:?}");
        assert!(two.values().any(|(owner, _)| owner == "here"), "{two:?}");
    });
}
