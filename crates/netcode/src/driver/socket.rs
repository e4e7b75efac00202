//! The UDP sockets under quinn's endpoints, with receive and send buffers
//! sized for bursts.
//!
//! A server gets every client's inputs, acknowledgements and handshakes on one
//! socket, and a swarm of bots gets hundreds of snapshots at each tick on one;
//! between two runs of the task that reads the socket, the kernel keeps what
//! arrives in the socket's buffer and drops the rest. With the default buffer
//! (208 KiB on Linux, a few hundred small datagrams) three shards and 1,000
//! bots on two cores dropped about 3,000 datagrams a second, handshakes among
//! them (see docs/BENCHMARKS.md).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

/// Asked for each socket's receive and send buffer; the kernel caps it at
/// `net.core.rmem_max` / `net.core.wmem_max`.
pub const SOCKET_BUFFER: usize = 4 << 20;

/// A UDP socket bound to `address`, with [`SOCKET_BUFFER`] asked for.
pub fn bind_udp(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Smaller buffers than asked for are still buffers: not an error.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// A quinn endpoint on `address` (a server if `server` is given), on the
/// current tokio runtime, over [`bind_udp`]'s socket.
pub fn endpoint(
    address: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint> {
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        server,
        bind_udp(address)?,
        Arc::new(quinn::TokioRuntime),
    )
}
