//! A minimal HTTP/1.1 client for the server's own endpoints on loopback: one
//! request per connection (`Connection: close`), bodies with a length or read to
//! the end. Enough for the join endpoint and `/metrics`; not a general client.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The base URL is not `http://host:port`.
    #[error("expected a URL like http://127.0.0.1:8080, got {0:?}")]
    BadUrl(String),
    /// Connecting, sending or receiving failed.
    #[error("HTTP request failed: {0}")]
    Io(#[from] std::io::Error),
    /// No answer in time.
    #[error("HTTP request timed out")]
    Timeout,
    /// The response was not HTTP, or too large.
    #[error("malformed HTTP response")]
    Malformed,
    /// The server answered with an error status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The body, for the message.
        body: String,
    },
}

/// `http://host:port` → the socket address.
pub fn parse_base(url: &str) -> Result<SocketAddr, HttpError> {
    url.strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .and_then(|authority| authority.parse().ok())
        .ok_or_else(|| HttpError::BadUrl(url.to_owned()))
}

/// Sends one request: `method` to `path`, with an optional JSON body and bearer
/// token; returns the body of a 2xx answer.
pub async fn send(
    server: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<String, HttpError> {
    request(server, method, path, body, token).await
}

/// A whole answer, whatever its status: what the account path needs to see a
/// 429's `Retry-After` or tell a 401 from a 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header in seconds, if the server sent one.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The body of a 2xx answer, or the status as an error.
    pub fn success(self) -> Result<String, HttpError> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            Err(HttpError::Status {
                status: self.status,
                body: self.body,
            })
        }
    }
}

/// Sends one request and returns the answer whatever its status; only a
/// transport failure or a malformed answer is an error.
pub async fn exchange(
    server: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<Answer, HttpError> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let body = body.unwrap_or("");
        let authorization = token
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
             {authorization}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut response = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE as u64)
            .read_to_end(&mut response)
            .await?;
        Ok::<_, HttpError>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| HttpError::Timeout)??;
    let text = String::from_utf8(response).map_err(|_| HttpError::Malformed)?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or(HttpError::Malformed)?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or(HttpError::Malformed)?;
    let retry_after = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().parse().ok().map(Duration::from_secs))?
    });
    Ok(Answer {
        status,
        retry_after,
        body: body.to_owned(),
    })
}

async fn request(
    server: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<String, HttpError> {
    exchange(server, method, path, body, token).await?.success()
}

/// GETs `path` and returns the body.
pub async fn get(server: SocketAddr, path: &str) -> Result<String, HttpError> {
    request(server, "GET", path, None, None).await
}

/// POSTs a JSON body with `Authorization: Bearer <token>`.
pub async fn post_json_with_token(
    server: SocketAddr,
    path: &str,
    json: &str,
    token: &str,
) -> Result<String, HttpError> {
    request(server, "POST", path, Some(json), Some(token)).await
}

/// POSTs a JSON body to `path` and returns the response body.
pub async fn post_json(server: SocketAddr, path: &str, json: &str) -> Result<String, HttpError> {
    request(server, "POST", path, Some(json), None).await
}

/// Reads a gauge or counter from a Prometheus text exposition: the first sample
/// whose name and labels start with `series`.
pub fn prometheus_value(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// The cumulative buckets of the unlabelled histogram `name` in a Prometheus
/// text exposition: (upper bound, count), `+Inf` last.
pub fn histogram_buckets(exposition: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    exposition
        .lines()
        .filter_map(|line| {
            let (bound, count) = line.strip_prefix(&prefix)?.split_once("\"}")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// The `quantile` of what a histogram counted between two readings of its
/// buckets (`before` empty: since it started), as Prometheus's
/// `histogram_quantile` estimates it: linear within the bucket, and the
/// highest finite bound when the rank falls in `+Inf`. None if nothing was
/// counted.
pub fn histogram_quantile(
    quantile: f64,
    before: &[(f64, f64)],
    after: &[(f64, f64)],
) -> Option<f64> {
    let counted: Vec<(f64, f64)> = after
        .iter()
        .map(|(bound, count)| {
            let earlier = before
                .iter()
                .find(|(earlier_bound, _)| earlier_bound == bound)
                .map_or(0.0, |(_, count)| *count);
            (*bound, count - earlier)
        })
        .collect();
    let total = counted.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = quantile * total;
    let (mut lower_bound, mut lower_count) = (0.0, 0.0);
    for (bound, count) in counted {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower_bound);
            }
            let within = count - lower_count;
            let share = if within > 0.0 {
                (rank - lower_count) / within
            } else {
                1.0
            };
            return Some(lower_bound + (bound - lower_bound) * share);
        }
        (lower_bound, lower_count) = (bound, count);
    }
    Some(lower_bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_metrics_parse() {
        assert_eq!(
            parse_base("http://127.0.0.1:8080/").ok(),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert!(parse_base("https://x").is_err());
        let text = "# HELP a b\nm{quantile=\"0.99\"} 0.012\nm{quantile=\"0.5\"} 0.004\n";
        assert_eq!(prometheus_value(text, "m{quantile=\"0.99\"}"), Some(0.012));
        assert_eq!(prometheus_value(text, "missing"), None);
    }

    #[test]
    fn histogram_quantiles_are_estimated_between_readings() {
        let before =
            "h_bucket{le=\"0.01\"} 10\nh_bucket{le=\"0.02\"} 10\nh_bucket{le=\"+Inf\"} 10\n";
        let after =
            "h_bucket{le=\"0.01\"} 20\nh_bucket{le=\"0.02\"} 30\nh_bucket{le=\"+Inf\"} 31\n";
        let (before, after) = (
            histogram_buckets(before, "h"),
            histogram_buckets(after, "h"),
        );
        assert_eq!(after.len(), 3);
        // 21 counted between: 10 up to 10 ms, 10 more up to 20 ms, 1 above.
        let median = histogram_quantile(0.5, &before, &after).expect("counted");
        assert!((median - 0.0105).abs() < 1e-9, "{median}");
        assert_eq!(histogram_quantile(1.0, &before, &after), Some(0.02));
        assert_eq!(histogram_quantile(0.5, &after, &after), None);
        assert!(histogram_quantile(0.5, &[], &after).is_some());
    }
}
