//! One cluster shard of a test's own (a PostgreSQL database and a Redis
//! cluster name of its own), and what a test needs to play another shard or
//! an attacker beside it: Redis, the link key, the shard's metrics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use loadbot::http;
use meridian_shard_manager::ShardId;
use meridian_shard_manager::adapters::redis::RedisHints;
use meridian_shard_manager::link_handshake::LinkKey;
use meridian_shard_manager::shard_entry::ShardEntry;

use super::services::skipped;
use super::{Server, start_server_env};

/// The cluster secret the test's shards are started with.
pub(crate) const SECRET: &str = "a shared secret for the shard link tests only, 32+ bytes";

/// The Redis the tests use (`MERIDIAN_TEST_REDIS_URL`, by default the local
/// one), or none: then `test` says it was skipped (and fails under CI).
pub(crate) fn redis_url(test: &str) -> Option<String> {
    let url = std::env::var("MERIDIAN_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    let address = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("redis://host:port/");
    if std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err() {
        skipped(&format!("{test}: cannot reach Redis at {url}"));
        return None;
    }
    Some(url)
}

/// A cluster name no other test run uses.
pub(crate) fn cluster_name(test: &str) -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{test}-{}-{}", std::process::id(), since_epoch.as_nanos())
}

/// Starts shard `id` of `shards` of `cluster`, its link on `link_address`;
/// returns it with its HTTP address.
pub(crate) fn start_shard(
    id: u32,
    shards: u32,
    database_url: &str,
    redis_url: &str,
    cluster: &str,
    link_address: SocketAddr,
) -> (Server, SocketAddr) {
    start_server_env(
        database_url,
        &[
            "--zones",
            "3x3",
            "--shard-id",
            &id.to_string(),
            "--shards",
            &shards.to_string(),
            "--redis-url",
            redis_url,
            "--cluster-name",
            cluster,
            "--link-address",
            &link_address.to_string(),
        ],
        &[("MERIDIAN_TOKEN_SECRET", SECRET)],
    )
}

/// A loopback UDP port free now.
pub(crate) fn free_udp_address() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free loopback port")
}

/// The cluster's hints in Redis, as any client of that Redis sees them.
pub(crate) async fn hints(redis_url: &str, cluster: &str) -> RedisHints {
    RedisHints::connect(redis_url, cluster)
        .await
        .expect("Redis answers")
}

/// The link key the shards use, as `meridian serve` derives it from
/// [`SECRET`] (HKDF-SHA256, as in `src/serve/keys.rs`), once `shard` has
/// announced its entry signed with it. A binary that does not sign its entry
/// gets the key too (and fails the test further on, where it matters).
pub(crate) async fn link_key(hints: &RedisHints, shard: ShardId) -> LinkKey {
    let key = LinkKey::new(&derived_link_key(SECRET.as_bytes()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(text)) = hints.shard_hint(shard).await
            && (!text.starts_with("v1 ")
                || ShardEntry::verify(&text, &key, shard, now_ms()).is_ok())
        {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "shard {} announced no entry signed with the cluster's link key",
        shard.0
    );
}

fn derived_link_key(secret: &[u8]) -> Vec<u8> {
    use ring::hkdf;
    struct Length;
    impl hkdf::KeyType for Length {
        fn len(&self) -> usize {
            32
        }
    }
    let mut key = vec![0; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, b"meridian key derivation v1")
        .extract(secret)
        .expand(&[b"meridian shard link"], Length)
        .and_then(|okm| okm.fill(&mut key))
        .expect("32 bytes fit HKDF-SHA256");
    key
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_millis() as u64)
        .unwrap_or(0)
}

/// One series of the shard's metrics page (0 when absent or unreadable).
pub(crate) async fn metric(http_address: SocketAddr, series: &str) -> f64 {
    http::get(http_address, "/metrics")
        .await
        .ok()
        .and_then(|page| http::prometheus_value(&page, series))
        .unwrap_or(0.0)
}

/// Waits (at most `limit`) until the series reaches `at_least`; whether it did.
pub(crate) async fn wait_for_metric(
    http_address: SocketAddr,
    series: &str,
    at_least: f64,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if metric(http_address, series).await >= at_least {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
