//! A user may own only so many spaces and a space hold only so many elements
//! (`[serve] max_spaces_per_user`, `max_elements_per_space`): past the quota a
//! request is a 409 with a JSON error, counted in `/metrics`, even when the
//! requests come at once. Admins are exempt.

mod common;

use common::api::{self, call};
use common::{config_file, create_admin, remove_database, start_server_with, temporary_database};
use loadbot::http;

#[test]
fn quotas_refuse_growth_past_them_and_admins_are_exempt() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let config = config_file("[serve]\nmax_spaces_per_user = 2\nmax_elements_per_space = 3\n");
    let config_path = config.display().to_string();
    let (server_process, server) = start_server_with(&database, &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let boss = api::log_in(server, "boss", "boss password").await;
        let element = api::create_element(server, &boss).await;
        let ada = api::sign_up(server, "ada", "password1").await;

        // Spaces: two at once get in, the third is refused.
        let mut created = Vec::new();
        let mut refused = Vec::new();
        let mut attempts = tokio::task::JoinSet::new();
        for index in 0..3 {
            let ada = ada.clone();
            attempts.spawn(async move {
                api::create_space(server, &ada, &format!("room {index}")).await
            });
        }
        while let Some(answer) = attempts.join_next().await {
            let (status, body) = answer.expect("ran");
            match status {
                200 => created.push(body["spaceId"].as_i64().expect("id")),
                _ => refused.push((status, body)),
            }
        }
        assert_eq!(created.len(), 2, "{refused:?}");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, 409);
        let message = refused[0].1["error"].as_str().expect("a JSON error");
        assert!(message.contains("at most 2 spaces"), "{message}");

        // Elements: five at once into one space, three get in.
        let space = created[0];
        let mut placed = 0;
        let mut over = 0;
        let mut attempts = tokio::task::JoinSet::new();
        for index in 0..5 {
            let ada = ada.clone();
            attempts.spawn(async move { api::place(server, &ada, element, space, index, 1).await });
        }
        while let Some(answer) = attempts.join_next().await {
            let (status, body) = answer.expect("ran");
            match status {
                200 => placed += 1,
                409 => {
                    let message = body["error"].as_str().expect("a JSON error");
                    assert!(message.contains("at most 3 elements"), "{message}");
                    over += 1;
                }
                other => panic!("{other}: {body}"),
            }
        }
        assert_eq!((placed, over), (3, 2));

        // Admins are exempt: a fourth element in Ada's space, a third space.
        let (status, body) = api::place(server, &boss, element, space, 9, 9).await;
        assert_eq!(status, 200, "{body}");
        for index in 0..3 {
            let (status, body) = api::create_space(server, &boss, &format!("hall {index}")).await;
            assert_eq!(status, 200, "{body}");
        }
        let (_, fetched) = call(
            server,
            "GET",
            &format!("/api/v1/space/{space}"),
            None,
            Some(&ada),
        )
        .await;
        assert_eq!(fetched["elements"].as_array().map(Vec::len), Some(4));

        let metrics = http::get(server, "/metrics").await.expect("metrics");
        let refusals = |quota: &str| {
            http::prometheus_value(
                &metrics,
                &format!("meridian_quota_refusals_total{{quota=\"{quota}\"}}"),
            )
        };
        assert_eq!(refusals("spaces_per_user"), Some(1.0), "{metrics}");
        assert_eq!(refusals("elements_per_space"), Some(2.0), "{metrics}");
    });
    drop(server_process);
    let _ = std::fs::remove_file(&config);
    remove_database(&database);
}
