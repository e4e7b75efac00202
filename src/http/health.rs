//! `GET /health` and `GET /ready`.
//!
//! `/health` reports each part as it is now, in JSON: the zone thread (has
//! it ticked lately), the database (does a `SELECT 1` come back in time) and,
//! in cluster mode, Redis (does a `PING`). It answers 200 when every part is
//! up, 503 naming the failing parts otherwise.
//!
//! `/ready` is for load balancers: 200 once the server accepts players (the
//! listeners are bound and the zone thread ticks), 503 while it is starting
//! and from the moment it is told to stop (while it drains).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_shard_manager::adapters::redis::RedisHints;
use serde::Serialize;

use super::HttpState;

/// How long the database or Redis has to answer before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A zone thread whose last tick is older than this counts as down (a tick
/// is 50 ms at 20 Hz: this is a stall, not a slow tick).
const ZONE_STALE: Duration = Duration::from_secs(5);

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const DRAINING: u8 = 2;

/// Where the server is in its life, and what `/health` asks besides the
/// zone thread and the database.
#[derive(Clone)]
pub(crate) struct Probes {
    phase: Arc<AtomicU8>,
    /// Redis, in cluster mode.
    redis: Option<RedisHints>,
}

impl Probes {
    /// A server starting; `redis` is checked by `/health` when given.
    pub(crate) fn new(redis: Option<RedisHints>) -> Self {
        Self {
            phase: Arc::new(AtomicU8::new(STARTING)),
            redis,
        }
    }

    /// Every listener is bound and the zones are launched.
    pub(crate) fn running(&self) {
        let _ =
            self.phase
                .compare_exchange(STARTING, RUNNING, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The server was told to stop: it takes no new players.
    pub(crate) fn draining(&self) {
        self.phase.store(DRAINING, Ordering::Relaxed);
    }

    fn phase(&self) -> &'static str {
        match self.phase.load(Ordering::Relaxed) {
            STARTING => "starting",
            RUNNING => "running",
            _ => "draining",
        }
    }
}

/// One part's state.
#[derive(Debug, Serialize)]
struct Part {
    status: &'static str,
    /// Why it is down: `timed out` or `failed` (the details are logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    /// How long the check took, seconds.
    latency_seconds: f64,
}

#[derive(Debug, Serialize)]
struct ZoneThread {
    status: &'static str,
    /// Ticks run since start.
    ticks: u64,
    /// Seconds since the last tick ended; null before the first.
    last_tick_age_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    /// The parts that are down (`zone_thread`, `database`, `redis`).
    failing: Vec<&'static str>,
    zone_thread: ZoneThread,
    database: Part,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<Part>,
}

#[derive(Debug, Serialize)]
struct Ready {
    ready: bool,
    /// `starting`, `running` or `draining`.
    phase: &'static str,
    zone_thread: ZoneThread,
}

const fn status_of(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

fn zone_thread(state: &HttpState) -> ZoneThread {
    let (ticks, last_tick_at) = match state.live.lock() {
        Ok(live) => (live.tick, live.last_tick_at),
        Err(_) => (0, None),
    };
    let age = last_tick_at.map(|at| at.elapsed());
    ZoneThread {
        status: status_of(age.is_some_and(|age| age < ZONE_STALE)),
        ticks,
        last_tick_age_seconds: age.map(|age| age.as_secs_f64()),
    }
}

/// Runs one check within [`CHECK_TIMEOUT`]; a failure is logged with its
/// details and reported without them.
async fn check<E: std::fmt::Display>(
    part: &'static str,
    probe: impl Future<Output = Result<(), E>>,
) -> Part {
    let started = Instant::now();
    let error = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => None,
        Ok(Err(error)) => {
            tracing::warn!(part, %error, "health check failed");
            Some("failed")
        }
        Err(_) => {
            tracing::warn!(
                part,
                timeout_s = CHECK_TIMEOUT.as_secs(),
                "health check timed out"
            );
            Some("timed out")
        }
    };
    Part {
        status: status_of(error.is_none()),
        error,
        latency_seconds: started.elapsed().as_secs_f64(),
    }
}

/// `GET /health`.
pub(crate) async fn health(State(state): State<HttpState>) -> Response {
    let zone_thread = zone_thread(&state);
    let database = check("database", state.store.ping());
    let redis = async {
        match &state.probes.redis {
            Some(redis) => Some(check("redis", redis.ping()).await),
            None => None,
        }
    };
    let (database, redis) = tokio::join!(database, redis);
    let mut failing = Vec::new();
    if zone_thread.status != "up" {
        failing.push("zone_thread");
    }
    if database.status != "up" {
        failing.push("database");
    }
    if redis.as_ref().is_some_and(|redis| redis.status != "up") {
        failing.push("redis");
    }
    let code = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: status_of(failing.is_empty()),
        failing,
        zone_thread,
        database,
        redis,
    };
    (code, Json(health)).into_response()
}

/// `GET /ready`.
pub(crate) async fn ready(State(state): State<HttpState>) -> Response {
    let zone_thread = zone_thread(&state);
    let phase = state.probes.phase();
    let ready = phase == "running" && zone_thread.status == "up";
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let answer = Ready {
        ready,
        phase,
        zone_thread,
    };
    (code, Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_goes_from_starting_to_running_to_draining_and_stays() {
        let probes = Probes::new(None);
        assert_eq!(probes.phase(), "starting");
        probes.running();
        assert_eq!(probes.phase(), "running");
        probes.draining();
        assert_eq!(probes.phase(), "draining");
        probes.running();
        assert_eq!(
            probes.phase(),
            "draining",
            "a draining server never runs again"
        );
    }
}
