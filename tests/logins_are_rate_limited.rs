//! Logins and sign-ups are limited per client address, and failed logins per
//! account: past the limit the answer is 429 with `Retry-After` (seconds) and
//! a JSON error, counted in `/metrics`; an unknown account is refused like a
//! wrong password.

mod common;

use std::net::SocketAddr;

use common::{config_file, start_server_with, temporary_database};
use loadbot::http::{Answer, exchange};

async fn post(address: SocketAddr, path: &str, body: &str) -> Answer {
    exchange(address, "POST", path, Some(body), None)
        .await
        .expect("the server answers")
}

fn login(username: &str) -> String {
    format!(r#"{{"username":"{username}","password":"a wrong password"}}"#)
}

#[test]
fn the_attempt_past_each_limit_gets_429_with_retry_after() {
    let config = config_file(
        "[serve]\nlogin_attempts_per_address_per_minute = 7\n\
         login_attempts_per_account_per_minute = 3\n",
    );
    let config_path = config.display().to_string();
    let (_server, http_address) =
        start_server_with(&temporary_database(), &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let signed_up = post(
            http_address,
            "/api/v1/signup",
            r#"{"username":"ada","password":"ada's good password"}"#,
        )
        .await;
        assert_eq!(signed_up.status, 200, "{}", signed_up.body);
        // ada: three wrong passwords use the account's 3 failures (the
        // sign-up is charged to the address alone).
        for _ in 0..3 {
            let answer = post(http_address, "/api/v1/login", &login("ada")).await;
            assert_eq!(answer.status, 403, "{}", answer.body);
        }
        let limited = post(http_address, "/api/v1/login", &login("ada")).await;
        assert_eq!(
            limited.status, 429,
            "the account's 4th attempt: {}",
            limited.body
        );
        let retry = limited.retry_after.expect("a Retry-After header");
        assert!(retry.as_secs() >= 1, "{retry:?}");
        let error: serde_json::Value = serde_json::from_str(&limited.body).expect("JSON");
        assert!(
            error["error"]
                .as_str()
                .is_some_and(|text| text.contains("account"))
        );

        // The address has used 5 of its 7; an unknown account is a plain 403.
        let unknown = post(http_address, "/api/v1/login", &login("nobody")).await;
        assert_eq!(unknown.status, 403, "{}", unknown.body);
        let signup = post(
            http_address,
            "/api/v1/signup",
            r#"{"username":"bob","password":"bob's good password"}"#,
        )
        .await;
        assert_eq!(signup.status, 200, "{}", signup.body);
        let limited = post(http_address, "/api/v1/login", &login("carol")).await;
        assert_eq!(
            limited.status, 429,
            "the address's 8th attempt: {}",
            limited.body
        );
        assert!(limited.retry_after.is_some());
        let error: serde_json::Value = serde_json::from_str(&limited.body).expect("JSON");
        assert!(
            error["error"]
                .as_str()
                .is_some_and(|text| text.contains("address"))
        );

        let metrics = loadbot::http::get(http_address, "/metrics")
            .await
            .expect("metrics");
        let counted = |limit: &str| {
            loadbot::http::prometheus_value(
                &metrics,
                &format!("meridian_login_rate_limited_total{{limit=\"{limit}\"}}"),
            )
        };
        assert_eq!(counted("account"), Some(1.0), "{metrics}");
        assert_eq!(counted("address"), Some(1.0), "{metrics}");
    });
    let _ = std::fs::remove_file(config);
}
