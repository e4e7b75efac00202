//! Two shards (two zones each) on a PostgreSQL of the test's own and the real
//! Redis (a cluster name of the test's own), under two dozen bots. PostgreSQL
//! is stopped at once, as a crash would (every connection cut), while they
//! play, and started again on the same port some seconds later: longer than
//! a lease lasts, so each shard stops simulating the zones it can no longer
//! be sure of (its `meridian_zones_held` falls to 0). Meanwhile each shard's
//! `/health` names `database` as down; afterwards both are healthy again
//! without being touched, every zone is held again (by whichever shard took
//! its lease first), every bot's avatar is simulated again, the checkpoints
//! that waited are written (the bots' rows move on), and every bot kept its
//! connection and went on receiving snapshots.
//!
//! Without initdb/postgres or Redis the test says it was skipped; under
//! `CI=true` it fails instead.

mod common;

use std::time::{Duration, Instant};

use common::cluster_load::{
    Cluster, ZONES_EACH, checkpointed_positions, snapshots_since, wait_for,
};
use common::private_services::PrivatePostgres;
use common::services::skipped;

const TEST: &str = "cluster_survives_postgres_restart";

const BOTS: usize = 24;

/// How long PostgreSQL stays away: past a lease's 5 s.
const OUTAGE: Duration = Duration::from_secs(7);

fn redis_url() -> Option<String> {
    let url = std::env::var("MERIDIAN_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    let address = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("redis://host:port/");
    if std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err() {
        skipped(&format!("{TEST}: cannot reach Redis at {url}"));
        return None;
    }
    Some(url)
}

#[test]
fn the_cluster_carries_on_across_a_postgres_restart() {
    let Some(redis_url) = redis_url() else {
        return;
    };
    let Some(mut postgres) = PrivatePostgres::start(TEST) else {
        return;
    };
    let database_url = postgres.url();
    let cluster_name = format!("test-postgres-restart-{}", std::process::id());
    let cluster = Cluster::start(&database_url, &redis_url, &cluster_name);
    for (ok, health) in cluster.health() {
        assert!(ok, "healthy at the start: {health}");
    }

    let accounts = format!("pgrestart{}", std::process::id());
    let swarm = cluster.swarm(
        &accounts,
        BOTS,
        Duration::from_secs(8),
        Duration::from_secs(40),
    );
    // Every bot is in, and checkpointed, before PostgreSQL goes away (the
    // ramp-up is 8 s).
    std::thread::sleep(Duration::from_secs(11).saturating_sub(swarm.started.elapsed()));
    let before = checkpointed_positions(&database_url, &accounts, BOTS);
    let simulated = || cluster.metric("meridian_avatars").iter().sum::<f64>();
    println!("avatars simulated before the outage: {}", simulated());

    let killed_at = Instant::now();
    postgres.kill();
    let degraded = wait_for(Duration::from_secs(10), || {
        cluster.health().iter().all(|(ok, health)| {
            !ok && health["database"]["status"] == "down"
                && health["failing"]
                    .as_array()
                    .is_some_and(|failing| failing.iter().any(|part| part == "database"))
        })
    });
    assert!(
        degraded.is_some(),
        "both shards say the database is down: {:?}",
        cluster.health()
    );
    // No lease can be renewed: each shard stops simulating its zones before
    // they lapse (a lease lasts 5 s; the outage is longer).
    let mut fewest_held = cluster.zones_held();
    while killed_at.elapsed() < OUTAGE {
        for (fewest, held) in fewest_held.iter_mut().zip(cluster.zones_held()) {
            *fewest = fewest.min(held);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        fewest_held,
        [0.0, 0.0],
        "each shard gave up its zones when it could not renew their leases"
    );
    postgres.start_again();
    let restarted_at = Instant::now();

    let healthy = wait_for(Duration::from_secs(30), || {
        cluster.health().iter().all(|(ok, _)| *ok)
    });
    assert!(
        healthy.is_some(),
        "both shards are healthy again: {:?}",
        cluster.health()
    );
    // Each zone goes to whichever shard takes its lease first (a shard also
    // backs up the other's zones), so the split may differ from the start.
    let all_zones: f64 = ZONES_EACH.iter().sum();
    let zones_back = wait_for(Duration::from_secs(30), || {
        cluster.zones_held().iter().sum::<f64>() == all_zones
    });
    assert!(
        zones_back.is_some(),
        "every zone is held again: {:?}",
        cluster.zones_held()
    );
    println!(
        "PostgreSQL was away {:?}; both shards healthy {:?} and every zone held {:?} after its restart: {:?}",
        restarted_at - killed_at,
        healthy.unwrap_or_default(),
        zones_back.unwrap_or_default(),
        cluster.zones_held()
    );

    // Every player is simulated again (each once).
    let everyone = wait_for(Duration::from_secs(30), || simulated() == BOTS as f64);
    assert!(
        everyone.is_some(),
        "every bot's avatar is simulated again: {} of {BOTS} ({:?} per shard)",
        simulated(),
        cluster.metric("meridian_avatars")
    );

    // The checkpoints that waited, and the ones after, reach the database:
    // the walking bots' rows move on from where they were before the outage.
    let moved = |after: &[Option<(f64, f64)>]| {
        before
            .iter()
            .zip(after)
            .filter(|(before, after)| before.is_some() && after.is_some() && before != after)
            .count()
    };
    let mut after = Vec::new();
    // Nothing was written while the database was down, so a row that
    // changed was written after the restart; a few are asked for (some bots
    // stand still, some may be stuck against an element).
    let written = wait_for(Duration::from_secs(30), || {
        after = checkpointed_positions(&database_url, &accounts, BOTS);
        moved(&after) >= BOTS / 6
    });
    assert!(
        written.is_some(),
        "checkpoints are written after the restart: {} of {BOTS} rows moved (before {before:?}, after {after:?})",
        moved(&after)
    );
    let pending = cluster.metric("meridian_checkpoint_rows_pending");
    println!("checkpoint rows pending after the restart: {pending:?}");

    let swarm_started = swarm.started;
    let report = swarm.report();
    assert_eq!(
        (report.connected, report.failed, report.dropped),
        (BOTS, 0, 0),
        "every bot got in and none lost its connection: {:?}",
        report.errors
    );
    assert_eq!(report.decode_errors, 0);
    // From two seconds after the restart to the end (about 25 s): at least a
    // second's worth of snapshots per bot at 20 Hz, halved for a busy machine.
    let after_restart = snapshots_since(
        &report,
        swarm_started,
        restarted_at + Duration::from_secs(2),
    );
    assert!(
        after_restart >= BOTS as u64 * 10,
        "the bots went on receiving snapshots after the restart: {after_restart} ({:?})",
        report.timeline
    );
    drop(cluster);
    drop(postgres);
}
