//! Only failed logins count against an account name: wrong guesses for a
//! name (from anywhere) do not keep the player's right password out until
//! they reach the per-account failure limit, and the player's own logins
//! never use it up. Past the failure limit, every login for the name waits.

mod common;

use std::net::SocketAddr;

use common::{config_file, start_server_with, temporary_database};
use loadbot::http::{Answer, exchange};

async fn post(address: SocketAddr, path: &str, body: &str) -> Answer {
    exchange(address, "POST", path, Some(body), None)
        .await
        .expect("the server answers")
}

fn login(password: &str) -> String {
    format!(r#"{{"username":"ada","password":"{password}"}}"#)
}

#[test]
fn the_player_logs_in_between_strangers_guesses_until_the_failure_limit() {
    let config = config_file(
        "[serve]\nlogin_attempts_per_address_per_minute = 1000\n\
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
        // Two wrong guesses, then Ada logs in five times (more than the
        // limit of 3): every one of hers gets in.
        for _ in 0..2 {
            let guess = post(http_address, "/api/v1/login", &login("a wrong guess")).await;
            assert_eq!(guess.status, 403, "{}", guess.body);
        }
        for attempt in 0..5 {
            let answer = post(http_address, "/api/v1/login", &login("ada's good password")).await;
            assert_eq!(answer.status, 200, "Ada's login {attempt}: {}", answer.body);
        }
        // The third failure reaches the limit: now Ada waits too.
        let guess = post(http_address, "/api/v1/login", &login("a wrong guess")).await;
        assert_eq!(guess.status, 403, "{}", guess.body);
        let limited = post(http_address, "/api/v1/login", &login("ada's good password")).await;
        assert_eq!(limited.status, 429, "{}", limited.body);
        assert!(limited.retry_after.is_some(), "a Retry-After header");
    });
    let _ = std::fs::remove_file(config);
}
