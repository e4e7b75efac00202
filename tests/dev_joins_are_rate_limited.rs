//! Every development join creates an account, so it counts like a sign-up
//! against the address's limits: past them the answer is 429 with
//! `Retry-After`, and no account is made.

mod common;

use common::{config_file, remove_database, start_server_with, temporary_database};
use loadbot::http;

#[test]
fn dev_joins_past_the_address_limit_are_429() {
    let database = temporary_database();
    let config = config_file("[serve]\nlogin_attempts_per_address_per_minute = 3\n");
    let (server, http_address) = start_server_with(
        &database,
        &["--dev", "--config", config.to_str().expect("utf-8")],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let statuses: Vec<_> = (0..5)
        .map(|_| {
            runtime
                .block_on(http::exchange(
                    http_address,
                    "POST",
                    "/api/v1/dev/join",
                    Some("{}"),
                    None,
                ))
                .expect("an answer")
        })
        .collect();
    drop(server);
    let _ = std::fs::remove_file(&config);
    remove_database(&database);
    let codes: Vec<u16> = statuses.iter().map(|answer| answer.status).collect();
    assert_eq!(codes, [200, 200, 200, 429, 429], "{statuses:?}");
    assert!(
        statuses[3]
            .retry_after
            .is_some_and(|wait| wait.as_secs() >= 1),
        "{:?}",
        statuses[3]
    );
}
