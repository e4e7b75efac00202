//! The client side of the event loop: one thread drives many clients (bots).
//!
//! One or a few UDP sockets, each with its own quinn-proto client
//! [`Endpoint`], every [`Connection`](quinn_proto::Connection), one timer
//! queue. Each turn waits on the sockets (epoll through `mio`) for at most the
//! time to the nearest deadline, reads datagrams in batches into their
//! connections, runs the deadlines that are due (a client's tick, heartbeat,
//! the end of its run, quinn's own), and for each connection touched in the
//! turn lets its [`Client`] and [`Behaviour`] answer, sends what it produced
//! (GSO batches) and re-arms its deadline. No task, channel or wake-up exists
//! per connection or per datagram; the only wake-up from outside is a batch of
//! new connections ([`ClientLoopInbox::submit`]).
//!
//! A connection is started with a [`ConnectRequest`] (the server's pinned
//! client configuration, a token already inside its [`Client`]) and comes back
//! as [`Ended`]: the client, its behaviour, and how the run ended.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use quinn_proto::{ConnectionHandle, DatagramEvent, Endpoint, EndpointConfig};

use super::client_session::ClientSession;
use super::timers::Timers;
use super::udp::{Received, UdpBatch, UdpCounters};
use crate::client::Client;
use crate::driver::client::{Behaviour, ConnectError, Ending};
use crate::small_keys::SmallKeyMap;

/// quinn's client configuration (made by
/// [`crate::driver::tls::pinned_client_config`]), re-exported so users of the
/// loop need no quinn dependency.
pub use quinn_proto::ClientConfig;

/// The server name clients present (the development certificate's).
const SERVER_NAME: &str = "localhost";

/// The poller's token of the inbox's wake-up (sockets are tokens 0..n).
const WAKER: mio::Token = mio::Token(usize::MAX);

/// Receive batches read per socket per turn before timers and sends get
/// their turn.
const MAX_RECEIVE_BATCHES: usize = 64;

/// One connection to start.
#[derive(Debug)]
pub struct ConnectRequest<B> {
    /// The caller's name for it, returned in [`Ended::tag`].
    pub tag: u64,
    /// Which of the loop's sockets carries it.
    pub socket: usize,
    /// The server's game address.
    pub server: SocketAddr,
    /// TLS and transport settings (the server's pinned certificate, ALPN
    /// `meridian/1`): see [`crate::driver::tls::pinned_client_config`].
    pub config: ClientConfig,
    /// The protocol client, its hello (with the token) queued.
    pub client: Client,
    /// What plays it.
    pub behaviour: B,
    /// How often [`Behaviour::on_tick`] runs while connected.
    pub tick: Duration,
    /// Inputs follow the server's snapshots: the next [`Behaviour::on_tick`]
    /// runs this long after each new snapshot arrives, and the snapshot's
    /// `Ack` waits for it ([`Client::hold_acks`]), so each tick's input and
    /// `Ack` leave in one packet. Keep it below 25 ms (QUIC's acknowledgement
    /// delay). `None`: ticks on the loop's own clock, `Ack`s at once.
    pub input_phase: Option<Duration>,
    /// When the client says goodbye and the run ends ([`Ending::Deadline`]).
    pub deadline: Instant,
    /// How long the handshake may take.
    pub connect_timeout: Duration,
}

/// A connection whose run is over, handed back.
#[derive(Debug)]
pub struct Ended<B> {
    /// The request's tag.
    pub tag: u64,
    /// How the run ended, or why it never started.
    pub outcome: Result<Ending, ConnectError>,
    /// The protocol client (its stats, its last view).
    pub client: Client,
    /// What played it.
    pub behaviour: B,
}

/// Counters of the client loop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClientLoopStats {
    /// Turns of the loop.
    pub turns: u64,
    /// Connections started.
    pub connections: u64,
    /// Datagrams no connection took (stale, undecodable).
    pub datagrams_ignored: u64,
    /// Receive calls that failed (other than "nothing waiting"); the socket
    /// is read again at its next readiness.
    pub receive_errors: u64,
    /// The sockets' counters, summed.
    pub udp: UdpCounters,
}

/// One socket and its endpoint.
#[derive(Debug)]
struct ClientSocket {
    endpoint: Endpoint,
    udp: UdpBatch,
    /// Told readable and not yet read to the end (the poller is edge-triggered).
    readable: bool,
}

/// A connection's key: its socket and quinn's handle there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SessionKey {
    socket: usize,
    handle: ConnectionHandle,
}

/// The loop's state: sockets, endpoints, every connection, one timer queue.
#[derive(Debug)]
pub struct ClientLoop<B> {
    sockets: Vec<ClientSocket>,
    poll: mio::Poll,
    poll_events: mio::Events,
    sessions: SmallKeyMap<SessionKey, ClientSession<B>>,
    timers: Timers<SessionKey>,
    /// Connections touched this turn.
    touched: Vec<SessionKey>,
    ended: Vec<Ended<B>>,
    received: Vec<Received>,
    send_buffer: Vec<u8>,
    stats: ClientLoopStats,
}

impl<B: Behaviour> ClientLoop<B> {
    /// A loop over these bound sockets (made non-blocking here).
    pub fn new(sockets: Vec<UdpSocket>) -> io::Result<Self> {
        let poll = mio::Poll::new()?;
        let mut bound = Vec::with_capacity(sockets.len());
        for (index, socket) in sockets.into_iter().enumerate() {
            let udp = UdpBatch::new(socket)?;
            let fd = std::os::fd::AsRawFd::as_raw_fd(udp.socket());
            poll.registry().register(
                &mut mio::unix::SourceFd(&fd),
                mio::Token(index),
                mio::Interest::READABLE,
            )?;
            let endpoint = Endpoint::new(
                Arc::new(EndpointConfig::default()),
                None,
                // Path MTU discovery needs unfragmented sends.
                !udp.may_fragment(),
                None,
            );
            bound.push(ClientSocket {
                endpoint,
                udp,
                readable: true,
            });
        }
        Ok(Self {
            sockets: bound,
            poll,
            poll_events: mio::Events::with_capacity(16),
            sessions: SmallKeyMap::default(),
            timers: Timers::default(),
            touched: Vec::new(),
            ended: Vec::new(),
            received: Vec::new(),
            send_buffer: Vec::new(),
            stats: ClientLoopStats::default(),
        })
    }

    /// The sockets' local addresses.
    pub fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.sockets
            .iter()
            .map(|socket| socket.udp.local_addr())
            .collect()
    }

    /// Connections alive (handshaking, running or closing).
    pub fn connection_count(&self) -> usize {
        self.sessions.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> ClientLoopStats {
        let mut stats = self.stats;
        for socket in &self.sockets {
            let udp = socket.udp.counters();
            stats.udp.receive_calls += udp.receive_calls;
            stats.udp.datagrams_received += udp.datagrams_received;
            stats.udp.send_calls += udp.send_calls;
            stats.udp.datagrams_sent += udp.datagrams_sent;
            stats.udp.send_would_block += udp.send_would_block;
            stats.udp.send_failures += udp.send_failures;
        }
        stats
    }

    /// Starts a connection; its first packets leave at the end of the turn
    /// (or of [`Self::flush`]). A request quinn refuses (a bad address, a
    /// socket the loop does not have) comes back at once through
    /// [`Self::poll_ended`].
    pub fn connect(&mut self, now: Instant, request: ConnectRequest<B>) {
        let socket = request.socket;
        let started = match self.sockets.get_mut(socket) {
            Some(bound) => {
                bound
                    .endpoint
                    .connect(now, request.config.clone(), request.server, SERVER_NAME)
            }
            None => Err(quinn_proto::ConnectError::EndpointStopping),
        };
        match started {
            Ok((handle, quic)) => {
                self.stats.connections += 1;
                let key = SessionKey { socket, handle };
                self.sessions
                    .insert(key, ClientSession::new(quic, request, now));
                self.touched.push(key);
            }
            Err(error) => self.ended.push(Ended {
                tag: request.tag,
                outcome: Err(ConnectError::Connect(error)),
                client: request.client,
                behaviour: request.behaviour,
            }),
        }
    }

    /// The next connection whose run is over.
    pub fn poll_ended(&mut self) -> Option<Ended<B>> {
        self.ended.pop()
    }

    /// One turn: wait (at most `longest_wait`, less if a deadline is nearer),
    /// read, run deadlines, send.
    pub fn turn(&mut self, longest_wait: Duration) -> io::Result<()> {
        self.stats.turns += 1;
        let wait = if self.touched.is_empty() {
            self.timers
                .next_deadline()
                .map_or(longest_wait, |deadline| {
                    deadline
                        .saturating_duration_since(Instant::now())
                        .min(longest_wait)
                })
        } else {
            Duration::ZERO
        };
        match self.poll.poll(&mut self.poll_events, Some(wait)) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
        for event in &self.poll_events {
            if let Some(socket) = self.sockets.get_mut(event.token().0) {
                socket.readable = true;
            }
        }
        let now = Instant::now();
        for socket in 0..self.sockets.len() {
            self.receive(now, socket);
        }
        while let Some(key) = self.timers.pop_expired(now) {
            if let Some(session) = self.sessions.get_mut(&key) {
                session.handle_timeout(now);
                self.touched.push(key);
            }
        }
        self.flush(now);
        Ok(())
    }

    /// Ends every run (the clients say goodbye) and closes every connection;
    /// turns then drain them.
    pub fn shut_down(&mut self, now: Instant) {
        for (key, session) in &mut self.sessions {
            session.shut_down(now);
            self.touched.push(*key);
        }
        self.flush(now);
    }

    fn receive(&mut self, now: Instant, socket: usize) {
        if !self.sockets[socket].readable {
            return;
        }
        for _ in 0..MAX_RECEIVE_BATCHES {
            let mut received = std::mem::take(&mut self.received);
            let result = self.sockets[socket]
                .udp
                .receive(|datagram| received.push(datagram));
            for datagram in received.drain(..) {
                self.handle_datagram(now, socket, datagram);
            }
            self.received = received;
            match result {
                Ok(0) => {
                    self.sockets[socket].readable = false;
                    return;
                }
                Ok(_) => {}
                // An error queued on the socket (an ICMP answer, say) is
                // counted, not fatal: the loop serves the other connections.
                Err(_) => {
                    self.stats.receive_errors += 1;
                    return;
                }
            }
        }
    }

    fn handle_datagram(&mut self, now: Instant, socket: usize, datagram: Received) {
        self.send_buffer.clear();
        let bound = &mut self.sockets[socket];
        let event = bound.endpoint.handle(
            now,
            datagram.remote,
            datagram.local_ip,
            datagram.ecn,
            datagram.bytes,
            &mut self.send_buffer,
        );
        match event {
            Some(DatagramEvent::ConnectionEvent(handle, event)) => {
                let key = SessionKey { socket, handle };
                if let Some(session) = self.sessions.get_mut(&key) {
                    session.quic().handle_event(event);
                    self.touched.push(key);
                }
            }
            Some(DatagramEvent::Response(transmit)) => {
                bound.udp.send(&transmit, &self.send_buffer);
            }
            // A client endpoint has no server configuration: quinn answers
            // a new connection itself, refusing it.
            Some(DatagramEvent::NewConnection(_)) | None => self.stats.datagrams_ignored += 1,
        }
    }

    /// For each touched connection: the client's turn, endpoint events,
    /// sends, the next deadline; hands back the ended, forgets the drained.
    fn flush(&mut self, now: Instant) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for key in touched.drain(..) {
            let Some(session) = self.sessions.get_mut(&key) else {
                continue;
            };
            let bound = &mut self.sockets[key.socket];
            session.process(now);
            while let Some(event) = session.quic().poll_endpoint_events() {
                if let Some(reply) = bound.endpoint.handle_event(key.handle, event) {
                    session.quic().handle_event(reply);
                }
            }
            let segments = bound.udp.max_segments();
            loop {
                self.send_buffer.clear();
                let Some(transmit) =
                    session
                        .quic()
                        .poll_transmit(now, segments, &mut self.send_buffer)
                else {
                    break;
                };
                bound.udp.send(&transmit, &self.send_buffer);
            }
            if let Some(ended) = session.take_ended() {
                self.ended.push(ended);
            }
            if session.is_drained() {
                self.sessions.remove(&key);
                self.timers.set(key, None);
            } else {
                let deadline = session.deadline();
                self.timers.set(key, deadline);
            }
        }
        self.touched = touched;
        for socket in &mut self.sockets {
            socket.udp.flush();
        }
    }
}

/// New connections for a loop on its own thread, and its stop flag.
#[derive(Debug)]
pub struct ClientLoopInbox<B> {
    requests: Mutex<Vec<ConnectRequest<B>>>,
    stopping: AtomicBool,
    waker: mio::Waker,
}

impl<B> ClientLoopInbox<B> {
    /// Queues a connection; wakes the loop if the queue was empty (so a
    /// burst of requests costs one wake-up).
    pub fn submit(&self, request: ConnectRequest<B>) {
        let was_empty = {
            let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            requests.push(request);
            requests.len() == 1
        };
        if was_empty {
            // A failed wake-up only delays the connection to the next turn.
            let _ = self.waker.wake();
        }
    }

    /// Asks the loop to end every run and stop.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn take(&self, into: &mut Vec<ConnectRequest<B>>) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *requests, into);
    }
}

/// A client loop running on its own thread.
#[derive(Debug)]
pub struct ClientLoopThread<B> {
    inbox: Arc<ClientLoopInbox<B>>,
    thread: Option<JoinHandle<io::Result<ClientLoopStats>>>,
}

impl<B: Behaviour + Send + 'static> ClientLoopThread<B> {
    /// Starts a loop over `sockets` on a thread called `name`; every ended
    /// run is handed to `on_end` on that thread.
    pub fn spawn(
        name: &str,
        sockets: Vec<UdpSocket>,
        mut on_end: impl FnMut(Ended<B>) + Send + 'static,
    ) -> io::Result<Self> {
        let mut client_loop = ClientLoop::new(sockets)?;
        let waker = mio::Waker::new(client_loop.poll.registry(), WAKER)?;
        let inbox = Arc::new(ClientLoopInbox {
            requests: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            waker,
        });
        let shared = inbox.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut requests = Vec::new();
                while !shared.stopping() {
                    shared.take(&mut requests);
                    let now = Instant::now();
                    for request in requests.drain(..) {
                        client_loop.connect(now, request);
                    }
                    client_loop.turn(Duration::from_millis(100))?;
                    while let Some(ended) = client_loop.poll_ended() {
                        on_end(ended);
                    }
                }
                client_loop.shut_down(Instant::now());
                let drain_until = Instant::now() + super::SHUTDOWN_DRAIN;
                while client_loop.connection_count() > 0 && Instant::now() < drain_until {
                    client_loop.turn(Duration::from_millis(20))?;
                    while let Some(ended) = client_loop.poll_ended() {
                        on_end(ended);
                    }
                }
                Ok(client_loop.stats())
            })?;
        Ok(Self {
            inbox,
            thread: Some(thread),
        })
    }

    /// Where connections are submitted.
    pub fn inbox(&self) -> &Arc<ClientLoopInbox<B>> {
        &self.inbox
    }

    /// Ends every run still going (the clients say goodbye), waits (bounded
    /// by [`super::SHUTDOWN_DRAIN`]) for the connections to close, and joins
    /// the thread; returns its counters, or its error.
    pub fn shutdown(mut self) -> io::Result<ClientLoopStats> {
        self.inbox.stop();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the client loop thread panicked")),
            None => Ok(ClientLoopStats::default()),
        }
    }
}

impl<B> Drop for ClientLoopThread<B> {
    fn drop(&mut self) {
        self.inbox.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
