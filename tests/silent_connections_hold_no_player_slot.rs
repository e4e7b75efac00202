//! Connections that never send a hello do not count toward `max_clients`: six
//! silent WebSockets on a server of five, and a real player still gets in.

mod common;

use common::config_file;
use common::silent::{Upgrade, join_and_wait_for_welcome, metric, silent_websocket};
use common::{remove_database, start_server_with, temporary_database};

#[test]
fn six_silent_websockets_do_not_lock_out_a_player_on_a_server_of_five() {
    let database = temporary_database();
    // Room for five players; the silent sockets stay pending for the test.
    let config = config_file("[netcode]\nmax_clients = 5\nhello_timeout_ms = 60000\n");
    let config_path = config.display().to_string();
    let (server, http_address) = start_server_with(&database, &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut silent = Vec::new();
        for _ in 0..6 {
            match silent_websocket(http_address).await {
                Upgrade::Open(socket) => silent.push(socket),
                Upgrade::Closed(code, reason) => {
                    panic!("a silent socket was closed at once: {code} {reason}")
                }
            }
        }
        let player = join_and_wait_for_welcome(http_address, "ada").await;
        assert!(
            player.welcomed,
            "the player got in past six silent sockets: {:?}",
            player.refused
        );
        assert_eq!(
            metric(
                http_address,
                "meridian_refusals_total{reason=\"server_full\"}"
            )
            .await,
            Some(0.0)
        );
        drop(silent);
    });
    drop(server);
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}
