//! Blocks through the real binary and real QUIC clients: once ada blocks bob,
//! neither hears the other (the server does not send the lines) while cid
//! hears both; a block made before a player connects holds from its first
//! line; lifting the block lets them hear each other again.

mod common;

use common::api::call;
use common::players::Player;
use common::{account_join, remove_database, start_server_on, temporary_database, token_claims};
use meridian_protocol::messages::ChatChannel;

fn user_id(access: &str) -> i64 {
    token_claims(access)["sub"].as_i64().expect("an account id")
}

#[test]
fn blocked_players_do_not_hear_each_other_and_others_hear_both() {
    let database = temporary_database();
    let (_server, server) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ada_join = account_join(server, "ada").await;
        let bob_join = account_join(server, "bob").await;
        let cid_join = account_join(server, "cid").await;
        let mut ada = Player::connect("ada", &ada_join).await;
        let mut bob = Player::connect("bob", &bob_join).await;
        let mut cid = Player::connect("cid", &cid_join).await;

        // Ada blocks bob while both are connected.
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

        ada.say(ChatChannel::Zone, "ada one");
        bob.say(ChatChannel::Proximity, "bob one");
        bob.say(ChatChannel::Zone, "bob two");
        assert!(cid.hears("ada one").await, "{:?}", cid.events);
        assert!(cid.hears("bob two").await, "{:?}", cid.events);
        // Cid speaks after both lines went out: whoever hears cid's line has
        // been sent everything said before it (one ordered stream each).
        cid.say(ChatChannel::Zone, "cid one");
        assert!(ada.hears("cid one").await, "{:?}", ada.events);
        assert!(bob.hears("cid one").await, "{:?}", bob.events);
        assert!(
            !ada.has_heard("bob one") && !ada.has_heard("bob two"),
            "{:?}",
            ada.events
        );
        assert!(!bob.has_heard("ada one"), "{:?}", bob.events);

        // Dan blocks ada before he connects: it holds from his first line.
        let dan_join = account_join(server, "dan").await;
        let block = format!(r#"{{"userId":{}}}"#, user_id(&ada_join.access_token));
        let (status, answer) = call(
            server,
            "POST",
            "/api/v1/user/block",
            Some(&block),
            Some(&dan_join.access_token),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let dan_join = dan_join.again(server).await;
        let mut dan = Player::connect("dan", &dan_join).await;
        dan.say(ChatChannel::Zone, "dan one");
        ada.say(ChatChannel::Zone, "ada two");
        assert!(cid.hears("dan one").await, "{:?}", cid.events);
        assert!(cid.hears("ada two").await, "{:?}", cid.events);
        cid.say(ChatChannel::Zone, "cid two");
        assert!(ada.hears("cid two").await, "{:?}", ada.events);
        assert!(dan.hears("cid two").await, "{:?}", dan.events);
        assert!(!ada.has_heard("dan one"), "{:?}", ada.events);
        assert!(!dan.has_heard("ada two"), "{:?}", dan.events);
        assert!(bob.hears("dan one").await, "bob blocked nobody but ada");

        // Ada lifts her block: bob hears her again, and she him.
        let unblock = format!(r#"{{"userId":{}}}"#, user_id(&bob_join.access_token));
        let (status, answer) = call(
            server,
            "DELETE",
            "/api/v1/user/block",
            Some(&unblock),
            Some(&ada_join.access_token),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        ada.say(ChatChannel::Zone, "ada three");
        bob.say(ChatChannel::Zone, "bob three");
        assert!(bob.hears("ada three").await, "{:?}", bob.events);
        assert!(ada.hears("bob three").await, "{:?}", ada.events);
        // Lifting a block that is not there is a 404.
        let (status, _) = call(
            server,
            "DELETE",
            "/api/v1/user/block",
            Some(&unblock),
            Some(&ada_join.access_token),
        )
        .await;
        assert_eq!(status, 404);
        for player in [ada, bob, cid, dan] {
            player.stop();
        }
    });
    remove_database(&database);
}
