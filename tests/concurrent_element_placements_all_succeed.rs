//! Fifty element placements at once through the real HTTP API on an embedded
//! (SQLite) server all succeed: every transaction that reads before it writes
//! takes the write lock first, so none fails with "database is locked" (503).

mod common;

use common::api::{self, call};
use common::{create_admin, remove_database, start_server_on, temporary_database};

const PLACEMENTS: i32 = 50;

#[test]
fn fifty_concurrent_placements_all_succeed() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (server_process, server) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let boss = api::log_in(server, "boss", "boss password").await;
        let element = api::create_element(server, &boss).await;
        let ada = api::sign_up(server, "ada", "password1").await;
        let (status, space) = api::create_space(server, &ada, "workshop").await;
        assert_eq!(status, 200, "{space}");
        let space = space["spaceId"].as_i64().expect("id");

        let mut placements = tokio::task::JoinSet::new();
        for index in 0..PLACEMENTS {
            let ada = ada.clone();
            placements
                .spawn(async move { api::place(server, &ada, element, space, index, index).await });
        }
        let mut failures = Vec::new();
        while let Some(answer) = placements.join_next().await {
            let (status, body) = answer.expect("the placement task ran");
            if status != 200 {
                failures.push((status, body));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {PLACEMENTS} placements failed: {failures:?}",
            failures.len()
        );
        let (status, fetched) = call(
            server,
            "GET",
            &format!("/api/v1/space/{space}?limit=500"),
            None,
            Some(&ada),
        )
        .await;
        assert_eq!(status, 200, "{fetched}");
        assert_eq!(
            fetched["elements"].as_array().map(Vec::len),
            Some(PLACEMENTS as usize),
            "{fetched}"
        );
    });
    drop(server_process);
    remove_database(&database);
}
