//! Voice test parts on real UDP sockets on 127.0.0.1: a str0m client peer
//! (one socket each) and the forwarding unit on its own socket. Tests include
//! this file with `#[path = "common/voice_peer.rs"] mod voice_peer;`.
#![allow(
    dead_code,
    reason = "each test file uses a different part of these helpers"
)]

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use meridian_netcode::voice::{Heard, ParticipantId, Routing, Sfu, VoiceConfig, VoiceEvent};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The TOC byte of an Opus packet (RFC 6716 §3.1): configuration 31 (CELT,
/// fullband, 20 ms), mono, one frame. Any bytes after it form a valid
/// code-0 packet.
pub(crate) const OPUS_TOC: u8 = 0xF8;

/// One Opus packet a peer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceivedPacket {
    pub(crate) slot: Mid,
    pub(crate) payload: Vec<u8>,
    pub(crate) audio_level: Option<i8>,
    /// Its extended RTP sequence number on the line.
    pub(crate) seq: u64,
}

/// A WebRTC client peer: one microphone line and some listening lines.
pub(crate) struct VoicePeer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    pub(crate) microphone: Mid,
    pub(crate) slots: Vec<Mid>,
    pub(crate) connected: bool,
    pub(crate) received: Vec<ReceivedPacket>,
}

impl VoicePeer {
    /// A peer with `slots` listening lines, and its SDP offer.
    pub(crate) fn new(now: Instant, slots: usize) -> (Self, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a peer socket");
        socket.set_nonblocking(true).expect("non-blocking socket");
        let local = socket.local_addr().expect("peer address");
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            // As a browser's jitter buffer: each packet as it comes, a lost
            // one concealed rather than waited for.
            .set_reordering_size_audio(0)
            .build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("host candidate"));
        let mut api = rtc.sdp_api();
        let microphone = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let slots = (0..slots)
            .map(|_| api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None))
            .collect();
        let (offer, pending) = api.apply().expect("an offer with changes");
        let peer = Self {
            rtc,
            socket,
            local,
            pending: Some(pending),
            microphone,
            slots,
            connected: false,
            received: Vec::new(),
        };
        (peer, offer.to_sdp_string())
    }

    /// The address of the peer's socket.
    pub(crate) fn address(&self) -> SocketAddr {
        self.local
    }

    /// Applies the server's answer.
    pub(crate) fn accept_answer(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("the answer parses");
        let pending = self.pending.take().expect("an offer was made");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("the answer is accepted");
    }

    /// Writes Opus packet number `index` on the microphone line with the
    /// audio level `level` (dBov) and returns its payload.
    pub(crate) fn send_opus(&mut self, now: Instant, index: u32, level: i8) -> Vec<u8> {
        let mut payload = vec![OPUS_TOC];
        payload.extend_from_slice(&index.to_be_bytes());
        payload.extend_from_slice(&[0xA5; 20]);
        let writer = self.rtc.writer(self.microphone).expect("microphone line");
        let pt = writer
            .payload_params()
            .find(|params| params.spec().codec == Codec::Opus)
            .map(|params| params.pt())
            .expect("Opus negotiated");
        let rtp_time = MediaTime::new(u64::from(index) * 960, Frequency::FORTY_EIGHT_KHZ);
        writer
            .audio_level(level, true)
            .write(pt, now, rtp_time, payload.clone())
            .expect("write on the microphone");
        payload
    }

    /// Sends what the peer has to send and takes what arrived.
    pub(crate) fn pump(&mut self, now: Instant) {
        self.rtc
            .handle_input(Input::Timeout(now))
            .expect("peer timeout");
        self.drain();
        let mut buffer = [0u8; 2_000];
        loop {
            match self.socket.recv_from(&mut buffer) {
                Ok((length, from)) => {
                    let Ok(receive) =
                        Receive::new(Protocol::Udp, from, self.local, &buffer[..length])
                    else {
                        continue;
                    };
                    self.rtc
                        .handle_input(Input::Receive(now, receive))
                        .expect("peer input");
                    self.drain();
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) => panic!("peer socket: {error}"),
            }
        }
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("peer output") {
                Output::Timeout(_) => return,
                Output::Transmit(transmit) => {
                    // Loopback drops nothing unless a buffer is full; a lost
                    // datagram is retried by ICE or DTLS.
                    let _ = self
                        .socket
                        .send_to(&transmit.contents, transmit.destination);
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(data)) => self.received.push(ReceivedPacket {
                    slot: data.mid,
                    payload: data.data.to_vec(),
                    audio_level: data.ext_vals.audio_level,
                    seq: **data.seq_range.start(),
                }),
                Output::Event(_) => {}
            }
        }
    }
}

/// The forwarding unit on its own UDP socket.
pub(crate) struct VoiceServer {
    pub(crate) sfu: Sfu,
    socket: UdpSocket,
    pub(crate) events: Vec<VoiceEvent>,
}

impl VoiceServer {
    pub(crate) fn new(config: VoiceConfig) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the voice port");
        socket.set_nonblocking(true).expect("non-blocking socket");
        let local = socket.local_addr().expect("voice port address");
        let sfu = Sfu::new(config, local).expect("valid voice config");
        Self {
            sfu,
            socket,
            events: Vec::new(),
        }
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.socket.local_addr().expect("voice port address")
    }

    /// Opens `participant`'s session from `peer`'s offer and gives it the answer.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        peer: &mut VoicePeer,
        offer: &str,
    ) {
        let answer = self
            .sfu
            .handle_offer(now, participant, offer)
            .expect("the offer is accepted");
        peer.accept_answer(&answer);
    }

    /// Takes what arrived, runs due timers, sends what is queued.
    pub(crate) fn pump(&mut self, now: Instant) {
        self.receive(now);
        self.send(now);
    }

    /// Hands every datagram that arrived to the forwarding unit.
    pub(crate) fn receive(&mut self, now: Instant) {
        self.receive_losing(now, |_, _| false);
    }

    /// Hands the datagrams that arrived to the forwarding unit, except those
    /// `lose` says the network lost.
    pub(crate) fn receive_losing(
        &mut self,
        now: Instant,
        mut lose: impl FnMut(SocketAddr, &[u8]) -> bool,
    ) {
        let mut buffer = [0u8; 2_000];
        loop {
            match self.socket.recv_from(&mut buffer) {
                Ok((length, from)) if lose(from, &buffer[..length]) => {}
                Ok((length, from)) => self.sfu.handle_datagram(now, from, &buffer[..length]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) => panic!("voice socket: {error}"),
            }
        }
    }

    /// Runs due timers and sends what is queued.
    pub(crate) fn send(&mut self, now: Instant) {
        if self.sfu.poll_timeout().is_some_and(|at| at <= now) {
            self.sfu.handle_timeout(now);
        }
        while let Some(transmit) = self.sfu.poll_transmit() {
            let _ = self
                .socket
                .send_to(&transmit.contents, transmit.destination);
        }
        while let Some(event) = self.sfu.poll_event() {
            self.events.push(event);
        }
    }
}

/// Connects participant 1 (A, speaks) and 2 (B, hears A at 2 m) over
/// loopback; also returns A's ufrag.
pub(crate) fn connected_pair() -> (VoiceServer, VoicePeer, VoicePeer, String) {
    let now = Instant::now();
    let mut server = VoiceServer::new(VoiceConfig::default());
    let (mut a, offer_a) = VoicePeer::new(now, 1);
    let (mut b, offer_b) = VoicePeer::new(now, 1);
    let answer_a = server
        .sfu
        .handle_offer(now, ParticipantId(1), &offer_a)
        .unwrap();
    a.accept_answer(&answer_a);
    server.admit(now, ParticipantId(2), &mut b, &offer_b);
    let ufrag_a = answer_a
        .lines()
        .find_map(|line| line.trim_end().strip_prefix("a=ice-ufrag:"))
        .expect("the answer has a ufrag")
        .to_owned();
    let mut routing = Routing::new();
    routing.set(
        ParticipantId(2),
        vec![Heard {
            speaker: ParticipantId(1),
            distance: 2.0,
        }],
    );
    server.sfu.set_routing(&routing);
    let connected = pump_until(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(15),
        |server, peers| {
            peers.iter().all(|peer| peer.connected)
                && server
                    .events
                    .iter()
                    .filter(|event| matches!(event, VoiceEvent::Connected { .. }))
                    .count()
                    == 2
        },
    );
    assert!(
        connected,
        "ICE and DTLS did not come up: {:?}",
        server.events
    );
    (server, a, b, ufrag_a)
}

/// Pumps the server and every peer until `done` holds or `limit` passes;
/// returns whether `done` held. A millisecond's sleep between turns.
pub(crate) fn pump_until(
    server: &mut VoiceServer,
    peers: &mut [&mut VoicePeer],
    limit: Duration,
    mut done: impl FnMut(&VoiceServer, &[&mut VoicePeer]) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let now = Instant::now();
        for peer in peers.iter_mut() {
            peer.pump(now);
        }
        server.pump(now);
        if done(server, peers) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Pumps only the peers (the server runs on its own thread) until `done`
/// holds or `limit` passes; returns whether `done` held.
pub(crate) fn pump_peers_until(
    peers: &mut [&mut VoicePeer],
    limit: Duration,
    mut done: impl FnMut(&[&mut VoicePeer]) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let now = Instant::now();
        for peer in peers.iter_mut() {
            peer.pump(now);
        }
        if done(peers) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}
