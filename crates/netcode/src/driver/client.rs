//! The client's QUIC driver on tokio: connects to a server and pumps a sans-IO
//! [`Client`] over the connection, one task per client: for native clients and
//! the integration tests. Bots in their thousands run on one thread instead,
//! through [`crate::transport::client_loop`], with the same [`Behaviour`] and
//! [`Ending`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

use crate::client::{Client, ClientEvent, ClientPhase, ClientTransmit};

/// What a bot or client does with its connection.
pub trait Behaviour {
    /// Called once per tick interval while connected.
    fn on_tick(&mut self, client: &mut Client, now: Instant);
    /// Called for every event the client reports.
    fn on_event(&mut self, client: &mut Client, event: ClientEvent, now: Instant);
}

/// Why a connection could not be made or ended badly.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint refused to start the connection (bad address, no config).
    #[error("cannot start the connection: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The handshake or the connection failed.
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The handshake took too long.
    #[error("the handshake timed out")]
    Timeout,
}

/// How a driven connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client or the server closed it in the protocol (see the client's events).
    Closed,
    /// The deadline passed and the client said goodbye.
    Deadline,
    /// The transport failed underneath.
    TransportLost,
}

/// An open connection with its stream.
#[derive(Debug)]
pub struct ClientConnection {
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl ClientConnection {
    /// Connects to `server` through `endpoint` (which carries the pinned client
    /// configuration) and opens the stream.
    pub async fn connect(
        endpoint: &quinn::Endpoint,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let connecting = endpoint.connect(server, "localhost")?;
        let connection = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ConnectError::Timeout)??;
        let (send, recv) = connection.open_bi().await?;
        Ok(Self {
            connection,
            send,
            recv,
        })
    }

    /// The largest datagram the path takes now.
    pub fn max_datagram_size(&self) -> Option<usize> {
        self.connection.max_datagram_size()
    }

    async fn flush(&mut self, client: &mut Client) -> bool {
        while let Some(transmit) = client.poll_transmit() {
            match transmit {
                ClientTransmit::Datagram(bytes) => {
                    // A refused datagram is as good as lost; inputs are resent.
                    let _ = self.connection.send_datagram(Bytes::from(bytes));
                }
                ClientTransmit::Stream(bytes) => {
                    if self.send.write_all(&bytes).await.is_err() {
                        return false;
                    }
                }
                ClientTransmit::Close => {
                    let _ = self.send.finish();
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), self.send.stopped()).await;
                    self.connection.close(quinn::VarInt::from_u32(0), b"bye");
                    return false;
                }
            }
        }
        true
    }

    /// Runs `client` over this connection until it closes or `deadline` passes,
    /// calling `behaviour` every `tick` and for every event.
    pub async fn drive(
        mut self,
        client: &mut Client,
        behaviour: &mut impl Behaviour,
        tick: Duration,
        deadline: Instant,
    ) -> Ending {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut buffer = vec![0u8; 16 * 1024];
        let deadline = tokio::time::Instant::from_std(deadline);
        loop {
            if !self.flush(client).await || client.phase() == ClientPhase::Closed {
                let _ = self.flush(client).await;
                return Ending::Closed;
            }
            let wake = client
                .poll_timeout()
                .map_or(deadline, tokio::time::Instant::from_std)
                .min(deadline);
            tokio::select! {
                read = self.recv.read(&mut buffer) => match read {
                    Ok(Some(count)) => client.handle_stream(Instant::now(), &buffer[..count]),
                    // The server finished the stream (after its last words) or
                    // the connection failed.
                    Ok(None) | Err(_) => return transport_ended(client, behaviour),
                },
                datagram = self.connection.read_datagram() => match datagram {
                    Ok(bytes) => client.handle_datagram(Instant::now(), &bytes),
                    Err(_) => return transport_ended(client, behaviour),
                },
                _ = ticker.tick() => {
                    if client.phase() == ClientPhase::Connected {
                        behaviour.on_tick(client, Instant::now());
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= deadline {
                        client.disconnect();
                        let _ = self.flush(client).await;
                        return Ending::Deadline;
                    }
                    client.handle_timeout(Instant::now());
                }
            }
            while let Some(event) = client.poll_event() {
                behaviour.on_event(client, event, Instant::now());
            }
        }
    }
}

/// The transport is gone: hand the client's last events over and say whether the
/// protocol had already ended (a goodbye or refusal arrived) or not.
fn transport_ended(client: &mut Client, behaviour: &mut impl Behaviour) -> Ending {
    while let Some(event) = client.poll_event() {
        behaviour.on_event(client, event, Instant::now());
    }
    if client.phase() == ClientPhase::Closed {
        Ending::Closed
    } else {
        Ending::TransportLost
    }
}

/// quinn's endpoint, re-exported so users of the driver need no quinn dependency.
pub use quinn::Endpoint as QuinnEndpoint;

/// A client endpoint on `bind` that trusts the certificate with this hash.
pub fn client_endpoint(
    bind: SocketAddr,
    certificate_sha256: [u8; 32],
    idle_timeout: Duration,
) -> Result<quinn::Endpoint, EndpointError> {
    let mut endpoint = super::socket::endpoint(bind, None).map_err(EndpointError::Io)?;
    endpoint.set_default_client_config(super::tls::pinned_client_config(
        certificate_sha256,
        idle_timeout,
    )?);
    Ok(endpoint)
}

/// Why a client endpoint could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    /// The socket could not be bound.
    #[error("cannot bind the UDP socket: {0}")]
    Io(std::io::Error),
}
