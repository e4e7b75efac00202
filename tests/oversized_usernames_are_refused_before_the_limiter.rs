//! A login or sign-up whose username no account can have (here 100 KB) is a
//! 400 before anything is spent on it: the failed-login limit tracks no key
//! for it (`meridian_login_limit_tracked_accounts` stays 0), so a flood of
//! huge names cannot grow the server's memory.

mod common;

use std::net::SocketAddr;

use common::{start_server_on, temporary_database};
use loadbot::http::{Answer, exchange};

async fn post(address: SocketAddr, path: &str, body: &str) -> Answer {
    exchange(address, "POST", path, Some(body), None)
        .await
        .expect("the server answers")
}

async fn tracked_accounts(address: SocketAddr) -> Option<f64> {
    let metrics = loadbot::http::get(address, "/metrics")
        .await
        .expect("metrics");
    loadbot::http::prometheus_value(&metrics, "meridian_login_limit_tracked_accounts")
}

#[test]
fn a_100_kb_username_is_a_400_and_tracks_no_key() {
    let (_server, http_address) = start_server_on(&temporary_database());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        assert_eq!(tracked_accounts(http_address).await, Some(0.0));
        let huge = "a".repeat(100 * 1024);
        for path in ["/api/v1/login", "/api/v1/signup"] {
            for attempt in 0..3 {
                let body = format!(
                    r#"{{"username":"{huge}{attempt}","password":"a long enough password"}}"#
                );
                let answer = post(http_address, path, &body).await;
                assert_eq!(answer.status, 400, "{path}: {}", answer.body);
                let error: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
                assert!(
                    error["error"]
                        .as_str()
                        .is_some_and(|text| text.contains("username")),
                    "{error}"
                );
            }
        }
        assert_eq!(
            tracked_accounts(http_address).await,
            Some(0.0),
            "no name was tracked"
        );
        // A wrong password for a possible name is tracked, as before.
        let answer = post(
            http_address,
            "/api/v1/login",
            r#"{"username":"nobody","password":"a long enough password"}"#,
        )
        .await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert_eq!(tracked_accounts(http_address).await, Some(1.0));
    });
}
