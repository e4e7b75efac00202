//! Live settings through the real binary: only admins read and change them
//! (401 without a token, 403 for a user, 404 for a space this server does not
//! run); a value the settings file would refuse, or an unknown field, is a 400
//! naming the field; a change reaches a connected player as SettingsChanged,
//! is written to the audit log (who, what, before, after, when, newest first)
//! and counted in /metrics; and after a restart the saved values are in force:
//! GET shows them and a newcomer's Welcome carries them.

mod common;

use common::api::{call, log_in};
use common::players::Player;
use common::{account_join, create_admin, remove_database, start_server_on, temporary_database};
use meridian_netcode::ClientEvent;
use serde_json::{Value, json};

fn settings_path(space: i64) -> String {
    format!("/api/v1/admin/spaces/{space}/settings")
}

#[test]
fn admins_change_live_settings_and_they_survive_a_restart() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (server, http) = start_server_on(&database);
    let space = runtime.block_on(async {
        let boss = log_in(http, "boss", "boss password").await;
        let ada_join = account_join(http, "ada").await;
        let space = ada_join.space_id;
        let path = settings_path(space);
        let audit = format!("{path}/audit?limit=10");

        // Admins only.
        for (method, target, body) in [
            ("GET", path.as_str(), None),
            ("PUT", path.as_str(), Some(r#"{"tickRate":10}"#)),
            ("GET", audit.as_str(), None),
        ] {
            let (status, answer) = call(http, method, target, body, None).await;
            assert_eq!(status, 401, "{method} {target}: {answer}");
            let (status, answer) =
                call(http, method, target, body, Some(&ada_join.access_token)).await;
            assert_eq!(status, 403, "{method} {target} as a user: {answer}");
        }

        // The settings file's values (the test server's defaults).
        let (status, settings) = call(http, "GET", &path, None, Some(&boss)).await;
        assert_eq!(status, 200, "{settings}");
        assert_eq!(
            settings,
            json!({
                "spaceId": space, "tickRate": 20, "interestRadius": 30.0,
                "interestHysteresis": 5.0, "refreshTicks": 2, "viewCap": 256,
                "bytesPerClientPerSecond": 16000, "maxSpeed": 6.0, "walkSpeed": 2.0,
            })
        );
        let (status, answer) =
            call(http, "GET", &settings_path(space + 1_000), None, Some(&boss)).await;
        assert_eq!((status, &answer["error"]), (404, &json!("unknown_space")));
        // A space that exists but that this server does not run.
        let (status, made) = common::api::create_space(http, &ada_join.access_token, "den").await;
        assert_eq!(status, 200, "{made}");
        let den = made["spaceId"].as_i64().expect("an id");
        let (status, answer) = call(http, "PUT", &settings_path(den), Some("{}"), Some(&boss)).await;
        assert_eq!((status, &answer["error"]), (404, &json!("space_not_running")));
        let (status, _) = call(http, "GET", "/api/v1/admin/spaces/plaza/settings", None, Some(&boss)).await;
        assert_eq!(status, 400);

        // Refused as the settings file would be, naming the field; nothing changes.
        for (body, field) in [
            (r#"{"tickRate":0}"#, "tickRate"),
            (r#"{"tickRate":2}"#, "maxSpeed"),
            (r#"{"interestHysteresis":31}"#, "interestHysteresis"),
            (r#"{"viewCap":2000}"#, "viewCap"),
            (r#"{"bytesPerClientPerSecond":5}"#, "bytesPerClientPerSecond"),
            (r#"{"tick_rate_hz":10}"#, "tick_rate_hz"),
        ] {
            let (status, answer) = call(http, "PUT", &path, Some(body), Some(&boss)).await;
            assert_eq!(status, 400, "{body}: {answer}");
            assert_eq!(answer["error"], "invalid_settings", "{answer}");
            assert_eq!(answer["field"], field, "{body}: {answer}");
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let (_, unchanged) = call(http, "GET", &path, None, Some(&boss)).await;
        assert_eq!(unchanged, settings);

        // A connected player learns the change.
        let mut ada = Player::connect("ada", &ada_join).await;
        let (status, changed) = call(
            http,
            "PUT",
            &path,
            Some(r#"{"tickRate":10,"interestRadius":12.5,"viewCap":64}"#),
            Some(&boss),
        )
        .await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(
            (&changed["tickRate"], &changed["interestRadius"], &changed["viewCap"]),
            (&json!(10), &json!(12.5), &json!(64))
        );
        assert_eq!(changed["maxSpeed"], json!(6.0), "the rest as it was");
        let told = ada
            .wait_for(|event| matches!(event, ClientEvent::SettingsChanged(_)))
            .await;
        assert!(told, "ada hears of the change: {:?}", ada.events);
        let news = ada
            .events
            .iter()
            .find_map(|event| match event {
                ClientEvent::SettingsChanged(changed) => Some(changed.clone()),
                _ => None,
            })
            .expect("found above");
        assert_eq!(news.tick_rate_hz, 10);
        assert_eq!(news.limits.interest_radius, 12.5);
        assert_eq!(news.limits.max_speed, 6.0);
        ada.stop();

        // A second change; the audit log lists every field, newest first.
        let (status, _) = call(http, "PUT", &path, Some(r#"{"walkSpeed":1.5}"#), Some(&boss)).await;
        assert_eq!(status, 200);
        let (status, log) = call(http, "GET", &audit, None, Some(&boss)).await;
        assert_eq!(status, 200, "{log}");
        let entries = log.as_array().expect("an array");
        let fields: Vec<(&str, &Value, &Value)> = entries
            .iter()
            .map(|entry| (entry["field"].as_str().unwrap_or(""), &entry["before"], &entry["after"]))
            .collect();
        assert_eq!(
            fields,
            [
                ("walkSpeed", &json!(2.0), &json!(1.5)),
                ("viewCap", &json!(256), &json!(64)),
                ("interestRadius", &json!(30.0), &json!(12.5)),
                ("tickRate", &json!(20), &json!(10)),
            ]
        );
        let boss_id = common::token_claims(&boss)["sub"].as_i64().expect("an id");
        for entry in entries {
            assert_eq!(entry["adminId"], boss_id);
            assert!(entry["at"].as_i64().is_some_and(|at| at > 1_700_000_000_000), "{entry}");
        }
        assert!(entries[0]["at"].as_i64() >= entries[3]["at"].as_i64());
        let (status, _) = call(http, "GET", &format!("{path}/audit?limit=0"), None, Some(&boss)).await;
        assert_eq!(status, 400);

        // Counted.
        let metrics = loadbot::http::get(http, "/metrics").await.expect("metrics");
        for line in [
            "meridian_live_settings_changes_total{field=\"tickRate\"} 1",
            "meridian_live_settings_changes_total{field=\"walkSpeed\"} 1",
            "meridian_live_settings_refused_total{field=\"tickRate\"} 1",
            "meridian_live_settings_refused_total{field=\"other\"} 1",
            "meridian_live_setting{field=\"tickRate\"} 10",
            "meridian_live_setting{field=\"interestRadius\"} 12.5",
            "meridian_http_requests_total{method=\"PUT\",route=\"/api/v1/admin/spaces/{id}/settings\",status=\"400\"} 6",
        ] {
            assert!(metrics.contains(line), "{line} in\n{metrics}");
        }
        space
    });
    drop(server);

    // Restarted on the same database: the saved values are in force.
    let (_server, http) = start_server_on(&database);
    runtime.block_on(async {
        let boss = log_in(http, "boss", "boss password").await;
        let (status, settings) = call(http, "GET", &settings_path(space), None, Some(&boss)).await;
        assert_eq!(status, 200, "{settings}");
        assert_eq!(
            (
                &settings["tickRate"],
                &settings["interestRadius"],
                &settings["viewCap"],
                &settings["walkSpeed"]
            ),
            (&json!(10), &json!(12.5), &json!(64), &json!(1.5))
        );
        let bob_join = account_join(http, "bob").await;
        let bob = Player::connect("bob", &bob_join).await;
        let welcome = bob
            .events
            .iter()
            .find_map(|event| match event {
                ClientEvent::Welcomed(welcome) => Some(welcome.clone()),
                _ => None,
            })
            .expect("welcomed");
        assert_eq!(welcome.tick_rate_hz, 10);
        assert_eq!(welcome.limits.interest_radius, 12.5);
        assert_eq!(welcome.limits.walk_speed, 1.5);
        bob.stop();
    });
    remove_database(&database);
}
