//! Moderation holds in every instance, including one started after the
//! decision: a muted player who opens a new room is muted there, and the
//! lines of two players who blocked each other stay hidden from each other.

mod common;

use common::api::{call, create_space, log_in};
use common::players::Player;
use common::{
    Joined, account_join, create_admin, start_server_on, temporary_database, token_claims,
};
use meridian_protocol::messages::ChatChannel;

/// Waits (at most 20 s) until the counter `name` reaches `value`.
async fn counter_reaches(http: std::net::SocketAddr, name: &str, value: f64) -> bool {
    for _ in 0..200 {
        let page = common::logs::get(http, "/metrics");
        if loadbot::http::prometheus_value(&page, name) == Some(value) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

fn user_id(access: &str) -> i64 {
    token_claims(access)["sub"].as_i64().expect("an account id")
}

#[test]
fn a_mute_and_a_block_hold_in_an_instance_started_after_them() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, http) = start_server_on(&database);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let boss = log_in(http, "boss", "boss password").await;
            // Accounts made through the world's join (they sign up there).
            let ada = account_join(http, "ada").await.access_token;
            let bob = account_join(http, "bob").await.access_token;
            let cy = account_join(http, "cyd").await.access_token;
            let mute = format!(r#"{{"userId":{},"seconds":600}}"#, user_id(&ada));
            let (status, answer) =
                call(http, "POST", "/api/v1/admin/mute", Some(&mute), Some(&boss)).await;
            assert_eq!(status, 200, "{answer}");
            let block = format!(r#"{{"userId":{}}}"#, user_id(&cy));
            let (status, answer) =
                call(http, "POST", "/api/v1/user/block", Some(&block), Some(&bob)).await;
            assert_eq!(status, 200, "{answer}");

            // Then a new space, whose instance starts with the first join.
            let (status, created) = create_space(http, &bob, "late-room").await;
            assert_eq!(status, 200, "{created}");
            let room = created["spaceId"].as_i64().expect("space id");
            let mut players = Vec::new();
            for (name, token) in [("ada", &ada), ("bob", &bob), ("cyd", &cy)] {
                let joined = Joined::with_access(http, token, room).await;
                players.push(Player::connect(name, &joined).await);
            }
            let [ada_player, mut bob_player, mut cy_player] = <[Player; 3]>::try_from(players)
                .ok()
                .expect("three players");
            // Each line is counted where it is dropped or hidden: wait for
            // the count, then check nobody heard it.
            ada_player.say(ChatChannel::Zone, "muted words");
            assert!(
                counter_reaches(http, "meridian_chat_muted_total", 1.0).await,
                "ada is muted in the new room"
            );
            cy_player.say(ChatChannel::Zone, "words for bob");
            // Delivered to ada, hidden from bob.
            assert!(counter_reaches(http, "meridian_chat_hidden_by_blocks_total", 1.0).await);
            bob_player.say(ChatChannel::Zone, "bob speaks");
            assert!(counter_reaches(http, "meridian_chat_hidden_by_blocks_total", 2.0).await);
            assert!(cy_player.hears("words for bob").await, "cy hears herself");
            assert!(bob_player.hears("bob speaks").await, "bob hears himself");
            assert!(!bob_player.has_heard("muted words"));
            assert!(!cy_player.has_heard("muted words"));
            assert!(
                !bob_player.has_heard("words for bob"),
                "cy is hidden from bob"
            );
            assert!(!cy_player.has_heard("bob speaks"), "and bob from cy");
            for player in [ada_player, bob_player, cy_player] {
                player.stop();
            }
        });
}
