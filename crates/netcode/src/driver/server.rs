//! The server's QUIC driver: one UDP port, one quinn endpoint, a tokio task per
//! connection that moves bytes between the connection and the zone thread. The
//! endpoint offers two ALPNs and dispatches on the one negotiated: `meridian/1`
//! is raw QUIC (native clients, bots); `h3` is WebTransport (browsers), whose
//! session request `wtransport` handles on the same quinn connection. Both carry
//! the same messages: one bidirectional stream and datagrams.
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::admission::{Admission, AdmissionTicket};
use super::tls::{ALPN_H3, ALPN_MERIDIAN, DevCertificate, TlsError};
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
    /// Connections pending now: opened, hello not verified yet (a gauge).
    pub pending_connections: AtomicU64,
    /// New connections refused because too many were pending.
    pub refused_too_many_pending: AtomicU64,
    /// New connections refused because too many from their address were pending.
    pub refused_too_many_from_address: AtomicU64,
    /// QUIC Retries sent to new connections to validate their address.
    pub quic_retries: AtomicU64,
}

/// Hands out connection ids. One is shared by every transport feeding a zone
/// (QUIC here, the WebSocket fallback in `meridian serve`), so ids never collide.
#[derive(Debug, Default)]
pub struct ConnectionIds(AtomicU64);

impl ConnectionIds {
    /// A fresh id (the first is 1).
    pub fn next(&self) -> ConnectionId {
        ConnectionId(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// A running QUIC endpoint.
#[derive(Debug)]
pub struct QuicServer {
    endpoint: quinn::Endpoint,
    idle_timeout: Duration,
}

impl QuicServer {
    /// Binds `address` and starts accepting on the current tokio runtime. Each
    /// new connection is first put to `admission`: answered with a Retry while
    /// many are pending and its address is not validated yet, refused past the
    /// pending caps.
    pub fn bind(
        address: SocketAddr,
        certificate: &DevCertificate,
        idle_timeout: Duration,
        inbound: Sender<NetEvent>,
        counters: Arc<DriverCounters>,
        ids: Arc<ConnectionIds>,
        admission: Arc<Admission>,
    ) -> Result<Self, BindError> {
        let config = certificate.server_config(&[ALPN_MERIDIAN, ALPN_H3], idle_timeout)?;
        let endpoint = super::socket::endpoint(address, Some(config)).map_err(BindError::Io)?;
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            while let Some(mut incoming) = accepting.accept().await {
                let incoming_address = incoming.remote_address();
                if admission.wants_retry()
                    && !incoming.remote_address_validated()
                    && incoming.may_retry()
                {
                    match incoming.retry() {
                        Ok(()) => {
                            admission.retried();
                            tracing::debug!(remote = %incoming_address, "sent a QUIC Retry");
                            continue;
                        }
                        // Checked with may_retry above; handled as no retry.
                        Err(error) => incoming = error.into_incoming(),
                    }
                }
                let connection = ids.next();
                match admission.admit(connection, incoming_address.ip()) {
                    Ok(ticket) => {
                        let span = connection_span(connection, incoming_address);
                        tokio::spawn(run_connection(
                            incoming,
                            ticket,
                            inbound.clone(),
                            counters.clone(),
                            span,
                        ));
                    }
                    // Counted by the admission; the client hears a refusal at once.
                    Err(refusal) => {
                        tracing::debug!(
                            connection = connection.0,
                            remote = %incoming_address,
                            %refusal,
                            "refused a new connection"
                        );
                        incoming.refuse();
                    }
                }
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
        let config = certificate.server_config(&[ALPN_MERIDIAN, ALPN_H3], self.idle_timeout)?;
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
pub async fn push_reliably(inbound: &Sender<NetEvent>, mut event: NetEvent) -> bool {
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

/// The path under which browsers open the game's WebTransport session.
pub const WEBTRANSPORT_PATH: &str = "/meridian";

/// A connection's datagram side, raw QUIC or WebTransport.
enum Session {
    Quic(quinn::Connection),
    Web(wtransport::Connection),
}

impl Session {
    async fn read_datagram(&self) -> Option<Bytes> {
        match self {
            Self::Quic(connection) => connection.read_datagram().await.ok(),
            Self::Web(connection) => connection
                .receive_datagram()
                .await
                .ok()
                .map(|datagram| datagram.payload()),
        }
    }

    fn send_datagram(&self, bytes: Bytes) -> bool {
        match self {
            Self::Quic(connection) => connection.send_datagram(bytes).is_ok(),
            Self::Web(connection) => connection.send_datagram(bytes).is_ok(),
        }
    }

    async fn closed(&self) {
        match self {
            Self::Quic(connection) => {
                connection.closed().await;
            }
            Self::Web(connection) => {
                connection.closed().await;
            }
        }
    }

    fn close(&self, code: u32, reason: &[u8]) {
        match self {
            Self::Quic(connection) => connection.close(quinn::VarInt::from_u32(code), reason),
            Self::Web(connection) => connection.close(wtransport::VarInt::from_u32(code), reason),
        }
    }

    fn remote_address(&self) -> SocketAddr {
        match self {
            Self::Quic(connection) => connection.remote_address(),
            Self::Web(connection) => connection.remote_address(),
        }
    }
}

/// The span of one connection's events (`connection` with its id and remote
/// address), the same name the zone thread uses for the connection.
///
/// Its events name it as their parent rather than entering it: a span entered
/// around the connection's task would be entered and left at every datagram.
pub fn connection_span(connection: ConnectionId, remote: SocketAddr) -> tracing::Span {
    tracing::info_span!("connection", id = connection.0, remote = %remote)
}

/// One connection's life; `ticket` (dropped with it) keeps it counted as
/// pending until the zone thread verifies its hello.
async fn run_connection(
    incoming: quinn::Incoming,
    ticket: AdmissionTicket,
    inbound: Sender<NetEvent>,
    counters: Arc<DriverCounters>,
    span: tracing::Span,
) {
    let id = ticket.connection();
    let failed = |why: &str| {
        counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(parent: &span, why, "the handshake failed");
    };
    let Ok(mut connecting) = incoming.accept() else {
        return failed("not accepted");
    };
    // The ALPN is known once the handshake data is in, before the handshake ends.
    let alpn = connecting
        .handshake_data()
        .await
        .ok()
        .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|data| data.protocol);
    match alpn.as_deref() {
        Some(ALPN_MERIDIAN) => {
            let Ok(connection) = connecting.await else {
                return failed("TLS");
            };
            let Ok(Ok((send, recv))) =
                tokio::time::timeout(STREAM_OPEN_TIMEOUT, connection.accept_bi()).await
            else {
                connection.close(quinn::VarInt::from_u32(1), b"no stream opened");
                return failed("no stream opened");
            };
            let session = Session::Quic(connection);
            pump(id, session, (send, recv), inbound, counters, &span).await;
        }
        Some(ALPN_H3) => {
            let request = tokio::time::timeout(
                STREAM_OPEN_TIMEOUT,
                wtransport::endpoint::IncomingSessionFuture::with_quic_connecting(connecting),
            )
            .await;
            let Ok(Ok(request)) = request else {
                return failed("no WebTransport session request");
            };
            if request.path() != WEBTRANSPORT_PATH {
                request.not_found().await;
                return failed("a WebTransport path other than /meridian");
            }
            let Ok(connection) = request.accept().await else {
                return failed("WebTransport session");
            };
            let Ok(Ok((send, recv))) =
                tokio::time::timeout(STREAM_OPEN_TIMEOUT, connection.accept_bi()).await
            else {
                connection.close(wtransport::VarInt::from_u32(1), b"no stream opened");
                return failed("no stream opened");
            };
            let session = Session::Web(connection);
            pump(id, session, (send, recv), inbound, counters, &span).await;
        }
        _ => {
            // rustls refuses ALPNs we do not offer; this is a client that sent none.
            if let Ok(connection) = connecting.await {
                connection.close(quinn::VarInt::from_u32(1), b"no application protocol");
            }
            failed("no application protocol");
        }
    }
}

/// Moves bytes between one connection and the zone thread until either side ends.
async fn pump(
    id: ConnectionId,
    session: Session,
    (mut send, mut recv): (impl AsyncWrite + Unpin, impl AsyncRead + Unpin),
    inbound: Sender<NetEvent>,
    counters: Arc<DriverCounters>,
    span: &tracing::Span,
) {
    let transport = match session {
        Session::Quic(_) => "quic",
        Session::Web(_) => "webtransport",
    };
    let (outbox, mut outgoing) = mpsc::channel::<Payload>(OUTBOX_CAPACITY);
    let opened = NetEvent::Opened {
        connection: id,
        outbox,
        remote: session.remote_address(),
    };
    if !push_reliably(&inbound, opened).await {
        session.close(2, b"server busy");
        tracing::warn!(parent: span, "closed at once: the zone thread's queue is full");
        return;
    }
    tracing::debug!(parent: span, transport, "open");
    let stream_reader = async {
        let mut buffer = vec![0u8; READ_CHUNK];
        while let Ok(read @ 1..) = recv.read(&mut buffer).await {
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
        while let Some(bytes) = session.read_datagram().await {
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
                    if !session.send_datagram(Bytes::from(bytes)) {
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
        // Finish the stream and give the goodbye time to arrive: the client
        // closes once it has read it.
        let _ = send.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), session.closed()).await;
        session.close(10, disconnect_label(reason).as_bytes());
        tracing::debug!(parent: span, reason = disconnect_label(reason), "closed by the server");
    } else {
        session.close(0, b"closed");
        tracing::debug!(parent: span, "closed");
    }
    let _ = push_reliably(&inbound, NetEvent::Closed { connection: id }).await;
}
