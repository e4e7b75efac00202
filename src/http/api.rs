//! The `/api/v1` routes that existing metaverse front ends use: catalogues,
//! spaces and what is placed in them, the player's avatar, and the admin routes
//! that fill the catalogues and template maps. Only a space's owner or an admin
//! may change a space; bad input gets a 4xx with a message, never a 5xx.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_persistence::{CatalogueElement, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::HttpState;
use super::auth::{AccessClaims, Admin, Body, Caller, Id, error};
use super::paging::Page;
use super::privacy::{MaybeCaller, visible_space};
use super::quotas::{self, Quota};
use crate::serve::elements::ElementChange;
use crate::serve::persist::now_seconds;

/// Largest space side, in tiles.
const MAX_SIDE: i32 = 1_000;

fn failed(failure: StoreError) -> Response {
    match failure {
        StoreError::NotFound { what } => error(StatusCode::NOT_FOUND, format!("{what} not found")),
        StoreError::Conflict { what } => error(StatusCode::BAD_REQUEST, format!("{what} is taken")),
        StoreError::QuotaExceeded { what, limit } => error(
            StatusCode::CONFLICT,
            format!("at most {limit} {what} allowed"),
        ),
        other => super::auth::database_unavailable(&other),
    }
}

/// `"WxH"` with both sides in 1..=1000.
fn parse_dimensions(text: &str) -> Option<(i32, i32)> {
    let (width, height) = text.split_once('x')?;
    let width: i32 = width.parse().ok()?;
    let height: i32 = height.parse().ok()?;
    let fits = |side: i32| (1..=MAX_SIDE).contains(&side);
    (fits(width) && fits(height)).then_some((width, height))
}

fn valid_url(text: &str) -> bool {
    (1..=2_048).contains(&text.len()) && !text.chars().any(char::is_control)
}

fn valid_name(text: &str) -> bool {
    (1..=100).contains(&text.trim().len()) && !text.chars().any(char::is_control)
}

fn element_json(element: &CatalogueElement) -> serde_json::Value {
    json!({
        "id": element.id,
        "imageUrl": element.image_url,
        "width": element.width,
        "height": element.height,
        "static": element.is_static,
    })
}

/// `GET /api/v1/avatars`.
pub(crate) async fn avatars(State(state): State<HttpState>) -> Response {
    match state.store.avatars().await {
        Ok(avatars) => {
            let avatars: Vec<_> = avatars
                .iter()
                .map(|a| json!({"id": a.id, "name": a.name, "imageUrl": a.image_url}))
                .collect();
            Json(json!({ "avatars": avatars })).into_response()
        }
        Err(failure) => failed(failure),
    }
}

/// `GET /api/v1/elements?limit&after`: the catalogue, a page at a time.
pub(crate) async fn elements(State(state): State<HttpState>, page: Page) -> Response {
    match state.store.elements_page(page.after, page.limit).await {
        Ok(elements) => {
            let next_after = page.next_after(elements.iter().map(|element| element.id));
            let elements: Vec<_> = elements.iter().map(element_json).collect();
            Json(json!({ "elements": elements, "nextAfter": next_after })).into_response()
        }
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Metadata {
    avatar_id: i64,
}

/// `POST /api/v1/user/metadata {avatarId}`: choose an avatar.
pub(crate) async fn user_metadata(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Body(request): Body<Metadata>,
) -> Response {
    match state
        .store
        .set_account_avatar(claims.sub as i64, request.avatar_id)
        .await
    {
        Ok(()) => Json(json!({})).into_response(),
        Err(StoreError::NotFound { .. }) => error(StatusCode::BAD_REQUEST, "no such avatar"),
        Err(failure) => failed(failure),
    }
}

/// `GET /api/v1/space/all?limit&after`: the caller's spaces and every
/// template, a page at a time; the first page starts with the hosted space.
pub(crate) async fn all_spaces(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    page: Page,
) -> Response {
    let mut next_after = None;
    let listed = match state
        .store
        .spaces_page_for(claims.sub as i64, page.after, page.limit)
        .await
    {
        Ok(mut spaces) => {
            next_after = page.next_after(spaces.iter().map(|space| space.id));
            spaces.retain(|space| space.id != state.space_id);
            if page.after.is_none() {
                // The space this server hosts comes first: it is the one to join.
                match state.store.space(state.space_id).await {
                    Ok(hosted) => {
                        spaces.insert(0, hosted);
                        Ok(spaces)
                    }
                    Err(failure) => Err(failure),
                }
            } else {
                Ok(spaces)
            }
        }
        Err(failure) => Err(failure),
    };
    // Who is in each space now: the world's players, and the seats held in
    // the rooms of the others.
    let mut live_counts = match state.store.live_counts(now_seconds()).await {
        Ok(counts) => counts,
        Err(failure) => return failed(failure),
    };
    let world_players = state.live.lock().map_or(0, |live| live.avatars);
    live_counts.insert(
        state.space_id,
        u32::try_from(world_players).unwrap_or(u32::MAX),
    );
    match listed {
        Ok(spaces) => {
            let spaces: Vec<_> = spaces
                .iter()
                .map(|space| {
                    json!({
                        "id": space.id,
                        "name": space.name,
                        "dimensions": format!("{}x{}", space.width, space.height),
                        "thumbnail": space.thumbnail,
                        "template": space.is_template,
                        "private": space.is_private,
                        "hosted": space.id == state.space_id,
                        "players": live_counts.get(&space.id).copied().unwrap_or(0),
                    })
                })
                .collect();
            Json(json!({ "spaces": spaces, "nextAfter": next_after })).into_response()
        }
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewSpace {
    name: String,
    dimensions: String,
    map_id: Option<i64>,
    /// Only its owner and the admins may see it (default: anyone with its id).
    #[serde(default)]
    private: bool,
    /// Seats per room, 1 to 100,000: when every room is full the next joiner
    /// gets another copy of the space (default: one room, no cap; a space
    /// made from a template takes the template's).
    capacity: Option<u32>,
    /// Whether another room opens when every room is full (default true).
    overflow: Option<bool>,
}

/// The most seats a room may have.
const MAX_CAPACITY: u32 = 100_000;

/// `POST /api/v1/space {name, dimensions "WxH", mapId?, private?}` → `{spaceId}`.
pub(crate) async fn create_space(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Body(request): Body<NewSpace>,
) -> Response {
    if !valid_name(&request.name) {
        return error(StatusCode::BAD_REQUEST, "name must be 1 to 100 characters");
    }
    let Some((width, height)) = parse_dimensions(&request.dimensions) else {
        return error(
            StatusCode::BAD_REQUEST,
            "dimensions must be \"WxH\", each 1 to 1000",
        );
    };
    let capacity = match request.capacity {
        None => None,
        Some(seats @ 1..=MAX_CAPACITY) => std::num::NonZeroU32::new(seats),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("capacity must be 1 to {MAX_CAPACITY} seats per room"),
            );
        }
    };
    let created = state
        .store
        .create_space(
            Some(claims.sub as i64),
            &request.name,
            width,
            height,
            false,
            request.private,
            None,
            request.map_id,
            now_seconds(),
            state.quotas.spaces_for(&claims),
        )
        .await;
    let created = match created {
        // The template's capacity, unless the request names one.
        Ok(id) if capacity.is_some() || request.overflow.is_some() => {
            let inherited = match state.store.space_capacity(id).await {
                Ok(inherited) => inherited,
                Err(failure) => return failed(failure),
            };
            state
                .store
                .set_space_capacity(
                    id,
                    capacity.or(inherited.capacity),
                    request.overflow.unwrap_or(inherited.overflow),
                )
                .await
                .map(|()| id)
        }
        other => other,
    };
    match created {
        Ok(id) => Json(json!({ "spaceId": id })).into_response(),
        Err(StoreError::QuotaExceeded { limit, .. }) => {
            quotas::refused(&state, Quota::Spaces, limit)
        }
        Err(StoreError::NotFound { what: "map" }) => error(StatusCode::BAD_REQUEST, "no such map"),
        Err(failure) => failed(failure),
    }
}

/// `GET /api/v1/space/{id}?limit&after`: its size and what is placed in it, a
/// page at a time (a private space only for its owner and admins: 404 for
/// anyone else).
pub(crate) async fn get_space(
    State(state): State<HttpState>,
    MaybeCaller(caller): MaybeCaller,
    Id(id): Id,
    page: Page,
) -> Response {
    let space = match visible_space(&state, caller.as_ref(), id).await {
        Ok(space) => space,
        Err(response) => return response,
    };
    match state
        .store
        .placed_elements_page(id, page.after, page.limit)
        .await
    {
        Ok(placed) => {
            let next_after = page.next_after(placed.iter().map(|p| p.id));
            let elements: Vec<_> = placed
                .iter()
                .map(|p| json!({"id": p.id, "element": element_json(&p.element), "x": p.x, "y": p.y}))
                .collect();
            Json(json!({
                "id": space.id,
                "name": space.name,
                "dimensions": format!("{}x{}", space.width, space.height),
                "private": space.is_private,
                "elements": elements,
                "nextAfter": next_after,
            }))
            .into_response()
        }
        Err(failure) => failed(failure),
    }
}

/// May the caller change `space`? (Its owner, or an admin; a private space
/// of someone else's is a 404, as if it did not exist.)
pub(crate) async fn may_change(
    state: &HttpState,
    claims: &AccessClaims,
    space: i64,
) -> Result<(), Response> {
    match visible_space(state, Some(claims), space).await {
        Ok(found) if found.owner_id == Some(claims.sub as i64) || claims.role == "admin" => Ok(()),
        Ok(_) => Err(error(
            StatusCode::FORBIDDEN,
            "only the owner or an admin may change this space",
        )),
        Err(response) => Err(response),
    }
}

/// `DELETE /api/v1/space/{id}`.
pub(crate) async fn delete_space(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Id(id): Id,
) -> Response {
    if id == state.space_id {
        return error(
            StatusCode::FORBIDDEN,
            "the space this server hosts cannot be deleted",
        );
    }
    if let Err(response) = may_change(&state, &claims, id).await {
        return response;
    }
    match state.store.delete_space(id).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Placement {
    element_id: i64,
    space_id: i64,
    x: i32,
    y: i32,
}

/// `POST /api/v1/space/element {elementId, spaceId, x, y}` → `{id}`.
pub(crate) async fn place_element(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Body(request): Body<Placement>,
) -> Response {
    if let Err(response) = may_change(&state, &claims, request.space_id).await {
        return response;
    }
    let space = match state.store.space(request.space_id).await {
        Ok(space) => space,
        Err(failure) => return failed(failure),
    };
    if !(0..space.width).contains(&request.x) || !(0..space.height).contains(&request.y) {
        return error(StatusCode::BAD_REQUEST, "the point is outside the space");
    }
    match state
        .store
        .place_element(
            request.space_id,
            request.element_id,
            request.x,
            request.y,
            state.quotas.elements_for(&claims),
        )
        .await
    {
        Ok(id) => {
            tell_zones_placed(&state, request.space_id, id).await;
            Json(json!({ "id": id })).into_response()
        }
        Err(StoreError::QuotaExceeded { limit, .. }) => {
            quotas::refused(&state, Quota::Elements, limit)
        }
        Err(StoreError::NotFound { what: "element" }) => {
            error(StatusCode::BAD_REQUEST, "no such element")
        }
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Removal {
    id: i64,
}

/// `DELETE /api/v1/space/element {id}`.
pub(crate) async fn remove_element(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Body(request): Body<Removal>,
) -> Response {
    let space = match state.store.placement_space(request.id).await {
        Ok(space) => space,
        Err(failure) => return failed(failure),
    };
    if let Err(response) = may_change(&state, &claims, space).await {
        return response;
    }
    match state.store.remove_element(request.id).await {
        Ok(()) => {
            if space == state.space_id {
                // A full queue only delays the change to the next start.
                let _ = state
                    .element_changes
                    .try_send(ElementChange::Removed(request.id));
            } else {
                state
                    .entrance
                    .element_changed(space, ElementChange::Removed(request.id));
            }
            Json(json!({})).into_response()
        }
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewElement {
    image_url: String,
    width: i32,
    height: i32,
    #[serde(rename = "static")]
    is_static: bool,
}

/// `POST /api/v1/admin/element` → `{id}`.
pub(crate) async fn admin_create_element(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(request): Body<NewElement>,
) -> Response {
    let fits = |side: i32| (1..=100).contains(&side);
    if !valid_url(&request.image_url) || !fits(request.width) || !fits(request.height) {
        return error(
            StatusCode::BAD_REQUEST,
            "imageUrl must be set and sides 1 to 100",
        );
    }
    match state
        .store
        .create_element(
            &request.image_url,
            request.width,
            request.height,
            request.is_static,
        )
        .await
    {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ElementImage {
    image_url: String,
}

/// `PUT /api/v1/admin/element/{id} {imageUrl}`.
pub(crate) async fn admin_update_element(
    State(state): State<HttpState>,
    _admin: Admin,
    Id(id): Id,
    Body(request): Body<ElementImage>,
) -> Response {
    if !valid_url(&request.image_url) {
        return error(StatusCode::BAD_REQUEST, "imageUrl must be set");
    }
    match state
        .store
        .update_element_image(id, &request.image_url)
        .await
    {
        Ok(()) => Json(json!({})).into_response(),
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewAvatar {
    image_url: String,
    name: String,
}

/// `POST /api/v1/admin/avatar` → `{avatarId}`.
pub(crate) async fn admin_create_avatar(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(request): Body<NewAvatar>,
) -> Response {
    if !valid_url(&request.image_url) || !valid_name(&request.name) {
        return error(StatusCode::BAD_REQUEST, "imageUrl and name must be set");
    }
    match state
        .store
        .create_avatar(&request.name, &request.image_url)
        .await
    {
        Ok(id) => Json(json!({ "avatarId": id })).into_response(),
        Err(failure) => failed(failure),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MapElement {
    element_id: i64,
    x: i32,
    y: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewMap {
    thumbnail: String,
    dimensions: String,
    name: String,
    #[serde(default)]
    default_elements: Vec<MapElement>,
}

#[derive(Debug, Serialize)]
struct Created {
    id: i64,
}

/// `POST /api/v1/admin/map {thumbnail, dimensions, name, defaultElements}` →
/// `{id}`: a template space others can start from.
pub(crate) async fn admin_create_map(
    State(state): State<HttpState>,
    _admin: Admin,
    Body(request): Body<NewMap>,
) -> Response {
    let Some((width, height)) = parse_dimensions(&request.dimensions) else {
        return error(
            StatusCode::BAD_REQUEST,
            "dimensions must be \"WxH\", each 1 to 1000",
        );
    };
    if !valid_name(&request.name)
        || !valid_url(&request.thumbnail)
        || request.default_elements.len() > 10_000
    {
        return error(
            StatusCode::BAD_REQUEST,
            "name and thumbnail must be set, at most 10000 elements",
        );
    }
    if request
        .default_elements
        .iter()
        .any(|e| !(0..width).contains(&e.x) || !(0..height).contains(&e.y))
    {
        return error(StatusCode::BAD_REQUEST, "an element lies outside the map");
    }
    let id = match state
        .store
        .create_space(
            None,
            &request.name,
            width,
            height,
            true,
            false,
            Some(&request.thumbnail),
            None,
            now_seconds(),
            None,
        )
        .await
    {
        Ok(id) => id,
        Err(failure) => return failed(failure),
    };
    for element in &request.default_elements {
        match state
            .store
            .place_element(id, element.element_id, element.x, element.y, None)
            .await
        {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                let _ = state.store.delete_space(id).await;
                return error(
                    StatusCode::BAD_REQUEST,
                    "no such element in defaultElements",
                );
            }
            Err(failure) => return failed(failure),
        }
    }
    Json(Created { id }).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReportRequest {
    user_id: i64,
    reason: String,
}

/// `POST /api/v1/user/report {userId, reason}` → `{id}`: for the moderators.
pub(crate) async fn report(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Body(request): Body<ReportRequest>,
) -> Response {
    let reason = request.reason.trim();
    if reason.is_empty()
        || reason.len() > 1_000
        || reason.chars().any(|c| c.is_control() && c != '\n')
    {
        return error(
            StatusCode::BAD_REQUEST,
            "reason must be 1 to 1000 characters",
        );
    }
    match state
        .store
        .report(claims.sub as i64, request.user_id, reason, now_seconds())
        .await
    {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(failure) => failed(failure),
    }
}

/// Hands a placement in `space` to the zones that simulate it: the world's,
/// or the space's running instance (a full queue, or a failed read, only
/// delays it to the next start).
async fn tell_zones_placed(state: &HttpState, space: i64, placement: i64) {
    let Ok(placed) = state.store.placed_element(placement).await else {
        return;
    };
    if space == state.space_id {
        let _ = state
            .element_changes
            .try_send(ElementChange::Placed(placed));
    } else {
        state
            .entrance
            .element_changed(space, ElementChange::Placed(placed));
    }
}

/// `GET /api/v1/space/{id}/rooms`: the space's rooms that hold a seat, by
/// number, with their seats held (reserved and taken) and players connected
/// (a private space only for its owner and admins: 404 for anyone else).
pub(crate) async fn rooms(
    State(state): State<HttpState>,
    Id(space): Id,
    Caller(claims): Caller,
) -> Response {
    let summary = match super::privacy::visible_space(&state, Some(&claims), space).await {
        Ok(summary) => summary,
        Err(refused) => return refused,
    };
    let limits = match state.store.space_capacity(summary.id).await {
        Ok(limits) => limits,
        Err(failure) => return failed(failure),
    };
    let occupied = match state.store.rooms_of(summary.id, now_seconds()).await {
        Ok(occupied) => occupied,
        Err(failure) => return failed(failure),
    };
    let connected: std::collections::HashMap<u32, usize> = state
        .live
        .lock()
        .map(|live| {
            live.instances
                .iter()
                .filter(|instance| instance.space_id == summary.id)
                .map(|instance| (instance.room_number, instance.players))
                .collect()
        })
        .unwrap_or_default();
    let rooms: Vec<_> = occupied
        .iter()
        .map(|room| {
            json!({
                "room": room.number,
                "seated": room.seated,
                "players": connected.get(&room.number).copied().unwrap_or(0),
                "capacity": room.capacity.map(std::num::NonZeroU32::get),
            })
        })
        .collect();
    Json(json!({
        "spaceId": summary.id,
        "capacity": limits.capacity.map(std::num::NonZeroU32::get),
        "overflow": limits.overflow,
        "rooms": rooms,
    }))
    .into_response()
}
