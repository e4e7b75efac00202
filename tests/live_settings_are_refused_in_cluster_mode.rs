//! A shard of a cluster shows its live settings but refuses to change them
//! (409 `cluster_mode`): the other shards would not follow. Runs one shard of
//! a one-shard cluster on the real PostgreSQL and Redis.

mod common;

use common::api::{call, log_in};
use common::services::PostgresDatabase;
use common::shard_link::{cluster_name, free_udp_address, redis_url, start_shard};
use common::{account_join, create_admin};
use serde_json::json;

#[test]
fn a_shard_shows_live_settings_and_refuses_changes() {
    let Some(redis) = redis_url("live_settings_are_refused_in_cluster_mode") else {
        return;
    };
    let Some(database) = PostgresDatabase::create(
        "live_settings_are_refused_in_cluster_mode",
        "meridian_knobs",
    ) else {
        return;
    };
    create_admin(&database.url, "boss", "boss password");
    let cluster = cluster_name("knobs");
    let (_shard, http) = start_shard(1, 1, &database.url, &redis, &cluster, free_udp_address());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let boss = log_in(http, "boss", "boss password").await;
        let space = account_join(http, "ada").await.space_id;
        let path = format!("/api/v1/admin/spaces/{space}/settings");
        let (status, settings) = call(http, "GET", &path, None, Some(&boss)).await;
        assert_eq!(status, 200, "{settings}");
        assert_eq!(settings["tickRate"], 20);
        let (status, answer) =
            call(http, "PUT", &path, Some(r#"{"tickRate":10}"#), Some(&boss)).await;
        assert_eq!((status, &answer["error"]), (409, &json!("cluster_mode")));
        let (_, unchanged) = call(http, "GET", &path, None, Some(&boss)).await;
        assert_eq!(unchanged, settings);
        let (status, audit) = call(http, "GET", &format!("{path}/audit"), None, Some(&boss)).await;
        assert_eq!((status, audit), (200, json!([])));
    });
}
