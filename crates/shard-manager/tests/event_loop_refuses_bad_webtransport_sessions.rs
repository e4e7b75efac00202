//! Browsers' connections that break the rules, through the sans-IO event
//! loop: a header block the server cannot decode closes the connection with
//! QPACK's error code (counted in `http3_errors`); a session whose game
//! stream never opens is closed after 5 s (counted as a failed handshake, as
//! a raw QUIC connection without its stream); datagrams without the
//! session's prefix are dropped and counted. The first case and the last use
//! a raw quinn client with ALPN `h3` speaking HTTP/3 through the module's own
//! encoders; the second a real `wtransport` client.

mod stepper;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use meridian_netcode::NetcodeConfig;
use meridian_netcode::driver::tls::{ALPN_H3, pinned_client_config_for};
use meridian_netcode::transport::webtransport::frames::{
    Settings, frame_type, parse_frame, write_frame,
};
use meridian_netcode::transport::webtransport::qpack::{
    decode_field_section, encode_field_section,
};
use meridian_netcode::transport::webtransport::{H3Error, QpackError};
use stepper::event_loop::{LOOPBACK, LoopZone, wait_until};
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Endpoint};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A quinn connection with ALPN `h3` that has sent its control stream.
async fn h3_connection(zone: &LoopZone) -> (quinn::Endpoint, quinn::Connection, quinn::SendStream) {
    let idle = Duration::from_millis(zone.config.idle_timeout_ms);
    let config =
        pinned_client_config_for(zone.certificate_sha256, idle, ALPN_H3).expect("client config");
    let mut endpoint =
        meridian_netcode::driver::socket::endpoint(LOOPBACK, None).expect("endpoint");
    endpoint.set_default_client_config(config);
    let connection = endpoint
        .connect(zone.address, "localhost")
        .expect("connect")
        .await
        .expect("handshake");
    let mut control = connection.open_uni().await.expect("control stream");
    let mut preamble = vec![0x00];
    Settings::new(&[(0x33, 1), (0x2b60_3742, 1)]).write_frame(&mut preamble);
    control.write_all(&preamble).await.expect("settings");
    (endpoint, connection, control)
}

#[test]
fn a_broken_header_block_closes_the_connection_with_qpack_s_code() {
    let zone = LoopZone::start(NetcodeConfig::default());
    let error = runtime().block_on(async {
        let (_endpoint, connection, _control) = h3_connection(&zone).await;
        // HEADERS whose section refers to the dynamic table.
        let mut request = Vec::new();
        write_frame(frame_type::HEADERS, &[0x05, 0x00, 0x81], &mut request);
        let (mut send, _recv) = connection.open_bi().await.expect("request stream");
        send.write_all(&request).await.expect("request");
        tokio::time::timeout(Duration::from_secs(5), connection.closed())
            .await
            .expect("the server closes the connection")
    });
    let quinn::ConnectionError::ApplicationClosed(close) = error else {
        panic!("closed by the application, not {error:?}");
    };
    assert_eq!(
        close.error_code.into_inner(),
        u64::from(H3Error::Qpack(QpackError::DynamicTable).code())
    );
    wait_until("the error is counted", Duration::from_secs(5), || {
        zone.stats().counters.http3_errors == 1
    });
    let report = zone.stop();
    assert_eq!(report.metrics.connections_opened, 0);
}

#[test]
fn a_session_without_its_game_stream_is_closed_after_five_seconds() {
    let zone = LoopZone::start(NetcodeConfig::default());
    let port = zone.address.port();
    runtime().block_on(async {
        let config = ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes([Sha256Digest::new(zone.certificate_sha256)])
            .build();
        let endpoint = Endpoint::client(config).expect("client endpoint");
        let connection = endpoint
            .connect(format!("https://127.0.0.1:{port}/meridian"))
            .await
            .expect("the session opens");
        // No stream: the loop's deadline closes it (5 s after the handshake).
        tokio::time::timeout(Duration::from_secs(10), connection.closed())
            .await
            .expect("the server closes the session");
    });
    wait_until("every connection drains", Duration::from_secs(10), || {
        zone.stats().connections == 0
    });
    assert_eq!(zone.counters.handshake_failures.load(Ordering::Relaxed), 1);
    assert_eq!(zone.stats().counters.http3_errors, 0);
    let report = zone.stop();
    assert_eq!(report.metrics.connections_opened, 0);
}

#[test]
fn datagrams_without_the_session_s_prefix_are_dropped_and_counted() {
    let zone = LoopZone::start(NetcodeConfig::default());
    runtime().block_on(async {
        let (_endpoint, connection, _control) = h3_connection(&zone).await;
        // Before any session: dropped.
        connection
            .send_datagram(Bytes::from_static(&[0x00, 1, 2, 3]))
            .expect("datagrams are on");
        let mut section = Vec::new();
        encode_field_section(
            &[
                (b":method", b"CONNECT"),
                (b":protocol", b"webtransport"),
                (b":scheme", b"https"),
                (b":authority", b"localhost"),
                (b":path", b"/meridian"),
            ],
            &mut section,
        );
        let mut request = Vec::new();
        write_frame(frame_type::HEADERS, &section, &mut request);
        let (mut send, mut recv) = connection.open_bi().await.expect("request stream");
        send.write_all(&request).await.expect("request");
        let mut response = Vec::new();
        let mut buffer = [0u8; 256];
        let status = loop {
            let count = tokio::time::timeout(Duration::from_secs(5), recv.read(&mut buffer))
                .await
                .expect("answered in time")
                .expect("read")
                .expect("the stream stays open");
            response.extend_from_slice(&buffer[..count]);
            if let Some(frame) = parse_frame(&response, 1024).expect("a valid frame") {
                assert_eq!(frame.kind, frame_type::HEADERS);
                break decode_field_section(frame.payload).expect("a valid section");
            }
        };
        assert_eq!(status[0].value, b"200");
        // The session is stream 0 (quarter id 0): prefix 1 is another's.
        connection
            .send_datagram(Bytes::from_static(&[0x01, 1, 2, 3]))
            .expect("datagrams are on");
        wait_until("both datagrams are counted", Duration::from_secs(5), || {
            zone.stats().counters.http3_datagrams_dropped == 2
        });
        connection.close(0u32.into(), b"done");
    });
    wait_until("every connection drains", Duration::from_secs(10), || {
        zone.stats().connections == 0
    });
    assert_eq!(zone.stats().counters.http3_errors, 0);
    zone.stop();
}
