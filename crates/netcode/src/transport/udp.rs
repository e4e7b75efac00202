//! Batched UDP I/O for the event loop, through `quinn-udp`: one `recvmmsg`
//! fills up to [`quinn_udp::BATCH_SIZE`] buffers, each holding one datagram or,
//! with GRO, several of one size back to back; one `sendmsg` carries a
//! transmit of several segments with GSO. The socket is non-blocking; the loop
//! waits for it with `mio` (epoll on Linux).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};

use bytes::BytesMut;
use quinn_udp::{EcnCodepoint, RecvMeta, UdpSocketState};

/// Bytes of one receive buffer per GRO segment: the largest UDP payload on an
/// Ethernet path. Larger datagrams are not coalesced by the kernel.
const SEGMENT_BUFFER: usize = 1500;

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
    /// `sendmsg` calls made.
    pub send_calls: u64,
    /// Datagrams sent (GSO segments counted one by one).
    pub datagrams_sent: u64,
    /// Transmits dropped because the socket's send buffer was full.
    pub send_would_block: u64,
}

/// The loop's socket and its receive buffers.
#[derive(Debug)]
pub struct UdpBatch {
    socket: UdpSocket,
    state: UdpSocketState,
    buffers: Vec<Vec<u8>>,
    metas: Vec<RecvMeta>,
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

    /// Sends one transmit (one system call; several datagrams with GSO). A full
    /// send buffer drops it, counted: QUIC resends what mattered.
    pub fn send(&mut self, transmit: &quinn_proto::Transmit, contents: &[u8]) {
        let outgoing = quinn_udp::Transmit {
            destination: transmit.destination,
            ecn: transmit
                .ecn
                .and_then(|ecn| EcnCodepoint::from_bits(ecn as u8)),
            contents: &contents[..transmit.size],
            segment_size: transmit.segment_size,
            src_ip: transmit.src_ip,
        };
        self.counters.send_calls += 1;
        match self.state.send((&self.socket).into(), &outgoing) {
            Ok(()) => {
                let segments = transmit
                    .segment_size
                    .map_or(1, |size| transmit.size.div_ceil(size.max(1)));
                self.counters.datagrams_sent += segments as u64;
            }
            // Other errors are logged and swallowed by quinn-udp; only a full
            // buffer comes back.
            Err(_) => self.counters.send_would_block += 1,
        }
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
}
