//! Many transmits to many peers in one system call (`sendmmsg`).
//!
//! quinn-udp sends one transmit per `sendmsg`: GSO packs several datagrams
//! for *one* peer into a call, but a tick's snapshots go to a thousand peers,
//! one datagram each, so the loop made a thousand calls a tick. The queue
//! here gathers a turn's transmits (their bytes back to back in one buffer)
//! and hands them to the kernel [`MAX_MESSAGES`] at a time, each message with
//! the control data quinn-udp would have given it: its congestion bits
//! (`IP_TOS` / `IPV6_TCLASS`), its GSO segment size (`UDP_SEGMENT`) and its
//! source address (`IP_PKTINFO` / `IPV6_PKTINFO`, for a socket bound to a
//! wildcard address).
//!
//! A message the kernel refuses is skipped and the rest still go: a full
//! send buffer (`EAGAIN`) drops what is left of the batch, counted, as a full
//! buffer dropped a transmit before (QUIC resends what mattered); an
//! oversized path-MTU probe (`EMSGSIZE`) is expected and dropped silently;
//! any other error drops that message, counted.
//!
//! This is the one module of the server that calls the C library itself:
//! neither quinn-udp nor socket2 offers `sendmmsg`, and the one crate that
//! does (nix) applies the same control messages to every message of a call.
//! Each `unsafe` block says why it holds; the tests send real datagrams
//! through loopback and read them back.
#![expect(
    unsafe_code,
    reason = "sendmmsg with per-message control data through libc: no safe wrapper offers it"
)]

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// Messages per `sendmmsg` call (the kernel's `UIO_MAXIOV` is far above).
pub const MAX_MESSAGES: usize = 64;

/// The most bytes one GSO transmit of [`SendBatch::push_coalescing`]
/// carries (a UDP datagram's limit, with room for the headers).
pub const MAX_GSO_BYTES: usize = 60_000;

/// Control bytes per message: three control messages of at most an
/// `in6_pktinfo` (20 bytes) each, with headers and alignment.
const CONTROL_SPACE: usize = 128;

/// `SOL_UDP`'s option for the GSO segment size (linux/udp.h).
const UDP_SEGMENT: libc::c_int = 103;

/// One queued transmit: where its bytes are in the buffer and how to send it.
#[derive(Debug, Clone, Copy)]
struct Queued {
    destination: SocketAddr,
    start: usize,
    len: usize,
    segment_size: Option<u16>,
    ecn: Option<u8>,
    source: Option<IpAddr>,
}

/// What one flush did, for the socket's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// `sendmmsg` calls made.
    pub calls: u64,
    /// Transmits the kernel took.
    pub transmits: u64,
    /// Datagrams in them (GSO segments counted one by one).
    pub datagrams: u64,
    /// Transmits dropped because the send buffer was full.
    pub would_block: u64,
    /// Transmits dropped for another error (an MTU probe too large for the
    /// path is expected and not counted).
    pub failed: u64,
}

/// A turn's transmits, waiting for [`SendBatch::flush`].
#[derive(Debug, Default)]
pub struct SendBatch {
    bytes: Vec<u8>,
    queued: Vec<Queued>,
}

impl SendBatch {
    /// Queues a copy of one transmit (`contents[..transmit.size]`).
    pub fn push(&mut self, transmit: &quinn_proto::Transmit, contents: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&contents[..transmit.size]);
        self.queued.push(Queued {
            destination: transmit.destination,
            start,
            len: transmit.size,
            segment_size: transmit
                .segment_size
                .filter(|size| *size < transmit.size)
                .and_then(|size| u16::try_from(size).ok()),
            ecn: transmit.ecn.map(|ecn| ecn as u8),
            source: transmit.src_ip,
        });
    }

    /// Queues one datagram of `contents` to `destination`, as one more GSO
    /// segment of the last queued transmit when that one goes to the same
    /// destination with no ECN or source address, in segments of exactly
    /// this size, fewer than `max_segments` of them and under
    /// [`MAX_GSO_BYTES`] in all; as a transmit of its own otherwise.
    /// Returns whether it joined the last transmit. A `max_segments` of 1
    /// (no GSO) never joins.
    pub fn push_coalescing(
        &mut self,
        destination: SocketAddr,
        contents: &[u8],
        max_segments: usize,
    ) -> bool {
        let size = contents.len();
        let joins = self.queued.last().is_some_and(|last| {
            let segment = last.segment_size.map_or(last.len, usize::from);
            last.destination == destination
                && last.ecn.is_none()
                && last.source.is_none()
                && segment == size
                && last.len % size.max(1) == 0
                && last.len / size.max(1) < max_segments
                && last.len + size <= MAX_GSO_BYTES
                && u16::try_from(size).is_ok()
        });
        self.bytes.extend_from_slice(contents);
        if joins && let Some(last) = self.queued.last_mut() {
            last.len += size;
            last.segment_size = u16::try_from(size).ok();
            return true;
        }
        self.queued.push(Queued {
            destination,
            start: self.bytes.len() - size,
            len: size,
            segment_size: None,
            ecn: None,
            source: None,
        });
        false
    }

    /// Transmits waiting.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Sends everything queued on `socket` (non-blocking) and empties the
    /// queue, whatever the kernel took.
    pub fn flush(&mut self, socket: &impl AsRawFd) -> Flushed {
        let mut flushed = Flushed::default();
        let mut next = 0;
        while next < self.queued.len() {
            let end = (next + MAX_MESSAGES).min(self.queued.len());
            match send_some(socket.as_raw_fd(), &self.bytes, &self.queued[next..end]) {
                Ok(sent) => {
                    flushed.calls += 1;
                    for queued in &self.queued[next..next + sent] {
                        flushed.transmits += 1;
                        flushed.datagrams += queued
                            .segment_size
                            .map_or(1, |size| queued.len.div_ceil(usize::from(size).max(1)))
                            as u64;
                    }
                    next += sent;
                }
                Err(error) => {
                    flushed.calls += 1;
                    match error.raw_os_error() {
                        Some(libc::EAGAIN) => {
                            flushed.would_block += (self.queued.len() - next) as u64;
                            break;
                        }
                        Some(libc::EINTR) => continue,
                        // The first message of the call was refused: drop it
                        // and go on with the next.
                        Some(libc::EMSGSIZE) => {}
                        _ => {
                            tracing::debug!(
                                destination = %self.queued[next].destination,
                                %error,
                                "a datagram could not be sent"
                            );
                            flushed.failed += 1;
                        }
                    }
                    next += 1;
                }
            }
        }
        self.bytes.clear();
        self.queued.clear();
        flushed
    }
}

/// One `sendmmsg` of `queued` (at most [`MAX_MESSAGES`]): how many the kernel
/// took, or the error of the first. Only the entries in use are written: a
/// turn often sends a handful, and clearing all 64 entries' headers, names
/// and control space would cost more than the system calls it saves.
fn send_some(fd: libc::c_int, bytes: &[u8], queued: &[Queued]) -> io::Result<usize> {
    debug_assert!(queued.len() <= MAX_MESSAGES);
    let mut headers = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_MESSAGES];
    let mut iovecs = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_MESSAGES];
    let mut names = [const { MaybeUninit::<Name>::uninit() }; MAX_MESSAGES];
    let mut controls = [const { MaybeUninit::<Control>::uninit() }; MAX_MESSAGES];
    for (index, queued) in queued.iter().enumerate() {
        let payload = &bytes[queued.start..queued.start + queued.len];
        let iovec = iovecs[index].write(libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        });
        let (name, name_len) = Name::of(queued.destination);
        let name = names[index].write(name);
        let control = controls[index].write(Control([0; CONTROL_SPACE]));
        let control_len = write_control(control, queued);
        // SAFETY: all-zero bytes are a valid `mmsghdr` (null pointers, zero
        // lengths); the fields that matter are set below.
        let mut header: libc::mmsghdr = unsafe { mem::zeroed() };
        header.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
        header.msg_hdr.msg_namelen = name_len;
        header.msg_hdr.msg_iov = std::ptr::from_mut(iovec);
        header.msg_hdr.msg_iovlen = 1;
        if control_len > 0 {
            header.msg_hdr.msg_control = control.0.as_mut_ptr().cast();
            header.msg_hdr.msg_controllen = control_len;
        }
        headers[index].write(header);
    }
    // SAFETY: the first `queued.len()` headers are written, and each points
    // at a name, an iovec and control bytes that live until the call
    // returns, with their lengths; the kernel reads no further header.
    let sent = unsafe {
        libc::sendmmsg(
            fd,
            headers.as_mut_ptr().cast::<libc::mmsghdr>(),
            queued.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

/// Control bytes, aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; CONTROL_SPACE]);

/// A destination as the C library takes it: IPv4 or IPv6.
#[derive(Clone, Copy)]
#[repr(C)]
union Name {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

impl Name {
    /// `address` as a C socket address, with its length.
    fn of(address: SocketAddr) -> (Self, libc::socklen_t) {
        match address {
            SocketAddr::V4(v4) => (
                Self {
                    v4: libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: v4.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(v4.ip().octets()),
                        },
                        sin_zero: [0; 8],
                    },
                },
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            SocketAddr::V6(v6) => (
                Self {
                    v6: libc::sockaddr_in6 {
                        sin6_family: libc::AF_INET6 as libc::sa_family_t,
                        sin6_port: v6.port().to_be(),
                        sin6_flowinfo: v6.flowinfo(),
                        sin6_addr: libc::in6_addr {
                            s6_addr: v6.ip().octets(),
                        },
                        sin6_scope_id: v6.scope_id(),
                    },
                },
                mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ),
        }
    }
}

/// Whether a datagram to `destination` travels as IPv4 (a v4-mapped address
/// on a dual-stack socket does).
fn travels_as_ipv4(destination: SocketAddr) -> bool {
    match destination.ip() {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    }
}

/// Writes the control messages of one transmit; returns their length.
fn write_control(control: &mut Control, queued: &Queued) -> usize {
    let mut writer = ControlWriter {
        bytes: &mut control.0,
        len: 0,
    };
    let ipv4 = travels_as_ipv4(queued.destination);
    if let Some(ecn) = queued.ecn {
        let value = libc::c_int::from(ecn);
        if ipv4 {
            writer.push(libc::IPPROTO_IP, libc::IP_TOS, &value);
        } else {
            writer.push(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &value);
        }
    }
    if let Some(size) = queued.segment_size {
        writer.push(libc::SOL_UDP, UDP_SEGMENT, &size);
    }
    match queued.source {
        Some(IpAddr::V4(source)) if ipv4 => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from_ne_bytes(source.octets()),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            writer.push(libc::IPPROTO_IP, libc::IP_PKTINFO, &info);
        }
        Some(IpAddr::V6(source)) if !ipv4 => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: source.octets(),
                },
                ipi6_ifindex: 0,
            };
            writer.push(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info);
        }
        // A source of the other family than the path: let the kernel choose.
        _ => {}
    }
    writer.len
}

/// Appends `cmsghdr`s with their data, as `CMSG_SPACE` lays them out.
struct ControlWriter<'a> {
    bytes: &'a mut [u8; CONTROL_SPACE],
    len: usize,
}

impl ControlWriter<'_> {
    fn push<T: Copy>(&mut self, level: libc::c_int, kind: libc::c_int, value: &T) {
        let data_len = mem::size_of::<T>() as libc::c_uint;
        // SAFETY: pure arithmetic on lengths.
        let (space, len) = unsafe {
            (
                libc::CMSG_SPACE(data_len) as usize,
                libc::CMSG_LEN(data_len),
            )
        };
        assert!(
            self.len + space <= CONTROL_SPACE,
            "control messages outgrew their buffer"
        );
        let header = libc::cmsghdr {
            cmsg_len: len as _,
            cmsg_level: level,
            cmsg_type: kind,
        };
        let at = self.bytes[self.len..].as_mut_ptr();
        // SAFETY: `at` has `space` bytes inside the buffer (checked above);
        // the buffer is 8-aligned and every `space` is a multiple of 8, so
        // the header is aligned; the data starts `CMSG_LEN(0)` bytes in, as
        // CMSG_DATA puts it; unaligned writes need no more.
        unsafe {
            std::ptr::write_unaligned(at.cast::<libc::cmsghdr>(), header);
            let data = at.add(libc::CMSG_LEN(0) as usize);
            std::ptr::write_unaligned(data.cast::<T>(), *value);
        }
        self.len += space;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
    use std::time::{Duration, Instant};

    use super::*;

    fn transmit(
        destination: SocketAddr,
        size: usize,
        segment_size: Option<usize>,
    ) -> quinn_proto::Transmit {
        quinn_proto::Transmit {
            destination,
            ecn: Some(quinn_proto::EcnCodepoint::Ect0),
            size,
            segment_size,
            src_ip: None,
        }
    }

    fn receive_all(socket: &UdpSocket, expected: usize) -> Vec<Vec<u8>> {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut seen = Vec::new();
        let mut buffer = [0; 2048];
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.len() < expected && Instant::now() < deadline {
            if let Ok(len) = socket.recv(&mut buffer) {
                seen.push(buffer[..len].to_vec());
            }
        }
        seen
    }

    #[test]
    fn a_turn_of_transmits_to_many_peers_leaves_in_few_calls() {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let sender = UdpSocket::bind(loopback).expect("bind");
        let peers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind(loopback).expect("bind"))
            .collect();
        let mut batch = SendBatch::default();
        for index in 0..150_usize {
            let peer = &peers[index % peers.len()];
            let payload = [index as u8; 100];
            batch.push(
                &transmit(peer.local_addr().expect("address"), 100, None),
                &payload,
            );
        }
        assert_eq!(batch.len(), 150);
        let flushed = batch.flush(&sender);
        assert!(batch.is_empty());
        assert_eq!(flushed.transmits, 150, "{flushed:?}");
        assert_eq!(flushed.datagrams, 150);
        assert_eq!(flushed.calls, 3, "150 transmits in calls of {MAX_MESSAGES}");
        for (which, peer) in peers.iter().enumerate() {
            let mut firsts: Vec<u8> = receive_all(peer, 50)
                .into_iter()
                .map(|datagram| {
                    assert_eq!(datagram.len(), 100);
                    datagram[0]
                })
                .collect();
            firsts.sort_unstable();
            let expected: Vec<u8> = (0..150_u8)
                .filter(|index| usize::from(*index) % 3 == which)
                .collect();
            assert_eq!(firsts, expected, "peer {which}");
        }
    }

    #[test]
    fn a_gso_transmit_arrives_as_its_segments() {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let sender = UdpSocket::bind(loopback).expect("bind");
        let peer = UdpSocket::bind(loopback).expect("bind");
        let contents: Vec<u8> = (0..250_u32).map(|byte| byte as u8).collect();
        let mut batch = SendBatch::default();
        batch.push(
            &transmit(peer.local_addr().expect("address"), 250, Some(100)),
            &contents,
        );
        let flushed = batch.flush(&sender);
        assert_eq!(
            (flushed.transmits, flushed.datagrams),
            (1, 3),
            "{flushed:?}"
        );
        let segments = receive_all(&peer, 3);
        let lengths: Vec<usize> = segments.iter().map(Vec::len).collect();
        assert_eq!(lengths, [100, 100, 50]);
        assert_eq!(segments.concat(), contents);
    }

    #[test]
    fn datagrams_of_one_size_to_one_peer_coalesce_into_gso_segments() {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let sender = UdpSocket::bind(loopback).expect("bind");
        let (a, b) = (
            UdpSocket::bind(loopback).expect("bind"),
            UdpSocket::bind(loopback).expect("bind"),
        );
        let (to_a, to_b) = (
            a.local_addr().expect("address"),
            b.local_addr().expect("address"),
        );
        let mut batch = SendBatch::default();
        // To A: three of 100 bytes join; a 60-byte one, and a 100-byte one
        // after it, each start a transmit of their own (segments are one
        // size). Two to B join; one more to A does not join across them.
        let joined: Vec<bool> = [
            (to_a, 100, 1),
            (to_a, 100, 2),
            (to_a, 100, 3),
            (to_a, 60, 4),
        ]
        .into_iter()
        .chain([
            (to_a, 100, 5),
            (to_b, 100, 6),
            (to_b, 100, 7),
            (to_a, 100, 8),
        ])
        .map(|(to, size, tag)| batch.push_coalescing(to, &vec![tag; size], 64))
        .collect();
        assert_eq!(
            joined,
            [false, true, true, false, false, false, true, false],
            "only consecutive datagrams of one size to one peer join"
        );
        // Without GSO (one segment at most) nothing joins.
        assert!(!batch.push_coalescing(to_a, &[9; 100], 1));
        assert_eq!(batch.len(), 6);
        let flushed = batch.flush(&sender);
        assert_eq!(
            (flushed.transmits, flushed.datagrams),
            (6, 9),
            "{flushed:?}"
        );
        let at_a: Vec<(u8, usize)> = receive_all(&a, 7)
            .iter()
            .map(|datagram| (datagram[0], datagram.len()))
            .collect();
        assert_eq!(
            at_a,
            [
                (1, 100),
                (2, 100),
                (3, 100),
                (4, 60),
                (5, 100),
                (8, 100),
                (9, 100)
            ]
        );
        let at_b: Vec<(u8, usize)> = receive_all(&b, 2)
            .iter()
            .map(|datagram| (datagram[0], datagram.len()))
            .collect();
        assert_eq!(at_b, [(6, 100), (7, 100)]);
    }

    #[test]
    fn ipv6_with_a_source_address_and_a_refused_message_in_between() {
        let Ok(sender) = UdpSocket::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))) else {
            eprintln!("skipped: no IPv6 loopback on this machine");
            return;
        };
        let peer = UdpSocket::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).expect("bind");
        let mut batch = SendBatch::default();
        let mut with_source = transmit(peer.local_addr().expect("address"), 10, None);
        with_source.src_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        batch.push(&with_source, &[1; 10]);
        // Port 0 is refused by the kernel (EINVAL): that message is dropped
        // and counted, the rest still go.
        batch.push(
            &transmit(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)), 10, None),
            &[2; 10],
        );
        batch.push(
            &transmit(peer.local_addr().expect("address"), 10, None),
            &[3; 10],
        );
        let flushed = batch.flush(&sender);
        assert_eq!((flushed.transmits, flushed.failed), (2, 1), "{flushed:?}");
        let mut firsts: Vec<u8> = receive_all(&peer, 2)
            .iter()
            .map(|datagram| datagram[0])
            .collect();
        firsts.sort_unstable();
        assert_eq!(firsts, [1, 3]);
    }
}
