//! Bad input through the sans-IO event loop: garbage datagrams are dropped
//! and counted, a connection that never opens its stream is closed and
//! counted, one that never says hello is disconnected by the netcode server,
//! a flood from one address is refused past the pending cap (and answered
//! with Retries past the threshold); none of it stops a real client from
//! being welcomed and served.

mod stepper;

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::Duration;

use meridian_netcode::NetcodeConfig;
use stepper::event_loop::{LOOPBACK, LoopZone, live_token, play, wait_until};

fn config() -> NetcodeConfig {
    NetcodeConfig {
        hello_timeout_ms: 1_000,
        max_pending_per_address: 4,
        retry_at_pending: 2,
        ..NetcodeConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A real client can still join: the loop is not stalled.
fn a_client_is_served(zone: &LoopZone, runtime: &tokio::runtime::Runtime, account: u64) {
    let (_, recorder) = runtime.block_on(async {
        let endpoint = zone.client_endpoint();
        let client = zone.client(live_token(&zone.authority, account));
        play(&endpoint, zone.address, client, Duration::from_millis(800)).await
    });
    assert!(recorder.welcomed && recorder.snapshots > 0);
}

#[test]
fn garbage_datagrams_are_dropped_and_counted() {
    let zone = LoopZone::start(config());
    let runtime = runtime();
    let socket = UdpSocket::bind(LOOPBACK).expect("bind");
    for index in 0..500_u32 {
        let mut garbage = vec![0u8; 40 + (index as usize % 1300)];
        for (offset, byte) in garbage.iter_mut().enumerate() {
            *byte = (index as usize * 31 + offset * 17) as u8;
        }
        socket.send_to(&garbage, zone.address).expect("send");
    }
    wait_until("the garbage is counted", Duration::from_secs(10), || {
        zone.stats().counters.datagrams_ignored > 0
    });
    a_client_is_served(&zone, &runtime, 1);
    // The garbage opened nothing: only the client's connection was there.
    wait_until(
        "the client's connection drains",
        Duration::from_secs(10),
        || zone.stats().connections == 0,
    );
    assert_eq!(zone.stop().metrics.connections_opened, 1);
}

#[test]
fn a_connection_without_a_stream_is_closed_and_counted() {
    let zone = LoopZone::start(config());
    let runtime = runtime();
    let closed = runtime.block_on(async {
        let endpoint = zone.client_endpoint();
        let connection = endpoint
            .connect(zone.address, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        tokio::time::timeout(Duration::from_secs(15), connection.closed())
            .await
            .expect("the server closes it")
    });
    assert!(
        matches!(&closed, quinn::ConnectionError::ApplicationClosed(close) if close.error_code == quinn::VarInt::from_u32(1)),
        "{closed:?}"
    );
    assert!(zone.counters.handshake_failures.load(Ordering::Relaxed) >= 1);
    a_client_is_served(&zone, &runtime, 1);
    zone.stop();
}

#[test]
fn a_connection_that_never_says_hello_is_disconnected_by_the_server() {
    let zone = LoopZone::start(config());
    let runtime = runtime();
    runtime.block_on(async {
        let endpoint = zone.client_endpoint();
        let connection = endpoint
            .connect(zone.address, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        let (mut send, _recv) = connection.open_bi().await.expect("stream");
        // A stream is opened on the wire only once something is written.
        send.write_all(&[]).await.expect("write");
        let _ = send.write(&[]).await;
        tokio::time::timeout(Duration::from_secs(15), connection.closed())
            .await
            .expect("the server closes it");
    });
    a_client_is_served(&zone, &runtime, 1);
    wait_until("the loop forgets both", Duration::from_secs(10), || {
        zone.stats().connections == 0
    });
    let report = zone.stop();
    // Both were reported to the server; only the real client was welcomed.
    assert_eq!(report.metrics.connections_opened, 2);
    assert_eq!(report.connections_left, 0);
}

#[test]
fn a_flood_from_one_address_is_refused_past_the_pending_cap() {
    let zone = LoopZone::start(config());
    let runtime = runtime();
    let outcomes = runtime.block_on(async {
        let endpoint = zone.client_endpoint();
        let mut attempts = Vec::new();
        for _ in 0..12 {
            let connecting = endpoint
                .connect(zone.address, "localhost")
                .expect("connect");
            attempts.push(tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(10), connecting).await
            }));
        }
        let mut outcomes = Vec::new();
        for attempt in attempts {
            outcomes.push(attempt.await.expect("task"));
        }
        outcomes
    });
    let refused = outcomes
        .iter()
        .filter(|outcome| {
            matches!(
                outcome,
                Ok(Err(quinn::ConnectionError::ConnectionClosed(_)))
            )
        })
        .count();
    let pending_cap = config().max_pending_per_address;
    assert!(refused >= 12 - pending_cap, "{outcomes:?}");
    assert!(
        zone.counters
            .refused_too_many_from_address
            .load(Ordering::Relaxed)
            >= (12 - pending_cap) as u64
    );
    assert!(zone.counters.quic_retries.load(Ordering::Relaxed) > 0);
    // Once the flood's connections time out, a client is served again.
    wait_until("the flood drains", Duration::from_secs(20), || {
        zone.stats().connections == 0
    });
    a_client_is_served(&zone, &runtime, 1);
    zone.stop();
}
