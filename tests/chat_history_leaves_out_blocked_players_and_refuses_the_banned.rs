//! The chat history through the real binary follows blocks and bans as live
//! chat does: once ada blocks bob, ada's history has none of bob's lines and
//! bob's none of ada's (whoever blocked whom), while cid reads everyone's; a
//! banned player whose access token has not expired yet gets a 403.

mod common;

use common::api::{call, log_in};
use common::players::Player;
use common::{
    account_join, create_admin, remove_database, start_server_on, temporary_database, token_claims,
};
use meridian_protocol::messages::ChatChannel;
use serde_json::Value;

fn user_id(access: &str) -> i64 {
    token_claims(access)["sub"].as_i64().expect("an account id")
}

/// The texts of the first page of the history, as `access` reads it.
async fn history(server: std::net::SocketAddr, space: i64, access: &str) -> (u16, Value) {
    let path = format!("/api/v1/space/{space}/chat?limit=100");
    call(server, "GET", &path, None, Some(access)).await
}

fn texts(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("messages in {page}"))
        .iter()
        .map(|line| line["text"].as_str().expect("text").to_owned())
        .collect()
}

#[test]
fn history_hides_blocked_senders_both_ways_and_refuses_the_banned() {
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
        let cid_join = account_join(server, "cid").await;
        let space = ada_join.space_id;
        let ada = Player::connect("ada", &ada_join).await;
        let bob = Player::connect("bob", &bob_join).await;
        let mut cid = Player::connect("cid", &cid_join).await;
        ada.say(ChatChannel::Zone, "ada speaks");
        bob.say(ChatChannel::Zone, "bob speaks");
        cid.say(ChatChannel::Zone, "cid speaks");
        // Lines are stored before anyone hears them.
        for line in ["ada speaks", "bob speaks", "cid speaks"] {
            assert!(cid.hears(line).await, "{line}: {:?}", cid.events);
        }

        let block = format!(r#"{{"userId":{}}}"#, user_id(&bob_join.access_token));
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/user/block",
            Some(&block),
            Some(&ada_join.access_token),
        )
        .await;
        assert_eq!(status, 200, "{answer}");

        let (status, page) = history(server, space, &ada_join.access_token).await;
        assert_eq!(status, 200, "{page}");
        let read = texts(&page);
        assert!(
            !read.contains(&"bob speaks".to_owned()),
            "ada blocked bob: {read:?}"
        );
        assert!(read.contains(&"cid speaks".to_owned()) && read.contains(&"ada speaks".to_owned()));

        let (status, page) = history(server, space, &bob_join.access_token).await;
        assert_eq!(status, 200, "{page}");
        let read = texts(&page);
        assert!(
            !read.contains(&"ada speaks".to_owned()),
            "ada blocked bob: {read:?}"
        );
        assert!(read.contains(&"cid speaks".to_owned()) && read.contains(&"bob speaks".to_owned()));

        let (status, page) = history(server, space, &cid_join.access_token).await;
        assert_eq!(status, 200, "{page}");
        let read = texts(&page);
        for line in ["ada speaks", "bob speaks", "cid speaks"] {
            assert!(read.contains(&line.to_owned()), "{line}: {read:?}");
        }

        // Cid is banned; the access token cid holds is still good, not for the history.
        let ban = format!(r#"{{"userId":{}}}"#, user_id(&cid_join.access_token));
        let (status, answer) =
            call(server, "POST", "/api/v1/admin/ban", Some(&ban), Some(&boss)).await;
        assert_eq!(status, 200, "{answer}");
        let (status, page) = history(server, space, &cid_join.access_token).await;
        assert_eq!(status, 403, "{page}");
        assert!(page["error"].is_string(), "{page}");

        for player in [ada, bob, cid] {
            player.stop();
        }
    });
    remove_database(&database);
}
