//! Anyone who can write to Redis can write a shard's entry there: where its
//! link listens and which certificate to pin. A shard takes an entry only if
//! it is signed with the cluster's link key and was made within the last
//! 10 s, so such a writer cannot point it at themselves.
//!
//! Shard 1 of 5 runs on the real PostgreSQL and Redis (names of the test's
//! own). The test writes the entries of shards 2 to 4, each pointing at a UDP
//! socket of its own: unsigned (the entry as it used to be), signed with
//! another key, and signed with the right key an hour ago. Shard 1 counts each
//! as ignored, a read of the peers does not return them, and none of the
//! sockets is dialled. Shard 5's entry, rightly signed, is dialled: the
//! sockets would have seen a dial.
//!
//! Without PostgreSQL or Redis the test says it was skipped; under `CI=true`
//! it fails instead.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::services::PostgresDatabase;
use common::shard_link::{
    cluster_name, free_udp_address, hints, link_key, now_ms, redis_url, start_shard,
    wait_for_metric,
};
use meridian_shard_manager::ShardId;
use meridian_shard_manager::adapters::redis::ShardEntryError;
use meridian_shard_manager::link_handshake::LinkKey;
use meridian_shard_manager::shard_entry::{EntryError, ShardEntry};

const TEST: &str = "forged_shard_entries_are_ignored";

/// A UDP socket that notes whether anything reached it.
fn trap() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
    socket.set_nonblocking(true).expect("non-blocking");
    socket
}

fn dialled(trap: &UdpSocket) -> bool {
    let mut buffer = [0u8; 2048];
    trap.recv_from(&mut buffer).is_ok()
}

fn entry_for(trap: &UdpSocket) -> ShardEntry {
    ShardEntry {
        address: trap.local_addr().expect("bound"),
        certificate_sha256: [0x5A; 32],
    }
}

#[test]
fn forged_shard_entries_are_ignored() {
    let Some(redis) = redis_url(TEST) else {
        return;
    };
    let Some(database) = PostgresDatabase::create(TEST, "meridian_forged_entries") else {
        return;
    };
    let cluster = cluster_name("forged-entries");
    let (_shard, http_address) =
        start_shard(1, 5, &database.url, &redis, &cluster, free_udp_address());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let hints = hints(&redis, &cluster).await;
        let key = link_key(&hints, ShardId(1)).await;
        let (unsigned, other_key, stale, genuine) = (trap(), trap(), trap(), trap());
        const LONG: u64 = 120_000;
        let entry = entry_for(&unsigned);
        hints
            .announce_shard(
                ShardId(2),
                &format!("{} {}", entry.address, "5a".repeat(32)),
                LONG,
            )
            .await
            .expect("written");
        let wrong_key = LinkKey::new(b"the key of some other cluster, 32 bytes");
        hints
            .announce_shard(
                ShardId(3),
                &entry_for(&other_key).sign(&wrong_key, ShardId(3), now_ms()),
                LONG,
            )
            .await
            .expect("written");
        hints
            .announce_shard(
                ShardId(4),
                &entry_for(&stale).sign(&key, ShardId(4), now_ms() - 3_600_000),
                LONG,
            )
            .await
            .expect("written");

        // Each is read (and ignored) at several discovery rounds, and none
        // is dialled meanwhile.
        let mut uncounted = Vec::new();
        for reason in ["unsigned", "bad_signature", "stale"] {
            let series = format!("meridian_link_entries_ignored_total{{reason=\"{reason}\"}}");
            if !wait_for_metric(http_address, &series, 3.0, Duration::from_secs(30)).await {
                uncounted.push(reason);
            }
        }
        for (name, trap) in [
            ("unsigned", &unsigned),
            ("other key", &other_key),
            ("stale", &stale),
        ] {
            assert!(!dialled(trap), "shard 1 dialled the {name} entry");
        }
        assert!(
            uncounted.is_empty(),
            "shard 1 did not count these entries as ignored: {uncounted:?}"
        );
        // A read of the peers does not return them.
        for (shard, why) in [
            (2, EntryError::Unsigned),
            (3, EntryError::BadSignature),
            (4, EntryError::Stale),
        ] {
            match hints.shard_entry(ShardId(shard), &key, now_ms()).await {
                Err(ShardEntryError::Ignored(found)) => assert_eq!(found, why, "shard {shard}"),
                other => panic!("shard {shard}'s forged entry was read as {other:?}"),
            }
        }

        // A rightly signed entry is dialled within a round or two: the traps
        // would have noticed a dial.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            hints
                .announce_shard_entry(ShardId(5), &entry_for(&genuine), &key, now_ms(), LONG)
                .await
                .expect("written");
            tokio::time::sleep(Duration::from_millis(200)).await;
            seen = dialled(&genuine);
        }
        assert!(seen, "shard 1 did not dial a rightly signed entry");

        for (name, trap) in [
            ("unsigned", &unsigned),
            ("other key", &other_key),
            ("stale", &stale),
        ] {
            assert!(!dialled(trap), "shard 1 dialled the {name} entry");
        }
    });
}
