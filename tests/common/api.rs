//! Calling the HTTP API of a running server from tests: status and parsed
//! body, accounts and their access tokens.

use std::net::SocketAddr;

use loadbot::http::{self, HttpError};
use serde_json::Value;

/// (status, parsed body or null) of one request.
pub(crate) async fn call(
    server: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    match http::send(server, method, path, body, token).await {
        Ok(text) => (200, serde_json::from_str(&text).unwrap_or(Value::Null)),
        Err(HttpError::Status { status, body }) => {
            (status, serde_json::from_str(&body).unwrap_or(Value::Null))
        }
        Err(other) => panic!("{method} {path}: {other}"),
    }
}

/// An access token for `username`.
pub(crate) async fn log_in(server: SocketAddr, username: &str, password: &str) -> String {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let (status, answer) = call(server, "POST", "/api/v1/login", Some(&body), None).await;
    assert_eq!(status, 200, "{answer}");
    answer["token"].as_str().expect("token").to_owned()
}

/// Signs up `username` (a user) and returns its access token.
pub(crate) async fn sign_up(server: SocketAddr, username: &str, password: &str) -> String {
    let body = format!(r#"{{"username":"{username}","password":"{password}","type":"user"}}"#);
    let (status, answer) = call(server, "POST", "/api/v1/signup", Some(&body), None).await;
    assert_eq!(status, 200, "{answer}");
    log_in(server, username, password).await
}

/// An admin adds an element to the catalogue; returns its id.
pub(crate) async fn create_element(server: SocketAddr, admin: &str) -> i64 {
    let element =
        r#"{"imageUrl":"https://example.invalid/chair.png","width":1,"height":1,"static":false}"#;
    let (status, created) = call(
        server,
        "POST",
        "/api/v1/admin/element",
        Some(element),
        Some(admin),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    created["id"].as_i64().expect("id")
}

/// The caller creates a 100 x 100 space anyone with its id may see.
pub(crate) async fn create_space(server: SocketAddr, token: &str, name: &str) -> (u16, Value) {
    let body = format!(r#"{{"name":"{name}","dimensions":"100x100"}}"#);
    call(server, "POST", "/api/v1/space", Some(&body), Some(token)).await
}

/// The caller creates a 100 x 100 private space (its owner and admins only).
pub(crate) async fn create_private_space(
    server: SocketAddr,
    token: &str,
    name: &str,
) -> (u16, Value) {
    let body = format!(r#"{{"name":"{name}","dimensions":"100x100","private":true}}"#);
    call(server, "POST", "/api/v1/space", Some(&body), Some(token)).await
}

/// The caller places `element` at (x, y) in `space`.
pub(crate) async fn place(
    server: SocketAddr,
    token: &str,
    element: i64,
    space: i64,
    x: i32,
    y: i32,
) -> (u16, Value) {
    let body = format!(r#"{{"elementId":{element},"spaceId":{space},"x":{x},"y":{y}}}"#);
    call(
        server,
        "POST",
        "/api/v1/space/element",
        Some(&body),
        Some(token),
    )
    .await
}

/// Every item of a paged list at `path` (`?limit=N` or `&limit=N` added),
/// following `nextAfter` until it is null; `key` names the list.
pub(crate) async fn every_page(
    server: SocketAddr,
    path: &str,
    key: &str,
    limit: u32,
    token: Option<&str>,
) -> Vec<Vec<Value>> {
    let joiner = if path.contains('?') { '&' } else { '?' };
    let mut pages = Vec::new();
    let mut after: Option<i64> = None;
    for _ in 0..10_000 {
        let cursor = after.map(|id| format!("&after={id}")).unwrap_or_default();
        let url = format!("{path}{joiner}limit={limit}{cursor}");
        let (status, page) = call(server, "GET", &url, None, token).await;
        assert_eq!(status, 200, "{url}: {page}");
        pages.push(page[key].as_array().expect("a list").clone());
        match page["nextAfter"].as_i64() {
            Some(next) => after = Some(next),
            None => {
                assert!(page["nextAfter"].is_null(), "{page}");
                return pages;
            }
        }
    }
    panic!("{path} never ended");
}

/// An admin grants `quantity` of catalogue element `item` to `user`'s
/// character (`POST /api/v1/admin/inventory/grant`); returns the count now
/// held. A 404 while the character's first checkpoint is on its way (the user
/// just joined or left) is asked again, for at most 20 seconds.
pub(crate) async fn grant_items(
    server: SocketAddr,
    admin: &str,
    user: i64,
    item: i64,
    quantity: i64,
) -> u64 {
    let body = format!(r#"{{"userId":{user},"itemId":{item},"quantity":{quantity}}}"#);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let path = "/api/v1/admin/inventory/grant";
        let (status, answer) = call(server, "POST", path, Some(&body), Some(admin)).await;
        if status == 404 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(status, 200, "{answer}");
        return answer["quantity"].as_u64().expect("quantity");
    }
}
