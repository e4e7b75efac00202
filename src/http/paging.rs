//! Pages of the API's long lists (`GET /api/v1/elements`, `/space/all`,
//! `/space/{id}`): `?limit=N&after=ID`, in id order, with the cursor of the
//! next page in the answer (`nextAfter`, null on the last page).

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;

use super::auth::error;

/// Items per page when the query names no `limit`.
pub(crate) const DEFAULT_PAGE: u32 = 100;

/// The largest `limit`.
pub(crate) const MAX_PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<u32>,
    after: Option<i64>,
}

/// Which page a caller asked for; a bad query is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    /// At most this many items (1..=[`MAX_PAGE`]).
    pub(crate) limit: u32,
    /// Only items with larger ids; none starts at the beginning.
    pub(crate) after: Option<i64>,
}

impl Page {
    /// The cursor of the next page: the last id when the page is full.
    pub(crate) fn next_after(&self, ids: impl DoubleEndedIterator<Item = i64>) -> Option<i64> {
        let mut count = 0u32;
        let mut last = None;
        for id in ids {
            count += 1;
            last = Some(id);
        }
        (count >= self.limit).then_some(last).flatten()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let bad = || {
            error(
                StatusCode::BAD_REQUEST,
                format!("query must be limit=<1..{MAX_PAGE}>&after=<id>"),
            )
        };
        let Query(query) = Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad())?;
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(bad());
        }
        Ok(Self {
            limit,
            after: query.after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_points_at_the_next() {
        let page = Page {
            limit: 2,
            after: None,
        };
        assert_eq!(page.next_after([3, 7].into_iter()), Some(7));
        assert_eq!(page.next_after([3].into_iter()), None);
        assert_eq!(page.next_after(std::iter::empty()), None);
    }
}
