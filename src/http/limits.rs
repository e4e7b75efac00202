//! What every HTTP request of `meridian serve` passes through: a body limit
//! (413), a deadline for the body and the handler (408 / 503), security headers
//! on every response (a Content-Security-Policy fit for the demo page, nosniff,
//! no framing, no referrer), and CORS for the configured origins only.
//!
//! The connection-level limits (header-read deadline, connection cap) live in
//! `server`, which applies these layers to its routers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::auth;
use crate::serve::settings::ServeTable;

/// How long a browser may cache a CORS preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Requests refused or cut by the limits, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
    /// Bodies over `http_body_limit_bytes` (413).
    pub(crate) bodies_too_large: AtomicU64,
    /// Bodies that did not arrive within `http_request_timeout_ms` (408).
    pub(crate) bodies_timed_out: AtomicU64,
    /// Handlers that did not answer within `http_request_timeout_ms` (503).
    pub(crate) handlers_timed_out: AtomicU64,
}

/// The per-request limits, from `[serve]`.
#[derive(Debug)]
struct RequestLimits {
    body_bytes: usize,
    timeout: Duration,
    counters: Arc<RequestCounters>,
}

/// The response headers every answer carries.
#[derive(Debug)]
struct SecurityHeaders {
    /// Where the demo page opens WebTransport sessions: `https://HOST:PORT`.
    webtransport_source: String,
}

/// Wraps `router` in the request limits, CORS (when origins are configured)
/// and the security headers, outermost last so even a 413 or a preflight
/// answer carries the headers.
pub(crate) fn apply(
    router: Router,
    serve: &ServeTable,
    game_address: SocketAddr,
    counters: Arc<RequestCounters>,
    with_cors: bool,
) -> Router {
    let body_bytes = usize::try_from(serve.http_body_limit_bytes).unwrap_or(usize::MAX);
    let limits = Arc::new(RequestLimits {
        body_bytes,
        timeout: Duration::from_millis(serve.http_request_timeout_ms),
        counters,
    });
    // The handlers' extractors get the same limit as the layer (rather than
    // axum's own default of 2 MB), so the setting means what it says.
    let mut router = router
        .layer(DefaultBodyLimit::max(body_bytes))
        .layer(middleware::from_fn_with_state(limits, limit_request));
    if with_cors && !serve.cors_allowed_origins.is_empty() {
        router = router.layer(cors(&serve.cors_allowed_origins));
    }
    let headers = Arc::new(SecurityHeaders {
        webtransport_source: webtransport_source(game_address),
    });
    router.layer(middleware::from_fn_with_state(
        headers,
        add_security_headers,
    ))
}

/// True for an origin as browsers send it: `http` or `https`, a host, an
/// optional port, nothing else (no path, no wildcard).
pub(crate) fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    if scheme != "http" && scheme != "https" {
        return false;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && (host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            || (host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')));
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port != 0));
    host_ok && port_ok && HeaderValue::from_str(origin).is_ok()
}

fn cors(origins: &[String]) -> CorsLayer {
    // Settings validation has checked every origin; one that still fails to
    // become a header value is left out (it could never match a browser's).
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Reads the body within the limit and the deadline, then runs the handler
/// within what is left of the deadline. A WebSocket upgrade answers at once;
/// the socket then lives outside this deadline.
async fn limit_request(
    State(limits): State<Arc<RequestLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.body_bytes as u64) {
        return too_large(&limits);
    }
    let read = Limited::new(body, limits.body_bytes).collect();
    let bytes = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => return too_large(&limits),
        Ok(Err(_)) => {
            return auth::error(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            );
        }
        Err(_) => {
            limits
                .counters
                .bodies_timed_out
                .fetch_add(1, Ordering::Relaxed);
            return auth::error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
        }
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    match tokio::time::timeout_at(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            limits
                .counters
                .handlers_timed_out
                .fetch_add(1, Ordering::Relaxed);
            auth::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server took too long to answer; try again",
            )
        }
    }
}

fn too_large(limits: &RequestLimits) -> Response {
    limits
        .counters
        .bodies_too_large
        .fetch_add(1, Ordering::Relaxed);
    auth::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body is larger than {} bytes",
            limits.body_bytes
        ),
    )
}

/// `https://IP:PORT` for the game address, or `https://*:PORT` where a CSP
/// source cannot name the host (an IPv6 or unspecified address).
fn webtransport_source(game_address: SocketAddr) -> String {
    match game_address {
        SocketAddr::V4(address) if !address.ip().is_unspecified() => format!("https://{address}"),
        _ => format!("https://*:{}", game_address.port()),
    }
}

/// The request's `Host`, if it is a plain `host[:port]` safe to repeat in a
/// policy.
fn plain_host(request: &Request) -> Option<String> {
    let host = request.headers().get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':');
    plain.then(|| host.to_owned())
}

impl SecurityHeaders {
    /// The page's policy: its own scripts, styles and images only; network
    /// access to this server (fetch, the WebSocket fallback at the host the
    /// page came from) and the game's WebTransport address; no framing, no
    /// plugins, no `<base>` rewrites.
    fn content_security_policy(&self, host: Option<&str>) -> String {
        let sockets = host.map_or(String::new(), |host| format!(" ws://{host} wss://{host}"));
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; \
             img-src 'self' data: blob:; connect-src 'self' {}{sockets}; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            self.webtransport_source
        )
    }
}

async fn add_security_headers(
    State(policy): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let host = plain_host(&request);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 3] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(&policy.content_security_policy(host.as_deref())) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://play.example",
            "http://127.0.0.1:3000",
            "http://localhost:8080",
            "https://[::1]:8443",
        ] {
            assert!(valid_origin(good), "{good}");
        }
        for bad in [
            "*",
            "play.example",
            "ftp://play.example",
            "https://play.example/",
            "https://play.example/path",
            "https://*.example",
            "https://play.example:0",
            "https://play.example:99999",
            "https://",
            "https://a b",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }

    #[test]
    fn the_policy_names_the_game_and_the_page_host() {
        let policy = SecurityHeaders {
            webtransport_source: webtransport_source(SocketAddr::from(([127, 0, 0, 1], 4433))),
        };
        let text = policy.content_security_policy(Some("127.0.0.1:8080"));
        assert!(text.contains("connect-src 'self' https://127.0.0.1:4433 ws://127.0.0.1:8080 wss://127.0.0.1:8080;"), "{text}");
        assert!(text.contains("script-src 'self';"), "{text}");
        assert!(text.contains("frame-ancestors 'none'"), "{text}");
        assert_eq!(
            webtransport_source(SocketAddr::from(([0, 0, 0, 0], 4433))),
            "https://*:4433"
        );
    }
}
