//! The HTTP routes of `meridian serve` and the state they share: health, the
//! web client, the accounts API, chat history and, with `--dev`, the
//! development join that makes a guest (`/metrics` and the listener are in
//! `server`).

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod dashboard;
pub(crate) mod entrance;
pub(crate) mod grants;
pub(crate) mod health;
pub(crate) mod limits;
pub(crate) mod metrics;
pub(crate) mod moderation;
pub(crate) mod paging;
pub(crate) mod passwords;
pub(crate) mod privacy;
pub(crate) mod quotas;
pub(crate) mod rate_limit;
pub(crate) mod roles;
pub(crate) mod server;
pub(crate) mod sessions;
pub(crate) mod trace;
pub(crate) mod web;
pub(crate) mod websocket;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use meridian_netcode::TokenAuthority;
use meridian_netcode::driver::server::DriverCounters;
use meridian_persistence::Store;
use meridian_shard_manager::SpawnHint;
use serde::{Deserialize, Serialize};

use crate::serve::live::LiveMetrics;

#[derive(Clone)]
pub(crate) struct HttpState {
    pub(crate) live: Arc<Mutex<LiveMetrics>>,
    pub(crate) driver: Arc<DriverCounters>,
    /// Signs realtime tokens (with the realtime key).
    pub(crate) tokens: TokenAuthority,
    /// Signs and checks access tokens (with the access key: a realtime token
    /// is no access token, and the other way round).
    pub(crate) access_tokens: TokenAuthority,
    /// Password hashing, login limits and session lifetimes.
    pub(crate) logins: self::sessions::Logins,
    /// The development join endpoint is on (`--dev`; never in cluster mode).
    pub(crate) dev_tokens: bool,
    pub(crate) game_address: SocketAddr,
    pub(crate) certificate_sha256: Arc<RwLock<String>>,
    pub(crate) space: u32,
    /// The gateway this server's realtime tokens are bound to (its shard id,
    /// 0 for a server of one).
    pub(crate) gateway: u32,
    pub(crate) store: Store,
    /// The database id of the hosted space.
    pub(crate) space_id: i64,
    pub(crate) zone_id: u32,
    /// Saved places, to the zone thread.
    pub(crate) spawn_hints: crossbeam_channel::Sender<SpawnHint>,
    /// Where this HTTP server listens (for the WebSocket fallback's address).
    pub(crate) http_address: SocketAddr,
    /// Placements made or removed in the hosted space, to the zone thread.
    pub(crate) element_changes: crossbeam_channel::Sender<crate::serve::elements::ElementChange>,
    /// Blocks, mutes, kicks and bans, to the zone thread.
    pub(crate) moderation:
        crossbeam_channel::Sender<crate::serve::moderation_orders::ModerationOrder>,
    /// The WebSocket fallback's way into the zone.
    pub(crate) fallback: self::websocket::Fallback,
    /// Spaces per user and elements per space (admins are exempt).
    pub(crate) quotas: self::quotas::Quotas,
    /// What `/health` and `/ready` look at besides the zone thread and the
    /// database.
    pub(crate) probes: self::health::Probes,
    /// The running world's live settings (admins change them).
    pub(crate) live_settings: crate::serve::live_settings::LiveKnobs,
    /// Finds or starts the instances of other spaces for joins.
    pub(crate) entrance: Arc<self::entrance::Entrance>,
    /// A cluster shard's instance leases (none embedded).
    pub(crate) instance_leases: Option<Arc<crate::serve::instance_leases::InstanceLeases>>,
    /// An admin's drain request (`POST /api/v1/admin/drain`).
    pub(crate) drain: Arc<crate::serve::drain::DrainRequest>,
}

impl axum::extract::FromRef<HttpState> for self::websocket::Fallback {
    fn from_ref(state: &HttpState) -> Self {
        state.fallback.clone()
    }
}

/// Every route but `/metrics` (which `server` adds here or serves on an
/// address of its own).
pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/", get(self::web::index))
        .route("/dashboard", get(self::dashboard::page))
        .route("/{*path}", get(self::web::asset))
        .route("/health", get(self::health::health))
        .route("/ready", get(self::health::ready))
        .route(
            self::websocket::WEBSOCKET_PATH,
            get(self::websocket::upgrade),
        )
        .route("/api/v1/dev/join", post(dev_join))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/signup", post(auth::signup))
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/token/refresh", post(self::sessions::refresh))
        .route("/api/v1/logout", post(self::sessions::logout))
        .route("/api/v1/space/{id}/join", post(auth::join_space))
        .route("/api/v1/space/{id}/rooms", get(api::rooms))
        .route("/api/v1/avatars", get(api::avatars))
        .route("/api/v1/elements", get(api::elements))
        .route("/api/v1/user/metadata", post(api::user_metadata))
        .route("/api/v1/user/report", post(api::report))
        .route("/api/v1/space/all", get(api::all_spaces))
        .route("/api/v1/space", post(api::create_space))
        .route(
            "/api/v1/space/element",
            post(api::place_element).delete(api::remove_element),
        )
        .route(
            "/api/v1/space/{id}",
            get(api::get_space).delete(api::delete_space),
        )
        .route("/api/v1/admin/element", post(api::admin_create_element))
        .route("/api/v1/admin/element/{id}", put(api::admin_update_element))
        .route("/api/v1/admin/avatar", post(api::admin_create_avatar))
        .route("/api/v1/admin/map", post(api::admin_create_map))
        .route("/api/v1/admin/inventory/grant", post(self::grants::grant))
        .route("/api/v1/admin/user/{id}/role", put(self::roles::set_role))
        .route("/api/v1/admin/dashboard", get(self::dashboard::numbers))
        .route("/api/v1/admin/drain", post(crate::serve::drain::drain))
        .route("/api/v1/space/{id}/chat", get(chat_history))
        .merge(self::moderation::routes())
        .merge(crate::serve::live_settings::routes())
        .merge(crate::serve::voice::routes())
        .with_state(state)
}

/// The OpenAPI document of the HTTP API (docs/openapi.json).
async fn openapi() -> Response {
    (
        [("content-type", "application/json")],
        include_str!("../../docs/openapi.json"),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevJoinRequest {
    #[serde(default)]
    name: Option<String>,
}

async fn dev_join(
    State(state): State<HttpState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !state.dev_tokens {
        return auth::error(
            StatusCode::NOT_FOUND,
            "development tokens are off on this server",
        );
    }
    // Every dev join is a new account: it counts as a sign-up against the
    // address's limits (all guests of one address share one name there), so
    // a loop cannot fill the database.
    let guests_of = format!("guest~{}", client.ip());
    if let Err(limited) =
        state
            .logins
            .limits
            .attempt(client.ip(), &guests_of, std::time::Instant::now())
    {
        return self::sessions::too_many(limited);
    }
    // No body (or an empty one) means "any guest name".
    let request: DevJoinRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DevJoinRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(_) => {
                return auth::error(StatusCode::BAD_REQUEST, "expected JSON {\"name\"?}");
            }
        }
    };
    if let Some(name) = &request.name
        && !valid_name(name)
    {
        return auth::error(
            StatusCode::BAD_REQUEST,
            "name must be 1 to 32 letters, digits, '_' or '-'",
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // Always a new guest (`guest~{name}~{number}`), never an existing account:
    // the name only decorates the guest's own username, which is also its
    // name in the world.
    match state
        .store
        .create_guest(request.name.as_deref(), now as i64)
        .await
    {
        Ok(account) => auth::joined(&state, &headers, account.id as u64, account.username).await,
        Err(error) => auth::database_unavailable(&error),
    }
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct HistoryLine {
    id: i64,
    sender: i64,
    /// The sender's username, or null if the account is gone.
    sender_name: Option<String>,
    channel: String,
    text: String,
    sent_at: i64,
}

#[derive(Debug, Serialize)]
struct History {
    messages: Vec<HistoryLine>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    next_before: Option<i64>,
}

/// `GET /api/v1/space/{id}/chat?before=ID&limit=N` with an access token: the
/// hosted zone's space-wide chat (never the nearby lines), newest first, at
/// most 100 per page, for those who may enter the space. Lines of players the
/// caller blocked or who blocked the caller are left out, as they are live (a
/// page may then hold fewer than `limit`); a banned caller gets a 403.
async fn chat_history(
    State(state): State<HttpState>,
    auth::Caller(caller): auth::Caller,
    space: Result<axum::extract::Path<i64>, axum::extract::rejection::PathRejection>,
    query: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Path(space)) = space else {
        return auth::error(StatusCode::BAD_REQUEST, "the space id must be an integer");
    };
    let Ok(axum::extract::Query(query)) = query else {
        return auth::error(
            StatusCode::BAD_REQUEST,
            "query must be before=<message id>&limit=<1..100>",
        );
    };
    if let Err(banned) = self::moderation::refuse_if_banned(&state, caller.sub).await {
        return banned;
    }
    if let Err(hidden) = self::privacy::visible_space(&state, Some(&caller), space).await {
        return hidden;
    }
    if space != state.space_id {
        return auth::error(StatusCode::NOT_FOUND, "no such space on this server");
    }
    let apart: std::collections::HashSet<i64> =
        match state.store.block_relations(caller.sub as i64).await {
            Ok(relations) => relations
                .blocks
                .into_iter()
                .chain(relations.blocked_by)
                .collect(),
            Err(error) => return auth::database_unavailable(&error),
        };
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let room = crate::serve::persist::room_of(state.zone_id);
    let channel = crate::serve::persist::channel_name(self::privacy::HISTORY_CHANNEL);
    match state
        .store
        .channel_history(space, &room, channel, query.before, limit)
        .await
    {
        Ok(lines) => {
            let next_before = (lines.len() == limit as usize)
                .then(|| lines.last().map(|line| line.id))
                .flatten();
            let messages = lines
                .into_iter()
                .filter(|line| !apart.contains(&line.sender_id))
                .map(|line| HistoryLine {
                    id: line.id,
                    sender: line.sender_id,
                    sender_name: line.sender_name,
                    channel: crate::serve::persist::wire_channel_name(&line.channel).to_owned(),
                    text: line.body,
                    sent_at: line.sent_at,
                })
                .collect();
            Json(History {
                messages,
                next_before,
            })
            .into_response()
        }
        Err(error) => auth::database_unavailable(&error),
    }
}
