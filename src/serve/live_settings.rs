//! Live settings: an admin changes the running world's designer knobs
//! (`GET` / `PUT /api/v1/admin/spaces/{id}/settings`, and their audit log at
//! `.../settings/audit`). A change is checked as the settings file is,
//! saved with one audit entry per field (who, what, before, after, when),
//! then handed to the zone thread, which applies it between two ticks and
//! tells every connected client (`SettingsChanged`). Saved values are read
//! again at the next start, over the settings file's.
//!
//! Live settings are the hosted world's: `{id}` is the hosted space (the
//! `space_id` of the join answer). Another space answers 404: its instances
//! run with the settings file's values. In cluster mode a change is refused
//! (409): the other shards would not follow it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_netcode::NetcodeConfig;
use meridian_persistence::{SettingChange, Store, StoreError};
use meridian_sim::{ConfigError, LiveSettings, SimConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::HttpState;
use crate::http::auth::{Admin, Caller};

/// Changes the HTTP side may queue for the zone thread (each PUT waits for
/// the one before it, so one is the most ever queued in practice).
pub(crate) const ORDER_QUEUE: usize = 64;

/// Audit entries one page holds at most.
const MAX_AUDIT_PAGE: u32 = 100;

/// The knobs, as the API and the database spell them: the tick rate
/// (ticks per second), interest radius and hysteresis (metres), the view
/// refresh interval (ticks), the view cap (entities), each client's
/// snapshot budget (bytes per second) and the speed limits (metres per
/// second).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Knobs {
    pub(crate) tick_rate: u32,
    pub(crate) interest_radius: f32,
    pub(crate) interest_hysteresis: f32,
    pub(crate) refresh_ticks: u32,
    pub(crate) view_cap: usize,
    pub(crate) bytes_per_client_per_second: u32,
    pub(crate) max_speed: f32,
    pub(crate) walk_speed: f32,
}

/// Each knob's API name and the settings-file key it stands for.
const FIELDS: [(&str, &str); 8] = [
    ("tickRate", "tick_rate_hz"),
    ("interestRadius", "interest_radius"),
    ("interestHysteresis", "interest_hysteresis"),
    ("refreshTicks", "interest_refresh_ticks"),
    ("viewCap", "max_visible_entities"),
    ("bytesPerClientPerSecond", "snapshot_bytes_per_second"),
    ("maxSpeed", "max_speed"),
    ("walkSpeed", "walk_speed"),
];

/// Why a change was refused: the knob (its API name, or the unknown key)
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) field: String,
    pub(crate) message: String,
}

fn api_name(config_key: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|(_, key)| *key == config_key)
        .map_or("tickRate", |(name, _)| name)
}

impl Knobs {
    /// The knobs of these settings.
    pub(crate) fn of(sim: &SimConfig, netcode: &NetcodeConfig) -> Self {
        Self {
            tick_rate: sim.tick_rate_hz,
            interest_radius: sim.interest_radius,
            interest_hysteresis: sim.interest_hysteresis,
            refresh_ticks: sim.interest_refresh_ticks,
            view_cap: sim.max_visible_entities,
            bytes_per_client_per_second: netcode.snapshot_bytes_per_second,
            max_speed: sim.max_speed,
            walk_speed: sim.walk_speed,
        }
    }

    /// What the zones take.
    pub(crate) fn live(&self) -> LiveSettings {
        LiveSettings {
            tick_rate_hz: self.tick_rate,
            interest_radius: self.interest_radius,
            interest_hysteresis: self.interest_hysteresis,
            interest_refresh_ticks: self.refresh_ticks,
            max_visible_entities: self.view_cap,
            max_speed: self.max_speed,
            walk_speed: self.walk_speed,
        }
    }

    /// `sim` and `netcode` with these knobs, checked as a settings file is
    /// (and, as there, at most one input and one acknowledgement a tick
    /// within the datagram rate); the refusal names the knob to blame.
    pub(crate) fn apply(
        &self,
        sim: &SimConfig,
        netcode: &NetcodeConfig,
    ) -> Result<(SimConfig, NetcodeConfig), Refusal> {
        let sim = sim.with_live_settings(&self.live()).map_err(|error| {
            let ConfigError::OutOfRange {
                field,
                value,
                range,
            } = &error
            else {
                return Refusal {
                    field: "tickRate".to_owned(),
                    message: error.to_string(),
                };
            };
            Refusal {
                field: api_name(field).to_owned(),
                message: format!(
                    "{} is {value}, it must be within {range} ([sim] {field})",
                    api_name(field)
                ),
            }
        })?;
        let netcode = NetcodeConfig {
            snapshot_bytes_per_second: self.bytes_per_client_per_second,
            ..netcode.clone()
        };
        if let Err(error) = netcode.validate() {
            return Err(Refusal {
                field: "bytesPerClientPerSecond".to_owned(),
                message: format!("bytesPerClientPerSecond: {error} ([netcode])"),
            });
        }
        check_datagram_rate(&sim, &netcode).map_err(|message| Refusal {
            field: "tickRate".to_owned(),
            message,
        })?;
        Ok((sim, netcode))
    }

    /// These knobs with the fields of `change` (a JSON object of some of
    /// them) in place; an unknown key or a value of the wrong kind is refused.
    fn changed_by(&self, change: &Value) -> Result<Self, Refusal> {
        let Some(fields) = change.as_object() else {
            return Err(Refusal {
                field: String::new(),
                message: "the body must be a JSON object of settings".to_owned(),
            });
        };
        let mut changed = *self;
        for (key, value) in fields {
            let whole = || {
                value
                    .as_u64()
                    .and_then(|number| u32::try_from(number).ok())
                    .ok_or_else(|| Refusal {
                        field: key.clone(),
                        message: format!("{key} must be a whole number, 0 to 4294967295"),
                    })
            };
            // A JSON number past f32 becomes infinite, and is refused below.
            let metres = || {
                value
                    .as_f64()
                    .map(|number| number as f32)
                    .ok_or_else(|| Refusal {
                        field: key.clone(),
                        message: format!("{key} must be a number"),
                    })
            };
            match key.as_str() {
                "tickRate" => changed.tick_rate = whole()?,
                "interestRadius" => changed.interest_radius = metres()?,
                "interestHysteresis" => changed.interest_hysteresis = metres()?,
                "refreshTicks" => changed.refresh_ticks = whole()?,
                "viewCap" => changed.view_cap = whole()? as usize,
                "bytesPerClientPerSecond" => changed.bytes_per_client_per_second = whole()?,
                "maxSpeed" => changed.max_speed = metres()?,
                "walkSpeed" => changed.walk_speed = metres()?,
                _ => {
                    let known: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
                    return Err(Refusal {
                        field: key.clone(),
                        message: format!("unknown setting; the settings are {}", known.join(", ")),
                    });
                }
            }
        }
        Ok(changed)
    }

    /// The knobs as the API shows them, each metre and speed as the shortest
    /// decimal of its `f32` (0.3, not the 0.30000001192092896 a widening to
    /// `f64` would show).
    fn shown(&self) -> Value {
        json!({
            "tickRate": self.tick_rate,
            "interestRadius": decimal(self.interest_radius),
            "interestHysteresis": decimal(self.interest_hysteresis),
            "refreshTicks": self.refresh_ticks,
            "viewCap": self.view_cap,
            "bytesPerClientPerSecond": self.bytes_per_client_per_second,
            "maxSpeed": decimal(self.max_speed),
            "walkSpeed": decimal(self.walk_speed),
        })
    }

    /// Each knob's API name and JSON value.
    fn values(&self) -> BTreeMap<&'static str, Value> {
        let mut values = BTreeMap::new();
        if let Value::Object(fields) = self.shown() {
            for (name, _) in FIELDS {
                values.insert(name, fields.get(name).cloned().unwrap_or(Value::Null));
            }
        }
        values
    }

    /// The fields that differ from `before`, as the audit log keeps them.
    fn changes_since(&self, before: &Self) -> Vec<SettingChange> {
        let (old, new) = (before.values(), self.values());
        FIELDS
            .iter()
            .filter_map(|(name, _)| {
                let (was, is) = (old.get(name)?, new.get(name)?);
                (was != is).then(|| SettingChange {
                    field: (*name).to_owned(),
                    before: was.to_string(),
                    after: is.to_string(),
                })
            })
            .collect()
    }
}

/// `value` as the `f64` of its shortest decimal (what `f32`'s `Display`
/// writes, which reads back as the same `f32`).
fn decimal(value: f32) -> f64 {
    value
        .to_string()
        .parse()
        .unwrap_or_else(|_| f64::from(value))
}

/// Clients send an input and an acknowledgement each tick (PROTOCOL.md
/// section 5.2): a tick rate whose two datagrams a tick pass the datagram
/// rate limit would have every client struck off.
pub(crate) fn check_datagram_rate(sim: &SimConfig, netcode: &NetcodeConfig) -> Result<(), String> {
    let needed = u64::from(sim.tick_rate_hz) * 2;
    if needed > u64::from(netcode.datagrams_per_second) {
        return Err(format!(
            "tick rate {} Hz needs {needed} datagrams a second from each client (an input and \
             an acknowledgement a tick), above [netcode] datagrams_per_second {}",
            sim.tick_rate_hz, netcode.datagrams_per_second
        ));
    }
    Ok(())
}

/// A change for the zone thread to apply between two ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LiveSettingsOrder {
    pub(crate) live: LiveSettings,
    pub(crate) snapshot_bytes_per_second: u32,
}

/// Counts for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    /// Fields changed, by API name (in [`FIELDS`] order).
    changed: [AtomicU64; FIELDS.len()],
    /// Changes refused, by the field blamed (the last slot: an unknown key or
    /// a body that is no object).
    refused: [AtomicU64; FIELDS.len() + 1],
}

/// The running world's knobs, shared by the HTTP handlers.
#[derive(Clone)]
pub(crate) struct LiveKnobs {
    /// The knobs in force; the lock also makes one change wait for the one
    /// before it.
    current: Arc<tokio::sync::Mutex<Knobs>>,
    /// The settings they change (the file's, with the saved knobs).
    sim: SimConfig,
    netcode: NetcodeConfig,
    orders: crossbeam_channel::Sender<LiveSettingsOrder>,
    /// A shard of a cluster: changes are refused.
    cluster: bool,
    counters: Arc<Counters>,
    /// The knobs for `/metrics` without waiting for the lock.
    published: Arc<std::sync::Mutex<Knobs>>,
}

impl LiveKnobs {
    /// The knobs of `sim` and `netcode` (already with any saved ones), and
    /// the queue to the zone thread.
    pub(crate) fn new(
        sim: &SimConfig,
        netcode: &NetcodeConfig,
        orders: crossbeam_channel::Sender<LiveSettingsOrder>,
        cluster: bool,
    ) -> Self {
        let knobs = Knobs::of(sim, netcode);
        Self {
            current: Arc::new(tokio::sync::Mutex::new(knobs)),
            sim: sim.clone(),
            netcode: netcode.clone(),
            orders,
            cluster,
            counters: Arc::default(),
            published: Arc::new(std::sync::Mutex::new(knobs)),
        }
    }

    fn refused(&self, refusal: &Refusal) {
        let slot = FIELDS
            .iter()
            .position(|(name, _)| *name == refusal.field)
            .unwrap_or(FIELDS.len());
        self.counters.refused[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// `meridian_live_settings_changes_total{field}`,
    /// `meridian_live_settings_refused_total{field}` and the knobs in force,
    /// `meridian_live_setting{field}`.
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP meridian_live_settings_changes_total Live settings changed by an admin, by field.\n# TYPE meridian_live_settings_changes_total counter"
        );
        for (index, (name, _)) in FIELDS.iter().enumerate() {
            let count = self.counters.changed[index].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "meridian_live_settings_changes_total{{field=\"{name}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_live_settings_refused_total Live settings changes refused as invalid, by field (other: an unknown field or no JSON object).\n# TYPE meridian_live_settings_refused_total counter"
        );
        let names = FIELDS.iter().map(|(name, _)| *name).chain(["other"]);
        for (index, name) in names.enumerate() {
            let count = self.counters.refused[index].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "meridian_live_settings_refused_total{{field=\"{name}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_live_setting The running world's live settings (tickRate in Hz, radii in metres, refreshTicks in ticks, viewCap in entities, bytesPerClientPerSecond, speeds in metres per second).\n# TYPE meridian_live_setting gauge"
        );
        let knobs = *self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, value) in knobs.values() {
            let _ = writeln!(out, "meridian_live_setting{{field=\"{name}\"}} {value}");
        }
    }
}

/// Reads the knobs saved for `space` and puts them over `sim` and `netcode`
/// (the settings file's). Saved knobs that no longer pass the checks (the
/// file changed meanwhile) are left out, loudly; the file's stand.
pub(crate) async fn load_saved(
    store: &Store,
    space: i64,
    sim: &mut SimConfig,
    netcode: &mut NetcodeConfig,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let Some(saved) = store
        .space_settings(space)
        .await
        .context("cannot read the space's live settings")?
    else {
        return Ok(());
    };
    let applied = serde_json::from_str::<Knobs>(&saved)
        .map_err(|error| error.to_string())
        .and_then(|knobs| knobs.apply(sim, netcode).map_err(|refusal| refusal.message));
    match applied {
        Ok((with_saved, netcode_with_saved)) => {
            tracing::info!(
                space,
                settings = %saved,
                "live settings saved by an admin are in force over the settings file"
            );
            *sim = with_saved;
            *netcode = netcode_with_saved;
        }
        Err(why) => tracing::warn!(
            space,
            settings = %saved,
            %why,
            "the saved live settings do not fit the settings file; the file's are in force"
        ),
    }
    Ok(())
}

fn error_body(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": error, "message": message.into() })),
    )
        .into_response()
}

fn invalid(refusal: &Refusal) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": "invalid_settings",
            "field": refusal.field,
            "message": refusal.message,
        })),
    )
        .into_response()
}

fn unavailable(failure: &StoreError) -> Response {
    tracing::error!(error = %failure, "database error");
    error_body(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is unavailable",
    )
}

/// The hosted space's id, or the 400 / 404 for `{id}`.
async fn hosted(state: &HttpState, id: Result<Path<i64>, PathRejection>) -> Result<i64, Response> {
    let Ok(Path(id)) = id else {
        return Err(error_body(
            StatusCode::BAD_REQUEST,
            "bad_space_id",
            "the space id must be an integer",
        ));
    };
    if id == state.space_id {
        return Ok(id);
    }
    match state.store.space(id).await {
        Ok(_) => Err(error_body(
            StatusCode::NOT_FOUND,
            "space_not_running",
            format!(
                "space {id} is not running on this server (it runs space {})",
                state.space_id
            ),
        )),
        Err(StoreError::NotFound { .. }) => Err(error_body(
            StatusCode::NOT_FOUND,
            "unknown_space",
            format!("there is no space {id}"),
        )),
        Err(failure) => Err(unavailable(&failure)),
    }
}

/// The settings as the API answers them.
fn answer(space: i64, knobs: &Knobs) -> Response {
    let mut body = knobs.shown();
    if let Value::Object(fields) = &mut body {
        fields.insert("spaceId".to_owned(), json!(space));
    }
    Json(body).into_response()
}

/// `GET /api/v1/admin/spaces/{id}/settings`: the knobs in force.
pub(crate) async fn get_settings(
    State(state): State<HttpState>,
    _admin: Admin,
    id: Result<Path<i64>, PathRejection>,
) -> Response {
    let space = match hosted(&state, id).await {
        Ok(space) => space,
        Err(response) => return response,
    };
    let knobs = *state.live_settings.current.lock().await;
    answer(space, &knobs)
}

/// `PUT /api/v1/admin/spaces/{id}/settings` with some of the knobs: checked,
/// saved and audited, then applied at the zone thread's next tick boundary;
/// answers every knob as it is from then on.
pub(crate) async fn put_settings(
    State(state): State<HttpState>,
    Caller(caller): Caller,
    _admin: Admin,
    id: Result<Path<i64>, PathRejection>,
    body: axum::body::Bytes,
) -> Response {
    let space = match hosted(&state, id).await {
        Ok(space) => space,
        Err(response) => return response,
    };
    let knobs = &state.live_settings;
    if knobs.cluster {
        return error_body(
            StatusCode::CONFLICT,
            "cluster_mode",
            "live settings cannot be changed in cluster mode: the other shards would not follow",
        );
    }
    let change: Value = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(error) => {
            let refusal = Refusal {
                field: String::new(),
                message: format!("the body is not JSON: {error}"),
            };
            knobs.refused(&refusal);
            return invalid(&refusal);
        }
    };
    let mut current = knobs.current.lock().await;
    let checked = current.changed_by(&change).and_then(|changed| {
        changed.apply(&knobs.sim, &knobs.netcode)?;
        Ok(changed)
    });
    let changed = match checked {
        Ok(changed) => changed,
        Err(refusal) => {
            knobs.refused(&refusal);
            return invalid(&refusal);
        }
    };
    let changes = changed.changes_since(&current);
    if changes.is_empty() {
        return answer(space, &current);
    }
    // Numbers and their names only: serializing cannot fail (were it to, the
    // saved text would not parse at the next start, which says so and keeps
    // the file's settings).
    let saved = serde_json::to_string(&changed).unwrap_or_default();
    if let Err(failure) = state
        .store
        .save_space_settings(space, &saved, caller.sub as i64, &changes, now_ms())
        .await
    {
        return unavailable(&failure);
    }
    let order = LiveSettingsOrder {
        live: changed.live(),
        snapshot_bytes_per_second: changed.bytes_per_client_per_second,
    };
    if knobs.orders.try_send(order).is_err() {
        tracing::error!(
            space,
            "the zone thread did not take the live settings; they are saved for the next start"
        );
        return error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "zone_unavailable",
            "the settings are saved, but the zone thread did not take them; they apply at the next start",
        );
    }
    for change in &changes {
        tracing::info!(
            space,
            admin = caller.sub,
            field = %change.field,
            before = %change.before,
            after = %change.after,
            "live setting changed"
        );
        if let Some(index) = FIELDS.iter().position(|(name, _)| *name == change.field) {
            knobs.counters.changed[index].fetch_add(1, Ordering::Relaxed);
        }
    }
    *current = changed;
    *knobs
        .published
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = changed;
    answer(space, &changed)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    at: i64,
    admin_id: i64,
    field: String,
    before: Value,
    after: Value,
}

/// `GET /api/v1/admin/spaces/{id}/settings/audit?limit=N`: the newest N
/// (1 to 100, default 50) field changes, newest first.
pub(crate) async fn get_audit(
    State(state): State<HttpState>,
    _admin: Admin,
    id: Result<Path<i64>, PathRejection>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let space = match hosted(&state, id).await {
        Ok(space) => space,
        Err(response) => return response,
    };
    let limit = match query {
        Ok(Query(AuditQuery { limit: None })) => 50,
        Ok(Query(AuditQuery {
            limit: Some(limit @ 1..=MAX_AUDIT_PAGE),
        })) => limit,
        _ => {
            return error_body(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "query must be limit=<1..100>",
            );
        }
    };
    match state.store.space_settings_audit(space, limit).await {
        Ok(entries) => {
            let parse = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
            let entries: Vec<AuditEntry> = entries
                .into_iter()
                .map(|entry| AuditEntry {
                    at: entry.at_ms,
                    admin_id: entry.admin_id,
                    before: parse(&entry.change.before),
                    after: parse(&entry.change.after),
                    field: entry.change.field,
                })
                .collect();
            Json(entries).into_response()
        }
        Err(failure) => unavailable(&failure),
    }
}

/// The routes of this module (merged into the API router).
pub(crate) fn routes() -> axum::Router<HttpState> {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/api/v1/admin/spaces/{id}/settings",
            get(get_settings).put(put_settings),
        )
        .route("/api/v1/admin/spaces/{id}/settings/audit", get(get_audit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> (SimConfig, NetcodeConfig) {
        (SimConfig::default(), NetcodeConfig::default())
    }

    #[test]
    fn a_partial_change_replaces_only_its_fields_and_is_checked_as_the_file_is() {
        let (sim, netcode) = defaults();
        let knobs = Knobs::of(&sim, &netcode);
        let changed = knobs
            .changed_by(&json!({"tickRate": 10, "interestRadius": 12.5}))
            .expect("known fields");
        assert_eq!((changed.tick_rate, changed.interest_radius), (10, 12.5));
        assert_eq!(changed.view_cap, 256);
        let (sim_after, _) = changed.apply(&sim, &netcode).expect("valid");
        assert_eq!(sim_after.tick_rate_hz, 10);
        assert_eq!(sim_after.world_width, sim.world_width);
        let changes = changed.changes_since(&knobs);
        let fields: Vec<_> = changes
            .iter()
            .map(|change| {
                (
                    change.field.as_str(),
                    change.before.as_str(),
                    change.after.as_str(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [("tickRate", "20", "10"), ("interestRadius", "30.0", "12.5")]
        );

        for (body, field) in [
            (json!({"tickRate": 0}), "tickRate"),
            (json!({"tickRate": 2}), "maxSpeed"),
            (json!({"tickRate": 61}), "tickRate"),
            (json!({"interestHysteresis": 40}), "interestHysteresis"),
            (json!({"viewCap": 5000}), "viewCap"),
            (
                json!({"bytesPerClientPerSecond": 10}),
                "bytesPerClientPerSecond",
            ),
            (json!({"walkSpeed": 7}), "walkSpeed"),
            (json!({"maxSpeed": 1e40}), "maxSpeed"),
        ] {
            let refusal = knobs
                .changed_by(&body)
                .and_then(|changed| changed.apply(&sim, &netcode).map(|_| ()))
                .expect_err("refused");
            assert_eq!(refusal.field, field, "{body}: {}", refusal.message);
        }
        for (body, field) in [
            (json!({"tick_rate_hz": 10}), "tick_rate_hz"),
            (json!({"tickRate": 10.5}), "tickRate"),
            (json!({"tickRate": -1}), "tickRate"),
            (json!({"interestRadius": "far"}), "interestRadius"),
            (json!([1]), ""),
        ] {
            let refusal = knobs.changed_by(&body).expect_err("refused");
            assert_eq!(refusal.field, field, "{body}");
        }
    }

    #[test]
    fn metres_show_as_the_decimal_they_were_given() {
        let (sim, netcode) = defaults();
        let knobs = Knobs::of(&sim, &netcode)
            .changed_by(&json!({"interestRadius": 0.3, "walkSpeed": 1.1}))
            .expect("known fields");
        let shown = knobs.shown();
        assert_eq!(shown["interestRadius"].to_string(), "0.3");
        assert_eq!(shown["walkSpeed"].to_string(), "1.1");
        assert_eq!(shown["maxSpeed"].to_string(), "6.0");
        let changes = knobs.changes_since(&Knobs::of(&sim, &netcode));
        assert_eq!(changes[0].after, "0.3");
        // What is saved reads back as the same knobs.
        let saved = serde_json::to_string(&knobs).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Knobs>(&saved).expect("parses"),
            knobs
        );
    }

    #[test]
    fn the_datagram_rate_bounds_the_tick_rate() {
        let (mut sim, netcode) = defaults();
        sim.tick_rate_hz = 60;
        assert_eq!(check_datagram_rate(&sim, &netcode), Ok(()));
        sim.tick_rate_hz = 61;
        let message = check_datagram_rate(&sim, &netcode).expect_err("too fast");
        assert!(message.contains("datagrams_per_second"), "{message}");
    }

    #[test]
    fn metrics_name_every_field() {
        let (sender, _receiver) = crossbeam_channel::bounded(1);
        let (sim, netcode) = defaults();
        let knobs = LiveKnobs::new(&sim, &netcode, sender, false);
        knobs.refused(&Refusal {
            field: "bogus".into(),
            message: String::new(),
        });
        let mut out = String::new();
        knobs.render(&mut out);
        for line in [
            "meridian_live_settings_changes_total{field=\"tickRate\"} 0\n",
            "meridian_live_settings_refused_total{field=\"other\"} 1\n",
            "meridian_live_setting{field=\"tickRate\"} 20\n",
            "meridian_live_setting{field=\"interestRadius\"} 30.0\n",
            "meridian_live_setting{field=\"bytesPerClientPerSecond\"} 16000\n",
        ] {
            assert!(out.contains(line), "{line} in {out}");
        }
    }
}
