//! One account cannot mint realtime tokens without bound (each spends an id
//! at the game server's hello): past `[serve] joins_per_account_per_minute`,
//! `POST /api/v1/space/{id}/join` answers 429 with `Retry-After` and a JSON
//! error, counted in `/metrics`; other accounts still join.

mod common;

use std::net::SocketAddr;

use common::{config_file, start_server_with, temporary_database};
use loadbot::http::{Answer, exchange};

async fn join(address: SocketAddr, access: &str, space: i64) -> Answer {
    exchange(
        address,
        "POST",
        &format!("/api/v1/space/{space}/join"),
        Some("{}"),
        Some(access),
    )
    .await
    .expect("the server answers")
}

#[test]
fn the_join_past_the_limit_gets_429_with_retry_after() {
    let config = config_file("[serve]\njoins_per_account_per_minute = 2\n");
    let config_path = config.display().to_string();
    let (_server, http_address) =
        start_server_with(&temporary_database(), &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let ada = common::api::sign_up(http_address, "ada", "ada's good password").await;
        let space = loadbot::account::hosted_space(http_address, &ada, deadline)
            .await
            .expect("the hosted space");
        for attempt in 0..2 {
            let answer = join(http_address, &ada, space).await;
            assert_eq!(answer.status, 200, "join {attempt}: {}", answer.body);
        }
        let limited = join(http_address, &ada, space).await;
        assert_eq!(limited.status, 429, "the third join: {}", limited.body);
        let retry = limited.retry_after.expect("a Retry-After header");
        assert!(retry.as_secs() >= 1, "{retry:?}");
        let error: serde_json::Value = serde_json::from_str(&limited.body).expect("JSON");
        assert!(
            error["error"]
                .as_str()
                .is_some_and(|text| text.contains("joins")),
            "{error}"
        );
        // Another account is not affected.
        let bob = common::api::sign_up(http_address, "bob", "bob's good password").await;
        let answer = join(http_address, &bob, space).await;
        assert_eq!(answer.status, 200, "{}", answer.body);

        let metrics = loadbot::http::get(http_address, "/metrics")
            .await
            .expect("metrics");
        assert_eq!(
            loadbot::http::prometheus_value(&metrics, "meridian_join_rate_limited_total"),
            Some(1.0),
            "{metrics}"
        );
    });
    let _ = std::fs::remove_file(config);
}
