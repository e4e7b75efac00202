//! The server's QUIC driver: one UDP port, one quinn endpoint, a tokio task per
//! connection that moves bytes between the connection and the zone thread.
//!
//! Tasks and the zone thread meet through bounded channels: every inbound event
//! goes onto one crossbeam channel the zone thread drains each tick; each
//! connection has a bounded outbox the zone thread fills without waiting. A full
//! outbox drops the datagram (counted); a slow client never slows a tick.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::mpsc;

use super::tls::{ALPN_MERIDIAN, DevCertificate, TlsError};
use crate::metrics::disconnect_label;
use crate::server::{ConnectionId, Payload};

/// Payloads a connection's outbox holds before datagrams are dropped.
pub const OUTBOX_CAPACITY: usize = 256;

/// How long a new connection may take to open its stream.
const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest stream read at once.
const READ_CHUNK: usize = 16 * 1024;

/// What the transport reports to the zone thread.
#[derive(Debug)]
pub enum NetEvent {
    /// A connection finished its handshake and opened its stream.
    Opened {
        /// Its id.
        connection: ConnectionId,
        /// Where to put what is sent to it.
        outbox: mpsc::Sender<Payload>,
        /// Its address.
        remote: SocketAddr,
    },
    /// Stream bytes arrived.
    Stream {
        /// From whom.
        connection: ConnectionId,
        /// The bytes.
        bytes: Bytes,
    },
    /// A datagram arrived.
    Datagram {
        /// From whom.
        connection: ConnectionId,
        /// The bytes.
        bytes: Bytes,
    },
    /// The connection is gone.
    Closed {
        /// Which.
        connection: ConnectionId,
    },
}

/// Transport-level counters, shared with the metrics endpoint.
#[derive(Debug, Default)]
pub struct DriverCounters {
    /// Handshakes that failed (bad TLS, wrong ALPN, timeout).
    pub handshake_failures: AtomicU64,
    /// Inbound datagrams dropped because the zone thread's queue was full.
    pub inbound_dropped: AtomicU64,
    /// Outbound datagrams quinn refused (too large for the path, or closed).
    pub datagram_send_failures: AtomicU64,
}

/// A running QUIC endpoint.
#[derive(Debug)]
pub struct QuicServer {
    endpoint: quinn::Endpoint,
    idle_timeout: Duration,
}

impl QuicServer {
    /// Binds `address` and starts accepting on the current tokio runtime.
    pub fn bind(
        address: SocketAddr,
        certificate: &DevCertificate,
        idle_timeout: Duration,
        inbound: Sender<NetEvent>,
        counters: Arc<DriverCounters>,
    ) -> Result<Self, BindError> {
        let config = certificate.server_config(&[ALPN_MERIDIAN], idle_timeout)?;
        let endpoint = quinn::Endpoint::server(config, address).map_err(BindError::Io)?;
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            let mut next_id = 1u64;
            while let Some(incoming) = accepting.accept().await {
                let connection = ConnectionId(next_id);
                next_id += 1;
                tokio::spawn(run_connection(
                    incoming,
                    connection,
                    inbound.clone(),
                    counters.clone(),
                ));
            }
        });
        Ok(Self {
            endpoint,
            idle_timeout,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Serves a new certificate to new connections from now on.
    pub fn rotate(&self, certificate: &DevCertificate) -> Result<(), TlsError> {
        let config = certificate.server_config(&[ALPN_MERIDIAN], self.idle_timeout)?;
        self.endpoint.set_server_config(Some(config));
        Ok(())
    }

    /// Refuses new connections, closes the rest, and waits (bounded) for the
    /// goodbyes to leave.
    pub async fn shutdown(&self) {
        self.endpoint.set_server_config(None);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"server shutdown");
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The socket could not be bound.
    #[error("cannot bind the UDP socket: {0}")]
    Io(std::io::Error),
}

/// Pushes an event the zone thread must see (open, close), waiting briefly
/// while its queue is full.
async fn push_reliably(inbound: &Sender<NetEvent>, mut event: NetEvent) -> bool {
    for _ in 0..200 {
        match inbound.try_send(event) {
            Ok(()) => return true,
            Err(TrySendError::Full(back)) => {
                event = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
    false
}

async fn run_connection(
    incoming: quinn::Incoming,
    id: ConnectionId,
    inbound: Sender<NetEvent>,
    counters: Arc<DriverCounters>,
) {
    let Ok(connection) = incoming.await else {
        counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Ok(Ok((mut send, mut recv))) =
        tokio::time::timeout(STREAM_OPEN_TIMEOUT, connection.accept_bi()).await
    else {
        counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
        connection.close(quinn::VarInt::from_u32(1), b"no stream opened");
        return;
    };
    let (outbox, mut outgoing) = mpsc::channel::<Payload>(OUTBOX_CAPACITY);
    let opened = NetEvent::Opened {
        connection: id,
        outbox,
        remote: connection.remote_address(),
    };
    if !push_reliably(&inbound, opened).await {
        connection.close(quinn::VarInt::from_u32(2), b"server busy");
        return;
    }
    let stream_reader = async {
        let mut buffer = vec![0u8; READ_CHUNK];
        while let Ok(Some(read)) = recv.read(&mut buffer).await {
            let bytes = Bytes::copy_from_slice(&buffer[..read]);
            let event = NetEvent::Stream {
                connection: id,
                bytes,
            };
            if !push_reliably(&inbound, event).await {
                break;
            }
        }
    };
    let datagram_reader = async {
        while let Ok(bytes) = connection.read_datagram().await {
            let event = NetEvent::Datagram {
                connection: id,
                bytes,
            };
            match inbound.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    counters.inbound_dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => break,
            }
        }
    };
    let writer = async {
        while let Some(payload) = outgoing.recv().await {
            match payload {
                Payload::Datagram(bytes) => {
                    if connection.send_datagram(Bytes::from(bytes)).is_err() {
                        counters
                            .datagram_send_failures
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                Payload::Stream(bytes) => {
                    if send.write_all(&bytes).await.is_err() {
                        return None;
                    }
                }
                Payload::Close(reason) => return Some(reason),
            }
        }
        None
    };
    let reason = tokio::select! {
        () = stream_reader => None,
        () = datagram_reader => None,
        reason = writer => reason,
    };
    if let Some(reason) = reason {
        // Let the goodbye on the stream reach the client before closing.
        let _ = send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
        connection.close(
            quinn::VarInt::from_u32(10),
            disconnect_label(reason).as_bytes(),
        );
    } else {
        connection.close(quinn::VarInt::from_u32(0), b"closed");
    }
    let _ = push_reliably(&inbound, NetEvent::Closed { connection: id }).await;
}
