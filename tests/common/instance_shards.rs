//! Two cluster shards on the real PostgreSQL (a database of the test's own)
//! and Redis, for the tests of instances placed through the ledger: who
//! holds a room's lease, joins asked of a given shard, accounts and spaces.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meridian_persistence::{DatabaseConfig, InstanceLease, InstanceRoom, Store};

use super::api;
use super::services::PostgresDatabase;
use super::shard_link::{cluster_name, free_udp_address, redis_url, start_shard};
use super::{Joined, Server};

/// Two shards of one cluster.
pub(crate) struct TwoShards {
    pub(crate) shards: Vec<(Server, SocketAddr)>,
    pub(crate) database: PostgresDatabase,
    /// The Redis they share, and their cluster's name in it.
    pub(crate) redis: String,
    pub(crate) cluster: String,
}

impl TwoShards {
    /// Starts shard 1, then shard 2; None (said on stderr) without
    /// PostgreSQL or Redis, outside CI.
    pub(crate) fn start(test: &str) -> Option<Self> {
        let redis = redis_url(test)?;
        let database = PostgresDatabase::create(test, "meridian_instances")?;
        let cluster = cluster_name(test);
        let mut shards = Vec::new();
        for id in 1..=2 {
            shards.push(start_shard(
                id,
                2,
                &database.url,
                &redis,
                &cluster,
                free_udp_address(),
            ));
        }
        Some(Self {
            shards,
            database,
            redis,
            cluster,
        })
    }

    /// Shard `id`'s HTTP address (1-based).
    pub(crate) fn http(&self, id: usize) -> SocketAddr {
        self.shards[id - 1].1
    }

    /// The lease of room 1 of `space`, as the ledger has it now.
    pub(crate) async fn lease(&self, space: i64) -> Option<InstanceLease> {
        {
            let store = Store::open(&DatabaseConfig::new(&self.database.url))
                .await
                .expect("the test's database opens");
            let lease = store
                .instance_lease(InstanceRoom {
                    space_id: space,
                    room_number: 1,
                })
                .await
                .expect("reads");
            store.close().await;
            lease
        }
    }

    /// Where `account` was last checkpointed in `space`.
    pub(crate) async fn saved_position(&self, username: &str, space: i64) -> Option<(f64, f64)> {
        {
            let store = Store::open(&DatabaseConfig::new(&self.database.url))
                .await
                .expect("the test's database opens");
            let account = store
                .account_by_username(username)
                .await
                .expect("the account exists");
            let row = store.character(account.id, space).await.expect("reads");
            store.close().await;
            row.map(|row| (row.x, row.y))
        }
    }
}

/// A runtime for a blocking call.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Signs `username` up through `shard` and returns its access token.
pub(crate) async fn account(shard: SocketAddr, username: &str) -> String {
    api::sign_up(shard, username, super::TEST_PASSWORD).await
}

/// The caller creates a space through `shard`; its id.
pub(crate) async fn space(shard: SocketAddr, access: &str, name: &str) -> i64 {
    let (status, created) = api::create_space(shard, access, name).await;
    assert_eq!(status, 200, "{created}");
    created["spaceId"].as_i64().expect("space id")
}

/// One join of `space` asked of `shard`, not followed: the status and body.
pub(crate) async fn join_once(
    shard: SocketAddr,
    access: &str,
    space: i64,
) -> (u16, serde_json::Value) {
    join_with(shard, access, space, "{}").await
}

/// One join of `space` asked of `shard` with `body`.
async fn join_with(
    shard: SocketAddr,
    access: &str,
    space: i64,
    body: &str,
) -> (u16, serde_json::Value) {
    api::call(
        shard,
        "POST",
        &format!("/api/v1/space/{space}/join"),
        Some(body),
        Some(access),
    )
    .await
}

/// A join of `space` asked of `shard` and followed to the gateway a 421
/// names (as loadbot does): the answer, and the HTTP address of the shard
/// that minted the token (its `gateway`).
pub(crate) async fn join(shard: SocketAddr, access: &str, space: i64) -> (Joined, SocketAddr) {
    let (mut asked, mut body) = (shard, "{}");
    for _ in 0..4 {
        let (status, answer) = join_with(asked, access, space, body).await;
        let gateway: Option<SocketAddr> = answer["gateway"]
            .as_str()
            .and_then(|text| text.parse().ok());
        match (status, gateway) {
            (200, Some(gateway)) => {
                let mut joined = Joined::parse(&answer.to_string());
                joined.access_token = access.to_owned();
                return (joined, gateway);
            }
            (421, Some(gateway)) => (asked, body) = (gateway, r#"{"placed":true}"#),
            _ => panic!("join of {space} through {asked}: {status} {answer}"),
        }
    }
    panic!("join of {space} sent on more than 4 times")
}

/// Waits (at most `limit`) until `done` holds; how long it took.
pub(crate) fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
