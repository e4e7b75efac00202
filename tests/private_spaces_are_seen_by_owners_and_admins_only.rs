//! A space its owner made private: through the real binary, its owner and an
//! admin see it; anyone else, with or without a token, gets the same 404 as
//! for a space that does not exist (reading it, its chat history, deleting
//! it), and it is not in their list. A space made without `private` is seen by
//! anyone with its id. This server hosts only the shared plaza, so the history
//! of a shared space that is not hosted is a different 404 ("not on this
//! server"): that is how the privacy check is seen there. A join of the
//! shared one enters its instance; a join of the private one is the 404 of a
//! space that does not exist.

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

        // Chat and join: bob is served for the hosted plaza. Ada's private
        // office's history is the 404 of a space that does not exist, not the
        // "not hosted" 404 of her shared cafe; her cafe can be joined, her
        // office answers a join as a missing space does.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let plaza = loadbot::account::hosted_space(server, &bob, deadline)
            .await
            .expect("the hosted space");
        let mut answers = Vec::new();
        for space in [plaza, office, 424_242, cafe] {
            let chat = format!("/api/v1/space/{space}/chat");
            let join = format!("/api/v1/space/{space}/join");
            answers.push((
                call(server, "GET", &chat, None, Some(&bob)).await,
                call(server, "POST", &join, Some("{}"), Some(&bob)).await,
            ));
        }
        let [hosted, private, missing, shared] = answers.as_slice() else {
            unreachable!("four spaces asked")
        };
        assert_eq!((hosted.0.0, hosted.1.0), (200, 200), "{hosted:?}");
        assert_eq!((private.0.0, private.1.0), (404, 404), "{private:?}");
        assert_eq!(private.0, missing.0, "history: private and missing alike");
        assert_ne!(private.0, shared.0, "history: the privacy check answers");
        // A shared space of someone else is entered (its own instance); a
        // private one answers exactly like one that does not exist.
        assert_eq!(shared.1.0, 200, "join: a shared space: {shared:?}");
        assert_eq!(private.1, missing.1, "join: private and missing alike");
    });
    remove_database(&database);
}
