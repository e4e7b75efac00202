//! The game's UDP port: the sans-IO event loop (`[serve] transport =
//! "event-loop"`, the default: one thread for every connection, raw QUIC and
//! WebTransport; see docs/TRANSPORT.md) or the task driver (`"tasks"`: a tokio
//! task per connection, WebTransport included).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use meridian_netcode::driver::admission::Admission;
use meridian_netcode::driver::server::{
    BindError, ConnectionIds, DriverCounters, NetEvent, QuicServer,
};
use meridian_netcode::driver::tls::{DevCertificate, TlsError};
use meridian_netcode::transport::{EventLoopServer, ZoneSide};
use serde::Deserialize;

/// Which driver serves the game's UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TransportKind {
    /// quinn with a tokio task per connection (raw QUIC and WebTransport).
    Tasks,
    /// quinn-proto driven by one event loop thread (raw QUIC and WebTransport).
    #[default]
    EventLoop,
}

impl TransportKind {
    /// How it is named in settings and logs.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Tasks => "tasks",
            Self::EventLoop => "event-loop",
        }
    }
}

/// What the transports of one zone thread share.
pub(crate) struct Shared {
    /// Where the task driver (and the WebSocket fallback) put their events.
    pub(crate) inbound: Sender<NetEvent>,
    pub(crate) counters: Arc<DriverCounters>,
    pub(crate) ids: Arc<ConnectionIds>,
    pub(crate) admission: Arc<Admission>,
}

/// The running driver.
#[derive(Debug)]
pub(crate) enum GameTransport {
    Tasks(QuicServer),
    EventLoop(EventLoopServer),
}

impl GameTransport {
    /// Binds `address` with the driver `kind`.
    pub(crate) fn bind(
        kind: TransportKind,
        address: SocketAddr,
        certificate: &DevCertificate,
        idle_timeout: Duration,
        shared: &Shared,
    ) -> Result<Self, BindError> {
        Ok(match kind {
            TransportKind::Tasks => Self::Tasks(QuicServer::bind(
                address,
                certificate,
                idle_timeout,
                shared.inbound.clone(),
                shared.counters.clone(),
                shared.ids.clone(),
                shared.admission.clone(),
            )?),
            TransportKind::EventLoop => Self::EventLoop(EventLoopServer::bind(
                address,
                certificate,
                idle_timeout,
                shared.ids.clone(),
                shared.admission.clone(),
                shared.counters.clone(),
            )?),
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Self::Tasks(server) => server.local_addr(),
            Self::EventLoop(server) => Ok(server.local_addr()),
        }
    }

    /// The zone thread's side of the event loop (none for the task driver,
    /// whose events come through the shared channel).
    pub(crate) fn zone_side(&self, admission: Arc<Admission>) -> Option<ZoneSide> {
        match self {
            Self::Tasks(_) => None,
            Self::EventLoop(server) => Some(ZoneSide::new(server.exchange().clone(), admission)),
        }
    }

    /// Serves a new certificate to new connections from now on.
    pub(crate) fn rotate(&self, certificate: &DevCertificate) -> Result<(), TlsError> {
        match self {
            Self::Tasks(server) => server.rotate(certificate),
            Self::EventLoop(server) => server.rotate(certificate),
        }
    }

    /// Refuses new connections, closes the rest, and waits (bounded) for the
    /// goodbyes to leave.
    pub(crate) async fn shutdown(self: &Arc<Self>) {
        match self.as_ref() {
            Self::Tasks(server) => server.shutdown().await,
            Self::EventLoop(_) => {
                let transport = self.clone();
                let stopped = tokio::task::spawn_blocking(move || match transport.as_ref() {
                    Self::EventLoop(server) => server.shutdown(),
                    Self::Tasks(_) => Ok(()),
                })
                .await;
                if let Ok(Err(error)) = stopped {
                    tracing::error!(%error, "the event loop stopped on an error");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::settings::ServeTable;

    #[test]
    fn the_event_loop_is_the_default_and_the_task_driver_is_chosen_by_name() {
        assert_eq!(ServeTable::default().transport, TransportKind::EventLoop);
        let table: ServeTable = toml::from_str("transport = \"event-loop\"").expect("parses");
        assert_eq!(table.transport, TransportKind::EventLoop);
        let table: ServeTable = toml::from_str("transport = \"tasks\"").expect("parses");
        assert_eq!(table.transport, TransportKind::Tasks);
        assert!(toml::from_str::<ServeTable>("transport = \"threads\"").is_err());
    }
}
