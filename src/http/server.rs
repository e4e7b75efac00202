//! The HTTP server of `meridian serve`: its own accept loop over hyper, so a
//! connection has a deadline for each request's line and headers (which also
//! closes idle kept-alive connections), the connections open at once are
//! capped, and `/metrics` can be served on an address of its own.
//!
//! A connection over the cap waits `http_connection_wait_ms` for a free slot
//! (the next ones wait in the listen backlog meanwhile), then is closed and
//! counted. One client address (an IPv6 one by its /64) holds at most
//! `http_max_connections_per_address` of the slots: one more from it is closed
//! at once and counted, so that it can neither fill the cap nor stall the
//! accept loop. A WebSocket upgrade gives its slot (and its address's share)
//! back: the socket is bounded by the netcode's own limits from then on.
//! Stopping closes idle connections, lets requests in flight finish and waits
//! for them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use meridian_netcode::driver::admission::address_key;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tower::Service;

use super::HttpState;
use super::limits::{self, RequestCounters};
use super::metrics::HttpRequestMetrics;
use super::trace;
use crate::serve::settings::ServeTable;

/// How long stopping waits for the accept loops to end.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// How long a connection has, once stopping began, to finish the request in
/// flight; one still mid-headers (or slower) is then closed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// After a failed `accept` (most likely out of file descriptors), wait this
/// long before the next, rather than spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The bound sockets, before the HTTP state (which needs their addresses)
/// exists.
pub(crate) struct Listeners {
    http: TcpListener,
    metrics: Option<TcpListener>,
}

impl Listeners {
    pub(crate) async fn bind(serve: &ServeTable) -> anyhow::Result<Self> {
        let http = TcpListener::bind(serve.http_address)
            .await
            .with_context(|| format!("cannot serve HTTP on {}", serve.http_address))?;
        let metrics = match serve.metrics_address {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot serve metrics on {address}"))?,
            ),
            None => None,
        };
        Ok(Self { http, metrics })
    }

    pub(crate) fn http_address(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.http.local_addr()?)
    }
}

/// What the HTTP server counts, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct HttpCounters {
    accepted: AtomicU64,
    open: AtomicU64,
    waited: AtomicU64,
    refused: AtomicU64,
    refused_per_address: AtomicU64,
    header_timeouts: AtomicU64,
    accept_errors: AtomicU64,
    requests: Arc<RequestCounters>,
    answered: Arc<HttpRequestMetrics>,
}

impl HttpCounters {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let requests = &self.requests;
        let metrics: [(&str, &str, &str, &AtomicU64); 10] = [
            (
                "meridian_http_connections_accepted_total",
                "counter",
                "HTTP connections accepted.",
                &self.accepted,
            ),
            (
                "meridian_http_connections_open",
                "gauge",
                "HTTP connections open now (upgraded WebSockets not included).",
                &self.open,
            ),
            (
                "meridian_http_connections_waited_total",
                "counter",
                "HTTP connections that found the cap reached and waited for a slot.",
                &self.waited,
            ),
            (
                "meridian_http_connections_refused_total",
                "counter",
                "HTTP connections closed because no slot freed in time.",
                &self.refused,
            ),
            (
                "meridian_http_connections_refused_per_address_total",
                "counter",
                "HTTP connections closed at once: their address already held http_max_connections_per_address.",
                &self.refused_per_address,
            ),
            (
                "meridian_http_header_timeouts_total",
                "counter",
                "HTTP connections closed because a request's headers started but did not all arrive in time.",
                &self.header_timeouts,
            ),
            (
                "meridian_http_accept_errors_total",
                "counter",
                "Failed accepts of HTTP connections.",
                &self.accept_errors,
            ),
            (
                "meridian_http_bodies_too_large_total",
                "counter",
                "Requests refused with 413: body over the limit.",
                &requests.bodies_too_large,
            ),
            (
                "meridian_http_bodies_timed_out_total",
                "counter",
                "Requests refused with 408: body not received in time.",
                &requests.bodies_timed_out,
            ),
            (
                "meridian_http_handlers_timed_out_total",
                "counter",
                "Requests answered 503: not handled in time.",
                &requests.handlers_timed_out,
            ),
        ];
        for (name, kind, help, value) in metrics {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        self.answered.render(out);
    }
}

/// The running HTTP server (and metrics server, if on its own address).
pub(crate) struct HttpServer {
    metrics_address: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The connection-level limits, from `[serve]`.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_timeout: Duration,
    wait: Duration,
    max: u32,
    max_per_address: u32,
}

/// The connections each client address holds open, against its share.
#[derive(Debug)]
struct AddressShares {
    max: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

impl AddressShares {
    fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// One more connection from `address`, or none if it holds its share.
    fn take(self: &Arc<Self>, address: IpAddr) -> Option<AddressShare> {
        let key = address_key(address);
        // The critical section only moves a count; a panic cannot leave it
        // half-done, so a poisoned lock is still consistent.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressShare {
            shares: self.clone(),
            key,
        })
    }
}

/// One connection's part of its address's share, given back when dropped.
#[derive(Debug)]
struct AddressShare {
    shares: Arc<AddressShares>,
    key: IpAddr,
}

impl Drop for AddressShare {
    fn drop(&mut self) {
        let mut open = self
            .shares
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Starts serving `state`'s routes on the bound listeners.
pub(crate) fn start(
    listeners: Listeners,
    state: HttpState,
    serve: &ServeTable,
) -> anyhow::Result<HttpServer> {
    let counters = Arc::new(HttpCounters::default());
    let limits = ConnectionLimits {
        header_timeout: Duration::from_millis(serve.http_header_timeout_ms),
        wait: Duration::from_millis(serve.http_connection_wait_ms),
        max: serve.http_max_connections,
        max_per_address: serve.http_max_connections_per_address,
    };
    let game_address = state.game_address;
    let metrics = Router::new()
        .route("/metrics", get(metrics))
        .with_state(MetricsState {
            http: state.clone(),
            counters: counters.clone(),
            build_info: crate::serve::build_info::render(serve).into(),
        });
    let public = super::router(state);
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut metrics_address = None;
    let public = match listeners.metrics {
        Some(listener) => {
            metrics_address = Some(listener.local_addr()?);
            let metrics = trace::trace(
                limits::apply(
                    metrics,
                    serve,
                    game_address,
                    counters.requests.clone(),
                    false,
                ),
                counters.answered.clone(),
            );
            tasks.push(tokio::spawn(accept_loop(
                listener,
                metrics,
                limits,
                counters.clone(),
                stopped.clone(),
            )));
            public
        }
        None => public.merge(metrics),
    };
    let public = trace::trace(
        limits::apply(public, serve, game_address, counters.requests.clone(), true),
        counters.answered.clone(),
    );
    tasks.push(tokio::spawn(accept_loop(
        listeners.http,
        public,
        limits,
        counters,
        stopped,
    )));
    Ok(HttpServer {
        metrics_address,
        stop,
        tasks,
    })
}

impl HttpServer {
    /// Where `/metrics` is served alone, if not on the HTTP address.
    pub(crate) fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Stops accepting, closes idle connections and waits (a few seconds at
    /// most) for requests in flight; false if some were still running.
    pub(crate) async fn stop(self) -> bool {
        let _ = self.stop.send(true);
        let mut clean = true;
        for task in self.tasks {
            clean &= matches!(tokio::time::timeout(STOP_WAIT, task).await, Ok(Ok(())));
        }
        clean
    }
}

#[derive(Clone)]
struct MetricsState {
    http: HttpState,
    counters: Arc<HttpCounters>,
    /// `meridian_build_info`, rendered once.
    build_info: Arc<str>,
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(state): State<MetricsState>) -> Response {
    let Ok(live) = state.http.live.lock() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut text = live.render(&state.http.driver);
    drop(live);
    text.push_str(&state.build_info);
    state.counters.render(&mut text);
    state.http.live_settings.render(&mut text);
    if let Some(leases) = &state.http.instance_leases {
        leases.render(&mut text);
    }
    text.push_str(&state.http.logins.limits.render());
    crate::serve::process_metrics::render(&mut text);
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    counters: Arc<HttpCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max as usize));
    let shares = AddressShares::new(limits.max_per_address);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(_) => {
                counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let Some(share) = shares.take(remote.ip()) else {
            // Dropping the stream closes it.
            counters.refused_per_address.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                counters.waited.fetch_add(1, Ordering::Relaxed);
                let waited = tokio::select! {
                    waited = tokio::time::timeout(limits.wait, slots.clone().acquire_owned()) => waited,
                    _ = stop.changed() => break,
                };
                match waited {
                    Ok(Ok(slot)) => slot,
                    _ => {
                        // Dropping the stream closes it.
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
        };
        tokio::spawn(serve_connection(
            builder.clone(),
            stream,
            remote,
            router.clone(),
            (slot, share),
            counters.clone(),
            stop.clone(),
        ));
    }
    drop(listener);
    // Every connection gives its slot back when it ends.
    let _ = slots.acquire_many(limits.max).await;
}

async fn serve_connection(
    builder: http1::Builder,
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    slot: (OwnedSemaphorePermit, AddressShare),
    counters: Arc<HttpCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    counters.open.fetch_add(1, Ordering::Relaxed);
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            // Past the grace the connection is dropped, which closes it.
            tokio::time::timeout(STOP_GRACE, connection.as_mut())
                .await
                .unwrap_or(Ok(()))
        }
    };
    if result.is_err_and(|error| error.is_timeout()) {
        counters.header_timeouts.fetch_add(1, Ordering::Relaxed);
    }
    counters.open.fetch_sub(1, Ordering::Relaxed);
    drop(slot);
}
