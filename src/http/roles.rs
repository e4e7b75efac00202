//! `PUT /api/v1/admin/user/{id}/role`: an admin makes a user an admin or an
//! admin a user. Access tokens carry the role they were issued with and live
//! for `[serve] access_token_seconds` (15 minutes by default); a refresh reads
//! the role again, so a change reaches every session within that lifetime.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_persistence::Role;
use serde::Deserialize;
use serde_json::json;

use super::HttpState;
use super::auth::{Admin, Body, Id, error};

/// The body of a role change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    /// `user` or `admin`.
    role: String,
}

/// `PUT /api/v1/admin/user/{id}/role {role}` → `{userId, role}`.
pub(crate) async fn set_role(
    State(state): State<HttpState>,
    _admin: Admin,
    Id(user): Id,
    Body(change): Body<RoleChange>,
) -> Response {
    let role = match change.role.as_str() {
        "user" => Role::User,
        "admin" => Role::Admin,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "role must be \"user\" or \"admin\"",
            );
        }
    };
    match state.store.set_role(user, role).await {
        Ok(true) => Json(json!({ "userId": user, "role": role.as_str() })).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "account not found"),
        Err(failure) => super::auth::database_unavailable(&failure),
    }
}
