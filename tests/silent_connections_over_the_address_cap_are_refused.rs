//! More silent connections from one address than `max_pending_per_address`
//! are refused at once, over WebSocket (closed 1013 with the cap's name) and
//! over QUIC, and counted in /metrics; the silent ones still time out at the
//! hello timeout, which frees the address again.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::config_file;
use common::silent::{Upgrade, close_frame, metric, silent_websocket};
use common::{remove_database, start_server_with, temporary_database};

/// The server's QUIC address and certificate, from a join (the join is not used).
async fn game_address(http: SocketAddr) -> common::Joined {
    common::account_join(http, "ada").await
}

#[test]
fn silent_connections_past_the_address_cap_are_refused_counted_and_time_out() {
    let database = temporary_database();
    let config = config_file(
        "[netcode]\nmax_pending_connections = 10\nmax_pending_per_address = 3\n\
         hello_timeout_ms = 5000\n",
    );
    let config_path = config.display().to_string();
    let (server, http_address) = start_server_with(&database, &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = game_address(http_address).await;
        let mut silent = Vec::new();
        for _ in 0..3 {
            match silent_websocket(http_address).await {
                Upgrade::Open(socket) => silent.push(socket),
                Upgrade::Closed(code, reason) => panic!("within the cap: {code} {reason}"),
            }
        }
        for _ in 0..2 {
            match silent_websocket(http_address).await {
                Upgrade::Closed(code, reason) => {
                    assert_eq!((code, reason.as_str()), (1013, "too_many_from_address"));
                }
                Upgrade::Open(_) => panic!("a fourth silent socket from 127.0.0.1 was let in"),
            }
        }
        // QUIC from the same address is refused too, before its handshake.
        let endpoint = meridian_netcode::driver::client::client_endpoint(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            joined.certificate_sha256,
            Duration::from_secs(10),
        )
        .expect("client endpoint");
        let refused = meridian_netcode::driver::client::ClientConnection::connect(
            &endpoint,
            joined.game,
            Duration::from_secs(10),
        )
        .await;
        assert!(
            refused.is_err(),
            "a QUIC connection past the cap was let in"
        );
        assert_eq!(
            metric(
                http_address,
                "meridian_connections_refused_total{cap=\"too_many_from_address\"}"
            )
            .await,
            Some(3.0)
        );
        assert_eq!(
            metric(http_address, "meridian_pending_connections").await,
            Some(3.0)
        );
        // The silent ones are closed at the hello timeout, and the address
        // may connect again.
        for socket in &mut silent {
            let closed = close_frame(socket, Duration::from_secs(30)).await;
            assert_eq!(
                closed.map(|(_, reason)| reason),
                Some("idle_timeout".to_owned()),
                "a silent socket is closed at the hello timeout"
            );
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while metric(http_address, "meridian_pending_connections").await != Some(0.0) {
            assert!(std::time::Instant::now() < deadline, "pending slots freed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(matches!(
            silent_websocket(http_address).await,
            Upgrade::Open(_)
        ));
    });
    drop(server);
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}
