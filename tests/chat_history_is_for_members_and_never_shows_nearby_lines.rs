//! The chat history through the real binary: it needs an access token (401
//! without), it holds the space-wide lines only (a line said on the nearby
//! channel was meant for those within 20 m, never for readers), and it is
//! only for those who may see the space: another user's private space gets
//! exactly the 404 of a space that does not exist, not the "not hosted here"
//! 404 of a shared space (this server hosts only the shared plaza, so the
//! privacy check is seen in which 404 answers). Blocks and bans in the history:
//! `chat_history_leaves_out_blocked_players_and_refuses_the_banned`.

mod common;

use common::api::{call, create_private_space, create_space, sign_up};
use common::players::Player;
use common::{account_join, remove_database, start_server_on, temporary_database};
use meridian_protocol::messages::ChatChannel;

#[test]
fn history_needs_a_token_and_membership_and_hides_nearby_lines() {
    let database = temporary_database();
    let (_server, server) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = account_join(server, "ada").await;
        let space = joined.space_id;
        let mut ada = Player::connect("ada", &joined).await;
        ada.say(ChatChannel::Proximity, "a secret for those nearby");
        ada.say(ChatChannel::Zone, "hello everyone");
        // Lines are stored before anyone hears them: once heard, they are in
        // the history (if it serves them).
        assert!(
            ada.hears("a secret for those nearby").await,
            "{:?}",
            ada.events
        );
        assert!(ada.hears("hello everyone").await, "{:?}", ada.events);

        let history = format!("/api/v1/space/{space}/chat");
        let (status, answer) = call(server, "GET", &history, None, None).await;
        assert_eq!(status, 401, "no token: {answer}");
        assert!(answer["error"].is_string(), "{answer}");

        let (status, answer) =
            call(server, "GET", &history, None, Some(&joined.access_token)).await;
        assert_eq!(status, 200, "{answer}");
        let lines = answer["messages"].as_array().expect("messages");
        assert!(
            lines.iter().any(|line| line["text"] == "hello everyone"),
            "{answer}"
        );
        assert!(
            lines.iter().all(
                |line| line["channel"] == "Zone" && line["text"] != "a secret for those nearby"
            ),
            "a nearby line in the history: {answer}"
        );

        // Bob's private office is answered as a space that does not exist,
        // not as his shared cafe, which merely is not hosted here.
        let bob = sign_up(server, "bob", "bob password").await;
        let (status, created) = create_private_space(server, &bob, "bob's office").await;
        assert_eq!(status, 200, "{created}");
        let office = created["spaceId"].as_i64().expect("space id");
        let (status, created) = create_space(server, &bob, "bob's cafe").await;
        assert_eq!(status, 200, "{created}");
        let cafe = created["spaceId"].as_i64().expect("space id");
        let mut answers = Vec::new();
        for other in [office, 424_242, cafe] {
            answers.push(
                call(
                    server,
                    "GET",
                    &format!("/api/v1/space/{other}/chat"),
                    None,
                    Some(&joined.access_token),
                )
                .await,
            );
        }
        let [private, missing, shared] = answers.as_slice() else {
            unreachable!("three spaces asked")
        };
        assert_eq!(private.0, 404, "{private:?}");
        assert_eq!(private, missing, "private and missing alike");
        assert_eq!(shared.0, 404, "{shared:?}");
        assert_ne!(
            private, shared,
            "the privacy check answers, not the hosting one"
        );
        ada.stop();
    });
    remove_database(&database);
}
