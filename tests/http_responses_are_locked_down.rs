//! What every HTTP answer carries and who may read it: security headers (a
//! Content-Security-Policy for the demo page, nosniff, no framing, no
//! referrer), CORS only for configured origins (none by default), and
//! `/metrics` only on its own address when one is given.

mod common;
#[path = "common/raw_http.rs"]
mod raw_http;

use common::{remove_database, start_server_with, temporary_database};
use raw_http::{free_port, get};

#[test]
fn answers_carry_the_security_headers() {
    let database = temporary_database();
    let (_server, http_address) = start_server_with(&database, &[]);

    let page = get(http_address, "/", &[]);
    assert_eq!(page.status, 200);
    let policy = page
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("no CSP on the page: {:?}", page.headers));
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    // The page reaches the game over WebTransport and the fallback over
    // WebSocket at the host it came from.
    assert!(policy.contains("https://127.0.0.1:"), "{policy}");
    assert!(policy.contains("ws://test.local"), "{policy}");

    for path in [
        "/",
        "/app.js",
        "/health",
        "/api/v1/openapi.json",
        "/no/such/file",
    ] {
        let answer = get(http_address, path, &[]);
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{path}: {:?}",
            answer.headers
        );
        assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{path}");
        assert!(answer.header("referrer-policy").is_some(), "{path}");
    }
    remove_database(&database);
}

fn preflight(address: std::net::SocketAddr, origin: &str) -> raw_http::RawResponse {
    raw_http::exchange(
        address,
        raw_http::request(
            "OPTIONS",
            "/api/v1/login",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            b"",
        )
        .as_bytes(),
    )
}

#[test]
fn cross_origin_calls_are_allowed_only_from_configured_origins() {
    let database = temporary_database();
    // By default no origin is allowed.
    {
        let (_server, http_address) = start_server_with(&database, &[]);
        let answer = preflight(http_address, "http://allowed.example");
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{answer:?}"
        );
        let simple = get(
            http_address,
            "/health",
            &[("Origin", "http://allowed.example")],
        );
        assert_eq!(simple.header("access-control-allow-origin"), None);
    }
    let (_server, http_address) = start_server_with(
        &database,
        &["--cors-allowed-origin", "http://allowed.example"],
    );
    let refused = preflight(http_address, "http://evil.example");
    assert_eq!(
        refused.header("access-control-allow-origin"),
        None,
        "{refused:?}"
    );
    let allowed = preflight(http_address, "http://allowed.example");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://allowed.example"),
        "{allowed:?}"
    );
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{allowed:?}");
    let simple = get(
        http_address,
        "/health",
        &[("Origin", "http://allowed.example")],
    );
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("http://allowed.example")
    );
    let simple = get(
        http_address,
        "/health",
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(simple.header("access-control-allow-origin"), None);
    remove_database(&database);
}

#[test]
fn metrics_on_their_own_address_are_not_on_the_public_one() {
    let database = temporary_database();
    let metrics_address = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (_server, http_address) = start_server_with(
        &database,
        &["--metrics-address", &metrics_address.to_string()],
    );
    let public = get(http_address, "/metrics", &[]);
    assert_eq!(public.status, 404, "{public:?}");
    assert!(!public.body.contains("meridian_"), "{public:?}");

    let private = get(metrics_address, "/metrics", &[]);
    assert_eq!(private.status, 200, "{private:?}");
    assert!(
        private
            .body
            .contains("meridian_http_connections_accepted_total")
    );
    assert!(private.body.contains("meridian_connections_opened_total"));
    // Only metrics there: not the API, not the page.
    assert_eq!(get(metrics_address, "/", &[]).status, 404);
    assert_eq!(
        get(metrics_address, "/api/v1/openapi.json", &[]).status,
        404
    );
    remove_database(&database);
}
