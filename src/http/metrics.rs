//! What `/metrics` says about the HTTP requests answered:
//! `meridian_http_requests_total{method, route, status}` and the
//! `meridian_http_request_duration_seconds{route}` histogram. The route is
//! the matched template (`/api/v1/space/{id}/join`), `(unmatched)` for a 404
//! of no route, and a method outside the standard ones is `other`, so no
//! request can add a series of its own.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};

use axum::http::Method;

use crate::serve::histogram::{self, Histogram};

/// The requests answered, by route.
#[derive(Debug, Default)]
pub(crate) struct HttpRequestMetrics {
    routes: Mutex<BTreeMap<String, RouteFigures>>,
}

/// One route's answers and their durations.
#[derive(Debug)]
struct RouteFigures {
    /// Answers by method and status.
    answers: BTreeMap<(&'static str, u16), u64>,
    durations: Histogram,
}

impl HttpRequestMetrics {
    /// Counts one answered request that took `seconds`.
    pub(crate) fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        // The critical section only adds to counts; a panic cannot leave it
        // half-done, so a poisoned lock is still consistent.
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if !routes.contains_key(route) {
            routes.insert(
                route.to_owned(),
                RouteFigures {
                    answers: BTreeMap::new(),
                    durations: Histogram::new(histogram::HTTP_SECONDS),
                },
            );
        }
        if let Some(figures) = routes.get_mut(route) {
            *figures
                .answers
                .entry((method_label(method), status))
                .or_insert(0) += 1;
            figures.durations.observe(seconds);
        }
    }

    /// Appends both metrics (their headers even before any request).
    pub(crate) fn render(&self, out: &mut String) {
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(
            out,
            "# HELP meridian_http_requests_total HTTP requests answered, by method, route template and status.\n# TYPE meridian_http_requests_total counter"
        );
        for (route, figures) in routes.iter() {
            let route = histogram::label_value(route);
            for ((method, status), count) in &figures.answers {
                let _ = writeln!(
                    out,
                    "meridian_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        const DURATION: &str = "meridian_http_request_duration_seconds";
        Histogram::header(
            out,
            DURATION,
            "Time from a request's headers to its answer's, by route template.",
        );
        for (route, figures) in routes.iter() {
            let labels = format!("route=\"{}\"", histogram::label_value(route));
            figures.durations.render(out, DURATION, &labels);
        }
    }
}

/// The method's label: its name if standard, else `other`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(standard, _)| standard == method)
        .map_or("other", |(_, label)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_method_route_and_status() {
        let metrics = HttpRequestMetrics::default();
        metrics.record(&Method::GET, "/health", 200, 0.002);
        metrics.record(&Method::GET, "/health", 200, 0.004);
        metrics.record(&Method::POST, "/api/v1/space/{id}/join", 401, 0.02);
        let odd = Method::from_bytes(b"BREW").expect("a token");
        metrics.record(&odd, "(unmatched)", 404, 0.001);
        let mut out = String::new();
        metrics.render(&mut out);
        for line in [
            "meridian_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2\n",
            "meridian_http_requests_total{method=\"POST\",route=\"/api/v1/space/{id}/join\",status=\"401\"} 1\n",
            "meridian_http_requests_total{method=\"other\",route=\"(unmatched)\",status=\"404\"} 1\n",
            "meridian_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.0025\"} 1\n",
            "meridian_http_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 2\n",
            "meridian_http_request_duration_seconds_count{route=\"/health\"} 2\n",
        ] {
            assert!(out.contains(line), "{line} in {out}");
        }
    }
}
