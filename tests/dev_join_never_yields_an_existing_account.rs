//! The development join (a server started with `--dev`) makes a fresh guest for
//! every call: asked for the name of a signed-up player or of an admin made
//! with `meridian create-admin`, it answers a realtime token for a new guest
//! account (`guest~{name}~{number}`), never for theirs.

mod common;

use common::{
    TEST_PASSWORD, account_join, create_admin, remove_database, start_server_with,
    temporary_database, token_claims,
};
use loadbot::http;

#[test]
fn a_dev_join_by_a_players_or_admins_name_gets_a_new_guest() {
    let database = temporary_database();
    create_admin(&database, "root_admin", TEST_PASSWORD);
    let (server, http_address) = start_server_with(&database, &["--dev"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let carol = account_join(http_address, "carol").await;
        let carol_id = token_claims(&carol.token)["sub"].clone();
        let admin = account_join(http_address, "root_admin").await;
        let admin_id = token_claims(&admin.access_token)["sub"].clone();
        assert_eq!(token_claims(&admin.access_token)["role"], "admin");

        for (name, real_id) in [("carol", &carol_id), ("root_admin", &admin_id)] {
            let body = format!(r#"{{"name":"{name}"}}"#);
            let answer = http::post_json(http_address, "/api/v1/dev/join", &body)
                .await
                .expect("the dev join answers");
            let joined = common::Joined::parse(&answer);
            let claims = token_claims(&joined.token);
            assert_ne!(&claims["sub"], real_id, "{name}'s own account: {claims}");
            let shown = claims["name"].as_str().expect("a name");
            assert!(
                shown.starts_with(&format!("guest~{name}~")),
                "a guest's name is never a player's: {shown}"
            );
        }
    });
    drop(server);
    remove_database(&database);
}
