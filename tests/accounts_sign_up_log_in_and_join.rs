//! Accounts through the real binary's HTTP API: sign-up validates its input and
//! never makes an admin, login checks the argon2 hash and returns an access
//! token, joining a space needs that token and returns a realtime token the game
//! connection accepts; `meridian create-admin` makes the first admin.

mod common;

use std::time::{Duration, Instant};

use common::{Joined, create_admin, remove_database, start_server_on, temporary_database};
use loadbot::http::{self, HttpError};
use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent};

fn status_of(result: Result<String, HttpError>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(HttpError::Status { status, .. }) => status,
        Err(other) => panic!("no HTTP answer: {other}"),
    }
}

struct Watch(Vec<ClientEvent>);

impl Behaviour for Watch {
    fn on_tick(&mut self, _: &mut Client, _: Instant) {}
    fn on_event(&mut self, _: &mut Client, event: ClientEvent, _: Instant) {
        self.0.push(event);
    }
}

#[test]
fn sign_up_log_in_join_and_play() {
    let database = temporary_database();
    // The first admin, from the command line, before the server starts.
    create_admin(&database, "root_admin", "correct horse battery");

    let (_server, http_address) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let post =
            |path: &'static str, body: &'static str| http::post_json(http_address, path, body);
        assert_eq!(
            status_of(
                post(
                    "/api/v1/signup",
                    r#"{"username":"ada","password":"s3cret-pass","type":"user"}"#
                )
                .await
            ),
            200
        );
        assert_eq!(
            status_of(
                post(
                    "/api/v1/signup",
                    r#"{"username":"ada","password":"another-pass"}"#
                )
                .await
            ),
            400,
            "a taken name"
        );
        assert_eq!(
            status_of(
                post(
                    "/api/v1/signup",
                    r#"{"username":"eve","password":"s3cret-pass","type":"admin"}"#
                )
                .await
            ),
            403,
            "nobody becomes admin by asking"
        );
        for bad in [
            r#"{"username":"x","password":"s3cret-pass"}"#,
            r#"{"username":"bad name!","password":"s3cret-pass"}"#,
            r#"{"username":"bob","password":"short"}"#,
            r#"{"username":"bob"}"#,
            r#"not json"#,
            r#"{"username":"bob","password":"s3cret-pass","extra":1}"#,
        ] {
            assert_eq!(
                status_of(http::post_json(http_address, "/api/v1/signup", bad).await),
                400,
                "{bad}"
            );
        }
        assert_eq!(
            status_of(
                post(
                    "/api/v1/login",
                    r#"{"username":"ada","password":"wrong-pass"}"#
                )
                .await
            ),
            403
        );
        assert_eq!(
            status_of(
                post(
                    "/api/v1/login",
                    r#"{"username":"nobody","password":"whatever1"}"#
                )
                .await
            ),
            403
        );
        assert_eq!(
            status_of(
                post(
                    "/api/v1/login",
                    r#"{"username":"root_admin","password":"correct horse battery"}"#
                )
                .await
            ),
            200,
            "the command-line admin can log in"
        );
        let login = post(
            "/api/v1/login",
            r#"{"username":"ada","password":"s3cret-pass"}"#,
        )
        .await
        .expect("logs in");
        let access = serde_json::from_str::<serde_json::Value>(&login).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned();

        // Ada picks the third starter avatar; the world shows her with it.
        let avatars = http::get(http_address, "/api/v1/avatars")
            .await
            .expect("avatars");
        let chosen = serde_json::from_str::<serde_json::Value>(&avatars).expect("json")["avatars"]
            [2]["id"]
            .as_i64()
            .expect("a starter avatar");
        assert_eq!(
            status_of(
                http::post_json_with_token(
                    http_address,
                    "/api/v1/user/metadata",
                    &format!(r#"{{"avatarId":{chosen}}}"#),
                    &access
                )
                .await
            ),
            200
        );

        // Joining needs the access token.
        assert_eq!(status_of(post("/api/v1/space/1/join", "{}").await), 401);
        let mut forged = access.clone();
        forged.pop();
        assert_eq!(
            status_of(
                http::post_json_with_token(http_address, "/api/v1/space/1/join", "{}", &forged)
                    .await
            ),
            401
        );
        assert_eq!(
            status_of(
                http::post_json_with_token(http_address, "/api/v1/space/999/join", "{}", &access)
                    .await
            ),
            404
        );
        let joined =
            http::post_json_with_token(http_address, "/api/v1/space/1/join", "{}", &access)
                .await
                .expect("joins");
        let joined: serde_json::Value = serde_json::from_str(&joined).expect("json");
        // A realtime token is not an access token.
        assert_eq!(
            status_of(
                http::post_json_with_token(
                    http_address,
                    "/api/v1/space/1/join",
                    "{}",
                    joined["token"].as_str().expect("token")
                )
                .await
            ),
            401
        );

        // The realtime token gets the game connection in.
        let (_endpoint, connection, mut client) =
            Joined::parse(&joined.to_string()).connect().await;
        let mut watch = Watch(Vec::new());
        connection
            .drive(
                &mut client,
                &mut watch,
                Duration::from_millis(50),
                Instant::now() + Duration::from_secs(1),
            )
            .await;
        assert!(
            watch
                .0
                .iter()
                .any(|event| matches!(event, ClientEvent::Welcomed(_))),
            "{:?}",
            watch.0.first()
        );
        let me = client.welcome().expect("welcomed").avatar_id;
        let shown = client
            .view()
            .iter()
            .find(|state| state.id == me)
            .map(|state| state.appearance);
        assert_eq!(shown, Some(chosen as u32), "her chosen avatar");
    });
    remove_database(&database);
}
