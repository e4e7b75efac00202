//! Sessions: a login returns a short-lived access token and a refresh token;
//! refreshing rotates them (the old refresh token is refused afterwards, and
//! using it again revokes every token of that login); logging out revokes the
//! session.

mod common;

use std::net::SocketAddr;

use common::{start_server, token_claims};
use loadbot::http::{Answer, exchange};

async fn post(address: SocketAddr, path: &str, body: &str) -> Answer {
    exchange(address, "POST", path, Some(body), None)
        .await
        .expect("the server answers")
}

fn json(answer: &Answer) -> serde_json::Value {
    serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("JSON: {}", answer.body))
}

fn text(value: &serde_json::Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .to_owned()
}

async fn refresh(address: SocketAddr, refresh_token: &str) -> Answer {
    post(
        address,
        "/api/v1/token/refresh",
        &format!(r#"{{"refresh_token":"{refresh_token}"}}"#),
    )
    .await
}

/// Whether the API takes `access` (joining the hosted space needs it).
async fn accepted(address: SocketAddr, access: &str, space: i64) -> bool {
    let answer = exchange(
        address,
        "POST",
        &format!("/api/v1/space/{space}/join"),
        None,
        Some(access),
    )
    .await
    .expect("the server answers");
    answer.status == 200
}

#[test]
fn refresh_rotates_and_logout_revokes() {
    let (_server, http_address) = start_server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let credentials = r#"{"username":"ada","password":"ada's good password"}"#;
        assert_eq!(
            post(http_address, "/api/v1/signup", credentials)
                .await
                .status,
            200
        );
        let login = post(http_address, "/api/v1/login", credentials).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let session = json(&login);
        let access = text(&session, "token");
        let first = text(&session, "refresh_token");
        let lifetime = session["expires_in"].as_u64().expect("expires_in");
        assert!(
            (60..=3_600).contains(&lifetime),
            "short-lived: {lifetime} s"
        );
        let claims = token_claims(&access);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert!(claims["exp"].as_u64().expect("exp") <= now + lifetime + 5);
        let space = loadbot::account::hosted_space(
            http_address,
            &access,
            std::time::Instant::now() + std::time::Duration::from_secs(30),
        )
        .await
        .expect("the hosted space");
        assert!(accepted(http_address, &access, space).await);

        // Rotation: a new pair; the old refresh token is refused from now on.
        let rotated = refresh(http_address, &first).await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let rotated = json(&rotated);
        let second = text(&rotated, "refresh_token");
        assert_ne!(second, first);
        assert!(accepted(http_address, &text(&rotated, "token"), space).await);
        let again = refresh(http_address, &first).await;
        assert_eq!(
            again.status, 401,
            "a rotated token is refused: {}",
            again.body
        );
        assert!(json(&again)["error"].is_string());
        // That reuse looks like theft: the whole login is revoked.
        assert_eq!(refresh(http_address, &second).await.status, 401);

        // Log out: the session's refresh token stops working.
        let login = json(&post(http_address, "/api/v1/login", credentials).await);
        let third = text(&login, "refresh_token");
        let logout = post(
            http_address,
            "/api/v1/logout",
            &format!(r#"{{"refresh_token":"{third}"}}"#),
        )
        .await;
        assert_eq!(logout.status, 204, "{}", logout.body);
        assert_eq!(refresh(http_address, &third).await.status, 401);
        assert_eq!(refresh(http_address, "never issued").await.status, 401);
    });
}
