//! Quotas that keep one user from growing the database without bound: spaces
//! per user and elements per space (`[serve] max_spaces_per_user`,
//! `max_elements_per_space`). Admins are exempt: they build the templates and
//! the hosted space, and operators expect them not to hit user limits.

use axum::http::StatusCode;
use axum::response::Response;

use super::HttpState;
use super::auth::{AccessClaims, error};

/// The quotas a server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quotas {
    /// Spaces one user may own.
    pub(crate) spaces_per_user: u32,
    /// Elements placed in one space.
    pub(crate) elements_per_space: u32,
}

/// Which quota refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quota {
    /// Spaces per user.
    Spaces,
    /// Elements per space.
    Elements,
}

/// Requests refused by a quota, by quota (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QuotaRefusals {
    pub(crate) spaces: u64,
    pub(crate) elements: u64,
}

fn exempt(claims: &AccessClaims) -> bool {
    claims.role == "admin"
}

impl Quotas {
    /// How many spaces the caller may own; none for an admin.
    pub(crate) fn spaces_for(&self, claims: &AccessClaims) -> Option<u32> {
        (!exempt(claims)).then_some(self.spaces_per_user)
    }

    /// How many elements a space the caller changes may hold; none for an admin.
    pub(crate) fn elements_for(&self, claims: &AccessClaims) -> Option<u32> {
        (!exempt(claims)).then_some(self.elements_per_space)
    }
}

/// The 409 for a request over `quota` (counted).
pub(crate) fn refused(state: &HttpState, quota: Quota, limit: u32) -> Response {
    if let Ok(mut live) = state.live.lock() {
        match quota {
            Quota::Spaces => live.quota_refusals.spaces += 1,
            Quota::Elements => live.quota_refusals.elements += 1,
        }
    }
    let message = match quota {
        Quota::Spaces => format!("quota reached: a user may own at most {limit} spaces"),
        Quota::Elements => format!("quota reached: a space may hold at most {limit} elements"),
    };
    error(StatusCode::CONFLICT, message)
}
