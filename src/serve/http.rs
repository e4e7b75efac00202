//! The HTTP side of `meridian serve`: health, Prometheus metrics, and in embedded
//! mode the development join endpoint that mints realtime tokens.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use meridian_netcode::driver::server::DriverCounters;
use meridian_netcode::token::REALTIME_SCOPE;
use meridian_netcode::{RealtimeClaims, TokenAuthority};
use serde::{Deserialize, Serialize};

use super::live::LiveMetrics;

/// How long a development token is valid.
const DEV_TOKEN_SECONDS: u64 = 3_600;

#[derive(Clone)]
pub(crate) struct HttpState {
    pub(crate) live: Arc<Mutex<LiveMetrics>>,
    pub(crate) driver: Arc<DriverCounters>,
    /// Present in embedded mode only.
    pub(crate) dev_tokens: Option<TokenAuthority>,
    pub(crate) game_address: SocketAddr,
    pub(crate) certificate_sha256: Arc<RwLock<String>>,
    pub(crate) space: u32,
    pub(crate) next_account: Arc<AtomicU64>,
}

pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/dev/join", post(dev_join))
        .with_state(state)
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<HttpState>) -> Response {
    match state.live.lock() {
        Ok(live) => (
            [("content-type", "text/plain; version=0.0.4")],
            live.render(&state.driver),
        )
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevJoinRequest {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Serialize)]
struct DevJoinResponse {
    token: String,
    game_address: String,
    certificate_sha256: String,
    space: u32,
    expires_at: u64,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: &'static str,
}

async fn dev_join(State(state): State<HttpState>, body: Option<Json<DevJoinRequest>>) -> Response {
    let Some(authority) = &state.dev_tokens else {
        let body = ErrorBody {
            error: "development tokens are off on this server",
        };
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    let request = body.map(|Json(request)| request).unwrap_or_default();
    let account = state.next_account.fetch_add(1, Ordering::Relaxed);
    let name = request
        .name
        .filter(|name| !name.trim().is_empty() && name.len() <= 64)
        .unwrap_or_else(|| format!("guest{account}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let expires_at = now + DEV_TOKEN_SECONDS;
    let token = authority.mint(&RealtimeClaims {
        sub: account,
        name,
        space: state.space,
        exp: expires_at,
        scope: REALTIME_SCOPE.into(),
    });
    let certificate_sha256 = state
        .certificate_sha256
        .read()
        .map(|hash| hash.clone())
        .unwrap_or_default();
    Json(DevJoinResponse {
        token,
        game_address: state.game_address.to_string(),
        certificate_sha256,
        space: state.space,
        expires_at,
    })
    .into_response()
}
