//! Two shards (two zones each) on the real PostgreSQL (a database of the
//! test's own) and a Redis of the test's own, under two dozen bots. Redis is
//! killed while they play and started again, empty, on the same port a few
//! seconds later. Meanwhile each shard's `/health` names `redis` as down;
//! afterwards both are healthy again without being touched, each shard's
//! signed entry is back in Redis, the failures and the reconnection are
//! counted on the metrics page, every zone is still held, and every bot kept
//! its connection and went on receiving snapshots.
//!
//! Without redis-server or PostgreSQL the test says it was skipped; under
//! `CI=true` it fails instead.

mod common;

use std::time::{Duration, Instant};

use common::cluster_load::{Cluster, ZONES_EACH, snapshots_since, wait_for};
use common::private_services::PrivateRedis;
use common::services::PostgresDatabase;
use meridian_shard_manager::ShardId;
use meridian_shard_manager::adapters::redis::RedisHints;

const TEST: &str = "cluster_survives_redis_restart";

const BOTS: usize = 24;

/// How long Redis stays away.
const OUTAGE: Duration = Duration::from_secs(5);

#[test]
fn the_cluster_carries_on_across_a_redis_restart() {
    let Some(mut redis) = PrivateRedis::start(TEST) else {
        return;
    };
    let Some(database) = PostgresDatabase::create(TEST, "meridian_redis_restart") else {
        return;
    };
    let cluster_name = format!("test-redis-restart-{}", std::process::id());
    let cluster = Cluster::start(&database.url, &redis.url(), &cluster_name);
    for (ok, health) in cluster.health() {
        assert!(ok, "healthy at the start: {health}");
        assert_eq!(health["redis"]["status"], "up", "{health}");
    }

    let accounts = format!("redisrestart{}", std::process::id());
    let swarm = cluster.swarm(
        &accounts,
        BOTS,
        Duration::from_secs(8),
        Duration::from_secs(30),
    );
    // Every bot is in before Redis goes away (the ramp-up is 8 s).
    std::thread::sleep(Duration::from_secs(10).saturating_sub(swarm.started.elapsed()));

    let killed_at = Instant::now();
    redis.kill();
    let degraded = wait_for(Duration::from_secs(10), || {
        cluster.health().iter().all(|(ok, health)| {
            !ok && health["redis"]["status"] == "down"
                && health["failing"]
                    .as_array()
                    .is_some_and(|failing| failing.iter().any(|part| part == "redis"))
        })
    });
    assert!(
        degraded.is_some(),
        "both shards say Redis is down: {:?}",
        cluster.health()
    );
    std::thread::sleep(OUTAGE.saturating_sub(killed_at.elapsed()));
    redis.start_again();
    let restarted_at = Instant::now();

    let healthy = wait_for(Duration::from_secs(30), || {
        cluster.health().iter().all(|(ok, _)| *ok)
    });
    assert!(
        healthy.is_some(),
        "both shards are healthy again: {:?}",
        cluster.health()
    );
    println!(
        "Redis was away {:?}; both shards healthy {:?} after its restart",
        restarted_at - killed_at,
        healthy.unwrap_or_default()
    );

    // The restarted Redis is empty: the shards wrote their entries again.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hints = runtime
        .block_on(RedisHints::connect(&redis.url(), &cluster_name))
        .expect("the restarted Redis answers");
    let entries_back = wait_for(Duration::from_secs(10), || {
        (1..=2).all(|shard| {
            runtime
                .block_on(hints.shard_hint(ShardId(shard)))
                .is_ok_and(|entry| entry.is_some())
        })
    });
    assert!(
        entries_back.is_some(),
        "both shard entries are back in Redis"
    );

    let errors = cluster.metric("meridian_redis_errors_total");
    let reconnects = cluster.metric("meridian_redis_reconnects_total");
    assert!(
        errors.iter().all(|count| *count > 0.0),
        "each shard counted failed Redis operations: {errors:?}"
    );
    assert!(
        reconnects.iter().all(|count| *count >= 1.0),
        "each shard counted its reconnection: {reconnects:?}"
    );
    assert_eq!(cluster.zones_held(), ZONES_EACH, "every zone is still held");

    let swarm_started = swarm.started;
    let report = swarm.report();
    assert_eq!(
        (report.connected, report.failed, report.dropped),
        (BOTS, 0, 0),
        "every bot got in and none lost its connection: {:?}",
        report.errors
    );
    assert_eq!(report.decode_errors, 0);
    // From two seconds after the restart to the end (about 20 s): at least a
    // second's worth of snapshots per bot at 20 Hz, halved for a busy machine.
    let after = snapshots_since(
        &report,
        swarm_started,
        restarted_at + Duration::from_secs(2),
    );
    assert!(
        after >= BOTS as u64 * 10,
        "the bots went on receiving snapshots after the restart: {after} ({:?})",
        report.timeline
    );
    drop(cluster);
    drop(redis);
    drop(database);
}
