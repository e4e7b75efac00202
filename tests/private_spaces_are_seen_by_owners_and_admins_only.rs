//! A space its owner made private: through the real binary, its owner and an
//! admin see it; anyone else, with or without a token, gets the same 404 as
//! for a space that does not exist (reading it, its chat, changing it or
//! joining it), and it is not in their list. A space made without `private`
//! is seen by anyone with its id.

mod common;

use common::api::{call, create_private_space, create_space, log_in, sign_up};
use common::{create_admin, remove_database, start_server_on, temporary_database};

#[test]
fn a_private_space_is_hidden_from_everyone_but_its_owner_and_admins() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, server) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ada = sign_up(server, "ada", "ada password").await;
        let bob = sign_up(server, "bob", "bob password").await;
        let boss = log_in(server, "boss", "boss password").await;
        let (status, created) = create_private_space(server, &ada, "ada's office").await;
        assert_eq!(status, 200, "{created}");
        let office = created["spaceId"].as_i64().expect("space id");
        let path = format!("/api/v1/space/{office}");

        // Its owner and an admin see it.
        for (who, token) in [("ada", &ada), ("boss", &boss)] {
            let (status, answer) = call(server, "GET", &path, None, Some(token)).await;
            assert_eq!(status, 200, "{who}: {answer}");
            assert_eq!(answer["name"], "ada's office", "{who}");
        }

        // Nobody else: the same 404 as a space that is not there.
        let (missing, _) = call(server, "GET", "/api/v1/space/424242", None, Some(&bob)).await;
        assert_eq!(missing, 404);
        let (status, answer) = call(server, "GET", &path, None, None).await;
        assert_eq!(status, 404, "no token: {answer}");
        let (status, answer) = call(server, "GET", &path, None, Some(&bob)).await;
        assert_eq!(status, 404, "bob: {answer}");
        let (_, listed) = call(server, "GET", "/api/v1/space/all", None, Some(&bob)).await;
        let listed = listed["spaces"].as_array().expect("a list");
        assert!(
            listed.iter().all(|space| space["id"] != office),
            "{listed:?}"
        );
        let chat = format!("/api/v1/space/{office}/chat");
        assert_eq!(call(server, "GET", &chat, None, Some(&bob)).await.0, 404);
        let join = format!("/api/v1/space/{office}/join");
        assert_eq!(
            call(server, "POST", &join, Some("{}"), Some(&bob)).await.0,
            404
        );
        assert_eq!(call(server, "DELETE", &path, None, Some(&bob)).await.0, 404);
        // Still there for its owner.
        assert_eq!(call(server, "GET", &path, None, Some(&ada)).await.0, 200);

        // A space ada shares (not private) is seen by bob.
        let (status, created) = create_space(server, &ada, "ada's cafe").await;
        assert_eq!(status, 200, "{created}");
        let cafe = created["spaceId"].as_i64().expect("space id");
        let (status, answer) = call(
            server,
            "GET",
            &format!("/api/v1/space/{cafe}"),
            None,
            Some(&bob),
        )
        .await;
        assert_eq!(status, 200, "bob, a shared space: {answer}");
        assert_eq!(answer["private"], false);
    });
    remove_database(&database);
}
