//! `meridian serve` with `[serve] transport = "event-loop"` serves real QUIC
//! clients through the sans-IO event loop: each joins over HTTP, connects,
//! is welcomed, receives snapshots, and leaves with a goodbye the zone counts;
//! the loop's own counters are on /metrics.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::config_file;
use common::silent::metric;
use common::{account_join, remove_database, start_server_with, temporary_database};
use meridian_netcode::driver::client::{Behaviour, Ending};
use meridian_netcode::{Client, ClientEvent};

#[derive(Default)]
struct Recorder {
    welcomed: bool,
    snapshots: usize,
}

impl Behaviour for Recorder {
    fn on_tick(&mut self, _client: &mut Client, _now: Instant) {}

    fn on_event(&mut self, _client: &mut Client, event: ClientEvent, _now: Instant) {
        match event {
            ClientEvent::Welcomed(_) => self.welcomed = true,
            ClientEvent::Snapshot { .. } => self.snapshots += 1,
            _ => {}
        }
    }
}

async fn play(http_address: SocketAddr, name: &str) -> (Ending, Recorder) {
    let joined = account_join(http_address, name).await;
    let (endpoint, connection, mut client) = joined.connect().await;
    let mut recorder = Recorder::default();
    let ending = connection
        .drive(
            &mut client,
            &mut recorder,
            Duration::from_millis(50),
            Instant::now() + Duration::from_secs(2),
        )
        .await;
    endpoint.wait_idle().await;
    (ending, recorder)
}

#[test]
fn the_event_loop_welcomes_serves_and_says_goodbye_to_real_clients() {
    let database = temporary_database();
    let config = config_file("[serve]\ntransport = \"event-loop\"\n");
    let config_path = config.display().to_string();
    let (server, http_address) = start_server_with(&database, &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (first, second) = tokio::join!(play(http_address, "ada"), play(http_address, "grace"));
        for (name, (ending, recorder)) in [("ada", first), ("grace", second)] {
            assert!(recorder.welcomed, "{name} was not welcomed");
            assert!(
                recorder.snapshots >= 10,
                "{name} decoded {} snapshots",
                recorder.snapshots
            );
            assert_eq!(ending, Ending::Deadline, "{name}");
        }
        // Both goodbyes reach the zone through the loop's batches.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let quit = metric(
                http_address,
                "meridian_disconnects_total{reason=\"client_quit\"}",
            )
            .await;
            let connected = metric(http_address, "meridian_connected_clients").await;
            if quit == Some(2.0) && connected == Some(0.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "goodbyes counted: {quit:?}, connected: {connected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            metric(http_address, "meridian_connections_opened_total").await,
            Some(2.0)
        );
        // The loop's own figures are on /metrics: it received in batches
        // (never more receive calls than datagrams) and holds no connection.
        let received = metric(http_address, "meridian_event_loop_datagrams_received_total")
            .await
            .expect("the loop's datagram count");
        let calls = metric(http_address, "meridian_event_loop_receive_calls_total")
            .await
            .expect("the loop's receive calls");
        assert!(
            received > 0.0 && calls <= received,
            "{calls} calls, {received} datagrams"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while metric(http_address, "meridian_event_loop_connections").await != Some(0.0) {
            assert!(
                Instant::now() < deadline,
                "the loop drains both connections"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    drop(server);
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}
