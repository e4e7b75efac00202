//! The live dashboard: `GET /dashboard` serves its page (web/dashboard/, no
//! build step, like the demo page; it signs in and asks for data itself) and
//! `GET /api/v1/admin/dashboard` gives an admin the numbers it draws, copied
//! under one lock from what the zone thread publishes for `/metrics`, so the
//! two agree for the same tick and a request never touches a zone.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_netcode::metrics::{REFUSAL_REASONS, refusal_label};
use meridian_shard_manager::ZoneOwner;
use meridian_sim::RejectReason;
use serde::Serialize;

use super::HttpState;
use super::auth::{Admin, error};
use crate::serve::histogram::Histogram;
use crate::serve::live::LiveMetrics;
use crate::serve::world_view::WorldView;

/// `GET /dashboard`: the page.
pub(crate) async fn page() -> Response {
    super::web::file("dashboard/index.html")
}

/// What the page polls every second.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Dashboard {
    /// The zone tick of these numbers (`meridian_ticks_total`).
    tick: u64,
    /// The space this server hosts (for its settings).
    space_id: i64,
    totals: Totals,
    tick_seconds: HistogramJson,
    handoff_frozen_seconds: HistogramJson,
    /// The world's sample (none before the zone thread's first).
    world: Option<WorldJson>,
}

/// Counters and gauges, each named as on `/metrics`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Totals {
    /// `meridian_connected_clients`
    connected_clients: u64,
    /// `meridian_avatars`
    avatars: usize,
    /// `meridian_bytes_out_total`
    bytes_out: u64,
    /// `meridian_bytes_in_total`
    bytes_in: u64,
    /// `meridian_snapshots_sent_total`
    snapshots_sent: u64,
    /// `meridian_snapshots_skipped_stale_total`
    snapshots_skipped_stale: u64,
    /// `meridian_snapshot_changes_deferred_total`: changes the byte budget
    /// held back.
    changes_deferred_by_budget: u64,
    /// `meridian_snapshot_changes_sent_total`
    changes_sent: u64,
    /// `meridian_handoffs_total`
    handoffs: u64,
    /// `meridian_tick_overruns_total`
    tick_overruns: u64,
    /// `meridian_rejected_inputs_total{reason}`, every reason.
    rejected_inputs: Vec<Labelled>,
    /// `meridian_refusals_total{reason}`, every reason.
    refusals: Vec<Labelled>,
}

/// One labelled sample.
#[derive(Debug, Serialize)]
struct Labelled {
    reason: &'static str,
    value: u64,
}

/// A histogram as `/metrics` has it: `counts[i]` observations at or under
/// `bounds[i]`, the last count (one more than the bounds) being `+Inf`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HistogramJson {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
}

impl From<&Histogram> for HistogramJson {
    fn from(histogram: &Histogram) -> Self {
        Self {
            bounds: histogram.bounds(),
            counts: histogram.cumulative(),
            sum: histogram.sum(),
        }
    }
}

/// The world's last sample.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WorldJson {
    /// The tick it was taken after.
    tick: u64,
    width: f32,
    height: f32,
    /// This process's shard (none for a server of one).
    shard: Option<u32>,
    zones: Vec<ZoneJson>,
    density: DensityJson,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ZoneJson {
    id: u32,
    /// Lower corner and size, metres (world coordinates, y up).
    x: f32,
    y: f32,
    width: f32,
    height: f32,
    /// `here`, `shard` (another, named by `ownerShard`) or `nobody`.
    owner: &'static str,
    /// The shard that simulates it, if known (this one's id when `here`
    /// in a cluster).
    owner_shard: Option<u32>,
    /// `meridian_zone_avatars{zone}`
    avatars: usize,
    /// `meridian_zone_view_entities{zone}`
    view_entities: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DensityJson {
    columns: u32,
    rows: u32,
    /// A cell's side, metres.
    cell_size: f32,
    /// Avatars per cell, row by row from y = 0 up.
    counts: Vec<u32>,
}

/// `GET /api/v1/admin/dashboard` → the numbers above, for admins.
pub(crate) async fn numbers(State(state): State<HttpState>, _admin: Admin) -> Response {
    let Ok(live) = state.live.lock() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "metrics are unavailable");
    };
    let dashboard = Dashboard::of(&live, state.space_id);
    drop(live);
    Json(dashboard).into_response()
}

impl Dashboard {
    fn of(live: &LiveMetrics, space_id: i64) -> Self {
        let n = &live.netcode;
        let rejected_inputs = RejectReason::ALL
            .iter()
            .map(|reason| Labelled {
                reason: reason.name(),
                value: live
                    .rejections
                    .iter()
                    .filter(|(rejected, _)| rejected == reason)
                    .map(|(_, count)| count)
                    .sum(),
            })
            .collect();
        let refusals = REFUSAL_REASONS
            .iter()
            .zip(n.refusals)
            .map(|(reason, value)| Labelled {
                reason: refusal_label(*reason),
                value,
            })
            .collect();
        Self {
            tick: live.tick,
            space_id,
            totals: Totals {
                connected_clients: n.clients_connected,
                avatars: live.avatars,
                bytes_out: n.bytes_out,
                bytes_in: n.bytes_in,
                snapshots_sent: n.snapshots_sent,
                snapshots_skipped_stale: n.stale_snapshots_skipped,
                changes_deferred_by_budget: n.changes_deferred_by_budget,
                changes_sent: n.changes_sent,
                handoffs: live.handoffs,
                tick_overruns: live.overruns(),
                rejected_inputs,
                refusals,
            },
            tick_seconds: live.tick_durations().into(),
            handoff_frozen_seconds: live.frozen_durations().into(),
            world: live.world.as_ref().map(WorldJson::of),
        }
    }
}

impl WorldJson {
    fn of(world: &WorldView) -> Self {
        Self {
            tick: world.tick,
            width: world.world.x,
            height: world.world.y,
            shard: world.shard,
            zones: world
                .zones
                .iter()
                .map(|zone| {
                    let (owner, owner_shard) = match zone.owner {
                        ZoneOwner::Here => ("here", world.shard),
                        ZoneOwner::Shard(shard) => ("shard", Some(shard)),
                        ZoneOwner::Nobody => ("nobody", None),
                    };
                    ZoneJson {
                        id: zone.id,
                        x: zone.low.x,
                        y: zone.low.y,
                        width: zone.high.x - zone.low.x,
                        height: zone.high.y - zone.low.y,
                        owner,
                        owner_shard,
                        avatars: zone.avatars,
                        view_entities: zone.view_entities,
                    }
                })
                .collect(),
            density: DensityJson {
                columns: world.density.columns,
                rows: world.density.rows,
                cell_size: world.density.cell_size,
                counts: world.density.counts.clone(),
            },
        }
    }
}
