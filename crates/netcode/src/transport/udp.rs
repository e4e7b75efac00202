//! Batched UDP I/O for the event loop: one `recvmmsg` (through `quinn-udp`)
//! fills up to [`quinn_udp::BATCH_SIZE`] buffers, each holding one datagram or,
//! with GRO, several of one size back to back; sends are queued for the turn
//! and leave in `sendmmsg` calls of up to [`super::send_batch::MAX_MESSAGES`]
//! transmits to any peers ([`super::send_batch`]), a transmit carrying several
//! segments with GSO. The socket is non-blocking; the loop waits for it with
//! `mio` (epoll on Linux).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};

use bytes::BytesMut;
use quinn_udp::{RecvMeta, UdpSocketState};

use super::send_batch::SendBatch;

/// Bytes of one receive buffer per GRO segment: the largest UDP payload on an
/// Ethernet path. Larger datagrams are not coalesced by the kernel.
const SEGMENT_BUFFER: usize = 1500;

/// The kernel buffers asked for on the voice port's socket, each way. The
/// default (about 200 KiB, a few hundred small datagrams once the kernel's
/// per-packet overhead is counted) overflows while the voice thread forwards
/// a large batch, and a lost speaker's packet is a gap for every listener.
/// The kernel caps the request at `net.core.rmem_max` / `wmem_max`. (The
/// game port keeps the default: see docs/BENCHMARKS.md, 2,000 bots in
/// session 24.)
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Asks the kernel for [`SOCKET_BUFFER_BYTES`] of receive and send buffer on
/// `socket`; a refusal leaves the defaults (a smaller buffer loses datagrams
/// under bursts, it does not stop the server).
pub fn grow_socket_buffers(state: &UdpSocketState, socket: &UdpSocket) {
    let _ = state.set_recv_buffer_size(socket.into(), SOCKET_BUFFER_BYTES);
    let _ = state.set_send_buffer_size(socket.into(), SOCKET_BUFFER_BYTES);
}

/// A `mio` poll that wakes when `socket` is readable (as `socket_token`)
/// or when its waker is woken (as `waker_token`): how each of the server's
/// UDP threads waits.
pub fn readable_poll(
    socket: &UdpSocket,
    socket_token: mio::Token,
    waker_token: mio::Token,
) -> io::Result<(mio::Poll, mio::Waker)> {
    let poll = mio::Poll::new()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(socket);
    poll.registry().register(
        &mut mio::unix::SourceFd(&fd),
        socket_token,
        mio::Interest::READABLE,
    )?;
    let waker = mio::Waker::new(poll.registry(), waker_token)?;
    Ok((poll, waker))
}

/// One datagram as it came off the socket.
#[derive(Debug)]
pub struct Received {
    /// Who sent it.
    pub remote: SocketAddr,
    /// The local address it was sent to, where the platform reports it.
    pub local_ip: Option<IpAddr>,
    /// Its congestion bits.
    pub ecn: Option<quinn_proto::EcnCodepoint>,
    /// Its bytes.
    pub bytes: BytesMut,
}

/// Counters of the socket, kept by the loop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UdpCounters {
    /// `recvmmsg` calls that returned datagrams.
    pub receive_calls: u64,
    /// Datagrams received (GRO segments counted one by one).
    pub datagrams_received: u64,
    /// `sendmmsg` calls made.
    pub send_calls: u64,
    /// Datagrams sent (GSO segments counted one by one).
    pub datagrams_sent: u64,
    /// Transmits dropped because the socket's send buffer was full.
    pub send_would_block: u64,
    /// Transmits the kernel refused for another reason (an MTU probe too
    /// large for the path is expected and not counted).
    pub send_failures: u64,
}

/// The loop's socket and its receive buffers.
#[derive(Debug)]
pub struct UdpBatch {
    socket: UdpSocket,
    state: UdpSocketState,
    buffers: Vec<Vec<u8>>,
    metas: Vec<RecvMeta>,
    /// This turn's transmits, until [`UdpBatch::flush`].
    outgoing: SendBatch,
    counters: UdpCounters,
}

impl UdpBatch {
    /// Wraps a bound socket (made non-blocking here).
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let state = UdpSocketState::new((&socket).into())?;
        let buffer = SEGMENT_BUFFER * state.gro_segments().max(1);
        Ok(Self {
            buffers: vec![vec![0; buffer]; quinn_udp::BATCH_SIZE],
            metas: vec![RecvMeta::default(); quinn_udp::BATCH_SIZE],
            socket,
            state,
            outgoing: SendBatch::default(),
            counters: UdpCounters::default(),
        })
    }

    /// The socket, to register with the poller.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// How many datagrams one transmit may carry (GSO segments; 1 without GSO).
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }

    /// Whether the kernel may fragment what is sent (then no path MTU discovery).
    pub fn may_fragment(&self) -> bool {
        self.state.may_fragment()
    }

    /// The counters so far.
    pub fn counters(&self) -> UdpCounters {
        self.counters
    }

    /// Reads one batch (one system call) and hands each datagram to `each`.
    /// Returns `Ok(0)` when nothing is waiting.
    pub fn receive(&mut self, mut each: impl FnMut(Received)) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> = self
            .buffers
            .iter_mut()
            .map(|buffer| IoSliceMut::new(buffer))
            .collect();
        let filled = match self
            .state
            .recv((&self.socket).into(), &mut slices, &mut self.metas)
        {
            Ok(filled) => filled,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(error) => return Err(error),
        };
        drop(slices);
        self.counters.receive_calls += 1;
        let mut datagrams = 0;
        for (meta, buffer) in self.metas.iter().zip(&self.buffers).take(filled) {
            let stride = if meta.stride == 0 {
                meta.len
            } else {
                meta.stride
            };
            for segment in buffer[..meta.len].chunks(stride.max(1)) {
                datagrams += 1;
                each(Received {
                    remote: meta.addr,
                    local_ip: meta.dst_ip,
                    ecn: meta
                        .ecn
                        .and_then(|ecn| quinn_proto::EcnCodepoint::from_bits(ecn as u8)),
                    bytes: BytesMut::from(segment),
                });
            }
        }
        self.counters.datagrams_received += datagrams as u64;
        Ok(datagrams)
    }

    /// Queues one transmit (`contents[..transmit.size]`, copied) for the
    /// turn's [`UdpBatch::flush`].
    pub fn send(&mut self, transmit: &quinn_proto::Transmit, contents: &[u8]) {
        self.outgoing.push(transmit, contents);
    }

    /// Sends what the turn queued, many transmits per system call. A full
    /// send buffer drops the rest, counted: QUIC resends what mattered.
    pub fn flush(&mut self) {
        if self.outgoing.is_empty() {
            return;
        }
        let flushed = self.outgoing.flush(&self.socket);
        self.counters.send_calls += flushed.calls;
        self.counters.datagrams_sent += flushed.datagrams;
        self.counters.send_would_block += flushed.would_block;
        self.counters.send_failures += flushed.failed;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn many_datagrams_arrive_in_few_receive_calls() {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut batch = UdpBatch::new(UdpSocket::bind(loopback).expect("bind")).expect("state");
        let to = batch.local_addr().expect("address");
        let sender = UdpSocket::bind(loopback).expect("bind");
        for index in 0..64_u8 {
            sender.send_to(&[index; 100], to).expect("send");
        }
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.len() < 64 && Instant::now() < deadline {
            batch
                .receive(|received| seen.push(received.bytes[0]))
                .expect("receive");
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..64).collect::<Vec<u8>>());
        assert!(
            batch.counters().receive_calls < 64,
            "{:?}",
            batch.counters()
        );
    }

    #[test]
    fn the_socket_gets_the_larger_buffers_the_kernel_allows() {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let socket = UdpSocket::bind(loopback).expect("bind");
        let state = UdpSocketState::new((&socket).into()).expect("state");
        grow_socket_buffers(&state, &socket);
        let limit = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
                .ok()
                .and_then(|text| text.trim().parse::<usize>().ok())
        };
        // Linux reports twice what was granted (its bookkeeping overhead),
        // and grants at most the sysctl's limit.
        if let Some(max) = limit("rmem_max") {
            let granted = state.recv_buffer_size((&socket).into()).expect("SO_RCVBUF");
            assert!(
                granted >= 2 * max.min(SOCKET_BUFFER_BYTES),
                "{granted} of {max}"
            );
        }
        if let Some(max) = limit("wmem_max") {
            let granted = state.send_buffer_size((&socket).into()).expect("SO_SNDBUF");
            assert!(
                granted >= 2 * max.min(SOCKET_BUFFER_BYTES),
                "{granted} of {max}"
            );
        }
    }
}
