//! Sessions: what a login hands out and how it is kept alive or ended.
//!
//! A login returns a short-lived access token (signed with the access key) and
//! a refresh token: 256 random bits, stored only as their SHA-256 with the
//! account, a family (the login it descends from) and an expiry.
//! `POST /api/v1/token/refresh` exchanges a refresh token for a new pair and
//! revokes the old one; the account's role is read again, so a role change
//! reaches the next access token. A refresh token used after it was rotated
//! means two parties hold it: its whole family is revoked. `POST
//! /api/v1/logout` revokes the family too.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use meridian_persistence::{NewRefreshToken, RefreshOutcome, Role};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use super::HttpState;
use super::auth::{ACCESS_SCOPE, AccessClaims, Body, database_unavailable, error};
use super::passwords::PasswordPool;
use super::rate_limit::{Limited, LoginLimits};

/// Everything logins need besides the store: the hashing pool, the rate
/// limits and the token lifetimes.
#[derive(Debug, Clone)]
pub(crate) struct Logins {
    pub(crate) passwords: PasswordPool,
    pub(crate) limits: Arc<LoginLimits>,
    /// How long an access token is valid, seconds.
    pub(crate) access_token_seconds: u64,
    /// How long a refresh token is valid, seconds.
    pub(crate) refresh_token_seconds: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// 256 random bits, base64url; `None` if the system random source failed.
fn random_secret() -> Option<String> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database keeps of a refresh token: its SHA-256, hex.
fn refresh_hash(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A 429 with `Retry-After` for a refused login or sign-up.
pub(crate) fn too_many(limited: Limited) -> Response {
    let seconds = limited.retry_after_seconds();
    let what = match limited {
        Limited::Address(_) => "attempts from this address",
        Limited::Account(_) => "failed attempts for this account",
        Limited::Joins(_) => "joins for this account",
        Limited::InstanceStarts(_) => "instances started by this account's joins",
    };
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many {what}; retry in {seconds} s"),
    );
    response.headers_mut().insert("retry-after", seconds.into());
    response
}

/// A 429 with `Retry-After: 1` when the hashing pool's queue is full (a
/// burst of logins; the client waits like for a rate limit).
pub(crate) fn hashing_busy(state: &HttpState, why: super::passwords::PasswordError) -> Response {
    let status = match why {
        super::passwords::PasswordError::Busy => {
            state.logins.limits.count_hashing_busy();
            StatusCode::TOO_MANY_REQUESTS
        }
        super::passwords::PasswordError::Failed => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut response = error(status, why.to_string());
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert("retry-after", 1_u64.into());
    }
    response
}

#[derive(Debug, Serialize)]
struct Session {
    /// The access token (Bearer).
    token: String,
    refresh_token: String,
    /// Seconds the access token is valid.
    expires_in: u64,
}

fn access_token(state: &HttpState, account: i64, username: String, role: Role) -> String {
    let claims = AccessClaims {
        sub: account as u64,
        username,
        role: match role {
            Role::Admin => "admin".into(),
            Role::User => "user".into(),
        },
        exp: unix_now() + state.logins.access_token_seconds,
        scope: ACCESS_SCOPE.into(),
    };
    state.access_tokens.mint_claims(&claims)
}

/// The answer to a good login: a new session (a new refresh family).
pub(crate) async fn start(
    state: &HttpState,
    account: i64,
    username: String,
    role: Role,
) -> Response {
    let (Some(refresh), Some(family)) = (random_secret(), random_secret()) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness for a session",
        );
    };
    let now = unix_now();
    let stored = NewRefreshToken {
        token_hash: &refresh_hash(&refresh),
        account_id: account,
        family: &family,
        expires_at: (now + state.logins.refresh_token_seconds) as i64,
    };
    if let Err(failure) = state.store.issue_refresh_token(stored, now as i64).await {
        return database_unavailable(&failure);
    }
    Json(Session {
        token: access_token(state, account, username, role),
        refresh_token: refresh,
        expires_in: state.logins.access_token_seconds,
    })
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

/// Refresh tokens are 43 base64url characters; anything far longer is not one.
const MAX_REFRESH_TOKEN_LENGTH: usize = 256;

/// `POST /api/v1/token/refresh {refresh_token}` → `{token, refresh_token,
/// expires_in}`; the refresh token given is revoked.
pub(crate) async fn refresh(
    State(state): State<HttpState>,
    Body(request): Body<RefreshRequest>,
) -> Response {
    if request.refresh_token.len() > MAX_REFRESH_TOKEN_LENGTH {
        return error(StatusCode::UNAUTHORIZED, "unknown refresh token");
    }
    let Some(next) = random_secret() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness for a session",
        );
    };
    let now = unix_now();
    let new = NewRefreshToken {
        token_hash: &refresh_hash(&next),
        account_id: 0,
        family: "",
        expires_at: (now + state.logins.refresh_token_seconds) as i64,
    };
    let outcome = state
        .store
        .rotate_refresh_token(&refresh_hash(&request.refresh_token), new, now as i64)
        .await;
    match outcome {
        Ok(RefreshOutcome::Rotated(account)) => {
            // A ban since the login ends the session at its next refresh.
            if let Err(refused) =
                super::moderation::refuse_if_banned(&state, account.account_id as u64).await
            {
                return refused;
            }
            Json(Session {
                token: access_token(&state, account.account_id, account.username, account.role),
                refresh_token: next,
                expires_in: state.logins.access_token_seconds,
            })
            .into_response()
        }
        Ok(RefreshOutcome::Expired) => error(
            StatusCode::UNAUTHORIZED,
            "the refresh token has expired; log in again",
        ),
        Ok(RefreshOutcome::Reused) => error(
            StatusCode::UNAUTHORIZED,
            "the refresh token was already used; every session of that login is revoked",
        ),
        Ok(_) => error(StatusCode::UNAUTHORIZED, "unknown refresh token"),
        Err(failure) => database_unavailable(&failure),
    }
}

/// `POST /api/v1/logout {refresh_token}`: revokes the session (the refresh
/// token's family); 204 whether or not the token was known.
pub(crate) async fn logout(
    State(state): State<HttpState>,
    Body(request): Body<RefreshRequest>,
) -> Response {
    if request.refresh_token.len() > MAX_REFRESH_TOKEN_LENGTH {
        return StatusCode::NO_CONTENT.into_response();
    }
    match state
        .store
        .revoke_refresh_family(&refresh_hash(&request.refresh_token), unix_now() as i64)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => database_unavailable(&failure),
    }
}

#[cfg(test)]
mod tests {
    use super::{random_secret, refresh_hash};

    #[test]
    fn refresh_tokens_are_random_and_stored_as_their_hash() {
        let one = random_secret().expect("random");
        let two = random_secret().expect("random");
        assert_ne!(one, two);
        assert_eq!(one.len(), 43);
        assert_eq!(refresh_hash(&one).len(), 64);
        assert_ne!(refresh_hash(&one), one);
        assert_eq!(refresh_hash(&one), refresh_hash(&one));
    }
}
