//! Moderation through the real binary and real QUIC clients: only admins may
//! use `/api/v1/admin/...` (401 without a token, 403 for a user); an admin
//! reads the reports, mutes a player (whose lines then reach nobody, counted),
//! kicks one (disconnected at once), and bans one: disconnected at once, no
//! access token and no realtime token until the ban is lifted.

mod common;

use std::time::Duration;

use common::api::{call, log_in};
use common::players::{PATIENCE, Player};
use common::{
    TEST_PASSWORD, account_join, create_admin, remove_database, start_server_on,
    temporary_database, token_claims,
};
use loadbot::http;
use meridian_protocol::messages::{ChatChannel, DisconnectReason};

fn user_id(access: &str) -> i64 {
    token_claims(access)["sub"].as_i64().expect("an account id")
}

#[test]
fn admins_read_reports_mute_kick_and_ban() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, server) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let boss = log_in(server, "boss", "boss password").await;
        let ada_join = account_join(server, "ada").await;
        let bob_join = account_join(server, "bob").await;
        let ada_access = ada_join.access_token.clone();
        let bob_access = bob_join.access_token.clone();
        let ada_id = user_id(&ada_access);
        let bob_id = user_id(&bob_access);
        let mut ada = Player::connect("ada", &ada_join).await;
        let mut bob = Player::connect("bob", &bob_join).await;

        // Only admins: 401 without a token, 403 for a user.
        let someone = format!(r#"{{"userId":{ada_id}}}"#);
        let mute_ada = format!(r#"{{"userId":{ada_id},"seconds":600}}"#);
        let admin_calls = [
            ("GET", "/api/v1/admin/reports", None),
            ("POST", "/api/v1/admin/kick", Some(someone.as_str())),
            ("POST", "/api/v1/admin/mute", Some(mute_ada.as_str())),
            ("POST", "/api/v1/admin/unmute", Some(someone.as_str())),
            ("POST", "/api/v1/admin/ban", Some(someone.as_str())),
            ("POST", "/api/v1/admin/unban", Some(someone.as_str())),
        ];
        for (method, path, body) in admin_calls {
            let (status, answer) = call(server, method, path, body, None).await;
            assert_eq!(status, 401, "{method} {path}: {answer}");
            let (status, answer) = call(server, method, path, body, Some(&bob_access)).await;
            assert_eq!(status, 403, "{method} {path} as a user: {answer}");
        }

        // Bob reports ada; an admin reads it.
        let report = format!(r#"{{"userId":{ada_id},"reason":"shouting"}}"#);
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/user/report",
            Some(&report),
            Some(&bob_access),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = call(
            server,
            "GET",
            "/api/v1/admin/reports?limit=10",
            None,
            Some(&boss),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let reports = answer["reports"].as_array().expect("reports");
        assert_eq!(reports.len(), 1, "{answer}");
        assert_eq!(reports[0]["reporterId"], bob_id);
        assert_eq!(reports[0]["reportedId"], ada_id);
        assert_eq!(reports[0]["reason"], "shouting");

        // Ada is muted: her line reaches nobody; bob's next one reaches both.
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/admin/mute",
            Some(&mute_ada),
            Some(&boss),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        ada.say(ChatChannel::Zone, "you cannot silence me");
        // The server counts the line it dropped; then bob speaks, and whoever
        // hears bob was sent everything relayed before.
        let counted = tokio::time::timeout(PATIENCE, async {
            loop {
                let metrics = http::get(server, "/metrics").await.expect("metrics");
                if http::prometheus_value(&metrics, "meridian_chat_muted_total") == Some(1.0) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(counted.is_ok(), "the muted line is counted");
        bob.say(ChatChannel::Zone, "bob speaks");
        assert!(ada.hears("bob speaks").await, "{:?}", ada.events);
        assert!(bob.hears("bob speaks").await, "{:?}", bob.events);
        assert!(!bob.has_heard("you cannot silence me"), "{:?}", bob.events);
        assert!(!ada.has_heard("you cannot silence me"), "{:?}", ada.events);

        // Bob is kicked: disconnected at once, with the reason.
        let kick_bob = format!(r#"{{"userId":{bob_id}}}"#);
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/admin/kick",
            Some(&kick_bob),
            Some(&boss),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(bob.disconnected().await, Some(DisconnectReason::Kicked));

        // Ada is banned: disconnected at once; no access token, no realtime token.
        let ban = format!(r#"{{"userId":{ada_id},"reason":"shouting","seconds":3600}}"#);
        let (status, answer) =
            call(server, "POST", "/api/v1/admin/ban", Some(&ban), Some(&boss)).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["bannedUntil"].as_i64().is_some(), "{answer}");
        assert_eq!(ada.disconnected().await, Some(DisconnectReason::Kicked));
        let login = format!(r#"{{"username":"ada","password":"{TEST_PASSWORD}"}}"#);
        let (status, answer) = call(server, "POST", "/api/v1/login", Some(&login), None).await;
        assert_eq!(status, 403, "a banned login: {answer}");
        let join = format!("/api/v1/space/{}/join", ada_join.space_id);
        let (status, answer) = call(server, "POST", &join, Some("{}"), Some(&ada_access)).await;
        assert_eq!(status, 403, "a banned join: {answer}");
        assert!(answer["error"].is_string(), "{answer}");

        // Lifted: ada may log in and join again.
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/admin/unban",
            Some(&someone),
            Some(&boss),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = call(server, "POST", "/api/v1/login", Some(&login), None).await;
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = call(server, "POST", &join, Some("{}"), Some(&ada_access)).await;
        assert_eq!(status, 200, "{answer}");
        ada.stop();
        bob.stop();
    });
    remove_database(&database);
}
