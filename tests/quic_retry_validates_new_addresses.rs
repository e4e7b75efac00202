//! With `retry_at_pending = 0` every new QUIC connection is first answered
//! with a Retry (address validation); a real quinn client follows it, gets in,
//! and the Retry is counted.

mod common;

use common::config_file;
use common::silent::{join_and_wait_for_welcome, metric};
use common::{remove_database, start_server_with, temporary_database};

#[test]
fn a_real_client_connects_through_a_retry_and_it_is_counted() {
    let database = temporary_database();
    let config = config_file("[netcode]\nretry_at_pending = 0\n");
    let config_path = config.display().to_string();
    let (server, http_address) = start_server_with(&database, &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let player = join_and_wait_for_welcome(http_address, "ada").await;
        assert!(
            player.welcomed,
            "welcomed after a Retry: {:?}",
            player.refused
        );
        let retries = metric(http_address, "meridian_quic_retries_total").await;
        assert!(
            retries.is_some_and(|retries| retries >= 1.0),
            "the Retry was counted: {retries:?}"
        );
    });
    drop(server);
    let _ = std::fs::remove_file(config);
    remove_database(&database);
}
