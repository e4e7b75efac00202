//! A guest lives in its own namespace: a guest who asked to be called `carol`
//! does not stop a later signup of `carol`, and a guest can never log in, not
//! with any password.

mod common;

use common::{remove_database, start_server_with, temporary_database, token_claims};
use loadbot::http;

#[test]
fn a_guest_named_carol_leaves_carol_free_and_cannot_log_in() {
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &["--dev"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let post = |path: &'static str, body: String| async move {
            http::exchange(http_address, "POST", path, Some(&body), None)
                .await
                .expect("an answer")
        };
        let guest = post("/api/v1/dev/join", r#"{"name":"carol"}"#.into()).await;
        assert_eq!(guest.status, 200, "{guest:?}");
        let claims = token_claims(&common::Joined::parse(&guest.body).token);
        let guest_name = claims["name"].as_str().expect("a name").to_owned();
        assert_ne!(guest_name, "carol");

        let signup = post(
            "/api/v1/signup",
            r#"{"username":"carol","password":"carols-own-password"}"#.into(),
        )
        .await;
        assert_eq!(
            signup.status, 200,
            "carol signs up after a guest: {signup:?}"
        );
        let login = post(
            "/api/v1/login",
            r#"{"username":"carol","password":"carols-own-password"}"#.into(),
        )
        .await;
        assert_eq!(login.status, 200, "{login:?}");
        let login: serde_json::Value = serde_json::from_str(&login.body).expect("JSON");
        let access = login["token"].as_str().expect("an access token");
        assert_ne!(
            token_claims(access)["sub"],
            claims["sub"],
            "carol is not the guest"
        );

        for password in ["", "!", "!guest", "carols-own-password", "anything-at-all"] {
            let body = serde_json::json!({"username": guest_name, "password": password});
            let login = post("/api/v1/login", body.to_string()).await;
            assert!(
                (400..500).contains(&login.status) && !login.body.contains("token"),
                "a guest logs in with {password:?}: {login:?}"
            );
        }
    });
    drop(server);
    remove_database(&database);
}
