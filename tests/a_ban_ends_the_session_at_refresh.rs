//! Access tokens are short-lived and a refresh reads the account again: a
//! player banned after logging in cannot refresh the session (403), so the
//! ban reaches the API within one access token lifetime even for a client
//! that never logs in again.

mod common;

use std::net::SocketAddr;

use common::{create_admin, remove_database, start_server_on, temporary_database};
use loadbot::http::{Answer, exchange};

async fn post(address: SocketAddr, path: &str, body: &str, token: Option<&str>) -> Answer {
    exchange(address, "POST", path, Some(body), token)
        .await
        .expect("the server answers")
}

fn field(answer: &Answer, key: &str) -> serde_json::Value {
    let body: serde_json::Value =
        serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("JSON: {}", answer.body));
    body[key].clone()
}

#[test]
fn a_banned_player_cannot_refresh() {
    let database = temporary_database();
    create_admin(&database, "root_admin", "correct horse battery");
    let (server, http_address) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ada = r#"{"username":"ada","password":"ada's good password"}"#;
        let signed_up = post(http_address, "/api/v1/signup", ada, None).await;
        assert_eq!(signed_up.status, 200, "{}", signed_up.body);
        let ada_id = field(&signed_up, "userId").as_i64().expect("userId");
        let login = post(http_address, "/api/v1/login", ada, None).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let refresh = field(&login, "refresh_token")
            .as_str()
            .expect("refresh_token")
            .to_owned();
        let refresh_body = |token: &str| format!(r#"{{"refresh_token":"{token}"}}"#);

        // Before the ban a refresh works (and rotates).
        let rotated = post(
            http_address,
            "/api/v1/token/refresh",
            &refresh_body(&refresh),
            None,
        )
        .await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let refresh = field(&rotated, "refresh_token")
            .as_str()
            .expect("refresh_token")
            .to_owned();

        let admin = post(
            http_address,
            "/api/v1/login",
            r#"{"username":"root_admin","password":"correct horse battery"}"#,
            None,
        )
        .await;
        let admin_token = field(&admin, "token").as_str().expect("token").to_owned();
        let banned = post(
            http_address,
            "/api/v1/admin/ban",
            &format!(r#"{{"userId":{ada_id},"reason":"test"}}"#),
            Some(&admin_token),
        )
        .await;
        assert_eq!(banned.status, 200, "{}", banned.body);

        let refused = post(
            http_address,
            "/api/v1/token/refresh",
            &refresh_body(&refresh),
            None,
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(field(&refused, "error").is_string());
    });
    drop(server);
    remove_database(&database);
}
