//! `POST /api/v1/admin/drain`: an admin asks a running server to drain, as
//! SIGTERM does (what `meridian drain` calls). The answer comes at once
//! (202); the drain itself runs in `serve` (see `super::hand_on` for the
//! instances), and the process exits when it is done.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Notify;

use crate::http::HttpState;
use crate::http::auth::Admin;

/// A drain asked for over HTTP, waited on beside the signals.
#[derive(Debug, Default)]
pub(crate) struct DrainRequest {
    asked: AtomicBool,
    wake: Notify,
}

impl DrainRequest {
    /// Asks for the drain; whether it had been asked already.
    fn ask(&self) -> bool {
        let before = self.asked.swap(true, Ordering::SeqCst);
        self.wake.notify_one();
        before
    }

    /// Returns once a drain was asked for.
    pub(crate) async fn asked(&self) {
        loop {
            let woken = self.wake.notified();
            if self.asked.load(Ordering::SeqCst) {
                return;
            }
            woken.await;
        }
    }
}

/// `POST /api/v1/admin/drain` → 202 `{"draining": true, "already": bool}`.
pub(crate) async fn drain(State(state): State<HttpState>, _admin: Admin) -> Response {
    let already = state.drain.ask();
    if !already {
        tracing::info!("drain asked for over HTTP by an admin");
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "draining": true, "already": already })),
    )
        .into_response()
}
