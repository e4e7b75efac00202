//! A space with a capacity runs as rooms: a join takes the fullest room with
//! a free seat, a join `with` a friend takes the friend's room, each room is
//! its own instance (what is said in one is not heard in another), and the
//! rooms are listed with their seats. A full space without overflow, or a
//! friend who is not there, is a clear 409 that reserves nothing.

mod common;

use std::net::SocketAddr;

use common::Joined;
use common::api::{call, sign_up};
use common::players::Player;
use meridian_protocol::messages::ChatChannel;
use serde_json::Value;

const PASSWORD: &str = "a long enough password";

async fn join(http: SocketAddr, token: &str, space: i64, body: Option<&str>) -> (u16, Value) {
    call(
        http,
        "POST",
        &format!("/api/v1/space/{space}/join"),
        body,
        Some(token),
    )
    .await
}

async fn connect(http: SocketAddr, name: &str, token: &str, space: i64) -> (Player, u32) {
    let joined = Joined::with_access(http, token, space).await;
    let player = Player::connect(name, &joined).await;
    // The same account joining again keeps its seat: ask which room that is.
    let (status, again) = join(http, token, space, None).await;
    assert_eq!(status, 200, "{again}");
    let room = again["room"].as_u64().expect("a room") as u32;
    (player, room)
}

#[test]
fn rooms_fill_fullest_first_and_friends_join_friends() {
    let (server, http) = common::start_server();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let owner = sign_up(http, "owner", PASSWORD).await;
            let (status, created) = call(
                http,
                "POST",
                "/api/v1/space",
                Some(r#"{"name":"classroom","dimensions":"40x40","capacity":2}"#),
                Some(&owner),
            )
            .await;
            assert_eq!(status, 200, "{created}");
            let classroom = created["spaceId"].as_i64().expect("space id");
            let mut tokens = Vec::new();
            for name in ["ann", "ben", "cat", "dan", "eve"] {
                tokens.push(sign_up(http, name, PASSWORD).await);
            }
            let (ann, ben, cat, dan, eve) =
                (&tokens[0], &tokens[1], &tokens[2], &tokens[3], &tokens[4]);

            let (ann_player, ann_room) = connect(http, "ann", ann, classroom).await;
            let (ben_player, ben_room) = connect(http, "ben", ben, classroom).await;
            let (cat_player, cat_room) = connect(http, "cat", cat, classroom).await;
            assert_eq!(
                (ann_room, ben_room, cat_room),
                (1, 1, 2),
                "fullest first, two seats a room"
            );

            // Dan asks to be with Cat: her room has a free seat.
            let cat_id = account_id(cat);
            let with_cat = format!(r#"{{"with":{cat_id}}}"#);
            let (status, answer) = join(http, dan, classroom, Some(&with_cat)).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(
                answer["room"].as_u64(),
                Some(2),
                "with a friend: their room"
            );
            let dan_joined = Joined::parse(&answer.to_string());
            let mut dan_player = Player::connect("dan", &dan_joined).await;

            // Eve asks to be with Ann, whose room is full: refused, nothing reserved.
            let ann_id = account_id(ann);
            let (status, answer) = join(
                http,
                eve,
                classroom,
                Some(&format!(r#"{{"with":{ann_id}}}"#)),
            )
            .await;
            assert_eq!(status, 409, "{answer}");
            // With someone who is not in the space at all: refused too.
            let owner_id = account_id(&owner);
            let (status, answer) = join(
                http,
                eve,
                classroom,
                Some(&format!(r#"{{"with":{owner_id}}}"#)),
            )
            .await;
            assert_eq!(status, 409, "{answer}");
            let (status, answer) = join(http, eve, classroom, Some(r#"{"wiht":1}"#)).await;
            assert_eq!(status, 400, "an unknown field: {answer}");

            // Each room is its own instance.
            cat_player.say(ChatChannel::Zone, "room two only");
            assert!(dan_player.hears("room two only").await);
            ann_player.say(ChatChannel::Zone, "room one only");
            let mut ben_player = ben_player;
            assert!(ben_player.hears("room one only").await);
            assert!(!ben_player.has_heard("room two only"));
            assert!(!cat_player.has_heard("room one only"));

            // The rooms, with their seats.
            let (status, listed) = call(
                http,
                "GET",
                &format!("/api/v1/space/{classroom}/rooms"),
                None,
                Some(eve),
            )
            .await;
            assert_eq!(status, 200, "{listed}");
            assert_eq!(listed["capacity"].as_u64(), Some(2));
            let seated: Vec<(u64, u64)> = listed["rooms"]
                .as_array()
                .expect("rooms")
                .iter()
                .map(|room| {
                    (
                        room["room"].as_u64().unwrap_or(0),
                        room["seated"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            assert_eq!(seated, [(1, 2), (2, 2)], "{listed}");
            // The space's live count in the list of spaces.
            let (_, all) = call(http, "GET", "/api/v1/space/all", None, Some(&owner)).await;
            let listed_players = all["spaces"]
                .as_array()
                .expect("spaces")
                .iter()
                .find(|space| space["id"].as_i64() == Some(classroom))
                .and_then(|space| space["players"].as_u64());
            assert_eq!(listed_players, Some(4), "{all}");

            // Eve, with no friend named, opens room 3.
            let (status, answer) = join(http, eve, classroom, None).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["room"].as_u64(), Some(3));

            // Without overflow, a full space refuses.
            let (status, created) = call(
                http,
                "POST",
                "/api/v1/space",
                Some(r#"{"name":"booth","dimensions":"20x20","capacity":1,"overflow":false}"#),
                Some(&owner),
            )
            .await;
            assert_eq!(status, 200, "{created}");
            let booth = created["spaceId"].as_i64().expect("space id");
            let (status, answer) = join(http, ann, booth, None).await;
            assert_eq!(status, 200, "{answer}");
            let (status, answer) = join(http, ben, booth, None).await;
            assert_eq!(status, 409, "the booth is full: {answer}");
            let (status, answer) = call(
                http,
                "POST",
                "/api/v1/space",
                Some(r#"{"name":"hall","dimensions":"20x20","capacity":0}"#),
                Some(&owner),
            )
            .await;
            assert_eq!(status, 400, "a capacity of 0: {answer}");

            for player in [ann_player, ben_player, cat_player, dan_player] {
                player.stop();
            }
        });
    drop(server);
}

/// The account id of an access token's holder (its `sub` claim).
fn account_id(token: &str) -> i64 {
    common::token_claims(token)["sub"].as_i64().expect("sub")
}
