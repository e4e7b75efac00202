//! The real binary with its world cut into 2 × 2 zones of 30 m: a QUIC client
//! joins near the middle (where four zones meet) and walks straight across the
//! nearest border that the fountain in the middle does not block. It stays connected and keeps its avatar id; every
//! snapshot decodes and shows it; the metrics count the handoff; the ledger in
//! the database names the new zone.

mod common;

use std::time::{Duration, Instant};

use common::{account_join, owner_rows, remove_database, start_server_with, temporary_database};
use loadbot::http;
use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent};

use meridian_protocol::messages::{AnimationState, MovementIntent};

/// Walks from where it appeared across a border, clear of the fountain that
/// stands on the middle (29..32 m on both axes).
#[derive(Default)]
struct Crosser {
    heading: Option<f32>,
    snapshots: u64,
    without_self: u64,
    disconnected: bool,
    start: Option<(f32, f32)>,
    last: Option<(f32, f32)>,
    /// Only watch, never walk.
    stand_still: bool,
}

impl Behaviour for Crosser {
    fn on_tick(&mut self, client: &mut Client, now: Instant) {
        if let Some(heading) = self.heading {
            client.send_input(
                now,
                MovementIntent {
                    move_x: heading.cos(),
                    move_y: heading.sin(),
                    speed: 3.0,
                    heading,
                    animation: AnimationState::Walk,
                },
            );
        }
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, _: Instant) {
        match event {
            ClientEvent::Snapshot { .. } => {
                self.snapshots += 1;
                let me = client.welcome().map(|welcome| welcome.avatar_id);
                let Some(own) = client.view().iter().find(|state| Some(state.id) == me) else {
                    self.without_self += 1;
                    return;
                };
                let at = (own.x as f32 / 64.0, own.y as f32 / 64.0);
                if self.start.is_none() && self.stand_still {
                    self.start = Some(at);
                } else if self.start.is_none() {
                    self.start = Some(at);
                    // Across x = 30 along its row if the row misses the fountain,
                    // else across y = 30 along its column.
                    let heading = if (at.1 - 30.5).abs() > 2.5 {
                        if at.0 >= 30.0 {
                            std::f32::consts::PI
                        } else {
                            0.0
                        }
                    } else if at.1 >= 30.0 {
                        -std::f32::consts::FRAC_PI_2
                    } else {
                        std::f32::consts::FRAC_PI_2
                    };
                    self.heading = Some(heading);
                }
                self.last = Some(at);
            }
            ClientEvent::Disconnected(_) => self.disconnected = true,
            _ => {}
        }
    }
}

fn zone_of((x, y): (f32, f32)) -> i64 {
    i64::from(x >= 30.0) + 2 * i64::from(y >= 30.0)
}

/// Joins as "crosser" and plays for `seconds`, walking if `walk`.
fn play(http_address: std::net::SocketAddr, seconds: u64, walk: bool) -> Crosser {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = account_join(http_address, "crosser").await;
        let (endpoint, connection, mut client) = joined.connect().await;
        let mut crosser = Crosser {
            stand_still: !walk,
            ..Crosser::default()
        };
        connection
            .drive(
                &mut client,
                &mut crosser,
                Duration::from_millis(50),
                Instant::now() + Duration::from_secs(seconds),
            )
            .await;
        assert_eq!(client.stats().decode_errors, 0);
        endpoint.close(0u32.into(), b"done");
        crosser
    })
}

#[test]
fn a_killed_world_brings_its_crosser_back_once() {
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &["--zones", "2x2"]);
    let before = play(http_address, 7, true);
    let (start, last) = (before.start.expect("seen"), before.last.expect("seen"));
    assert_ne!(
        zone_of(start),
        zone_of(last),
        "it crossed: {start:?} -> {last:?}"
    );
    // Dropping the server kills it with SIGKILL and reaps it.
    drop(server);

    // Back on the same database: it appears where its last checkpoint put it
    // (within the 2 s checkpoint interval of where it was), is claimed or moved
    // to that zone in the ledger, and there is exactly one of it.
    let (server, http_address) = start_server_with(&database, &["--zones", "2x2"]);
    let after = play(http_address, 2, false);
    let back = after.start.expect("seen");
    assert!(
        (back.0 - last.0).abs() <= 2.0 * 3.0 + 1.0 && (back.1 - last.1).abs() <= 7.0,
        "last seen at {last:?}, back at {back:?}"
    );
    assert_eq!(after.without_self, 0);
    let rows = owner_rows(&database, 4);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0].zone,
        zone_of(back),
        "the ledger follows it: {rows:?}"
    );
    drop(server);
    remove_database(&database);
}

#[test]
fn a_player_walks_into_another_zone_on_the_same_connection() {
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &["--zones", "2x2"]);
    let crosser = play(http_address, 9, true);
    assert!(!crosser.disconnected, "one connection throughout");
    assert!(crosser.snapshots > 100, "{} snapshots", crosser.snapshots);
    assert_eq!(crosser.without_self, 0, "it saw itself in every snapshot");
    let (start, last) = (crosser.start.expect("seen"), crosser.last.expect("seen"));
    assert_ne!(
        zone_of(start),
        zone_of(last),
        "it walked from {start:?} to {last:?}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = runtime
        .block_on(http::get(http_address, "/metrics"))
        .expect("metrics");
    let handoffs = http::prometheus_value(&metrics, "meridian_handoffs_total").unwrap_or(0.0);
    assert!(handoffs >= 1.0, "handoffs counted: {handoffs}");
    // At least one handoff froze its player, for at least one tick (50 ms).
    let frozen = http::prometheus_value(&metrics, "meridian_handoff_frozen_seconds_count ");
    assert!(frozen.is_some_and(|count| count >= 1.0), "{metrics}");
    let frozen_for = http::prometheus_value(&metrics, "meridian_handoff_frozen_seconds_sum ");
    assert!(
        frozen_for.is_some_and(|seconds| seconds >= 0.05),
        "{metrics}"
    );

    // The ledger says so too.
    let owners = owner_rows(&database, 4);
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].zone, zone_of(last), "{owners:?}");
    assert!(owners[0].version >= 1, "moved: {owners:?}");
    drop(server);
    remove_database(&database);
}
