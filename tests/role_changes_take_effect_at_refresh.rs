//! A role change reaches a session within its access token's lifetime:
//! through the real binary, an admin makes bob an admin and then a user again
//! (`PUT /api/v1/admin/user/{id}/role`); bob's access token keeps the role it
//! was issued with, and the token his next refresh gets carries the new one.
//! Only admins change roles.

mod common;

use std::net::SocketAddr;

use common::api::{call, log_in};
use common::{create_admin, remove_database, start_server_on, temporary_database, token_claims};
use serde_json::Value;

/// Logs in: (access token, refresh token).
async fn session(server: SocketAddr, username: &str, password: &str) -> (String, String) {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let (status, answer) = call(server, "POST", "/api/v1/login", Some(&body), None).await;
    assert_eq!(status, 200, "{answer}");
    (text(&answer, "token"), text(&answer, "refresh_token"))
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .to_owned()
}

/// Refreshes: the new (access token, refresh token).
async fn refresh(server: SocketAddr, refresh_token: &str) -> (String, String) {
    let body = format!(r#"{{"refresh_token":"{refresh_token}"}}"#);
    let (status, answer) = call(server, "POST", "/api/v1/token/refresh", Some(&body), None).await;
    assert_eq!(status, 200, "{answer}");
    (text(&answer, "token"), text(&answer, "refresh_token"))
}

/// The status of an admin-only read with `token`.
async fn admin_read(server: SocketAddr, token: &str) -> u16 {
    call(server, "GET", "/api/v1/admin/reports", None, Some(token))
        .await
        .0
}

async fn set_role(server: SocketAddr, admin: &str, user: u64, role: &str) -> (u16, Value) {
    call(
        server,
        "PUT",
        &format!("/api/v1/admin/user/{user}/role"),
        Some(&format!(r#"{{"role":"{role}"}}"#)),
        Some(admin),
    )
    .await
}

#[test]
fn a_role_change_reaches_the_session_at_its_next_refresh() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, server) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let boss = log_in(server, "boss", "boss password").await;
        let signup = r#"{"username":"bob","password":"bob password","type":"user"}"#;
        let (status, answer) = call(server, "POST", "/api/v1/signup", Some(signup), None).await;
        assert_eq!(status, 200, "{answer}");
        let (access, refresh_token) = session(server, "bob", "bob password").await;
        let bob = token_claims(&access)["sub"].as_u64().expect("sub");
        assert_eq!(admin_read(server, &access).await, 403, "bob is a user");

        // A user cannot change roles, not even his own.
        let (status, _) = set_role(server, &access, bob, "admin").await;
        assert_eq!(status, 403);
        let (status, _) = set_role(server, &boss, bob, "owner").await;
        assert_eq!(status, 400, "no such role");
        let (status, _) = set_role(server, &boss, 424_242, "admin").await;
        assert_eq!(status, 404, "no such account");

        // Promoted: the token in hand keeps its role; the refreshed one is admin.
        let (status, answer) = set_role(server, &boss, bob, "admin").await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["role"], "admin");
        assert_eq!(admin_read(server, &access).await, 403);
        let (access, refresh_token) = refresh(server, &refresh_token).await;
        assert_eq!(token_claims(&access)["role"], "admin");
        assert_eq!(admin_read(server, &access).await, 200);

        // Demoted: at the next refresh bob is a user again.
        let (status, _) = set_role(server, &boss, bob, "user").await;
        assert_eq!(status, 200);
        let (access, _) = refresh(server, &refresh_token).await;
        assert_eq!(token_claims(&access)["role"], "user");
        assert_eq!(admin_read(server, &access).await, 403);
    });
    remove_database(&database);
}
