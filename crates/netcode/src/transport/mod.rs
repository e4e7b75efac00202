//! The sans-IO event loop (feature `quic`): quinn-proto driven from one thread
//! of our own, beside the task driver of [`crate::driver::server`]; the server's
//! default transport (see docs/TRANSPORT.md).
//!
//! - [`event_loop`]: the endpoint loop, one turn at a time.
//! - [`connection`]: one connection's state (its stream, its deadlines).
//! - [`timers`]: every connection's deadline in one queue.
//! - [`udp`]: batched socket I/O (recvmmsg with GRO, sendmmsg with GSO).
//! - [`send_batch`]: a turn's transmits to many peers, `sendmmsg` at a time.
//! - [`exchange`]: the batches swapped with the zone thread, once per tick.
//! - [`zone_side`]: the zone thread's half: batches in and out of the server.
//! - [`webtransport`]: HTTP/3 and WebTransport for browsers (ALPN `h3`).
//! - [`client_loop`]: the client side of the same design, one thread driving
//!   many clients (loadbot's bots), each connection in `client_session`.
//!
//! The port offers raw QUIC (ALPN `meridian/1`) and WebTransport (ALPN `h3`),
//! as the task driver's does.

pub mod client_loop;
mod client_session;
pub mod connection;
pub mod event_loop;
pub mod exchange;
pub mod send_batch;
pub mod timers;
pub mod udp;
pub mod webtransport;
pub mod zone_side;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

pub use event_loop::{EventLoop, LoopCounters};
pub use exchange::{Exchange, LoopEvent, LoopStats};
pub use zone_side::ZoneSide;

use crate::driver::admission::Admission;
use crate::driver::server::{BindError, ConnectionIds, DriverCounters};
use crate::driver::tls::{ALPN_H3, ALPN_MERIDIAN, DevCertificate, TlsError};

/// How long goodbyes may take to leave when the loop stops.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);

/// The event loop running on its own thread.
#[derive(Debug)]
pub struct EventLoopServer {
    exchange: Arc<Exchange>,
    local_addr: SocketAddr,
    idle_timeout: Duration,
    thread: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

impl EventLoopServer {
    /// Binds `address` and starts the loop on a thread named `meridian-io`.
    /// Admission, ids and counters are shared with the other transports of
    /// the zone, as for the task driver.
    pub fn bind(
        address: SocketAddr,
        certificate: &DevCertificate,
        idle_timeout: Duration,
        ids: Arc<ConnectionIds>,
        admission: Arc<Admission>,
        counters: Arc<DriverCounters>,
    ) -> Result<Self, BindError> {
        let config = certificate.server_config(&[ALPN_MERIDIAN, ALPN_H3], idle_timeout)?;
        let socket = crate::driver::socket::bind_udp(address).map_err(BindError::Io)?;
        let event_loop =
            EventLoop::new(socket, config, ids, admission, counters).map_err(BindError::Io)?;
        let exchange = event_loop.exchange();
        let local_addr = event_loop.local_addr().map_err(BindError::Io)?;
        let thread = std::thread::Builder::new()
            .name("meridian-io".into())
            .spawn(move || event_loop.run(SHUTDOWN_DRAIN))
            .map_err(BindError::Io)?;
        Ok(Self {
            exchange,
            local_addr,
            idle_timeout,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Where the zone thread swaps batches with the loop.
    pub fn exchange(&self) -> &Arc<Exchange> {
        &self.exchange
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves a new certificate to new connections from the loop's next turn.
    pub fn rotate(&self, certificate: &DevCertificate) -> Result<(), TlsError> {
        let config = certificate.server_config(&[ALPN_MERIDIAN, ALPN_H3], self.idle_timeout)?;
        self.exchange.set_server_config(config);
        Ok(())
    }

    /// Closes every connection, waits (bounded by [`SHUTDOWN_DRAIN`]) for the
    /// goodbyes to leave, and joins the thread; returns the loop's error if it
    /// stopped on one. Later calls return at once.
    pub fn shutdown(&self) -> std::io::Result<()> {
        self.exchange.stop();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match thread.map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the event loop thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for EventLoopServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
