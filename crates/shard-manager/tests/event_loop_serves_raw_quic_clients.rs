//! Real quinn clients (the task driver, `driver::client`) connect over loopback to the
//! sans-IO event loop, send hellos with real tokens, are welcomed, receive
//! snapshots, and leave cleanly; the zone thread sees every connection opened
//! and closed through the loop's batches.

mod stepper;

use std::time::Duration;

use meridian_netcode::NetcodeConfig;
use meridian_netcode::driver::client::Ending;
use meridian_netcode::metrics::DISCONNECT_REASONS;
use meridian_protocol::messages::DisconnectReason;
use stepper::event_loop::{LoopZone, live_token, play, wait_until};

const CLIENTS: u64 = 8;

#[test]
fn clients_are_welcomed_get_snapshots_and_leave_cleanly() {
    let zone = LoopZone::start(NetcodeConfig::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(async {
        let endpoint = zone.client_endpoint();
        let mut games = Vec::new();
        for account in 1..=CLIENTS {
            let client = zone.client(live_token(&zone.authority, account));
            let endpoint = endpoint.clone();
            let address = zone.address;
            games.push(tokio::spawn(async move {
                play(&endpoint, address, client, Duration::from_secs(2)).await
            }));
        }
        let mut results = Vec::new();
        for game in games {
            results.push(game.await.expect("the client task ends"));
        }
        endpoint.wait_idle().await;
        results
    });
    for (index, (ending, recorder)) in results.iter().enumerate() {
        assert!(recorder.welcomed, "client {index} was not welcomed");
        assert!(!recorder.refused, "client {index} was refused");
        // Two seconds at 20 Hz; far fewer would mean the loop stalls.
        assert!(
            recorder.snapshots >= 10,
            "client {index} decoded {} snapshots",
            recorder.snapshots
        );
        assert_eq!(*ending, Ending::Deadline, "client {index}");
    }
    // Every goodbye reaches the zone and every connection drains from the loop.
    wait_until("every connection drains", Duration::from_secs(10), || {
        zone.stats().connections == 0
    });
    let stats = zone.stats();
    let report = zone.stop();
    assert_eq!(report.connections_left, 0);
    assert_eq!(report.metrics.connections_opened, CLIENTS);
    assert_eq!(report.metrics.clients_connected, 0);
    // Each left with a goodbye, none was lost underneath.
    let quit = DISCONNECT_REASONS
        .iter()
        .position(|reason| *reason == DisconnectReason::ClientQuit)
        .expect("a reason");
    assert_eq!(report.metrics.disconnects[quit], CLIENTS);
    assert_eq!(report.metrics.transport_losses, 0);
    assert!(report.metrics.snapshots_sent >= CLIENTS * 10);
    // Batched: fewer receive calls than datagrams received.
    assert!(
        stats.udp.receive_calls <= stats.udp.datagrams_received,
        "{stats:?}"
    );
}
