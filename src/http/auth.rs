//! Accounts over HTTP: sign-up and login with argon2 password hashes, signed
//! access tokens with roles, and joining a space with one (which returns the
//! short-lived realtime token the game connection presents).

use std::time::{SystemTime, UNIX_EPOCH};

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use meridian_netcode::RealtimeClaims;
use meridian_persistence::{Role, SpaceSummary, StoreError};
use meridian_shard_manager::SpawnHint;
use meridian_sim::Vec2;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::HttpState;

/// How long a realtime token is valid: long enough to connect.
pub(crate) const REALTIME_TOKEN_SECONDS: u64 = 300;
/// The scope of access tokens (a realtime token is not accepted by the API).
pub(crate) const ACCESS_SCOPE: &str = "access";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) sub: u64,
    pub(crate) username: String,
    /// `user` or `admin`.
    pub(crate) role: String,
    pub(crate) exp: u64,
    pub(crate) scope: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// The 503 of every handler whose database call failed (the failure is
/// logged, never shown to the client).
pub(crate) fn database_unavailable(failure: &StoreError) -> Response {
    tracing::error!(error = %failure, "database error");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is unavailable",
    )
}

pub(crate) fn valid_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A 400 for a name no account can have, answered before anything else (a
/// rate-limit key, a database query, a hash) is spent on it.
fn refuse_bad_username(name: &str) -> Option<Response> {
    (!valid_username(name)).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "username must be 3 to 32 letters, digits, '_' or '-'",
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUp {
    username: String,
    password: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Serialize)]
struct SignedUp {
    #[serde(rename = "userId")]
    user_id: i64,
}

/// `POST /api/v1/signup {username, password, type}`: `type` may be `user` (the
/// default); nobody becomes an admin by asking (`meridian create-admin` makes one).
pub(crate) async fn signup(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Body(request): Body<SignUp>,
) -> Response {
    if let Some(refused) = refuse_bad_username(&request.username) {
        return refused;
    }
    // A sign-up is charged to its address only: it says nothing about an
    // existing account, so it must not use up that account's failed logins.
    if let Err(limited) = state
        .logins
        .limits
        .attempt_from(client.ip(), Instant::now())
    {
        return super::sessions::too_many(limited);
    }
    match request.kind.as_deref() {
        None | Some("user") => {}
        Some("admin") => {
            return error(
                StatusCode::FORBIDDEN,
                "admins are made from the command line, not at sign-up",
            );
        }
        Some(_) => return error(StatusCode::BAD_REQUEST, "type must be \"user\""),
    }
    if !(8..=128).contains(&request.password.len()) {
        return error(
            StatusCode::BAD_REQUEST,
            "password must be 8 to 128 bytes long",
        );
    }
    let hash = match state.logins.passwords.hash(request.password).await {
        Ok(hash) => hash,
        Err(why) => return super::sessions::hashing_busy(&state, why),
    };
    match state
        .store
        .create_account(&request.username, &hash, Role::User, unix_now() as i64)
        .await
    {
        Ok(account) => Json(SignedUp {
            user_id: account.id,
        })
        .into_response(),
        Err(StoreError::Conflict { .. }) => {
            error(StatusCode::BAD_REQUEST, "that username is taken")
        }
        Err(failure) => database_unavailable(&failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogIn {
    username: String,
    password: String,
}

/// `POST /api/v1/login {username, password}` → `{token, refresh_token,
/// expires_in}` (see [`super::sessions`]). Limited per client address and,
/// for failures only, per account (429 with `Retry-After`); a name no account
/// can have is a 400; an unknown username costs the same argon2 check as a
/// wrong password.
pub(crate) async fn login(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Body(request): Body<LogIn>,
) -> Response {
    if let Some(refused) = refuse_bad_username(&request.username) {
        return refused;
    }
    // Charged before the hash, so parallel guesses cannot outrun the limit;
    // given back when the password is right, or was never checked.
    let forgive = || {
        state
            .logins
            .limits
            .forgive(&request.username, Instant::now());
    };
    if let Err(limited) =
        state
            .logins
            .limits
            .attempt(client.ip(), &request.username, Instant::now())
    {
        return super::sessions::too_many(limited);
    }
    let account = match state.store.account_by_username(&request.username).await {
        Ok(account) => Some(account),
        Err(StoreError::NotFound { .. }) => None,
        Err(failure) => {
            forgive();
            return database_unavailable(&failure);
        }
    };
    let stored = account
        .as_ref()
        .map(|account| account.password_hash.clone());
    match state
        .logins
        .passwords
        .verify(request.password, stored)
        .await
    {
        Ok(true) => {}
        Ok(false) => return error(StatusCode::FORBIDDEN, "wrong username or password"),
        Err(why) => {
            forgive();
            return super::sessions::hashing_busy(&state, why);
        }
    }
    let Some(account) = account else {
        return error(StatusCode::FORBIDDEN, "wrong username or password");
    };
    forgive();
    // A banned account gets no access token (told so only after the password).
    if let Err(refused) = super::moderation::refuse_if_banned(&state, account.id as u64).await {
        return refused;
    }
    super::sessions::start(&state, account.id, account.username, account.role).await
}

/// The access token of a request, checked; or why it is refused (answer 401).
pub(crate) fn authenticate(state: &HttpState, headers: &HeaderMap) -> Result<AccessClaims, String> {
    let token = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or("an Authorization: Bearer <token> header is required")?;
    let claims: AccessClaims = state
        .access_tokens
        .verify_claims(token)
        .map_err(|why| why.to_string())?;
    if claims.scope != ACCESS_SCOPE {
        return Err("not an access token".into());
    }
    if claims.exp <= unix_now() {
        return Err("token has expired".into());
    }
    Ok(claims)
}

#[derive(Debug, Serialize)]
struct Joined {
    token: String,
    game_address: String,
    webtransport_url: String,
    websocket_url: String,
    certificate_sha256: String,
    space_id: i64,
    /// The room joined, from 1 (none for the process's world).
    #[serde(skip_serializing_if = "Option::is_none")]
    room: Option<u32>,
    /// The gateway the token is for: the HTTP address of the shard that
    /// answered (its game address is `game_address`).
    gateway: String,
    expires_at: u64,
}

/// `POST /api/v1/space/{id}/join` with an access token: the realtime token for
/// the game connection, where to connect, and the certificate hash to pin.
/// The process's world is always running; any other space the caller may see
/// is entered through its instance, started if none runs.
pub(crate) async fn join_space(
    State(state): State<HttpState>,
    Id(space): Id,
    Caller(claims): Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // No body (or an empty one) joins any room with a free seat.
    let request: JoinRequest = if body.iter().all(u8::is_ascii_whitespace) {
        JoinRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(_) => return error(StatusCode::BAD_REQUEST, "expected JSON {\"with\"?: userId}"),
        }
    };
    let instance_of = if space == state.space_id {
        None
    } else {
        // A private space of someone else is the same 404 as none at all.
        match super::privacy::visible_space(&state, Some(&claims), space).await {
            Ok(found) => Some(found),
            Err(refused) => return refused,
        }
    };
    // Each realtime token spends an id at the game server's hello: one
    // account must not mint them without bound.
    if let Err(limited) = state.logins.limits.attempt_join(claims.sub, Instant::now()) {
        return super::sessions::too_many(limited);
    }
    let target = instance_of
        .as_ref()
        .map(|space| (space, request.with, request.placed));
    enter(&state, &headers, claims.sub, claims.username, target).await
}

/// The optional body of a join.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    /// Join this user's room (a friend), if it has a free seat.
    with: Option<i64>,
    /// Sent on by another shard's placement (after a 421): a cold start
    /// happens here rather than on the least loaded shard.
    #[serde(default)]
    placed: bool,
}

/// Where a browser reaches the WebSocket fallback: the host it used for this
/// request (so a server bound to 0.0.0.0 still answers a usable address), else
/// the bound HTTP address; `wss` when a proxy in front says the browser came
/// over HTTPS (`X-Forwarded-Proto: https`), as a page served over HTTPS may
/// not open a plain `ws` socket.
fn websocket_url(state: &HttpState, headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    websocket_url_for(
        header("host"),
        header("x-forwarded-proto"),
        &state.http_address.to_string(),
    )
}

fn websocket_url_for(host: Option<&str>, forwarded_proto: Option<&str>, bound: &str) -> String {
    let host = host
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or(bound);
    let scheme = match forwarded_proto {
        Some(proto) if proto.trim().eq_ignore_ascii_case("https") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{host}{}", super::websocket::WEBSOCKET_PATH)
}

/// The join answer for an account in the process's world, with its saved
/// place and chosen avatar sent to the zone.
pub(crate) async fn joined(
    state: &HttpState,
    headers: &HeaderMap,
    account: u64,
    name: String,
) -> Response {
    enter(state, headers, account, name, None).await
}

/// The join answer for an account in the process's world (`target` none) or
/// in a room of that space (with that user's, if given; started here if
/// another shard's placement sent the join here), with its saved place
/// and chosen avatar left where it will appear.
async fn enter(
    state: &HttpState,
    headers: &HeaderMap,
    account: u64,
    name: String,
    target: Option<(&SpaceSummary, Option<i64>, bool)>,
) -> Response {
    // A banned account gets no realtime token; the zone learns its blocks.
    if let Err(refused) = super::moderation::admit(state, account).await {
        return refused;
    }
    let space_id = target.map_or(state.space_id, |(space, _, _)| space.id);
    let hint = match spawn_hint(state, account, &name, space_id).await {
        Ok(hint) => hint,
        Err(failure) => return database_unavailable(&failure),
    };
    let (number, room) = match target {
        None => {
            // A full hint queue only means a spawn in the plaza with any appearance.
            let _ = state.spawn_hints.try_send(hint);
            (state.space, None)
        }
        Some((space, with, placed)) => {
            match state.entrance.enter(space, hint, with, placed).await {
                Ok(entered) => (entered.number, Some(entered.room_number)),
                Err(refused) => return entrance_refused(&refused),
            }
        }
    };
    let expires_at = unix_now() + REALTIME_TOKEN_SECONDS;
    let token = state
        .tokens
        .mint(&RealtimeClaims::new(account, name, number, expires_at).at_gateway(state.gateway));
    let certificate_sha256 = state
        .certificate_sha256
        .read()
        .map(|hash| hash.clone())
        .unwrap_or_default();
    Json(Joined {
        token,
        game_address: state.game_address.to_string(),
        webtransport_url: format!(
            "https://{}{}",
            state.game_address,
            meridian_netcode::driver::server::WEBTRANSPORT_PATH
        ),
        websocket_url: websocket_url(state, headers),
        certificate_sha256,
        space_id,
        room,
        gateway: state.http_address.to_string(),
        expires_at,
    })
    .into_response()
}

/// Where an account appears in `space`: its saved place there, and the
/// avatar it chose (with `POST /user/metadata`) over the one saved.
async fn spawn_hint(
    state: &HttpState,
    account: u64,
    name: &str,
    space: i64,
) -> Result<SpawnHint, StoreError> {
    let character = state.store.character(account as i64, space).await?;
    let chosen = match state.store.account_by_username(name).await {
        Ok(found) => found.avatar_id,
        Err(StoreError::NotFound { .. }) => None,
        Err(failure) => return Err(failure),
    };
    Ok(SpawnHint {
        account,
        place: character.as_ref().map(|character| {
            (
                Vec2::new(character.x as f32, character.y as f32),
                character.heading as f32,
            )
        }),
        appearance: chosen
            .or(character.as_ref().map(|character| character.appearance))
            .and_then(|appearance| u32::try_from(appearance).ok()),
    })
}

/// The answer to a join of an instance that runs on (or is placed on)
/// another shard: 421 Misdirected Request naming that shard's gateway (its
/// HTTP address), where the client asks the same join again. Its realtime
/// tokens are minted there, for its own gateway.
fn misdirected(gateway: &str) -> Response {
    (
        StatusCode::MISDIRECTED_REQUEST,
        Json(serde_json::json!({
            "error": format!("this room's instance runs on another shard: join through {gateway}"),
            "gateway": gateway,
        })),
    )
        .into_response()
}

/// The answer to a join whose instance could not be found or started.
fn entrance_refused(refused: &super::entrance::EnterError) -> Response {
    use super::entrance::EnterError;
    use meridian_persistence::SeatError;
    match refused {
        EnterError::Seat(SeatError::UnknownSpace) => {
            error(StatusCode::NOT_FOUND, "space not found")
        }
        EnterError::Seat(
            SeatError::Full { .. } | SeatError::WithNotPresent | SeatError::WithRoomFull { .. },
        ) => error(StatusCode::CONFLICT, refused.to_string()),
        EnterError::Seat(SeatError::Store(failure)) => database_unavailable(failure),
        EnterError::Seat(other) => {
            tracing::error!(error = %other, "a join's seat failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the seat could not be reserved",
            )
        }
        EnterError::Elsewhere(gateway) => misdirected(gateway),
        EnterError::InvalidSpace(_) => error(StatusCode::UNPROCESSABLE_ENTITY, refused.to_string()),
        EnterError::Store(failure) => database_unavailable(failure),
        EnterError::TooManyStarts(wait) => {
            super::sessions::too_many(super::rate_limit::Limited::InstanceStarts(*wait))
        }
        EnterError::Draining => error(StatusCode::SERVICE_UNAVAILABLE, refused.to_string()),
        EnterError::TooManyInstances(_) | EnterError::ZoneThread => {
            tracing::warn!(error = %refused, "a join's instance was not started");
            error(StatusCode::SERVICE_UNAVAILABLE, refused.to_string())
        }
    }
}

/// The authenticated caller of a route: a valid access token, or a 401.
pub(crate) struct Caller(pub(crate) AccessClaims);

impl FromRequestParts<HttpState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Response> {
        authenticate(state, &parts.headers)
            .map(Caller)
            .map_err(|why| error(StatusCode::UNAUTHORIZED, why))
    }
}

/// An authenticated admin: a 401 without a valid token, a 403 for a user.
pub(crate) struct Admin;

impl FromRequestParts<HttpState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Response> {
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        if claims.role == "admin" {
            Ok(Admin)
        } else {
            Err(error(StatusCode::FORBIDDEN, "admins only"))
        }
    }
}

/// A JSON body; anything else is a 400 with the reason.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| Body(value))
            .map_err(|rejection| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid request body: {rejection}"),
                )
            })
    }
}

/// An integer id from the path; anything else is a 400.
pub(crate) struct Id(pub(crate) i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|_| error(StatusCode::BAD_REQUEST, "the id must be an integer"))
    }
}

#[cfg(test)]
mod tests {
    use super::websocket_url_for;

    #[test]
    fn the_websocket_url_follows_the_request() {
        let bound = "127.0.0.1:8080";
        assert_eq!(
            websocket_url_for(Some("play.example:8080"), None, bound),
            "ws://play.example:8080/meridian/ws"
        );
        assert_eq!(
            websocket_url_for(Some("play.example"), Some("https"), bound),
            "wss://play.example/meridian/ws"
        );
        // A host header that is not a plain host falls back to the bound address.
        assert_eq!(
            websocket_url_for(Some("evil/path?x"), None, bound),
            "ws://127.0.0.1:8080/meridian/ws"
        );
        assert_eq!(
            websocket_url_for(None, Some("http"), bound),
            "ws://127.0.0.1:8080/meridian/ws"
        );
    }
}
