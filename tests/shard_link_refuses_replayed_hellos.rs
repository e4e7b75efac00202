//! A shard's link hello, recorded on one connection, is worthless on another:
//! each side proves that it holds the cluster's link key over nonces from both
//! sides and the TLS exporter of that connection.
//!
//! Shard 1 of 2 runs on the real PostgreSQL and Redis (names of the test's
//! own). The test plays shard 2: it signs shard 2's entry in Redis, pointing
//! at a QUIC endpoint of its own, and records every byte shard 1 sends when it
//! dials, answering shard 1's hello as a real shard would so that shard 1
//! sends its proof too. Then the real shard 2 starts, and the test opens a new
//! connection to its link and replays the recorded bytes: the same shard ids,
//! only the nonces and the TLS session differ. Shard 2 refuses it: the
//! connection is closed and the refusal counted. A connection that says
//! nothing is refused too, once the handshake's deadline passes.
//!
//! Without PostgreSQL or Redis the test says it was skipped; under `CI=true`
//! it fails instead.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::services::PostgresDatabase;
use common::shard_link::{
    cluster_name, free_udp_address, hints, link_key, metric, now_ms, redis_url, start_shard,
    wait_for_metric,
};
use meridian_netcode::driver::tls::{self, DevCertificate};
use meridian_shard_manager::ShardId;
use meridian_shard_manager::adapters::redis::RedisHints;
use meridian_shard_manager::link_handshake::{
    Challenge, EXPORTER_BYTES, EXPORTER_LABEL, Hello, LinkKey, PROOF_BYTES, Role, Transcript,
};
use meridian_shard_manager::shard_entry::ShardEntry;

const TEST: &str = "shard_link_refuses_replayed_hellos";
const ALPN: &[u8] = b"meridian-shard/1";
const IDLE: Duration = Duration::from_secs(10);
const REFUSED: &str = "meridian_link_handshakes_refused_total";

fn exporter(connection: &quinn::Connection) -> [u8; EXPORTER_BYTES] {
    let mut value = [0; EXPORTER_BYTES];
    connection
        .export_keying_material(&mut value, EXPORTER_LABEL, b"")
        .expect("an exporter");
    value
}

/// Plays shard 2's side of the handshake on the first connection shard 1
/// opens to `endpoint`; returns every byte shard 1 sent in it (its hello and
/// its proof).
async fn record_shard_1(endpoint: &quinn::Endpoint, key: &LinkKey) -> Vec<u8> {
    let incoming = endpoint.accept().await.expect("shard 1 dials");
    let connection = incoming.await.expect("a connection");
    let (mut send, mut receive) = connection.accept_bi().await.expect("a stream");
    let mut recorded = vec![0; Hello::BYTES];
    receive.read_exact(&mut recorded).await.expect("a hello");
    let hello = Hello::decode(&recorded[..].try_into().expect("its size")).expect("a hello");
    assert_eq!(hello.dialer, ShardId(1));
    let transcript = Transcript {
        dialer: hello.dialer,
        acceptor: ShardId(2),
        dialer_nonce: hello.nonce,
        acceptor_nonce: [0x22; 32],
        exporter: exporter(&connection),
    };
    let challenge = Challenge {
        acceptor: ShardId(2),
        nonce: transcript.acceptor_nonce,
        proof: transcript.proof(key, Role::Acceptor),
    };
    send.write_all(&challenge.encode()).await.expect("sent");
    let mut proof = [0; PROOF_BYTES];
    receive.read_exact(&mut proof).await.expect("a proof");
    transcript
        .check(key, Role::Dialer, &proof)
        .expect("shard 1 proves itself to a real shard");
    recorded.extend_from_slice(&proof);
    recorded
}

/// `shard`'s verified entry, once it names `link` (within 30 s).
async fn read_entry(
    hints: &RedisHints,
    key: &LinkKey,
    shard: ShardId,
    link: SocketAddr,
) -> ShardEntry {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(entry)) = hints.shard_entry(shard, key, now_ms()).await
            && entry.address == link
        {
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("shard {} announced no signed entry for {link}", shard.0);
}

/// A connection to a shard's link, as any client that knows its entry.
async fn connect(link: SocketAddr, certificate_sha256: [u8; 32]) -> quinn::Connection {
    let config = tls::pinned_client_config_for(certificate_sha256, IDLE, ALPN).expect("a config");
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address"))
        .expect("a client endpoint");
    endpoint
        .connect_with(config, link, "localhost")
        .expect("connects")
        .await
        .expect("shard 1 accepts the QUIC connection")
}

/// Whether shard 1 closes `connection` (within `limit`).
async fn closed_within(connection: &quinn::Connection, limit: Duration) -> bool {
    tokio::time::timeout(limit, connection.closed())
        .await
        .is_ok_and(|why| matches!(why, quinn::ConnectionError::ApplicationClosed(_)))
}

#[test]
fn shard_link_refuses_replayed_hellos() {
    let Some(redis) = redis_url(TEST) else {
        return;
    };
    let Some(database) = PostgresDatabase::create(TEST, "meridian_link_replay") else {
        return;
    };
    let cluster = cluster_name("link-replay");
    let link = free_udp_address();
    let (_shard_1, _) = start_shard(1, 2, &database.url, &redis, &cluster, link);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let hints = Arc::new(hints(&redis, &cluster).await);
        let key = link_key(&hints, ShardId(1)).await;
        // Shard 1 is up and signs its entry.
        read_entry(&hints, &key, ShardId(1), link).await;

        // The test's shard 2, announced as a real shard would.
        let certificate = DevCertificate::generate(SystemTime::now(), Duration::from_secs(86_400))
            .expect("a certificate");
        let server = certificate.server_config(&[ALPN], IDLE).expect("a config");
        let endpoint = quinn::Endpoint::server(server, "127.0.0.1:0".parse().expect("an address"))
            .expect("an endpoint");
        let ours = ShardEntry {
            address: endpoint.local_addr().expect("bound"),
            certificate_sha256: tls::parse_sha256_hex(&certificate.sha256_hex()).expect("a hash"),
        };
        let announcing = {
            let (hints, key) = (hints.clone(), key.clone());
            tokio::spawn(async move {
                loop {
                    let _ = hints
                        .announce_shard_entry(ShardId(2), &ours, &key, now_ms(), 3_000)
                        .await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        let recorded =
            tokio::time::timeout(Duration::from_secs(30), record_shard_1(&endpoint, &key))
                .await
                .expect("shard 1 dials the test's shard 2 within 30 s");
        assert_eq!(recorded.len(), Hello::BYTES + PROOF_BYTES);
        announcing.abort();

        // The real shard 2 takes its place: the recording is replayed to it,
        // on a new connection. Only the nonces and the TLS session differ
        // from the connection it was recorded on.
        let link_2 = free_udp_address();
        let (_shard_2, http_address) = tokio::task::block_in_place(|| {
            start_shard(2, 2, &database.url, &redis, &cluster, link_2)
        });
        let shard_2 = read_entry(&hints, &key, ShardId(2), link_2).await;
        let refused_before = metric(http_address, REFUSED).await;
        let replay = connect(link_2, shard_2.certificate_sha256).await;
        let (mut send, mut receive) = replay.open_bi().await.expect("a stream");
        send.write_all(&recorded[..Hello::BYTES])
            .await
            .expect("sent");
        let mut challenge = [0; Challenge::BYTES];
        receive
            .read_exact(&mut challenge)
            .await
            .expect("shard 2's challenge");
        send.write_all(&recorded[Hello::BYTES..])
            .await
            .expect("sent");
        assert!(
            closed_within(&replay, Duration::from_secs(15)).await,
            "shard 2 did not refuse shard 1's replayed hello and proof"
        );
        assert!(
            wait_for_metric(
                http_address,
                REFUSED,
                refused_before + 1.0,
                Duration::from_secs(15)
            )
            .await,
            "shard 2 did not count the refusal"
        );

        // A connection that never says a word is refused at the deadline.
        let silent = connect(link_2, shard_2.certificate_sha256).await;
        assert!(
            closed_within(&silent, Duration::from_secs(20)).await,
            "shard 2 kept a silent link connection open"
        );
        assert!(
            wait_for_metric(
                http_address,
                REFUSED,
                refused_before + 2.0,
                Duration::from_secs(15)
            )
            .await,
            "shard 2 did not count the silent connection"
        );
    });
}
