//! `POST /api/v1/admin/inventory/grant`: the one way items enter an inventory
//! besides the server's own rules. Clients may only give up what they hold
//! (the zone answers a positive `InventoryChange` with `NotAllowed`); an admin
//! grants here, committed in the same compare-and-set transaction as a
//! client's change, so a grant and a player's drop never overwrite each other.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_persistence::{InventoryOutcome, MAX_STACK};
use serde::Deserialize;
use serde_json::json;

use super::HttpState;
use super::auth::{Admin, Body, error};
use crate::serve::persist::now_seconds;

/// The body of a grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Grant {
    /// Whose character, in the space this server hosts.
    user_id: i64,
    /// A catalogue element id.
    item_id: i64,
    /// How many to add, 1 to [`MAX_STACK`].
    quantity: i64,
}

/// `POST /api/v1/admin/inventory/grant {userId, itemId, quantity}`: adds
/// `quantity` of the item to the user's character in this server's space and
/// answers the count now held. The character must exist (the user joined the
/// space at least once).
pub(crate) async fn grant(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(grant): Body<Grant>,
) -> Response {
    let Some(delta) = i32::try_from(grant.quantity)
        .ok()
        .filter(|quantity| (1..=MAX_STACK as i32).contains(quantity))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("quantity must be 1 to {MAX_STACK}"),
        );
    };
    let character = match state.store.character(grant.user_id, state.space_id).await {
        Ok(Some(character)) => character,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "that user has no character in this space (they have not joined it)",
            );
        }
        Err(failure) => return super::auth::database_unavailable(&failure),
    };
    let item = grant.item_id.to_string();
    match state
        .store
        .change_inventory(&character, &item, delta, now_seconds())
        .await
    {
        Ok(InventoryOutcome::Applied { quantity, .. }) => Json(json!({
            "userId": grant.user_id,
            "itemId": grant.item_id,
            "quantity": quantity,
        }))
        .into_response(),
        Ok(InventoryOutcome::UnknownItem) => {
            error(StatusCode::NOT_FOUND, "no catalogue element has that id")
        }
        Ok(InventoryOutcome::StackFull { held }) => error(
            StatusCode::BAD_REQUEST,
            format!("the user holds {held}: the grant would pass the stack limit of {MAX_STACK}"),
        ),
        // A positive delta never takes more than is held.
        Ok(InventoryOutcome::NotEnough { .. }) => {
            error(StatusCode::BAD_REQUEST, "nothing to take from")
        }
        Err(failure) => super::auth::database_unavailable(&failure),
    }
}
