//! `POST /api/v1/dev/join` answers 404 on a server started without `--dev`
//! (the default), and a guest's token only with it.

mod common;

use common::{remove_database, start_server_with, temporary_database};
use loadbot::http;

#[test]
fn the_dev_join_is_404_without_dev_and_answers_with_it() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &[]);
    let answer = runtime
        .block_on(http::exchange(
            http_address,
            "POST",
            "/api/v1/dev/join",
            Some("{}"),
            None,
        ))
        .expect("an answer");
    assert_eq!(answer.status, 404, "{answer:?}");
    assert!(
        answer.body.contains("\"error\""),
        "a JSON error: {answer:?}"
    );
    drop(server);

    let (server, http_address) = start_server_with(&database, &["--dev"]);
    let answer = runtime
        .block_on(http::exchange(
            http_address,
            "POST",
            "/api/v1/dev/join",
            Some("{}"),
            None,
        ))
        .expect("an answer");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains("\"token\""), "{answer:?}");
    drop(server);
    remove_database(&database);
}
