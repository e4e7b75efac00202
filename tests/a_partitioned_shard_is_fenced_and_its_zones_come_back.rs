//! Three `meridian serve` shards as three hosts, each in a network namespace
//! of the test's own, sharing one world of 3 × 3 zones through the real
//! PostgreSQL (a database of the test's own) and the real Redis (a cluster
//! name of the test's own); loadbot plays from a fourth namespace. Then one
//! shard's host is cut off from everything for 10 s (a partition) and healed.
//!
//! What is leased, and so what the partition is about, are the zones of the
//! world: instances of other spaces are not placed across shards yet.
//!
//! The network: a bridge in the root namespace (its address is "the host
//! side"), one veth pair per namespace, and `tc netem delay 20ms 5ms` on each
//! namespace's side, so every packet a host sends waits 20 ± 5 ms (shard to
//! shard and bots to shard one way 20 ms; to PostgreSQL and Redis 20 ms one
//! way). A kernel without netem (`CONFIG_NET_SCH_NETEM` unset, as on the
//! project's machine) gets no delay, and the test says so. PostgreSQL and
//! Redis listen on 127.0.0.1 of the root namespace only: a TCP forwarder of
//! the test's own listens on the bridge's address and relays to them (a
//! thread of the test's own needs neither iptables, absent here, nor
//! `route_localnet`, and it goes away with the test). The partition is
//! silent, as a real one is: the root end of the shard's veth goes down, so
//! nothing reaches the shard's host and what it sends is dropped (no
//! carrier), with no error on its sockets; the connections PostgreSQL and
//! Redis hold for that shard stay open meanwhile. Each shard host has a
//! second veth, point to point to the root namespace, that only the test uses:
//! its metrics listen there (`--metrics-address`), so the test reads them
//! during the partition too (an out-of-band management link). The bots run in
//! a process of their own, this test binary started again with `ip netns
//! exec` in the bots' namespace.
//!
//! Checked:
//! - **Fencing.** The cut shard stops simulating (its `meridian_zones_held`
//!   and `meridian_avatars`, read over its management link, fall to 0) before
//!   anyone else holds its zones: over the whole run no poll ever sees more
//!   than nine zones simulated at once (the others are read first, so a sum
//!   above nine would be two shards simulating one zone at the same moment).
//!   After the heal its old epochs are refused: the zones stay with the
//!   others' newer epochs and it holds none of them.
//! - **Its zones come back** on the other shards within a lease's time plus
//!   2 s of the cut, read from the ledger's lease rows.
//! - **No player lost or duplicated.** After the heal every bot is simulated
//!   once (the shards' avatars add up to their connected clients, which are
//!   the bots); at the end every bot that joined has exactly one character row
//!   and one owner row, and every owner row names a zone under an epoch its
//!   lease has reached.
//!
//! The figures (handoffs, handoff freezes, the bots' longest snapshot gap,
//! reconnections, when each step happened) are printed.
//!
//! Needs root, `ip` and `tc` (iproute2), PostgreSQL and Redis;
//! without one the test says it was SKIPPED and why; under `CI=true` it fails
//! instead. It stops itself (cleaning up) after [`HARD_LIMIT`].

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{Forwarder, Host, Network, missing_piece, service_address, teardown, through};
use common::services::{PostgresDatabase, skipped};
use common::shard_link::{cluster_name, redis_url};
use common::{Server, config_file, read_start_up, transport_override};
use loadbot::{BehaviourKind, Report, SwarmConfig};
use meridian_persistence::{DatabaseConfig, Lease, Store};
use meridian_shard_manager::LeaseTiming;

const TEST: &str = "a_partitioned_shard_is_fenced_and_its_zones_come_back";

/// The link and token secret the shards share.
const SECRET: &str = "a shared secret for the partition test's shards only";

/// Bots, spread over the world (uniform spawn).
const BOTS: usize = 90;

/// How long the cut shard's host is off the network.
const PARTITION: Duration = Duration::from_secs(10);

/// The shard that is cut off (1-based); its zones are `z % 3 == 2`.
const CUT: usize = 3;

/// The world: 90 m, 3 × 3 zones of 30 m.
const WORLD: u32 = 90;
const ZONE_SIZE: f32 = 30.0;
const ZONES: i64 = 9;

/// The test stops itself, cleaning up, after this long.
const HARD_LIMIT: Duration = Duration::from_secs(420);

/// Each shard host's ports, on its own address.
const GAME_PORT: u16 = 4433;
const HTTP_PORT: u16 = 8080;
const LINK_PORT: u16 = 7000;
const METRICS_PORT: u16 = 9090;

// ---------------------------------------------------------------------------
// The shards

/// One shard host's `meridian serve`.
struct Shard {
    http: SocketAddr,
    /// Its metrics page, on its management link.
    metrics: SocketAddr,
    server: Server,
}

fn start_shard(
    id: usize,
    host: &Host,
    database_url: &str,
    redis_url: &str,
    cluster: &str,
    config: &str,
) -> Shard {
    let game = host.socket(GAME_PORT).to_string();
    let http = host.socket(HTTP_PORT).to_string();
    let link = host.socket(LINK_PORT).to_string();
    let metrics = SocketAddr::from((host.management.expect("a shard host"), METRICS_PORT));
    let metrics_address = metrics.to_string();
    let id = id.to_string();
    let world = WORLD.to_string();
    let extra = [
        "--config",
        config,
        "--game-address",
        &game,
        "--http-address",
        &http,
        "--link-address",
        &link,
        "--metrics-address",
        &metrics_address,
        "--world-size",
        &world,
        "--database-url",
        database_url,
        "--zones",
        "3x3",
        "--shard-id",
        &id,
        "--shards",
        "3",
        "--redis-url",
        redis_url,
        "--cluster-name",
        cluster,
    ];
    let mut child = Command::new("ip")
        .args(["netns", "exec", &host.namespace])
        .arg(env!("CARGO_BIN_EXE_meridian"))
        .arg("serve")
        .args(extra)
        .args(transport_override(&extra))
        .env("MERIDIAN_TOKEN_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip netns exec starts");
    // `ip netns exec` execs the command: this pid is meridian's.
    teardown().pids.push(child.id());
    let logs = child.stderr.take().expect("piped");
    let mut server = Server(child);
    let http = read_start_up(&mut server, logs, common::START_UP_LIMIT);
    Shard {
        http,
        metrics,
        server,
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        // Its guard kills it next: the teardown need not.
        let pid = self.server.0.id();
        teardown().pids.retain(|other| *other != pid);
    }
}

/// What a shard's metrics page says, read over its management link.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    zones_held: f64,
    avatars: f64,
    clients: f64,
    handoffs: f64,
}

impl Shard {
    fn page(&self) -> Option<String> {
        runtime().block_on(async {
            tokio::time::timeout(
                Duration::from_secs(2),
                loadbot::http::get(self.metrics, "/metrics"),
            )
            .await
            .ok()?
            .ok()
        })
    }

    fn read(&self) -> Option<Reading> {
        let page = self.page()?;
        let value = |series| loadbot::http::prometheus_value(&page, series).unwrap_or(0.0);
        Some(Reading {
            zones_held: value("meridian_zones_held"),
            avatars: value("meridian_avatars"),
            clients: value("meridian_connected_clients"),
            handoffs: value("meridian_handoffs_total"),
        })
    }
}

/// The shards' readings, `first` read first (`None` for a shard that did not
/// answer).
fn read_all(shards: &[Shard], first: &[usize]) -> Vec<Option<Reading>> {
    let mut readings = vec![None; shards.len()];
    let order = first
        .iter()
        .copied()
        .chain((0..shards.len()).filter(|index| !first.contains(index)));
    for index in order {
        readings[index] = shards[index].read();
    }
    readings
}

fn field(readings: &[Option<Reading>], get: fn(&Reading) -> f64) -> Vec<f64> {
    readings
        .iter()
        .map(|reading| reading.as_ref().map_or(f64::NAN, get))
        .collect()
}

// ---------------------------------------------------------------------------
// The bots' host: this test binary again, inside the bots' namespace

/// Where the bots' process finds its orders (JSON).
const BOTS_PLAN: &str = "MERIDIAN_PARTITION_TEST_BOTS";

/// The bots' process, started in the bots' namespace with `ip netns exec`
/// (so every socket it opens is that host's): this test binary running
/// [`bots_of_the_partition_test`]. Killed by the teardown if the test fails.
struct Bots {
    process: std::process::Child,
    report: std::path::PathBuf,
}

impl Bots {
    fn start(
        host: &Host,
        servers: &[SocketAddr],
        accounts: &str,
        ramp_up: Duration,
        stay: Duration,
    ) -> Self {
        let report = std::env::temp_dir().join(format!(
            "meridian_partition_bots_{}.json",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&report);
        let plan = serde_json::json!({
            "servers": servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "accounts": accounts,
            "ramp_up_ms": ramp_up.as_millis() as u64,
            "stay_ms": stay.as_millis() as u64,
            "report": report.display().to_string(),
        });
        let test_binary = std::env::current_exe().expect("the test binary");
        let process = Command::new("ip")
            .args(["netns", "exec", &host.namespace])
            .arg(test_binary)
            .args([
                "--exact",
                "bots_of_the_partition_test",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(BOTS_PLAN, plan.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("ip netns exec starts");
        teardown().pids.push(process.id());
        Self { process, report }
    }

    /// Waits (at most `limit`) for the bots to finish; their report.
    fn report(&mut self, limit: Duration) -> Report {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.process.try_wait().expect("waits") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the bots did not finish within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let pid = self.process.id();
        teardown().pids.retain(|other| *other != pid);
        assert!(status.success(), "the bots' process failed: {status}");
        let json = std::fs::read_to_string(&self.report).expect("the bots wrote their report");
        let _ = std::fs::remove_file(&self.report);
        serde_json::from_str(&json).expect("a loadbot report")
    }
}

/// The bots' process of
/// [`a_partitioned_shard_is_fenced_and_its_zones_come_back`], which starts
/// it inside its bots' namespace with its orders in `BOTS_PLAN`; started any
/// other way it does nothing.
#[test]
#[ignore = "the bots' process of the partition test, started by that test"]
fn bots_of_the_partition_test() {
    let Ok(plan) = std::env::var(BOTS_PLAN) else {
        eprintln!("{BOTS_PLAN} is not set: nothing to do (the partition test starts this)");
        return;
    };
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("JSON orders");
    let servers = plan["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|server| {
            server
                .as_str()
                .and_then(|text| text.parse().ok())
                .expect("a socket address")
        })
        .collect();
    let millis = |key: &str| Duration::from_millis(plan[key].as_u64().expect("milliseconds"));
    let config = SwarmConfig {
        servers,
        metrics: Vec::new(),
        zone_size: Some(ZONE_SIZE),
        reconnect: true,
        accounts: plan["accounts"].as_str().expect("accounts").into(),
        bots: BOTS,
        duration: millis("stay_ms"),
        ramp_up: millis("ramp_up_ms"),
        behaviours: vec![
            BehaviourKind::RandomWalk,
            BehaviourKind::RandomWalk,
            BehaviourKind::Cross,
        ],
        endpoints: 2,
        tick_rate_hz: 20,
        seed: 15,
        progress: false,
        voice: loadbot::VoiceLoad::default(),
    };
    let report = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(loadbot::run(config))
        .unwrap_or_else(|error| panic!("the swarm starts: {error}"));
    let path = plan["report"].as_str().expect("a report path");
    std::fs::write(path, serde_json::to_string(&report).expect("JSON")).expect("writes");
}

// ---------------------------------------------------------------------------
// The ledger, read directly

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// Every zone's lease row.
async fn leases(store: &Store) -> HashMap<i64, Lease> {
    let mut leases = HashMap::new();
    for zone in 0..ZONES {
        if let Ok(Some(lease)) = store.lease(zone).await {
            leases.insert(zone, lease);
        }
    }
    leases
}

/// Waits (at most `limit`) until `done` holds; how long it took.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// A histogram's count, and the upper bound of the bucket its largest
/// sample fell in, from a metrics page.
fn histogram_largest(page: &str, name: &str) -> (f64, f64) {
    let buckets = loadbot::http::histogram_buckets(page, name);
    let count = buckets.last().map_or(0.0, |&(_, count)| count);
    let largest = buckets
        .iter()
        .find(|&&(_, below)| below >= count)
        .map_or(0.0, |&(bound, _)| bound);
    (count, largest)
}

// ---------------------------------------------------------------------------

#[test]
fn a_partitioned_shard_is_fenced_and_its_zones_come_back() {
    if let Some(why) = missing_piece() {
        skipped(&format!("{TEST}: {why}"));
        return;
    }
    let Some(redis) = redis_url(TEST) else {
        return;
    };
    let Some(database) = PostgresDatabase::create(TEST, "meridian_partition") else {
        return;
    };
    // The hard limit: tear everything down and stop the process.
    std::thread::spawn(|| {
        std::thread::sleep(HARD_LIMIT);
        eprintln!("{TEST}: still running after {HARD_LIMIT:?}: tearing down and failing");
        teardown().run();
        std::process::exit(101);
    });
    let network = match Network::build() {
        Ok(network) => network,
        Err(why) => {
            teardown().run();
            skipped(&format!("{TEST}: cannot build the test's network: {why}"));
            return;
        }
    };
    if !network.delayed {
        eprintln!(
            "{TEST}: this kernel has no netem (CONFIG_NET_SCH_NETEM): the hosts run WITHOUT the 20 ms ± 5 ms delay"
        );
    }
    let postgres_at = service_address(&database.url, 5432);
    let redis_at = service_address(&redis, 6379);
    let forwarded_postgres = SocketAddr::from((network.gateway, postgres_at.port()));
    let forwarded_redis = SocketAddr::from((network.gateway, redis_at.port()));
    let _forwarder = Forwarder::start(&[
        (forwarded_postgres, postgres_at),
        (forwarded_redis, redis_at),
    ])
    .expect("the forwarder listens on the bridge");
    let shard_database = through(&database.url, forwarded_postgres);
    let shard_redis = through(&redis, forwarded_redis);

    // All the bots come from one address: the login limits are raised as for
    // a load test.
    let config = config_file(
        "[serve]\nspawn = \"uniform\"\n\
         login_attempts_per_account_per_minute = 1000\n\
         login_attempts_per_address_per_minute = 100000\n\
         http_max_connections_per_address = 4096\n\
         [netcode]\nmax_pending_per_address = 1024\n",
    );
    let config_path = config.display().to_string();
    let cluster = cluster_name(TEST);
    // One at a time: the first seeds the world, the others find it.
    let shards: Vec<Shard> = network
        .shards
        .iter()
        .enumerate()
        .map(|(index, host)| {
            start_shard(
                index + 1,
                host,
                &shard_database,
                &shard_redis,
                &cluster,
                &config_path,
            )
        })
        .collect();
    let zones_held = |readings: &[Option<Reading>]| field(readings, |r| r.zones_held);
    let settled = wait_for(Duration::from_secs(60), || {
        zones_held(&read_all(&shards, &[])) == [3.0, 3.0, 3.0]
    });
    assert!(
        settled.is_some(),
        "each shard holds its column: {:?}",
        read_all(&shards, &[])
    );

    // The bots, from their own host.
    let accounts = format!("partition{}", std::process::id());
    let ramp_up = Duration::from_secs(15);
    let stay = Duration::from_secs(55);
    let swarm_started = Instant::now();
    let mut swarm = Bots::start(
        &network.bots,
        &shards.iter().map(|shard| shard.http).collect::<Vec<_>>(),
        &accounts,
        ramp_up,
        stay,
    );
    // Everyone is in and simulated once before the cut.
    std::thread::sleep(ramp_up.saturating_sub(swarm_started.elapsed()));
    let everyone = |readings: &[Option<Reading>]| {
        let avatars: f64 = field(readings, |r| r.avatars).iter().sum();
        let clients: f64 = field(readings, |r| r.clients).iter().sum();
        avatars == BOTS as f64 && clients == BOTS as f64
    };
    let all_in = wait_for(Duration::from_secs(30), || {
        everyone(&read_all(&shards, &[]))
    });
    let before = read_all(&shards, &[]);
    assert!(
        all_in.is_some(),
        "every bot is connected and simulated once before the cut: {before:?}"
    );
    let ledger = runtime();
    let store = ledger
        .block_on(Store::open(&DatabaseConfig::new(&database.url)))
        .expect("the test's database opens");
    let leases_before = ledger.block_on(leases(&store));
    let holder = CUT.to_string();
    let cut_zones: HashMap<i64, i64> = leases_before
        .values()
        .filter(|lease| lease.holder == holder)
        .map(|lease| (lease.zone, lease.epoch))
        .collect();
    assert_eq!(
        cut_zones.len(),
        3,
        "shard {CUT} holds its column before the cut: {leases_before:?}"
    );
    println!("before the cut (bots in after {all_in:?}): {before:?}");

    // The partition.
    let cut_host = &network.shards[CUT - 1];
    let cut_index = CUT - 1;
    let others: Vec<usize> = (0..shards.len())
        .filter(|index| *index != cut_index)
        .collect();
    let cut_at = Instant::now();
    cut_host.cut().expect("the host is cut off");
    let mut most_simulated: f64 = 0.0;
    let mut fenced_after = None;
    let mut taken_after = None;
    let mut held_by_others_after = None;
    let mut takers: HashMap<i64, String> = HashMap::new();
    // When every bot was connected and simulated once again, after the cut
    // shard had stopped simulating.
    let mut everyone_back = None;
    let mut samples = Vec::new();
    while cut_at.elapsed() < PARTITION {
        // The others first: what they hold now they hold still when the cut
        // shard is read (nothing takes a zone from them meanwhile).
        let readings = read_all(&shards, &others);
        let at = cut_at.elapsed();
        let held = zones_held(&readings);
        most_simulated = most_simulated.max(held.iter().filter(|h| !h.is_nan()).sum());
        if let Some(cut) = readings[cut_index]
            && fenced_after.is_none()
            && cut.zones_held == 0.0
            && cut.avatars == 0.0
        {
            fenced_after = Some(at);
        }
        if fenced_after.is_some() && everyone_back.is_none() && everyone(&readings) {
            everyone_back = Some(at);
        }
        if held_by_others_after.is_none()
            && others.iter().map(|&index| held[index]).sum::<f64>() == ZONES as f64
        {
            held_by_others_after = Some(at);
        }
        let now = ledger.block_on(leases(&store));
        let taken = cut_zones.iter().all(|(zone, epoch)| {
            now.get(zone).is_some_and(|lease| {
                lease.holder != holder && lease.epoch > *epoch && lease.expires_at_ms > now_ms()
            })
        });
        if taken && taken_after.is_none() {
            taken_after = Some(cut_at.elapsed());
            for zone in cut_zones.keys() {
                takers.insert(*zone, now[zone].holder.clone());
            }
        }
        samples.push((at, held));
        std::thread::sleep(Duration::from_millis(100));
    }
    cut_host.heal().expect("the host is back");
    let healed_at = Instant::now();
    let lease_time = Duration::from_millis(LeaseTiming::default().ttl);
    println!(
        "partition of shard {CUT} for {:?}: it stopped simulating after {fenced_after:?}; \
         the ledger gave its zones to {takers:?} after {taken_after:?}; \
         the others simulated all nine after {held_by_others_after:?}; \
         at most {most_simulated} zones simulated at once",
        healed_at - cut_at
    );
    for (at, held) in samples.iter().step_by(5) {
        println!("  +{:.1} s: zones held {held:?}", at.as_secs_f64());
    }
    let fenced_after = fenced_after.expect("the cut shard stopped simulating during the partition");
    assert!(
        taken_after.is_some_and(|taken| taken <= lease_time + Duration::from_secs(2)),
        "the cut shard's zones are the others' in the ledger within the lease time ({lease_time:?}) + 2 s: {taken_after:?}"
    );
    assert!(
        held_by_others_after.is_some(),
        "the others simulate all nine zones during the partition"
    );
    assert!(
        held_by_others_after.is_some_and(|held| fenced_after <= held),
        "the cut shard stopped ({fenced_after:?}) before the others held all zones ({held_by_others_after:?})"
    );

    // After the heal: its old epochs are refused, and every bot is simulated
    // once again.
    let mut after_heal_most: f64 = 0.0;
    let mut cut_held_after_heal: f64 = 0.0;
    let settled_again = wait_for(Duration::from_secs(30), || {
        let readings = read_all(&shards, &others);
        let held = zones_held(&readings);
        after_heal_most = after_heal_most.max(held.iter().filter(|h| !h.is_nan()).sum());
        cut_held_after_heal = cut_held_after_heal.max(held[cut_index]);
        let all = everyone(&readings);
        if all && everyone_back.is_none() {
            everyone_back = Some(cut_at.elapsed());
        }
        healed_at.elapsed() > Duration::from_secs(3) && all
    });
    let after = read_all(&shards, &others);
    println!(
        "after the heal: every bot connected and simulated once again {everyone_back:?} after the cut; {after:?}"
    );
    most_simulated = most_simulated.max(after_heal_most);
    assert!(
        most_simulated <= ZONES as f64,
        "never more than nine zones simulated at once: {most_simulated}"
    );
    let leases_after = ledger.block_on(leases(&store));
    for (zone, epoch) in &cut_zones {
        let lease = &leases_after[zone];
        assert!(
            lease.holder != holder && lease.epoch > *epoch,
            "zone {zone} stays with a newer epoch after the heal (shard {CUT}'s was {epoch}): {lease:?}"
        );
    }
    assert_eq!(
        cut_held_after_heal, 0.0,
        "the cut shard simulates none of the zones after the heal"
    );
    assert!(
        settled_again.is_some(),
        "every bot is connected and simulated once after the heal: {after:?}"
    );

    // Figures from the shards' pages before the bots leave.
    let pages: Vec<String> = shards
        .iter()
        .map(|shard| shard.page().unwrap_or_default())
        .collect();
    let report = swarm.report(ramp_up + stay + Duration::from_secs(60));

    // The ledger at the end: one character and one owner row per bot.
    let space = ledger
        .block_on(store.ensure_space("plaza", WORLD as i32, WORLD as i32, 0))
        .expect("the hosted space");
    let mut characters = 0;
    for index in 0..BOTS {
        let username = loadbot::account::Credentials::for_bot(&accounts, index).username;
        let Ok(account) = ledger.block_on(store.account_by_username(&username)) else {
            continue;
        };
        if ledger
            .block_on(store.character(account.id, space))
            .expect("reads the character")
            .is_some()
        {
            characters += 1;
        }
    }
    let mut owners = Vec::new();
    for zone in 0..ZONES {
        owners.extend(ledger.block_on(store.owners_in(zone)).expect("reads"));
    }
    let leases_end = ledger.block_on(leases(&store));
    ledger.block_on(store.close());

    let handoffs: Vec<f64> = after
        .iter()
        .map(|reading| reading.map_or(0.0, |r| r.handoffs))
        .collect();
    println!(
        "figures: {BOTS} bots; handoffs per shard {handoffs:?} (before the cut {:?})",
        field(&before, |r| r.handoffs)
    );
    for (index, page) in pages.iter().enumerate() {
        let (freezes, largest_freeze) = histogram_largest(page, "meridian_handoff_frozen_seconds");
        let (crossings, largest_crossing) =
            histogram_largest(page, "meridian_crossing_to_snapshot_seconds");
        println!(
            "  shard {}: {freezes} handoff freezes, the largest <= {largest_freeze} s; \
             {crossings} crossings to a snapshot, the largest <= {largest_crossing} s",
            index + 1
        );
    }
    println!(
        "  loadbot: connected {}, failed {}, dropped {}, reconnects {}, back after reconnecting \
         p50 {:.0} / max {:.0} ms, longest gap between snapshots {:.0} ms (p99 {:.0} ms), \
         jumps {} (largest own step {:.1} m), decode errors {}",
        report.connected,
        report.failed,
        report.dropped,
        report.reconnects,
        report.back_after_ms.p50,
        report.back_after_ms.max,
        report.snapshot_interval_ms.max,
        report.snapshot_interval_ms.p99,
        report.jumps,
        report.own_step_m.max,
        report.decode_errors
    );
    println!(
        "  time to recover: zones back in the ledger {taken_after:?} and simulated {held_by_others_after:?} after the cut; \
         every bot connected and simulated once again {everyone_back:?} after the cut"
    );

    assert_eq!(
        (report.connected, report.failed),
        (BOTS, 0),
        "every bot got in: {:?}",
        report.errors
    );
    assert_eq!(report.decode_errors, 0);
    // A jump is a bot's own avatar moving farther between two snapshots of one
    // connection than 3.5 m/s allows over the ticks between them, plus 0.5 m.
    // Checkpoint loss accounts for none: a bot connected to another shard keeps
    // its connection, and its gateway attaches it again where the last frame
    // put it, not where a checkpoint did; a bot of the cut shard joins again
    // on a new connection, which measures from scratch. And were an avatar put
    // back where its checkpoint (at most 2 s old) put it, the cut leaves its
    // snapshots 4 s and more apart (the fencing time), which allows 14 m, more
    // than 2 s of walking. So any jump is an avatar moved for real.
    assert_eq!(
        report.jumps, 0,
        "no bot saw its own avatar jump (largest own step {:.1} m)",
        report.own_step_m.max
    );
    assert_eq!(
        characters, BOTS,
        "one character row for every bot that joined"
    );
    assert_eq!(
        owners.len(),
        BOTS,
        "one owner row for every bot that joined: {owners:?}"
    );
    for owner in &owners {
        let lease = &leases_end[&owner.zone];
        assert!(
            owner.epoch <= lease.epoch,
            "owner row {owner:?} names an epoch its zone's lease never reached: {lease:?}"
        );
    }
    drop(shards);
    drop(network);
}
