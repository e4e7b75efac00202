//! Moderation over HTTP: players block and unblock each other; admins page
//! through reports and kick, mute, ban and unban. What is decided is stored
//! (blocks, bans) and handed to the zone thread as a [`ModerationOrder`]
//! (`src/serve/moderation_orders.rs`), which
//! enforces it on players already connected: a block hides the two players'
//! chat from each other, a mute drops the speaker's lines, a kick or ban
//! disconnects at once and a ban refuses the next join.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_persistence::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::HttpState;
use super::auth::{Admin, Body, Caller, error};
use crate::serve::moderation_orders::ModerationOrder;
use crate::serve::persist::now_seconds;

/// Longest mute, and longest ban with an end: a year.
const MAX_SANCTION_SECONDS: u64 = 365 * 24 * 3_600;

fn failed(failure: StoreError) -> Response {
    match failure {
        StoreError::NotFound { what } => error(StatusCode::NOT_FOUND, format!("{what} not found")),
        other => {
            tracing::error!(error = %other, "database error");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            )
        }
    }
}

/// Queues an order for the zone thread; `false` if the queue is full.
fn order(state: &HttpState, order: ModerationOrder) -> bool {
    state.moderation.try_send(order).is_ok()
}

/// The answer when the zone thread's queue is full: the caller may repeat the
/// request (every order is idempotent).
fn busy() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the zone is busy; try again",
    )
}

/// The answer to an order that was stored (or needs no storage).
pub(crate) fn ordered(
    state: &HttpState,
    order_given: ModerationOrder,
    answer: Response,
) -> Response {
    if order(state, order_given) {
        answer
    } else {
        busy()
    }
}

/// Before a realtime token is minted for `account`: a banned account is
/// refused (403), and the zone thread learns whom it blocked and who blocked
/// it, so its chat is filtered from its first line.
pub(crate) async fn admit(state: &HttpState, account: u64) -> Result<(), Response> {
    refuse_if_banned(state, account).await?;
    let relations = state
        .store
        .block_relations(account as i64)
        .await
        .map_err(failed)?;
    if order(state, ModerationOrder::Load { account, relations }) {
        Ok(())
    } else {
        Err(busy())
    }
}

/// A 403 if `account` is banned now (for login and join).
pub(crate) async fn refuse_if_banned(state: &HttpState, account: u64) -> Result<(), Response> {
    match state.store.active_ban(account as i64, now_seconds()).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(error(StatusCode::FORBIDDEN, "this account is banned")),
        Err(failure) => Err(failed(failure)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Someone {
    user_id: i64,
}

/// `POST /api/v1/user/block {userId}`: the two no longer hear each other.
pub(crate) async fn block(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Body(request): Body<Someone>,
) -> Response {
    if request.user_id == claims.sub as i64 {
        return error(StatusCode::BAD_REQUEST, "nobody can block themselves");
    }
    if let Err(failure) = state
        .store
        .block(claims.sub as i64, request.user_id, now_seconds())
        .await
    {
        return failed(failure);
    }
    let blocked = ModerationOrder::Blocked {
        blocker: claims.sub,
        blocked: request.user_id as u64,
    };
    ordered(&state, blocked, Json(json!({})).into_response())
}

/// `DELETE /api/v1/user/block {userId}`: lifts the caller's block (a block
/// the other made stays).
pub(crate) async fn unblock(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Body(request): Body<Someone>,
) -> Response {
    match state
        .store
        .unblock(claims.sub as i64, request.user_id)
        .await
    {
        Ok(true) => {}
        Ok(false) => return error(StatusCode::NOT_FOUND, "no such block"),
        Err(failure) => return failed(failure),
    }
    let unblocked = ModerationOrder::Unblocked {
        blocker: claims.sub,
        blocked: request.user_id as u64,
    };
    ordered(&state, unblocked, Json(json!({})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportsQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportJson {
    id: i64,
    reporter_id: i64,
    reported_id: i64,
    reason: String,
    created_at: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportsPage {
    reports: Vec<ReportJson>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next_before: Option<i64>,
}

/// `GET /api/v1/admin/reports?before=ID&limit=N`: reports, newest first, at
/// most 100 a page.
pub(crate) async fn reports(
    State(state): State<HttpState>,
    _admin: Admin,
    query: Result<Query<ReportsQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "query must be before=<report id>&limit=<1..100>",
        );
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    match state.store.reports(query.before, limit).await {
        Ok(found) => {
            let next_before = (found.len() == limit as usize)
                .then(|| found.last().map(|report| report.id))
                .flatten();
            let reports = found
                .into_iter()
                .map(|report| ReportJson {
                    id: report.id,
                    reporter_id: report.reporter_id,
                    reported_id: report.reported_id,
                    reason: report.reason,
                    created_at: report.created_at,
                })
                .collect();
            Json(ReportsPage {
                reports,
                next_before,
            })
            .into_response()
        }
        Err(failure) => failed(failure),
    }
}

/// Checks that `user` names an account (404 if not).
async fn known(state: &HttpState, user: i64) -> Result<u64, Response> {
    match state.store.account_exists(user).await {
        Ok(true) => Ok(user as u64),
        Ok(false) => Err(error(StatusCode::NOT_FOUND, "account not found")),
        Err(failure) => Err(failed(failure)),
    }
}

/// `POST /api/v1/admin/kick {userId}`: disconnects the player now (they may
/// come back).
pub(crate) async fn kick(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(request): Body<Someone>,
) -> Response {
    order_for_known(&state, request.user_id, |account| ModerationOrder::Kick {
        account,
    })
    .await
}

/// Queues the order `make` builds for `user` if it names an account (404 if
/// not), answering `{}`.
async fn order_for_known(
    state: &HttpState,
    user: i64,
    make: impl FnOnce(u64) -> ModerationOrder,
) -> Response {
    match known(state, user).await {
        Ok(account) => ordered(state, make(account), Json(json!({})).into_response()),
        Err(response) => response,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MuteRequest {
    user_id: i64,
    seconds: u64,
}

/// `POST /api/v1/admin/mute {userId, seconds}`: the player's chat is dropped
/// (counted) for that long.
pub(crate) async fn mute(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(request): Body<MuteRequest>,
) -> Response {
    if !(1..=MAX_SANCTION_SECONDS).contains(&request.seconds) {
        return error(
            StatusCode::BAD_REQUEST,
            "seconds must be 1 to 31536000 (a year)",
        );
    }
    let account = match known(&state, request.user_id).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let muted = ModerationOrder::Mute {
        account,
        duration: Duration::from_secs(request.seconds),
    };
    ordered(&state, muted, Json(json!({})).into_response())
}

/// `POST /api/v1/admin/unmute {userId}`.
pub(crate) async fn unmute(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(request): Body<Someone>,
) -> Response {
    order_for_known(&state, request.user_id, |account| ModerationOrder::Unmute {
        account,
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BanRequest {
    user_id: i64,
    #[serde(default)]
    reason: Option<String>,
    /// How long; none bans until lifted.
    #[serde(default)]
    seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Banned {
    /// When the ban ends (seconds since the epoch); null: until lifted.
    banned_until: Option<i64>,
}

/// `POST /api/v1/admin/ban {userId, reason?, seconds?}`: stored; the player
/// is disconnected now and can neither log in nor join until it ends.
pub(crate) async fn ban(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    _admin: Admin,
    Body(request): Body<BanRequest>,
) -> Response {
    if request.user_id == claims.sub as i64 {
        return error(StatusCode::BAD_REQUEST, "nobody can ban themselves");
    }
    let reason = request.reason.as_deref().unwrap_or("").trim();
    if reason.len() > 1_000 || reason.chars().any(|c| c.is_control() && c != '\n') {
        return error(
            StatusCode::BAD_REQUEST,
            "reason must be at most 1000 characters",
        );
    }
    let banned_until = match request.seconds {
        None => None,
        Some(seconds @ 1..=MAX_SANCTION_SECONDS) => Some(now_seconds() + seconds as i64),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "seconds must be 1 to 31536000 (a year), or absent for a ban until lifted",
            );
        }
    };
    if let Err(failure) = state
        .store
        .ban(request.user_id, reason, banned_until, now_seconds())
        .await
    {
        return failed(failure);
    }
    let account = request.user_id as u64;
    ordered(
        &state,
        ModerationOrder::Ban { account },
        Json(Banned { banned_until }).into_response(),
    )
}

/// `POST /api/v1/admin/unban {userId}`.
pub(crate) async fn unban(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(request): Body<Someone>,
) -> Response {
    match state.store.unban(request.user_id).await {
        Ok(true) => {}
        Ok(false) => return error(StatusCode::NOT_FOUND, "no such ban"),
        Err(failure) => return failed(failure),
    }
    let account = request.user_id as u64;
    ordered(
        &state,
        ModerationOrder::Unban { account },
        Json(json!({})).into_response(),
    )
}

/// The routes of this module (merged into the API router).
pub(crate) fn routes() -> axum::Router<HttpState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/v1/user/block", post(block).delete(unblock))
        .route("/api/v1/admin/reports", get(reports))
        .route("/api/v1/admin/kick", post(kick))
        .route("/api/v1/admin/mute", post(mute))
        .route("/api/v1/admin/unmute", post(unmute))
        .route("/api/v1/admin/ban", post(ban))
        .route("/api/v1/admin/unban", post(unban))
}
