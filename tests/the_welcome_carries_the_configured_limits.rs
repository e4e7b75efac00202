//! A client of the real binary learns every limit it is held to from its
//! Welcome, as the server's settings file sets them (not the defaults):
//! movement, interest, proximity chat, rate limits and timeouts.

mod common;

use common::players::Player;
use common::{account_join, config_file, start_server_with, temporary_database};
use meridian_netcode::ClientEvent;
use meridian_protocol::{PROTOCOL_VERSION, SessionLimits};

#[test]
fn the_welcome_carries_the_limits_of_the_settings_file() {
    let config = config_file(
        "[sim]\n\
         max_speed = 5.5\n\
         walk_speed = 1.5\n\
         avatar_radius = 0.4\n\
         interest_radius = 25.0\n\
         interest_hysteresis = 4.0\n\
         input_burst = 3\n\
         input_hold_ticks = 7\n\
         \n\
         [netcode]\n\
         chat_hearing_radius = 15.0\n\
         datagrams_per_second = 100\n\
         chat_lines_per_10s = 8\n\
         strikes_before_disconnect = 50\n\
         idle_timeout_ms = 9000\n\
         heartbeat_interval_ms = 800\n",
    );
    let config = config.display().to_string();
    let (_server, http) = start_server_with(&temporary_database(), &["--config", &config]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = account_join(http, "ada").await;
        let ada = Player::connect("ada", &joined).await;
        let welcome = ada
            .events
            .iter()
            .find_map(|event| match event {
                ClientEvent::Welcomed(welcome) => Some(welcome.clone()),
                _ => None,
            })
            .expect("ada was welcomed");
        assert_eq!(welcome.protocol_version, PROTOCOL_VERSION);
        assert_eq!(
            welcome.limits,
            SessionLimits {
                max_speed: 5.5,
                walk_speed: 1.5,
                avatar_radius: 0.4,
                interest_radius: 25.0,
                interest_hysteresis: 4.0,
                chat_hearing_radius: 15.0,
                input_burst: 3,
                input_hold_ticks: 7,
                datagrams_per_second: 100,
                chat_lines_per_10s: 8,
                inventory_in_flight: 8,
                strikes_before_disconnect: 50,
                idle_timeout_ms: 9_000,
                heartbeat_interval_ms: 800,
            }
        );
        ada.stop();
    });
}
