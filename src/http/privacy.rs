//! Who may see a space. Templates (admins' maps), unowned spaces (the hosted
//! plaza) and the spaces users share are public; a space its owner made
//! private (`"private": true` at creation) is seen only by its owner and the
//! admins. To anyone else a private space does not exist: reading it,
//! its chat or joining it answers 404, the same as for a space that is not
//! there, so its existence is not revealed.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use meridian_persistence::{SpaceSummary, StoreError};

use super::HttpState;
use super::auth::{AccessClaims, authenticate, error};

/// The chat channel the history serves: the space-wide one (lines on the
/// nearby channel were meant for those within hearing, not for readers).
pub(crate) const HISTORY_CHANNEL: meridian_protocol::messages::ChatChannel =
    meridian_protocol::messages::ChatChannel::Zone;

/// Who looks at a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Viewer {
    account: u64,
    admin: bool,
}

impl Viewer {
    pub(crate) fn of(claims: &AccessClaims) -> Self {
        Self {
            account: claims.sub,
            admin: claims.role == "admin",
        }
    }
}

/// Is `space` public, or the viewer's own, or is the viewer an admin?
pub(crate) fn may_see(space: &SpaceSummary, viewer: Option<Viewer>) -> bool {
    if !space.is_private {
        return true;
    }
    match space.owner_id {
        None => true,
        Some(owner) => viewer.is_some_and(|viewer| {
            viewer.admin || i64::try_from(viewer.account).is_ok_and(|account| account == owner)
        }),
    }
}

/// The space `id` if the caller may see it; else the same 404 as for a space
/// that does not exist.
pub(crate) async fn visible_space(
    state: &HttpState,
    caller: Option<&AccessClaims>,
    id: i64,
) -> Result<SpaceSummary, Response> {
    match state.store.space(id).await {
        Ok(space) if may_see(&space, caller.map(Viewer::of)) => Ok(space),
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            Err(error(StatusCode::NOT_FOUND, "space not found"))
        }
        Err(failure) => Err(super::auth::database_unavailable(&failure)),
    }
}

/// The caller if the request carries an access token (a bad one is a 401);
/// none without an `Authorization` header.
pub(crate) struct MaybeCaller(pub(crate) Option<AccessClaims>);

impl FromRequestParts<HttpState> for MaybeCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Response> {
        if !parts.headers.contains_key("authorization") {
            return Ok(Self(None));
        }
        authenticate(state, &parts.headers)
            .map(|claims| Self(Some(claims)))
            .map_err(|why| error(StatusCode::UNAUTHORIZED, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(owner_id: Option<i64>, is_private: bool) -> SpaceSummary {
        SpaceSummary {
            id: 7,
            name: "office".into(),
            width: 10,
            height: 10,
            owner_id,
            is_template: false,
            is_private,
            thumbnail: None,
        }
    }

    fn caller(account: u64, role: &str) -> Option<Viewer> {
        Some(Viewer {
            account,
            admin: role == "admin",
        })
    }

    #[test]
    fn a_private_space_is_seen_by_its_owner_and_admins_only() {
        let private = space(Some(3), true);
        assert!(may_see(&private, caller(3, "user")));
        assert!(may_see(&private, caller(9, "admin")));
        assert!(!may_see(&private, caller(4, "user")));
        assert!(!may_see(&private, None));
        let shared = space(Some(3), false);
        assert!(
            may_see(&shared, caller(4, "user")),
            "a shared space is public"
        );
        assert!(may_see(&space(None, false), None), "the plaza is public");
    }
}
