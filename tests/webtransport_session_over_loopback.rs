//! A WebTransport session (HTTP/3, as a browser opens it) on the same UDP port as
//! raw QUIC: the `wtransport` client pins the certificate by its hash, opens the
//! session at `/meridian`, and speaks the same protocol over its stream and
//! datagrams: welcomed, moves, decodes every snapshot. A session at another path
//! is turned away.

mod common;

use std::time::{Duration, Instant};

use common::{account_join, start_server};
use meridian_netcode::{Client, ClientEvent, ClientPhase, ClientTransmit};
use meridian_protocol::messages::{AnimationState, MovementIntent};
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Endpoint};

#[test]
fn a_webtransport_session_plays_like_a_quic_client() {
    let (_server, http_address) = start_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = account_join(http_address, "webtransport").await;
        let (game, hash, token) = (joined.game, joined.certificate_sha256, joined.token);
        let config = ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes([Sha256Digest::new(hash)])
            .build();
        let endpoint = Endpoint::client(config).expect("client endpoint");

        let wrong_path = tokio::time::timeout(
            Duration::from_secs(5),
            endpoint.connect(format!("https://127.0.0.1:{}/elsewhere", game.port())),
        )
        .await
        .expect("answers in time");
        assert!(wrong_path.is_err(), "a session at another path is refused");

        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            endpoint.connect(format!("https://127.0.0.1:{}/meridian", game.port())),
        )
        .await
        .expect("answers in time")
        .expect("the session opens");
        let (mut send, mut recv) = connection
            .open_bi()
            .await
            .expect("opening")
            .await
            .expect("stream open");

        let mut client = Client::new(
            Instant::now(),
            token,
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        let mut ticker = tokio::time::interval(Duration::from_millis(50));
        let mut buffer = vec![0u8; 16 * 1024];
        let mut welcomed = false;
        let mut named = Vec::new();
        let mut first_position = None;
        let mut last_position = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
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
                    client.handle_datagram(Instant::now(), &datagram.payload());
                }
                _ = ticker.tick() => {
                    let intent = MovementIntent {
                        move_x: 1.0,
                        move_y: 0.0,
                        speed: 1.5,
                        heading: 0.0,
                        animation: AnimationState::Walk,
                    };
                    client.send_input(Instant::now(), intent);
                }
            }
            while let Some(event) = client.poll_event() {
                match event {
                    ClientEvent::Welcomed(_) => welcomed = true,
                    ClientEvent::Snapshot { .. } => {
                        let me = client.welcome().expect("welcomed").avatar_id;
                        let mine = client.view().iter().find(|state| state.id == me).copied();
                        if let Some(state) = mine {
                            first_position.get_or_insert(state.x);
                            last_position = Some(state.x);
                        }
                    }
                    ClientEvent::Presence(presence) => named.push(presence),
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
        assert!(welcomed);
        // Its own name arrives once, right after the welcome.
        let me = client.welcome().expect("welcomed").avatar_id;
        assert_eq!(
            named
                .iter()
                .filter(|presence| presence.avatar == me)
                .count(),
            1,
            "{named:?}"
        );
        assert_eq!(client.phase(), ClientPhase::Connected);
        let stats = client.stats();
        assert!(stats.snapshots >= 30, "{stats:?}");
        assert_eq!(stats.decode_errors, 0);
        let (first, last) = (
            first_position.expect("saw itself"),
            last_position.expect("saw itself"),
        );
        // About 2.5 s east at 1.5 m/s: well over a metre, 64 steps per metre.
        assert!(last > first + 64, "moved from {first} to {last}");
        connection.close(0u32.into(), b"done");
    });
}
