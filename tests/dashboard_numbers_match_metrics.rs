//! The live dashboard through the real binary: `/dashboard` serves its page;
//! `GET /api/v1/admin/dashboard` is for admins only (401 without a token, 403
//! for a user); with players in a world of 2 x 2 zones it shows each zone's
//! bounds, owner and avatars, a density grid holding every avatar, and, for
//! one tick, the same numbers as `/metrics`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::api::{call, log_in, sign_up};
use common::players::Player;
use common::{account_join, create_admin, remove_database, start_server_with, temporary_database};
use loadbot::http;
use serde_json::Value;

/// `/metrics` as sample name (with its labels) → value.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The dashboard's numbers under their `/metrics` names (as the page's
/// table names them).
fn samples(dashboard: &Value) -> Vec<(String, f64)> {
    let number = |value: &Value| value.as_f64().expect("a number");
    let totals = &dashboard["totals"];
    let mut rows: Vec<(String, f64)> = [
        ("meridian_ticks_total", &dashboard["tick"]),
        ("meridian_connected_clients", &totals["connectedClients"]),
        ("meridian_avatars", &totals["avatars"]),
        ("meridian_bytes_out_total", &totals["bytesOut"]),
        ("meridian_bytes_in_total", &totals["bytesIn"]),
        ("meridian_snapshots_sent_total", &totals["snapshotsSent"]),
        (
            "meridian_snapshots_skipped_stale_total",
            &totals["snapshotsSkippedStale"],
        ),
        (
            "meridian_snapshot_changes_deferred_total",
            &totals["changesDeferredByBudget"],
        ),
        (
            "meridian_snapshot_changes_sent_total",
            &totals["changesSent"],
        ),
        ("meridian_handoffs_total", &totals["handoffs"]),
        ("meridian_tick_overruns_total", &totals["tickOverruns"]),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), number(value)))
    .collect();
    let ticks = dashboard["tickSeconds"]["counts"]
        .as_array()
        .expect("counts");
    rows.push((
        "meridian_tick_duration_seconds_count".to_owned(),
        number(ticks.last().expect("+Inf")),
    ));
    let bounds = dashboard["tickSeconds"]["bounds"]
        .as_array()
        .expect("bounds");
    for (bound, count) in bounds.iter().zip(ticks) {
        rows.push((
            format!(
                "meridian_tick_duration_seconds_bucket{{le=\"{}\"}}",
                number(bound)
            ),
            number(count),
        ));
    }
    for (list, metric) in [
        ("rejectedInputs", "meridian_rejected_inputs_total"),
        ("refusals", "meridian_refusals_total"),
    ] {
        for entry in totals[list].as_array().expect("reasons") {
            let reason = entry["reason"].as_str().expect("reason");
            rows.push((
                format!("{metric}{{reason=\"{reason}\"}}"),
                number(&entry["value"]),
            ));
        }
    }
    for zone in dashboard["world"]["zones"].as_array().expect("zones") {
        let id = &zone["id"];
        rows.push((
            format!("meridian_zone_avatars{{zone=\"{id}\"}}"),
            number(&zone["avatars"]),
        ));
        rows.push((
            format!("meridian_zone_view_entities{{zone=\"{id}\"}}"),
            number(&zone["viewEntities"]),
        ));
    }
    rows
}

#[test]
fn admins_see_the_world_and_the_numbers_of_metrics() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, server) = start_server_with(&database, &["--zones", "2x2"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // The page is served to anyone (it holds no data).
        let page = http::send(server, "GET", "/dashboard", None, None)
            .await
            .expect("the page");
        assert!(page.contains("/dashboard/main.js"), "{page}");

        // The numbers are for admins only.
        let (status, _) = call(server, "GET", "/api/v1/admin/dashboard", None, None).await;
        assert_eq!(status, 401);
        let user = sign_up(server, "carol", "carol password").await;
        let (status, _) = call(server, "GET", "/api/v1/admin/dashboard", None, Some(&user)).await;
        assert_eq!(status, 403);
        let boss = log_in(server, "boss", "boss password").await;

        let ada = Player::connect("ada", &account_join(server, "ada").await).await;
        let bob = Player::connect("bob", &account_join(server, "bob").await).await;

        // Within a few samples (one a second) both avatars are in the world.
        let deadline = Instant::now() + Duration::from_secs(20);
        let dashboard = loop {
            let (status, dashboard) =
                call(server, "GET", "/api/v1/admin/dashboard", None, Some(&boss)).await;
            assert_eq!(status, 200, "{dashboard}");
            let zones = dashboard["world"]["zones"].as_array().expect("zones");
            let in_zones: u64 = zones
                .iter()
                .map(|zone| zone["avatars"].as_u64().unwrap())
                .sum();
            if in_zones == 2 {
                break dashboard;
            }
            assert!(Instant::now() < deadline, "never 2 avatars: {dashboard}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let world = &dashboard["world"];
        // The helper's world: 60 m a side, cut into four zones of 30 m.
        assert_eq!(world["width"], 60.0);
        assert_eq!(world["height"], 60.0);
        let zones = world["zones"].as_array().unwrap();
        assert_eq!(zones.len(), 4);
        let mut corners: Vec<(f64, f64)> = zones
            .iter()
            .map(|zone| {
                assert_eq!(zone["width"], 30.0, "{zone}");
                assert_eq!(zone["height"], 30.0, "{zone}");
                // One process owns every zone.
                assert_eq!(zone["owner"], "here", "{zone}");
                (zone["x"].as_f64().unwrap(), zone["y"].as_f64().unwrap())
            })
            .collect();
        corners.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(
            corners,
            vec![(0.0, 0.0), (0.0, 30.0), (30.0, 0.0), (30.0, 30.0)]
        );
        let density = &world["density"];
        let cells = density["counts"].as_array().unwrap();
        assert_eq!(
            cells.len() as u64,
            density["columns"].as_u64().unwrap() * density["rows"].as_u64().unwrap()
        );
        let counted: u64 = cells.iter().map(|cell| cell.as_u64().unwrap()).sum();
        assert_eq!(counted, 2, "every avatar is in the density grid");

        // The same tick on both: every number of the dashboard is on /metrics
        // with the same value (they are copied from one publication).
        let mut compared = None;
        for _ in 0..200 {
            let (dashboard, metrics) = tokio::join!(
                call(server, "GET", "/api/v1/admin/dashboard", None, Some(&boss)),
                http::send(server, "GET", "/metrics", None, None)
            );
            let metrics = parse_metrics(&metrics.expect("/metrics"));
            let dashboard = dashboard.1;
            if metrics.get("meridian_ticks_total") != dashboard["tick"].as_f64().as_ref() {
                continue;
            }
            for (name, value) in samples(&dashboard) {
                assert_eq!(
                    metrics.get(&name),
                    Some(&value),
                    "{name} at tick {}",
                    dashboard["tick"]
                );
            }
            compared = Some(dashboard);
            break;
        }
        let compared = compared.expect("the dashboard and /metrics never read the same tick");
        assert!(compared["totals"]["bytesOut"].as_u64().unwrap() > 0);
        assert_eq!(compared["totals"]["connectedClients"], 2);
        ada.stop();
        bob.stop();
    });
    remove_database(&database);
}
