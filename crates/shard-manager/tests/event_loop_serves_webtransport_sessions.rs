//! Browsers' WebTransport through the sans-IO event loop. A real `wtransport`
//! client (HTTP/3 SETTINGS, QPACK, extended CONNECT, the session's stream and
//! datagram prefixes, as a browser sends them) opens a session at `/meridian`
//! and its game stream, is welcomed, decodes snapshots sent as datagrams and
//! says goodbye; a session at another path is answered 404. Afterwards the
//! zone and the loop are clean. (Broken sessions:
//! `event_loop_refuses_bad_webtransport_sessions.rs`.)

mod stepper;

use std::time::{Duration, Instant};

use meridian_netcode::metrics::DISCONNECT_REASONS;
use meridian_netcode::{ClientEvent, ClientTransmit, NetcodeConfig};
use meridian_protocol::messages::DisconnectReason;
use stepper::event_loop::{LoopZone, live_token, wait_until};
use wtransport::error::ConnectingError;
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Endpoint};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// What the browser-like client saw.
#[derive(Debug, Default)]
struct Seen {
    welcomed: bool,
    snapshots: usize,
    datagrams: usize,
}

#[test]
fn a_webtransport_session_is_served_by_the_event_loop() {
    let zone = LoopZone::start(NetcodeConfig::default());
    let port = zone.address.port();
    let token = live_token(&zone.authority, 1);
    let mut client = zone.client(token);
    let seen = runtime().block_on(async {
        let config = ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes([Sha256Digest::new(zone.certificate_sha256)])
            .build();
        let endpoint = Endpoint::client(config).expect("client endpoint");

        let elsewhere = tokio::time::timeout(
            Duration::from_secs(5),
            endpoint.connect(format!("https://127.0.0.1:{port}/elsewhere")),
        )
        .await
        .expect("answered in time");
        assert!(
            matches!(elsewhere, Err(ConnectingError::SessionRejected)),
            "another path is answered 404: {elsewhere:?}"
        );

        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            endpoint.connect(format!("https://127.0.0.1:{port}/meridian")),
        )
        .await
        .expect("answered in time")
        .expect("the session opens");
        let (mut send, mut recv) = connection
            .open_bi()
            .await
            .expect("opening")
            .await
            .expect("the game's stream opens");

        let mut seen = Seen::default();
        let mut buffer = vec![0u8; 16 * 1024];
        let mut ticker = tokio::time::interval(Duration::from_millis(50));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline {
            while let Some(transmit) = client.poll_transmit() {
                match transmit {
                    ClientTransmit::Stream(bytes) => {
                        send.write_all(&bytes).await.expect("stream write");
                    }
                    ClientTransmit::Datagram(bytes) => {
                        connection.send_datagram(bytes).expect("datagrams are on");
                    }
                    ClientTransmit::Close => {}
                }
            }
            tokio::select! {
                read = recv.read(&mut buffer) => {
                    let count = read
                        .expect("stream read")
                        .expect("the server ended the stream early");
                    client.handle_stream(Instant::now(), &buffer[..count]);
                }
                datagram = connection.receive_datagram() => {
                    let datagram = datagram.expect("datagram");
                    seen.datagrams += 1;
                    client.handle_datagram(Instant::now(), &datagram.payload());
                }
                _ = ticker.tick() => client.handle_timeout(Instant::now()),
            }
            while let Some(event) = client.poll_event() {
                match event {
                    ClientEvent::Welcomed(_) => seen.welcomed = true,
                    ClientEvent::Snapshot { .. } => seen.snapshots += 1,
                    _ => {}
                }
            }
        }
        // Goodbye on the stream, then the stream ends.
        client.disconnect();
        while let Some(transmit) = client.poll_transmit() {
            if let ClientTransmit::Stream(bytes) = transmit {
                send.write_all(&bytes).await.expect("stream write");
            }
        }
        send.finish().await.expect("finish");
        // The server closes the connection after the goodbye.
        tokio::time::timeout(Duration::from_secs(5), connection.closed())
            .await
            .expect("the server closes the session");
        seen
    });
    assert!(seen.welcomed, "{seen:?}");
    // Two seconds at 20 Hz; far fewer would mean the loop stalls.
    assert!(seen.snapshots >= 10, "{seen:?}");
    assert!(seen.datagrams >= 10, "{seen:?}");
    assert_eq!(client.stats().decode_errors, 0);

    wait_until("every connection drains", Duration::from_secs(10), || {
        zone.stats().connections == 0
    });
    let stats = zone.stats();
    assert_eq!(stats.counters.http3_errors, 0, "{stats:?}");
    assert_eq!(stats.counters.http3_datagrams_dropped, 0, "{stats:?}");
    // The 404 counts as a failed handshake, as with the task driver.
    assert_eq!(
        zone.counters
            .handshake_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let report = zone.stop();
    assert_eq!(report.connections_left, 0);
    assert_eq!(report.metrics.connections_opened, 1);
    let quit = DISCONNECT_REASONS
        .iter()
        .position(|reason| *reason == DisconnectReason::ClientQuit)
        .expect("a reason");
    assert_eq!(report.metrics.disconnects[quit], 1);
    assert_eq!(report.metrics.transport_losses, 0);
}
