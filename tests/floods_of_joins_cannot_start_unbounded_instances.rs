//! A flood of joins cannot start unbounded instances: one account's joins may
//! start only so many a minute (429, Retry-After), the process runs at most
//! `max_instances` (503); each refusal is counted and reserves no seat.

mod common;

use std::net::SocketAddr;

use common::api::{call, create_space, sign_up};
use serde_json::Value;

const PASSWORD: &str = "a long enough password";

async fn join(http: SocketAddr, token: &str, space: i64) -> (u16, Value) {
    call(
        http,
        "POST",
        &format!("/api/v1/space/{space}/join"),
        None,
        Some(token),
    )
    .await
}

async fn rooms(http: SocketAddr, token: &str, space: i64) -> usize {
    let (status, listed) = call(
        http,
        "GET",
        &format!("/api/v1/space/{space}/rooms"),
        None,
        Some(token),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    listed["rooms"].as_array().map_or(0, Vec::len)
}

fn refused(http: SocketAddr, reason: &str) -> String {
    let prefix = format!("meridian_instance_starts_refused_total{{reason=\"{reason}\"}} ");
    common::logs::get(http, "/metrics")
        .lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn floods_of_joins_cannot_start_unbounded_instances() {
    let settings = common::config_file(
        "[serve]\nmax_instances = 3\ninstance_starts_per_account_per_minute = 2\n",
    );
    let (server, http) = common::start_server_with(
        &common::temporary_database(),
        &["--config", settings.to_str().expect("utf-8 path")],
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let flooder = sign_up(http, "flooder", PASSWORD).await;
            let other = sign_up(http, "other", PASSWORD).await;
            let mut spaces = Vec::new();
            for index in 0..5 {
                let (status, created) =
                    create_space(http, &flooder, &format!("space{index}")).await;
                assert_eq!(status, 200, "{created}");
                spaces.push(created["spaceId"].as_i64().expect("space id"));
            }
            for space in &spaces[..2] {
                let (status, answer) = join(http, &flooder, *space).await;
                assert_eq!(status, 200, "{answer}");
            }
            // A third start in the same minute: refused, nothing reserved.
            let (status, answer) = join(http, &flooder, spaces[2]).await;
            assert_eq!(status, 429, "{answer}");
            assert_eq!(rooms(http, &flooder, spaces[2]).await, 0);
            assert_eq!(refused(http, "account_rate"), "1");
            // Joining a running instance starts nothing and is not limited.
            let (status, answer) = join(http, &other, spaces[0]).await;
            assert_eq!(status, 200, "{answer}");

            // Another account starts the third instance: the process's cap.
            let (status, answer) = join(http, &other, spaces[2]).await;
            assert_eq!(status, 200, "{answer}");
            let (status, answer) = join(http, &other, spaces[3]).await;
            assert_eq!(status, 503, "{answer}");
            assert_eq!(rooms(http, &other, spaces[3]).await, 0);
            assert_eq!(refused(http, "process_cap"), "1");
        });
    drop(server);
}
