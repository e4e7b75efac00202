//! A span for every HTTP request, `http_request` with its method and route
//! template (`/api/v1/space/{id}/join`, never the ids or the query), and one
//! event when it is answered with the status and the time it took; the same
//! answer is counted for `/metrics` ([`HttpRequestMetrics`]). Whatever the
//! handler logs (a database error) is inside the span.
//!
//! The answer's event is `info` (5xx: `warn`), under the target
//! `meridian::http::trace`; `RUST_LOG=...,meridian::http::trace=warn`
//! keeps only the failures.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use tracing::Instrument;

use super::metrics::HttpRequestMetrics;

/// The route of a request that matched none (a 404), so that scanners'
/// paths never reach the logs.
const UNMATCHED: &str = "(unmatched)";

/// Wraps `router` so that each request runs in its span and is counted in
/// `metrics`. Applied with [`Router::layer`], it runs after routing, where
/// the route template is known.
pub(crate) fn trace(router: Router, metrics: Arc<HttpRequestMetrics>) -> Router {
    router.layer(middleware::from_fn_with_state(metrics, trace_request))
}

async fn trace_request(
    State(metrics): State<Arc<HttpRequestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route: Arc<str> = Arc::from(
        request
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED, MatchedPath::as_str),
    );
    let method = request.method().clone();
    let span = tracing::info_span!("http_request", method = %method, route = &*route);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.record(&method, &route, status, elapsed.as_secs_f64());
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if response.status().is_server_error() {
        tracing::warn!(parent: &span, status, latency_us, "answered");
    } else {
        tracing::info!(parent: &span, status, latency_us, "answered");
    }
    response
}
