//! Voice test parts in memory: str0m client peers and the SFU exchanging
//! datagrams directly (no sockets) on a virtual clock. Tests include this
//! file with `#[path = "common/voice_memory.rs"] mod voice_memory;`.
#![allow(
    dead_code,
    reason = "each test file uses a different part of these helpers"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meridian_netcode::voice::{ParticipantId, Sfu};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// How far the virtual clock moves per [`step`].
pub(crate) const STEP: Duration = Duration::from_millis(1);

/// The SFU's address in these tests.
pub(crate) fn sfu_address() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 3478))
}

/// One Opus packet a peer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemoryPacket {
    /// The line it arrived on.
    pub(crate) slot: Mid,
    /// The speaker's id (its low byte), from the payload.
    pub(crate) speaker: u8,
    /// The speaker's packet number, from the payload.
    pub(crate) sequence: u32,
    /// Its RTP timestamp as the listener's str0m extended it (48 kHz).
    pub(crate) timestamp: u64,
}

/// A str0m client peer with one microphone line and some listening lines.
pub(crate) struct MemoryPeer {
    pub(crate) id: ParticipantId,
    pub(crate) rtc: Rtc,
    pub(crate) address: SocketAddr,
    pub(crate) microphone: Mid,
    pub(crate) connected: bool,
    pub(crate) received: Vec<MemoryPacket>,
}

impl MemoryPeer {
    /// A peer with `slots` listening lines whose offer `sfu` has answered.
    pub(crate) fn join(sfu: &mut Sfu, now: Instant, id: u64, slots: usize) -> Self {
        let participant = ParticipantId(id);
        let address = SocketAddr::from(([10, 0, 1, id as u8], 5000));
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .build(now);
        rtc.add_local_candidate(Candidate::host(address, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let microphone = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        for _ in 0..slots {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().unwrap();
        let answer = sfu
            .handle_offer(now, participant, &offer.to_sdp_string())
            .unwrap();
        rtc.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        Self {
            id: participant,
            rtc,
            address,
            microphone,
            connected: false,
            received: Vec::new(),
        }
    }

    /// Writes Opus packet `sequence` (payload: TOC, own id, sequence) with
    /// audio level `level` on the microphone line.
    pub(crate) fn speak(&mut self, now: Instant, sequence: u32, level: i8) {
        let mut payload = vec![0xF8, self.id.0 as u8];
        payload.extend_from_slice(&sequence.to_be_bytes());
        let writer = self.rtc.writer(self.microphone).unwrap();
        let pt = writer
            .payload_params()
            .find(|params| params.spec().codec == Codec::Opus)
            .unwrap()
            .pt();
        writer
            .audio_level(level, true)
            .write(
                pt,
                now,
                MediaTime::new(u64::from(sequence) * 960, Frequency::FORTY_EIGHT_KHZ),
                payload,
            )
            .unwrap();
    }
}

/// Moves every datagram between the peers and the SFU until all is quiet,
/// then advances the virtual clock by one step.
pub(crate) fn step(sfu: &mut Sfu, peers: &mut [MemoryPeer], now: &mut Instant) {
    let sfu_address = sfu_address();
    for _ in 0..50 {
        let mut moved = false;
        for peer in peers.iter_mut() {
            peer.rtc.handle_input(Input::Timeout(*now)).unwrap();
            loop {
                match peer.rtc.poll_output().unwrap() {
                    Output::Timeout(_) => break,
                    Output::Transmit(transmit) => {
                        assert_eq!(transmit.destination, sfu_address);
                        sfu.handle_datagram(*now, peer.address, &transmit.contents);
                        moved = true;
                    }
                    Output::Event(Event::Connected) => peer.connected = true,
                    Output::Event(Event::MediaData(data)) => {
                        let payload = &data.data;
                        peer.received.push(MemoryPacket {
                            slot: data.mid,
                            speaker: payload[1],
                            sequence: u32::from_be_bytes(payload[2..6].try_into().unwrap()),
                            timestamp: data.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer(),
                        });
                    }
                    Output::Event(_) => {}
                }
            }
        }
        if sfu.poll_timeout().is_some_and(|at| at <= *now) {
            sfu.handle_timeout(*now);
        }
        while let Some(transmit) = sfu.poll_transmit() {
            moved = true;
            let peer = peers
                .iter_mut()
                .find(|peer| peer.address == transmit.destination)
                .expect("the SFU sends only to peers");
            let receive =
                Receive::new(Protocol::Udp, sfu_address, peer.address, &transmit.contents).unwrap();
            peer.rtc
                .handle_input(Input::Receive(*now, receive))
                .unwrap();
        }
        if !moved {
            break;
        }
    }
    *now += STEP;
}

/// Steps until every peer is connected (at most 30 virtual seconds).
pub(crate) fn connect(sfu: &mut Sfu, peers: &mut [MemoryPeer], now: &mut Instant) {
    let start = *now;
    while !peers.iter().all(|peer| peer.connected) {
        assert!(
            *now - start < Duration::from_secs(30),
            "peers did not connect"
        );
        step(sfu, peers, now);
    }
}
